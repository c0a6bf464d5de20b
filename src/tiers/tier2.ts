/**
 * Tier 2's evidence for a bandit task (docs/ARCHITECTURE.md, "Tier 2: off-policy evaluation"): at `ratchet submit`
 * the run's best kept policy is estimated on the private holdout's logs, which no decision has looked at, by every
 * estimator with a percentile bootstrap interval, next to the value of the policy in production (the logging
 * policy: its mean logged reward, an on-policy estimate). It becomes a **tier-2 candidate** when the primary
 * estimator's lower bound beats the production value and the estimate is trusted; only a candidate can be promoted
 * at `ratchet review`.
 */

import type { Contract } from '../contract/load.js';
import type { EventRecord } from '../journal/store.js';
import {
  type BanditInput,
  banditDiagnostics,
  bootstrapInterval,
  computeMetric,
  prepareMetric,
  trustFindings,
} from '../metrics/index.js';

/** One estimator's value on the private holdout and its bootstrap interval. */
export interface EstimateWithInterval {
  name: string;
  value: number;
  low: number;
  high: number;
}

/** What `ratchet submit` records of a bandit candidate (the `tier2` event's data). */
export interface Tier2Evidence {
  /** The primary estimator's name (e.g. dr). */
  primary: string;
  /** Every estimator the contract names (primary first), on the private holdout. */
  estimates: EstimateWithInterval[];
  /** The logging (production) policy's value on the same rows: their mean reward. */
  production: number;
  /** Interval confidence (contract `ope.confidence`) and bootstrap resamples. */
  confidence: number;
  resamples: number;
  /** Rows of the private holdout. */
  rows: number;
  /** Trust diagnostics on the private holdout. */
  ess: number;
  maxWeight: number;
  unsupportedMass: number;
  disagreement: number;
  /** Trust thresholds broken (then it is not a candidate, whatever the interval says). */
  untrusted: string[];
  /** Primary lower bound above production and trusted. */
  candidate: boolean;
  /** One sentence saying why it is or is not a candidate. */
  verdict: string;
}

/** Seed of the interval's resampling (fixed: the same predictions always give the same evidence). */
const INTERVAL_SEED = 20211;

/**
 * The tier-2 evidence of a bandit policy on the private holdout.
 * @param input the aligned private predictions (policy, logged actions, propensities, rewards, q(x, a))
 * @throws RangeError when the primary estimator is undefined on these rows
 */
export function tier2Evidence(contract: Contract, input: BanditInput): Tier2Evidence {
  const ope = contract.ope!;
  const names = [
    contract.metric.primary,
    ...contract.metric.also.filter((m) => m !== contract.metric.primary),
  ];
  const n = input.y.length;
  const estimates: EstimateWithInterval[] = [];
  for (const name of names) {
    if (!input.qhat && name !== 'ips' && name !== 'snips') continue;
    const value = computeMetric(name, input);
    const { low, high } = bootstrapInterval(prepareMetric(name, input), n, {
      resamples: ope.resamples,
      confidence: ope.confidence,
      seed: INTERVAL_SEED,
    });
    estimates.push({ name, value, low, high });
  }
  let production = 0;
  for (let i = 0; i < n; i++) production += input.y[i]!;
  production /= n;
  const logged = new Uint8Array(input.k);
  for (let i = 0; i < n; i++) logged[input.action[i]!] = 1;
  const d = banditDiagnostics(input, logged);
  const untrusted = trustFindings(d, ope.trust);
  const primary = estimates[0]!;
  const beats = primary.low > production;
  const candidate = beats && untrusted.length === 0;
  const pct = `${Math.round(ope.confidence * 100)}%`;
  const verdict = candidate
    ? `tier-2 candidate: ${primary.name} ${fmt(primary.value)} (${pct} interval ${fmt(primary.low)} to ${fmt(primary.high)}) beats the logging policy's ${fmt(production)} on the private logs`
    : untrusted.length > 0
      ? `not a tier-2 candidate: the estimate is not trusted (${untrusted.join('; ')})`
      : `not a tier-2 candidate: ${primary.name}'s ${pct} lower bound ${fmt(primary.low)} does not beat the logging policy's ${fmt(production)}`;
  return {
    primary: primary.name,
    estimates,
    production,
    confidence: ope.confidence,
    resamples: ope.resamples,
    rows: n,
    ess: d.ess,
    maxWeight: d.maxWeight,
    unsupportedMass: d.unsupportedMass,
    disagreement: d.disagreement,
    untrusted,
    candidate,
    verdict,
  };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}

/** The tier-2 evidence recorded for an experiment (its latest `tier2` event), or null. */
export function evidenceOf(events: EventRecord[], experimentId: number): Tier2Evidence | null {
  let found: Tier2Evidence | null = null;
  for (const e of events)
    if (e.kind === 'tier2' && e.experimentId === experimentId && e.data)
      found = e.data as unknown as Tier2Evidence;
  return found;
}

/** Lines a person reads before promoting: each estimator with its interval, production, trust, the verdict. */
export function evidenceLines(ev: Tier2Evidence): string[] {
  const pct = `${Math.round(ev.confidence * 100)}%`;
  return [
    `tier-2 evidence on the private logs (${ev.rows} rows, ${pct} bootstrap intervals, ${ev.resamples} resamples):`,
    ...ev.estimates.map(
      (e) => `  ${e.name.padEnd(10)} ${fmt(e.value).padStart(10)}  [${fmt(e.low)}, ${fmt(e.high)}]`,
    ),
    `  ${'logging'.padEnd(10)} ${fmt(ev.production).padStart(10)}  (the policy in production: mean logged reward)`,
    `  trust: effective sample size ${ev.ess.toFixed(0)}, largest weight ${fmt(ev.maxWeight)}, unsupported mass ${fmt(ev.unsupportedMass)}, estimator spread ${fmt(ev.disagreement)}`,
    `  ${ev.verdict}`,
  ];
}

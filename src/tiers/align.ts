import type { AlignPair } from './align-pairs.js';
import {
  type BootstrapInterval,
  kendallTauB,
  type OlsFit,
  olsFit,
  pairedBootstrap,
  spearmanRho,
} from './align-stats.js';
import { binomialTest } from './distributions.js';

/**
 * Offline–online alignment (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): do the tier-1 gains the
 * loop optimizes translate into online wins? From the (offline delta, online delta) pairs of past A/B tests: sign
 * agreement with a one-sided binomial test against chance, Kendall's τ-b and Spearman's ρ with seeded percentile
 * bootstrap intervals over pairs, the OLS calibration slope (online per unit of offline) with its t interval, the
 * promotion threshold, and a verdict in the seed's words. Pure: the pairs come from tiers/align-pairs.ts.
 */

/** Fewest pairs a verdict is given for. */
export const MIN_PAIRS = 5;
/** Fewest tests at or above a promotion threshold for it to count. */
export const MIN_THRESHOLD_SUPPORT = 3;

/** What counts as an online win: the test's interval above 0 (`significant`, default) or its effect above 0. */
export type WinRule = 'significant' | 'positive';

/** Options of {@link alignReport}. */
export interface AlignOptions {
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  /** Bootstrap seed (default 1). */
  seed?: number;
  /** Share of online wins required above the promotion threshold (default 0.8). */
  precision?: number;
  win?: WinRule;
  /** Level of the intervals (default 0.95). */
  level?: number;
}

/** A statistic with its bootstrap interval (null when undefined, e.g. a constant side). */
export interface Estimate {
  value: number | null;
  interval: BootstrapInterval | null;
}

/** The promotion threshold: the smallest offline gain above which online wins are at least `precision`. */
export interface PromotionThreshold {
  precision: number;
  win: WinRule;
  /** The threshold, or null ("none") when no offline gain reaches the precision. */
  value: number | null;
  /** Tests at or above it, and the online wins among them (0 when none). */
  support: number;
  wins: number;
}

/** Everything `ratchet align` reports. */
export interface AlignReport {
  n: number;
  signAgreement: { agree: number; n: number; share: number | null; p: number | null };
  kendallTau: Estimate;
  spearmanRho: Estimate;
  slope: OlsFit | null;
  threshold: PromotionThreshold;
  /** true: aligned; false: not ready; null: too few tests to judge. */
  ready: boolean | null;
  verdict: string;
}

/** True when the pair's online effect counts as a win under `win`. */
export function isWin(p: Pick<AlignPair, 'online' | 'onlineLow'>, win: WinRule): boolean {
  return win === 'positive' ? p.online > 0 : p.onlineLow > 0;
}

/**
 * The promotion threshold: scanning the distinct offline deltas upward, the first t such that the tests with
 * offline ≥ t number at least {@link MIN_THRESHOLD_SUPPORT} and at least `precision` of them are online wins.
 */
export function promotionThreshold(
  pairs: Pick<AlignPair, 'offline' | 'online' | 'onlineLow'>[],
  precision: number,
  win: WinRule,
): PromotionThreshold {
  const sorted = [...pairs].sort((a, b) => a.offline - b.offline);
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i]!.offline === sorted[i - 1]!.offline) continue;
    const above = sorted.slice(i);
    if (above.length < MIN_THRESHOLD_SUPPORT) break;
    const wins = above.filter((p) => isWin(p, win)).length;
    if (wins / above.length >= precision)
      return { precision, win, value: sorted[i]!.offline, support: above.length, wins };
  }
  return { precision, win, value: null, support: 0, wins: 0 };
}

const fmt = (v: number | null | undefined, d = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? 'undefined' : v.toFixed(d);
const interval = (e: Estimate) =>
  e.interval ? `[${fmt(e.interval.low)}, ${fmt(e.interval.high)}]` : '[no interval]';

/**
 * The alignment report of offline–online pairs. Verdict: fewer than {@link MIN_PAIRS} pairs → too few to judge;
 * sign agreement not above chance (one-sided binomial p ≥ 0.05) or τ's interval containing 0 (or undefined) → "this
 * metric is not ready for agentic optimization"; otherwise aligned.
 */
export function alignReport(pairs: AlignPair[], opts: AlignOptions = {}): AlignReport {
  const level = opts.level ?? 0.95;
  const precision = opts.precision ?? 0.8;
  const win = opts.win ?? 'significant';
  const boot = { resamples: opts.resamples ?? 2000, seed: opts.seed ?? 1, level };
  const n = pairs.length;
  const x = Float64Array.from(pairs, (p) => p.offline);
  const y = Float64Array.from(pairs, (p) => p.online);
  const agree = pairs.filter((p) => p.offline !== 0 && Math.sign(p.offline) === Math.sign(p.online)).length;
  const signAgreement = {
    agree,
    n,
    share: n > 0 ? agree / n : null,
    p: n > 0 ? binomialTest(agree, n, 0.5, 'greater') : null,
  };
  const estimate = (f: (a: Float64Array, b: Float64Array) => number, seedOffset: number): Estimate => {
    const value = n >= 2 ? f(x, y) : Number.NaN;
    return {
      value: Number.isFinite(value) ? value : null,
      interval:
        n >= 3 && Number.isFinite(value)
          ? pairedBootstrap(x, y, f, { ...boot, seed: boot.seed + seedOffset })
          : null,
    };
  };
  const kendall = estimate(kendallTauB, 0);
  const spearman = estimate(spearmanRho, 1);
  const slope = olsFit(x, y, level);
  const threshold = promotionThreshold(pairs, precision, win);
  const numbers = `sign agreement ${agree}/${n} (${fmt((signAgreement.share ?? 0) * 100, 0)}%, one-sided binomial p = ${fmt(signAgreement.p, 3)} vs chance), Kendall τ = ${fmt(kendall.value)} ${interval(kendall)}, Spearman ρ = ${fmt(spearman.value)} ${interval(spearman)}`;
  let ready: boolean | null;
  let verdict: string;
  if (n < MIN_PAIRS) {
    ready = null;
    verdict = `too few tests to judge: ${n} A/B test${n === 1 ? '' : 's'} paired with an experiment (at least ${MIN_PAIRS} are needed)`;
  } else {
    const tauZero = kendall.interval === null || (kendall.interval.low <= 0 && kendall.interval.high >= 0);
    ready = !((signAgreement.p ?? 1) >= 0.05 || tauZero);
    verdict = ready
      ? `offline wins translate into online wins: ${numbers}`
      : `this metric is not ready for agentic optimization: ${numbers}`;
  }
  return { n, signAgreement, kendallTau: kendall, spearmanRho: spearman, slope, threshold, ready, verdict };
}

/** Kendall's τ and Spearman's ρ of one offline part (e.g. a composite's component) against the online deltas. */
export function partAssociations(
  pairs: AlignPair[],
  opts: AlignOptions = {},
): Record<string, { n: number; kendallTau: Estimate; spearmanRho: Estimate }> {
  const names = [...new Set(pairs.flatMap((p) => Object.keys(p.parts)))].sort();
  const out: Record<string, { n: number; kendallTau: Estimate; spearmanRho: Estimate }> = {};
  for (const name of names) {
    const sub = pairs.filter((p) => p.parts[name] !== undefined);
    const x = Float64Array.from(sub, (p) => p.parts[name]!);
    const y = Float64Array.from(sub, (p) => p.online);
    const boot = { resamples: opts.resamples ?? 2000, seed: opts.seed ?? 1, level: opts.level ?? 0.95 };
    const est = (f: (a: Float64Array, b: Float64Array) => number): Estimate => {
      const v = sub.length >= 2 ? f(x, y) : Number.NaN;
      return {
        value: Number.isFinite(v) ? v : null,
        interval: sub.length >= 3 && Number.isFinite(v) ? pairedBootstrap(x, y, f, boot) : null,
      };
    };
    out[name] = { n: sub.length, kendallTau: est(kendallTauB), spearmanRho: est(spearmanRho) };
  }
  return out;
}

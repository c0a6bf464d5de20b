import type { AbTestRecord } from '../journal/ab.js';
import type { EventRecord, ExperimentRecord } from '../journal/store.js';
import { type AlignOptions, type AlignReport, alignReport, isWin, type WinRule } from '../tiers/align.js';
import { type AlignPair, type OnlineOptions, pairTests, type UnpairedTest } from '../tiers/align-pairs.js';
import type { Tier2Evidence } from '../tiers/tier2.js';

/**
 * Tiers 2 and 3 as the report and the Studio show them, from what the journal holds: the offline–online alignment
 * of the imported A/B tests (the same pairs and statistics as `ratchet align` with its defaults:
 * tiers/align-pairs.ts and tiers/align.ts, never recomputed another way) and the tier-2 evidence of submitted
 * bandit policies (the `tier2` events `ratchet submit` records). The charts of both are in tier-charts.ts.
 */

/** The options `ratchet align` uses by default (the report and the Studio use the same). */
export const ALIGN_DEFAULTS: Required<Pick<AlignOptions, 'resamples' | 'seed' | 'precision'>> & {
  win: WinRule;
} & Required<OnlineOptions> = {
  resamples: 2000,
  seed: 1,
  precision: 0.8,
  win: 'significant',
  online: 'diff',
  onlineDirection: 'maximize',
};

/** Everything shown of tier 3: `ratchet align --json` (without the per-metric parts). */
export type AlignmentSummary = AlignReport & {
  options: typeof ALIGN_DEFAULTS;
  /** Imported tests (paired or not). */
  tests: number;
  /** The pairs, in test id order, each with whether it is an online win. */
  points: (AlignPair & { win: boolean })[];
  /** Tests left out, with the reason. */
  unpaired: UnpairedTest[];
};

/**
 * The alignment of the journal's A/B tests with its experiments (every run's), as `ratchet align` reports it.
 * @returns null when no A/B test was imported
 */
export function alignmentSummary(
  tests: AbTestRecord[],
  experiments: ExperimentRecord[],
): AlignmentSummary | null {
  if (tests.length === 0) return null;
  const o = ALIGN_DEFAULTS;
  const { pairs, unpaired } = pairTests(tests, experiments, {
    online: o.online,
    onlineDirection: o.onlineDirection,
  });
  const report = alignReport(pairs, {
    resamples: o.resamples,
    seed: o.seed,
    precision: o.precision,
    win: o.win,
  });
  return {
    ...report,
    options: { ...o },
    tests: tests.length,
    points: pairs.map((p) => ({ ...p, win: isWin(p, o.win) })),
    unpaired,
  };
}

/** The tier-2 evidence recorded for one experiment (its latest `tier2` event). */
export interface Tier2Item {
  experimentId: number;
  /** When `submit` recorded it. */
  at: string;
  evidence: Tier2Evidence;
}

/** The latest tier-2 evidence of each experiment among `events`, in the order submit recorded them (oldest first). */
export function tier2Items(events: EventRecord[]): Tier2Item[] {
  const latest = new Map<number, EventRecord>();
  for (const e of events)
    if (e.kind === 'tier2' && e.experimentId !== null && e.data) {
      const seen = latest.get(e.experimentId);
      if (!seen || e.id > seen.id) latest.set(e.experimentId, e);
    }
  return [...latest.values()]
    .sort((a, b) => a.id - b.id)
    .map((e) => ({
      experimentId: e.experimentId as number,
      at: e.ts,
      evidence: e.data as unknown as Tier2Evidence,
    }));
}

/** A number for people: 4 significant digits (as tiers/tier2.ts prints the evidence). */
export function sig4(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toPrecision(4);
}

/** A signed number with `d` decimals, or '—'. */
export function signedFixed(x: number | null | undefined, d = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
}

/** The lines summing up an alignment, the same in the report and the Studio (the verdict is separate). */
export function alignmentFacts(a: AlignmentSummary): { label: string; value: string }[] {
  const f = (v: number | null | undefined, d = 2) =>
    v === null || v === undefined || !Number.isFinite(v) ? 'undefined' : v.toFixed(d);
  const est = (e: AlignReport['kendallTau']) =>
    `${f(e.value)} ${e.interval ? `[${f(e.interval.low)}, ${f(e.interval.high)}]` : '[no interval]'}`;
  const s = a.signAgreement;
  const t = a.threshold;
  const level = `${Math.round((a.kendallTau.interval?.level ?? 0.95) * 100)}%`;
  return [
    {
      label: 'pairs',
      value: `${a.n} A/B test${a.n === 1 ? '' : 's'} paired with an experiment (${a.tests} imported${a.unpaired.length ? `, ${a.unpaired.length} not paired` : ''})`,
    },
    {
      label: 'sign agreement',
      value: `${s.agree}/${s.n}${s.share === null ? '' : ` (${f(s.share * 100, 0)}%)`}, one-sided binomial p = ${f(s.p, 3)} vs chance`,
    },
    {
      label: 'Kendall τ',
      value: `${est(a.kendallTau)} (${level} bootstrap, ${a.options.resamples} resamples)`,
    },
    { label: 'Spearman ρ', value: `${est(a.spearmanRho)} (${level} bootstrap)` },
    {
      label: 'calibration slope',
      value: a.slope
        ? `${f(a.slope.slope, 3)} [${f(a.slope.slopeLow, 3)}, ${f(a.slope.slopeHigh, 3)}] online per unit of offline (OLS)`
        : 'undefined (fewer than 3 pairs or every offline delta equal)',
    },
    {
      label: 'promotion threshold',
      value:
        t.value === null
          ? `none: no offline gain reaches ${Math.round(t.precision * 100)}% online wins`
          : `offline gain ≥ ${signedFixed(t.value, 4)} (${t.wins} of ${t.support} tests won, ≥ ${Math.round(t.precision * 100)}% needed)`,
    },
  ];
}

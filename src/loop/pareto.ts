/**
 * The multi-objective keep rule of a harness task (docs/ARCHITECTURE.md, "Harness tasks"): score and cost.
 * A change is kept when
 *   (a) the keep rule keeps it on the score (noise-aware, as for any task) and the cost metric stays at or below the
 *       contract's ceiling (`harness.keep.cost_ceiling`, when set), or
 *   (b) the keep rule did not keep it on the score, but it cuts the cost metric by more than `cost_margin` (a share
 *       of the best's) and its score is not worse: a non-inferiority test on the paired per-task score differences
 *       d_i = candidate_i − best_i, whose one-sided lower bound mean(d) − z(confidence) · sd(d)/√n must lie above
 *       −`non_inferiority` (Wellek, "Testing Statistical Hypotheses of Equivalence and Noninferiority", 2010, ch. 2;
 *       the normal approximation of the paired t statistic).
 * A decision made by a guardrail (no keep-rule verdict) is never changed. Pure: no I/O.
 */

import type { Decision } from '../journal/store.js';
import { type HarnessInput, normalQuantile } from '../metrics/index.js';

/** The contract's `harness.keep` section. */
export interface HarnessKeep {
  cost_metric: 'tokens_per_task' | 'cost_per_task';
  cost_ceiling?: number | undefined;
  cost_margin: number;
  non_inferiority: number;
}

/** A changed decision, or null when the standard one stands. */
export type ParetoDecision = { decision: Decision; reason: string } | null;

/** Mean of a per-task vector. */
function mean(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return v.length ? s / v.length : Number.NaN;
}

/** The cost metric's value (mean per task) of an input. */
export function costOf(keep: HarnessKeep, input: HarnessInput): number {
  return mean(keep.cost_metric === 'tokens_per_task' ? input.tokens : input.cost);
}

/**
 * The one-sided lower confidence bound of the mean paired score difference (candidate − best).
 * @throws RangeError when the inputs answer different numbers of tasks
 */
export function scoreLowerBound(best: HarnessInput, cand: HarnessInput, confidence: number): number {
  const n = best.score.length;
  if (cand.score.length !== n)
    throw new RangeError(`the candidate answers ${cand.score.length} tasks, the best ${n}`);
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const d = cand.score[i]! - best.score[i]!;
    s += d;
    s2 += d * d;
  }
  const m = s / n;
  const sd = n > 1 ? Math.sqrt(Math.max(0, (s2 - n * m * m) / (n - 1))) : 0;
  return m - normalQuantile(confidence) * (sd / Math.sqrt(n));
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(4));

/**
 * Apply the cost objective to the standard decision of a harness candidate.
 * @param standard the keep rule's decision on the score; `verdict` false when a guardrail decided (never changed)
 * @returns the new decision and its reason, or null when the standard decision stands
 */
export function paretoKeep(
  keep: HarnessKeep,
  best: HarnessInput,
  cand: HarnessInput,
  standard: { decision: Decision; reason: string; fromKeepRule: boolean },
  confidence: number,
): ParetoDecision {
  if (!standard.fromKeepRule) return null;
  const bestCost = costOf(keep, best);
  const candCost = costOf(keep, cand);
  const metric = keep.cost_metric;
  if (standard.decision === 'kept') {
    if (keep.cost_ceiling !== undefined && candCost > keep.cost_ceiling)
      return {
        decision: 'reverted',
        reason: `${standard.reason}; but ${metric} ${fmt(candCost)} is above the cost ceiling ${fmt(keep.cost_ceiling)}: not kept`,
      };
    return null;
  }
  if (standard.decision !== 'reverted') return null;
  if (!(bestCost > 0) || !(candCost <= (1 - keep.cost_margin) * bestCost)) return null;
  const low = scoreLowerBound(best, cand, confidence);
  if (!(low > -keep.non_inferiority)) return null;
  const cut = 1 - candCost / bestCost;
  return {
    decision: 'kept',
    reason: `cuts ${metric} by ${(cut * 100).toFixed(1)}% (${fmt(bestCost)} → ${fmt(candCost)}, more than the margin ${(keep.cost_margin * 100).toFixed(0)}%) at a score not worse than the best: paired lower bound of the score change ${low.toFixed(4)} > −${keep.non_inferiority} at ${confidence} (score alone: ${standard.reason})`,
  };
}

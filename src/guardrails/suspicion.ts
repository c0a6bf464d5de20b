import type { MetricInput } from '../metrics/index.js';
import type { Direction } from '../proposers/types.js';
import type { Trip } from './registry.js';

/** The best possible value of each metric (none for metrics without one, e.g. a composite). */
const PERFECT: Record<string, number> = {
  auroc: 1,
  auroc_ovr: 1,
  average_precision: 1,
  accuracy: 1,
  f1: 1,
  f1_macro: 1,
  f1_micro: 1,
  f1_weighted: 1,
  precision: 1,
  recall: 1,
  r2: 1,
  ndcg: 1,
  mrr: 1,
  map: 1,
  log_loss: 0,
  brier: 0,
  ece: 0,
  rmse: 0,
  mae: 0,
  mape: 0,
};

/** Perfect value of a metric name (ndcg@k and map@k included), or null when it has none. */
export function perfectScore(metric: string): number | null {
  const base = metric.replace(/@\d+$/, '');
  return base in PERFECT ? PERFECT[base]! : null;
}

/** Settings of the suspicion checks (the contract's `suspicion` section). */
export interface SuspicionSettings {
  max_headroom_closed: number;
  near_perfect: number;
  row_order_corr: number;
}

/**
 * A score change that noise and history cannot explain: a single change that closes more than
 * `max_headroom_closed` of the remaining gap to the perfect score, or lands within `near_perfect` of it.
 * Those are what leaked labels look like (docs/ARCHITECTURE.md, "Guardrails": suspicious-score).
 * @returns a `suspicious-score` trip, or null
 */
export function scoreJump(
  metric: string,
  direction: Direction,
  best: number,
  candidate: number,
  s: SuspicionSettings,
): Trip | null {
  const perfect = perfectScore(metric);
  if (perfect === null) return null;
  const sign = direction === 'maximize' ? 1 : -1;
  const headroom = sign * (perfect - best);
  const gain = sign * (candidate - best);
  const left = sign * (perfect - candidate);
  if (left <= s.near_perfect && headroom > s.near_perfect) {
    return {
      guardrail: 'suspicious-score',
      message: `${metric} ${candidate.toFixed(6)} is within ${s.near_perfect} of perfect (${perfect}): that is what leaked labels look like`,
      data: { best, candidate, perfect },
    };
  }
  if (headroom > 0 && gain / headroom > s.max_headroom_closed) {
    return {
      guardrail: 'suspicious-score',
      message: `one change closed ${((gain / headroom) * 100).toFixed(0)}% of the gap to a perfect ${metric} (${best.toFixed(4)} → ${candidate.toFixed(4)}; limit ${(s.max_headroom_closed * 100).toFixed(0)}%)`,
      data: { best, candidate, perfect, closed: gain / headroom },
    };
  }
  return null;
}

/** Pearson correlation of x with its own row index 0..n-1 (NaN when either is constant). */
function corrWithIndex(x: ArrayLike<number>): number {
  const n = x.length;
  if (n < 3) return Number.NaN;
  const mi = (n - 1) / 2;
  let mx = 0;
  for (let i = 0; i < n; i++) mx += x[i]!;
  mx /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const di = i - mi;
    sxy += dx * di;
    sxx += dx * dx;
    syy += di * di;
  }
  return sxx === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** The per-row prediction a sanity check looks at (probability, value, or predicted class index). */
function predictionVector(input: Exclude<MetricInput, { task: 'bandit' | 'harness' }>): ArrayLike<number> {
  return input.task === 'multiclass' ? input.pred : input.p;
}

/**
 * Sanity checks of a predictions vector (guardrail `sanity`, docs/ARCHITECTURE.md, "Guardrails"): constant
 * predictions (a model that learned nothing, or a script that skipped training), and predictions that follow the
 * holdout's row order while the labels do not (a script that wrote the row number, not a model's output).
 * @param input aligned public predictions, rows in holdout file order
 * @returns `sanity` trips (empty when sane)
 */
export function sanityChecks(input: MetricInput, s: SuspicionSettings): Trip[] {
  // A bandit candidate is a policy: the same distribution in every context is a legitimate (context-free) policy.
  // A harness's answers are graded text; its per-task scores have no row order to follow.
  if (input.task === 'bandit' || input.task === 'harness') return [];
  const trips: Trip[] = [];
  const p = predictionVector(input);
  let constant = true;
  for (let i = 1; i < p.length && constant; i++) if (p[i] !== p[0]) constant = false;
  if (constant && p.length > 1) {
    trips.push({
      guardrail: 'sanity',
      message: `every prediction is ${p[0]}: the model predicts a constant`,
      data: { value: p[0] },
    });
    return trips;
  }
  const rp = corrWithIndex(p);
  const ry = corrWithIndex(input.y);
  if (Math.abs(rp) > s.row_order_corr && !(Math.abs(ry) > s.row_order_corr / 2)) {
    trips.push({
      guardrail: 'sanity',
      message: `predictions follow the holdout's row order (r = ${rp.toFixed(2)}) while the labels do not (r = ${Number.isNaN(ry) ? 'n/a' : ry.toFixed(2)})`,
      data: { predictionOrderCorr: rp, labelOrderCorr: ry },
    });
  }
  return trips;
}

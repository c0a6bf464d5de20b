/**
 * Curves of a model's predictions on the public holdout, for the report's winner plot: ROC and
 * precision-recall curves of a binary score (and one-vs-rest per class for multiclass), the trapezoidal
 * area under a curve, and a confusion matrix.
 *
 * The curves follow scikit-learn's definitions exactly (`sklearn.metrics.roc_curve`,
 * `precision_recall_curve`, both built on `_binary_clf_curve`): one point per distinct score threshold,
 * taken in decreasing order, with tp and fp the positives and negatives scoring >= the threshold. Sorting
 * reuses the metric engine's rank index (src/metrics/ranking.ts), so a curve and the stored auroc see the
 * same order and the same tie groups.
 */
import { buildRankIndex } from '../metrics/ranking.js';

/** A ROC curve in scikit-learn's order: thresholds decreasing, the first point (0, 0) at threshold +∞. */
export interface RocCurve {
  /** False positive rate fp / N at each threshold (0..1). */
  fpr: number[];
  /** True positive rate tp / P at each threshold (0..1). */
  tpr: number[];
  /** Score thresholds, decreasing; the first is +Infinity (predict nothing positive). */
  thresholds: number[];
}

/**
 * A precision-recall curve in scikit-learn's order: thresholds increasing, then a last point (precision 1,
 * recall 0) with no threshold.
 */
export interface PrCurve {
  /** tp / (tp + fp) at each threshold, then 1. */
  precision: number[];
  /** tp / P at each threshold, then 0. */
  recall: number[];
  /** Score thresholds, increasing (one fewer than the points). */
  thresholds: number[];
}

/**
 * Cumulative tp and fp at each distinct threshold, decreasing (scikit-learn's `_binary_clf_curve`).
 * @param scores n finite scores (higher = more positive)
 * @param positive n flags, 1 for a positive row
 */
function binaryClfCurve(
  scores: Float64Array,
  positive: Uint8Array,
): { tps: number[]; fps: number[]; thresholds: number[] } {
  const idx = buildRankIndex(scores, positive);
  const tps: number[] = [];
  const fps: number[] = [];
  const thresholds: number[] = [];
  // groups of equal scores in ascending order: [start, end]
  const groups: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < idx.n; i++) {
    if (idx.groupEnd[i]) {
      groups.push([start, i]);
      start = i + 1;
    }
  }
  let tp = 0;
  let fp = 0;
  for (let g = groups.length - 1; g >= 0; g--) {
    const [s, e] = groups[g]!;
    for (let i = s; i <= e; i++) {
      if (idx.pos[i]) tp++;
      else fp++;
    }
    tps.push(tp);
    fps.push(fp);
    thresholds.push(scores[idx.order[e]!]!);
  }
  return { tps, fps, thresholds };
}

/**
 * The ROC curve of a binary score, as `sklearn.metrics.roc_curve(y, scores, drop_intermediate=...)`.
 * @param dropIntermediate drop points on a straight line between their neighbours (scikit-learn's default,
 *   true): the curve and its area are unchanged, the point count falls to the number of corners
 * @throws RangeError when the labels hold one class only (a rate would divide by zero)
 */
export function rocCurve(scores: Float64Array, positive: Uint8Array, dropIntermediate = true): RocCurve {
  let { tps, fps, thresholds } = binaryClfCurve(scores, positive);
  const P = tps[tps.length - 1] ?? 0;
  const N = fps[fps.length - 1] ?? 0;
  if (P === 0 || N === 0)
    throw new RangeError(`a ROC curve needs both classes (positives ${P}, negatives ${N})`);
  if (dropIntermediate && tps.length > 2) {
    // keep i when the second difference of fps or tps at i is non-zero (sklearn: np.diff(x, 2))
    const keep = [0];
    for (let i = 1; i < tps.length - 1; i++) {
      const d2f = fps[i + 1]! - 2 * fps[i]! + fps[i - 1]!;
      const d2t = tps[i + 1]! - 2 * tps[i]! + tps[i - 1]!;
      if (d2f !== 0 || d2t !== 0) keep.push(i);
    }
    keep.push(tps.length - 1);
    tps = keep.map((i) => tps[i]!);
    fps = keep.map((i) => fps[i]!);
    thresholds = keep.map((i) => thresholds[i]!);
  }
  return {
    fpr: [0, ...fps.map((f) => f / N)],
    tpr: [0, ...tps.map((t) => t / P)],
    thresholds: [Number.POSITIVE_INFINITY, ...thresholds],
  };
}

/**
 * The precision-recall curve of a binary score, as `sklearn.metrics.precision_recall_curve(y, scores)`
 * (scikit-learn ≥ 1.3, drop_intermediate=False).
 * @throws RangeError when there is no positive row (recall would divide by zero)
 */
export function prCurve(scores: Float64Array, positive: Uint8Array): PrCurve {
  const { tps, fps, thresholds } = binaryClfCurve(scores, positive);
  const P = tps[tps.length - 1] ?? 0;
  if (P === 0) throw new RangeError('a precision-recall curve needs at least one positive row');
  const precision = tps.map((t, i) => t / (t + fps[i]!));
  const recall = tps.map((t) => t / P);
  return {
    precision: [...precision.reverse(), 1],
    recall: [...recall.reverse(), 0],
    thresholds: [...thresholds].reverse(),
  };
}

/**
 * Area under a curve by the trapezoidal rule, Σ (x[i] − x[i−1]) · (y[i] + y[i−1]) / 2 (numpy's `trapz`,
 * as `sklearn.metrics.auc`). The area under {@link rocCurve} equals `roc_auc_score` (the Mann–Whitney AUROC).
 */
export function trapezoid(x: number[], y: number[]): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return a;
}

/**
 * One-vs-rest ROC curves of a multiclass model from its class probabilities (scikit-learn's
 * `roc_auc_score(multi_class='ovr')` per class): class c's curve scores rows by proba[:, c] against y == c.
 * Classes with no row (or every row) in the holdout are skipped.
 * @param proba row-major n×k probabilities
 */
export function ovrRocCurves(
  y: Int32Array,
  proba: Float64Array,
  k: number,
): { cls: number; curve: RocCurve; auc: number }[] {
  const n = y.length;
  const out: { cls: number; curve: RocCurve; auc: number }[] = [];
  for (let c = 0; c < k; c++) {
    const s = new Float64Array(n);
    const pos = new Uint8Array(n);
    let P = 0;
    for (let i = 0; i < n; i++) {
      s[i] = proba[i * k + c]!;
      pos[i] = y[i] === c ? 1 : 0;
      P += pos[i]!;
    }
    if (P === 0 || P === n) continue;
    const curve = rocCurve(s, pos);
    out.push({ cls: c, curve, auc: trapezoid(curve.fpr, curve.tpr) });
  }
  return out;
}

/**
 * Confusion matrix of class indices: m[t][p] counts rows of true class t predicted as p.
 * @param k number of classes (indices 0..k−1)
 */
export function confusionMatrix(y: Int32Array, pred: Int32Array, k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < y.length; i++) {
    const t = y[i]!;
    const p = pred[i]!;
    if (t >= 0 && t < k && p >= 0 && p < k) m[t]![p]!++;
  }
  return m;
}

/**
 * Ranking metrics of one score vector against binary labels: the area under the ROC curve and
 * average precision, unweighted (fast path) and under per-row weights (prepared path).
 *
 * AUROC is computed as the Mann–Whitney U statistic (Mann & Whitney 1947; Hanley & McNeil 1982):
 *   AUC = (#{pos > neg} + 1/2 #{pos = neg}) / (P * N),
 * which equals scikit-learn's trapezoidal area under `roc_curve` (`roc_auc_score`) exactly in
 * exact arithmetic, ties included; with unit or integer weights every sum here is an exact integer
 * (or half-integer), so the result is the correctly rounded value of that fraction.
 *
 * Average precision follows `sklearn.metrics.average_precision_score`:
 *   AP = sum_n (R_n - R_{n-1}) P_n
 * over the distinct score thresholds in decreasing order, with P_n and R_n the precision and recall
 * of predicting "positive" for scores >= threshold n, and R_0 = 0 (no interpolation).
 */

import { SPLIT_WANTED, SPLITS } from './delong_cache.js';
import { argsortFloat64, sortFloat64 } from './sort.js';
import { compensatedAdd } from './sum.js';

/**
 * Scores sorted once, for repeated weighted evaluation.
 * - `order`: row indices by ascending score.
 * - `pos`: 1 when the row at sorted position i is a positive, else 0 (float for branch-free sums).
 * - `groupEnd`: 1 at the last sorted position of each run of equal scores (a tie group).
 * - `hasTies`: whether any two scores are equal.
 */
export interface RankIndex {
  n: number;
  order: Int32Array;
  pos: Float64Array;
  groupEnd: Uint8Array;
  hasTies: boolean;
}

/**
 * Sorts the scores once (radix argsort, O(n)) and records labels and tie groups in sorted order.
 * @param scores n finite scores.
 * @param positive n flags, 1 for a positive row, 0 for a negative one.
 */
export function buildRankIndex(scores: Float64Array, positive: Uint8Array): RankIndex {
  const n = scores.length;
  const order = argsortFloat64(scores);
  const pos = new Float64Array(n);
  const groupEnd = new Uint8Array(n);
  let hasTies = false;
  for (let i = 0; i < n; i++) {
    const r = order[i]!;
    pos[i] = positive[r]!;
    if (i === n - 1 || scores[order[i + 1]!]! !== scores[r]!) groupEnd[i] = 1;
    else hasTies = true;
  }
  return { n, order, pos, groupEnd, hasTies };
}

function oneClassError(metric: string, nPos: number, nNeg: number, weighted: boolean): RangeError {
  const what = nPos === 0 ? 'no positive' : 'no negative';
  return new RangeError(
    `${metric} is undefined: y holds only one class (${what} rows${weighted ? ' with non-zero weight' : ''}; ` +
      `positives ${nPos}, negatives ${nNeg}). scikit-learn's roc_auc_score returns NaN with a warning here.`,
  );
}

/**
 * The single-class policy's error for average precision (docs/glossary.md, "single-class policy"):
 * AP = sum_n (R_n - R_{n-1}) P_n needs recall, tp / P, which is 0/0 without a positive row.
 * scikit-learn 1.9.1 returns 0.0 with a warning there; the engine refuses instead.
 */
export function noPositiveError(metric: string, weighted: boolean): RangeError {
  return new RangeError(
    `${metric} is undefined: y holds only one class (no positive rows${weighted ? ' with non-zero weight' : ''}); ` +
      "recall is 0/0. scikit-learn's average_precision_score returns 0.0 with a warning here.",
  );
}

/**
 * Splits the scores of positives and negatives into two arrays, each sorted ascending (radix sort up to
 * {@link NATIVE_SORT_ABOVE} values, the native sort in place above). Used by AUROC and DeLong's components.
 * @param scores n scores (no NaN); @param positive n labels 0/1
 * @returns [positives' scores, negatives' scores], ascending
 */
export function splitSorted(scores: Float64Array, positive: Uint8Array): [Float64Array, Float64Array] {
  const n = scores.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += positive[i]!;
  // One slot of slack in each array lets the loop write every score to both and advance only the
  // right cursor (branch-free: the labels are random, a branch would mispredict half the time).
  const posBuf = new Float64Array(nPos + 1);
  const negBuf = new Float64Array(n - nPos + 1);
  let a = 0;
  let b = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    const yi = positive[i]!;
    posBuf[a] = s;
    negBuf[b] = s;
    a += yi;
    b += 1 - yi;
  }
  const pos = posBuf.subarray(0, nPos);
  const neg = negBuf.subarray(0, n - nPos);
  sortInPlace(pos);
  sortInPlace(neg);
  return [pos, neg];
}

/**
 * Above this many values a side is sorted by the engine's native sort (in place, no extra memory) rather than
 * the radix sort (about twice as fast, but it needs a second buffer as large as the values: 17 MB and 7 MB for the
 * 2.1M negatives and 0.9M positives of a 3M-row holdout, which pushed the evaluator past its 300 MB peak-RSS target, issue 10).
 */
export const NATIVE_SORT_ABOVE = 1 << 19;

/** Sort ascending in place: radix up to {@link NATIVE_SORT_ABOVE} values, the native sort above. Same order. */
function sortInPlace(a: Float64Array): void {
  if (a.length > NATIVE_SORT_ABOVE) a.sort();
  else sortFloat64(a);
}

/**
 * Unweighted AUROC by sorting positive and negative scores separately and merge-counting
 * (Mann–Whitney U with ties counted 1/2). Integer-exact up to n ~ 1.3e8 rows.
 * @param scores n finite scores.
 * @param positive n flags (1 = positive).
 * @param metric name used in error messages.
 * @throws RangeError when only one class is present.
 */
export function aurocUnweighted(scores: Float64Array, positive: Uint8Array, metric = 'auroc'): number {
  const [pos, neg] = splitSorted(scores, positive);
  const P = pos.length;
  const N = neg.length;
  if (P === 0 || N === 0) throw oneClassError(metric, P, N, false);
  // A candidate the keep rule may test with DeLong: its components start from this very sort.
  if (SPLIT_WANTED.has(scores)) SPLITS.set(scores, { y: positive, pos, neg });
  let twiceU = 0; // 2 * (#{pos > neg} + 1/2 #{pos = neg}), an exact integer
  let j = 0; // negatives strictly below the current positive score
  let i = 0;
  while (i < P) {
    const s = pos[i]!;
    while (j < N && neg[j]! < s) j++;
    let k = j;
    while (k < N && neg[k] === s) k++;
    let i2 = i + 1;
    while (i2 < P && pos[i2] === s) i2++;
    twiceU += (i2 - i) * (2 * j + (k - j));
    i = i2;
    j = k;
  }
  return twiceU / (2 * P * N);
}

/**
 * Unweighted average precision (scikit-learn's definition, see the module comment), from the
 * separately sorted positive and negative scores. The sum over thresholds is compensated (Neumaier),
 * so its error does not grow with the number of thresholds; tp and fp are exact integers.
 * @param scores n finite scores.
 * @param positive n flags (1 = positive).
 * @throws RangeError when there is no positive row (single-class policy; scikit-learn returns 0.0).
 */
export function averagePrecisionUnweighted(
  scores: Float64Array,
  positive: Uint8Array,
  metric = 'average_precision',
): number {
  const [pos, neg] = splitSorted(scores, positive);
  const P = pos.length;
  if (P === 0) throw noPositiveError(metric, false);
  let i = P - 1;
  let j = neg.length - 1;
  let tp = 0;
  let fp = 0;
  const acc = new Float64Array(2); // compensated sum over thresholds of (tp_n - tp_{n-1}) * precision_n
  while (i >= 0 || j >= 0) {
    let s: number;
    if (i < 0) s = neg[j]!;
    else if (j < 0) s = pos[i]!;
    else s = Math.max(pos[i]!, neg[j]!);
    const tpPrev = tp;
    while (i >= 0 && pos[i] === s) {
      tp++;
      i--;
    }
    while (j >= 0 && neg[j] === s) {
      fp++;
      j--;
    }
    if (tp > tpPrev) compensatedAdd(acc, (tp - tpPrev) * (tp / (tp + fp)));
  }
  return (acc[0]! + acc[1]!) / P;
}

/**
 * Weighted AUROC over a prepared `RankIndex`: one O(n) walk in ascending score order, summing for
 * each tie group gp * (weight of negatives below + gn / 2). Equals scikit-learn's `roc_auc_score`
 * with `sample_weight` (and, for integer weights, the AUROC of the rows repeated by their weights).
 * @param weights n non-negative row weights, or null for unit weights.
 * @throws RangeError when the weighted rows hold one class only.
 */
export function aurocWeighted(idx: RankIndex, weights: Float64Array | null, metric = 'auroc'): number {
  const { n, order, pos, groupEnd } = idx;
  let negBelow = 0;
  let U = 0;
  let P = 0;
  if (weights === null) {
    let gp = 0;
    let gn = 0;
    for (let i = 0; i < n; i++) {
      const yp = pos[i]!;
      gp += yp;
      gn += 1 - yp;
      if (groupEnd[i] === 1) {
        U += gp * (negBelow + 0.5 * gn);
        P += gp;
        negBelow += gn;
        gp = 0;
        gn = 0;
      }
    }
  } else if (!idx.hasTies) {
    for (let i = 0; i < n; i++) {
      const w = weights[order[i]!]!;
      const wp = w * pos[i]!;
      U += wp * negBelow;
      P += wp;
      negBelow += w - wp;
    }
  } else {
    let gp = 0;
    let gn = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[order[i]!]!;
      const wp = w * pos[i]!;
      gp += wp;
      gn += w - wp;
      if (groupEnd[i] === 1) {
        U += gp * (negBelow + 0.5 * gn);
        P += gp;
        negBelow += gn;
        gp = 0;
        gn = 0;
      }
    }
  }
  const N = negBelow;
  if (!(P > 0 && N > 0)) throw oneClassError(metric, P, N, weights !== null);
  return U / (P * N);
}

/**
 * Weighted average precision over a prepared `RankIndex`: one O(n) walk in descending score order.
 * Equals scikit-learn's `average_precision_score` with `sample_weight`. The running weights tp, fp
 * and the sum over thresholds are compensated (Neumaier), so the error does not grow with n.
 * @param weights n non-negative row weights, or null for unit weights.
 * @throws RangeError when the weighted rows hold no positive (single-class policy).
 */
export function averagePrecisionWeighted(
  idx: RankIndex,
  weights: Float64Array | null,
  metric = 'average_precision',
): number {
  const { n, order, pos, groupEnd } = idx;
  const tp = new Float64Array(2);
  const fp = new Float64Array(2);
  const acc = new Float64Array(2);
  let gtp = 0;
  let gfp = 0;
  for (let i = n - 1; i >= 0; i--) {
    const w = weights === null ? 1 : weights[order[i]!]!;
    const wp = w * pos[i]!;
    gtp += wp;
    gfp += w - wp;
    if (i === 0 || groupEnd[i - 1] === 1) {
      compensatedAdd(tp, gtp);
      compensatedAdd(fp, gfp);
      if (gtp > 0) {
        const t = tp[0]! + tp[1]!;
        compensatedAdd(acc, gtp * (t / (t + fp[0]! + fp[1]!)));
      }
      gtp = 0;
      gfp = 0;
    }
  }
  const total = tp[0]! + tp[1]!;
  if (!(total > 0)) throw noPositiveError(metric, weights !== null);
  return (acc[0]! + acc[1]!) / total;
}

/**
 * AUROC under multinomial counts held as bytes, for the paired bootstrap. `counts` are indexed by
 * sorted position of some reference order: the weight of sorted position i of `idx` is
 * `counts[perm[i]]`, or `counts[i]` when `perm` is null (the reference order is idx's own, so the
 * walk is sequential). Same value as `aurocWeighted` with the corresponding row weights.
 * @throws RangeError when the weighted rows hold one class only.
 */
export function aurocCounts(
  idx: RankIndex,
  counts: Uint8Array,
  perm: Int32Array | null,
  metric = 'auroc',
): number {
  const { n, pos, groupEnd } = idx;
  let negBelow = 0;
  let U = 0;
  let P = 0;
  if (!idx.hasTies) {
    if (perm === null) {
      for (let i = 0; i < n; i++) {
        const w = counts[i]!;
        const wp = w * pos[i]!;
        U += wp * negBelow;
        P += wp;
        negBelow += w - wp;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const w = counts[perm[i]!]!;
        const wp = w * pos[i]!;
        U += wp * negBelow;
        P += wp;
        negBelow += w - wp;
      }
    }
  } else {
    let gp = 0;
    let gn = 0;
    for (let i = 0; i < n; i++) {
      const w = perm === null ? counts[i]! : counts[perm[i]!]!;
      const wp = w * pos[i]!;
      gp += wp;
      gn += w - wp;
      if (groupEnd[i] === 1) {
        U += gp * (negBelow + 0.5 * gn);
        P += gp;
        negBelow += gn;
        gp = 0;
        gn = 0;
      }
    }
  }
  const N = negBelow;
  if (!(P > 0 && N > 0)) throw oneClassError(metric, P, N, true);
  return U / (P * N);
}

/**
 * Average precision under multinomial counts held as bytes (see `aurocCounts` for `perm`). Same
 * value as `averagePrecisionWeighted` with the corresponding row weights; tp and fp are exact
 * integers here, the sum over thresholds is compensated.
 * @throws RangeError when the counted rows hold no positive (single-class policy; the bootstrap redraws).
 */
export function averagePrecisionCounts(
  idx: RankIndex,
  counts: Uint8Array,
  perm: Int32Array | null,
  metric = 'average_precision',
): number {
  const { n, pos, groupEnd } = idx;
  let tp = 0;
  let fp = 0;
  let gtp = 0;
  let gfp = 0;
  const acc = new Float64Array(2);
  for (let i = n - 1; i >= 0; i--) {
    const w = perm === null ? counts[i]! : counts[perm[i]!]!;
    const wp = w * pos[i]!;
    gtp += wp;
    gfp += w - wp;
    if (i === 0 || groupEnd[i - 1] === 1) {
      tp += gtp;
      fp += gfp;
      if (gtp > 0) compensatedAdd(acc, gtp * (tp / (tp + fp)));
      gtp = 0;
      gfp = 0;
    }
  }
  if (!(tp > 0)) throw noPositiveError(metric, true);
  return (acc[0]! + acc[1]!) / tp;
}

/**
 * The permutation that maps sorted positions of `b` to sorted positions of `a` (both over the same
 * rows): `perm[i]` = position in a's order of the row at position i of b's order.
 */
export function relativeOrder(a: RankIndex, b: RankIndex): Int32Array {
  const n = a.n;
  const rankA = new Int32Array(n);
  for (let i = 0; i < n; i++) rankA[a.order[i]!] = i;
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = rankA[b.order[i]!]!;
  return perm;
}

/**
 * DeLong's test for the difference of two correlated AUROCs measured on the same rows (DeLong,
 * DeLong & Clarke-Pearson 1988, "Comparing the areas under two or more correlated receiver operating
 * characteristic curves: a nonparametric approach", Biometrics 44:837), computed in O(n log n) with
 * midranks as in Sun & Xu 2014 ("Fast implementation of DeLong's algorithm for comparing the areas
 * under correlated receiver operating characteristic curves", IEEE Signal Processing Letters
 * 21(11):1389).
 *
 * With m positives X_i and n negatives Y_j, model r's AUC is the Mann-Whitney statistic
 * θ_r = (1/mn) Σ_i Σ_j ψ(X_i, Y_j), ψ = 1 if X > Y, 1/2 if tied, 0 otherwise (ties count 1/2, as
 * scikit-learn's roc_auc_score). Its structural components are
 *   V10_r(X_i) = (1/n) Σ_j ψ(X_i, Y_j) = (T_z(i) − T_x(i)) / n,
 *   V01_r(Y_j) = (1/m) Σ_i ψ(X_i, Y_j) = 1 − (T_z(j) − T_y(j)) / m,
 * with T_z, T_x, T_y the midranks of a score among all rows, among the positives and among the
 * negatives (Sun & Xu, eq. 6-8). S10 and S01 are the 2×2 sample covariances (divisor m − 1 and n − 1)
 * of the V10 and V01 of both models, and S = S10/m + S01/n (DeLong et al., eq. 5). The variance of
 * θ_B − θ_A is S_AA + S_BB − 2 S_AB, and z = (θ_B − θ_A)/√var is compared with the standard normal.
 */

import { CACHE, type Components, SPLIT_WANTED, SPLITS } from './delong_cache.js';
import { normalTestResult, type PairedTestResult, signedZ, tieAtRounding } from './paired_z.js';
import { splitSorted } from './ranking.js';

export { type Components, cachedAuroc } from './delong_cache.js';

/** Result of {@link delongTest}: a {@link PairedTestResult} with DeLong's components. */
export interface DeLongResult extends PairedTestResult {
  test: 'delong';
  /** Number of positive rows (m) and negative rows (n). */
  positives: number;
  negatives: number;
  /** S10: sample covariance of the V10 components over the positives, [AA, AB, BB]. */
  s10: [number, number, number];
  /** S01: sample covariance of the V01 components over the negatives, [AA, AB, BB]. */
  s01: [number, number, number];
  /** Var(θ_B − θ_A) = S_AA + S_BB − 2 S_AB with S = S10/m + S01/n. */
  variance: number;
}

/** Component k of a numerator vector: t/d (V10, d = 2n) or, with `flip`, 1 − t/d (V01, d = 2m). */
function comp(t: Int32Array, k: number, d: number, flip: boolean): number {
  return flip ? 1 - t[k]! / d : t[k]! / d;
}

/**
 * Structural components of one score vector: V10 over the positives (in row order) and V01 over the
 * negatives (in row order), and the AUC from exact counts ({@link structuralComponents}): a positive's V10 is
 * (negatives below it + half the negatives tied with it)/n, a negative's V01 is 1 − (positives below + half the
 * tied positives)/m — the midrank formulas of Sun & Xu 2014, eq. 6-8, in counting form. Cached per (score,
 * labels) arrays, which the callers never modify.
 */
function components(pos: Uint8Array, score: Float64Array, m: number, n: number): Components {
  const hit = CACHE.get(score);
  if (hit && hit.y === pos) return hit.c;
  const c = structuralComponents(pos, score, m, n);
  CACHE.set(score, { y: pos, c });
  return c;
}

/** Mean values per bucket of {@link lowerBounder}'s index (its table costs 4 bytes per this many values). */
const PER_BUCKET = 8;

/**
 * A search for the first index of an ascending array of finite values holding a value ≥ v (its length when none).
 * The values' range is cut into ⌈len / {@link PER_BUCKET}⌉ equal buckets and a table holds where each bucket starts,
 * so a search reads one table entry and bisects one bucket (a few values, one or two cache lines) instead of
 * bisecting the whole array with a cache miss at each step: about twice as fast at 3M rows. Correct for any
 * distribution of the values: the bucket of a value, ⌊(v − min)·scale⌋ clamped, never decreases as v grows (each
 * floating-point step is monotone), so every value before the bucket's start is < v and every value from the next
 * bucket's start is > v; a skewed distribution only makes some buckets longer to bisect. Falls back to one
 * bisection of the whole array when the range is empty, overflows, or is too narrow for a finite scale.
 * @param sorted ascending finite values (not modified; kept by the returned function)
 */
function lowerBounder(sorted: Float64Array): (v: number) => number {
  const len = sorted.length;
  const bisect = (l: number, h: number, v: number): number => {
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (sorted[mid]! < v) l = mid + 1;
      else h = mid;
    }
    return l;
  };
  if (len === 0) return () => 0;
  const min = sorted[0]!;
  const max = sorted[len - 1]!;
  const k = Math.ceil(len / PER_BUCKET);
  const width = max - min; // 0 for one value, Infinity past ±1.8e308
  const scale = k / width; // Infinity when the range is a few denormals wide
  if (!(width > 0 && Number.isFinite(width) && Number.isFinite(scale))) return (v) => bisect(0, len, v);
  const bucket = (v: number): number => {
    const b = Math.floor((v - min) * scale);
    return b < 0 ? 0 : b >= k ? k - 1 : b;
  };
  // start[b]: the first index whose value's bucket is ≥ b (start[k] = len).
  const start = new Int32Array(k + 1);
  let next = 0;
  for (let i = 0; i < len; i++) {
    const b = bucket(sorted[i]!);
    while (next <= b) start[next++] = i;
  }
  while (next <= k) start[next++] = len;
  return (v) => {
    if (v <= min) return 0;
    if (v > max) return len;
    const b = bucket(v);
    return bisect(start[b]!, start[b + 1]!, v);
  };
}

/**
 * Exact rank counts against one class's sorted scores: `count(v)` = 2·(scores < v) + (scores equal to v).
 * Comparisons are `<` and `===`, so −0 and +0 tie, as ψ's "X = Y" does. Scores with many ties (at most a quarter
 * of them distinct, e.g. rounded probabilities) are first collapsed into their distinct values with the count below
 * each, so a search runs over a short table; otherwise the search runs over the scores themselves and a (rare) run of
 * ties is walked by galloping.
 * @param sorted one class's scores in ascending order
 */
function rankCounter(sorted: Float64Array): (v: number) => number {
  const len = sorted.length;
  let distinct = len > 0 ? 1 : 0;
  for (let i = 1; i < len; i++) if (sorted[i] !== sorted[i - 1]) distinct++;
  if (distinct * 4 <= len) {
    const values = new Float64Array(distinct);
    const below = new Int32Array(distinct + 1); // below[k]: scores < values[k]; below[distinct] = len
    for (let i = 0, k = -1; i < len; i++) {
      if (i === 0 || sorted[i] !== sorted[i - 1]) {
        values[++k] = sorted[i]!;
        below[k] = i;
      }
    }
    below[distinct] = len;
    const firstAtLeast = lowerBounder(values);
    return (v) => {
      const k = firstAtLeast(v);
      return k < distinct && values[k] === v ? below[k]! + below[k + 1]! : 2 * below[k]!;
    };
  }
  const firstAtLeast = lowerBounder(sorted);
  return (v) => {
    let l = firstAtLeast(v);
    const under = l;
    if (l >= len || sorted[l] !== v) return 2 * under;
    let step = 1;
    while (l + step < len && sorted[l + step] === v) {
      l += step;
      step *= 2;
    }
    let e = Math.min(len, l + step);
    while (l < e) {
      const mid = (l + e) >>> 1;
      if (sorted[mid] === v) l = mid + 1;
      else e = mid;
    }
    return 2 * under + (l - under);
  };
}

/**
 * The structural components of one score vector (see {@link components}), by counting: the positives' and the
 * negatives' scores are copied apart and sorted (`splitSorted`, as AUROC's), then each positive's t10 is the rank count of its score
 * among the negatives and each negative's t01 that of its score among the positives ({@link rankCounter}): the
 * counting form of Sun & Xu 2014, eq. 6-8, with no argsort. Memory: 8 bytes a row for the two sorted copies,
 * 0.5 for the search indexes ({@link lowerBounder}) and 4 for the result (an LSD radix argsort carrying row indices
 * needed 24 + 4); the values are the same integers.
 * @param pos n labels (1 = positive); @param score n finite scores; @param m positives; @param n negatives
 */
export function structuralComponents(pos: Uint8Array, score: Float64Array, m: number, n: number): Components {
  const rows = score.length;
  // The sort the metric engine's AUROC kept for this vector ({@link keepSplitFor}), when its labels are these.
  const kept = SPLITS.get(score);
  SPLITS.delete(score);
  SPLIT_WANTED.delete(score);
  const [sp, sn] =
    kept && kept.pos.length === m && kept.neg.length === n && sameLabels(kept.y, pos)
      ? [kept.pos, kept.neg]
      : splitSorted(score, pos);
  const amongNeg = rankCounter(sn);
  const amongPos = rankCounter(sp);
  // One int32 buffer of `rows` holds t10 then t01 (m + n = rows).
  const out = new Int32Array(rows);
  const t10 = out.subarray(0, m);
  const t01 = out.subarray(m);
  // Twice the Mann-Whitney count Σ_i Σ_j ψ, an integer (exact below 2^53).
  let twiceU = 0;
  for (let i = 0, ip = 0, ineg = 0; i < rows; i++) {
    const v = score[i]!;
    if (pos[i] === 1) {
      const t = amongNeg(v);
      t10[ip++] = t;
      twiceU += t;
    } else t01[ineg++] = amongPos(v);
  }
  return { t10, t01, auc: twiceU / (2 * m * n) };
}

/** Whether two label vectors hold the same labels (the same array, or equal row by row). */
function sameLabels(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Mark a candidate's scores so that the metric engine's AUROC of them keeps its split sort (both classes' scores,
 * sorted: 8 bytes a row) until DeLong's test needs their components, which then only count ranks against it: a
 * candidate that stage 1 of the keep rule already rejects pays for the one sort its AUROC needs and nothing more
 * (`npm run bench -- overhead` at 3M rows: 1.99 → 1.30 s of overhead for such an experiment). The mark and the
 * kept sort are weak (dropped with the array) and are consumed by the components' computation.
 * @param score the candidate's n scores (never modified afterwards)
 */
export function keepSplitFor(score: Float64Array): void {
  SPLIT_WANTED.add(score);
}

/**
 * Compute and cache one model's structural components ahead of {@link delongTest}, e.g. when a model becomes
 * the best one (every later candidate is compared with it: its sort is then already done). The cache is keyed
 * by the two arrays themselves (never modify them afterwards); a call that finds them cached does nothing.
 * @param y n labels, 0 or 1 (1 = positive)
 * @param score n finite scores
 * @returns nothing; does nothing when the lengths differ, a score is not finite or a class is absent
 *   (delongTest then reports the problem)
 */
export function prepareDelong(y: Uint8Array, score: Float64Array): void {
  if (y.length !== score.length) return;
  let m = 0;
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(score[i]!)) return;
    m += y[i] === 1 ? 1 : 0;
  }
  const n = y.length - m;
  if (m > 0 && n > 0) components(y, score, m, n);
}

/**
 * Sample covariance matrix [AA, AB, BB] (divisor length − 1; 0 for length 1) of two equal-length component
 * vectors given as numerators (see {@link Components}: each value is `comp(t, k, d, flip)`).
 */
function cov2(a: Int32Array, b: Int32Array, d: number, flip: boolean): [number, number, number] {
  const k = a.length;
  if (k < 2) return [0, 0, 0];
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < k; i++) {
    sa += comp(a, i, d, flip);
    sb += comp(b, i, d, flip);
  }
  const ma = sa / k;
  const mb = sb / k;
  let aa = 0;
  let ab = 0;
  let bb = 0;
  for (let i = 0; i < k; i++) {
    const da = comp(a, i, d, flip) - ma;
    const db = comp(b, i, d, flip) - mb;
    aa += da * da;
    ab += da * db;
    bb += db * db;
  }
  return [aa / (k - 1), ab / (k - 1), bb / (k - 1)];
}

/**
 * DeLong's paired test of AUROC(B) − AUROC(A) on the same rows.
 * @param y n labels, 0 or 1 (1 = positive).
 * @param pa n finite scores of the baseline model A (larger = more positive).
 * @param pb n finite scores of the candidate model B on the same rows.
 * @param confidence two-sided confidence of the reported interval, in (0, 1) (e.g. 0.95).
 * @returns both AUCs (exactly scikit-learn's roc_auc_score, ties as 1/2), delta = θ_B − θ_A, its
 *   variance and standard error, z = delta/se, probImprovement = Φ(z) (the one-sided normal
 *   confidence that B is better; 1 − p of the one-sided test), and the interval delta ± z_{(1+c)/2}·se.
 *   When the variance is 0 (e.g. identical models), z is +∞ / −∞ for a positive / negative delta and
 *   0 with probImprovement 0 for delta 0 (a tie is no improvement, as in the bootstrap).
 * @throws RangeError for mismatched lengths, non-finite scores, a bad confidence, or labels with
 *   only one class (the AUC is undefined).
 */
export function delongTest(
  y: Uint8Array,
  pa: Float64Array,
  pb: Float64Array,
  confidence: number,
): DeLongResult {
  const rows = y.length;
  if (pa.length !== rows || pb.length !== rows) {
    throw new RangeError(`delongTest: ${rows} labels but ${pa.length} and ${pb.length} scores`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`delongTest: confidence must be in (0, 1), got ${confidence}`);
  }
  let m = 0;
  for (let i = 0; i < rows; i++) {
    if (!Number.isFinite(pa[i]!) || !Number.isFinite(pb[i]!)) {
      throw new RangeError(`delongTest: scores must be finite; row ${i} is not`);
    }
    m += y[i] === 1 ? 1 : 0;
  }
  const n = rows - m;
  if (m === 0 || n === 0) {
    throw new RangeError(`delongTest: the AUC needs both classes; got ${m} positives and ${n} negatives`);
  }
  const A = components(y, pa, m, n);
  const B = components(y, pb, m, n);
  const s10 = cov2(A.t10, B.t10, 2 * n, false);
  const s01 = cov2(A.t01, B.t01, 2 * m, true);
  const sAA = s10[0] / m + s01[0] / n;
  const sAB = s10[1] / m + s01[1] / n;
  const sBB = s10[2] / m + s01[2] / n;
  const variance = Math.max(0, sAA + sBB - 2 * sAB);
  const delta = B.auc - A.auc;
  const se = Math.sqrt(variance);
  return {
    ...delongResult(A.auc, B.auc, delta, se, confidence, rows),
    positives: m,
    negatives: n,
    s10,
    s01,
    variance,
  };
}

/** Sample variance (divisor length − 1; 0 for length 1) of a vector, two-pass. */
function variance1(a: Float64Array): number {
  const k = a.length;
  if (k < 2) return 0;
  let s = 0;
  for (let i = 0; i < k; i++) s += a[i]!;
  const m = s / k;
  let ss = 0;
  for (let i = 0; i < k; i++) {
    const d = a[i]! - m;
    ss += d * d;
  }
  return ss / (k - 1);
}

/**
 * DeLong's test of a contrast of several correlated AUROCs on the same rows: mean AUROC of the
 * candidate's runs `bs` minus mean AUROC of the baseline's runs `as` (the confirmation stage of the
 * keep rule, where each side was run with several seeds). DeLong et al. 1988 test any contrast c of
 * the k AUCs with Var(cᵀθ) = cᵀ S10 c / m + cᵀ S01 c / n; cᵀ S10 c is the sample variance of the
 * combined components Σ_r c_r V10_r(X_i), which is how it is computed here (O(k·n log n)).
 * With one run per side it equals {@link delongTest} (same delta, variance and z up to rounding).
 * @param y n labels 0/1; @param as ≥ 1 score vectors of the baseline; @param bs ≥ 1 of the candidate.
 * @param confidence two-sided confidence of the interval, in (0, 1).
 * @returns a = mean AUC of `as`, b = mean AUC of `bs`, delta = b − a, se, z = delta/se,
 *   probImprovement = Φ(z), the interval (same conventions as {@link delongTest}).
 * @throws RangeError as {@link delongTest}, or when a side has no score vector.
 */
export function delongMeanTest(
  y: Uint8Array,
  as: Float64Array[],
  bs: Float64Array[],
  confidence: number,
): PairedTestResult {
  if (as.length === 0 || bs.length === 0)
    throw new RangeError('delongMeanTest: each side needs a score vector');
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`delongMeanTest: confidence must be in (0, 1), got ${confidence}`);
  }
  const rows = y.length;
  let m = 0;
  for (let i = 0; i < rows; i++) m += y[i] === 1 ? 1 : 0;
  const n = rows - m;
  if (m === 0 || n === 0) {
    throw new RangeError(`delongMeanTest: the AUC needs both classes; got ${m} positives and ${n} negatives`);
  }
  const w10 = new Float64Array(m);
  const w01 = new Float64Array(n);
  let a = 0;
  let b = 0;
  const add = (score: Float64Array, c: number) => {
    if (score.length !== rows)
      throw new RangeError(`delongMeanTest: ${rows} labels but ${score.length} scores`);
    for (let i = 0; i < rows; i++) {
      if (!Number.isFinite(score[i]!))
        throw new RangeError(`delongMeanTest: scores must be finite; row ${i} is not`);
    }
    const k = components(y, score, m, n);
    for (let i = 0; i < m; i++) w10[i]! += c * comp(k.t10, i, 2 * n, false);
    for (let j = 0; j < n; j++) w01[j]! += c * comp(k.t01, j, 2 * m, true);
    return k.auc;
  };
  for (const s of as) a += add(s, -1 / as.length) / as.length;
  for (const s of bs) b += add(s, 1 / bs.length) / bs.length;
  const variance = Math.max(0, variance1(w10) / m + variance1(w01) / n);
  const se0 = Math.sqrt(variance);
  const { delta, se } = tieAtRounding(a, b, se0);
  return delongResult(a, b, delta, se, confidence, rows);
}

/** The shared fields of a DeLong result: AUROC is maximized, so z = delta/se (see {@link signedZ}). */
function delongResult(a: number, b: number, delta: number, se: number, confidence: number, n: number) {
  return normalTestResult('delong', {
    a,
    b,
    delta,
    se,
    z: signedZ(delta, se, 1),
    tie: se === 0 && delta === 0,
    confidence,
    n,
  });
}

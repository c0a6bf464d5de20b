/**
 * Accurate, fast summation kernels shared by the metrics.
 *
 * Terms are added in blocks of BLOCK values with four independent naive accumulators (so the CPU
 * overlaps the additions instead of waiting on one dependency chain), and the block totals are
 * combined with Neumaier's compensated summation (Neumaier 1974, "Rundungsfehleranalyse einiger
 * Verfahren zur Summation endlicher Summen"). The error is that of one block, far below the 1e-12
 * agreement the engine promises with scikit-learn (whose numpy sums are pairwise); integer-valued
 * sums below 2^53 are exact.
 */

/** Terms per naive block; a multiple of 4. */
export const BLOCK = 1024;

/**
 * Neumaier step on a two-slot accumulator: acc[0] += x, with the rounding error of the addition
 * accumulated in acc[1]. (Typed-array slots keep the doubles unboxed in V8.)
 */
export function compensatedAdd(acc: Float64Array, x: number): void {
  const s = acc[0]!;
  const t = s + x;
  acc[1]! += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
  acc[0] = t;
}

/** The total of a two-slot accumulator (an infinite sum stays infinite; its correction is NaN). */
export function compensatedValue(acc: Float64Array): number {
  const s = acc[0]!;
  return Number.isFinite(s) ? s + acc[1]! : s;
}

/** A running sum with Neumaier compensation. */
export class CompensatedSum {
  private readonly acc = new Float64Array(2);

  /** Adds one value. */
  add(x: number): void {
    compensatedAdd(this.acc, x);
  }

  /** The compensated total. */
  get value(): number {
    return compensatedValue(this.acc);
  }
}

/** Sum of a[start..end-1] with four accumulators (one block). */
function blockSum(a: Float64Array, start: number, end: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = start;
  for (; i + 3 < end; i += 4) {
    s0 += a[i]!;
    s1 += a[i + 1]!;
    s2 += a[i + 2]!;
    s3 += a[i + 3]!;
  }
  for (; i < end; i++) s0 += a[i]!;
  return s0 + s1 + (s2 + s3);
}

/** Sum of `a[0..n-1]`. */
export function sumArray(a: Float64Array, n: number = a.length): number {
  const acc = new Float64Array(2);
  for (let start = 0; start < n; start += BLOCK)
    compensatedAdd(acc, blockSum(a, start, Math.min(n, start + BLOCK)));
  return compensatedValue(acc);
}

/**
 * Weighted mean `sum_i w_i t_i / sum_i w_i` of per-row terms (numpy.average semantics; with
 * `weights` null, the plain mean). Rows of weight 0 are ignored even when their term is infinite,
 * so a weighted mean always equals the plain mean of the rows repeated by their weights.
 * @param terms n per-row terms.
 * @param weights n non-negative weights, or null.
 * @throws RangeError when the weights sum to 0 (or n = 0).
 */
export function weightedMean(terms: Float64Array, weights: Float64Array | null): number {
  const n = terms.length;
  if (weights === null) {
    if (n === 0) throw new RangeError('cannot average zero rows');
    return sumArray(terms, n) / n;
  }
  const num = new Float64Array(2);
  const den = new Float64Array(2);
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let s0 = 0;
    let s1 = 0;
    let w0 = 0;
    let w1 = 0;
    let i = start;
    for (; i + 1 < end; i += 2) {
      const a = weights[i]!;
      const b = weights[i + 1]!;
      s0 += a * terms[i]!;
      s1 += b * terms[i + 1]!;
      w0 += a;
      w1 += b;
    }
    if (i < end) {
      s0 += weights[i]! * terms[i]!;
      w0 += weights[i]!;
    }
    compensatedAdd(num, s0 + s1);
    compensatedAdd(den, w0 + w1);
  }
  const W = compensatedValue(den);
  if (!(W > 0)) throw new RangeError('weights sum to zero: the metric is undefined');
  const r = compensatedValue(num) / W;
  if (Number.isFinite(r)) return r;
  return slowWeightedMean(terms, weights, W);
}

/** Weighted mean that skips zero weights explicitly (so 0 * Infinity never enters the sum). */
function slowWeightedMean(terms: Float64Array, weights: Float64Array, W: number): number {
  const num = new Float64Array(2);
  for (let i = 0; i < terms.length; i++) {
    const w = weights[i]!;
    if (w !== 0) compensatedAdd(num, w * terms[i]!);
  }
  return compensatedValue(num) / W;
}

/**
 * Weighted mean of terms produced block by block, without materialising all n terms: `fill(start,
 * end, out)` writes the terms of rows start..end-1 into out[0..end-start-1]. Same semantics and
 * errors as `weightedMean`.
 */
export function weightedMeanChunked(
  n: number,
  fill: (start: number, end: number, out: Float64Array) => void,
  weights: Float64Array | null,
): number {
  if (n === 0) throw new RangeError('cannot average zero rows');
  const buf = new Float64Array(Math.min(n, BLOCK));
  const num = new Float64Array(2);
  const den = new Float64Array(2);
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    const len = end - start;
    fill(start, end, buf);
    if (weights === null) {
      compensatedAdd(num, blockSum(buf, 0, len));
    } else {
      let s = 0;
      let sw = 0;
      for (let i = 0; i < len; i++) {
        const w = weights[start + i]!;
        if (w === 0) continue; // a zero-weight row is absent, even if its term is infinite
        s += w * buf[i]!;
        sw += w;
      }
      compensatedAdd(num, s);
      compensatedAdd(den, sw);
    }
  }
  const W = weights === null ? n : compensatedValue(den);
  if (!(W > 0)) throw new RangeError('weights sum to zero: the metric is undefined');
  return compensatedValue(num) / W;
}

import { normalQuantile } from '../metrics/normal.js';

/**
 * The distributions tier 3's statistics need (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): Student's
 * t (CDF and quantile, for Welch intervals and the OLS slope's interval) and the binomial test (sign agreement).
 * Pure functions, checked against scipy (test/fixtures/ab-stats.json, made by test/fixtures/ab_stats.py).
 */

/** Lanczos coefficients (g = 7, n = 9), as in Numerical Recipes 3rd ed. §6.1 / Boost; relative error ~1e-15. */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/**
 * ln Γ(x) for x > 0 by the Lanczos approximation (reflection for x < 0.5).
 * @throws RangeError for x <= 0
 */
export function lnGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lnGamma: x must be > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function by the modified Lentz method (Numerical Recipes §6.4). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/**
 * The regularized incomplete beta function I_x(a, b) (Numerical Recipes §6.4: the continued fraction, on the side
 * of x where it converges fast).
 * @throws RangeError for a or b <= 0 or x outside [0, 1]
 */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`regularizedBeta: a and b must be > 0, got ${a}, ${b}`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`regularizedBeta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const lbt = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const bt = Math.exp(lbt);
  if (x < (a + 1) / (a + b + 2)) return (bt * betaContinuedFraction(a, b, x)) / a;
  return 1 - (bt * betaContinuedFraction(b, a, 1 - x)) / b;
}

/**
 * Student's t CDF with `df` (real, > 0) degrees of freedom: P(T ≤ t) = 1 − ½ I_{df/(df+t²)}(df/2, ½) for t > 0,
 * by symmetry otherwise (Abramowitz & Stegun 26.7.1 / 26.5.27).
 * @throws RangeError for df <= 0
 */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`studentTCdf: df must be > 0, got ${df}`);
  if (Number.isNaN(t)) return Number.NaN;
  if (t === Number.POSITIVE_INFINITY) return 1;
  if (t === Number.NEGATIVE_INFINITY) return 0;
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** Student's t density with `df` degrees of freedom. */
function studentTPdf(t: number, df: number): number {
  const lc = lnGamma((df + 1) / 2) - lnGamma(df / 2) - 0.5 * Math.log(df * Math.PI);
  return Math.exp(lc - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/**
 * Student's t quantile: the t with P(T ≤ t) = p for `df` (real, > 0) degrees of freedom. Starts from the normal
 * quantile's Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5), then safeguarded Newton steps on
 * {@link studentTCdf} inside a bracket (bisection when a step leaves it) to a relative error ~1e-12.
 * @throws RangeError for p outside (0, 1) or df <= 0
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`studentTQuantile: df must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  const z = normalQuantile(p);
  if (df > 1e7) return z;
  const z3 = z ** 3;
  const z5 = z ** 5;
  let x = z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df);
  // Bracket [lo, hi] around the root: P(T ≤ 0) = ½ < p, and hi doubles until its CDF reaches p.
  let lo = 0;
  let hi = Math.max(1, x * 2);
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Number.POSITIVE_INFINITY;
  }
  if (!(x > lo && x < hi)) x = (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const f = studentTCdf(x, df) - p;
    if (f === 0) return x;
    if (f < 0) lo = x;
    else hi = x;
    let next = x - f / studentTPdf(x, df);
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) <= 1e-13 * Math.max(1, Math.abs(x))) return next;
    x = next;
  }
  return x;
}

/** Binomial probability P(X = k) for X ~ Bin(n, p), through ln Γ. */
export function binomialPmf(k: number, n: number, p: number): number {
  if (!Number.isInteger(k) || k < 0 || k > n) return 0;
  if (p === 0) return k === 0 ? 1 : 0;
  if (p === 1) return k === n ? 1 : 0;
  const lc = lnGamma(n + 1) - lnGamma(k + 1) - lnGamma(n - k + 1);
  return Math.exp(lc + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/**
 * Exact binomial test of k successes in n trials against success probability p, as scipy.stats.binomtest:
 * 'greater' sums P(X ≥ k); 'two-sided' sums the probabilities of every outcome no more likely than k (with
 * scipy's relative tolerance 1 + 1e-7).
 * @returns the p-value, in [0, 1]
 * @throws RangeError for n < 1, k outside 0..n or p outside [0, 1]
 */
export function binomialTest(
  k: number,
  n: number,
  p = 0.5,
  alternative: 'two-sided' | 'greater' | 'less' = 'two-sided',
): number {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`binomialTest: n must be a whole number >= 1, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new RangeError(`binomialTest: k must be a whole number in 0..${n}, got ${k}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`binomialTest: p must be in [0, 1], got ${p}`);
  let sum = 0;
  if (alternative === 'greater') for (let i = k; i <= n; i++) sum += binomialPmf(i, n, p);
  else if (alternative === 'less') for (let i = 0; i <= k; i++) sum += binomialPmf(i, n, p);
  else {
    const d = binomialPmf(k, n, p) * (1 + 1e-7);
    for (let i = 0; i <= n; i++) {
      const q = binomialPmf(i, n, p);
      if (q <= d) sum += q;
    }
  }
  return Math.min(1, Math.max(0, sum));
}

import { Xoshiro128 } from '../metrics/random.js';
import { studentTCdf, studentTQuantile } from './distributions.js';

/**
 * Association statistics of offline–online pairs (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"):
 * Kendall's τ-b, Spearman's ρ, the OLS slope and a seeded percentile bootstrap over pairs. Pure functions,
 * checked against scipy (kendalltau, spearmanr, linregress; test/fixtures/ab_stats.py).
 */

/**
 * Kendall's τ-b (Kendall 1945, "The treatment of ties in ranking problems"): (P − Q) / √((n₀ − n₁)(n₀ − n₂)) with P
 * concordant and Q discordant pairs, n₀ = n(n−1)/2, n₁ and n₂ the pairs tied in x and in y. O(n²), fine for the
 * tens to hundreds of A/B tests it is for.
 * @returns τ-b, or NaN when x or y is constant (or n < 2)
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let s = 0;
  let tiedX = 0;
  let tiedY = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      s += dx * dy;
      if (dx === 0) tiedX++;
      if (dy === 0) tiedY++;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  const d = Math.sqrt((n0 - tiedX) * (n0 - tiedY));
  return d > 0 ? s / d : Number.NaN;
}

/** 1-based ranks with ties given their average rank. */
export function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && v[order[j + 1]!] === v[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

/** Pearson's correlation; NaN when either side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
}

/** Spearman's ρ: Pearson's correlation of the average ranks (Spearman 1904). NaN when a side is constant. */
export function spearmanRho(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(averageRanks(x), averageRanks(y));
}

/** An ordinary least-squares line y = intercept + slope · x, with the slope's t interval. */
export interface OlsFit {
  slope: number;
  intercept: number;
  /** Standard error of the slope: √(SSE / (n − 2) / Sxx). */
  slopeSe: number;
  /** Two-sided p-value of slope = 0 (t with n − 2 df). */
  p: number;
  level: number;
  slopeLow: number;
  slopeHigh: number;
}

/**
 * OLS of y on x: slope = Sxy / Sxx, intercept = ȳ − slope · x̄, se = √(SSE / (n − 2) / Sxx), interval slope ±
 * t_{n−2, (1+level)/2} · se (the textbook simple regression, as scipy.stats.linregress).
 * @returns the fit, or null when n < 3 or x is constant
 */
export function olsFit(x: ArrayLike<number>, y: ArrayLike<number>, level = 0.95): OlsFit | null {
  const n = x.length;
  if (n < 3) return null;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i]! - mx) ** 2;
    sxy += (x[i]! - mx) * (y[i]! - my);
  }
  if (!(sxx > 0)) return null;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i]! - intercept - slope * x[i]!) ** 2;
  const slopeSe = Math.sqrt(sse / (n - 2) / sxx);
  const q = studentTQuantile((1 + level) / 2, n - 2);
  const t = slopeSe > 0 ? slope / slopeSe : Number.POSITIVE_INFINITY;
  const p = slopeSe > 0 ? 2 * (1 - studentTCdf(Math.abs(t), n - 2)) : 0;
  return {
    slope,
    intercept,
    slopeSe,
    p,
    level,
    slopeLow: slope - q * slopeSe,
    slopeHigh: slope + q * slopeSe,
  };
}

/** A percentile bootstrap interval. */
export interface BootstrapInterval {
  low: number;
  high: number;
  level: number;
  resamples: number;
  /** Resamples whose statistic was undefined (e.g. every resampled x equal) and were left out. */
  undefinedResamples: number;
}

/**
 * Percentile bootstrap interval of a paired statistic (Efron & Tibshirani 1993, ch. 13): `resamples` times, draw n
 * pairs with replacement (seeded xoshiro128**, so the interval is reproducible), compute the statistic, and take
 * the (1 − level)/2 and (1 + level)/2 quantiles (linear interpolation, as numpy's default) of the defined ones.
 * @returns the interval, or null when fewer than half the resamples were defined
 */
export function pairedBootstrap(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  stat: (x: Float64Array, y: Float64Array) => number,
  opts: { resamples: number; seed: number; level?: number },
): BootstrapInterval | null {
  const n = x.length;
  const level = opts.level ?? 0.95;
  const rng = new Xoshiro128(opts.seed);
  const bx = new Float64Array(n);
  const by = new Float64Array(n);
  const idx = new Uint32Array(n);
  const values: number[] = [];
  for (let b = 0; b < opts.resamples; b++) {
    rng.fillUniformInts(n, idx, n);
    for (let i = 0; i < n; i++) {
      bx[i] = x[idx[i]!]!;
      by[i] = y[idx[i]!]!;
    }
    const v = stat(bx, by);
    if (Number.isFinite(v)) values.push(v);
  }
  if (values.length === 0 || values.length < opts.resamples / 2) return null;
  values.sort((a, b) => a - b);
  return {
    low: quantile(values, (1 - level) / 2),
    high: quantile(values, (1 + level) / 2),
    level,
    resamples: opts.resamples,
    undefinedResamples: opts.resamples - values.length,
  };
}

/** The q-quantile of sorted values, linear interpolation between order statistics (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

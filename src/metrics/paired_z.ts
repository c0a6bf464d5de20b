/**
 * The paired z-test for metrics that are an increasing function of a mean of per-row losses
 * (log_loss, brier, accuracy, mae, mape, rmse through the mean squared error).
 *
 * Both models are scored on the same n rows, so with per-row terms t^A_i, t^B_i the differences
 * d_i = t^B_i − t^A_i are i.i.d. over rows and, by the central limit theorem, mean(d) is normal with
 * standard error sd(d)/√n (sd with divisor n − 1): the paired-sample z-test (e.g. Wasserman, "All of
 * Statistics", §10.1 and §10.3 on paired comparisons; for log loss and Brier the same test is
 * Diebold & Mariano 1995, J. Bus. Econ. Stat. 13:253, with independent rows). For accuracy the terms are
 * 0/1 correctness and the test is the large-sample form of McNemar's test (McNemar 1947,
 * Psychometrika 12:153): mean(d) = (b − c)/n with b, c the discordant counts.
 *
 * The decision (z, probImprovement) is taken on mean(d), i.e. on the mean of the per-row terms: since
 * the metric is an increasing `finish` of that mean (identity, x/2 for brier, √ for rmse), "B better"
 * is the same event. The reported delta and interval are in the metric's own units, via the delta
 * method when `finish` is not linear (rmse: f'(m) = 1/(2√m); the influence of row i is
 * f'(m_B) t^B_i − f'(m_A) t^A_i, Wasserman §5.5).
 */

import { sameTruth } from './bootstrap.js';
import { normalCdf, normalQuantile } from './normal.js';
import { metricImpl } from './registry.js';
import { sumArray, weightedMean } from './sum.js';
import type { MetricInput } from './types.js';

/** Result of an analytic paired test of metric(B) − metric(A) on the same rows (DeLong or paired z). */
export interface PairedTestResult {
  /** Which test: DeLong's AUROC test, or the paired z-test on per-row terms. */
  test: 'delong' | 'paired-z';
  /** metric(A) and metric(B) on all rows, in the metric's units. */
  a: number;
  b: number;
  /** metric(B) − metric(A). */
  delta: number;
  /** Standard error of delta, in the metric's units. */
  se: number;
  /**
   * The test statistic, oriented so that positive means B is better in the metric's direction
   * (for rmse it is the z of the mean squared error difference).
   */
  z: number;
  /** Φ(z): the one-sided normal confidence that B is better (1 − the one-sided p-value). */
  probImprovement: number;
  /** Two-sided normal interval delta ± z_{(1+confidence)/2}·se, in the metric's units. */
  low: number;
  high: number;
  confidence: number;
  /** Number of rows. */
  n: number;
}

/**
 * The statistic of a paired normal test: z = sign·diff/se, oriented so that positive means B is better
 * (sign +1 when the metric is maximized, −1 when minimized); with se = 0 it is ±∞ for a nonzero difference
 * and 0 for a tie.
 */
export function signedZ(diff: number, se: number, sign: 1 | -1): number {
  if (se > 0) return (sign * diff) / se;
  return diff === 0 ? 0 : sign * diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
}

/**
 * Assemble a {@link PairedTestResult} from the scores, the difference and its standard error (metric units)
 * and the statistic z: the one-sided normal confidence Φ(z) that B is better (0 for an exact tie, where the
 * difference and its standard error are both 0) and the two-sided interval delta ± z_{(1+confidence)/2}·se.
 */
export function normalTestResult<T extends PairedTestResult['test']>(
  test: T,
  r: {
    a: number;
    b: number;
    delta: number;
    se: number;
    z: number;
    tie: boolean;
    confidence: number;
    n: number;
  },
): PairedTestResult & { test: T } {
  const half = normalQuantile((1 + r.confidence) / 2) * r.se;
  return {
    test,
    a: r.a,
    b: r.b,
    delta: r.delta,
    se: r.se,
    z: r.z,
    probImprovement: r.tie ? 0 : normalCdf(r.z),
    low: r.delta - half,
    high: r.delta + half,
    confidence: r.confidence,
    n: r.n,
  };
}

/**
 * The difference b − a of two averages over runs and its standard error, with a tie at rounding level: the
 * averages of runs do not cancel exactly, so a difference and a standard error both within 64 ulp of the scores
 * count as 0 (an exact tie).
 */
export function tieAtRounding(a: number, b: number, se0: number): { delta: number; se: number } {
  const ulp = 64 * Number.EPSILON * Math.max(Math.abs(a), Math.abs(b), Number.MIN_VALUE);
  const delta = Math.abs(b - a) <= ulp && se0 <= ulp ? 0 : b - a;
  return { delta, se: delta === 0 && se0 <= ulp ? 0 : se0 };
}

/** True when `name` on `task` is a mean of per-row terms, so {@link pairedZTest} applies. */
export function hasPairedZ(name: string, task: MetricInput['task']): boolean {
  return metricImpl(name, task).decomposed !== undefined;
}

/** Slope of an increasing transform at x: exact for linear transforms, a central difference otherwise. */
function slope(f: (x: number) => number, x: number): number {
  const f1 = f(1);
  if (f(0) === 0 && f(2) === 2 * f1) return f1;
  const h = Math.max(Math.abs(x), 1e-300) * 1e-6;
  return (f(x + h) - f(Math.max(0, x - h))) / (x + h - Math.max(0, x - h));
}

/**
 * The paired z-test of delta = metric(B) − metric(A) for a metric that is a mean of per-row terms.
 * @param name the metric (e.g. 'log_loss', 'brier', 'accuracy', 'rmse', 'mae'); see {@link hasPairedZ}.
 * @param a predictions of the baseline model A; @param b of the candidate B on the same rows.
 * @param confidence two-sided confidence of the interval, in (0, 1).
 * @returns a and b (equal to the engine's metric on each input), delta, se, z (positive = B better),
 *   probImprovement = Φ(z), the interval. With sd(d) = 0: z = ±∞ by the sign of mean(d), or 0 with
 *   probImprovement 0 when every d_i is 0 (identical losses are no improvement).
 * @throws Error when the metric is not a mean of per-row terms; RangeError for invalid or mismatched
 *   inputs, fewer than 2 rows, or a bad confidence.
 */
export function pairedZTest(
  name: string,
  a: MetricInput,
  b: MetricInput,
  confidence: number,
): PairedTestResult {
  const impl = metricImpl(name, a.task);
  const dec = impl.decomposed;
  if (!dec) throw new Error(`pairedZTest: ${name} is not a mean of per-row terms`);
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`pairedZTest: confidence must be in (0, 1), got ${confidence}`);
  }
  sameTruth(a, b);
  impl.validate(a);
  impl.validate(b);
  const ta = dec.terms(a);
  const tb = dec.terms(b);
  const n = ta.length;
  if (n < 2) throw new RangeError(`pairedZTest: needs at least 2 rows, got ${n}`);
  const ma = weightedMean(ta, null);
  const mb = weightedMean(tb, null);
  const va = dec.finish(ma);
  const vb = dec.finish(mb);
  const sign = impl.spec.direction === 'maximize' ? 1 : -1;
  // Differences of the raw terms, and the delta-method influences in metric units.
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = tb[i]! - ta[i]!;
  const md = sumArray(d) / n;
  const gA = slope(dec.finish, ma);
  const gB = slope(dec.finish, mb);
  const u = ta; // reuse: influences u_i = gB t^B_i − gA t^A_i
  for (let i = 0; i < n; i++) u[i] = gB * tb[i]! - gA * ta[i]!;
  const mu = sumArray(u) / n;
  for (let i = 0; i < n; i++) {
    const x = d[i]! - md;
    d[i] = x * x;
    const y = u[i]! - mu;
    u[i] = y * y;
  }
  const seD = Math.sqrt(sumArray(d) / (n - 1) / n);
  const se = Math.sqrt(sumArray(u) / (n - 1) / n);
  const z = signedZ(md, seD, sign);
  return normalTestResult('paired-z', {
    a: va,
    b: vb,
    delta: vb - va,
    se,
    z,
    tie: seD === 0 && md === 0,
    confidence,
    n,
  });
}

/**
 * The paired z-test of a difference of MEAN metrics over several runs scored on the same rows: mean
 * metric of the candidate's runs `bs` minus mean metric of the baseline's runs `as` (the keep rule's
 * confirmation over seeds). Each run's metric is f(mean of its per-row terms), so by the delta method
 * (Wasserman, "All of Statistics", §5.5) the difference is, to first order, the mean over rows of the
 * influences u_i = Σ_b f'(m_b) t^b_i / |bs| − Σ_a f'(m_a) t^a_i / |as|, with standard error sd(u)/√n;
 * z = ±delta/se (positive = B better). Exact (no linearisation) for linear f (all but rmse).
 * @param name a metric that is a mean of per-row terms; @param as ≥ 1 baseline runs; @param bs ≥ 1
 *   candidate runs, all on the same rows. @param confidence two-sided confidence, in (0, 1).
 * @throws as {@link pairedZTest}, or when a side has no run.
 */
export function pairedZMeanTest(
  name: string,
  as: MetricInput[],
  bs: MetricInput[],
  confidence: number,
): PairedTestResult {
  if (as.length === 0 || bs.length === 0) throw new RangeError('pairedZMeanTest: each side needs a run');
  const first = as[0]!;
  const impl = metricImpl(name, first.task);
  const dec = impl.decomposed;
  if (!dec) throw new Error(`pairedZMeanTest: ${name} is not a mean of per-row terms`);
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`pairedZMeanTest: confidence must be in (0, 1), got ${confidence}`);
  }
  const n = weightedRows(first);
  if (n < 2) throw new RangeError(`pairedZMeanTest: needs at least 2 rows, got ${n}`);
  const u = new Float64Array(n);
  let a = 0;
  let b = 0;
  const add = (input: MetricInput, c: number) => {
    sameTruth(first, input);
    impl.validate(input);
    const t = dec.terms(input);
    const mean = weightedMean(t, null);
    const g = c * slope(dec.finish, mean);
    for (let i = 0; i < n; i++) u[i]! += g * t[i]!;
    return dec.finish(mean);
  };
  for (const x of as) a += add(x, -1 / as.length) / as.length;
  for (const x of bs) b += add(x, 1 / bs.length) / bs.length;
  const mu = sumArray(u) / n;
  for (let i = 0; i < n; i++) {
    const d = u[i]! - mu;
    u[i] = d * d;
  }
  const se0 = Math.sqrt(sumArray(u) / (n - 1) / n);
  const { delta, se } = tieAtRounding(a, b, se0);
  const sign = impl.spec.direction === 'maximize' ? 1 : -1;
  const z = signedZ(delta, se, sign);
  return normalTestResult('paired-z', { a, b, delta, se, z, tie: se === 0 && delta === 0, confidence, n });
}

/** Rows of an input (its per-row terms). */
function weightedRows(input: MetricInput): number {
  return input.y.length;
}

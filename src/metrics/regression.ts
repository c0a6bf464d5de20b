/**
 * Regression metrics. Each matches the named scikit-learn 1.9.1 function (single output, default
 * arguments) and its `sample_weight` semantics.
 */

import type { MetricImpl } from './impl.js';
import { meanMetric } from './mean.js';
import { BLOCK, CompensatedSum } from './sum.js';
import type { MetricSpec, RegressionInput } from './types.js';
import { validateRegression, validateRegressionShape } from './validate.js';

/** The floor of |y| in MAPE's denominator: `np.finfo(np.float64).eps`, as scikit-learn. */
export const MAPE_EPS = Number.EPSILON;

const rows = (input: RegressionInput): number => input.y.length;
const check = (name: string) => (input: RegressionInput) => validateRegression(name, input);
const shape = (name: string) => (input: RegressionInput) => validateRegressionShape(name, input);

function spec(name: string, direction: 'maximize' | 'minimize', description: string): MetricSpec {
  return { name, task: 'regression', direction, needsProba: false, description };
}

const rmseMean = meanMetric<RegressionInput>(
  spec('rmse', 'minimize', 'sqrt(mean((y - p)^2)); equals sklearn.metrics.root_mean_squared_error.'),
  check('rmse'),
  rows,
  (input, start, end, out) => {
    const { y, p } = input;
    for (let i = start; i < end; i++) {
      const d = y[i]! - p[i]!;
      out[i - start] = d * d;
    }
  },
  Math.sqrt,
  shape('rmse'),
);

/**
 * Sum of squared differences without weights: four independent accumulators per 4096-row block (so the
 * additions pipeline), block sums added with Kahan compensation (Kahan 1965), so the rounding error stays
 * at the level of numpy's pairwise summation that scikit-learn's value comes from.
 */
export function sumSquaredDiff(y: Float64Array, p: Float64Array): number {
  const n = y.length;
  let total = 0;
  let comp = 0;
  for (let start = 0; start < n; start += 4096) {
    const end = Math.min(n, start + 4096);
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let i = start;
    for (; i + 3 < end; i += 4) {
      const d0 = y[i]! - p[i]!;
      const d1 = y[i + 1]! - p[i + 1]!;
      const d2 = y[i + 2]! - p[i + 2]!;
      const d3 = y[i + 3]! - p[i + 3]!;
      a0 += d0 * d0;
      a1 += d1 * d1;
      a2 += d2 * d2;
      a3 += d3 * d3;
    }
    for (; i < end; i++) {
      const d = y[i]! - p[i]!;
      a0 += d * d;
    }
    const block = a0 + a1 + (a2 + a3) - comp;
    const t = total + block;
    comp = t - total - block;
    total = t;
  }
  return total;
}

/** rmse: the unweighted one-shot path is a dedicated fused loop; weighted and prepared paths are the mean builder's. */
const rmse: MetricImpl<RegressionInput> = {
  ...rmseMean,
  compute(input, weights) {
    if (weights !== null || input.y.length === 0) return rmseMean.compute(input, weights);
    return Math.sqrt(sumSquaredDiff(input.y, input.p) / input.y.length);
  },
};

const mae = meanMetric<RegressionInput>(
  spec('mae', 'minimize', 'mean(|p - y|); equals sklearn.metrics.mean_absolute_error.'),
  check('mae'),
  rows,
  (input, start, end, out) => {
    const { y, p } = input;
    for (let i = start; i < end; i++) out[i - start] = Math.abs(p[i]! - y[i]!);
  },
  undefined,
  shape('mae'),
);

const mape = meanMetric<RegressionInput>(
  spec(
    'mape',
    'minimize',
    'mean(|p - y| / max(|y|, eps)), eps = float64 machine epsilon (2.22e-16), as a fraction (not %); ' +
      'equals sklearn.metrics.mean_absolute_percentage_error, so a row with y = 0 and p != 0 contributes ' +
      '|p| / 2.22e-16.',
  ),
  check('mape'),
  rows,
  (input, start, end, out) => {
    const { y, p } = input;
    for (let i = start; i < end; i++) {
      out[i - start] = Math.abs(p[i]! - y[i]!) / Math.max(Math.abs(y[i]!), MAPE_EPS);
    }
  },
  undefined,
  shape('mape'),
);

/**
 * R^2 = 1 - sum w (y - p)^2 / sum w (y - ybar_w)^2 with scikit-learn's force_finite convention:
 * 1.0 when the numerator is 0 (perfect predictions, even for constant y), 0.0 when y is constant
 * among the weighted rows but the predictions are not perfect. The mean is computed as
 * y0 + mean(y - y0) (y0 = the first weighted row's y), so a constant y gives a denominator of
 * exactly 0.
 */
function r2(input: RegressionInput, weights: Float64Array | null): number {
  const { y, p } = input;
  const n = y.length;
  if (n < 2) {
    throw new RangeError(
      'r2 is undefined with fewer than two rows (scikit-learn returns NaN with a warning)',
    );
  }
  let first = 0;
  if (weights !== null) while (first < n && weights[first] === 0) first++;
  if (first === n) throw new RangeError('r2: weights sum to zero');
  const y0 = y[first]!;
  const W = new CompensatedSum();
  const shift = new CompensatedSum();
  const num = new CompensatedSum();
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let w0 = 0;
    let s0 = 0;
    let e0 = 0;
    for (let i = start; i < end; i++) {
      const w = weights === null ? 1 : weights[i]!;
      if (w === 0) continue;
      const d = y[i]! - p[i]!;
      w0 += w;
      s0 += w * (y[i]! - y0);
      e0 += w * (d * d);
    }
    W.add(w0);
    shift.add(s0);
    num.add(e0);
  }
  const ybar = y0 + shift.value / W.value;
  const den = new CompensatedSum();
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let s = 0;
    for (let i = start; i < end; i++) {
      const w = weights === null ? 1 : weights[i]!;
      if (w === 0) continue;
      const d = y[i]! - ybar;
      s += w * (d * d);
    }
    den.add(s);
  }
  const numerator = num.value;
  const denominator = den.value;
  if (numerator === 0) return 1;
  if (denominator === 0) return 0;
  return 1 - numerator / denominator;
}

const r2Metric: MetricImpl<RegressionInput> = {
  spec: spec(
    'r2',
    'maximize',
    '1 - sum (y - p)^2 / sum (y - mean(y))^2; equals sklearn.metrics.r2_score (force_finite=True): 1.0 ' +
      'for perfect predictions, 0.0 for imperfect predictions of a constant y. Throws a RangeError with ' +
      'fewer than two rows (scikit-learn returns NaN).',
  ),
  validate: check('r2'),
  compute: r2,
  prepare(input) {
    return (weights) => r2(input, weights);
  },
};

/** All regression metrics, in the order they are listed. */
export const REGRESSION_METRICS: ReadonlyArray<MetricImpl<RegressionInput>> = [rmse, mae, r2Metric, mape];

/**
 * Input checks run before any metric: shapes, label ranges, finiteness, probability ranges and
 * weights. A failed check throws a RangeError naming the metric and the first offending row; the
 * evaluator turns it into an `invalid` experiment (docs/ARCHITECTURE.md, "The evaluator").
 */

import type { BinaryInput, MulticlassInput, RegressionInput } from './types.js';

function fail(metric: string, msg: string): never {
  throw new RangeError(`${metric}: ${msg}`);
}

/** True when every value is finite: x * 0 is 0 for finite x and NaN otherwise (branch-free pass). */
function allFinite(a: Float64Array): boolean {
  let z0 = 0;
  let z1 = 0;
  let i = 0;
  for (; i + 1 < a.length; i += 2) {
    z0 += a[i]! * 0;
    z1 += a[i + 1]! * 0;
  }
  if (i < a.length) z0 += a[i]! * 0;
  return z0 + z1 === 0;
}

function checkFinite(metric: string, name: string, a: Float64Array, unitRange: boolean): void {
  if (unitRange) {
    let ok = true;
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!(v >= 0 && v <= 1)) {
        ok = false;
        break;
      }
    }
    if (ok) return;
  } else if (allFinite(a)) {
    return;
  }
  // Slow path: find and report the first offending value.
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isFinite(v)) fail(metric, `${name}[${i}] is ${v}; predictions must be finite`);
    if (unitRange && !(v >= 0 && v <= 1)) {
      fail(metric, `${name}[${i}] = ${v} is outside [0, 1]; probabilities are required`);
    }
  }
}

/**
 * Checks a binary input: y and p of the same length n >= 1, y in {0, 1}, p finite, and p in
 * [0, 1] when `unitRange` (probability metrics, as scikit-learn's log_loss and brier_score_loss).
 * @throws RangeError on the first violation.
 */
export function validateBinary(metric: string, input: BinaryInput, unitRange: boolean): void {
  const { y, p } = input;
  if (!(y instanceof Uint8Array) || !(p instanceof Float64Array)) {
    fail(metric, 'binary input needs y: Uint8Array and p: Float64Array');
  }
  if (y.length !== p.length) fail(metric, `y has ${y.length} rows but p has ${p.length}`);
  if (y.length === 0) fail(metric, 'no rows');
  let bits = 0;
  for (let i = 0; i < y.length; i++) bits |= y[i]!;
  if (bits > 1) {
    for (let i = 0; i < y.length; i++) {
      if (y[i]! > 1) fail(metric, `y[${i}] = ${y[i]} is not a binary label (0 or 1)`);
    }
  }
  checkFinite(metric, 'p', p, unitRange);
}

/**
 * Checks a multiclass input: k an integer >= 2, y and pred of length n >= 1 with values in
 * [0, k), and, when `needsProba`, proba present with n*k finite values in [0, 1] (rows are not
 * required to sum to 1 here; auroc_ovr checks that itself, as scikit-learn does).
 * @throws RangeError on the first violation.
 */
export function validateMulticlass(metric: string, input: MulticlassInput, needsProba: boolean): void {
  const { y, k, pred, proba } = input;
  if (!(y instanceof Int32Array) || !(pred instanceof Int32Array)) {
    fail(metric, 'multiclass input needs y: Int32Array and pred: Int32Array');
  }
  if (!Number.isInteger(k) || k < 2) fail(metric, `k must be an integer >= 2, got ${k}`);
  const n = y.length;
  if (n === 0) fail(metric, 'no rows');
  if (pred.length !== n) fail(metric, `y has ${n} rows but pred has ${pred.length}`);
  for (let i = 0; i < n; i++) {
    const a = y[i]!;
    if (a < 0 || a >= k) fail(metric, `y[${i}] = ${a} is not a class index in [0, ${k})`);
    const b = pred[i]!;
    if (b < 0 || b >= k) fail(metric, `pred[${i}] = ${b} is not a class index in [0, ${k})`);
  }
  if (needsProba) {
    if (proba === undefined) {
      fail(metric, 'needs predicted class probabilities (proba), but the predictions hold labels only');
    }
    if (!(proba instanceof Float64Array)) fail(metric, 'proba must be a Float64Array');
    if (proba.length !== n * k) fail(metric, `proba has ${proba.length} values, expected n*k = ${n * k}`);
    checkFinite(metric, 'proba', proba, true);
  }
}

/**
 * The O(1) part of `validateRegression`: array types, equal lengths, n >= 1.
 * @throws RangeError on a violation.
 */
export function validateRegressionShape(metric: string, input: RegressionInput): void {
  const { y, p } = input;
  if (!(y instanceof Float64Array) || !(p instanceof Float64Array)) {
    fail(metric, 'regression input needs y: Float64Array and p: Float64Array');
  }
  if (y.length !== p.length) fail(metric, `y has ${y.length} rows but p has ${p.length}`);
  if (y.length === 0) fail(metric, 'no rows');
}

/**
 * Checks a regression input: y and p of the same length n >= 1, all values finite.
 * @throws RangeError on the first violation.
 */
export function validateRegression(metric: string, input: RegressionInput): void {
  validateRegressionShape(metric, input);
  const { y, p } = input;
  if (allFinite(y) && allFinite(p)) return;
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i]!)) fail(metric, `y[${i}] is ${y[i]}; values must be finite`);
    if (!Number.isFinite(p[i]!)) fail(metric, `p[${i}] is ${p[i]}; predictions must be finite`);
  }
}

/**
 * Checks per-row weights: a Float64Array of length n, every value finite and >= 0, positive sum.
 * @throws RangeError on the first violation.
 */
export function validateWeights(metric: string, weights: Float64Array, n: number): void {
  if (!(weights instanceof Float64Array)) fail(metric, 'weights must be a Float64Array');
  if (weights.length !== n) fail(metric, `weights have ${weights.length} rows, expected ${n}`);
  let any = false;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (!(w >= 0 && w < Number.POSITIVE_INFINITY)) {
      fail(metric, `weights[${i}] = ${w}; weights must be finite and non-negative`);
    }
    if (w > 0) any = true;
  }
  if (!any) fail(metric, 'all weights are zero');
}

/**
 * Average precision's compensated sum against an exact reference at 3M rows
 * (fixtures/ap_exact.json, `ap_exact_doc` in generate_fixtures.py: 60-digit decimal arithmetic).
 *
 * Bound: every term (tp_n - tp_{n-1}) * tp_n / (tp_n + fp_n) is rounded twice (relative error
 * <= 2u, u = 2^-53), the Neumaier sum of positive terms adds <= 2u relative plus O(m u^2), and the
 * final division by P one more u: about 5u = 5.6e-16 relative, so 1e-15 holds with margin. The
 * same sum accumulated naively in doubles is off by about 3e-14 here (the fixture records it), so
 * the bound tells a compensated sum from a naive one.
 */

import { describe, expect, it } from 'vitest';
import { computeMetric, type MetricInput, prepareMetric } from '../../src/metrics/index.js';
import { loadFixtureFile } from './helpers.js';

interface ApExact {
  n: number;
  exact: { unweighted: number; weighted: number };
  naive_double_sum: { unweighted: number; weighted: number };
  sklearn: { unweighted: number; weighted: number };
}

const BOUND = 1e-15;
const doc = loadFixtureFile<ApExact>('ap_exact');

/** The generator's integer-defined data (`ap_exact_data`), rebuilt bit for bit. */
function data(n: number): { input: MetricInput; weights: Float64Array } {
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const h = Math.imul(i, 2654435761) >>> 0;
    const g = Math.imul(i ^ 0x5bd1e995, 40503) >>> 0;
    p[i] = (h >>> 12) / 2 ** 20;
    y[i] = g % 1000 < 200 + (h >>> 23) ? 1 : 0;
    weights[i] = 1 + (i % 3);
  }
  return { input: { task: 'binary', y, p }, weights };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('average_precision: compensated sums at 3M rows', () => {
  const { input, weights } = data(doc.n);

  it('the reference can tell: a naive double sum misses the bound', () => {
    expect(rel(doc.naive_double_sum.unweighted, doc.exact.unweighted)).toBeGreaterThan(BOUND);
    expect(rel(doc.naive_double_sum.weighted, doc.exact.weighted)).toBeGreaterThan(BOUND);
  });

  it(`unweighted: relative error <= ${BOUND} against the exact value`, () => {
    const v = computeMetric('average_precision', input);
    expect(rel(v, doc.exact.unweighted), `${v} vs ${doc.exact.unweighted}`).toBeLessThanOrEqual(BOUND);
    const prepared = prepareMetric('average_precision', input)(null);
    expect(rel(prepared, doc.exact.unweighted)).toBeLessThanOrEqual(BOUND);
  });

  it(`weighted (integer weights 1..3): relative error <= ${BOUND} against the exact value`, () => {
    const v = computeMetric('average_precision', input, weights);
    expect(rel(v, doc.exact.weighted), `${v} vs ${doc.exact.weighted}`).toBeLessThanOrEqual(BOUND);
    const prepared = prepareMetric('average_precision', input)(weights);
    expect(rel(prepared, doc.exact.weighted)).toBeLessThanOrEqual(BOUND);
  });
});

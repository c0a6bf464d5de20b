/**
 * Every metric against scikit-learn 1.9.1 on the committed fixtures (generate_fixtures.py).
 *
 * Tolerance: relative 1e-12 (REL_TOL) for every value, and exact equality where the computation is
 * integer arithmetic followed by one division: auroc against the exact Mann-Whitney fraction
 * (correctly rounded by Python), and accuracy / precision / recall / f1 / f1_micro against
 * scikit-learn whenever the weights are integers (unweighted or multiplicity cases).
 */

import { describe, expect, it } from 'vitest';
import { eceBin } from '../../src/metrics/binary.js';
import { computeMetric, metricsForTask, prepareMetric } from '../../src/metrics/index.js';
import {
  caseInput,
  caseWeights,
  close,
  type FixtureCase,
  type FixtureTask,
  loadFixture,
  REL_TOL,
} from './helpers.js';

const EXACT_WITH_INTEGER_WEIGHTS: Record<FixtureTask, readonly string[]> = {
  binary: ['accuracy', 'precision', 'recall', 'f1'],
  multiclass: ['accuracy', 'f1_micro'],
  regression: [],
};

function integerWeights(c: FixtureCase): boolean {
  return c.weights_kind !== 'sample_weight';
}

for (const task of ['binary', 'multiclass', 'regression'] as const) {
  const fixture = loadFixture(task);
  const names = metricsForTask(task).map((m) => m.name);

  describe(`${task} metrics vs scikit-learn ${fixture.sklearn_version}`, () => {
    it('fixtures cover every metric of the task', () => {
      for (const c of fixture.cases) expect(Object.keys(c.expected).sort()).toEqual([...names].sort());
      expect(fixture.cases.length).toBeGreaterThanOrEqual(10);
    });

    for (const c of fixture.cases) {
      it(`case ${c.name}`, () => {
        const input = caseInput(task, c);
        const weights = caseWeights(c);
        for (const name of names) {
          const expected = c.expected[name];
          if (expected === null || expected === undefined) {
            // scikit-learn raised or returned NaN: the engine throws a RangeError instead.
            expect(() => computeMetric(name, input, weights), `${c.name}/${name}`).toThrow(RangeError);
            continue;
          }
          const actual = computeMetric(name, input, weights);
          if (integerWeights(c) && EXACT_WITH_INTEGER_WEIGHTS[task].includes(name)) {
            expect(actual, `${c.name}/${name} (exact)`).toBe(expected);
          } else {
            expect(
              close(actual, expected),
              `${c.name}/${name}: ${actual} vs scikit-learn ${expected} (rel tol ${REL_TOL})`,
            ).toBe(true);
          }
          // The prepared form (the bootstrap's) agrees with the one-shot form.
          const prepared = prepareMetric(name, input)(weights ?? null);
          expect(close(prepared, actual, 1e-13), `${c.name}/${name} prepared ${prepared} vs ${actual}`).toBe(
            true,
          );
        }
        if (task === 'binary' && c.auroc_exact !== null && c.auroc_exact !== undefined) {
          expect(computeMetric('auroc', input, weights), `${c.name}/auroc exact fraction`).toBe(
            c.auroc_exact,
          );
          expect(prepareMetric('auroc', input)(weights ?? null)).toBe(c.auroc_exact);
        }
      });
    }
  });
}

describe('named conventions', () => {
  const binary = loadFixture('binary');
  const byName = (name: string) => binary.cases.find((c) => c.name === name)!;

  it('log_loss clips exact 0 and 1 to [eps, 1 - eps] like scikit-learn', () => {
    const c = byName('extremes_0_1');
    const input = caseInput('binary', c);
    expect(close(computeMetric('log_loss', input), c.expected.log_loss!)).toBe(true);
    // a confidently wrong prediction costs -log(eps) = 36.04, not Infinity
    const one = computeMetric('log_loss', {
      task: 'binary',
      y: Uint8Array.of(1, 0),
      p: Float64Array.of(0, 1),
    });
    expect(one).toBe(-Math.log(Number.EPSILON));
  });

  it('precision, recall and f1 are 0.0 on zero division (scikit-learn zero_division="warn")', () => {
    const input = caseInput('binary', byName('constant_low'));
    expect(computeMetric('precision', input)).toBe(0);
    expect(computeMetric('recall', input)).toBe(0);
    expect(computeMetric('f1', input)).toBe(0);
    const neg = caseInput('binary', byName('one_class_negative'));
    expect(computeMetric('recall', neg)).toBe(0);
  });

  it('auroc with one class throws a RangeError that says why', () => {
    const input = caseInput('binary', byName('one_class_negative'));
    expect(() => computeMetric('auroc', input)).toThrow(/auroc is undefined: y holds only one class/);
    expect(() => prepareMetric('auroc', input)(null)).toThrow(RangeError);
    expect(() => computeMetric('auroc', caseInput('binary', byName('one_class_positive')))).toThrow(
      /no negative rows/,
    );
  });

  it('r2 of a constant y is 0.0 (imperfect) or 1.0 (perfect), never -inf or NaN', () => {
    const y = new Float64Array(50).fill(0.1); // 0.1 is not exact: numpy's mean of it is not 0.1
    const p = Float64Array.from(y, (v, i) => v + (i % 2 ? 0.01 : -0.01));
    expect(computeMetric('r2', { task: 'regression', y, p })).toBe(0);
    expect(computeMetric('r2', { task: 'regression', y, p: y.slice() })).toBe(1);
  });

  it('ece bins: bin b = [b/10, (b+1)/10) with the doubles b/10 as edges, 1.0 in the last bin', () => {
    const edges = Array.from({ length: 11 }, (_, b) => b / 10);
    const reference = (p: number) => edges.slice(1, 10).filter((e) => e <= p).length;
    const bits = new Float64Array(1);
    const word = new BigUint64Array(bits.buffer);
    const step = (x: number, up: boolean) => {
      bits[0] = x;
      word[0] = up ? word[0]! + 1n : word[0]! - 1n; // neighbouring double (x > 0)
      return bits[0]!;
    };
    let checked = 0;
    for (const e of edges) {
      let v = e;
      for (let s = 0; s < 300 && v > 0; s++) v = step(v, false);
      for (let s = 0; s < 600; s++) {
        if (v >= 0 && v <= 1) {
          expect(eceBin(v), `p = ${v}`).toBe(reference(v));
          checked++;
        }
        v = v === 0 ? Number.MIN_VALUE : step(v, true);
      }
    }
    expect(checked).toBeGreaterThan(5000);
    expect([eceBin(0), eceBin(0.3), eceBin(0.1 * 3), eceBin(0.7), eceBin(1)]).toEqual([0, 3, 3, 7, 9]);
  });

  it('mape uses max(|y|, eps) in the denominator', () => {
    const v = computeMetric('mape', {
      task: 'regression',
      y: Float64Array.of(0, 1),
      p: Float64Array.of(1, 1),
    });
    expect(v).toBe(1 / Number.EPSILON / 2);
  });
});

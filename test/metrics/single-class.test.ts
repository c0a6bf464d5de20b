/**
 * The single-class policy (docs/glossary.md, "single-class policy"), one test per binary metric, on
 * the fixtures `one_class_negative` (y all 0) and `one_class_positive` (y all 1). Where the policy
 * scores, the value is scikit-learn 1.9.1's from the fixture (log_loss and brier with labels=[0, 1]);
 * where it refuses, the RangeError names the missing class.
 */

import { describe, expect, it } from 'vitest';
import { computeMetric, prepareMetric } from '../../src/metrics/index.js';
import { caseInput, close, type FixtureCase, loadFixture } from './helpers.js';

const fixture = loadFixture('binary');
const byName = (name: string): FixtureCase => {
  const c = fixture.cases.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no fixture case ${name}`);
  return c;
};
const negOnly = byName('one_class_negative');
const posOnly = byName('one_class_positive');

function scores(metric: string, c: FixtureCase): void {
  const expected = c.expected[metric];
  expect(typeof expected, `${c.name}/${metric} has a scikit-learn value`).toBe('number');
  const input = caseInput('binary', c);
  const v = computeMetric(metric, input);
  expect(close(v, expected as number), `${c.name}/${metric}: ${v} vs ${expected}`).toBe(true);
  expect(close(prepareMetric(metric, input)(null), v, 1e-13)).toBe(true);
}

function refuses(metric: string, c: FixtureCase, missing: RegExp): void {
  const input = caseInput('binary', c);
  expect(() => computeMetric(metric, input)).toThrow(RangeError);
  expect(() => computeMetric(metric, input)).toThrow(new RegExp(`${metric} is undefined`));
  expect(() => computeMetric(metric, input)).toThrow(missing);
  expect(() => prepareMetric(metric, input)(null)).toThrow(missing);
  // Weighted: the rows of non-zero weight decide.
  expect(() => computeMetric(metric, input, new Float64Array(c.y.length).fill(2))).toThrow(missing);
}

describe('single-class policy', () => {
  it('auroc: refused without positives and without negatives', () => {
    refuses('auroc', negOnly, /no positive rows/);
    refuses('auroc', posOnly, /no negative rows/);
  });

  it('average_precision: refused without positives (scikit-learn: 0.0 with a warning), 1.0 without negatives', () => {
    refuses('average_precision', negOnly, /no positive rows/);
    expect(negOnly.expected['average_precision']).toBeNull();
    scores('average_precision', posOnly);
    expect(computeMetric('average_precision', caseInput('binary', posOnly))).toBe(1);
  });

  it('average_precision: a zero weight on the only positive makes it undefined', () => {
    const input = caseInput('binary', { ...negOnly, y: negOnly.y.map((_, i) => (i === 0 ? 1 : 0)) });
    expect(computeMetric('average_precision', input)).toBeGreaterThan(0);
    const w = new Float64Array(negOnly.y.length).fill(1);
    w[0] = 0;
    expect(() => computeMetric('average_precision', input, w)).toThrow(
      /no positive rows with non-zero weight/,
    );
  });

  for (const metric of ['log_loss', 'brier', 'ece', 'accuracy', 'precision', 'recall', 'f1']) {
    it(`${metric}: scores on either single class, as scikit-learn`, () => {
      scores(metric, negOnly);
      scores(metric, posOnly);
    });
  }

  it('recall without positives is 0.0 (scikit-learn zero_division), f1 too when nothing is predicted positive', () => {
    const input = caseInput('binary', negOnly);
    expect(computeMetric('recall', input)).toBe(0);
    const none = caseInput('binary', { ...negOnly, p: (negOnly.p ?? []).map(() => 0.5) }); // 0.5 is negative
    expect(computeMetric('f1', none)).toBe(0);
    expect(computeMetric('precision', none)).toBe(0);
    expect(computeMetric('accuracy', none)).toBe(1);
  });
});

/**
 * Fairness metrics and per-group metric values against fairlearn (fixtures written by
 * generate_fixtures.py with fairlearn's demographic_parity_difference, equal_opportunity_difference,
 * equalized_odds_difference and MetricFrame.by_group).
 */

import { describe, expect, it } from 'vitest';
import {
  computeFairness,
  FAIRNESS_METRICS,
  fairnessSpec,
  groupRates,
  perGroup,
  prepareFairness,
  preparePerGroup,
} from '../../src/metrics/fairness.js';
import { type BinaryInput, computeMetric, metricsForTask, Xoshiro128 } from '../../src/metrics/index.js';
import { close, loadFixtureFile, REL_TOL } from './helpers.js';

interface FairnessCase {
  name: string;
  y: number[];
  p: number[];
  group: number[];
  threshold: number;
  weights: number[] | null;
  weights_kind: 'sample_weight' | 'multiplicity' | null;
  expected: Record<string, number>;
  per_group: Record<string, Record<string, number | null>>;
  fairlearn_version: string;
}

const fixture = loadFixtureFile<{ cases: FairnessCase[] }>('fairness');
const binary = (y: number[], p: number[]): BinaryInput => ({
  task: 'binary',
  y: Uint8Array.from(y),
  p: Float64Array.from(p),
});

describe(`fairness metrics vs fairlearn ${fixture.cases[0]!.fairlearn_version}`, () => {
  it('fixtures cover every fairness metric and every binary metric per group', () => {
    for (const c of fixture.cases) {
      expect(Object.keys(c.expected).sort()).toEqual(FAIRNESS_METRICS.map((m) => m.name).sort());
      expect(Object.keys(c.per_group).sort()).toEqual(
        metricsForTask('binary')
          .map((m) => m.name)
          .sort(),
      );
    }
    expect(fixture.cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const c of fixture.cases) {
    it(`case ${c.name}`, () => {
      const input = binary(c.y, c.p);
      const group = Int32Array.from(c.group);
      const weights = c.weights === null ? undefined : Float64Array.from(c.weights);
      const exact = c.weights_kind !== 'sample_weight'; // integer counts: one correctly rounded division
      for (const [name, expected] of Object.entries(c.expected)) {
        const actual = computeFairness(name, input, group, { threshold: c.threshold, weights });
        if (exact) expect(actual, `${c.name}/${name} (exact)`).toBe(expected);
        else expect(close(actual, expected), `${c.name}/${name}: ${actual} vs ${expected}`).toBe(true);
        expect(prepareFairness(name, input, group, { threshold: c.threshold })(weights ?? null)).toBe(actual);
      }
      for (const [metric, byGroup] of Object.entries(c.per_group)) {
        const actual = perGroup(metric, input, group, { weights, undefinedAs: 'nan' });
        expect(Object.keys(actual).sort(), `${c.name}/${metric} groups`).toEqual(Object.keys(byGroup).sort());
        for (const [g, expected] of Object.entries(byGroup)) {
          const v = actual[Number(g)]!;
          if (expected === null) {
            expect(v, `${c.name}/${metric}/group ${g}`).toBeNaN();
          } else {
            expect(
              close(v, expected),
              `${c.name}/${metric}/group ${g}: ${v} vs ${expected} (rel ${REL_TOL})`,
            ).toBe(true);
          }
        }
      }
    });
  }
});

describe('fairness conventions', () => {
  // groups 0: rows 0-2, 1: rows 3-5; labels p > 0.5 = [1, 0, 0 | 0, 1, 1]
  const input = binary([1, 0, 1, 0, 1, 1], [0.9, 0.2, 0.4, 0.1, 0.8, 0.6]);
  const group = Int32Array.of(0, 0, 0, 1, 1, 1);

  it('hand values: selection rates 1/3 vs 2/3, TPR 1/2 vs 1, FPR 0 vs 0', () => {
    expect(groupRates(input, group)).toEqual([
      { group: 0, weight: 3, selectionRate: 1 / 3, truePositiveRate: 1 / 2, falsePositiveRate: 0 },
      { group: 1, weight: 3, selectionRate: 2 / 3, truePositiveRate: 1, falsePositiveRate: 0 },
    ]);
    expect(computeFairness('demographic_parity_difference', input, group)).toBe(2 / 3 - 1 / 3);
    expect(computeFairness('equal_opportunity_difference', input, group)).toBe(0.5);
    expect(computeFairness('equalized_odds_difference', input, group)).toBe(0.5);
    // threshold 0.3 selects row 2 too: group 0 rates 2/3 and TPR 1
    expect(computeFairness('demographic_parity_difference', input, group, { threshold: 0.3 })).toBe(0);
    expect(computeFairness('equalized_odds_difference', input, group, { threshold: 0.3 })).toBe(0);
  });

  it('a group without positives has TPR 0 (fairlearn via confusion_matrix nan_to_num)', () => {
    const x = binary([0, 0, 1, 1], [0.9, 0.1, 0.9, 0.1]);
    const g = Int32Array.of(0, 0, 1, 1);
    expect(groupRates(x, g).map((r) => r.truePositiveRate)).toEqual([0, 0.5]);
    expect(computeFairness('equal_opportunity_difference', x, g)).toBe(0.5);
  });

  it('weights are multiplicities: zero-weight rows and groups are absent', () => {
    const rng = new Xoshiro128(5);
    const n = 300;
    const y = Array.from({ length: n }, () => rng.nextInt(2));
    const p = Array.from({ length: n }, () => rng.nextFloat());
    const g = Array.from({ length: n }, () => rng.nextInt(4));
    const w = Float64Array.from({ length: n }, (_, i) => (g[i] === 3 ? 0 : rng.nextInt(3)));
    const rows: number[] = [];
    for (let i = 0; i < n; i++) for (let r = 0; r < w[i]!; r++) rows.push(i);
    const rep = binary(
      rows.map((i) => y[i]!),
      rows.map((i) => p[i]!),
    );
    const repGroup = Int32Array.from(rows, (i) => g[i]!);
    for (const { name } of FAIRNESS_METRICS) {
      expect(computeFairness(name, binary(y, p), Int32Array.from(g), { weights: w }), name).toBe(
        computeFairness(name, rep, repGroup),
      );
    }
    const per = perGroup('auroc', binary(y, p), Int32Array.from(g), { weights: w });
    expect(Object.keys(per)).toEqual(['0', '1', '2']);
    expect(per).toEqual(perGroup('auroc', rep, repGroup));
  });

  it('perGroup equals the metric on each group’s rows, and says which group is undefined', () => {
    const x = binary([1, 0, 1, 0, 0, 0], [0.9, 0.2, 0.4, 0.1, 0.8, 0.6]);
    expect(perGroup('accuracy', x, group)).toEqual({
      0: computeMetric('accuracy', binary([1, 0, 1], [0.9, 0.2, 0.4])),
      1: computeMetric('accuracy', binary([0, 0, 0], [0.1, 0.8, 0.6])),
    });
    expect(() => perGroup('auroc', x, group)).toThrow(/auroc is undefined in group 1: auroc is undefined/);
    expect(perGroup('auroc', x, group, { undefinedAs: 'nan' })).toEqual({ 0: 1, 1: Number.NaN });
    const fn = preparePerGroup('auroc', x, group, { undefinedAs: 'nan' });
    expect(fn(Float64Array.of(1, 1, 1, 0, 0, 0))).toEqual({ 0: 1 });
  });

  it('group indices may be large and sparse (same values as dense indices)', () => {
    const sparse = Int32Array.of(7, 7, 7, 2_000_000_000, 2_000_000_000, 2_000_000_000);
    expect(groupRates(input, sparse).map((r) => r.group)).toEqual([7, 2_000_000_000]);
    for (const { name } of FAIRNESS_METRICS) {
      expect(computeFairness(name, input, sparse), name).toBe(computeFairness(name, input, group));
    }
    expect(perGroup('accuracy', input, sparse)).toEqual({ 7: 2 / 3, 2000000000: 1 });
  });

  it('validates names, groups, threshold and weights', () => {
    expect(fairnessSpec('equalized_odds_difference').direction).toBe('minimize');
    expect(() => fairnessSpec('disparate_impact')).toThrow(
      "unknown fairness metric 'disparate_impact'; valid metrics: demographic_parity_difference, " +
        'equal_opportunity_difference, equalized_odds_difference',
    );
    expect(() => computeFairness('demographic_parity_difference', input, Int32Array.of(0, 1))).toThrow(
      /group has 2 rows, expected 6/,
    );
    expect(() =>
      computeFairness('demographic_parity_difference', input, Int32Array.of(0, 0, 0, 1, -1, 1)),
    ).toThrow(/group\[4\] = -1/);
    expect(() =>
      computeFairness('demographic_parity_difference', input, group, { threshold: Number.NaN }),
    ).toThrow(/threshold must be a finite number/);
    expect(() =>
      computeFairness('demographic_parity_difference', input, group, { weights: new Float64Array(6) }),
    ).toThrow(/all weights are zero/);
    expect(() => perGroup('rmse', input, group)).toThrow(/unknown metric 'rmse' for task 'binary'/);
    // biome-ignore lint/suspicious/noExplicitAny: a plain array on purpose
    expect(() => computeFairness('demographic_parity_difference', input, [0, 0, 0, 1, 1, 1] as any)).toThrow(
      /Int32Array/,
    );
  });
});

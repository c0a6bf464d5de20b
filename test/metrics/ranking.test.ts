/**
 * The ranking task: ndcg / ndcg@k against scikit-learn's ndcg_score, mrr against a reference of
 * ranx's reciprocal rank, map / map@k against a reference of ml_metrics' apk (fixtures written by
 * generate_fixtures.py), the names, the validation, the pessimistic ties, per-query weights and the
 * query-level paired bootstrap.
 */

import { describe, expect, it } from 'vitest';
import { quantileSorted } from '../../src/metrics/bootstrap.js';
import {
  computeMetric,
  metricSpec,
  metricsForTask,
  pairedBootstrap,
  prepareMetric,
  type RankingInput,
  weightLength,
  Xoshiro128,
} from '../../src/metrics/index.js';
import { rankingPerQuery } from '../../src/metrics/ranking_task.js';
import { close, loadFixtureFile, REL_TOL } from './helpers.js';

interface RankingCase {
  name: string;
  y: number[];
  p: number[];
  query: number[];
  weights: number[] | null;
  weights_kind: 'sample_weight' | 'multiplicity' | null;
  expected: Record<string, number>;
}

interface RankingFixture {
  sklearn_version: string;
  cases: RankingCase[];
}

const fixture = loadFixtureFile<RankingFixture>('ranking');

function input(c: { y: number[]; p: number[]; query: number[] }): RankingInput {
  return {
    task: 'ranking',
    y: Float64Array.from(c.y),
    p: Float64Array.from(c.p),
    query: Int32Array.from(c.query),
  };
}

const rank = (y: number[], p: number[], query: number[]): RankingInput => input({ y, p, query });

describe(`ranking metrics vs scikit-learn ${fixture.sklearn_version} (ndcg) and the cited references`, () => {
  it('fixtures cover every family, cutoffs and weights', () => {
    const names = Object.keys(fixture.cases[0]!.expected);
    for (const m of ['ndcg', 'ndcg@1', 'ndcg@10', 'mrr', 'map', 'map@1', 'map@10'])
      expect(names).toContain(m);
    expect(fixture.cases.length).toBeGreaterThanOrEqual(15);
    expect(fixture.cases.some((c) => c.weights_kind === 'sample_weight')).toBe(true);
    expect(fixture.cases.some((c) => c.weights_kind === 'multiplicity')).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`case ${c.name}`, () => {
      const x = input(c);
      const w = c.weights === null ? undefined : Float64Array.from(c.weights);
      for (const [name, expected] of Object.entries(c.expected)) {
        const actual = computeMetric(name, x, w);
        expect(
          close(actual, expected),
          `${c.name}/${name}: ${actual} vs ${expected} (rel tol ${REL_TOL})`,
        ).toBe(true);
        const prepared = prepareMetric(name, x)(w ?? null);
        expect(prepared, `${c.name}/${name} prepared`).toBe(actual);
      }
    });
  }

  it('values do not depend on the order of the rows', () => {
    const c = fixture.cases.find((x) => x.name === 'ties')!;
    const n = c.y.length;
    const rng = new Xoshiro128(9);
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const shuffled = input({
      y: perm.map((i) => c.y[i]!),
      p: perm.map((i) => c.p[i]!),
      query: perm.map((i) => c.query[i]!),
    });
    for (const name of Object.keys(c.expected)) {
      expect(computeMetric(name, shuffled), name).toBe(computeMetric(name, input(c)));
    }
  });
});

describe('ranking conventions', () => {
  it('ndcg: hand values, tie averaging, k beyond the query, ideal DCG 0 gives 0', () => {
    const d = (r: number) => 1 / Math.log2(r + 1);
    // one query, scores rank items as [2, 0, 1] of relevances [0, 1, 2]
    const x = rank([0, 1, 2], [0.9, 0.1, 0.5], [0, 0, 0]);
    const dcg = 0 * d(1) + 2 * d(2) + 1 * d(3);
    const ideal = 2 * d(1) + 1 * d(2);
    expect(computeMetric('ndcg', x)).toBeCloseTo(dcg / ideal, 15);
    expect(computeMetric('ndcg@1', x)).toBe(0);
    expect(computeMetric('ndcg@1000', x)).toBe(computeMetric('ndcg', x));
    // two tied items share the mean gain over their two ranks (scikit-learn's _tie_averaged_dcg)
    const tied = rank([1, 0], [0.5, 0.5], [0, 0]);
    expect(computeMetric('ndcg', tied)).toBeCloseTo((0.5 * d(1) + 0.5 * d(2)) / d(1), 15);
    expect(computeMetric('ndcg@1', tied)).toBe(0.5);
    // a query without relevant items counts 0 in the mean
    const two = rank([0, 0, 1, 0], [1, 2, 3, 1], [0, 0, 1, 1]);
    expect(rankingPerQuery('ndcg', two)).toEqual(Float64Array.of(0, 1));
    expect(computeMetric('ndcg', two)).toBe(0.5);
    // one-item queries: 1 when relevant, 0 when not
    expect(computeMetric('ndcg', rank([2, 0], [0.3, 0.3], [0, 1]))).toBe(0.5);
  });

  it('mrr and map break ties pessimistically: irrelevant tied items rank first', () => {
    // constant scores, 3 irrelevant and 1 relevant item: rank 4 whatever the row order
    for (const y of [
      [1, 0, 0, 0],
      [0, 0, 0, 1],
    ]) {
      const x = rank(y, [0, 0, 0, 0], [0, 0, 0, 0]);
      expect(computeMetric('mrr', x)).toBe(0.25);
      expect(computeMetric('map', x)).toBe(0.25);
      expect(computeMetric('map@3', x)).toBe(0);
    }
    // ranks: a (0.9, irrelevant), then the tie {b relevant, c irrelevant} at 0.5 → c, b; then d (rel)
    const x = rank([0, 1, 0, 1], [0.9, 0.5, 0.5, 0.1], [0, 0, 0, 0]);
    expect(computeMetric('mrr', x)).toBe(1 / 3);
    expect(computeMetric('map', x)).toBe((1 / 3 + 2 / 4) / 2);
    expect(computeMetric('map@3', x)).toBe(1 / 3 / 2); // min(R = 2, k = 3) = 2
    expect(computeMetric('map@1', x)).toBe(0);
    // the ties are still averaged for ndcg (scikit-learn), so ndcg lies between both orders
    const best = computeMetric('ndcg', rank([0, 1, 0, 1], [0.9, 0.6, 0.5, 0.1], [0, 0, 0, 0]));
    const worst = computeMetric('ndcg', rank([0, 1, 0, 1], [0.9, 0.5, 0.6, 0.1], [0, 0, 0, 0]));
    const mid = computeMetric('ndcg', x);
    expect(mid).toBeGreaterThan(worst);
    expect(mid).toBeLessThan(best);
    expect(mid).toBeCloseTo((best + worst) / 2, 15);
  });

  it('mrr and map: queries without a relevant item count 0; relevance is y > 0 (graded)', () => {
    const x = rank([0, 0, 0.5, 0, 3, 0], [3, 2, 1, 5, 4, 0], [0, 0, 0, 1, 1, 2]);
    expect(Array.from(rankingPerQuery('mrr', x))).toEqual([1 / 3, 1 / 2, 0]);
    expect(computeMetric('mrr', x)).toBe((1 / 3 + 1 / 2 + 0) / 3);
    expect(Array.from(rankingPerQuery('map@2', x))).toEqual([0, 1 / 2, 0]);
    // apk divides by min(R, k): one relevant item at rank 2 gives 1/2 for any k >= 2
    expect(computeMetric('map@2', rank([0, 1, 1], [3, 2, 1], [0, 0, 0]))).toBe(1 / 2 / 2);
    expect(computeMetric('map', rank([0, 1, 1], [3, 2, 1], [0, 0, 0]))).toBe((1 / 2 + 2 / 3) / 2);
  });

  it('weights are per query and equal repeating the queries', () => {
    const c = fixture.cases.find((x) => x.name === 'ties')!;
    const x = input(c);
    const q = weightLength(x);
    expect(q).toBe(40);
    const rng = new Xoshiro128(4);
    const w = Float64Array.from({ length: q }, () => rng.nextInt(4));
    // explicit resample: query j repeated w[j] times, each copy a new query index
    const y: number[] = [];
    const p: number[] = [];
    const query: number[] = [];
    let next = 0;
    for (let j = 0; j < q; j++) {
      for (let r = 0; r < w[j]!; r++) {
        for (let i = 0; i < c.y.length; i++) {
          if (c.query[i] !== j) continue;
          y.push(c.y[i]!);
          p.push(c.p[i]!);
          query.push(next);
        }
        next++;
      }
    }
    const repeated = input({ y, p, query });
    for (const name of ['ndcg', 'ndcg@5', 'mrr', 'map', 'map@3']) {
      const weighted = computeMetric(name, x, w);
      expect(close(weighted, computeMetric(name, repeated), 1e-14), name).toBe(true);
      expect(prepareMetric(name, x)(w)).toBe(weighted);
    }
    expect(() => computeMetric('ndcg', x, new Float64Array(c.y.length).fill(1))).toThrow(
      /weights have 6\d\d rows, expected 40/,
    );
    expect(() => prepareMetric('mrr', x)(new Float64Array(q))).toThrow(/all weights are zero/);
  });
});

describe('ranking names and validation', () => {
  it('lists the ranking metrics, all maximized, with their sources', () => {
    expect(metricsForTask('ranking').map((m) => m.name)).toEqual(['ndcg', 'ndcg@10', 'mrr', 'map', 'map@10']);
    for (const m of metricsForTask('ranking')) {
      expect(m.task).toBe('ranking');
      expect(m.direction).toBe('maximize');
      expect(m.description).toMatch(/sklearn\.metrics\.ndcg_score|ranx|ml_metrics/);
    }
  });

  it('accepts ndcg@k and map@k for k in 1..1000 and nothing else', () => {
    for (const name of ['ndcg@1', 'ndcg@37', 'ndcg@1000', 'map@1', 'map@999', 'mrr']) {
      expect(metricSpec(name, 'ranking').name).toBe(name);
    }
    expect(metricSpec('ndcg@37', 'ranking').description).toMatch(/k=37/);
    for (const bad of [
      'ndcg@0',
      'ndcg@1001',
      'ndcg@010',
      'ndcg@',
      'ndcg@-1',
      'ndcg@1.5',
      'mrr@5',
      'NDCG@5',
      'auroc',
    ]) {
      expect(() => metricSpec(bad, 'ranking'), bad).toThrow(
        `unknown metric '${bad}' for task 'ranking'; valid metrics: ndcg, ndcg@k, mrr, map, map@k (k an integer in 1..1000, e.g. ndcg@10)`,
      );
    }
    expect(() => metricSpec('ndcg@10', 'binary')).toThrow(/unknown metric 'ndcg@10' for task 'binary'/);
  });

  it('rejects invalid inputs with a RangeError naming the row or query', () => {
    expect(() => computeMetric('ndcg', rank([1, -1], [1, 2], [0, 0]))).toThrow(
      /y\[1\] = -1; relevance must be/,
    );
    expect(() => computeMetric('ndcg', rank([1, Number.NaN], [1, 2], [0, 0]))).toThrow(/y\[1\] = NaN/);
    expect(() => computeMetric('mrr', rank([1, 0], [1, Number.POSITIVE_INFINITY], [0, 0]))).toThrow(
      /p\[1\] is Infinity/,
    );
    expect(() => computeMetric('mrr', rank([1, 0], [1, 2], [0, 2]))).toThrow(/query 1 has no rows/);
    expect(() => computeMetric('mrr', rank([1, 0], [1, 2], [0, -1]))).toThrow(/query\[1\] = -1/);
    expect(() => computeMetric('mrr', rank([1, 0], [1], [0, 0]))).toThrow(/y has 2 rows but p has 1/);
    expect(() => computeMetric('mrr', rank([], [], []))).toThrow(/no rows/);
    // biome-ignore lint/suspicious/noExplicitAny: a plain array on purpose
    const bad = { task: 'ranking', y: Float64Array.of(1), p: Float64Array.of(1), query: [0] } as any;
    expect(() => computeMetric('map', bad)).toThrow(/query: Int32Array/);
  });
});

describe('pairedBootstrap on ranking resamples queries', () => {
  const c = fixture.cases.find((x) => x.name === 'random')!;
  const a = input(c);
  const rng = new Xoshiro128(21);
  const b: RankingInput = { ...a, p: Float64Array.from(a.p, (v) => v + 0.8 * (rng.nextFloat() - 0.5)) };
  const opts = { resamples: 300, confidence: 0.9, seed: 77 };

  it('draws q multinomial query counts per resample (same result as a hand-written query bootstrap)', () => {
    for (const name of ['ndcg@10', 'mrr', 'map@5']) {
      const r = pairedBootstrap(name, a, b, opts);
      const fa = prepareMetric(name, a);
      const fb = prepareMetric(name, b);
      const q = weightLength(a);
      const g = new Xoshiro128(77);
      const counts = new Float64Array(q);
      const deltas = new Float64Array(300);
      let wins = 0;
      for (let t = 0; t < 300; t++) {
        g.multinomialCounts(q, counts); // q query counts summing to q
        deltas[t] = fb(counts) - fa(counts);
        if (deltas[t]! > 0) wins++;
      }
      deltas.sort();
      expect(r.resamples).toBe(300);
      expect(r.probImprovement, name).toBe(wins / 300);
      expect(r.delta).toBe(computeMetric(name, b) - computeMetric(name, a));
      expect(r.low).toBe(quantileSorted(deltas, 0.05));
      expect(r.high).toBe(quantileSorted(deltas, 0.95));
      expect(r.high).toBeGreaterThan(r.low);
    }
  });

  it('is deterministic and exactly 0 for identical models', () => {
    expect(pairedBootstrap('ndcg', a, b, opts)).toEqual(pairedBootstrap('ndcg', a, b, opts));
    const same = pairedBootstrap('map', a, { ...a, p: a.p.slice() }, opts);
    expect([same.delta, same.low, same.high, same.probImprovement]).toEqual([0, 0, 0, 0]);
  });

  it('refuses different queries or relevances', () => {
    const q2 = a.query.slice();
    q2[0] = 1 - q2[0]!;
    expect(() => pairedBootstrap('mrr', a, { ...b, query: q2 }, opts)).toThrow(/query differs at row 0/);
    const y2 = a.y.slice();
    y2[3] = y2[3]! + 1;
    expect(() => pairedBootstrap('mrr', a, { ...b, y: y2 }, opts)).toThrow(/y differs at row 3/);
  });
});

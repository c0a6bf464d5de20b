/**
 * ndcg@k for k <= NDCG_SELECT_MAX_K is computed by per-query top-k selection (no global sort); larger
 * k and plain ndcg by the sorted path. Both must agree wherever they compute the same quantity, and
 * the tie-heavy fixtures (scikit-learn's ndcg_score, ignore_ties=False) pin the selection path.
 */

import { describe, expect, it } from 'vitest';
import { computeMetric, type RankingInput } from '../../src/metrics/index.js';
import { NDCG_SELECT_MAX_K } from '../../src/metrics/ranking_task.js';
import { close, loadFixtureFile } from './helpers.js';

interface RankingCase {
  name: string;
  y: number[];
  p: number[];
  query: number[];
  expected: Record<string, number>;
}

const fixture = loadFixtureFile<{ cases: RankingCase[] }>('ranking');
const byName = (name: string): RankingCase => {
  const c = fixture.cases.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no ranking case ${name}`);
  return c;
};
const input = (c: RankingCase): RankingInput => ({
  task: 'ranking',
  y: Float64Array.from(c.y),
  p: Float64Array.from(c.p),
  query: Int32Array.from(c.query),
});
const maxQuerySize = (c: RankingCase): number => {
  const counts = new Map<number, number>();
  for (const g of c.query) counts.set(g, (counts.get(g) ?? 0) + 1);
  return Math.max(...counts.values());
};

describe('ndcg@k by per-query selection', () => {
  const tieHeavy = fixture.cases.filter((c) => c.name.startsWith('tie_heavy'));

  it('the tie-heavy fixtures exist, with queries of size 1 and queries smaller and larger than k = 10', () => {
    expect(tieHeavy.length).toBeGreaterThanOrEqual(4);
    for (const c of tieHeavy) {
      const sizes = new Map<number, number>();
      for (const g of c.query) sizes.set(g, (sizes.get(g) ?? 0) + 1);
      const s = [...sizes.values()];
      expect(
        s.some((m) => m === 1),
        c.name,
      ).toBe(true);
      expect(
        s.some((m) => m < 10 && m > 1),
        c.name,
      ).toBe(true);
    }
    expect(tieHeavy.some((c) => maxQuerySize(c) > 10)).toBe(true);
  });

  for (const c of tieHeavy) {
    it(`${c.name}: ndcg@1,3,5,10 equal scikit-learn's ndcg_score`, () => {
      for (const k of [1, 3, 5, 10]) {
        const v = computeMetric(`ndcg@${k}`, input(c));
        expect(close(v, c.expected[`ndcg@${k}`]!), `${c.name}/ndcg@${k}: ${v}`).toBe(true);
      }
    });
  }

  it('selection (k <= 64) and sorted path (k > 64, plain ndcg) agree when k covers every query', () => {
    for (const c of [
      ...tieHeavy,
      byName('random'),
      byName('constant_scores'),
      byName('single_item_queries'),
    ]) {
      expect(maxQuerySize(c)).toBeLessThanOrEqual(NDCG_SELECT_MAX_K);
      const selected = computeMetric(`ndcg@${NDCG_SELECT_MAX_K}`, input(c));
      const sorted = computeMetric(`ndcg@${NDCG_SELECT_MAX_K + 1}`, input(c));
      expect(close(selected, sorted, 1e-13), `${c.name}: ${selected} vs ${sorted}`).toBe(true);
      expect(close(selected, c.expected['ndcg']!), `${c.name}: ${selected} vs ndcg_score`).toBe(true);
    }
  });

  it('a tie group straddling the cutoff averages its gain over all its members', () => {
    // One query, scores [3, 2, 2, 2, 1], relevances [0, 3, 0, 0, 1], k = 2: rank 0 gains 0, the tie
    // group at ranks 1..3 has mean gain 1, so DCG@2 = 1 / log2(3); ideal DCG@2 = 3 + 1 / log2(3).
    const v = computeMetric('ndcg@2', {
      task: 'ranking',
      y: Float64Array.of(0, 3, 0, 0, 1),
      p: Float64Array.of(3, 2, 2, 2, 1),
      query: new Int32Array(5),
    });
    const d = 1 / Math.log2(3);
    expect(close(v, d / (3 + d), 1e-14), String(v)).toBe(true);
  });
});

/**
 * The Pareto front of score (maximize) and cost (minimize) against its definition checked pair by pair, on random
 * points with many ties (scores and costs drawn from a few values), duplicates and non-finite values.
 */
import { describe, expect, it } from 'vitest';
import { Xoshiro128 } from '../../src/metrics/random.js';
import { dominates, type FrontPoint, paretoFront } from '../../src/report/pareto-front.js';

type P = FrontPoint & { id: number };

/** The definition, O(n²): a finite point no other point dominates. */
function bruteForce(points: P[]): P[] {
  const ok = points.filter((p) => Number.isFinite(p.score) && Number.isFinite(p.cost));
  return ok.filter(
    (p) =>
      !ok.some(
        (q) => q !== p && q.score >= p.score && q.cost <= p.cost && (q.score > p.score || q.cost < p.cost),
      ),
  );
}

const ids = (ps: P[]) => ps.map((p) => p.id).sort((a, b) => a - b);

describe('paretoFront', () => {
  it('matches the pairwise definition on random points with ties', () => {
    const gen = new Xoshiro128(20260418);
    const rand = () => gen.nextFloat();
    for (let trial = 0; trial < 600; trial++) {
      const n = Math.floor(rand() * 40);
      // Few distinct values (ties in score, in cost and in both) half of the time; continuous values else.
      const levels = trial % 2 === 0 ? 1 + Math.floor(rand() * 6) : 0;
      const draw = () => (levels ? Math.floor(rand() * levels) / levels : rand() * 100 - 50);
      const pts: P[] = [];
      for (let i = 0; i < n; i++) {
        if (i > 0 && rand() < 0.1) pts.push({ ...pts[Math.floor(rand() * pts.length)]!, id: i });
        else pts.push({ id: i, score: draw(), cost: draw() });
      }
      if (trial % 7 === 0 && n > 0) pts[0] = { id: 0, score: Number.NaN, cost: 1 };
      if (trial % 11 === 0 && n > 1) pts[1] = { id: 1, score: 1, cost: Number.POSITIVE_INFINITY };
      const front = paretoFront(pts);
      expect(ids(front), `trial ${trial}`).toEqual(ids(bruteForce(pts)));
      // Cost ascending and scores strictly rising across costs: the staircase the charts draw.
      for (let i = 1; i < front.length; i++) {
        const [a, b] = [front[i - 1]!, front[i]!];
        expect(a.cost).toBeLessThanOrEqual(b.cost);
        if (a.cost < b.cost) expect(a.score).toBeLessThan(b.score);
        else expect(a.score).toBe(b.score);
      }
      // No point of the front dominates another, and every point off it is dominated by one on it.
      for (const a of front) for (const b of front) expect(dominates(a, b)).toBe(false);
      const on = new Set(front);
      for (const p of pts)
        if (!on.has(p) && Number.isFinite(p.score) && Number.isFinite(p.cost))
          expect(front.some((f) => dominates(f, p))).toBe(true);
    }
  });

  it('keeps identical points together, drops an equal score at a higher cost, returns the same objects', () => {
    const a = { id: 1, score: 0.8, cost: 200 };
    const b = { id: 2, score: 0.8, cost: 200 };
    const c = { id: 3, score: 0.8, cost: 300 };
    const d = { id: 4, score: 0.9, cost: 300 };
    const e = { id: 5, score: 0.5, cost: 100 };
    const front = paretoFront([c, a, d, b, e]);
    expect(front).toEqual([e, a, b, d]);
    expect(front[1]).toBe(a);
    expect(paretoFront([])).toEqual([]);
    expect(dominates(a, b)).toBe(false);
    expect(dominates(a, c)).toBe(true);
    expect(dominates(d, c)).toBe(true);
  });
});

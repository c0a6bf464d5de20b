import { describe, expect, it } from 'vitest';
import { type ChartMarkCache, type ChartPoint, scoreChart } from '../../src/report/chart.js';

/** A run of n experiments with scores wandering in [0.70, 0.80] (seq 1 the baseline, every 7th kept). */
function run(n: number): ChartPoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: 100 + i,
    seq: i + 1,
    decision: i === 0 || i % 7 === 0 ? 'kept' : i % 11 === 5 ? 'crashed' : 'reverted',
    score: i % 11 === 5 ? null : 0.7 + ((i * 37) % 100) / 1000,
    hypothesis: `try ${i} <b>&`,
  }));
}

/** The markup of one experiment's mark in an SVG. */
const markOf = (svg: string, id: number) =>
  new RegExp(`<g class="pt" data-id="${id}"[^]*?</g>`).exec(svg)?.[0];

describe('scoreChart', () => {
  it('draws the same picture with the mark cache as without it, across a growing run and a changed point', () => {
    const marks: ChartMarkCache = new Map();
    for (const n of [3, 40, 41, 90, 200]) {
      const points = run(n);
      const input = {
        points,
        metric: 'auroc',
        direction: 'maximize' as const,
        interactive: true,
        width: 900,
      };
      const compactBefore = 100 + n - 20;
      expect(scoreChart({ ...input, marks, compactBefore })).toBe(scoreChart({ ...input, compactBefore }));
    }
    // A point that changed (its decision, its score) is drawn anew, not taken from the cache.
    const points = run(200);
    points[50] = { ...points[50]!, decision: 'kept', score: 0.79 };
    const input = { points, metric: 'auroc', direction: 'maximize' as const, interactive: true };
    expect(scoreChart({ ...input, marks, compactBefore: 280 })).toBe(
      scoreChart({ ...input, compactBefore: 280 }),
    );
    expect(markOf(scoreChart({ ...input, marks }), 150)).toContain('data-decision="kept"');
  });

  it('keeps its axes while new scores fall inside them, so the placed marks are reused', () => {
    const marks: ChartMarkCache = new Map();
    const before = run(60);
    const a = scoreChart({ points: before, metric: 'auroc', direction: 'maximize', marks });
    const placed = marks.get(130)?.placed;
    expect(placed?.markup).toBe(markOf(a, 130));
    // One more experiment inside the score range, no budget: the frame (and the mark's markup object) is the same.
    const b = scoreChart({
      points: [...before, { id: 160, seq: 61, decision: 'reverted', score: 0.75, hypothesis: 'x' }],
      metric: 'auroc',
      direction: 'maximize',
      marks,
    });
    expect(marks.get(130)?.placed).toBe(placed);
    expect(markOf(b, 130)).toBe(markOf(a, 130));
    // A score far outside moves the y axis: every mark is placed again.
    scoreChart({
      points: [...before, { id: 160, seq: 61, decision: 'kept', score: 0.95, hypothesis: 'x' }],
      metric: 'auroc',
      direction: 'maximize',
      marks,
    });
    expect(marks.get(130)?.placed).not.toBe(placed);
  });

  it('snaps the y extent to grid lines around the scores and the x axis to the budget or a tick step', () => {
    const svg = scoreChart({
      points: run(37),
      metric: 'auroc',
      direction: 'maximize',
      width: 760,
      height: 300,
    });
    // Scores span [0.700, 0.796]: with 8 % headroom, out to the next 0.02, the axis runs from 0.68 to 0.82 and its
    // grid (every 0.05) from 0.70 to 0.80. Where a mark sits tells the extent: y = top + (1 − (s − lo) / (hi − lo)) × h.
    const labels = [
      ...svg.matchAll(/text-anchor="end" dominant-baseline="middle" fill="#57606a">([\d.]+)</g),
    ].map((m) => m[1]);
    expect(labels).toEqual(['0.700', '0.750', '0.800']);
    const y = (s: string, id: number) => Number(/cy="([\d.]+)"/.exec(markOf(s, id)!)![1]);
    // Marks of 0.700 (#100) and 0.796 (#108): their distance is 0.096 / (hi − lo) of the plot's height.
    const ratio = (y(svg, 100) - y(svg, 108)) / 0.096;
    const bottom = Number(/<rect x="64" y="([\d.]+)"/.exec(svg)![1]) - 2; // the no-score band starts 2 px under it
    const middle = Number(/translate\(14 ([\d.]+)\) rotate/.exec(svg)![1]); // the y label sits mid-plot
    expect(y(svg, 100) + (0.7 - 0.68) * ratio).toBeCloseTo(bottom, 0);
    expect(y(svg, 100) - (0.82 - 0.7) * ratio).toBeCloseTo(2 * middle - bottom, 0);
    // 37 experiments without a budget: ticks every 5 from 1, the axis to the tick at seq 41; with a budget of 100, to 100.
    const ticks = (s: string) =>
      [...s.matchAll(/text-anchor="middle" fill="#57606a">(\d+)</g)].map((m) => Number(m[1]));
    expect(Math.max(...ticks(svg))).toBe(41);
    const x = (s: string, id: number) => Number(/cx="([\d.]+)"/.exec(markOf(s, id)!)![1]);
    // seq 37 sits at (37 − 1) / (41 − 1) of the plot's width (64 px margin left, 18 right).
    expect(x(svg, 136)).toBeCloseTo(64 + (36 / 40) * (760 - 82), 1);
    const withBudget = scoreChart({ points: run(37), metric: 'auroc', direction: 'maximize', maxSeq: 100 });
    expect(x(withBudget, 136)).toBeCloseTo(64 + (36 / 99) * (760 - 82), 1);
  });
});

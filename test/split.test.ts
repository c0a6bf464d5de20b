import { describe, expect, it } from 'vitest';
import { assignSplits, PRIVATE, PUBLIC, TRAIN } from '../src/data/split.js';

const ids = Array.from({ length: 10_000 }, (_, i) => `r${i}`);
const fractions = { train: 0.6, public: 0.2, private: 0.2 };
const count = (codes: Uint8Array, c: number) => codes.reduce((a, x) => a + (x === c ? 1 : 0), 0);

describe('assignSplits', () => {
  it('is deterministic for a seed, different across seeds, and hits the fractions exactly', () => {
    const a = assignSplits({ strategy: 'random', seed: 7, fractions, ids });
    const b = assignSplits({ strategy: 'random', seed: 7, fractions, ids });
    const c = assignSplits({ strategy: 'random', seed: 8, fractions, ids });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect([count(a, TRAIN), count(a, PUBLIC), count(a, PRIVATE)]).toEqual([6000, 2000, 2000]);
  });

  it('does not depend on row order', () => {
    const shuffled = [...ids].reverse();
    const a = assignSplits({ strategy: 'random', seed: 3, fractions, ids });
    const b = assignSplits({ strategy: 'random', seed: 3, fractions, ids: shuffled });
    const byId = new Map(shuffled.map((id, i) => [id, b[i]]));
    expect(ids.every((id, i) => byId.get(id) === a[i])).toBe(true);
  });

  it('stratified keeps the class balance in every split', () => {
    const labels = ids.map((_, i) => (i % 10 === 0 ? 'pos' : 'neg'));
    const codes = assignSplits({ strategy: 'stratified', seed: 1, fractions, ids, labels });
    for (const s of [TRAIN, PUBLIC, PRIVATE]) {
      let pos = 0;
      let n = 0;
      codes.forEach((c, i) => {
        if (c === s) {
          n++;
          if (labels[i] === 'pos') pos++;
        }
      });
      expect(pos / n).toBeCloseTo(0.1, 3);
    }
  });

  it('temporal puts every holdout row after every train row, private last', () => {
    const times = Float64Array.from(ids, (_, i) => (i * 7919) % 10_000);
    const codes = assignSplits({ strategy: 'temporal', seed: 1, fractions, ids, times });
    const maxOf = (c: number) => Math.max(...[...times].filter((_, i) => codes[i] === c));
    const minOf = (c: number) => Math.min(...[...times].filter((_, i) => codes[i] === c));
    expect(maxOf(TRAIN)).toBeLessThan(minOf(PUBLIC));
    expect(maxOf(PUBLIC)).toBeLessThan(minOf(PRIVATE));
  });

  it('group never splits a group and lands near the fractions', () => {
    const groups = ids.map((_, i) => `g${Math.floor(i / 5)}`);
    const codes = assignSplits({ strategy: 'group', seed: 1, fractions, ids, groups });
    const seen = new Map<string, number>();
    groups.forEach((g, i) => {
      const prev = seen.get(g);
      if (prev !== undefined) expect(codes[i]).toBe(prev);
      seen.set(g, codes[i]!);
    });
    expect(count(codes, PUBLIC)).toBeGreaterThan(1950);
    expect(count(codes, PUBLIC)).toBeLessThan(2050);
    expect(count(codes, PRIVATE)).toBeGreaterThan(1950);
  });

  it('refuses a strategy without its column', () => {
    expect(() => assignSplits({ strategy: 'group', seed: 1, fractions, ids })).toThrow(/needs a group value/);
  });
});

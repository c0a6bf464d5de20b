/**
 * DeLong's components of a candidate computed ahead, when its predictions are aligned (prepareCandidate in
 * src/loop/keep.ts), give bit for bit the verdict computed from scratch, and the metric engine's AUROC reads their
 * count; the sort variant that hands back the sorted values agrees with the plain argsort.
 */
import { describe, expect, it } from 'vitest';
import { decideKeep, decideKeepAsync, type KeepRule, prepareCandidate } from '../../src/loop/keep.js';
import { cachedAuroc } from '../../src/metrics/delong_cache.js';
import { computeMetric, Xoshiro128 } from '../../src/metrics/index.js';
import { argsortFloat64, argsortWithValues } from '../../src/metrics/sort.js';
import { oneRunRule } from '../keep-fixtures.js';

function binary(n: number, signal: number, seed: number, digits = 0) {
  const r = new Xoshiro128(1);
  const noise = new Xoshiro128(seed);
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = r.nextFloat() < 0.35 ? 1 : 0;
    const v = Math.min(1, Math.max(0, 0.5 + signal * (y[i]! - 0.5) + (noise.nextFloat() - 0.5) * 0.8));
    p[i] = digits > 0 ? Math.round(v * 10 ** digits) / 10 ** digits : v; // rounding makes ties
  }
  return { task: 'binary' as const, y, p };
}

describe('argsortWithValues', () => {
  it('returns argsort’s order, the sorted values bit for bit (ties, -0 and +0, negatives) and a free buffer', () => {
    const v = Float64Array.from([3, -0, 0, -2.5, 3, 1e-300, -1e300, 0.1, 3, -0]);
    const r = argsortWithValues(v);
    expect(Array.from(r.order)).toEqual(Array.from(argsortFloat64(v)));
    for (let k = 0; k < v.length; k++) expect(Object.is(r.sorted[k], v[r.order[k]!])).toBe(true);
    expect(r.spare.byteLength).toBe(8 * v.length);
    expect(r.spare).not.toBe(r.sorted.buffer);
    const big = binary(50_000, 0.2, 3, 3).p;
    const b = argsortWithValues(big);
    expect(Array.from(b.order)).toEqual(Array.from(argsortFloat64(big)));
    for (let k = 1; k < big.length; k++) expect(b.sorted[k]! >= b.sorted[k - 1]!).toBe(true);
  });
});

describe('DeLong components prepared ahead', () => {
  for (const digits of [0, 2]) {
    it(`the verdict from prepared components equals the one from scratch, and AUROC reads their count (${digits ? 'many ties' : 'no ties'})`, async () => {
      const rule: KeepRule = oneRunRule('auroc', 0.0001);
      const a = binary(30_000, 0.3, 2, digits);
      const b = binary(30_000, 0.33, 3, digits);
      // Scored on copies: nothing is cached for a.p and b.p themselves.
      const score = (p: Float64Array) => computeMetric('auroc', { task: 'binary', y: a.y, p: p.slice() });
      const best = { score: score(a.p), input: a };
      // From scratch: fresh copies, nothing cached for them.
      const sync = decideKeep(
        rule,
        { ...best, input: { ...a, p: a.p.slice() } },
        { score: score(b.p), input: { ...b, p: b.p.slice() } },
      );
      expect(sync.test).toBe('delong');
      expect(cachedAuroc(a.y, b.p)).toBeUndefined();
      expect(prepareCandidate(rule, a, b)).toBe(true);
      expect(cachedAuroc(a.y, b.p)).toBe(computeMetric('auroc', { ...b, p: b.p.slice() }));
      expect(computeMetric('auroc', { ...b, y: a.y })).toBe(cachedAuroc(a.y, b.p));
      expect(await decideKeepAsync(rule, best, { score: score(b.p), input: b })).toEqual(sync);
    });
  }

  it('nothing is prepared for another test, another task, different rows or a confirmation rule', () => {
    const rule: KeepRule = oneRunRule('auroc', 0.0001);
    const a = binary(1000, 0.3, 2);
    const b = binary(1000, 0.31, 3);
    expect(prepareCandidate({ ...rule, test: 'bootstrap' }, a, b)).toBe(false);
    expect(prepareCandidate(rule, null, b)).toBe(false);
    expect(prepareCandidate(rule, { ...a, y: a.y.subarray(1), p: a.p.subarray(1) }, b)).toBe(false);
    expect(prepareCandidate({ ...rule, noiseSd: 0.01, confirmRuns: 3 }, a, b)).toBe(false);
    expect(cachedAuroc(a.y, b.p)).toBeUndefined();
  });
});

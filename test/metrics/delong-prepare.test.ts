/**
 * A candidate prepared when its predictions are aligned (prepareCandidate in src/loop/keep.ts): the metric engine's
 * AUROC keeps its sort, DeLong's components start from it and give bit for bit the verdict computed from scratch,
 * and a candidate stage 1 rejects never has its components counted; the sort variant that hands back the sorted
 * values agrees with the plain argsort.
 */
import { describe, expect, it } from 'vitest';
import { decideKeep, decideKeepAsync, type KeepRule, prepareCandidate } from '../../src/loop/keep.js';
import { keepSplitFor, structuralComponents } from '../../src/metrics/delong.js';
import { cachedAuroc, SPLITS } from '../../src/metrics/delong_cache.js';
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

describe('a candidate prepared for DeLong', () => {
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
      // Marked only: the metric engine's AUROC sorts the candidate once and keeps that sort for DeLong.
      expect(SPLITS.has(b.p)).toBe(false);
      const auroc = computeMetric('auroc', { ...b, y: a.y });
      expect(auroc).toBe(computeMetric('auroc', { ...b, p: b.p.slice() }));
      expect(SPLITS.has(b.p)).toBe(true);
      expect(await decideKeepAsync(rule, best, { score: auroc, input: b })).toEqual(sync);
      // DeLong's components took the kept sort (and dropped it); their count is the same AUROC.
      expect(SPLITS.has(b.p)).toBe(false);
      expect(cachedAuroc(a.y, b.p)).toBe(auroc);
    });
  }

  it('a candidate stage 1 rejects pays for its AUROC sort only: no components are counted', async () => {
    const rule: KeepRule = oneRunRule('auroc', 0.05);
    const a = binary(30_000, 0.3, 2);
    const b = binary(30_000, 0.31, 3);
    const best = { score: computeMetric('auroc', { ...a, p: a.p.slice() }), input: a };
    expect(prepareCandidate(rule, a, b)).toBe(true);
    const auroc = computeMetric('auroc', b);
    const d = await decideKeepAsync(rule, best, { score: auroc, input: b });
    expect(d.keep).toBe(false);
    expect(d.test).toBe('none');
    expect(cachedAuroc(a.y, b.p)).toBeUndefined();
  });

  it('a kept sort split by other labels is not used: the components sort again', () => {
    const a = binary(5000, 0.3, 2);
    const b = binary(5000, 0.31, 3);
    keepSplitFor(b.p);
    const flipped = a.y.map((v) => 1 - v);
    computeMetric('auroc', { ...b, y: flipped });
    expect(SPLITS.get(b.p)?.y).toBe(flipped);
    const m = a.y.reduce((s, v) => s + v, 0);
    const fromKept = structuralComponents(a.y, b.p, m, a.y.length - m);
    expect(fromKept.auc).toBe(computeMetric('auroc', { ...b, p: b.p.slice(), y: a.y }));
    expect(SPLITS.has(b.p)).toBe(false);
  });

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

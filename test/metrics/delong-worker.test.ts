/**
 * DeLong's components computed in a worker while the candidate is scored (src/metrics/delong_worker.ts) give
 * bit for bit the in-thread test, and the sort variant that hands back the sorted values agrees with the
 * plain argsort. Uses the built package (dist/), where the worker's compiled entry exists.
 */
import { describe, expect, it } from 'vitest';
import {
  decideKeep,
  decideKeepAsync,
  type KeepRule,
  prepareCandidate,
  WORKER_MIN_ROWS,
} from '../../dist/src/loop/keep.js';
import { cachedAuroc } from '../../dist/src/metrics/delong_cache.js';
import { delongWorkerAvailable, prepareDelongInWorker } from '../../dist/src/metrics/delong_worker.js';
import { computeMetric, delongTest, Xoshiro128 } from '../../dist/src/metrics/index.js';
import { argsortFloat64, argsortWithValues } from '../../dist/src/metrics/sort.js';
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

describe('DeLong components in a worker', () => {
  it('the compiled worker entry is available in dist', () => {
    expect(delongWorkerAvailable()).toBe(true);
  });

  for (const digits of [0, 2]) {
    it(`the test reads the worker’s components and equals the in-thread test exactly (${digits ? 'many ties' : 'no ties'})`, async () => {
      const a = binary(30_000, 0.3, 2, digits);
      const b = binary(30_000, 0.33, 3, digits);
      const inThread = delongTest(a.y, a.p.slice(), b.p.slice(), 0.95);
      const prep = prepareDelongInWorker(a.y, b.p);
      expect(await prep.done).toBe(true);
      expect(delongTest(a.y, a.p, b.p, 0.95)).toEqual(inThread);
    });
  }

  it('nothing starts for a single class or a non-finite score; a cancelled computation resolves false', async () => {
    const a = binary(1000, 0.3, 2);
    expect(await prepareDelongInWorker(new Uint8Array(1000), a.p).done).toBe(false);
    const bad = a.p.slice();
    bad[5] = Number.NaN;
    expect(await prepareDelongInWorker(a.y, bad).done).toBe(false);
    const big = binary(400_000, 0.3, 4);
    const prep = prepareDelongInWorker(big.y, big.p);
    prep.cancel();
    expect(await prep.done).toBe(false);
  });

  it('decideKeepAsync with the prepared candidate equals decideKeep, and a candidate without a test is not waited for', async () => {
    const rule: KeepRule = oneRunRule('auroc', 0.0001);
    // At the size from which the candidate's sort goes to a worker (below it, nothing is prepared).
    const a = binary(WORKER_MIN_ROWS, 0.3, 2);
    const b = binary(WORKER_MIN_ROWS, 0.31, 3);
    const cut = <T extends { y: Uint8Array; p: Float64Array }>(x: T) => ({
      ...x,
      y: x.y.subarray(1),
      p: x.p.subarray(1),
    });
    // Below it the sort is done at once in this thread, and the metric engine's AUROC reads its count.
    const small = cut(b);
    const smallBest = cut(a);
    const inThread = prepareCandidate(rule, smallBest, small)!;
    expect(await inThread.done).toBe(true);
    expect(cachedAuroc(smallBest.y, small.p)).toBe(computeMetric('auroc', { ...small, p: small.p.slice() }));
    expect(computeMetric('auroc', { ...small, y: smallBest.y })).toBe(cachedAuroc(smallBest.y, small.p));
    const score = (p: Float64Array) => delongTest(a.y, p, p, 0.9).a;
    const best = { score: score(a.p), input: a };
    const cand = { score: score(b.p), input: b };
    const sync = decideKeep(rule, best, { score: cand.score, input: { ...b, p: b.p.slice() } });
    const prep = prepareCandidate(rule, a, b);
    expect(prep).not.toBeNull();
    const verdict = await decideKeepAsync(rule, best, cand, prep);
    expect(sync.test).toBe('delong');
    expect(verdict).toEqual(sync);
    // The same predictions again: stage 1 decides (gain 0), the worker is stopped, the verdict is the sync one.
    const same = { score: best.score, input: { ...a, p: a.p.slice() } };
    const prepSame = prepareCandidate(rule, a, same.input)!;
    const v2 = await decideKeepAsync(rule, best, same, prepSame);
    expect(v2.test).toBe('none');
    expect(await prepSame.done).toBe(false);
    // Not DeLong (bootstrap forced): nothing to prepare.
    expect(prepareCandidate({ ...rule, test: 'bootstrap' }, a, b)).toBeNull();
  });
});

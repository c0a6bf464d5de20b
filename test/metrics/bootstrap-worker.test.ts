/**
 * The paired bootstrap in a worker thread gives exactly the in-thread result for a seed, and the keep
 * rule's async decision equals the synchronous one. Uses the built package (dist/), where the worker's
 * compiled entry exists: run `npm run build` first.
 */

import { describe, expect, it } from 'vitest';
import { decideKeep, decideKeepAsync, type KeepRule } from '../../dist/src/loop/keep.js';
import {
  bootstrapWorkerAvailable,
  pairedBootstrapInWorker,
} from '../../dist/src/metrics/bootstrap_worker.js';
import { computeMetric, pairedBootstrap, Xoshiro128 } from '../../dist/src/metrics/index.js';
import { oneRunRule } from '../keep-fixtures.js';

function binary(n: number, signal: number, seed: number) {
  const r = new Xoshiro128(1);
  const noise = new Xoshiro128(seed);
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = r.nextFloat() < 0.4 ? 1 : 0;
    p[i] = Math.min(1, Math.max(0, 0.5 + signal * (y[i]! - 0.5) + (noise.nextFloat() - 0.5) * 0.8));
  }
  return { task: 'binary' as const, y, p };
}

describe('paired bootstrap in a worker thread', () => {
  const a = binary(20_000, 0.3, 2);
  const b = binary(20_000, 0.32, 3);

  it('the compiled worker entry is available in dist', () => {
    expect(bootstrapWorkerAvailable()).toBe(true);
  });

  for (const metric of ['f1', 'auroc', 'average_precision']) {
    it(`${metric}: same result as in the main thread for a seed`, async () => {
      const opts = { resamples: 200, confidence: 0.9, seed: 11 };
      const inThread = pairedBootstrap(metric, a, b, opts);
      const inWorker = await pairedBootstrapInWorker(metric, a, b, opts);
      expect(inWorker).toEqual(inThread);
      expect(inWorker.resamples).toBe(200);
    });
  }

  it('rejects with the same RangeError as the main thread', async () => {
    const c = { ...b, y: new Uint8Array(b.y.length) };
    await expect(
      pairedBootstrapInWorker('f1', a, c, { resamples: 100, confidence: 0.9, seed: 1 }),
    ).rejects.toThrow(/y differs at row/);
  });

  it('decideKeepAsync (bootstrap in the worker) equals decideKeep', async () => {
    const rule: KeepRule = oneRunRule('f1', 0);
    const best = { score: computeMetric('f1', a), input: a };
    const cand = { score: computeMetric('f1', b), input: b };
    const sync = decideKeep(rule, best, cand);
    const async_ = await decideKeepAsync(rule, best, cand);
    expect(sync.test).toBe('bootstrap');
    expect(async_).toEqual(sync);
  });
});

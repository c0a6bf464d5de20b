/**
 * The worker_threads entry of {@link prepareDelongInWorker} (delong_worker.ts): receives one request
 * { y, p, m, n } (typed arrays copied by structured clone), computes the same structural components the main
 * thread would ({@link structuralComponents}) and posts back { ok, v10, v01, auc } (the arrays transferred)
 * or { ok: false, message }.
 */

import { parentPort } from 'node:worker_threads';
import { structuralComponents } from './delong.js';

parentPort?.once('message', (req: { y: Uint8Array; p: Float64Array; m: number; n: number }) => {
  try {
    const c = structuralComponents(req.y, req.p, req.m, req.n);
    parentPort!.postMessage({ ok: true, v10: c.v10, v01: c.v01, auc: c.auc }, [
      c.v10.buffer as ArrayBuffer,
      c.v01.buffer as ArrayBuffer,
    ]);
  } catch (e) {
    parentPort!.postMessage({ ok: false, message: (e as Error).message });
  }
});

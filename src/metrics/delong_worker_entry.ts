/**
 * The worker_threads entry of {@link prepareDelongInWorker} (delong_worker.ts): receives one request
 * { y, p, m, n } (typed arrays copied by structured clone), computes the same structural components the main
 * thread would ({@link structuralComponents}) and posts back { ok, t10, t01, auc } (the arrays transferred)
 * or { ok: false, message }.
 */

import { parentPort } from 'node:worker_threads';
import { structuralComponents } from './delong.js';

parentPort?.once('message', (req: { y: Uint8Array; p: Float64Array; m: number; n: number }) => {
  try {
    const c = structuralComponents(req.y, req.p, req.m, req.n);
    // t10 and t01 share one buffer: transferred once.
    const buffers = [...new Set([c.t10.buffer as ArrayBuffer, c.t01.buffer as ArrayBuffer])];
    parentPort!.postMessage({ ok: true, t10: c.t10, t01: c.t01, auc: c.auc }, buffers);
  } catch (e) {
    parentPort!.postMessage({ ok: false, message: (e as Error).message });
  }
});

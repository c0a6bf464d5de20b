/**
 * The worker_threads entry of {@link pairedBootstrapInWorker} (bootstrap_worker.ts): receives one
 * request { name, a, b, opts } (typed arrays copied by structured clone), runs the same
 * `pairedBootstrap` the main thread would, and posts back { ok, result } or { ok: false, message, range }.
 */

import { parentPort } from 'node:worker_threads';
import { type PairedBootstrapOptions, pairedBootstrap } from './bootstrap.js';
import type { MetricInput } from './types.js';

parentPort?.once(
  'message',
  (req: { name: string; a: MetricInput; b: MetricInput; opts: PairedBootstrapOptions }) => {
    try {
      parentPort!.postMessage({ ok: true, result: pairedBootstrap(req.name, req.a, req.b, req.opts) });
    } catch (e) {
      parentPort!.postMessage({ ok: false, message: (e as Error).message, range: e instanceof RangeError });
    }
  },
);

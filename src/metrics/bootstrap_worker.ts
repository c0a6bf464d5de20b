/**
 * The paired bootstrap off the main thread: {@link pairedBootstrapInWorker} runs `pairedBootstrap` in a
 * worker_threads worker, so that a long bootstrap (tens of seconds at millions of rows) does not block
 * the orchestrator's event loop (ratchet stop, the MCP server's get_status, Studio). The worker runs
 * exactly the same code on copies of the same arrays with the same seed, so the result is identical to
 * the in-thread call.
 */

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type PairedBootstrapOptions, type PairedBootstrapResult, pairedBootstrap } from './bootstrap.js';
import type { MetricInput } from './types.js';

const ENTRY = new URL('./bootstrap_worker_entry.js', import.meta.url);

/**
 * True when the compiled worker entry exists next to this module (it does in the built package; when
 * this module is loaded from TypeScript sources, e.g. by a test runner, it may not).
 */
export function bootstrapWorkerAvailable(): boolean {
  return ENTRY.protocol === 'file:' && existsSync(fileURLToPath(ENTRY));
}

/**
 * `pairedBootstrap(name, a, b, opts)` in a worker thread (see the module's comment); falls back to the
 * main thread when the worker entry is not available ({@link bootstrapWorkerAvailable}).
 * @returns the same result as `pairedBootstrap` for the same inputs and seed.
 * @throws (rejects with) the same Error / RangeError messages as `pairedBootstrap`.
 */
export function pairedBootstrapInWorker(
  name: string,
  a: MetricInput,
  b: MetricInput,
  opts: PairedBootstrapOptions,
): Promise<PairedBootstrapResult> {
  if (!bootstrapWorkerAvailable()) {
    return new Promise((resolve, reject) => {
      try {
        resolve(pairedBootstrap(name, a, b, opts));
      } catch (e) {
        reject(e);
      }
    });
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENTRY);
    let settled = false;
    worker.once(
      'message',
      (m: { ok: true; result: PairedBootstrapResult } | { ok: false; message: string; range: boolean }) => {
        settled = true;
        void worker.terminate();
        if (m.ok) resolve(m.result);
        else reject(m.range ? new RangeError(m.message) : new Error(m.message));
      },
    );
    worker.once('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`pairedBootstrap worker exited with code ${code}`));
      settled = true;
    });
    worker.postMessage({ name, a, b, opts });
  });
}

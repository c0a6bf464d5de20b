/**
 * DeLong's structural components off the main thread: {@link prepareDelongInWorker} starts computing one
 * score vector's components (the O(n log n) part of {@link delongTest}: a sort and a pass over the tie groups)
 * in a worker_threads worker as soon as the candidate's predictions are aligned, so the sort runs on the
 * second core while the main thread scores the metrics; when it finishes, the components are cached for
 * those very arrays and `delongTest` only reads them. Same code on a copy of the same arrays: the test's
 * result is bit for bit the in-thread one.
 */

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { cacheComponents } from './delong.js';

const ENTRY = new URL('./delong_worker_entry.js', import.meta.url);

/** A computation under way: `done` settles when the components are cached (or failed); `cancel` stops it. */
export interface PreparedComponents {
  /** Resolves true when the components are cached, false when they could not be made here (the test then
   * computes them in its own thread); never rejects. */
  done: Promise<boolean>;
  /** Stop the worker (the components are not needed); `done` then resolves false. */
  cancel(): void;
}

/** True when the compiled worker entry exists next to this module (it does in the built package). */
export function delongWorkerAvailable(): boolean {
  return ENTRY.protocol === 'file:' && existsSync(fileURLToPath(ENTRY));
}

/**
 * Start computing the DeLong components of `score` against labels `y` in a worker thread (see the module's
 * comment). Nothing starts (done resolves false) when the worker entry is unavailable, the lengths differ, a
 * score is not finite or a class is absent: {@link delongTest} then computes or refuses as usual.
 * @param y n labels 0/1 (1 = positive); @param score n scores (never modified afterwards: the cache is keyed
 *   by these arrays)
 */
export function prepareDelongInWorker(y: Uint8Array, score: Float64Array): PreparedComponents {
  let m = 0;
  let ok = delongWorkerAvailable() && y.length === score.length;
  for (let i = 0; ok && i < y.length; i++) {
    if (!Number.isFinite(score[i]!)) ok = false;
    m += y[i] === 1 ? 1 : 0;
  }
  const n = y.length - m;
  if (!ok || m === 0 || n === 0) return { done: Promise.resolve(false), cancel() {} };
  const worker = new Worker(ENTRY);
  let cancelled = false;
  const done = new Promise<boolean>((resolve) => {
    worker.once(
      'message',
      (r: { ok: true; t10: Int32Array; t01: Int32Array; auc: number } | { ok: false; message: string }) => {
        if (r.ok && !cancelled) cacheComponents(y, score, { t10: r.t10, t01: r.t01, auc: r.auc });
        resolve(r.ok && !cancelled);
        void worker.terminate();
      },
    );
    worker.once('error', () => resolve(false));
    worker.once('exit', () => resolve(false));
  });
  worker.postMessage({ y, p: score, m, n });
  return {
    done,
    cancel() {
      cancelled = true;
      void worker.terminate();
    },
  };
}

/**
 * Collecting garbage on purpose, where Ratchet knows that large dead buffers are waiting: V8 does not see the
 * native memory behind DuckDB's result chunks, and a 3M-row sort leaves tens of MB of dead typed arrays, so
 * without a nudge both can still be resident when the next large allocation comes (issue 10: peak RSS ≤ 300 MB).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

/**
 * Run V8's full garbage collection now. The collector is V8's `gc`, exposed at run time (`--expose-gc` through
 * `v8.setFlagsFromString`, then taken from a fresh context); where that fails, nothing happens. Costs a few ms
 * with the orchestrator's small heap (its large data lives in typed arrays, outside the heap).
 */
export function collectGarbage(): void {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as unknown;
      collect = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      collect = null;
    }
  }
  collect?.();
}

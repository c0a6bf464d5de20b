import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../../src/loop/executor.js';

/** An {@link instantExecutor} and how many of its jobs ran at once at most. */
export type InstantExecutor = Executor & { readonly most: number };

/**
 * An executor for tests of the loop's own steps (scheduling, budgets, what a session keeps): each job waits `ms`,
 * listening to the kill switch as the local executor's jobs do, then writes the same predictions for the project's
 * public and private holdout ids (`row_id,prediction`, a fixed hash of the id), without running Python.
 * @param dir an initialised project (its `.ratchet/data/{public,private}.csv` give the ids)
 */
export function instantExecutor(dir: string, ms: number): InstantExecutor {
  const ids = (name: string) =>
    readFileSync(join(dir, '.ratchet', 'data', `${name}.csv`), 'utf8')
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]!);
  const holdouts = { public: ids('public'), private: ids('private') };
  let running = 0;
  let most = 0;
  return {
    kind: 'local',
    slotClass: 'test:instant',
    threads: 1,
    get most() {
      return most;
    },
    async run(job) {
      running++;
      most = Math.max(most, running);
      const onAbort = () => {};
      job.signal?.addEventListener('abort', onAbort, { once: true });
      await new Promise((r) => setTimeout(r, ms));
      job.signal?.removeEventListener('abort', onAbort);
      running--;
      for (const [name, rows] of Object.entries(holdouts))
        writeFileSync(
          join(job.outputDir, `${name}.csv`),
          `row_id,prediction\n${rows.map((id) => `${id},${((Number(id) * 7919) % 1009) / 1009}`).join('\n')}\n`,
        );
      return { status: 'ok', exitCode: 0, signal: null, wallMs: ms, sandboxed: false, message: 'ok' };
    },
  };
}

/**
 * What an agent proposer reads about its run from the journal (the experiments, the budgets left), and how
 * it stops the run when its token or cost cap is used: through the same kill switch as `ratchet stop`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentRecord, Journal, JournalReader } from '../journal/store.js';
import { runActiveMs, STOP_FILE } from '../loop/control.js';
import type { BudgetsLeft } from './brief.js';

/** The experiments of a run and of the rest of the project, oldest first. */
export function runRecords(
  journal: Journal,
  runId: string,
): { run: ExperimentRecord[]; all: ExperimentRecord[] } {
  const all = journal.listExperiments();
  return { run: all.filter((e) => e.runId === runId), all };
}

/** The budgets a run has left, from the limits it started with (null when unknown); the wall clock counts active time. */
export function budgetsLeftFromJournal(journal: JournalReader, runId: string): BudgetsLeft {
  const run = journal.getRun(runId);
  if (!run) return { experiments: null, wallClockMs: null };
  const cfg = run.config as { maxExperiments?: number; maxWallClockMs?: number };
  const n = journal.listExperiments(runId).length;
  return {
    maxExperiments: typeof cfg.maxExperiments === 'number' ? cfg.maxExperiments : null,
    experiments: typeof cfg.maxExperiments === 'number' ? Math.max(0, cfg.maxExperiments - n) : null,
    wallClockMs:
      typeof cfg.maxWallClockMs === 'number'
        ? Math.max(0, cfg.maxWallClockMs - runActiveMs(run, run.status === 'running'))
        : null,
  };
}

/**
 * Stop the run through its kill switch (the stop file `ratchet stop` writes, polled every 100 ms), wait until
 * the run's signal fires (at most 3 s), then throw: the loop sees an aborted PROPOSE, records nothing, resets
 * the worktree and ends the run as `stopped` with this reason.
 * @throws Error always (the reason)
 */
export async function stopRun(projectDir: string, signal: AbortSignal, reason: string): Promise<never> {
  writeFileSync(join(projectDir, STOP_FILE), `${JSON.stringify({ reason, at: new Date().toISOString() })}\n`);
  const until = Date.now() + 3000;
  while (!signal.aborted && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  throw new Error(reason);
}

/** An Error that says the run is stopping (what a proposer throws when its signal fired). */
export function abortError(what: string): Error {
  const e = new Error(`the run is stopping; ${what} was abandoned`);
  e.name = 'AbortError';
  return e;
}

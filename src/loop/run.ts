import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import type { ExperimentRecord } from '../journal/store.js';
import type { Proposer } from '../proposers/types.js';
import type { PythonRuntime } from '../sandbox/index.js';
import { type Budgets, RunSession, type RunSummary, type SessionOptions } from './session.js';

export { experimentDir, RUNS_DIR, tail, WORKTREES_DIR } from './paths.js';
export type { Budgets, RunSummary } from './session.js';

/** Everything a proposer factory needs to build a proposer for a run. */
export interface ProposerContext {
  contract: Contract;
  runId: string;
  worktree: string;
  python: PythonRuntime;
  /** Folder for the proposer's own state (e.g. the Optuna study), under `.ratchet/`. */
  stateDir: string;
  /** True when an unfinished run is resumed. */
  resumed: boolean;
}

/** Builds the run's proposer once the worktree exists. */
export type ProposerFactory = (ctx: ProposerContext) => Promise<Proposer>;

/** Progress of a run, for terminals and tests. */
export type RunProgress =
  | {
      type: 'run-start';
      runId: string;
      branch: string;
      resumed: boolean;
      maxExperiments: number;
      maxWallClockMs: number;
    }
  | { type: 'experiment-start'; id: number; seq: number; hypothesis: string; elapsedMs: number }
  | {
      type: 'experiment-end';
      record: ExperimentRecord;
      bestScore: number | null;
      elapsedMs: number;
      left: Budgets;
    }
  | { type: 'run-end'; summary: RunSummary };

/** Options of {@link runLoop}. Unset budgets come from the contract. */
export interface RunOptions extends SessionOptions {
  proposer: ProposerFactory;
  onProgress?: (p: RunProgress) => void;
}

/**
 * The loop: PROPOSE → APPLY → CHECK → EXECUTE → EVALUATE → DECIDE → RECORD on the branch `ratchet/<run>`,
 * until a budget runs out or the kill switch fires. The first experiment of a new run is the baseline
 * (the committed code as it is). A kept change is committed with trailers; anything else is archived as a
 * patch in the experiment's folder and the worktree returns to the last kept commit.
 * @throws RatchetError before the first experiment for a broken setup (lock violation, tracked data,
 *   missing sandbox, a run already active); never leaves the branch dirty
 */
export async function runLoop(opts: RunOptions): Promise<RunSummary> {
  const session = await RunSession.open(opts);
  const emit = (p: RunProgress) => opts.onProgress?.(p);
  const elapsed = () => Date.now() - session.startedAt;
  let proposer: Proposer | null = null;
  let status: RunSummary['status'] = 'finished';
  let reason = '';
  try {
    emit({
      type: 'run-start',
      runId: session.runId,
      branch: session.branch,
      resumed: session.resumed,
      maxExperiments: session.limits.maxExperiments,
      maxWallClockMs: session.limits.maxWallClockMs,
    });
    proposer = await opts.proposer({
      contract: session.contract,
      runId: session.runId,
      worktree: session.worktree,
      python: session.python,
      stateDir: join(session.projectDir, '.ratchet', 'proposers', session.runId),
      resumed: session.resumed,
    });
    session.setProposer(proposer.name);
    while (true) {
      const stop = await session.stopCheck();
      if (stop) {
        ({ status, reason } = stop);
        break;
      }
      const seq = session.history.length + 1;
      const rec = await session.experiment(proposer, (id, hypothesis) =>
        emit({ type: 'experiment-start', id, seq, hypothesis, elapsedMs: elapsed() }),
      );
      if (rec === 'aborted') continue;
      emit({
        type: 'experiment-end',
        record: rec,
        bestScore: session.best?.score ?? null,
        elapsedMs: elapsed(),
        left: session.budgetsLeft(),
      });
      if (seq === 1 && rec.decision !== 'kept') {
        status = 'failed';
        reason = `the baseline did not produce a valid score: ${rec.decision}: ${rec.reason}`;
        break;
      }
    }
  } catch (e) {
    status = 'failed';
    reason = (e as Error).message;
    await closeProposer(proposer);
    await session.close(status, reason);
    throw e;
  }
  await closeProposer(proposer);
  const summary = await session.close(status, reason);
  emit({ type: 'run-end', summary });
  return summary;
}

/**
 * Close the proposer without letting it hold up the end of the run: a proposer's helper process (e.g. the
 * Optuna study) gets 300 ms to finish its last write; after that the run ends and the helper exits on its own
 * when its input closes.
 */
async function closeProposer(proposer: Proposer | null): Promise<void> {
  if (!proposer) return;
  await Promise.race([
    proposer.close().catch(() => undefined),
    new Promise((r) => setTimeout(r, 300).unref()),
  ]);
}

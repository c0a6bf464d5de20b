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
  /** The direction this proposer explores (1-based) and how many the run has (docs/ARCHITECTURE.md, "Parallel directions"). */
  direction: number;
  directions: number;
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
  | {
      type: 'experiment-start';
      id: number;
      seq: number;
      hypothesis: string;
      elapsedMs: number;
      /** The direction (1-based) in a run with several, else absent. */
      direction?: number;
    }
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
  const n = session.lanes.length;
  const proposers: Proposer[] = [];
  let status: RunSummary['status'] = 'finished';
  let reason = '';
  try {
    emit({
      type: 'run-start',
      runId: session.runId,
      branch: session.lanes.map((l) => l.branch).join(', '),
      resumed: session.resumed,
      maxExperiments: session.limits.maxExperiments,
      maxWallClockMs: session.limits.maxWallClockMs,
    });
    // The executor proves it can run jobs with the sandbox policy before the first one (the Ray executor's probe
    // job); a refusal ends the run before any experiment.
    await session.executor.prepare?.(session.signal);
    // One proposer per direction, opened in order (a shared study is opened by the first before the others join).
    for (const lane of session.lanes) {
      const p = await opts.proposer({
        contract: session.contract,
        runId: session.runId,
        worktree: lane.worktree,
        python: session.python,
        stateDir: join(session.projectDir, '.ratchet', 'proposers', session.runId),
        resumed: session.resumed,
        direction: lane.direction,
        directions: n,
      });
      proposers.push(p);
      if (n > 1) await p.open?.();
    }
    session.setProposer(proposers[0]!.name);
    let startedOnce: (d: number) => void = () => {};
    let lane1Ended: () => void = () => {};
    const lane1Done = new Promise<void>((r) => {
      lane1Ended = r;
    });
    /** One experiment of direction `d`; false when the run must end. */
    const step = async (d: number): Promise<boolean> => {
      const rec = await session.experiment(
        proposers[d - 1]!,
        (id, hypothesis, seq) => {
          startedOnce(d);
          emit({
            type: 'experiment-start',
            id,
            seq,
            hypothesis,
            elapsedMs: elapsed(),
            ...(n > 1 ? { direction: d } : {}),
          });
        },
        d,
      );
      if (rec === 'aborted') return true;
      emit({
        type: 'experiment-end',
        record: rec,
        bestScore: session.best?.score ?? null,
        elapsedMs: elapsed(),
        left: session.budgetsLeft(),
      });
      if (rec.seq === 1 && rec.decision !== 'kept') {
        status = 'failed';
        reason = `the baseline did not produce a valid score: ${rec.decision}: ${rec.reason}`;
        return false;
      }
      return true;
    };
    // The baseline runs alone (direction 1); then every direction runs at once, sharing the budgets.
    let ended = false;
    while (!session.lanes[0]!.best && !ended) {
      const stop = await session.stopCheck();
      if (stop) {
        ({ status, reason } = stop);
        ended = true;
      } else if (!(await step(1))) ended = true;
    }
    if (!ended) {
      // Direction 1 proposes first (its first proposal replays the baseline into a shared study), then the others
      // join: no two directions race for the same queued trial.
      let firstProposed: () => void = () => {};
      const first = new Promise<void>((r) => {
        firstProposed = r;
      });
      startedOnce = (d) => {
        if (d === 1) firstProposed();
      };
      const stops = await Promise.allSettled(
        session.lanes.map(async (lane) => {
          try {
            if (lane.direction > 1) await Promise.race([first, lane1Done]);
            while (true) {
              const stop = await session.stopCheck();
              if (stop) return stop;
              // verified-gains: a direction whose share of what is left fell below one experiment stops here.
              if (session.budgetPause(lane.direction)) return null;
              // A direction behind another's verified best moves onto it before its next experiment.
              await session.adoptBest(lane.direction);
              // Other directions may have taken the last experiments of the budget while this one awaited (stopCheck,
              // adoptBest): checked again with no await before `step` reserves the experiment, so the budget is never
              // overrun; the next stopCheck names the ending.
              if (session.budgetsLeft().experiments === 0) continue;
              if (!(await step(lane.direction))) return { status, reason };
            }
          } catch (e) {
            session.stop(`direction ${lane.direction} failed: ${(e as Error).message}`); // the others stop too
            throw e;
          } finally {
            if (lane.direction === 1) lane1Ended();
          }
        }),
      );
      const failed = stops.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      // A paused direction (verified-gains) ended nothing: the others' endings name the run's.
      const ends = stops
        .map(
          (r) => (r as PromiseFulfilledResult<{ status: RunSummary['status']; reason: string } | null>).value,
        )
        .filter((e) => e !== null);
      // The gravest ending names the run's: failed, escalated, stopped, then finished.
      const rank = { failed: 0, escalated: 1, stopped: 2, finished: 3 } as const;
      const end = ends.sort((a, b) => rank[a.status] - rank[b.status])[0] ?? {
        status: 'finished' as const,
        reason: 'every direction paused',
      };
      ({ status, reason } = end);
    }
  } catch (e) {
    status = 'failed';
    reason = (e as Error).message;
    session.stop(reason); // the other directions' experiments stop too
    for (const p of proposers) await closeProposer(p);
    await session.close(status, reason);
    throw e;
  }
  for (const p of proposers) await closeProposer(p);
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

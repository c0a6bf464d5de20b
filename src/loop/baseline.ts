import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, removeWorktree } from '../git/git.js';
import { Journal } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { type Executor, LocalExecutor } from './executor.js';
import { tail, WORKTREES_DIR } from './paths.js';
import { preflight, type Ready } from './preflight.js';
import { runOverSeeds } from './seeds.js';

/** One repetition of the baseline. */
export interface BaselineRun {
  seed: number;
  /** Output folder of the run (its predictions). */
  outputDir: string;
  score: number;
  metrics: Record<string, number>;
  wallMs: number;
}

/** Result of {@link measureBaseline}. */
export interface NoiseEstimate {
  commit: string;
  metric: string;
  /** same-seed: the same code and seed k times (nondeterminism); varied-seed: k different seeds (seed noise). */
  kind: 'same-seed' | 'varied-seed';
  runs: BaselineRun[];
  mean: number;
  /** Sample standard deviation (n − 1) of the primary metric; 0 for one run. */
  sd: number;
  /** The executor slot class the runs were measured in (e.g. `local:sandbox:2x1`). */
  slotClass: string;
}

/** Options of {@link measureBaseline}. */
export interface BaselineOptions {
  projectDir: string;
  /** Repetitions (≥ 1). */
  runs: number;
  kind: 'same-seed' | 'varied-seed';
  unsafeNoSandbox?: boolean;
  timeoutMs?: number;
  onRun?: (i: number, run: BaselineRun) => void;
  signal?: AbortSignal;
  /** Reuse preflight results already computed by the caller. */
  ready?: Ready;
  /**
   * Runs at once (default 1): measure the noise under the load of a run with this many directions, each run with
   * its share of the cores (docs/ARCHITECTURE.md, "Parallel directions"). Recorded as the executor's slot class.
   */
  concurrent?: number;
  /** Where the runs execute (default: the local executor; `ratchet check --executor ray` passes the Ray one). */
  executor?: Executor;
}

/**
 * Relative size below which a spread of scores is floating-point rounding, not noise: metrics summed in a
 * different order differ by ~1e-16 relative; a real run-to-run difference on a holdout of any size is far larger.
 */
export const ROUNDING_TOLERANCE = 1e-12;

/**
 * Sample standard deviation (denominator n − 1); 0 when fewer than two values, and 0 when the spread is at
 * rounding level (sd ≤ {@link ROUNDING_TOLERANCE} × max(1, |mean|)), so rounding never counts as noise (it
 * would start confirmation runs and make "gain in noise sd" figures meaningless).
 */
export function sampleSd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
  return sd <= ROUNDING_TOLERANCE * Math.max(1, Math.abs(m)) ? 0 : sd;
}

/**
 * Run the committed code (HEAD) `runs` times in the sandbox and score each run on the public holdout,
 * to measure run-to-run noise. Stores the estimate in the journal's noise table (the keep rule reads it).
 * Runs in a detached worktree under `.ratchet/worktrees/`, removed afterwards.
 * @throws RatchetError when a repetition crashes, times out or writes invalid predictions (the message
 *   carries the reason and the tail of its stderr)
 */
export async function measureBaseline(opts: BaselineOptions): Promise<NoiseEstimate> {
  const { projectDir } = opts;
  const unsafe = opts.unsafeNoSandbox ?? false;
  const ready =
    opts.ready ?? (await preflight(projectDir, { unsafe, executor: opts.executor?.kind ?? 'local' }));
  const { contract, manifest, head, python } = ready;
  const stamp = `check-${Date.now()}-${process.pid}`;
  const worktree = join(projectDir, WORKTREES_DIR, stamp);
  mkdirSync(join(projectDir, WORKTREES_DIR), { recursive: true });
  await git(projectDir, ['worktree', 'add', '-q', '--detach', worktree, head]);
  const runs: BaselineRun[] = [];
  const executor =
    opts.executor ??
    new LocalExecutor(python, unsafe, Math.max(1, Math.min(opts.concurrent ?? 1, opts.runs)));
  try {
    const seeds = Array.from({ length: opts.runs }, (_, i) =>
      opts.kind === 'same-seed' ? contract.split.seed : contract.split.seed + 1 + i,
    );
    // Under contention: `concurrent` loops over the seeds side by side (run i in loop i mod concurrent); the first
    // failure stops the others.
    const lanes = Math.max(1, Math.min(opts.concurrent ?? 1, seeds.length));
    const stopAll = new AbortController();
    const onAbort = () => stopAll.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) stopAll.abort();
    const byIndex = new Map<number, BaselineRun>();
    const results = await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const mine = seeds.map((seed, i) => ({ seed, i })).filter(({ i }) => i % lanes === lane);
        const r = await runOverSeeds({
          executor,
          contract,
          manifest,
          worktree,
          seeds: mine.map((m) => m.seed),
          runDir: (k) => join(projectDir, '.ratchet', 'checks', stamp, String(mine[k]!.i + 1)),
          slot: lane,
          timeoutMs: opts.timeoutMs ?? contract.limits.experimentTimeoutMs,
          binDir: python.binDir,
          signal: stopAll.signal,
          // A harness's baseline runs ask its model afresh: they measure the model's own noise, which a replay hides.
          modelCache: 'fresh',
          onRun: (r) => {
            const run = {
              seed: r.seed,
              outputDir: r.outputDir,
              score: r.evaluation.score,
              metrics: r.evaluation.metrics,
              wallMs: r.sandbox.wallMs,
            };
            byIndex.set(mine[r.index]!.i, run);
            opts.onRun?.(mine[r.index]!.i, run);
          },
        });
        if (r.failure) stopAll.abort();
        return r.failure ? { ...r.failure, index: mine[r.failure.index]!.i } : null;
      }),
    );
    opts.signal?.removeEventListener('abort', onAbort);
    for (let i = 0; i < seeds.length; i++) if (byIndex.has(i)) runs.push(byIndex.get(i)!);
    // The first failure in seed order that is not another loop's stop.
    const failures = results.filter((f) => f !== null).sort((a, b) => a.index - b.index);
    const done = {
      failure:
        failures.find((f) => f.sandbox.status !== 'aborted' || opts.signal?.aborted) ?? failures[0] ?? null,
    };
    const f = done.failure;
    if (f?.step === 'execute') {
      throw new RatchetError(
        `the baseline run ${f.index + 1} did not finish: ${f.message}\n${tail(join(f.runDir, 'stderr.log'))}`,
        {
          file: contract.run.command,
          hint: `fix the training command; its logs are in ${f.runDir}`,
        },
      );
    }
    if (f) {
      throw new RatchetError(`the baseline run ${f.index + 1} wrote invalid predictions: ${f.message}`, {
        hint: `fix the training script's output; its files are in ${f.outputDir}`,
      });
    }
  } finally {
    await removeWorktree(projectDir, worktree);
    rmSync(worktree, { recursive: true, force: true });
  }
  const scores = runs.map((r) => r.score);
  const estimate: NoiseEstimate = {
    commit: head,
    metric: contract.metric.primary,
    kind: opts.kind,
    runs,
    mean: scores.reduce((a, b) => a + b, 0) / scores.length,
    sd: sampleSd(scores),
    slotClass: executor.slotClass,
  };
  const journal = Journal.open(projectDir);
  try {
    journal.addNoise({
      ts: new Date().toISOString(),
      commitSha: head,
      metric: estimate.metric,
      kind: estimate.kind,
      scores,
      outputs: runs.map((r) => r.outputDir),
      mean: estimate.mean,
      sd: estimate.sd,
      slotClass: executor.slotClass,
    });
  } finally {
    journal.close();
  }
  return estimate;
}

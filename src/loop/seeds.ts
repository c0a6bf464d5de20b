import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import type { Duck } from '../data/duck.js';
import type { DuckPool } from '../data/duck-pool.js';
import type { SplitManifest } from '../data/ingest.js';
import { type Evaluation, evaluateOutput } from '../evaluator/evaluate.js';
import type { VaultCache } from '../evaluator/vault.js';
import type { SandboxResult } from '../sandbox/index.js';
import type { Executor } from './executor.js';

/**
 * "Run this tree over k seeds and score each run on the public holdout": the one loop behind the baseline's
 * noise measurement (`ratchet check`), the keep rule's confirmation runs and the noise audit
 * (docs/ARCHITECTURE.md, "Executors").
 */

/** One scored run of {@link runOverSeeds}. */
export interface SeedRun {
  /** 0-based position in the seed list. */
  index: number;
  seed: number;
  /** The run's folder (logs) and its output folder (predictions). */
  runDir: string;
  outputDir: string;
  /** What the executor reported (status `ok`). */
  sandbox: SandboxResult;
  /** The public holdout's evaluation (status `ok`). */
  evaluation: Extract<Evaluation, { status: 'ok' }>;
}

/** Why {@link runOverSeeds} stopped early: the run that failed and at which step. */
export interface SeedRunFailure {
  index: number;
  seed: number;
  runDir: string;
  outputDir: string;
  /** `execute`: the command did not finish with status ok; `evaluate`: its predictions were invalid. */
  step: 'execute' | 'evaluate';
  /** The executor's result (also for an `evaluate` failure). */
  sandbox: SandboxResult;
  /** The executor's message or the evaluator's reason. */
  message: string;
}

/** Options of {@link runOverSeeds}. */
export interface OverSeedsOptions {
  executor: Executor;
  contract: Contract;
  manifest: SplitManifest;
  /** The checked-out tree every run executes (never modified here). */
  worktree: string;
  /** The seeds, in order: one run each. */
  seeds: number[];
  /** The folder of run `index` (created here; `output/` inside it receives the predictions). */
  runDir: (index: number) => string;
  /** Wall-clock limit of each run, ms. */
  timeoutMs: number;
  /** The execution slot the runs take (their GPUs; see `ExecuteJob.slot`). Default 0. */
  slot?: number;
  /** Kill switch: the running job is stopped and the loop returns its `aborted` failure. */
  signal?: AbortSignal;
  /** The run session's DuckDBs, one lent to each evaluation (a private DuckDB and vault read otherwise). */
  ducks?: DuckPool;
  vault?: VaultCache;
  /** The Python bin folder a custom evaluator runs with. */
  binDir?: string;
  /** Called after each scored run (progress). */
  onRun?: (run: SeedRun) => void;
  /** A harness task's model cache for these runs (see ExecuteJob.modelCache; default replay). */
  modelCache?: 'replay' | 'fresh';
}

/**
 * Run a tree once per seed through an executor and score each run on the public holdout, one run at a time
 * (runs share the machine's cores). Stops at the first run that does not finish or writes invalid predictions.
 * Never throws for what a run did; errors of the host (e.g. a missing vault) propagate.
 * @returns the scored runs in seed order, and the failure that stopped the loop (null when every seed ran)
 */
export async function runOverSeeds(
  opts: OverSeedsOptions,
): Promise<{ runs: SeedRun[]; failure: SeedRunFailure | null }> {
  const runs: SeedRun[] = [];
  for (const [index, seed] of opts.seeds.entries()) {
    const runDir = opts.runDir(index);
    const outputDir = join(runDir, 'output');
    mkdirSync(outputDir, { recursive: true });
    const sandbox = await opts.executor.run({
      contract: opts.contract,
      worktree: opts.worktree,
      runDir,
      outputDir,
      seed,
      experimentId: 0,
      timeoutMs: opts.timeoutMs,
      slot: opts.slot ?? 0,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.modelCache ? { modelCache: opts.modelCache } : {}),
    });
    const at = { index, seed, runDir, outputDir, sandbox };
    if (sandbox.status !== 'ok')
      return { runs, failure: { ...at, step: 'execute', message: sandbox.message } };
    const evaluate = (duck?: Duck) =>
      evaluateOutput(opts.contract, opts.manifest, outputDir, duck, opts.binDir, {
        ...(opts.vault ? { vault: opts.vault } : {}),
      });
    const evaluation = opts.ducks ? await opts.ducks.use(evaluate) : await evaluate();
    if (evaluation.status !== 'ok')
      return { runs, failure: { ...at, step: 'evaluate', message: evaluation.reason } };
    const run: SeedRun = { ...at, evaluation };
    runs.push(run);
    opts.onRun?.(run);
  }
  return { runs, failure: null };
}

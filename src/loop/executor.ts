import { availableParallelism } from 'node:os';
import type { Contract } from '../contract/load.js';
import { gpuBinds, nvidiaDevices, slotGpus } from '../sandbox/gpu.js';
import type { PythonRuntime, SandboxResult } from '../sandbox/index.js';
import { type ExecuteOptions, execute } from './execute.js';

/**
 * The executor seam (docs/ARCHITECTURE.md, "Executors"): where EXECUTE runs a tree. The loop, the baseline's
 * noise measurement, the confirmation runs and the noise audit all go through an {@link Executor}; the local
 * one runs the contract's command under bubblewrap on this machine.
 */

/** One training run: this tree, this seed, these limits. */
export interface ExecuteJob {
  contract: Contract;
  /** The checked-out tree to run (a worktree folder on the orchestrator's machine). */
  worktree: string;
  /** The run's folder: stdout.log and stderr.log are written here while the command runs. */
  runDir: string;
  /** The folder the command writes its predictions to (RATCHET_OUTPUT). */
  outputDir: string;
  /** RATCHET_SEED. */
  seed: number;
  /** RATCHET_EXPERIMENT (0 for runs that are not an experiment: baseline, confirmation, audit). */
  experimentId: number;
  /** Wall-clock limit, ms. */
  timeoutMs: number;
  /**
   * A harness task's model cache: `replay` (default) answers identical requests from the cache; `fresh` asks the
   * model every time (still recording the answers): repeated runs then measure the model's own noise.
   */
  modelCache?: 'replay' | 'fresh';
  /** The kill switch: aborting it kills the run (its result is then `aborted`). */
  signal?: AbortSignal;
  /**
   * The execution slot (0-based) among the jobs running at once: parallel directions run in slots 0..n−1 (direction
   * k in slot k−1), so each gets its own GPUs. Default 0.
   */
  slot?: number;
}

/**
 * Runs training jobs. Implementations must: enforce the contract's limits and the sandbox policy, write the
 * command's output to `runDir`'s logs as it comes (progress), put the predictions in `outputDir` on this
 * machine (they are scored here, never where they ran), stop the job when `signal` aborts, and resolve (never
 * reject) with a {@link SandboxResult} for anything the command did.
 */
export interface Executor {
  /** 'local' (bubblewrap on this machine) or 'ray' (a Ray cluster, under bubblewrap on the worker). */
  readonly kind: 'local' | 'ray';
  /**
   * The class of execution slot jobs run in, e.g. `local:sandbox:1x2` (one job at a time, 2 threads each) or
   * `local:sandbox:2x1`: noise is measured per slot class, since scores and durations measured under one load say
   * little about another.
   */
  readonly slotClass: string;
  /** Training threads each job gets (RATCHET_THREADS). */
  readonly threads: number;
  /** Run one job to completion (or until its timeout, its limits or the kill switch stop it). */
  run(job: ExecuteJob): Promise<SandboxResult>;
  /**
   * Check, before the first job, that jobs can run here with the sandbox policy (the Ray executor runs its probe
   * job). Optional: the local executor's check is preflight's sandbox probe.
   * @returns a one-line description for `ratchet check`
   * @throws RatchetError naming the contract field and the fix when they cannot
   */
  prepare?(signal?: AbortSignal): Promise<{ summary: string }>;
}

/**
 * The options of {@link execute} (or `executeSpec`) for a job: the job's tree, folders, seed, timeout and kill switch,
 * with the executor's interpreter, sandbox choice and threads.
 */
export function executeOptions(
  job: ExecuteJob,
  python: PythonRuntime,
  unsafeNoSandbox: boolean,
  threads: number,
): ExecuteOptions {
  return {
    contract: job.contract,
    worktree: job.worktree,
    runDir: job.runDir,
    outputDir: job.outputDir,
    python,
    timeoutMs: job.timeoutMs,
    seed: job.seed,
    experimentId: job.experimentId,
    unsafeNoSandbox,
    threads,
    ...(job.signal ? { signal: job.signal } : {}),
    ...(job.modelCache ? { modelCache: job.modelCache } : {}),
  };
}

/**
 * The local executor: the contract's command under bubblewrap on this machine ({@link execute}), or without the
 * sandbox when the person ran with `--unsafe-no-sandbox`.
 */
export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;
  readonly slotClass: string;
  readonly threads: number;

  /**
   * @param python the resolved Python runtime the command runs with
   * @param unsafeNoSandbox run without bubblewrap (the person's explicit choice; recorded on every experiment)
   * @param concurrent how many jobs run at once on this machine (parallel directions): each gets
   *   ⌊cores / concurrent⌋ threads, at least 1, and its share of the GPUs
   * @param opts.devDir where the NVIDIA device nodes are (default `/dev`; tests give stand-ins)
   */
  constructor(
    private readonly python: PythonRuntime,
    readonly unsafeNoSandbox = false,
    private readonly concurrent = 1,
    private readonly opts: { devDir?: string } = {},
  ) {
    this.threads = Math.max(1, Math.floor(availableParallelism() / Math.max(1, concurrent)));
    this.slotClass = `local:${unsafeNoSandbox ? 'unsafe' : 'sandbox'}:${concurrent}x${this.threads}`;
  }

  /** Runs the job with {@link execute}, with its slot's GPUs when the contract asks for GPUs. */
  async run(job: ExecuteJob): Promise<SandboxResult> {
    let gpu: ReturnType<typeof gpuBinds> | undefined;
    const want = job.contract.resources.gpus;
    if (want > 0) {
      const devices = nvidiaDevices(this.opts.devDir);
      try {
        gpu = gpuBinds(devices, slotGpus(devices.gpus, want, job.slot ?? 0, this.concurrent));
      } catch (e) {
        return {
          status: 'sandbox_error',
          exitCode: null,
          signal: null,
          wallMs: 0,
          sandboxed: !this.unsafeNoSandbox,
          message: `${(e as Error).message}: fix resources.gpus in ratchet.yaml`,
        };
      }
    }
    return execute({
      ...executeOptions(job, this.python, this.unsafeNoSandbox, this.threads),
      ...(gpu ? { gpu } : {}),
    });
  }
}

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { DATA_DIR, readManifest } from '../data/ingest.js';
import { plantDecoys } from '../guardrails/canary.js';
import { harnessSandbox, startModelSession } from '../harness/session.js';
import { type PythonRuntime, runSandboxed, type SandboxResult, type SandboxSpec } from '../sandbox/index.js';
import { openmpWaitEnv } from './openmp.js';

/** Where the split files appear inside the sandbox. */
export const SANDBOX_DATA = '/data';
/** Where the output folder appears inside the sandbox. */
export const SANDBOX_OUTPUT = '/output';

/** Inputs of one EXECUTE. */
export interface ExecuteOptions {
  contract: Contract;
  worktree: string;
  /** The experiment's run folder (`.ratchet/runs/<id>/`); output/, stdout.log and stderr.log go here. */
  runDir: string;
  outputDir: string;
  python: PythonRuntime;
  timeoutMs: number;
  seed: number;
  experimentId: number;
  unsafeNoSandbox: boolean;
  signal?: AbortSignal;
  /** RATCHET_THREADS: the training threads this run may use (default: every core of the machine). */
  threads?: number;
  /** The GPUs of this run's slot: device nodes bound into /dev and CUDA_VISIBLE_DEVICES (src/sandbox/gpu.ts). */
  gpu?: { devices: { host: string; target: string }[]; env: Record<string, string> };
  /** Harness task: the host socket of this run's model proxy ({@link execute} starts it). */
  modelSocket?: string;
  /** Harness task: replay identical requests from the cache (default) or ask the model afresh (noise runs). */
  modelCache?: 'replay' | 'fresh';
}

/**
 * EXECUTE: run the contract's command in the sandbox with the train split and both holdouts' features
 * (read-only), the output folder writable, the vault absent, and the contract's limits.
 * The command sees RATCHET_TRAIN, RATCHET_PUBLIC, RATCHET_PRIVATE (CSV), RATCHET_TRAIN_PARQUET,
 * RATCHET_PUBLIC_PARQUET, RATCHET_PRIVATE_PARQUET (the same splits as Parquet, when `init` wrote them),
 * RATCHET_OUTPUT, RATCHET_SEED, RATCHET_THREADS (threads the command may use: the cores divided by the experiments
 * running at once),
 * RATCHET_CLASSES (JSON list, classification) and RATCHET_EXPERIMENT (paths inside the sandbox; host paths with --unsafe-no-sandbox),
 * and OMP_WAIT_POLICY / GOMP_SPINCOUNT only when Ratchet's own environment sets them (src/loop/openmp.ts).
 */
export async function execute(opts: ExecuteOptions): Promise<SandboxResult> {
  if (opts.contract.task !== 'harness') return runSandboxed(await executeSpec(opts));
  // A harness reaches its model only through this run's proxy: started here, closed when the sandbox is done, its
  // counts written to the run folder (host side: the sandbox cannot touch them).
  const session = await startModelSession(opts.contract, opts.runDir, opts.modelCache ?? 'replay');
  try {
    return await runSandboxed(await executeSpec({ ...opts, modelSocket: session.socketPath }));
  } finally {
    await session.close();
  }
}

/**
 * The sandbox spec of one EXECUTE (what {@link execute} runs): the command, the worktree, the split files and the
 * decoys bound read-only (host path → sandbox path), the output folder, the environment and the contract's
 * limits. The Ray executor ships exactly the files this spec binds, so both executors apply one policy.
 * @returns the spec; it plants the canary decoys (under `.ratchet/holdout/`) when they are missing
 * @throws Error when the split manifest cannot be read
 */
export async function executeSpec(opts: ExecuteOptions): Promise<SandboxSpec> {
  const { contract } = opts;
  // Canaries: decoy holdout labels at /data/.vault (never with --unsafe-no-sandbox: there is no /data).
  const decoys = opts.unsafeNoSandbox ? [] : await plantDecoys(contract, readManifest(contract.projectDir));
  const hostData = join(contract.projectDir, DATA_DIR);
  const unsafe = opts.unsafeNoSandbox;
  const dataPath = (f: string) => (unsafe ? join(hostData, f) : `${SANDBOX_DATA}/${f}`);
  // Projects initialized before the Parquet splits existed have only the CSV files.
  // (The holdouts' files are named *_features.parquet: never confused with the vault's label files.)
  const parquetFile = (n: string) => (n === 'train' ? 'train.parquet' : `${n}_features.parquet`);
  const parquet = ['train', 'public', 'private'].filter((n) => existsSync(join(hostData, parquetFile(n))));
  const model = contract.task === 'harness' ? harnessSandbox(contract, opts.modelSocket, unsafe) : null;
  return {
    argv: ['/bin/sh', '-c', model ? model.wrap(contract.run.command) : contract.run.command],
    workdir: opts.worktree,
    readOnly: [
      ...['train.csv', 'public.csv', 'private.csv', ...parquet.map(parquetFile)].map((f) => ({
        host: join(hostData, f),
        target: `${SANDBOX_DATA}/${f}`,
      })),
      ...decoys,
      ...(model?.binds ?? []),
    ],
    outputDir: opts.outputDir,
    env: {
      RATCHET_TRAIN: dataPath('train.csv'),
      RATCHET_PUBLIC: dataPath('public.csv'),
      RATCHET_PRIVATE: dataPath('private.csv'),
      ...Object.fromEntries(
        parquet.map((n) => [`RATCHET_${n.toUpperCase()}_PARQUET`, dataPath(parquetFile(n))]),
      ),
      RATCHET_OUTPUT: unsafe ? opts.outputDir : SANDBOX_OUTPUT,
      RATCHET_SEED: String(opts.seed),
      RATCHET_THREADS: String(opts.threads ?? availableParallelism()),
      // How OpenMP threads wait: the person's OMP_WAIT_POLICY / GOMP_SPINCOUNT when set, else the runtime's default
      // (forcing PASSIVE made LightGBM 14× slower on an idle machine; src/loop/openmp.ts).
      ...openmpWaitEnv(),
      RATCHET_EXPERIMENT: String(opts.experimentId),
      // Classification: every class of the target (the labels' names only, never which row has which).
      RATCHET_CLASSES: JSON.stringify(readManifest(contract.projectDir).classes ?? []),
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONUNBUFFERED: '1',
      ...(opts.gpu?.env ?? {}),
      ...(model?.env ?? {}),
    },
    ...(opts.gpu?.devices.length ? { devices: opts.gpu.devices } : {}),
    python: opts.python,
    timeoutMs: opts.timeoutMs,
    memoryBytes: contract.limits.memoryBytes,
    maxProcesses: contract.limits.maxProcesses,
    maxOutputBytes: contract.limits.diskBytes,
    network: contract.run.network,
    stdoutPath: join(opts.runDir, 'stdout.log'),
    stderrPath: join(opts.runDir, 'stderr.log'),
    ...(opts.signal ? { signal: opts.signal } : {}),
    unsafeNoSandbox: unsafe,
  };
}

/**
 * The Ray executor (docs/ARCHITECTURE.md, "Ray executor"): every training run is a Ray job submitted through the
 * Jobs REST API. The job's package is the allowlist of `package.ts`; on the worker Ratchet's entry script runs
 * the command under bubblewrap with the local sandbox's command line; the output folder comes back through the
 * job's logs (`channel.ts`) and is scored here, on the orchestrator, like a local run's.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import type { RayExecutorDoc } from '../contract/schema.js';
import { VAULT_DIR } from '../data/ingest.js';
import { executeSpec } from '../loop/execute.js';
import { type ExecuteJob, type Executor, executeOptions } from '../loop/executor.js';
import { sanitizeOutput } from '../sandbox/output.js';
import { MAX_LOG_BYTES, type PythonRuntime, type SandboxResult, type SandboxSpec } from '../sandbox/types.js';
import { RatchetError } from '../util/errors.js';
import { packageDir } from '../util/paths.js';
import { formatDuration, parseBytes, parseDuration } from '../util/units.js';
import { type ChannelError, JobLog, unpackOutput } from './channel.js';
import {
  buildJobPackage,
  DATA_MARKER,
  ENTRY_SCRIPT,
  type JobPackage,
  PLACEHOLDERS,
  trackedFiles,
} from './package.js';
import { type JobDetails, RayApiError, RayJobsClient, rayToken, TERMINAL } from './ray-client.js';

/** The `executor` section of a contract with kind `ray`, in machine units. */
export interface RayConfig {
  /** The dashboard's address (Jobs REST API), without a trailing slash. */
  address: string;
  /** The environment variable holding the auth token. */
  tokenEnv: string;
  /** CPUs each job reserves (entrypoint_num_cpus). */
  numCpus: number;
  /** bubblewrap on the workers (a name or an absolute path). */
  bwrap: string;
  /** Cap on the output folder sent back through the logs, bytes. */
  maxOutputBytes: number;
  /** How long a job may stay PENDING, ms. */
  startTimeoutMs: number;
}

/**
 * The contract's Ray section in machine units.
 * @throws RatchetError naming the field for a size or duration that does not parse
 */
export function rayConfig(doc: RayExecutorDoc): RayConfig {
  const parse = <T>(field: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      throw new RatchetError((e as Error).message, {
        field: `executor.${field}`,
        hint: 'e.g. 256MiB for sizes, 5m for durations',
      });
    }
  };
  return {
    address: doc.address.replace(/\/+$/, ''),
    tokenEnv: doc.token_env,
    numCpus: doc.num_cpus,
    bwrap: doc.bwrap,
    maxOutputBytes: parse('max_output', () => parseBytes(doc.max_output)),
    startTimeoutMs: parse('start_timeout', () => parseDuration(doc.start_timeout)),
  };
}

/** Timings of the executor's polling, ms (tests shorten nothing: these are the real values). */
const POLL_FAST_MS = 100;
const POLL_MS = 1000;
/** How long a submit answered with a server error (5xx, e.g. no job agent yet) is retried, ms. */
const SUBMIT_RETRY_MS = 30_000;
/** Polls stay fast for this long after a submit (short jobs end sooner), ms. */
const FAST_PHASE_MS = 10_000;
/** After a stop, how long the job may take to reach a terminal status, ms. */
const STOP_VERIFY_MS = 30_000;
/** How long the cluster may stay unreachable while a job runs before the run is given up, ms. */
const LOST_CONTACT_MS = 60_000;
/** Wall clock of the probe job, ms. */
const PROBE_TIMEOUT_MS = 120_000;

/** What the probe job found (docs/ARCHITECTURE.md, "Ray executor"). */
export interface ProbeReport {
  /** The worker the probe ran on. */
  host: string;
  /** One line for `ratchet check`. */
  summary: string;
  /** Check name → what happened (`ok` true: the attempt succeeded). */
  mustFail: Record<string, { ok: boolean; error?: string }>;
  mustWork: Record<string, { ok: boolean; error?: string }>;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** A log file on the orchestrator, kept up to {@link MAX_LOG_BYTES} with a note past it (as the local sandbox's). */
class CappedFile {
  private fd: number;
  private written = 0;
  private dropped = 0;
  constructor(
    path: string,
    private readonly name: string,
  ) {
    this.fd = openSync(path, 'w', 0o644);
  }
  write(text: string): void {
    const b = Buffer.from(text);
    const room = MAX_LOG_BYTES - this.written;
    if (room > 0) {
      const part = b.length <= room ? b : b.subarray(0, room);
      writeSync(this.fd, part);
      this.written += part.length;
    }
    this.dropped += Math.max(0, b.length - Math.max(room, 0));
  }
  close(): void {
    if (this.fd < 0) return;
    if (this.dropped > 0) {
      writeSync(
        this.fd,
        `\n[ratchet: ${this.name} truncated after ${MAX_LOG_BYTES} bytes; ${this.dropped} more bytes dropped]\n`,
      );
    }
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** One job to run: its package, where its logs and output go, its limits. */
interface RemoteJob {
  pkg: JobPackage;
  spec: SandboxSpec;
  runDir: string;
  outputDir: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** A short label in the submission id, e.g. `e12-s0` or `probe`. */
  label: string;
  /** Extra entries of the job's metadata. */
  metadata: Record<string, string>;
  /** GPUs the job reserves (entrypoint_num_gpus; 0 or absent: none). */
  gpus?: number;
}

/**
 * Runs every job on a Ray cluster. Construction never throws (a session builds it before anything can be
 * reported); a bad configuration is reported by {@link RayExecutor.prepare} and by every run.
 */
export class RayExecutor implements Executor {
  /** Data packages the cluster holds (uploaded or found there): never asked for again in this run. */
  private readonly uploaded = new Set<string>();
  readonly kind = 'ray' as const;
  /** `ray:<host:port>:<concurrent>x<num_cpus>`. */
  readonly slotClass: string;
  /** RATCHET_THREADS of each job: the whole part of `executor.num_cpus`, at least 1. */
  readonly threads: number;
  private readonly config: RayConfig | null;
  private readonly configError: RatchetError | null;
  private prepared: Promise<ProbeReport> | null = null;

  /**
   * @param contract the project's contract (the probe builds its cage from it)
   * @param python the interpreter the command runs with; the same path must exist on the workers
   * @param config the executor's settings, or the error that parsing them gave (reported at {@link prepare})
   * @param concurrent jobs submitted at once (parallel directions); recorded in the slot class
   * @param opts.devDir tests only: where the entry script looks for the worker's NVIDIA device nodes (default
   *   `/dev`; tests give a folder of stand-ins). Written into the job's spec, which only the orchestrator writes.
   */
  constructor(
    private readonly contract: Contract,
    private readonly python: PythonRuntime,
    config: RayConfig | RatchetError,
    concurrent = 1,
    private readonly opts: { devDir?: string } = {},
  ) {
    this.config = config instanceof RatchetError ? null : config;
    this.configError = config instanceof RatchetError ? config : null;
    const cpus = this.config?.numCpus ?? 1;
    this.threads = Math.max(1, Math.floor(cpus));
    let host = 'unknown';
    try {
      host = new URL(this.config?.address ?? '').host;
    } catch {
      // reported by prepare()
    }
    this.slotClass = `ray:${host}:${Math.max(1, concurrent)}x${cpus}`;
  }

  private client(): RayJobsClient {
    const c = this.config!;
    return new RayJobsClient({ address: c.address, token: rayToken(c.tokenEnv) });
  }

  /**
   * Check that the cluster answers and that its workers keep the cage: a probe job runs Ratchet's probe in the
   * same sandbox as an experiment and must fail to read outside it and to reach the network, and must read the
   * split files and send its output back. Runs once per executor (later calls return the same answer).
   * @returns what the probe found
   * @throws RatchetError naming the contract field (`executor.kind`, `executor.address`, ...) and the fix
   */
  prepare(signal?: AbortSignal): Promise<ProbeReport> {
    this.prepared ??= this.probe(signal);
    return this.prepared;
  }

  private async probe(signal?: AbortSignal): Promise<ProbeReport> {
    if (this.configError) throw this.configError;
    const c = this.config!;
    const client = this.client();
    try {
      await client.version();
    } catch (e) {
      const auth = e instanceof RayApiError && (e.status === 401 || e.status === 403);
      throw new RatchetError(`cannot reach the Ray cluster at ${c.address}: ${(e as Error).message}`, {
        field: auth ? 'executor.token_env' : 'executor.address',
        hint: auth
          ? `put the cluster's token in $${c.tokenEnv} (ray get-auth-token), or in ~/.ray/auth_token`
          : 'start the head (ray start --head --dashboard-host=127.0.0.1) or fix executor.address; or run locally: ratchet run --executor local',
      });
    }
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-ray-probe-'));
    try {
      const outputDir = join(dir, 'output');
      mkdirSync(outputDir);
      const base = await executeSpec({
        contract: this.contract,
        worktree: join(packageDir(), 'python'),
        runDir: dir,
        outputDir,
        python: this.python,
        timeoutMs: PROBE_TIMEOUT_MS,
        seed: 0,
        experimentId: 0,
        unsafeNoSandbox: false,
        threads: 1,
      });
      const url = new URL(c.address);
      const spec: SandboxSpec = {
        ...base,
        argv: ['python', 'ray_probe.py'],
        network: false,
        env: {
          ...base.env,
          RATCHET_PROBE_OUTSIDE: PLACEHOLDERS.outside,
          RATCHET_PROBE_ENTRY: `${PLACEHOLDERS.job}/${ENTRY_SCRIPT}`,
          RATCHET_PROBE_GCS: PLACEHOLDERS.rayAddress,
          RATCHET_PROBE_DASHBOARD: `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`,
          RATCHET_PROBE_VAULT: join(this.contract.projectDir, VAULT_DIR, 'public.parquet'),
        },
      };
      const pkg = buildJobPackage({ spec, projectDir: this.contract.projectDir, files: ['ray_probe.py'] });
      const { result: r, host } = await this.runRemote({
        pkg,
        spec,
        runDir: dir,
        outputDir,
        timeoutMs: PROBE_TIMEOUT_MS,
        ...(signal ? { signal } : {}),
        label: 'probe',
        metadata: { ratchet: 'probe' },
      });
      const fix = (why: string) =>
        new RatchetError(`the Ray workers cannot sandbox experiments: ${why}`, {
          field: 'executor.kind',
          hint: `install bubblewrap on every Ray worker node (apt-get install bubblewrap; executor.bwrap names another path) where it can create namespaces (a VM, or a container run with seccomp=unconfined), with the project's Python at ${this.python.executable}; or run on this machine: executor.kind: local in ratchet.yaml, or ratchet run --executor local`,
        });
      const probePath = join(outputDir, 'probe.json');
      if (r.status !== 'ok' || !existsSync(probePath)) {
        const err = readFileSync(join(dir, 'stderr.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
        throw fix(
          `the probe job did not run in the sandbox: ${r.message}${err ? ` (${err.slice(0, 600)})` : ''}`,
        );
      }
      const report = JSON.parse(readFileSync(probePath, 'utf8')) as {
        hostname: string;
        cap_eff: string | null;
        no_new_privs: string | null;
        env: string[];
        must_fail: Record<string, { ok: boolean; error?: string }>;
        must_work: Record<string, { ok: boolean; error?: string }>;
      };
      const escaped = Object.entries(report.must_fail).filter(([, v]) => v.ok);
      if (escaped.length > 0)
        throw fix(`the probe escaped the sandbox: ${escaped.map(([k]) => k).join(', ')}`);
      const broken = Object.entries(report.must_work).filter(([, v]) => !v.ok);
      if (broken.length > 0) {
        throw fix(
          `the sandbox on the worker is incomplete: ${broken.map(([k, v]) => `${k} (${v.error})`).join(', ')}`,
        );
      }
      if (report.cap_eff !== null && !/^0+$/.test(report.cap_eff))
        throw fix(`capabilities were not dropped (CapEff ${report.cap_eff})`);
      if (report.no_new_privs !== null && report.no_new_privs !== '1') throw fix('no_new_privs is not set');
      const leaked = report.env.filter(
        (k) => k.startsWith('RAY') || k === c.tokenEnv || k === 'RATCHET_NONCE' || k === 'RATCHET_JOB',
      );
      if (leaked.length > 0) throw fix(`the job's environment reached the sandbox: ${leaked.join(', ')}`);
      return {
        host: host ?? 'a worker',
        summary: `ray at ${c.address}: the probe job on ${host} proved the cage (${Object.keys(report.must_fail).length} escapes refused: reads outside the sandbox, network, writes to the tree; capabilities dropped)`,
        mustFail: report.must_fail,
        mustWork: report.must_work,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Run one training job on the cluster; resolves (never rejects) with a SandboxResult: the worker's status of
   * the command, `timeout` or `aborted` when Ratchet stopped the job (verified through the REST API), or
   * `sandbox_error` when the cluster, the probe or the output channel failed.
   */
  async run(job: ExecuteJob): Promise<SandboxResult> {
    const start = performance.now();
    const fail = (message: string): SandboxResult => {
      for (const f of ['stdout.log', 'stderr.log']) {
        if (!existsSync(join(job.runDir, f))) closeSync(openSync(join(job.runDir, f), 'w'));
      }
      return {
        status: 'sandbox_error',
        exitCode: null,
        signal: null,
        wallMs: Math.round(performance.now() - start),
        sandboxed: true,
        message,
      };
    };
    try {
      await this.prepare(job.signal);
    } catch (e) {
      return fail(`the Ray executor is not usable: ${(e as Error).message}`);
    }
    let spec: SandboxSpec;
    let pkg: JobPackage;
    try {
      // The worker runs the spec the local executor would (without the kill switch: Ratchet stops the job itself).
      const { signal: _signal, ...local } = job;
      spec = await executeSpec(executeOptions(local, this.python, false, this.threads));
      pkg = buildJobPackage({
        spec,
        projectDir: job.contract.projectDir,
        files: await trackedFiles(job.worktree),
        gpus: job.contract.resources.gpus,
      });
    } catch (e) {
      return fail(`could not build the Ray job's package: ${(e as Error).message}`);
    }
    const { result } = await this.runRemote({
      pkg,
      spec,
      runDir: job.runDir,
      outputDir: job.outputDir,
      timeoutMs: job.timeoutMs,
      ...(job.signal ? { signal: job.signal } : {}),
      label: `e${job.experimentId}-s${job.seed}`,
      gpus: job.contract.resources.gpus,
      metadata: { ratchet: 'experiment', experiment: String(job.experimentId), seed: String(job.seed) },
    });
    return result;
  }

  /**
   * Upload, submit, follow, stop when asked, and read the result and output back. Never throws.
   * @returns the result, and the worker's host name when the entry script started
   */
  private async runRemote(j: RemoteJob): Promise<{ result: SandboxResult; host: string | null }> {
    const c = this.config!;
    const start = performance.now();
    const stdout = new CappedFile(join(j.runDir, 'stdout.log'), 'stdout');
    const stderr = new CappedFile(join(j.runDir, 'stderr.log'), 'stderr');
    let hostOf = (): string | null => null;
    const done = (
      status: SandboxResult['status'],
      message: string,
      extra: Partial<SandboxResult> = {},
    ): { result: SandboxResult; host: string | null } => {
      stdout.close();
      stderr.close();
      return {
        result: {
          status,
          exitCode: null,
          signal: null,
          sandboxed: true,
          ...extra,
          wallMs: Math.round(performance.now() - start),
          message,
        },
        host: hostOf(),
      };
    };
    if (j.signal?.aborted) return done('aborted', 'aborted by the kill switch before it started');
    const client = this.client();
    try {
      // The data package is the same for every job of a split: once the cluster has it, it is never sent again.
      for (const z of [j.pkg, ...(j.pkg.data ? [j.pkg.data] : [])]) {
        if (this.uploaded.has(z.name)) continue;
        if (!(await client.hasPackage(z.name))) await client.uploadPackage(z.name, z.zip);
        if (z === j.pkg.data) this.uploaded.add(z.name);
      }
    } catch (e) {
      return done(
        'sandbox_error',
        `could not upload the job's package to the Ray cluster: ${(e as Error).message}`,
      );
    }
    const nonce = randomBytes(16).toString('hex');
    const id = `ratchet-${this.contract.name.slice(0, 40)}-${j.label}-${nonce.slice(0, 12)}`;
    const jobSpec = {
      bwrap_path: c.bwrap,
      bwrap: j.pkg.cage.bwrap,
      inner: j.pkg.cage.inner,
      seccomp: j.pkg.cage.seccomp,
      timeout_ms: j.timeoutMs,
      memory_bytes: j.spec.memoryBytes ?? this.contract.limits.memoryBytes,
      max_tasks: j.spec.maxProcesses ?? this.contract.limits.maxProcesses,
      max_disk_bytes: j.spec.maxOutputBytes ?? this.contract.limits.diskBytes,
      max_output_bytes: Math.min(c.maxOutputBytes, j.spec.maxOutputBytes ?? c.maxOutputBytes),
      max_log_bytes: MAX_LOG_BYTES,
      // What the data package must hold (the entry script finds its folder on PYTHONPATH by its marker).
      data_files: j.pkg.data ? j.pkg.data.entries.filter((e) => e !== DATA_MARKER) : [],
      // GPUs: the entry script binds the device nodes of the ones Ray assigned the job (CUDA_VISIBLE_DEVICES).
      ...(j.gpus ? { gpus: j.gpus } : {}),
      ...(j.gpus && this.opts.devDir ? { dev_dir: this.opts.devDir } : {}),
    };
    const jobLog = new JobLog({
      nonce,
      onStdout: (t) => stdout.write(t),
      onStderr: (t) => stderr.write(t),
      maxPayloadBytes: jobSpec.max_output_bytes,
    });
    hostOf = () => jobLog.start?.host ?? null;
    // Whole-log cap: both streams at their cap (with tags), the payload in base64, and room for Ray's lines.
    const maxLogBytes = 2 * MAX_LOG_BYTES + Math.ceil((jobSpec.max_output_bytes * 4) / 3) + 8 * 1024 * 1024;
    // A head that just started (or an agent restarting) answers HTTP 500 "No available agent to submit job" for a
    // while: the submit is retried (the submission id makes a retry unable to start a second job).
    const submitBy = performance.now() + SUBMIT_RETRY_MS;
    while (true) {
      try {
        await client.submit({
          entrypoint: `${shellQuote(this.python.executable)} -I ${ENTRY_SCRIPT}`,
          submission_id: id,
          runtime_env: {
            working_dir: `gcs://${j.pkg.name}`,
            ...(j.pkg.data ? { py_modules: [`gcs://${j.pkg.data.name}`] } : {}),
            env_vars: { RATCHET_JOB: JSON.stringify(jobSpec), RATCHET_NONCE: nonce },
          },
          entrypoint_num_cpus: c.numCpus,
          ...(j.gpus ? { entrypoint_num_gpus: j.gpus } : {}),
          metadata: { ...j.metadata, package: j.pkg.sha256.slice(0, 16) },
        });
        break;
      } catch (e) {
        const transient = e instanceof RayApiError && e.status !== null && e.status >= 500;
        if (!transient || performance.now() > submitBy || j.signal?.aborted)
          return done('sandbox_error', `could not submit the Ray job: ${(e as Error).message}`);
        await sleep(500, j.signal);
      }
    }
    const submitted = performance.now();
    let runningSince: number | null = null;
    /** Why and when Ratchet stopped the job (null while it has not). */
    const halt: { why: { status: SandboxResult['status']; message: string; at: number } | null } = {
      why: null,
    };
    let lastContact = performance.now();
    let details: JobDetails | null = null;
    const stop = async (status: SandboxResult['status'], message: string) => {
      if (halt.why) return;
      halt.why = { status, message, at: performance.now() };
      await client.stop(id).catch(() => undefined);
    };
    const onAbort = () => void stop('aborted', 'killed by the kill switch');
    j.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (true) {
        const elapsed = performance.now() - submitted;
        await sleep(elapsed < FAST_PHASE_MS ? POLL_FAST_MS : POLL_MS, halt.why ? undefined : j.signal);
        if (j.signal?.aborted) await stop('aborted', 'killed by the kill switch');
        try {
          details = await client.job(id);
          lastContact = performance.now();
        } catch (e) {
          if (performance.now() - lastContact > LOST_CONTACT_MS) {
            await stop('sandbox_error', `lost contact with the Ray cluster: ${(e as Error).message}`);
            return done(
              'sandbox_error',
              `lost contact with the Ray cluster for ${formatDuration(LOST_CONTACT_MS)} while job ${id} ran: ${(e as Error).message}`,
            );
          }
          continue;
        }
        const terminal = TERMINAL.has(details.status);
        if (details.status !== 'PENDING') {
          runningSince ??= performance.now();
          try {
            jobLog.feed(await client.logs(id, maxLogBytes), terminal);
          } catch (e) {
            await stop('sandbox_error', `the job's log could not be read: ${(e as Error).message}`);
          }
        }
        if (terminal) break;
        const now = performance.now();
        const stopped = halt.why;
        if (stopped) {
          if (now - stopped.at > STOP_VERIFY_MS) {
            return done(
              stopped.status,
              `${stopped.message}; but the Ray job ${id} was still ${details.status} ${formatDuration(STOP_VERIFY_MS)} after it was stopped`,
            );
          }
        } else if (runningSince !== null && now - runningSince > j.timeoutMs) {
          await stop('timeout', `killed after ${fmtSeconds(j.timeoutMs)} wall-clock timeout`);
        } else if (runningSince === null && now - submitted > c.startTimeoutMs) {
          await stop(
            'sandbox_error',
            `the Ray cluster did not start the job within ${formatDuration(c.startTimeoutMs)} (executor.start_timeout)`,
          );
        }
      }
    } finally {
      j.signal?.removeEventListener('abort', onAbort);
    }
    const final = details!;
    const where = jobLog.start ? ` on ${jobLog.start.host}` : '';
    const total = () => formatDuration(performance.now() - start);
    const s = halt.why;
    if (s) {
      return done(
        s.status,
        `${s.message} (Ray job ${id}${where} ${final.status.toLowerCase()} in ${formatDuration(performance.now() - s.at)})`,
      );
    }
    const r = jobLog.result;
    if (!r) {
      for (const l of jobLog.other.slice(-40)) stderr.write(`${l}\n`);
      const why = jobLog.problem ? `; ${jobLog.problem.message}` : '';
      return done(
        'sandbox_error',
        `the Ray job ${id} ended ${final.status}${where} without a result from Ratchet's entry script: ${(final.message ?? '').slice(0, 300)}${why}`,
      );
    }
    const ranFor = `Ray job ${id}${where}: ${formatDuration(r.wallMs)} in the sandbox, ${total()} in all`;
    const extra = { exitCode: r.exitCode, signal: r.signal, ...(r.tree ? { tree: r.tree } : {}) };
    if (r.status !== 'ok') return done(r.status, `${r.message} (${ranFor})`, extra);
    if (jobLog.problem) {
      return done(
        jobLog.problem.oversize ? 'output_limit' : 'sandbox_error',
        `the output channel refused the job's output: ${jobLog.problem.message} (${ranFor})`,
        extra,
      );
    }
    if (!jobLog.payload)
      return done('sandbox_error', `the job ended without sending its output (${ranFor})`, extra);
    try {
      unpackOutput(jobLog.payload, j.outputDir, jobSpec.max_output_bytes);
    } catch (e) {
      const err = e as ChannelError;
      rmSync(j.outputDir, { recursive: true, force: true });
      mkdirSync(j.outputDir, { recursive: true });
      return done(
        err.oversize ? 'output_limit' : 'sandbox_error',
        `the output channel refused the job's output: ${err.message} (${ranFor})`,
        extra,
      );
    }
    const removed = await sanitizeOutput(j.outputDir);
    const note =
      removed.length > 0 ? `; removed ${removed.length} symlink/special file(s) from the output folder` : '';
    return done('ok', `${r.message}${note} (${ranFor})`, extra);
  }
}

/** Seconds as the local sandbox writes them in its messages (`5 s`, `2.5 s`). */
function fmtSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** Quote a word for the POSIX shell Ray runs the entrypoint with. */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

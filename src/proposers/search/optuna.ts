/**
 * Client of `python/optuna_helper.py`: one long-lived Python process holding one Optuna study,
 * spoken to in JSON lines (one request at a time, a timeout per request).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Direction } from '../types.js';
import type { SearchSpace } from './space.js';

/** How to start an {@link OptunaSession}. */
export interface OptunaSessionOptions {
  /** Python interpreter with optuna installed (e.g. the project's `.venv/bin/python`). */
  python: string;
  /** SQLite file of the study; created if absent, resumed if present. */
  storagePath: string;
  /** Name of the study inside the storage. */
  studyName: string;
  /** Whether a higher (maximize) or lower (minimize) value is better. */
  direction: Direction;
  /** Seed of the TPE sampler (same seed + same requests ⇒ same proposals). */
  seed: number;
  /** The validated search space. */
  space: SearchSpace;
  /**
   * This session's place among the sessions sharing the study (parallel directions), 0-based: worker 0 opens the
   * study first and alone fails trials a crashed process left RUNNING; the others derive their own sampler seed.
   */
  worker?: number;
  /** TPE's constant liar (running trials count as bad ones), for workers sharing a study. */
  constantLiar?: boolean;
  /** Path of optuna_helper.py; defaults to the one shipped in Ratchet's `python/` folder. */
  helperPath?: string;
  /** Longest wait for one reply, in milliseconds (default 120 s). */
  requestTimeoutMs?: number;
  /** Longest wait for the helper to start and open the study, in milliseconds (default 120 s). */
  startTimeoutMs?: number;
}

/** A trial handed out by {@link OptunaSession.ask}. */
export interface AskedTrial {
  /** Optuna trial number (0-based, unique within the study). */
  trial: number;
  /** The trial's params, nested like the search space. */
  params: Record<string, unknown>;
  /** The params were enqueued (e.g. the baseline's) rather than sampled. */
  enqueued: boolean;
  /** The params were sampled at random (TPE's start-up phase). */
  startup: boolean;
  /** Trials finished (complete or pruned) before this one was asked. */
  finished: number;
}

/** Counts of the study's trials. */
export interface StudyInfo {
  study: string;
  n_trials: number;
  n_complete: number;
  n_fail: number;
  n_running: number;
  n_waiting: number;
}

/** What {@link OptunaSession.start} found in the storage. */
export interface StudyOpened extends StudyInfo {
  /** The storage already held trials of this study. */
  resumed: boolean;
  /** Trials a previous helper left RUNNING, now marked failed. */
  failed_stale: number;
  /** Seed the sampler actually uses (derived from the seed and the stored trial count on resume). */
  sampler_seed: number;
}

/** The best completed trial. */
export interface BestTrial {
  trial: number;
  value: number;
  params: Record<string, unknown>;
}

/** The best completed trial of one value of a grouping parameter (e.g. one model family), from {@link OptunaSession.top}. */
export interface GroupBest extends BestTrial {
  /** The grouping parameter's value, as its choice key (`lightgbm`, `true`, `null`). */
  group: string;
  /** Wall-clock seconds from the trial's ask to its tell (in Ratchet: its whole experiment), null when unknown. */
  seconds: number | null;
}

/** Result of {@link OptunaSession.enqueue}. */
export interface EnqueueResult {
  /** Optuna names and values that were enqueued. */
  enqueued: Record<string, unknown>;
  /** Values left to the sampler because they are outside the space, with the reason. */
  skipped: string[];
}

/** The helper failed: it could not start, answered an error, timed out or died. */
export class OptunaHelperError extends Error {
  /** The last lines the helper wrote to stderr (may be empty). */
  readonly stderrTail: string;

  constructor(message: string, stderrTail = '') {
    super(stderrTail ? `${message}\n--- optuna helper stderr (last lines) ---\n${stderrTail}` : message);
    this.name = 'OptunaHelperError';
    this.stderrTail = stderrTail;
  }
}

const DEFAULT_TIMEOUT_MS = 120_000;
const STDERR_KEEP = 8_000;
const STDERR_TAIL_LINES = 25;

/** Locate `python/optuna_helper.py` by walking up from this module (works from src/ and dist/). */
export function defaultHelperPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'python', 'optuna_helper.py');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new OptunaHelperError("cannot find python/optuna_helper.py in Ratchet's installation");
}

interface Pending {
  op: string;
  resolve: (value: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One Optuna study behind a helper process. Requests are queued and sent one at a time. */
export class OptunaSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly timeoutMs: number;
  private stderr = '';
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private exit: string | null = null;
  private readonly exited: Promise<void>;
  private closing = false;
  /** What the helper reported when it opened the study. */
  opened!: StudyOpened;

  private constructor(child: ChildProcessWithoutNullStreams, timeoutMs: number) {
    this.child = child;
    this.timeoutMs = timeoutMs;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });
    child.stdin.on('error', () => {
      // EPIPE when the helper died; the 'close' handler reports it with the helper's stderr.
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.onLine(line));
    this.exited = new Promise((done) => {
      child.on('error', (err) => {
        this.onExit(`could not be started (${err.message})`);
        done();
      });
      child.on('close', (code, signal) => {
        this.onExit(signal ? `was killed by ${signal}` : `exited with code ${code}`);
        done();
      });
    });
  }

  /**
   * Spawn the helper and open (or resume) the study.
   * @throws OptunaHelperError when Python or Optuna is missing, or the study cannot be opened
   */
  static async start(opts: OptunaSessionOptions): Promise<OptunaSession> {
    const helper = opts.helperPath ?? defaultHelperPath();
    const child = spawn(opts.python, ['-u', helper], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    });
    const session = new OptunaSession(child, opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      const reply = await session.request(
        {
          op: 'init',
          storage: resolve(opts.storagePath),
          study: opts.studyName,
          direction: opts.direction,
          seed: opts.seed,
          space: opts.space.space,
          worker: opts.worker ?? 0,
          constant_liar: opts.constantLiar ?? false,
        },
        opts.startTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      session.opened = reply as unknown as StudyOpened;
    } catch (err) {
      const refused = session.alive; // the helper answered an error; otherwise it could not start or died
      await session.close();
      const why = err instanceof Error ? err.message : String(err);
      const fix = refused
        ? ''
        : '\nfix: point the search proposer at a Python with optuna installed (pip install -r python/requirements.txt)';
      throw new OptunaHelperError(
        `cannot open Optuna study '${opts.studyName}' with ${opts.python} ${helper}: ${why}${fix}`,
      );
    }
    return session;
  }

  /** Process id of the helper (for diagnostics), undefined once it could not start. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the helper process is still running. */
  get alive(): boolean {
    return this.exit === null;
  }

  /** Ask TPE for the next trial (an enqueued one first, if any). */
  async ask(): Promise<AskedTrial> {
    const r = await this.request({ op: 'ask' });
    return {
      trial: r.trial as number,
      params: r.params as Record<string, unknown>,
      enqueued: Boolean(r.enqueued),
      startup: Boolean(r.startup),
      finished: Number(r.finished ?? 0),
    };
  }

  /** Report a trial's value; `null` (or a non-finite number) marks the trial failed. */
  async tell(trial: number, value: number | null): Promise<void> {
    if (value === null || !Number.isFinite(value)) {
      await this.request({ op: 'tell', trial, state: 'fail' });
    } else {
      await this.request({ op: 'tell', trial, value });
    }
  }

  /** Enqueue params (nested like the space) to be the next asked trial; values outside the space are left to the sampler. */
  async enqueue(params: Record<string, unknown>): Promise<EnqueueResult> {
    const r = await this.request({ op: 'enqueue', params });
    return { enqueued: r.enqueued as Record<string, unknown>, skipped: r.skipped as string[] };
  }

  /** The best completed trial, or null before any trial completed. */
  async best(): Promise<BestTrial | null> {
    const r = await this.request({ op: 'best' });
    if (r.trial === null || r.trial === undefined) return null;
    return {
      trial: r.trial as number,
      value: r.value as number,
      params: r.params as Record<string, unknown>,
    };
  }

  /**
   * The best completed trial of each value of the top-level parameter `by` (e.g. `model`: the best of each model
   * family), best first in the study's direction; empty before any trial completed.
   */
  async top(by: string): Promise<GroupBest[]> {
    const r = await this.request({ op: 'top', by });
    return (r.trials as GroupBest[]).map((t) => ({
      trial: t.trial,
      value: t.value,
      params: t.params,
      group: t.group,
      seconds: typeof t.seconds === 'number' ? t.seconds : null,
    }));
  }

  /** Counts of the study's trials. */
  async info(): Promise<StudyInfo> {
    const { ok: _ok, ...rest } = await this.request({ op: 'info' });
    return rest as unknown as StudyInfo;
  }

  /** Stop the helper (politely, then by force). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closing) {
      await this.exited;
      return;
    }
    this.closing = true;
    if (this.exit === null) {
      if (this.pending === null) {
        try {
          this.child.stdin.end(`${JSON.stringify({ op: 'close' })}\n`);
        } catch {
          // already gone
        }
      } else {
        this.child.kill('SIGTERM');
      }
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  private stderrTail(): string {
    return this.stderr.trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
  }

  private request(
    req: Record<string, unknown>,
    timeoutMs = this.timeoutMs,
  ): Promise<Record<string, unknown>> {
    const run = (): Promise<Record<string, unknown>> =>
      new Promise((resolvePromise, rejectPromise) => {
        const op = String(req.op);
        if (this.exit !== null) {
          rejectPromise(
            new OptunaHelperError(`Optuna helper ${this.exit}; cannot send "${op}"`, this.stderrTail()),
          );
          return;
        }
        if (this.closing && op !== 'close') {
          rejectPromise(new OptunaHelperError(`Optuna session is closed; cannot send "${op}"`));
          return;
        }
        const timer = setTimeout(() => {
          this.pending = null;
          this.child.kill('SIGKILL');
          rejectPromise(
            new OptunaHelperError(
              `Optuna helper did not answer "${op}" within ${Math.round(timeoutMs / 1000)} s; it was killed`,
              this.stderrTail(),
            ),
          );
        }, timeoutMs);
        this.pending = { op, resolve: resolvePromise, reject: rejectPromise, timer };
        this.child.stdin.write(`${JSON.stringify(req)}\n`);
      });
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    const pending = this.pending;
    if (pending === null) return; // a late reply to a request that timed out
    this.pending = null;
    clearTimeout(pending.timer);
    let reply: Record<string, unknown>;
    try {
      reply = JSON.parse(line) as Record<string, unknown>;
    } catch {
      pending.reject(
        new OptunaHelperError(
          `Optuna helper wrote a line that is not JSON: ${line.slice(0, 200)}`,
          this.stderrTail(),
        ),
      );
      return;
    }
    if (reply.ok === true) pending.resolve(reply);
    else
      pending.reject(new OptunaHelperError(`Optuna helper refused "${pending.op}": ${String(reply.error)}`));
  }

  private onExit(how: string): void {
    if (this.exit !== null) return;
    this.exit = how;
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      clearTimeout(pending.timer);
      pending.reject(
        new OptunaHelperError(`Optuna helper ${how} while answering "${pending.op}"`, this.stderrTail()),
      );
    }
  }
}

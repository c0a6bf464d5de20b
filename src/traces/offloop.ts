/**
 * Trace queries (SQL over the journal, grep over the traces) OFF the orchestrator's event loop. A SQLite
 * statement or a scan of large files runs synchronously and never yields, and a worker thread cannot be ended
 * while better-sqlite3 runs a statement (`worker.terminate()` waits for it), so queries run in a warm child
 * process (child.ts) that is killed with SIGKILL when a query runs over its time limit, its memory cap (resident
 * memory polled every 50 ms; V8's heap is capped too) or the caller's abort signal. The process also starts under
 * a data-segment limit (RLIMIT_DATA), so an allocation past the cap fails inside it however fast it grows.
 * Meanwhile the event loop keeps answering: `get_status`, `ratchet stop`, SIGTERM. One query runs at a time;
 * others wait their turn.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guardrail } from '../guardrails/registry.js';
import { RatchetError } from '../util/errors.js';
import { packageDir } from '../util/paths.js';
import type { ChildAnswer, ChildRequest } from './child.js';
import type { GrepQuery, GrepResult } from './grep.js';
import { memoryLimitMessage, QUERY_LIMITS } from './limits.js';
import type { SqlResult } from './sql.js';

export { QUERY_LIMITS } from './limits.js';

/** The guardrail these limits enforce. */
const LIMITS_ID = guardrail('query-limits').id;

/** How to run one query. */
export interface OffLoopOptions {
  /** Time limit, ms (default 5 s, at most 30 s). */
  timeoutMs?: number;
  /** Stops the query (kills its process) when it fires. */
  signal?: AbortSignal;
}

/** The time limit to use for a requested one, ms: the default when absent, clamped to [100 ms, the ceiling]. */
export function queryTimeout(ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return QUERY_LIMITS.defaultTimeoutMs;
  return Math.max(100, Math.min(Math.floor(ms), QUERY_LIMITS.maxTimeoutMs));
}

/** Where the compiled child script is (beside this module when compiled; in dist/ when run from source). */
function childScript(): string {
  const here = fileURLToPath(new URL('./child.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = join(packageDir(), 'dist', 'src', 'traces', 'child.js');
  if (existsSync(built)) return built;
  throw new RatchetError('the query process script is missing (dist/src/traces/child.js)', {
    hint: 'build Ratchet first: npm run build',
    exitCode: 1,
  });
}

/** Resident memory of a process, MB (0 when it is gone). */
function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return (pages * 4096) / (1024 * 1024);
  } catch {
    return 0;
  }
}

type Request = ChildRequest extends infer R ? (R extends ChildRequest ? Omit<R, 'id'> : never) : never;

/** A warm query process and its queue. Use the shared one through {@link journalQuery} / {@link traceGrep}. */
export class QueryRunner {
  private child: ChildProcess | null = null;
  /** How often the query process's resident memory is read, ms. */
  private readonly pollMs: number;
  /** Resolves when the child has loaded (its start does not count against a query's time limit). */
  private ready: Promise<void> = Promise.resolve();
  private stderrTail = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param opts.pollMs how often to read the query process's resident memory, ms (default
   *   {@link QUERY_LIMITS.pollMs}); the data-segment limit holds whatever it is
   */
  constructor(opts: { pollMs?: number } = {}) {
    this.pollMs = opts.pollMs ?? QUERY_LIMITS.pollMs;
  }

  /** The query process's pid while it runs (undefined before the first query or after it was stopped). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Run one request in the query process, after the ones before it.
   * @throws RatchetError the query's own error (bad SQL, bad pattern...), or that it ran over its time limit or
   *   memory cap and was stopped, or that the run is stopping (signal)
   */
  run<T>(req: Request, opts: OffLoopOptions = {}): Promise<T> {
    const p = this.queue.then(() => this.exec<T>(req, opts));
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Kill the query process (it is started again by the next query). */
  close(): void {
    if (this.child) this.discard(this.child);
  }

  private spawn(): ChildProcess {
    // The shell sets the data-segment limit (RLIMIT_DATA: every private writable mapping, so malloc and V8 alike)
    // and then becomes the query process (exec keeps its pid and its IPC channel). An allocation beyond the
    // limit fails in the query process itself: SQLite answers SQLITE_NOMEM, V8 ends the process. Where a lower
    // hard limit is already set, raising it fails and the lower one stays (the query process still starts).
    const child = fork(childScript(), [], {
      execPath: '/bin/sh',
      execArgv: [
        '-c',
        `ulimit -d ${QUERY_LIMITS.dataMb * 1024} 2>/dev/null; exec "$0" "$@"`,
        process.execPath,
        `--max-old-space-size=${QUERY_LIMITS.heapMb}`,
      ],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.stderrTail = '';
    child.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
    });
    child.on('error', () => undefined);
    child.on('exit', () => {
      if (this.child === child) this.child = null;
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const onReady = (m: { ready?: boolean }) => {
        if (!m?.ready) return;
        child.off('message', onReady);
        child.off('exit', onExit);
        child.channel?.unref();
        resolve();
      };
      const onExit = (code: number | null, signal: string | null) =>
        reject(
          new RatchetError(`the query process did not start (${signal ?? `exit ${code}`})`, {
            hint: this.stderrTail.trim().split('\n').slice(-3).join(' ') || 'run npm run build',
            exitCode: 1,
          }),
        );
      child.on('message', onReady);
      child.once('exit', onExit);
    });
    this.ready.catch(() => undefined);
    child.unref();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  private discard(child: ChildProcess): void {
    if (this.child === child) this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** Start the query process now (so the first query does not wait for it to load). */
  warm(): void {
    if (!this.child) this.child = this.spawn();
  }

  private async exec<T>(req: Request, opts: OffLoopOptions): Promise<T> {
    const timeoutMs = queryTimeout(opts.timeoutMs);
    const what = req.kind === 'sql' ? 'the query' : 'the search';
    const stopping = () => new RatchetError(`the run is stopping; ${what} was not run`, { exitCode: 1 });
    if (opts.signal?.aborted) throw stopping();
    if (!this.child) this.child = this.spawn();
    const child = this.child;
    child.channel?.ref();
    try {
      await this.ready;
    } catch (e) {
      this.discard(child);
      throw e;
    }
    if (opts.signal?.aborted) throw stopping();
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        child.off('message', onMessage);
        child.off('exit', onExit);
        opts.signal?.removeEventListener('abort', onAbort);
        child.channel?.unref();
        fn();
      };
      const stop = (err: RatchetError) => {
        this.discard(child);
        finish(() => reject(err));
      };
      const onMessage = (m: ChildAnswer) => {
        if (m?.id !== id) return;
        finish(() => {
          if (m.ok) resolve(m.result as T);
          else {
            const { message, ...rest } = m.error;
            reject(new RatchetError(message, rest));
          }
        });
      };
      const onExit = (code: number | null, signal: string | null) => {
        const why = /heap|memory/i.test(this.stderrTail)
          ? `ran out of memory (its JavaScript heap is capped at ${QUERY_LIMITS.heapMb} MB, its data at ${QUERY_LIMITS.dataMb} MB)`
          : `ended unexpectedly (${signal ?? `exit ${code}`})`;
        finish(() =>
          reject(
            new RatchetError(`${what} ${why} and was stopped`, {
              hint: `select less: add WHERE/LIMIT, avoid building huge strings (guardrail ${LIMITS_ID})`,
              exitCode: 1,
            }),
          ),
        );
      };
      const onAbort = () =>
        stop(new RatchetError(`the run is stopping; ${what} was stopped`, { exitCode: 1 }));
      const timer = setTimeout(
        () =>
          stop(
            new RatchetError(`${what} ran over ${timeoutMs / 1000} s and was stopped; simplify it`, {
              hint:
                req.kind === 'sql'
                  ? `add WHERE/LIMIT, avoid recursive CTEs without a bound, select fewer rows (guardrail ${LIMITS_ID})`
                  : `narrow the pattern, the experiments (experiments) or the files (file) (guardrail ${LIMITS_ID})`,
            }),
          ),
        timeoutMs,
      );
      const poll = setInterval(() => {
        const mb = rssMb(child.pid);
        if (mb > QUERY_LIMITS.memoryMb)
          stop(
            new RatchetError(memoryLimitMessage(what), {
              hint:
                req.kind === 'sql'
                  ? `select less: add WHERE/LIMIT, avoid building huge strings (group_concat over everything) (guardrail ${LIMITS_ID})`
                  : `search fewer files: name the experiments (experiments) or the files (file) (guardrail ${LIMITS_ID})`,
            }),
          );
      }, this.pollMs);
      poll.unref();
      child.on('message', onMessage);
      child.on('exit', onExit);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.channel?.ref();
      child.send({ ...req, id, deadlineMs: timeoutMs + 2_000 });
    });
  }
}

const shared = new QueryRunner();
let hooked = false;

function runner(): QueryRunner {
  if (!hooked) {
    hooked = true;
    // Never leave the query process behind (it also kills itself at each query's deadline).
    process.once('exit', () => shared.close());
  }
  return shared;
}

/**
 * Read-only SQL over the public journal (see queryJournal), off the event loop, within a time and memory limit.
 * @throws RatchetError as queryJournal, or when the query ran over its limits and was stopped
 */
export function journalQuery(
  projectDir: string,
  sql: string,
  opts: OffLoopOptions & { maxRows?: number; maxBytes?: number } = {},
): Promise<SqlResult> {
  const { timeoutMs, signal, ...caps } = opts;
  return runner().run<SqlResult>(
    { kind: 'sql', projectDir, sql, opts: caps },
    { ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(signal ? { signal } : {}) },
  );
}

/**
 * grep over the traces (see grepTraces), off the event loop, within a time and memory limit.
 * @throws RatchetError as grepTraces, or when the search ran over its limits and was stopped
 */
export function traceGrep(
  projectDir: string,
  query: GrepQuery,
  opts: OffLoopOptions = {},
): Promise<GrepResult> {
  return runner().run<GrepResult>({ kind: 'grep', projectDir, query }, opts);
}

/** Start the shared query process now, so the first query does not wait for it to load. */
export function warmQueryRunner(): void {
  runner().warm();
}

/** Kill the shared query process now (it starts again on the next query). */
export function closeQueryRunner(): void {
  shared.close();
}

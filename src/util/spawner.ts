/**
 * Starting short-lived programs (git, above all) without paying for a fork of the orchestrator.
 *
 * Node starts a child by forking its own process on the main thread; the orchestrator holds DuckDB, the cached
 * labels and the metric arrays, and measured in the loop each start blocked the event loop for about 5.5 ms (a
 * fresh Node process: under 1 ms). An experiment runs about eight git commands, so at 100k rows per holdout
 * that was about 45 ms of the harness's overhead. {@link execFileLean} hands the start to a small helper process
 * (spawner_child.ts, forked once, lazily) over IPC; the helper runs the program with `execFile` exactly as the
 * caller asked (same file, arguments, folder and environment; no shell) and sends back its output. The helper
 * holds no state, exits when the orchestrator's IPC channel closes, and does not keep the orchestrator's event
 * loop alive while nothing is pending. When the compiled helper is not next to this module (sources loaded by a
 * test runner) or cannot be started, the program is started directly, with the same result.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One request to the helper. */
export interface SpawnRequest {
  id: number;
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  maxBuffer: number;
  /** Text written to the program's stdin (then closed). */
  input?: string;
  /** Kill the program after this many ms (0 or absent: never). */
  timeoutMs?: number;
}

/** The helper's answer: the program's output, and why it failed when it did. */
export type SpawnReply =
  | { id: number; ok: true; stdout: string; stderr: string }
  | {
      id: number;
      ok: false;
      stdout: string;
      stderr: string;
      message: string;
      code: number | string | null;
      signal: string | null;
    };

/** What {@link execFileLean} runs. */
export interface LeanOptions {
  cwd: string;
  env: Record<string, string>;
  /** Largest stdout or stderr accepted, bytes (beyond it the program is killed and the call fails). */
  maxBuffer: number;
  input?: string;
  timeoutMs?: number;
}

/** The error a failed program rejects with: as `util.promisify(execFile)`'s (message, code, stdout, stderr). */
export type LeanError = Error & {
  code?: number | string | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
};

const ENTRY = new URL('./spawner_child.js', import.meta.url);

let helper: ChildProcess | null = null;
let broken = false;
let nextId = 1;
const pending = new Map<number, { resolve: (r: SpawnReply) => void; reject: (e: Error) => void }>();

/** True when the compiled helper exists next to this module (it does in the built package). */
export function spawnerAvailable(): boolean {
  return ENTRY.protocol === 'file:' && existsSync(fileURLToPath(ENTRY));
}

/** The running helper (forked on first use), or null when it cannot be used. */
function ensureHelper(): ChildProcess | null {
  if (helper?.connected) return helper;
  if (broken || !spawnerAvailable()) return null;
  try {
    const h = fork(fileURLToPath(ENTRY), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Not the orchestrator's flags (a profiler, a loader): a plain, small Node.
      execArgv: ['--max-old-space-size=64'],
      serialization: 'json',
    });
    h.on('message', (m: SpawnReply) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0) h.channel?.unref();
      p.resolve(m);
    });
    const lost = (why: string) => {
      if (helper === h) helper = null;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(new Error(`the process starter exited (${why}) before the program finished`));
      }
    };
    h.on('exit', (code, signal) => lost(signal ?? `code ${code}`));
    h.on('error', (e) => {
      broken = true;
      lost(e.message);
    });
    h.unref();
    h.channel?.unref();
    helper = h;
    return h;
  } catch {
    broken = true;
    return null;
  }
}

/** The program started directly by this process (the fallback). */
function direct(file: string, args: string[], o: LeanOptions): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: o.cwd, env: o.env, maxBuffer: o.maxBuffer, encoding: 'utf8', timeout: o.timeoutMs ?? 0 },
      (err, stdout, stderr) => {
        if (err) reject(Object.assign(err, { stdout, stderr }) as LeanError);
        else resolve({ stdout, stderr });
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
  });
}

/**
 * Run `file` with `args` (no shell) and collect its output, starting it from the helper process when it is
 * available (see the module's comment) and directly otherwise.
 * @returns stdout and stderr (UTF-8) of a program that exited with status 0
 * @throws (rejects with) a {@link LeanError} carrying `code`, `signal`, `stdout` and `stderr` when the program
 *   exits non-zero, is killed, cannot be started, or writes more than `maxBuffer` bytes
 */
export function execFileLean(
  file: string,
  args: string[],
  o: LeanOptions,
): Promise<{ stdout: string; stderr: string }> {
  const h = ensureHelper();
  if (!h) return direct(file, args, o);
  const id = nextId++;
  const req: SpawnRequest = { id, file, args, cwd: o.cwd, env: o.env, maxBuffer: o.maxBuffer };
  if (o.input !== undefined) req.input = o.input;
  if (o.timeoutMs !== undefined) req.timeoutMs = o.timeoutMs;
  return new Promise<SpawnReply>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    if (pending.size === 1) h.channel?.ref();
    try {
      h.send(req);
    } catch (e) {
      pending.delete(id);
      reject(e as Error);
    }
  }).then((r) => {
    if (r.ok) return { stdout: r.stdout, stderr: r.stderr };
    throw Object.assign(new Error(r.message), {
      code: r.code,
      signal: r.signal,
      stdout: r.stdout,
      stderr: r.stderr,
    }) as LeanError;
  });
}

/** The helper's process id (null when none runs): for tests and diagnostics. */
export function spawnerPid(): number | null {
  return helper?.connected ? (helper.pid ?? null) : null;
}

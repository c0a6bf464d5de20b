/**
 * Running a command in the sandbox: spawning bubblewrap (or, when explicitly asked, the bare command), enforcing
 * the wall clock, the kill switch and the output cap, and turning what happened into a SandboxResult.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { bwrapArgs, innerArgv, resolveLimits, sandboxEnv, systemBinary, validateSpec } from './args.js';
import { createRunCgroup } from './cgroup.js';
import { captureCapped, sanitizeOutput, treeBytes } from './output.js';
import { seccompFilter } from './seccomp.js';
import {
  MAX_LOG_BYTES,
  type SandboxResult,
  type SandboxSpec,
  type SandboxStatus,
  type TreeUsage,
} from './types.js';
import { type TreeWatchdog, watchTree } from './watchdog.js';

/** How often the output folder's size is measured while the command runs, ms. */
const OUTPUT_POLL_MS = 200;
/** After the tree is killed, how long to wait for its processes and pipes to go away, ms. */
const REAP_WAIT_MS = 600;
/** Environment variable that tags every process of an unsafe (unsandboxed) run, so escaped ones can be killed. */
export const UNSAFE_TOKEN_VAR = 'RATCHET_SANDBOX_TOKEN';

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(osConstants.signals).map(([name, num]) => [num, name] as [number, string]),
);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A sleep that does not keep the process alive (for the output poller, which runs beside the child). */
const idle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Run `spec.argv` in the sandbox described by `spec` and wait for it to end.
 * stdout/stderr go to `spec.stdoutPath`/`spec.stderrPath` (each cut at 10 MiB with a note). After the run,
 * symlinks, FIFOs, sockets and device nodes are removed from the output folder and set-id bits cleared.
 * Never throws for anything the command does (failures, limits, a missing bwrap are statuses).
 * @returns the status, exit code/signal, wall time in ms and a human-readable message.
 * @throws Error only for an invalid spec (see `validateSpec`): empty argv, missing workdir/outputDir, bad bind...
 */
export async function runSandboxed(spec: SandboxSpec): Promise<SandboxResult> {
  validateSpec(spec);
  const lim = resolveLimits(spec);
  const sandboxed = !spec.unsafeNoSandbox;
  const start = performance.now();
  let usage: TreeUsage | undefined;
  const done = (
    status: SandboxStatus,
    exitCode: number | null,
    signal: string | null,
    message: string,
  ): SandboxResult => ({
    status,
    exitCode,
    signal,
    wallMs: Math.round(performance.now() - start),
    sandboxed,
    message: sandboxed ? message : `${message} [UNSANDBOXED: run without bubblewrap at the person's request]`,
    ...(usage ? { tree: usage } : {}),
  });

  let file: string;
  let args: string[];
  let env: Record<string, string>;
  let cwd: string;
  const token = randomUUID();
  const filter = sandboxed ? seccompFilter() : null;
  if (sandboxed) {
    const argv = bwrapArgs(spec, { jsonStatusFd: 3, ...(filter ? { seccompFd: 4 } : {}) });
    const bwrap = systemBinary('bwrap');
    if (!bwrap) {
      writeEmptyLogs(spec);
      return done(
        'sandbox_error',
        null,
        null,
        'bubblewrap (bwrap) is not installed: install the Debian package "bubblewrap", or pass the explicit unsafe flag to run without a sandbox',
      );
    }
    file = bwrap;
    args = argv.slice(1);
    env = {};
    cwd = '/';
  } else {
    const setpriv = systemBinary('setpriv');
    const argv = innerArgv(spec, setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : []);
    file = argv[0]!;
    args = argv.slice(1);
    env = { ...Object.fromEntries(sandboxEnv(spec)), [UNSAFE_TOKEN_VAR]: token };
    cwd = spec.workdir;
  }

  // Create (truncate) both log files now, so an unwritable path throws before anything runs.
  writeEmptyLogs(spec);
  if (spec.signal?.aborted)
    return done('aborted', null, null, 'aborted by the kill switch before it started');

  // Where the kernel can hold the tree's caps (delegated cgroup v2), the run is born in its own child cgroup.
  const cgroup = createRunCgroup(`ratchet-${token}`, lim.memoryBytes, lim.maxProcesses);
  if (cgroup) ({ file, args } = cgroup.wrap(file, args));
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd,
      env,
      detached: true, // own process group (and session): kill(-pgid) reaches bwrap and the namespace's init
      // stdin closed (no terminal), stdout/stderr pipes; in the sandbox also fd 3 (bwrap's JSON status) and
      // fd 4 (the seccomp filter). Node marks everything else close-on-exec; the inner wrapper closes the rest.
      stdio: sandboxed
        ? ['ignore', 'pipe', 'pipe', 'pipe', ...(filter ? ['pipe' as const] : [])]
        : ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    await cgroup?.remove();
    return done('sandbox_error', null, null, `could not start ${file}: ${(e as Error).message}`);
  }
  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((res) => {
    child.once('exit', (code, signal) => res({ code, signal }));
    child.once('error', (error) => res({ code: null, signal: null, error }));
  });
  if (filter) {
    const w = child.stdio[4] as Writable;
    w.on('error', () => {}); // bwrap died before reading it: the exit status tells the story
    w.end(filter);
  }
  const out = captureCapped(child.stdout!, spec.stdoutPath, MAX_LOG_BYTES, 'stdout');
  const err = captureCapped(child.stderr!, spec.stderrPath, MAX_LOG_BYTES, 'stderr');
  let statusText = '';
  const statusStream = sandboxed ? (child.stdio[3] as Readable) : null;
  const statusDone = statusStream
    ? new Promise<void>((res) => {
        statusStream.on('data', (c: Buffer) => {
          statusText += c.toString('utf8');
        });
        statusStream.on('close', res);
        statusStream.on('error', () => res());
      })
    : Promise.resolve();

  let killed: { status: SandboxStatus; message: string } | undefined;
  const killGroup = (): void => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (!sandboxed) killTagged(token);
  };
  const killTree = (status: SandboxStatus, message: string): void => {
    if (killed) return;
    killed = { status, message };
    killGroup();
  };
  const timer = setTimeout(
    () => killTree('timeout', `killed after ${fmtSeconds(spec.timeoutMs)} wall-clock timeout`),
    spec.timeoutMs,
  );
  // The memory and task caps hold for the whole tree together (RLIMIT_AS alone is per process).
  let watchdog: TreeWatchdog | null = null;
  if (child.pid !== undefined) {
    watchdog = watchTree(child.pid, {
      memoryBytes: lim.memoryBytes,
      maxTasks: lim.maxProcesses,
      onLimit: (kind, message) => killTree(kind === 'memory' ? 'memory_limit' : 'process_limit', message),
    });
  }
  const onAbort = (): void => killTree('aborted', 'killed by the kill switch');
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  let running = true;
  void (async () => {
    while (running && !killed) {
      await idle(OUTPUT_POLL_MS);
      if (!running || killed) break;
      const bytes = await treeBytes(spec.outputDir, lim.maxOutputBytes);
      if (bytes > lim.maxOutputBytes && running) {
        killTree('output_limit', `killed: output folder passed its ${fmtBytes(lim.maxOutputBytes)} cap`);
      }
    }
  })();

  const exit = await exited;
  running = false;
  if (watchdog) {
    watchdog.stop();
    usage = watchdog.stats();
  }
  clearTimeout(timer);
  spec.signal?.removeEventListener('abort', onAbort);
  // Whatever is left of the group goes too (in unsafe mode: also every process carrying the run's token).
  killGroup();
  await withDeadline(statusDone, REAP_WAIT_MS);
  const status = parseStatus(statusText);
  if (sandboxed && status.childPid !== undefined) await waitGone(status.childPid, REAP_WAIT_MS);
  if (!sandboxed) await reapTagged(token, REAP_WAIT_MS);
  await withDeadline(Promise.all([out.done, err.done]), REAP_WAIT_MS);
  out.stop();
  err.stop();
  statusStream?.destroy();
  await Promise.all([out.done, err.done]);

  const notes: string[] = [];
  if (cgroup) {
    if (!killed && cgroup.oomKilled()) {
      killed = {
        status: 'memory_limit',
        message: `memory: the process tree reached its cap of ${fmtBytes(lim.memoryBytes)} (cgroup v2 memory.max); killed`,
      };
    }
    const refused = cgroup.pidsRefused();
    if (refused > 0)
      notes.push(`${refused} fork(s) refused at the cap of ${lim.maxProcesses} tasks (cgroup v2 pids.max)`);
    await cgroup.remove();
  }
  if (!killed && (await treeBytes(spec.outputDir, lim.maxOutputBytes)) > lim.maxOutputBytes) {
    killed = {
      status: 'output_limit',
      message: `output folder passed its ${fmtBytes(lim.maxOutputBytes)} cap`,
    };
  }
  const removed = await sanitizeOutput(spec.outputDir);
  if (removed.length > 0) {
    notes.push(
      `removed ${removed.length} symlink/special file(s) from the output folder: ${removed.slice(0, 5).join(', ')}`,
    );
  }
  if (out.dropped() > 0) notes.push(`stdout truncated at ${fmtBytes(MAX_LOG_BYTES)}`);
  if (err.dropped() > 0) notes.push(`stderr truncated at ${fmtBytes(MAX_LOG_BYTES)}`);
  const withNotes = (m: string): string => (notes.length > 0 ? `${m}; ${notes.join('; ')}` : m);

  if (exit.error) return done('sandbox_error', null, null, `could not start ${file}: ${exit.error.message}`);
  const code = sandboxed ? (status.exitCode ?? null) : exit.code;
  if (killed) return done(killed.status, code, exit.signal ?? null, withNotes(killed.message));
  if (sandboxed && status.exitCode === undefined) {
    if (exit.signal) {
      return done(
        'failed',
        null,
        exit.signal,
        withNotes(`bubblewrap was killed by ${exit.signal} (not by Ratchet)`),
      );
    }
    const why = lastLine(err.tail()) || `bwrap exited with code ${exit.code}`;
    return done('sandbox_error', null, null, withNotes(`sandbox setup failed: ${why}`));
  }
  const signal = exit.signal ?? (code !== null && code > 128 ? (SIGNAL_NAMES.get(code - 128) ?? null) : null);
  if (code === 0 && !signal) return done('ok', 0, null, withNotes('exited with code 0'));
  return done('failed', code, signal, withNotes(describeFailure(code, signal, spec)));
}

function describeFailure(code: number | null, signal: string | null, spec: SandboxSpec): string {
  if (!signal) return `exited with code ${code}`;
  const lim = resolveLimits(spec);
  const status = code !== null ? ` (exit status ${code})` : '';
  switch (signal) {
    case 'SIGXCPU':
      return `killed by SIGXCPU${status}: CPU-time limit of ${lim.cpuSeconds} s reached`;
    case 'SIGXFSZ':
      return `killed by SIGXFSZ${status}: file-size limit of ${fmtBytes(lim.maxFileBytes)} reached`;
    case 'SIGKILL':
      return `killed by SIGKILL${status}: out of memory, CPU-time hard limit, or killed from inside`;
    default:
      return `killed by ${signal}${status}`;
  }
}

/** Child pid and exit code from bubblewrap's `--json-status-fd` lines. */
function parseStatus(text: string): { childPid?: number; exitCode?: number } {
  const pid = /"child-pid"\s*:\s*(\d+)/.exec(text);
  const code = /"exit-code"\s*:\s*(\d+)/.exec(text);
  return {
    ...(pid ? { childPid: Number(pid[1]) } : {}),
    ...(code ? { exitCode: Number(code[1]) } : {}),
  };
}

/** Wait until a host pid is gone or a zombie (for a PID namespace's init: the whole namespace is dead). */
async function waitGone(pid: number, maxMs: number): Promise<void> {
  const until = performance.now() + maxMs;
  while (performance.now() < until) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)\s*/s, '')[0] ?? '';
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await sleep(10);
  }
}

/** Host pids whose environment carries `RATCHET_SANDBOX_TOKEN=<token>`. */
function taggedPids(token: string): number[] {
  const needle = Buffer.from(`${UNSAFE_TOKEN_VAR}=${token}\0`);
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`).includes(needle)) pids.push(Number(name));
    } catch {
      // gone or not ours
    }
  }
  return pids;
}

function killTagged(token: string): number {
  const pids = taggedPids(token);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  return pids.length;
}

async function reapTagged(token: string, maxMs: number): Promise<void> {
  const until = performance.now() + maxMs;
  while (killTagged(token) > 0 && performance.now() < until) await sleep(20);
}

async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

function writeEmptyLogs(spec: SandboxSpec): void {
  writeFileSync(spec.stdoutPath, '');
  writeFileSync(spec.stderrPath, '');
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .pop() ?? ''
  ).slice(0, 500);
}

function fmtSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

function fmtBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

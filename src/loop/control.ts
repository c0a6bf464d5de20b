import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { RatchetError } from '../util/errors.js';
import { ensureDir, writeFileAtomic } from '../util/fs.js';

/** Project-relative path of the active run's lock (pid and run id). */
export const RUN_LOCK = '.ratchet/run.json';
/** Project-relative path of the stop request file written by `ratchet stop` (and the Studio's kill switch). */
export const STOP_FILE = '.ratchet/STOP';

/** Content of the run lock. */
export interface RunLockInfo {
  pid: number;
  runId: string;
  startedAt: string;
  /** Start time of the holder process (field 22 of /proc/<pid>/stat, clock ticks since boot); null off Linux. */
  pidStart?: number | null;
  /** A random id of this acquisition (names the takeover claim of a stale lock). */
  nonce?: string;
}

/**
 * Start time of a process: field 22 (`starttime`, clock ticks after boot) of /proc/<pid>/stat, or null when
 * the process does not exist or /proc is not there. Together with the pid it names one process: a pid the
 * kernel reused for another process has another start time.
 */
export function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** True when a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the process that wrote this lock still runs (same pid AND same start time, when recorded). */
export function holderAlive(info: RunLockInfo): boolean {
  if (!Number.isInteger(info.pid) || info.pid <= 0 || !isAlive(info.pid)) return false;
  if (typeof info.pidStart !== 'number') return true; // a lock written before start times were recorded
  const now = processStart(info.pid);
  return now === null || now === info.pidStart;
}

function readLock(path: string): RunLockInfo | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunLockInfo;
  } catch {
    return null;
  }
}

/** The active run's lock, or null when no live run holds it. */
export function activeRun(projectDir: string): RunLockInfo | null {
  const info = readLock(join(projectDir, RUN_LOCK));
  return info && holderAlive(info) ? info : null;
}

const MY_START = processStart(process.pid);

/**
 * Take the project's run lock (one run at a time writes the journal and the branch).
 *
 * Atomic: the lock file is created with an exclusive create (`wx`), so of any number of racing processes
 * exactly one wins. A lock whose holder is gone (no process with its pid, or a process with that pid but
 * another start time: a reused pid) is stale; it is taken over race-free: a claim file named after the stale
 * lock's nonce is created exclusively (only one process can claim a given stale lock), the claimer moves the
 * stale file aside, and everyone retries the exclusive create.
 * @throws RatchetError when a live run holds it
 */
export function acquireRunLock(projectDir: string, runId: string): void {
  const dir = ensureDir(join(projectDir, '.ratchet'));
  const path = join(projectDir, RUN_LOCK);
  const info: RunLockInfo = {
    pid: process.pid,
    runId,
    startedAt: new Date().toISOString(),
    pidStart: MY_START,
    nonce: randomBytes(12).toString('hex'),
  };
  const text = `${JSON.stringify(info)}\n`;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      rmSync(join(projectDir, STOP_FILE), { force: true });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = readLock(path);
    if (held === null) {
      // being written right now (created, not yet filled) or damaged: a fresh lock is filled within
      // microseconds; a file that stays unreadable is stale
      const st = statOf(path);
      if (st === null || Date.now() - st.mtimeMs < 2000) {
        sleepMs(5);
        continue;
      }
      takeOver(dir, path, fileIdentity(st));
      continue;
    }
    if (held.pid === process.pid && (held.pidStart ?? MY_START) === MY_START) {
      // this process holds it already (a server that closes and reopens runs): rewrite it in place
      writeFileAtomic(path, text);
      rmSync(join(projectDir, STOP_FILE), { force: true });
      return;
    }
    if (holderAlive(held)) {
      throw new RatchetError(`run ${held.runId} is already active (pid ${held.pid})`, {
        file: RUN_LOCK,
        hint: 'wait for it, or stop it with `ratchet stop`',
      });
    }
    takeOver(dir, path, held.nonce ?? `pid-${held.pid}-${held.startedAt}`);
  }
  throw new RatchetError('could not take the run lock (it kept changing)', {
    file: RUN_LOCK,
    hint: 'another process keeps taking and releasing it; retry, or remove the file if no run is active',
  });
}

function statOf(path: string): { ino: number; mtimeMs: number } | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The identity of an unreadable lock file: its inode and modification time. */
const fileIdentity = (st: { ino: number; mtimeMs: number }) => `ino-${st.ino}-${Math.round(st.mtimeMs)}`;

/** The identity a lock file has now (its nonce, or its inode when unreadable), or null when it is gone. */
function identityOf(path: string): string | null {
  const info = readLock(path);
  if (info) return info.nonce ?? `pid-${info.pid}-${info.startedAt}`;
  const st = statOf(path);
  return st ? fileIdentity(st) : null;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Move a stale lock aside, once: only the process that creates the claim file for this stale lock's identity
 * moves it (the others retry the exclusive create). Claim files stay (they name a lock that is gone) so a
 * late process can never claim, and move, the lock that replaced it.
 */
function takeOver(dir: string, path: string, identity: string): void {
  const claim = join(dir, `run.json.claim-${identity.replace(/[^A-Za-z0-9_-]/g, '_')}`);
  let fd: number;
  try {
    fd = openSync(claim, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    sleepMs(2);
    return; // someone else claimed this stale lock; retry the create
  }
  closeSync(fd);
  // Only the claimer removes this stale lock, and no one can create a new one while it exists, so the file
  // is still the stale one (checked once more for locks without a nonce).
  if (identityOf(path) !== identity) return;
  try {
    const aside = join(dir, `run.json.stale-${process.pid}-${randomBytes(6).toString('hex')}`);
    renameSync(path, aside);
    rmSync(aside, { force: true }); // moved aside under a name only this process knows: safe to delete
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Release the run lock if this process holds it. */
export function releaseRunLock(projectDir: string): void {
  const path = join(projectDir, RUN_LOCK);
  const info = readLock(path);
  if (info && info.pid === process.pid && (info.pidStart ?? MY_START) === MY_START)
    rmSync(path, { force: true });
  rmSync(join(projectDir, STOP_FILE), { force: true });
}

/**
 * A run's active wall-clock time, ms: the sum of its active periods as recorded in the journal, plus, while
 * `live` (its process runs now), the time since the last record. Runs recorded before active time was kept
 * count from their start to their end.
 */
export function runActiveMs(
  run: { startedAt: string; endedAt: string | null; activeMs: number | null; activeAt: string | null },
  live: boolean,
  now = Date.now(),
): number {
  if (run.activeMs === null) return (run.endedAt ? Date.parse(run.endedAt) : now) - Date.parse(run.startedAt);
  return run.activeMs + (live && run.activeAt ? Math.max(0, now - Date.parse(run.activeAt)) : 0);
}

/**
 * Ask the active run to stop: write the stop file (polled by the loop every 100 ms) and send SIGTERM.
 * @returns the run that was asked to stop, or null when none is active
 */
export function requestStop(projectDir: string, reason = 'ratchet stop'): RunLockInfo | null {
  const live = activeRun(projectDir);
  if (!live) return null;
  writeFileSync(join(projectDir, STOP_FILE), `${JSON.stringify({ reason, at: new Date().toISOString() })}\n`);
  try {
    process.kill(live.pid, 'SIGTERM');
  } catch {
    // the stop file is enough
  }
  return live;
}

/** Read the reason written into the stop file, if any. */
export function stopReason(projectDir: string): string | null {
  const path = join(projectDir, STOP_FILE);
  if (!existsSync(path)) return null;
  try {
    return String((JSON.parse(readFileSync(path, 'utf8')) as { reason?: string }).reason ?? 'stop requested');
  } catch {
    return 'stop requested';
  }
}

/**
 * Abort `controller` when the stop file appears or (when `signals`) SIGINT/SIGTERM arrives.
 * @returns a function that removes the watchers
 */
export function watchStop(projectDir: string, controller: AbortController, signals = true): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(new Error(`received ${sig}`));
  };
  const timer = setInterval(() => {
    const reason = stopReason(projectDir);
    if (reason && !controller.signal.aborted) controller.abort(new Error(reason));
  }, 100);
  timer.unref();
  if (signals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  return () => {
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

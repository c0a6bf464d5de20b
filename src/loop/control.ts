import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RatchetError } from '../util/errors.js';
import { ensureDir } from '../util/fs.js';

/** Project-relative path of the active run's lock (pid and run id). */
export const RUN_LOCK = '.ratchet/run.json';
/** Project-relative path of the stop request file written by `ratchet stop` (and the Studio's kill switch). */
export const STOP_FILE = '.ratchet/STOP';

/** Content of the run lock. */
export interface RunLockInfo {
  pid: number;
  runId: string;
  startedAt: string;
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

/** The active run's lock, or null when no live run holds it. */
export function activeRun(projectDir: string): RunLockInfo | null {
  const path = join(projectDir, RUN_LOCK);
  if (!existsSync(path)) return null;
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as RunLockInfo;
    return isAlive(info.pid) ? info : null;
  } catch {
    return null;
  }
}

/**
 * Take the project's run lock (one run at a time writes the journal and the branch).
 * A lock left by a dead process is taken over.
 * @throws RatchetError when a live run holds it
 */
export function acquireRunLock(projectDir: string, runId: string): void {
  const live = activeRun(projectDir);
  if (live && live.pid !== process.pid) {
    throw new RatchetError(`run ${live.runId} is already active (pid ${live.pid})`, {
      file: RUN_LOCK,
      hint: 'wait for it, or stop it with `ratchet stop`',
    });
  }
  ensureDir(join(projectDir, '.ratchet'));
  rmSync(join(projectDir, STOP_FILE), { force: true });
  const info: RunLockInfo = { pid: process.pid, runId, startedAt: new Date().toISOString() };
  writeFileSync(join(projectDir, RUN_LOCK), `${JSON.stringify(info)}\n`);
}

/** Release the run lock if this process holds it. */
export function releaseRunLock(projectDir: string): void {
  const path = join(projectDir, RUN_LOCK);
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as RunLockInfo;
    if (info.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // no lock, or unreadable: nothing of ours to release
  }
  rmSync(join(projectDir, STOP_FILE), { force: true });
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

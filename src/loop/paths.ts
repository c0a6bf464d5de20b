import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where a run keeps its files under `.ratchet/`, and the one reader of them that many modules share. A leaf
 * module (no imports from the rest of Ratchet), so the agents, the tracker, the Studio and the loop's own
 * modules can name these paths without depending on the loop.
 */

/** Project-relative folder of the experiments' traces. */
export const RUNS_DIR = '.ratchet/runs';
/** Project-relative folder of the ratchet branches' worktrees. */
export const WORKTREES_DIR = '.ratchet/worktrees';

/**
 * Folder of an experiment's trace: `.ratchet/runs/0007/`.
 * @param projectDir the project folder
 * @param id the experiment's journal id
 * @returns the absolute (when projectDir is) folder path; nothing is created
 */
export function experimentDir(projectDir: string, id: number): string {
  return join(projectDir, RUNS_DIR, String(id).padStart(4, '0'));
}

/**
 * Last lines of a log file.
 * @param path the file
 * @param lines how many lines to keep from its end
 * @returns those lines joined by newlines ('' when the file is missing or unreadable; never throws)
 */
export function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CONTRACT_FILE } from '../contract/load.js';
import { RatchetError } from '../util/errors.js';
import { action } from './output.js';

/** Files `ratchet init --data` scaffolds, kept after a refusal whose fix is an edit to ratchet.yaml. */
const SCAFFOLD_FILES = [CONTRACT_FILE, 'train.py', 'params.yaml', 'search_space.yaml', '.gitignore'];

/** Files larger than this are not snapshotted for restoring (a scaffold's files are small). */
const MAX_RESTORE_BYTES = 1 << 20;

/** What {@link snapshotFolder} remembers, and how to put the folder back. */
export interface FolderSnapshot {
  /**
   * Put the folder's top level back as it was: remove entries created since the snapshot (files, folders,
   * a .git), restore the content of small files that changed, and remove the folder itself when it did not
   * exist before. Entries created since the snapshot for which `keep` says true stay (and so does the folder).
   * @returns the entries removed or restored, for the user
   */
  restore(keep?: (name: string) => boolean): string[];
}

/**
 * Remember a folder's top level (entry names, and the bytes of files up to 1 MiB) so that a command that
 * fails half-way (`ratchet init`) can undo what it wrote in that call.
 * @param dir absolute folder (it may not exist yet)
 */
export function snapshotFolder(dir: string): FolderSnapshot {
  const existed = existsSync(dir);
  // the highest folder that did not exist yet: a failed call that made `a/b/c` removes `a` when `a` was new
  let created = dir;
  while (!existsSync(dirname(created)) && dirname(created) !== created) created = dirname(created);
  const before = new Map<string, Buffer | null>();
  if (existed) {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      before.set(name, st.isFile() && st.size <= MAX_RESTORE_BYTES ? readFileSync(p) : null);
    }
  }
  return {
    restore(keep: (name: string) => boolean = () => false): string[] {
      const done: string[] = [];
      if (!existed && !(existsSync(dir) && readdirSync(dir).some(keep))) {
        if (!existsSync(created)) return done;
        rmSync(created, { recursive: true, force: true });
        return [created];
      }
      if (!existsSync(dir)) return done;
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (!before.has(name)) {
          if (keep(name)) continue;
          rmSync(p, { recursive: true, force: true });
          done.push(name);
          continue;
        }
        const old = before.get(name);
        if (old && lstatSync(p).isFile() && !readFileSync(p).equals(old)) {
          writeFileSync(p, old);
          done.push(`${name} (restored)`);
        }
      }
      return done;
    },
  };
}

/**
 * Wrap a command action over a project folder (`o.dir`) so that, when it throws, the folder's top level is
 * put back as it was before the call ({@link snapshotFolder}); the error is then rethrown unchanged.
 */
export function undoOnFailure<O extends { dir: string; json?: boolean }>(
  fn: (o: O) => Promise<void>,
): (o: O) => Promise<void> {
  return async (o: O) => {
    const snapshot = snapshotFolder(resolve(o.dir));
    try {
      await fn(o);
    } catch (e) {
      // The leakage scan's refusal (exit code 3, naming ratchet.yaml: a leaking column for data.drop, duplicates
      // for a group split) asks for an edit to the new ratchet.yaml: the scaffold stays for that edit; the
      // repository and the split go, as for any other failure. A bad flag (exit code 2) removes everything, so
      // the corrected command scaffolds afresh.
      const fixInContract = e instanceof RatchetError && e.file === CONTRACT_FILE && e.exitCode === 3;
      const undone = snapshot.restore(fixInContract ? (n) => SCAFFOLD_FILES.includes(n) : undefined);
      const out = o.json ? process.stderr : process.stdout;
      if (undone.length) out.write(`init failed; removed what it wrote in this call: ${undone.join(', ')}\n`);
      if (fixInContract) {
        const kept = SCAFFOLD_FILES.filter((n) => existsSync(join(resolve(o.dir), n)));
        if (kept.length) out.write(`kept the scaffold (${kept.join(', ')}) for the fix below\n`);
      }
      throw e;
    }
  };
}

/** {@link action} over {@link undoOnFailure}: a command action that undoes its writes to `o.dir` when it fails. */
export function actionUndoingOnFailure<O extends { dir: string; json?: boolean }>(
  fn: (o: O) => Promise<void>,
): (o: O) => Promise<void> {
  return action(undoOnFailure(fn));
}

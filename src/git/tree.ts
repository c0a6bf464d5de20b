/**
 * Tree integrity: what a worktree may hold before host-side git reads it. Host git must never meet a nested
 * repository (its config could name a program for git to run: core.fsmonitor, hooks...), and host code must
 * never follow a link or open a FIFO an agent planted. So, walking with lstat (never following a link) and
 * before any git command touches the tree, every entry below the root is checked: no `.git` (folder or file,
 * any case), no symlink, FIFO, socket or device, no control character in a name. The worktree's own `.git`
 * (the file pointing at the project's repository) must be a regular file or folder.
 */
import { chmodSync, type Dirent, lstatSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeNoFollow } from '../util/fs.js';

/** Why an entry is refused. */
export type TreeProblemKind =
  | 'nested-git'
  | 'symlink'
  | 'fifo'
  | 'socket'
  | 'device'
  | 'control-char'
  | 'unreadable';

/** One refused entry of a worktree. */
export interface TreeProblem {
  /** Worktree-relative path (control characters shown as `\\xNN`). */
  path: string;
  /** The raw relative path (for removal). */
  raw: string;
  kind: TreeProblemKind;
}

/** Control characters (C0 and DEL): a name holding one could forge lines in logs, patches and prompts. */
const CONTROL = /[\x00-\x1f\x7f]/;

/** A path with its control characters escaped, for messages. */
export function printable(p: string): string {
  return p.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function kindOf(e: Dirent): TreeProblemKind | null {
  if (e.isSymbolicLink()) return 'symlink';
  if (e.isFIFO()) return 'fifo';
  if (e.isSocket()) return 'socket';
  if (e.isCharacterDevice() || e.isBlockDevice()) return 'device';
  return null;
}

/**
 * Walk a worktree with lstat semantics (links are never followed) and list every entry host code must not meet.
 * A folder the walk cannot list is made listable (u+rwx; the sandbox runs as the same user) and listed; if it
 * still cannot be, it is reported `unreadable`. Does not run git. Cost: one readdir per folder.
 * @param root the worktree (its own top-level `.git` file is allowed and not entered)
 * @returns the problems, sorted by path (empty: the tree is clean)
 */
export function scanTree(root: string): TreeProblem[] {
  const out: TreeProblem[] = [];
  const add = (raw: string, kind: TreeProblemKind) => out.push({ path: printable(raw), raw, kind });
  const top = (() => {
    try {
      return lstatSync(join(root, '.git'));
    } catch {
      return null;
    }
  })();
  if (top && !top.isFile() && !top.isDirectory()) add('.git', top.isSymbolicLink() ? 'symlink' : 'device');
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const abs = rel ? join(root, rel) : root;
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      try {
        chmodSync(abs, (lstatSync(abs).mode & 0o7777) | 0o700);
        entries = readdirSync(abs, { withFileTypes: true });
      } catch {
        add(rel, 'unreadable');
        continue;
      }
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (rel === '' && e.name === '.git') continue; // the worktree's own pointer, checked above
      if (CONTROL.test(e.name)) {
        add(r, 'control-char');
        continue;
      }
      if (e.name.toLowerCase() === '.git') {
        add(r, 'nested-git');
        continue;
      }
      const k = kindOf(e);
      if (k) add(r, k);
      else if (e.isDirectory()) stack.push(r);
    }
  }
  return out.sort((a, b) => (a.raw < b.raw ? -1 : a.raw > b.raw ? 1 : 0));
}

/**
 * Delete every empty folder below `root` (and folders holding only empty folders), never following a link and
 * never entering the root's own `.git`: what `git clean -d` removes from a tree whose files are all tracked.
 * @returns the number of folders removed
 */
export function removeEmptyFolders(root: string): number {
  let removed = 0;
  const visit = (abs: string, top: boolean): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return false;
    }
    let left = 0;
    for (const e of entries) {
      if (top && e.name === '.git') {
        left++;
        continue;
      }
      if (e.isDirectory() && !e.isSymbolicLink() && visit(join(abs, e.name), false)) continue;
      left++;
    }
    if (top || left > 0) return false;
    try {
      rmdirSync(abs);
      removed++;
      return true;
    } catch {
      return false;
    }
  };
  visit(root, true);
  return removed;
}

/**
 * Delete the refused entries (folders with their content), never following a link.
 * @returns the printable relative paths deleted
 */
export function purgeTree(root: string, problems: TreeProblem[]): string[] {
  const done: string[] = [];
  for (const p of problems) {
    if (p.raw === '') continue; // never the root itself
    removeNoFollow(join(root, p.raw));
    done.push(p.path);
  }
  return done;
}

/** One line per problem kind, for a guardrail message: `nested git repository: lib/helpers/.git`. */
export function describeProblems(problems: TreeProblem[]): string {
  const label: Record<TreeProblemKind, string> = {
    'nested-git': 'nested git repository or .git file',
    symlink: 'symbolic link',
    fifo: 'FIFO',
    socket: 'socket',
    device: 'device node',
    'control-char': 'control character in the name',
    unreadable: 'folder that cannot be listed',
  };
  const by = new Map<TreeProblemKind, string[]>();
  for (const p of problems) by.set(p.kind, [...(by.get(p.kind) ?? []), p.path]);
  return [...by].map(([k, paths]) => `${label[k]}: ${paths.join(', ')}`).join('; ');
}

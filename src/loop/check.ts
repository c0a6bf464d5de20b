import { globMatch } from '../contract/load.js';
import { LOCK_FILE, type Lock } from '../contract/lock.js';
import { currentTree, treeChanges } from '../git/git.js';
import { describeProblems, purgeTree, scanTree } from '../git/tree.js';
import type { Trip } from '../guardrails/registry.js';

/** What CHECK approved (or why it refused): the files, and the exact tree EXECUTE must run. */
export interface CheckResult {
  /** Project-relative paths the change touches (both sides of a rename). */
  files: string[];
  /** SHA of the staged tree: the snapshot approved for EXECUTE. */
  tree: string;
  /** The change as a binary-safe git patch against the last kept commit (read with the paths, in one git run). */
  patch: string;
  /** Guardrails that tripped (empty when approved). */
  trips: Trip[];
}

/**
 * tree-integrity, run before any git command reads the worktree: walk it with lstat and refuse nested `.git`
 * entries, symlinks, FIFOs, sockets, devices and control characters in names. The refused entries are deleted
 * at once (without following links), so git never meets them.
 * @returns the trip (null when the tree is clean)
 */
export function treeIntegrity(worktree: string, when: string): Trip | null {
  const problems = scanTree(worktree);
  if (problems.length === 0) return null;
  const removed = purgeTree(worktree, problems);
  return {
    guardrail: 'tree-integrity',
    message: `${when} the worktree holds entries host code must never meet (${describeProblems(problems)}); they were deleted before git read the tree`,
    data: { files: removed, kinds: [...new Set(problems.map((p) => p.kind))] },
  };
}

/**
 * CHECK: refuse a tree host git must not read (tree-integrity, checked first), any change outside the surface,
 * any change to a locked file or to `ratchet.lock` itself, and an empty change; then snapshot the worktree so
 * EXECUTE can prove it ran exactly what was approved.
 * @param parent the commit the change is made on (HEAD of the worktree): the patch's base
 * @param surface the contract's surface globs
 * @param lock the project's lock (its contract files may never change, even if a surface glob matches them)
 */
export async function checkChange(
  worktree: string,
  surface: string[],
  lock: Lock,
  parent: string,
): Promise<CheckResult> {
  const trips: Trip[] = [];
  const tree = treeIntegrity(worktree, 'after PROPOSE');
  if (tree) trips.push(tree);
  // Stage everything (ignored files too), name the tree, and read what it changes from git's objects: the paths
  // and the patch in one run (one git process fewer than `git status` and then a diff).
  const staged = await currentTree(worktree);
  const { files, patch } = await treeChanges(worktree, parent, staged);
  const isLocked = (f: string) => f in lock.contract || f === LOCK_FILE;
  const locked = files.filter(isLocked);
  if (locked.length > 0) {
    trips.push({
      guardrail: 'contract-integrity',
      message: `the change edits locked contract files: ${locked.join(', ')}`,
      data: { files: locked },
    });
  }
  const outside = files.filter((f) => !isLocked(f) && !surface.some((g) => globMatch(g, f)));
  if (outside.length > 0) {
    trips.push({
      guardrail: 'write-surface',
      message: `the change touches files outside the surface (${surface.join(', ')}): ${outside.join(', ')}`,
      data: { files: outside, surface },
    });
  }
  if (files.length === 0 && !tree) trips.push({ guardrail: 'no-op', message: 'the change is empty' });
  return {
    files: [...new Set([...files, ...((tree?.data?.['files'] as string[]) ?? [])])].sort(),
    tree: staged,
    patch,
    trips,
  };
}

/**
 * The tree the worktree holds after EXECUTE, checked like CHECK checks it (tree-integrity first, before git
 * stages anything).
 * @returns the staged tree's SHA and the tree-integrity trip (null when clean)
 */
export async function treeAfterExecute(worktree: string): Promise<{ tree: string; trip: Trip | null }> {
  const trip = treeIntegrity(worktree, 'after EXECUTE');
  return { tree: await currentTree(worktree), trip };
}

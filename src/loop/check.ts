import { globMatch } from '../contract/load.js';
import type { Lock } from '../contract/lock.js';
import { changes, snapshot } from '../git/git.js';
import type { Trip } from '../guardrails/registry.js';

/** What CHECK approved (or why it refused): the files, and the exact tree EXECUTE must run. */
export interface CheckResult {
  /** Project-relative paths the change touches (both sides of a rename). */
  files: string[];
  /** SHA of the staged tree: the snapshot approved for EXECUTE. */
  tree: string;
  /** The change as a binary-safe git patch against the last kept commit. */
  patch: string;
  /** Guardrails that tripped (empty when approved). */
  trips: Trip[];
}

/**
 * CHECK: reject any change outside the surface, any change to a locked file, and an empty change;
 * then snapshot the worktree so EXECUTE can prove it ran exactly what was approved.
 * @param surface the contract's surface globs
 * @param lock the project's lock (its contract files may never change, even if a surface glob matches them)
 */
export async function checkChange(worktree: string, surface: string[], lock: Lock): Promise<CheckResult> {
  const list = await changes(worktree);
  const files = [...new Set(list.flatMap((c) => (c.from ? [c.from, c.path] : [c.path])))].sort();
  const trips: Trip[] = [];
  const locked = files.filter((f) => f in lock.contract);
  if (locked.length > 0) {
    trips.push({
      guardrail: 'contract-integrity',
      message: `the change edits locked contract files: ${locked.join(', ')}`,
      data: { files: locked },
    });
  }
  const outside = files.filter((f) => !(f in lock.contract) && !surface.some((g) => globMatch(g, f)));
  if (outside.length > 0) {
    trips.push({
      guardrail: 'write-surface',
      message: `the change touches files outside the surface (${surface.join(', ')}): ${outside.join(', ')}`,
      data: { files: outside, surface },
    });
  }
  const { tree, patch } = await snapshot(worktree);
  if (files.length === 0) trips.push({ guardrail: 'no-op', message: 'the change is empty' });
  return { files, tree, patch, trips };
}

/**
 * The grouping behind `ratchet finalize` (docs/ARCHITECTURE.md, "Finalize"): a run's kept changes, each the diff
 * of its commit from its parent, split into independent groups. A change whose patch applies alone on the run's
 * base commit (`git apply --check`, no fuzz: none of its hunks or their three lines of context touch a line an
 * earlier kept change wrote) starts a group of its own; one that does not needs an earlier change and joins the
 * group it applies on (transitively: groups merge when it needs several). Each group becomes one branch off the
 * base with its changes stacked in run order. Everything here works on a private index (`read-tree`,
 * `apply --cached`, `write-tree`, `commit-tree`) of a worktree without a checkout: no file of any worktree is
 * written.
 */

import { git } from '../git/git.js';

/** One kept change to group: its place in run order and what it touches. */
export interface ChangeToGroup {
  /** Journal id of the experiment. */
  experiment: number;
  /** Project-relative files its patch touches. */
  files: string[];
  /**
   * Index (in the list given to {@link groupChanges}) of the kept change its commit was made on, when it was one
   * (its own direction's previous keep, or an adopted best): the group tried first when it needs an earlier change.
   */
  parent: number | null;
}

/**
 * Whether change `j` applies on the base with the changes `stack` (indices, in order) applied first.
 * `stack` empty: on the base alone.
 */
export type AppliesOn = (stack: number[], j: number) => Promise<boolean>;

/**
 * Split changes (in run order) into groups of dependent changes.
 * @param changes the kept changes, oldest first
 * @param applies the test of a patch on a stack (see {@link AppliesOn})
 * @returns groups of indices into `changes`, each in run order; groups ordered by their first change
 * @throws Error when a change applies on no stack of the earlier changes (not even all of them in run order)
 */
export async function groupChanges(changes: ChangeToGroup[], applies: AppliesOn): Promise<number[][]> {
  let groups: number[][] = [];
  for (let j = 0; j < changes.length; j++) {
    if (await applies([], j)) {
      groups.push([j]);
      continue;
    }
    const files = new Set(changes[j]!.files);
    const parent = changes[j]!.parent;
    // The groups holding an earlier change on one of its files; its parent's group first.
    const candidates = groups
      .filter((g) => g.some((i) => changes[i]!.files.some((f) => files.has(f))))
      .sort(
        (a, b) =>
          Number(parent !== null && b.includes(parent)) - Number(parent !== null && a.includes(parent)),
      );
    let chosen: number[] | null = null;
    for (const g of candidates) {
      if (await applies(g, j)) {
        chosen = g;
        break;
      }
    }
    const merge = async (gs: number[][]): Promise<number[] | null> => {
      const merged = gs.flat().sort((a, b) => a - b);
      if (!(await applies(merged, j))) return null;
      groups = [...groups.filter((g) => !gs.includes(g)), merged];
      return merged;
    };
    if (!chosen && candidates.length > 1) chosen = await merge(candidates);
    if (!chosen && groups.length > 0) chosen = await merge(groups);
    if (!chosen)
      throw new Error(
        `the change of experiment ${changes[j]!.experiment} applies neither on the base nor on the earlier kept changes`,
      );
    chosen.push(j);
  }
  return groups.sort((a, b) => a[0]! - b[0]!);
}

/**
 * Trees of the base with stacks of patches applied, built on the private index of a worktree without a checkout
 * (`git worktree add --no-checkout`) and cached by stack.
 */
export class PatchStacks {
  private readonly trees = new Map<string, string | null>();

  /**
   * @param worktree a worktree of the project whose index may be overwritten (its files are never read or written)
   * @param base the commit every stack starts from
   * @param patches the binary patches, by change index
   */
  constructor(
    private readonly worktree: string,
    private readonly base: string,
    private readonly patches: string[],
  ) {}

  /** The tree of the base with `stack` applied in order, or null when one of them does not apply. */
  async tree(stack: number[]): Promise<string | null> {
    const key = stack.join(',');
    if (this.trees.has(key)) return this.trees.get(key)!;
    let tree: string | null;
    if (stack.length === 0) tree = (await git(this.worktree, ['rev-parse', `${this.base}^{tree}`])).trim();
    else {
      const below = await this.tree(stack.slice(0, -1));
      tree = below === null ? null : await this.applyTo(below, stack[stack.length - 1]!, false);
    }
    this.trees.set(key, tree);
    return tree;
  }

  /** Whether patch `j` applies on the stack's tree. */
  readonly applies: AppliesOn = async (stack, j) => {
    const t = await this.tree(stack);
    return t !== null && (await this.applyTo(t, j, true)) !== null;
  };

  /** Apply patch `j` to `tree` in the index: the new tree (or `tree` itself for a check), null when it fails. */
  private async applyTo(tree: string, j: number, check: boolean): Promise<string | null> {
    await git(this.worktree, ['read-tree', tree]);
    try {
      await git(this.worktree, ['apply', '--cached', ...(check ? ['--check'] : []), '-'], {
        input: this.patches[j]!,
      });
    } catch {
      return null;
    }
    return check ? tree : (await git(this.worktree, ['write-tree'])).trim();
  }
}

/** The files a git patch touches (both sides of a rename), from its `diff --git` headers. */
export function patchFiles(patch: string): string[] {
  const files = new Set<string>();
  for (const line of patch.split('\n')) {
    const m = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
    if (m) {
      files.add(m[1]!);
      files.add(m[2]!);
    }
  }
  return [...files].sort();
}

/** A branch-name-safe slug of a hypothesis: lower case, words joined by `-`, at most 40 characters. */
export function slugOf(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return s || 'change';
}

import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RatchetError } from '../util/errors.js';
import { execFileLean } from '../util/spawner.js';
import { purgeTree, removeEmptyFolders, scanTree } from './tree.js';

/** Identity for commits Ratchet makes (so a machine without git config still works). */
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Ratchet',
  GIT_AUTHOR_EMAIL: 'ratchet@localhost',
  GIT_COMMITTER_NAME: 'Ratchet',
  GIT_COMMITTER_EMAIL: 'ratchet@localhost',
};

/**
 * Configuration forced on every host-side git call (`-c key=value`, which git also hands to any git it runs in
 * a nested repository). Nothing the tree under git's control can hold may make host git run a program: no
 * fsmonitor hook, no hooks, no external diff or textconv, no global attributes, no untracked cache, no ssh
 * command, no transport protocol, no recursion into (or status of) nested repositories, no background gc.
 * Filter drivers (`filter.<name>.*`) are config-only: the system and global configs are not read (see
 * {@link gitEnv}), so only the project's own `.git/config` (the person's, trusted) can define one.
 */
export const SAFE_GIT_CONFIG: readonly string[] = [
  'core.fsmonitor=false',
  'core.hooksPath=/dev/null',
  'core.sshCommand=false',
  'core.attributesFile=/dev/null',
  'core.untrackedCache=false',
  'core.pager=cat',
  'diff.external=',
  'diff.ignoreSubmodules=all',
  'status.submoduleSummary=false',
  'submodule.recurse=false',
  'protocol.allow=never',
  'protocol.ext.allow=never',
  'gc.auto=0',
  'maintenance.auto=false',
];

let emptyHome: string | null = null;

/** An empty folder used as HOME and XDG_CONFIG_HOME of host git (created once, removed at exit). */
function gitHome(): string {
  if (emptyHome === null) {
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-git-home-'));
    emptyHome = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return emptyHome;
}

/**
 * The environment of host-side git: the person's environment without any `GIT_*` variable (GIT_DIR,
 * GIT_CONFIG_PARAMETERS, GIT_EXTERNAL_DIFF... would redirect or reconfigure git), no system or global config
 * (`GIT_CONFIG_NOSYSTEM=1`, `GIT_CONFIG_GLOBAL=/dev/null`, HOME and XDG_CONFIG_HOME an empty folder), Ratchet's
 * identity, no prompt, C locale.
 */
export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('GIT_')) env[k] = v;
  const home = gitHome();
  return {
    ...env,
    ...IDENTITY,
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    LC_ALL: 'C',
  };
}

/**
 * Run git in `cwd` and return its stdout (trailing newline kept). git runs with {@link gitEnv} and
 * {@link SAFE_GIT_CONFIG}.
 * @throws Error carrying git's stderr when git exits non-zero
 */
export async function git(cwd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
  try {
    // Started from the lean helper process: forking the orchestrator itself costs ~5 ms of event loop per call.
    const { stdout } = await execFileLean('git', [...SAFE_GIT_CONFIG.flatMap((c) => ['-c', c]), ...args], {
      cwd,
      maxBuffer: 256 * 1024 * 1024,
      env: gitEnv(),
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; code?: number };
    throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** True when `dir` is inside a git work tree. */
export async function isRepo(dir: string): Promise<boolean> {
  try {
    return (await git(dir, ['rev-parse', '--is-inside-work-tree'])).trim() === 'true';
  } catch {
    return false;
  }
}

/**
 * Top-level folder of the git work tree `dir` is in (realpath, as git prints it), or null outside any work tree.
 */
export async function repoTop(dir: string): Promise<string | null> {
  try {
    return (await git(dir, ['rev-parse', '--show-toplevel'])).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Why a project folder cannot use the repository it sits in, or null when it is its own repository's top level
 * (or in no repository). Ratchet commits its contract and keeps its `ratchet/<run>` branches in the project's
 * repository; a folder inside someone else's repository would put them in that repository's history.
 */
export async function foreignRepo(dir: string): Promise<string | null> {
  const top = await repoTop(dir);
  if (top === null) return null;
  return realpathSync(top) === realpathSync(dir) ? null : top;
}

/** Full SHA of a revision (HEAD by default). */
export async function revParse(dir: string, rev = 'HEAD'): Promise<string> {
  return (await git(dir, ['rev-parse', '--verify', `${rev}^{commit}`])).trim();
}

/** True when the revision exists. */
export async function revExists(dir: string, rev: string): Promise<boolean> {
  try {
    await revParse(dir, rev);
    return true;
  } catch {
    return false;
  }
}

/** A changed path in a worktree, from `git status --porcelain`. */
export interface Change {
  /** Two-letter porcelain status, e.g. ' M', '??', 'D ', 'R '. */
  status: string;
  path: string;
  /** For renames and copies: the original path. */
  from?: string;
}

/**
 * Every changed, added, deleted or untracked file (untracked files listed one by one, ignored files too).
 * Call it only on a tree {@link scanTree} found clean (CHECK does): git reads the worktree.
 */
export async function changes(dir: string): Promise<Change[]> {
  const out = await git(dir, [
    'status',
    '--porcelain=v1',
    '-z',
    '--untracked-files=all',
    '--ignored=matching',
    '--ignore-submodules=all',
  ]);
  const parts = out.split('\0').filter(Boolean);
  const list: Change[] = [];
  for (let i = 0; i < parts.length; i++) {
    const entry = parts[i]!;
    const status = entry.slice(0, 2);
    const path = entry.slice(3);
    if (status[0] === 'R' || status[0] === 'C') list.push({ status, path, from: parts[++i] });
    else list.push({ status, path });
  }
  return list;
}

/**
 * Stage everything in the worktree and return the tree's SHA and the patch against HEAD.
 * The tree SHA is the snapshot CHECK approves: EXECUTE must run exactly that tree.
 */
export async function snapshot(dir: string): Promise<{ tree: string; patch: string }> {
  await git(dir, ['add', '-A', '-f', '.']);
  const tree = (await git(dir, ['write-tree'])).trim();
  const patch = await git(dir, ['diff', '--cached', '--binary', '--no-ext-diff', '--no-textconv', 'HEAD']);
  return { tree, patch };
}

/** SHA of the tree the worktree holds now (staging everything first, as {@link snapshot} does; no patch). */
export async function currentTree(dir: string): Promise<string> {
  await git(dir, ['add', '-A', '-f', '.']);
  return (await git(dir, ['write-tree'])).trim();
}

/**
 * The binary-safe patch from commit `base` to tree `tree`, read from git's objects only (neither the index nor
 * the worktree is read, so it may run while a sandboxed command uses the worktree or git stages it again).
 * @param base a commit (or tree) SHA; @param tree a tree SHA (e.g. from {@link currentTree})
 * @returns the patch text (empty when the trees are equal)
 */
export async function treePatch(dir: string, base: string, tree: string): Promise<string> {
  return git(dir, ['diff', '--binary', '--no-ext-diff', '--no-textconv', base, tree]);
}

/**
 * What changed from commit `base` to tree `tree`, in one git process: the paths (`git diff --raw -z`: both sides
 * of a rename or copy) and the binary-safe patch {@link treePatch} gives, byte for byte (`-p` after the raw
 * records; with `-z` git ends the raw records with an empty field before the patch). Like {@link treePatch} it
 * reads git's objects only, never the index or the worktree.
 * @param base a commit (or tree) SHA; @param tree a tree SHA (e.g. from {@link currentTree})
 * @returns the changed paths (sorted, distinct) and the patch text (both empty when the trees are equal)
 * @throws Error when git fails or its output is not the raw-then-patch form
 */
export async function treeChanges(
  dir: string,
  base: string,
  tree: string,
): Promise<{ files: string[]; patch: string }> {
  const out = await git(dir, [
    'diff',
    '--raw',
    '-z',
    '-p',
    '--binary',
    '--no-ext-diff',
    '--no-textconv',
    base,
    tree,
  ]);
  const files = new Set<string>();
  let i = 0;
  const field = () => {
    const end = out.indexOf('\0', i);
    if (end < 0) throw new Error(`git diff --raw -z: a record without its end in ${dir}`);
    const f = out.slice(i, end);
    i = end + 1;
    return f;
  };
  while (i < out.length && out[i] === ':') {
    // ":<mode> <mode> <sha> <sha> <status>" then the path (two paths for a rename or a copy).
    const status = field().split(' ').pop() ?? '';
    files.add(field());
    if (status.startsWith('R') || status.startsWith('C')) files.add(field());
  }
  if (i < out.length && field() !== '') throw new Error(`git diff --raw -z -p: unexpected output in ${dir}`);
  return { files: [...files].sort(), patch: out.slice(i) };
}

/**
 * Commit a tree on top of HEAD with git trailers (`Key: value` lines at the end of the message), as
 * `git commit -m subject -m body --trailer ...` would, in two plumbing commands (`commit-tree`, which prints the
 * new SHA, and `update-ref`, which moves HEAD's branch only if it still points at the parent): no index refresh,
 * no `rev-parse` afterwards.
 * @param at the tree to commit (default: the index's, via `write-tree`) and the parent (default: HEAD now); HEAD
 *   must still be that parent
 * @returns the new commit's SHA
 * @throws Error when HEAD is not the parent (it moved) or git fails
 */
export async function commit(
  dir: string,
  subject: string,
  body: string,
  trailers: Record<string, string>,
  at: { tree?: string; parent?: string } = {},
): Promise<string> {
  const t = at.tree ?? (await git(dir, ['write-tree'])).trim();
  const parent = at.parent ?? (await revParse(dir));
  const sha = (
    await git(dir, ['commit-tree', t, '-p', parent], { input: commitMessage(subject, body, trailers) })
  ).trim();
  await git(dir, ['update-ref', '-m', `commit: ${subject.split('\n')[0]}`, 'HEAD', sha, parent]);
  return sha;
}

/**
 * The message `git commit -m subject -m body --trailer k: v` writes: paragraphs separated by one blank line,
 * trailing spaces and runs of blank lines removed (git's default cleanup), then the trailers (whitespace in a
 * value folded to single spaces), one per line.
 */
export function commitMessage(subject: string, body: string, trailers: Record<string, string>): string {
  const clean = (text: string) =>
    text
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  const lines = Object.entries(trailers).map(([k, v]) => `${k}: ${v.replace(/\s+/g, ' ').trim()}`);
  return `${[clean(subject), clean(body), lines.join('\n')].filter(Boolean).join('\n\n')}\n`;
}

/**
 * Put the worktree back at `sha` exactly: first delete (without following links, before git reads the tree)
 * every entry CHECK refuses (nested `.git`, symlinks, FIFOs, sockets, devices, control characters in names),
 * then reset tracked files and delete untracked and ignored ones (`clean -ffdx`: the double -f also removes
 * nested repositories).
 * @returns the worktree-relative paths deleted before git ran
 */
export async function resetHard(dir: string, sha: string): Promise<string[]> {
  const purged = purgeTree(dir, scanTree(dir));
  await git(dir, ['reset', '-q', '--hard', sha]);
  await git(dir, ['clean', '-q', '-f', '-f', '-d', '-x']);
  return purged;
}

/**
 * {@link resetHard} for a worktree whose every file is staged (just after {@link currentTree} or
 * {@link snapshot}, with nothing written since): `reset --hard` then deletes every staged file `sha` lacks
 * (ignored ones too: they were staged with `-f`), so the only untracked entries left are empty folders, which
 * are removed here without running `git clean` (one git process less per reverted experiment).
 * @returns the worktree-relative paths deleted before git ran (entries CHECK refuses), as {@link resetHard}
 */
export async function resetStaged(dir: string, sha: string): Promise<string[]> {
  const purged = purgeTree(dir, scanTree(dir));
  await git(dir, ['reset', '-q', '--hard', sha]);
  removeEmptyFolders(dir);
  return purged;
}

/** Trailers of a commit as a map (last value wins). */
export async function trailers(dir: string, rev = 'HEAD'): Promise<Record<string, string>> {
  const out = await git(dir, ['log', '-1', '--format=%(trailers:only,unfold)', rev]);
  const map: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) map[m[1]!] = m[2]!;
  }
  return map;
}

/**
 * Create (or reopen) the worktree of a ratchet branch.
 * A new branch starts at `base`; an existing branch is checked out as it is.
 */
export async function addWorktree(
  projectDir: string,
  path: string,
  branch: string,
  base: string,
): Promise<void> {
  await git(projectDir, ['worktree', 'prune']);
  if (await revExists(projectDir, `refs/heads/${branch}`)) {
    await git(projectDir, ['worktree', 'add', '-f', path, branch]);
  } else {
    await git(projectDir, ['worktree', 'add', '-f', '-b', branch, path, base]);
  }
}

/** Remove a worktree folder (the branch stays). */
export async function removeWorktree(projectDir: string, path: string): Promise<void> {
  await git(projectDir, ['worktree', 'remove', '--force', path]).catch(() => undefined);
  await git(projectDir, ['worktree', 'prune']).catch(() => undefined);
}

/**
 * Require a git repository with at least one commit.
 * @throws RatchetError with the fix
 */
export async function requireRepo(dir: string): Promise<string> {
  if (!(await isRepo(dir))) {
    throw new RatchetError(`${dir} is not a git repository`, {
      hint: 'run `git init` and commit, or `ratchet init`, which does both',
    });
  }
  const outer = await foreignRepo(dir);
  if (outer !== null) {
    throw new RatchetError(`${dir} has no git repository of its own: it is inside ${outer}`, {
      hint: `run \`ratchet init --own-repo\` in ${dir} to give the project its own repository (Ratchet never commits into ${outer})`,
    });
  }
  try {
    return await revParse(dir);
  } catch {
    throw new RatchetError('the repository has no commit yet', {
      hint: 'commit the project (ratchet init does this)',
    });
  }
}

/**
 * The revert path's git (src/git/git.ts): `resetStaged` (reset --hard of a fully staged tree, then the empty
 * folders removed without `git clean`) must leave exactly what `resetHard` leaves, and `treePatch` (the patch
 * read from git's objects while EXECUTE runs) must equal the staged diff CHECK used to take.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  commit,
  currentTree,
  resetHard,
  resetStaged,
  trailers,
  treeChanges,
  treePatch,
} from '../src/git/git.js';
import { removeEmptyFolders } from '../src/git/tree.js';
import { tempDir } from './helpers/project.js';

const sh = (cwd: string, args: string[]) => {
  const r = spawnSync('git', ['-c', 'user.name=a', '-c', 'user.email=a@b', ...args], {
    cwd,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

/** A repository with a commit, then an experiment's mess: edits, new, ignored and deleted files, empty folders. */
function messyRepo(): { dir: string; head: string } {
  const dir = tempDir();
  sh(dir, ['init', '-q']);
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'b.txt'), 'b\n');
  writeFileSync(join(dir, '.gitignore'), '*.log\ncache/\n');
  sh(dir, ['add', '-A']);
  sh(dir, ['commit', '-qm', 'init']);
  const head = sh(dir, ['rev-parse', 'HEAD']).trim();
  writeFileSync(join(dir, 'a.txt'), 'changed\n');
  writeFileSync(join(dir, 'new.txt'), 'new\n');
  writeFileSync(join(dir, 'run.log'), 'ignored\n');
  mkdirSync(join(dir, 'cache', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'cache', 'deep', 'x.bin'), Buffer.from([0, 1, 2]));
  rmSync(join(dir, 'src', 'b.txt'));
  mkdirSync(join(dir, 'e1', 'e2', 'e3'), { recursive: true });
  mkdirSync(join(dir, 'src', 'empty'));
  return { dir, head };
}

/** Every entry below `dir` except `.git`, sorted, folders marked with a trailing slash. */
function listing(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    if (rel === '' && e.name === '.git') continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${r}/`, ...listing(dir, r));
    else out.push(`${r}:${readFileSync(join(dir, r), 'utf8')}`);
  }
  return out.sort();
}

describe('resetStaged: a revert without git clean', () => {
  it('leaves exactly what resetHard leaves: tracked files restored, new, ignored and deleted files and empty folders gone', async () => {
    const a = messyRepo();
    const b = messyRepo();
    await currentTree(a.dir);
    await resetStaged(a.dir, a.head);
    await resetHard(b.dir, b.head);
    expect(listing(a.dir)).toEqual(['.gitignore:*.log\ncache/\n', 'a.txt:a\n', 'src/', 'src/b.txt:b\n']);
    expect(listing(a.dir)).toEqual(listing(b.dir));
    expect(sh(a.dir, ['status', '--porcelain', '--ignored', '--untracked-files=all'])).toBe('');
  });

  it('removeEmptyFolders never follows a link and never touches the root or its .git', () => {
    const root = tempDir();
    mkdirSync(join(root, '.git'));
    const outside = tempDir('ratchet-outside-');
    mkdirSync(join(outside, 'empty'));
    symlinkSync(outside, join(root, 'link'));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    expect(removeEmptyFolders(root)).toBe(2);
    expect(existsSync(join(root, 'a'))).toBe(false);
    expect(existsSync(join(root, '.git'))).toBe(true);
    expect(existsSync(join(outside, 'empty'))).toBe(true);
    expect(existsSync(join(root, 'link'))).toBe(true);
  });
});

describe('treePatch', () => {
  it('equals the staged diff against HEAD, binary files included, and needs neither the index nor the worktree', async () => {
    const { dir, head } = messyRepo();
    const tree = await currentTree(dir);
    const staged = sh(dir, ['diff', '--cached', '--binary', 'HEAD']);
    expect(staged).toContain('GIT binary patch');
    // The worktree and index move on (a revert): the patch still comes from the objects.
    await resetStaged(dir, head);
    expect(await treePatch(dir, head, tree)).toBe(staged);
    expect(await treePatch(dir, head, sh(dir, ['rev-parse', 'HEAD^{tree}']).trim())).toBe('');
  });
});

describe('treeChanges (the paths and the patch CHECK reads in one git run)', () => {
  it("lists every changed path, ignored and binary files and odd names included, and gives treePatch's patch byte for byte", async () => {
    const { dir, head } = messyRepo();
    writeFileSync(join(dir, 'sp ace\ttab.txt'), 'x\n');
    writeFileSync(join(dir, ':colon.txt'), 'x\n');
    const tree = await currentTree(dir);
    const { files, patch } = await treeChanges(dir, head, tree);
    // What `git status` listed before CHECK staged the tree (the paths a surface check must see).
    expect(files).toEqual(
      [
        ':colon.txt',
        'a.txt',
        'cache/deep/x.bin',
        'new.txt',
        'run.log',
        'sp ace\ttab.txt',
        'src/b.txt',
      ].sort(),
    );
    expect(patch).toBe(await treePatch(dir, head, tree));
    expect(patch).toContain('GIT binary patch');
    expect(await treeChanges(dir, head, sh(dir, ['rev-parse', 'HEAD^{tree}']).trim())).toEqual({
      files: [],
      patch: '',
    });
  });

  it('names both sides of a rename', async () => {
    const { dir, head } = messyRepo();
    await resetHard(dir, head);
    const body = 'a long enough body for git to call this a rename\n'.repeat(5);
    writeFileSync(join(dir, 'src', 'b.txt'), body);
    sh(dir, ['add', '-A']);
    sh(dir, ['commit', '-qm', 'body']);
    const base = sh(dir, ['rev-parse', 'HEAD']).trim();
    rmSync(join(dir, 'src', 'b.txt'));
    writeFileSync(join(dir, 'moved.txt'), body);
    const tree = await currentTree(dir);
    const { files, patch } = await treeChanges(dir, base, tree);
    expect(patch).toContain('rename from src/b.txt');
    expect(files).toEqual(['moved.txt', 'src/b.txt']);
  });
});

describe('commit (commit-tree and update-ref)', () => {
  it('writes the message git commit -m -m --trailer writes, moves the branch, and refuses a moved HEAD', async () => {
    const { dir, head } = messyRepo();
    const tree = await currentTree(dir);
    const body = 'gain +0.01  \n\n\n\nsecond paragraph\n';
    const tr = { 'Ratchet-Score': 'auroc=0.9', 'Ratchet-Hypothesis': 'use  more\ntrees' };
    const sha = await commit(dir, 'ratchet: a change', body, tr, { tree, parent: head });
    expect(sh(dir, ['rev-parse', 'HEAD']).trim()).toBe(sha);
    expect(sh(dir, ['symbolic-ref', 'HEAD']).trim()).toMatch(/^refs\/heads\//);
    expect(sh(dir, ['rev-parse', 'HEAD^{tree}']).trim()).toBe(tree);
    expect(sh(dir, ['rev-parse', 'HEAD^']).trim()).toBe(head);
    // git's own commit of the same change, for comparison.
    sh(dir, ['checkout', '-q', '-b', 'plain', head]);
    sh(dir, ['read-tree', tree]);
    sh(dir, [
      'commit',
      '-q',
      '--no-verify',
      '-m',
      'ratchet: a change',
      '-m',
      body,
      '--trailer',
      'Ratchet-Score: auroc=0.9',
      '--trailer',
      'Ratchet-Hypothesis: use more trees',
    ]);
    expect(sh(dir, ['log', '-1', '--format=%B', sha])).toBe(sh(dir, ['log', '-1', '--format=%B', 'plain']));
    expect(await trailers(dir, sha)).toEqual({
      'Ratchet-Score': 'auroc=0.9',
      'Ratchet-Hypothesis': 'use more trees',
    });
    // HEAD is no longer the parent: nothing is committed on top of history the caller did not check.
    await expect(commit(dir, 's', '', {}, { tree, parent: head })).rejects.toThrow(/update-ref/);
  });
});

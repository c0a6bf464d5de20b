import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, gitOut, makeProject, ROOT, tempDir, writeExampleData } from './helpers/project.js';

const PY = join(ROOT, '.venv', 'bin', 'python');

/** Write one of scikit-learn's bundled real datasets as a CSV (no network needed). */
function sklearnCsv(dest: string, loader: 'load_wine' | 'load_diabetes' | 'load_breast_cancer'): void {
  const r = spawnSync(
    PY,
    [
      '-c',
      `import sklearn.datasets as d; f = d.${loader}(as_frame=True).frame; f.to_csv("${dest}", index=False)`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
}

describe('ratchet init --data scaffolds a working project for a new dataset, no code written', () => {
  for (const [loader, task, target, metric] of [
    ['load_wine', 'multiclass', 'target', 'log_loss'],
    ['load_diabetes', 'regression', 'target', 'rmse'],
  ] as const) {
    it(`${task}: init → check → run (search) → submit`, async () => {
      const dir = tempDir();
      sklearnCsv(join(dir, 'data.csv'), loader);
      const init = cli(['init', '--data', 'data.csv', '--target', target, '--task', task, '--json'], dir);
      expect(init.code, init.stderr).toBe(0);
      const res = JSON.parse(init.stdout);
      expect(res.manifest.task).toBe(task);
      expect(res.manifest.generatedId).toBe(true);
      for (const f of ['ratchet.yaml', 'train.py', 'params.yaml', 'search_space.yaml', 'ratchet.lock'])
        expect(existsSync(join(dir, f))).toBe(true);
      expect(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')).toMatch(new RegExp(`primary: ${metric}`));
      expect(gitOut(dir, ['log', '--oneline'])).toMatch(/ratchet: init contract/);
      expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^data.csv$/m);
      const check = cli(['check', '--runs', '1', '--json'], dir);
      expect(check.code, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout).metric).toBe(metric);
      const run = cli(['run', '--experiments', '4', '--timeout', '120s', '--json'], dir);
      expect(run.code, run.stderr).toBe(0);
      const summary = JSON.parse(run.stdout);
      expect(summary.experiments).toBe(4);
      expect(run.stderr).toMatch(/\[4\/4\]/);
      const log = JSON.parse(cli(['log', '--json'], dir).stdout) as {
        decision: string;
        score: number | null;
      }[];
      expect(log).toHaveLength(4);
      expect(log[0]!.decision).toBe('kept');
      expect(log.filter((e) => e.decision === 'crashed' || e.decision === 'invalid')).toEqual([]);
      const sub = cli(['submit', '--json'], dir);
      expect(sub.code, sub.stderr).toBe(0);
      const s = JSON.parse(sub.stdout);
      expect(typeof s.private).toBe('number');
      expect(s.metric).toBe(metric);
    });
  }
});

describe('read commands, submit and bad input through the CLI', () => {
  it('status, log and show print JSON; submit scores the private holdout once', async () => {
    const dir = await makeProject({ rows: 3000 });
    expect(cli(['run', '--experiments', '3'], dir).code).toBe(0);
    const log = JSON.parse(cli(['log', '--json'], dir).stdout) as Record<string, unknown>[];
    expect(log).toHaveLength(3);
    for (const e of log)
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['id', 'decision', 'hypothesis', 'score']));
    const show = JSON.parse(cli(['show', String(log[1]!['id']), '--json'], dir).stdout);
    expect(show.patch).toMatch(/params.yaml/);
    expect(show.stdout.length).toBeGreaterThan(0);
    const before = JSON.parse(cli(['status', '--json'], dir).stdout);
    expect(before.submission).toBeNull();
    expect(before.run.status).toBe('finished');
    expect(before.experiments.total).toBe(3);
    const first = JSON.parse(cli(['submit', '--json'], dir).stdout);
    expect(first.fresh).toBe(true);
    const second = JSON.parse(cli(['submit', '--json'], dir).stdout);
    expect(second.fresh).toBe(false);
    expect(second.private).toBe(first.private);
    const status = JSON.parse(cli(['status', '--json'], dir).stdout);
    expect(typeof status.submission.public).toBe('number');
    expect(typeof status.submission.private).toBe('number');
    expect(status.submission.gap).toBeCloseTo(status.submission.public - status.submission.private, 12);
    // The private score never appears in what a proposer can read (log entries).
    expect(JSON.stringify(JSON.parse(cli(['log', '--json'], dir).stdout))).not.toContain(
      String(first.private),
    );
    // With --json the error is JSON on stdout (README: Words, counts and errors).
    const missing = cli(['show', '999', '--json'], dir);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout).error).toMatchObject({ message: 'no experiment 999', exitCode: 2 });
  });

  it('altered private predictions are refused at submit', async () => {
    const dir = await makeProject({ rows: 1500 });
    expect(cli(['run', '--experiments', '1'], dir).code).toBe(0);
    const file = join(dir, '.ratchet/runs/0001/output/private.parquet');
    spawnSync('chmod', ['u+w', file]);
    // One byte more: any change to the file's bytes changes its SHA-256.
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from([0])]));
    const r = cli(['submit'], dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/missing or were altered after EVALUATE/);
  });

  it('bad input: each error names the file or field and the fix, exit code 2 or 3', async () => {
    const dir = tempDir();
    writeExampleData(join(dir, 'data.csv'), 500);
    const noTarget = cli(['init', '--data', 'data.csv', '--target', 'income', '--task', 'binary'], dir);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(
      /ratchet.yaml: data.target: column "income" is not in data.csv\n {2}fix: use one of: row_id, id, docvis/,
    );
    const badTask = cli(
      ['init', '--data', 'data.csv', '--target', 'outwork', '--task', 'survival'],
      tempDir(),
    );
    expect(badTask).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--task must be binary, multiclass, regression or ranking/),
    });
    const noContract = cli(['run'], tempDir());
    expect(noContract).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no ratchet.yaml[\s\S]*fix: run `ratchet init/),
    });
    const proj = await makeProject({ rows: 800 });
    writeFileSync(
      join(proj, 'ratchet.yaml'),
      readFileSync(join(proj, 'ratchet.yaml'), 'utf8').replace('min_delta: 0.0005', 'min_delta: 0.0'),
    );
    const changed = cli(['run', '--experiments', '2'], proj);
    expect(changed.code).toBe(3);
    expect(changed.stderr).toMatch(
      /locked file changed since ratchet init: ratchet.yaml \(changed\)[\s\S]*fix: restore ratchet.yaml/,
    );
    const badOpt = cli(['run', '--experiments', 'many'], proj);
    expect(badOpt).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--experiments must be a positive integer/),
    });
  });
});

/** A git repository with one commit, standing for a user's own repository (or a clone of Ratchet). */
function outerRepo(): { top: string; head: string } {
  const top = tempDir('ratchet-outer-');
  writeFileSync(join(top, 'README.md'), "someone else's project\n");
  gitOut(top, ['init', '-q', '-b', 'main']);
  gitOut(top, ['add', 'README.md']);
  gitOut(top, ['-c', 'user.name=u', '-c', 'user.email=u@x', 'commit', '-q', '-m', 'first']);
  return { top, head: gitOut(top, ['rev-parse', 'HEAD']).trim() };
}

describe('init in a folder inside another git repository', () => {
  it('refuses without --own-repo and writes nothing; with --own-repo the project gets its own repository', () => {
    const outer = outerRepo();
    const proj = join(outer.top, 'sub', 'proj');
    mkdirSync(proj, { recursive: true });
    writeExampleData(join(proj, 'data.csv'), 400);
    const args = [
      'init',
      '--data',
      'data.csv',
      '--target',
      'outwork',
      '--task',
      'binary',
      '--positive-class',
      '1',
      '--id',
      'row_id',
    ];
    const refused = cli([...args, '--group', 'id'], proj);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`is inside the git repository ${realpathSync(outer.top)}`);
    expect(refused.stderr).toContain('--own-repo');
    expect(readdirSync(proj)).toEqual(['data.csv']); // no half-made scaffold
    expect(gitOut(outer.top, ['rev-parse', 'HEAD']).trim()).toBe(outer.head);
    // A command run there refuses too, instead of using the enclosing repository.
    expect(cli(['check'], proj).code).not.toBe(0);

    const ok = cli([...args, '--group', 'id', '--own-repo', '--json'], proj);
    expect(ok.code, ok.stderr).toBe(0);
    expect(gitOut(proj, ['rev-parse', '--show-toplevel']).trim()).toBe(realpathSync(proj));
    expect(gitOut(proj, ['log', '--oneline'])).toMatch(/ratchet: init contract/);
    // The enclosing repository's history is untouched.
    expect(gitOut(outer.top, ['rev-parse', 'HEAD']).trim()).toBe(outer.head);
    expect(gitOut(outer.top, ['log', '--oneline']).trim().split('\n')).toHaveLength(1);
  });
});

describe('ratchet demo', () => {
  it('inits the bundled example, checks, runs and submits in one command, in its own repository', async () => {
    // Inside another repository with no ignore line for it: the demo must make (and commit into) its own.
    const outer = outerRepo();
    const dir = join(outer.top, 'ratchet-demo');
    const r = cli(['demo', dir, '--experiments', '4'], outer.top);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4\/4 submit/);
    expect(r.stdout).toMatch(/private auroc: 0\.\d{6}/);
    const status = JSON.parse(cli(['status', '--json'], dir).stdout);
    expect(status.experiments.total).toBe(4);
    expect(typeof status.submission.private).toBe('number');
    expect(gitOut(dir, ['rev-parse', '--show-toplevel']).trim()).toBe(realpathSync(dir));
    expect(gitOut(outer.top, ['rev-parse', 'HEAD']).trim()).toBe(outer.head);
    expect(gitOut(outer.top, ['log', '--oneline']).trim().split('\n')).toHaveLength(1);
    expect(cli(['demo', dir], ROOT)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/is not empty/),
    });
  }, 600_000);
});

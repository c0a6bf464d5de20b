import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { proposerFactory } from '../src/cli/proposers.js';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { gitOut, makeProject } from './helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript, ScriptedProposer } from './helpers/scripted.js';

describe('the loop with the search proposer, end to end (real git, bubblewrap, Python)', () => {
  it('runs the baseline then TPE proposals, commits kept changes with trailers, and leaves the branch clean', async () => {
    const dir = await makeProject({ rows: 4000 });
    const seen: string[] = [];
    const s = await runLoop({
      projectDir: dir,
      proposer: proposerFactory('search'),
      maxExperiments: 5,
      experimentTimeoutMs: 120_000,
      onProgress: (p) => seen.push(p.type),
    });
    expect(s.status).toBe('finished');
    expect(s.experiments).toBe(5);
    expect(seen.filter((t) => t === 'experiment-end')).toHaveLength(5);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(s.runId);
    j.close();
    expect(exps.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(exps[0]!.decision).toBe('kept');
    expect(exps[0]!.proposer).toBe('baseline');
    expect(exps.slice(1).every((e) => e.proposer === 'search' && e.hypothesis.startsWith('TPE trial'))).toBe(
      true,
    );
    for (const e of exps) {
      expect(e.sandboxed).toBe(true);
      expect(e.reason.length).toBeGreaterThan(0);
      if (e.decision === 'kept' || e.decision === 'reverted') {
        expect(e.score).toBeGreaterThan(0.5);
        expect(Object.keys(e.metrics)).toEqual(expect.arrayContaining(['auroc', 'log_loss', 'accuracy']));
      }
      if (e.seq > 1 && (e.decision === 'kept' || e.decision === 'reverted')) expect(e.delta).not.toBeNull();
      if (e.seq > 1) expect(e.files).toEqual(['params.yaml']);
    }
    // One commit per kept experiment on the ratchet branch, each with trailers.
    const kept = exps.filter((e) => e.decision === 'kept');
    const log = gitOut(dir, [
      'log',
      '--format=%H%x09%(trailers:key=Ratchet-Experiment,valueonly)',
      `main..${s.branch}`,
    ])
      .split('\n')
      .filter(Boolean);
    expect(log).toHaveLength(kept.length);
    expect(log.map((l) => Number(l.split('\t')[1])).sort((a, b) => a - b)).toEqual(kept.map((e) => e.id));
    expect(gitOut(dir, ['rev-parse', s.branch]).trim()).toBe(kept.at(-1)!.commitSha);
    const trailers = gitOut(dir, ['log', '-1', '--format=%(trailers)', s.branch]);
    expect(trailers).toMatch(/Ratchet-Score: auroc=0\.\d{6}/);
    expect(trailers).toMatch(/Ratchet-Hypothesis: /);
    // The person's checkout is untouched and the worktree is gone.
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
    expect(gitOut(dir, ['branch', '--show-current']).trim()).toBe('main');
    expect(existsSync(join(dir, '.ratchet/worktrees', s.runId))).toBe(false);
    // Traces and results.tsv.
    const tsv = readFileSync(join(dir, '.ratchet/results.tsv'), 'utf8').trim().split('\n');
    expect(tsv).toHaveLength(6);
    expect(tsv[0]!.split('\t')).toEqual([
      'experiment',
      'run',
      'seq',
      'commit',
      'score',
      'delta',
      'decision',
      'seconds',
      'proposer',
      'hypothesis',
    ]);
    const trace = join(dir, '.ratchet/runs', String(exps[1]!.id).padStart(4, '0'));
    expect(readdirSync(trace).sort()).toEqual(
      expect.arrayContaining([
        'experiment.json',
        'output',
        'patch.diff',
        'sandbox.json',
        'stderr.log',
        'stdout.log',
      ]),
    );
    expect(readFileSync(join(trace, 'patch.diff'), 'utf8')).toMatch(/params.yaml/);
    expect(statSync(join(trace, 'output', 'public.parquet')).mode & 0o222).toBe(0);
  });
});

const bad = {
  crash: predictingScript(NOISE_PREDICTIONS, 'raise SystemExit("training diverged")'),
  hang: predictingScript(NOISE_PREDICTIONS, 'import time\ntime.sleep(600)'),
  nan: predictingScript('np.where(np.arange(len(df)) == 3, np.nan, 0.5)'),
  ids: predictingScript('0.5').replace('"row_id": df["row_id"]', '"row_id": "x" + df["row_id"]'),
  constant: predictingScript(NOISE_PREDICTIONS),
  better: null as unknown as string,
};

describe('the loop records every failure and never leaves the branch dirty', () => {
  it('crash, invalid predictions, surface and contract violations, empty change, then a real gain', async () => {
    const dir = await makeProject({
      rows: 8000,
      contract: (y) => `${y}suspicion: { consecutive_trips: 10 }\n`,
    });
    const good = readFileSync(join(dir, 'train.py'), 'utf8');
    const params = readFileSync(join(dir, 'params.yaml'), 'utf8');
    const proposer = new ScriptedProposer([
      { hypothesis: 'crash', files: { 'train.py': bad.crash } },
      { hypothesis: 'nan', files: { 'train.py': bad.nan } },
      { hypothesis: 'wrong ids', files: { 'train.py': bad.ids } },
      {
        hypothesis: 'outside the surface',
        files: { 'notes.txt': 'hello', 'train.py': `${good}\n# touch\n` },
      },
      {
        hypothesis: 'edit the contract',
        files: {
          'ratchet.yaml': `${readFileSync(join(dir, 'ratchet.yaml'), 'utf8')}\n# min_delta lowered\n`,
        },
      },
      { hypothesis: 'nothing', files: {} },
      {
        hypothesis: 'lightgbm',
        files: {
          'params.yaml':
            'model: lightgbm\nlightgbm:\n  n_estimators: 200\n  learning_rate: 0.05\n  num_leaves: 15\n',
        },
      },
    ]);
    const s = await runLoop({
      projectDir: dir,
      proposer: async () => proposer,
      maxExperiments: 8,
      experimentTimeoutMs: 120_000,
      maxConsecutiveFailures: 10,
    });
    expect(s.status).toBe('finished');
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(s.runId);
    const events = j.listEvents({ runId: s.runId, kinds: ['guardrail'] });
    j.close();
    const byHyp = Object.fromEntries(exps.map((e) => [e.hypothesis, e]));
    expect(byHyp['crash']).toMatchObject({ decision: 'crashed', sandboxStatus: 'failed', score: null });
    expect(byHyp['crash']!.reason).toMatch(/training diverged/);
    expect(byHyp['nan']).toMatchObject({ decision: 'invalid' });
    expect(byHyp['nan']!.reason).toMatch(/prediction is empty \(NaN written as a blank\?\) for ids "\d+"/);
    expect(byHyp['wrong ids']!.decision).toBe('invalid');
    expect(byHyp['wrong ids']!.reason).toMatch(/ids not in the holdout e.g. "x/);
    expect(byHyp['outside the surface']).toMatchObject({ decision: 'rejected', sandboxStatus: 'skipped' });
    expect(byHyp['outside the surface']!.reason).toMatch(/write-surface: .*notes.txt/);
    expect(byHyp['edit the contract']!.decision).toBe('rejected');
    expect(byHyp['edit the contract']!.reason).toMatch(/contract-integrity: .*ratchet.yaml/);
    expect(byHyp['nothing']!.reason).toMatch(/no-op/);
    expect(byHyp['lightgbm']).toMatchObject({ decision: 'kept' });
    expect(byHyp['lightgbm']!.delta).toBeGreaterThan(0.01);
    expect(events.map((e) => e.guardrail)).toEqual(
      expect.arrayContaining(['write-surface', 'contract-integrity', 'no-op']),
    );
    // Every propose saw a clean worktree at the last kept commit.
    expect(proposer.statusAtPropose.every((st) => st === '')).toBe(true);
    // The proposer heard every decision, the baseline's included.
    expect(proposer.observed.map((o) => o.decision)).toEqual(exps.map((e) => e.decision));
    // The branch holds the baseline and the kept change only; rejected files never reached it.
    const files = gitOut(dir, ['ls-tree', '-r', '--name-only', s.branch]);
    expect(files).not.toMatch(/notes.txt/);
    expect(gitOut(dir, ['show', `${s.branch}:params.yaml`])).toMatch(/lightgbm/);
    expect(gitOut(dir, ['show', `${s.branch}:train.py`])).toBe(good);
    expect(params).not.toMatch(/lightgbm/);
  });

  it('a hanging training script is killed at the timeout and recorded', async () => {
    const dir = await makeProject({ rows: 1500 });
    const proposer = new ScriptedProposer([{ hypothesis: 'hang', files: { 'train.py': bad.hang } }]);
    const s = await runLoop({
      projectDir: dir,
      proposer: async () => proposer,
      maxExperiments: 2,
      experimentTimeoutMs: 10_000,
    });
    const j = Journal.open(dir, { readonly: true });
    const hang = j.listExperiments(s.runId)[1]!;
    j.close();
    expect(hang).toMatchObject({ decision: 'timeout', sandboxStatus: 'timeout', score: null });
    expect(hang.executeMs!).toBeGreaterThanOrEqual(10_000);
    expect(hang.executeMs!).toBeLessThan(12_000);
    expect(proposer.statusAtPropose).toEqual(['']);
    expect(gitOut(dir, ['show', `${s.branch}:train.py`])).not.toMatch(/time\.sleep\(600\)/); // the hanging change never reached the branch
  });

  it('escalates after the maximum consecutive failures', async () => {
    const dir = await makeProject({ rows: 1500 });
    const proposer = new ScriptedProposer([{ hypothesis: 'crash', files: { 'train.py': bad.crash } }]);
    const s = await runLoop({
      projectDir: dir,
      proposer: async () => proposer,
      maxExperiments: 10,
      maxConsecutiveFailures: 2,
    });
    expect(s.status).toBe('escalated');
    expect(s.experiments).toBe(3);
    expect(s.reason).toMatch(/2 consecutive failed experiments/);
    const j = Journal.open(dir, { readonly: true });
    expect(j.getRun(s.runId)!.status).toBe('escalated');
    expect(j.listEvents({ runId: s.runId, kinds: ['escalation'] })).toHaveLength(1);
    j.close();
  });

  it('fails the run when the baseline itself does not produce a valid score', async () => {
    const dir = await makeProject({ rows: 1500, trainPy: bad.nan });
    const s = await runLoop({
      projectDir: dir,
      proposer: async () => new ScriptedProposer([]),
      maxExperiments: 3,
    });
    expect(s.status).toBe('failed');
    expect(s.reason).toMatch(/baseline did not produce a valid score: invalid/);
    expect(s.experiments).toBe(1);
  });

  it('resumes a run: experiments continue, none recorded twice', async () => {
    const dir = await makeProject({ rows: 1500 });
    const steps = [{ hypothesis: 'constant', files: { 'train.py': bad.constant } }];
    const a = await runLoop({
      projectDir: dir,
      proposer: async () => new ScriptedProposer(steps),
      maxExperiments: 2,
      runId: 'r1',
    });
    const j = Journal.open(dir);
    j.updateRun('r1', { status: 'stopped' });
    j.close();
    const b = await runLoop({
      projectDir: dir,
      proposer: async () => new ScriptedProposer(steps),
      maxExperiments: 4,
      runId: 'r1',
    });
    expect(a.experiments).toBe(2);
    expect(b.experiments).toBe(4);
    const k = Journal.open(dir, { readonly: true });
    expect(k.listExperiments('r1').map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    k.close();
  });
});

describe('preflight refuses a broken setup before any experiment', () => {
  it('a changed locked file stops run with an error naming the file', async () => {
    const dir = await makeProject({ rows: 1500 });
    writeFileSync(
      join(dir, 'search_space.yaml'),
      `${readFileSync(join(dir, 'search_space.yaml'), 'utf8')}\n# widened\n`,
    );
    await expect(
      runLoop({ projectDir: dir, proposer: proposerFactory('search'), maxExperiments: 2 }),
    ).rejects.toMatchObject({
      file: 'search_space.yaml',
      exitCode: 3,
      message: expect.stringMatching(/search_space.yaml \(changed\)/),
    });
    expect(existsSync(join(dir, '.ratchet/ratchet.db'))).toBe(false);
  });

  it('data tracked by git is refused (vault isolation)', async () => {
    const dir = await makeProject({ rows: 1500 });
    gitOut(dir, ['add', '-f', 'data.csv']);
    gitOut(dir, ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'oops, data']);
    await expect(
      runLoop({ projectDir: dir, proposer: proposerFactory('search'), maxExperiments: 2 }),
    ).rejects.toMatchObject({
      file: 'data.csv',
      message: expect.stringMatching(/tracked by git/),
    });
  });
});

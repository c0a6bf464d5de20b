import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExperimentRecord } from '../src/journal/store.js';
import { Journal } from '../src/journal/store.js';
import { finalizeRun, reviewFinalized } from '../src/tiers/finalize.js';
import { groupChanges, patchFiles, slugOf } from '../src/tiers/finalize-groups.js';
import { commitText, prText } from '../src/tiers/finalize-pr.js';
import { type FinalizedBranch, latestBatch } from '../src/tiers/finalize-view.js';
import { linearRun, STEPS } from './helpers/finalize.js';
import { cli, gitOut } from './helpers/project.js';

/** Trailers of a commit, key → value. */
function trailersOf(dir: string, rev: string): Record<string, string> {
  const out = gitOut(dir, ['log', '-1', '--format=%(trailers:only,unfold)', rev]);
  return Object.fromEntries(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

describe('ratchet finalize on a real run (real git, sandbox and Python)', () => {
  it('an independent pair becomes two branches, the dependent change stays stacked, a gain that needs another change is marked', async () => {
    // A (a.txt) and B (b.txt) are independent; C rewrites A's lines (stacked on A); D (scale.txt) applies alone but
    // only helps when group A has a feature: kept in the run, no gain by itself.
    const { dir, runId } = await linearRun([STEPS.A, STEPS.B, STEPS.C, STEPS.D], 'r1');
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(runId);
    const run = j.getRun(runId)!;
    j.close();
    expect(exps.map((e) => e.decision)).toEqual(['kept', 'kept', 'kept', 'kept', 'kept']);
    const [, a, b, c, d] = exps as [
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
    ];
    const head = gitOut(dir, ['rev-parse', 'HEAD']);
    const branchesBefore = gitOut(dir, ['branch', '--list', '--format=%(refname:short) %(objectname)']);

    const r = await finalizeRun(dir, { runId });
    expect(r.base).toBe(run.baseCommit);
    expect(r.branches.map((x) => x.experiments)).toEqual([[a.id, c.id], [b.id], [d.id]]);
    const [ac, bb, dd] = r.branches as [FinalizedBranch, FinalizedBranch, FinalizedBranch];
    expect(ac.branch).toBe(`ratchet-final/${runId}/1-women-are-more-often-out-of-work-weight`);
    expect(bb.branch).toMatch(new RegExp(`^ratchet-final/${runId}/2-older-people`));
    // Verdicts from re-running each branch alone against the baseline.
    expect(ac).toMatchObject({ holds: true, verdict: 'holds' });
    expect(bb).toMatchObject({ holds: true, verdict: 'holds' });
    expect(dd).toMatchObject({ holds: false, verdict: 'does not hold alone' });
    expect(ac.gain!).toBeGreaterThan(0.1);
    expect(bb.gain!).toBeGreaterThan(0.05);
    expect(dd.score).toBeCloseTo(exps[0]!.score!, 9); // the scale multiplies nothing without group A
    expect(dd.reason).toMatch(/does not exceed/);
    // The re-runs' scores are the branch alone: B alone is not the run's score after B (which had A too).
    expect(bb.score!).toBeLessThan(b.score! - 0.05);

    for (const x of r.branches) {
      // Off the base, one commit per experiment, in run order, each with the loop's trailers and the evidence's.
      const commits = gitOut(dir, ['rev-list', '--reverse', `${r.base}..${x.branch}`])
        .trim()
        .split('\n');
      expect(commits).toHaveLength(x.experiments.length);
      expect(gitOut(dir, ['rev-parse', `${commits[0]}^`]).trim()).toBe(r.base);
      expect(gitOut(dir, ['rev-parse', x.branch]).trim()).toBe(x.commit);
      for (const [i, sha] of commits.entries()) {
        const e = exps.find((y) => y.id === x.experiments[i])!;
        const t = trailersOf(dir, sha);
        expect(t).toMatchObject({
          'Ratchet-Experiment': String(e.id),
          'Ratchet-Run': runId,
          'Ratchet-Hypothesis': e.hypothesis,
          'Ratchet-Source': e.commitSha,
        });
        expect(t['Ratchet-Delta']).toBe(`+${e.delta!.toFixed(6)}`);
        expect(t['Ratchet-Interval']).toMatch(/^\+0\.\d{6}\.\.\+0\.\d{6}$/);
        expect(t['Ratchet-Noise']).toMatch(/σ unknown/);
        const body = gitOut(dir, ['log', '-1', '--format=%b', sha]);
        expect(body).toMatch(/^Hypothesis: /m);
        expect(body).toMatch(/^Gain: \+0\.\d{6} auroc/m);
        expect(body).toMatch(/^Interval of the gain: \[/m);
        expect(body).toMatch(/^Kept because: gain /m);
      }
      // PR.md beside it, outside the branch.
      const pr = readFileSync(join(dir, x.pr), 'utf8');
      for (const h of [
        '## What changed',
        '## Why it is believed',
        '## Public–private gap',
        '## What the reviewer should check',
      ])
        expect(pr).toContain(h);
      expect(pr).toContain('The run was not submitted');
      expect(gitOut(dir, ['ls-tree', '-r', '--name-only', x.branch])).not.toMatch(/PR\.md/);
    }
    // Each branch holds only its own files.
    expect(gitOut(dir, ['diff', '--name-only', r.base, ac.branch]).trim()).toBe('a.txt');
    expect(gitOut(dir, ['diff', '--name-only', r.base, bb.branch]).trim()).toBe('b.txt');
    expect(gitOut(dir, ['show', `${ac.branch}:a.txt`])).toBe(gitOut(dir, [`show`, `${c.commitSha}:a.txt`]));
    expect(readFileSync(join(dir, dd.pr), 'utf8')).toMatch(/\*\*Does not hold alone\*\*/);
    expect(readFileSync(join(dir, dd.pr), 'utf8')).toMatch(/take it only with them/);
    expect(readFileSync(join(dir, ac.pr), 'utf8')).toMatch(/2 commits are stacked/);

    // The journal: one finalize event per branch with what the Studio shows.
    const k = Journal.open(dir, { readonly: true });
    const events = k.listEvents({ runId, kinds: ['finalize'] });
    k.close();
    expect(events).toHaveLength(3);
    expect(latestBatch(events).map((x) => [x.branch, x.verdict, x.experiments])).toEqual(
      r.branches.map((x) => [x.branch, x.verdict, x.experiments]),
    );
    expect(events[2]!.severity).toBe('warning');

    // The person's checkout, HEAD and branches are untouched; no worktree is left.
    expect(gitOut(dir, ['rev-parse', 'HEAD'])).toBe(head);
    expect(gitOut(dir, ['branch', '--show-current']).trim()).toBe('main');
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
    const after = gitOut(dir, ['branch', '--list', '--format=%(refname:short) %(objectname)']);
    expect(after.split('\n').filter((l) => !l.startsWith('ratchet-final/'))).toEqual(
      branchesBefore.split('\n'),
    );
    expect(gitOut(dir, ['worktree', 'list', '--porcelain']).match(/^worktree /gm)).toHaveLength(1);
    expect(readdirSync(join(dir, '.ratchet/worktrees'))).toEqual([]);
    expect(readdirSync(join(dir, '.ratchet/finalize')).sort()).toEqual([runId]);

    // Promotion is tier 2: a branch that does not hold alone is refused; one whose experiment was never submitted too.
    expect(() => reviewFinalized(dir, { runId, branch: dd.branch, decision: 'promote', note: 'ok' })).toThrow(
      /cannot be promoted: does not hold alone/,
    );
    expect(() => reviewFinalized(dir, { runId, branch: bb.branch, decision: 'promote', note: 'ok' })).toThrow(
      /has not been submitted/,
    );

    // Again, through the CLI: the branches are replaced (same names), the earlier ones listed.
    const again = cli(['finalize', '--run', runId, '--json'], dir);
    expect(again.code, again.stderr).toBe(0);
    const r2 = JSON.parse(again.stdout) as { branches: FinalizedBranch[]; replaced: string[] };
    expect(r2.replaced.sort()).toEqual(r.branches.map((x) => x.branch).sort());
    expect(r2.branches.map((x) => [x.branch, x.verdict])).toEqual(
      r.branches.map((x) => [x.branch, x.verdict]),
    );
    expect(
      gitOut(dir, ['for-each-ref', '--format=%(refname)', 'refs/heads/ratchet-final/']).trim().split('\n'),
    ).toHaveLength(3);
    const m = Journal.open(dir, { readonly: true });
    expect(latestBatch(m.listEvents({ runId, kinds: ['finalize'] }))).toHaveLength(3);
    expect(m.listEvents({ runId, kinds: ['finalize.replaced'] })).toHaveLength(1);
    m.close();
    expect(readdirSync(join(dir, '.ratchet/finalize')).sort()).toEqual([runId]);
    expect(readdirSync(join(dir, '.ratchet/worktrees'))).toEqual([]);

    // A finalized branch checked out somewhere is never replaced under it.
    gitOut(dir, ['worktree', 'add', '-q', join(dir, '..', `${runId}-review-${process.pid}`), bb.branch]);
    const refused = cli(['finalize', '--run', runId], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/checked out in/);
    gitOut(dir, ['worktree', 'remove', '--force', join(dir, '..', `${runId}-review-${process.pid}`)]);

    // Errors and the kill switch replace nothing and leave no worktree behind.
    const refs = gitOut(dir, [
      'for-each-ref',
      '--format=%(refname) %(objectname)',
      'refs/heads/ratchet-final/',
    ]);
    const stopped = new AbortController();
    stopped.abort(new Error('test'));
    await expect(finalizeRun(dir, { runId, signal: stopped.signal })).rejects.toThrow(
      /finalize was stopped: nothing was replaced/,
    );
    const out = join(dir, '.ratchet/runs/0001/output');
    renameSync(out, `${out}.away`);
    await expect(finalizeRun(dir, { runId })).rejects.toThrow(
      /baseline's predictions \(experiment 1\) cannot be scored again/,
    );
    renameSync(`${out}.away`, out);
    expect(
      gitOut(dir, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/ratchet-final/']),
    ).toBe(refs);
    expect(readdirSync(join(dir, '.ratchet/worktrees'))).toEqual([]);
    expect(gitOut(dir, ['worktree', 'list', '--porcelain']).match(/^worktree /gm)).toHaveLength(1);
    expect(readdirSync(join(dir, '.ratchet/finalize')).sort()).toEqual([runId]);

    // Human output: the verdicts and the PR.md paths.
    const text = cli(['finalize', '--run', runId], dir);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/finalized run r1: 3 branches off/);
    expect(text.stdout).toMatch(
      /ratchet-final\/r1\/3-group-a-deserves-full-weight-scale-1-0 {2}#5 {2}does not hold alone/,
    );
    expect(text.stdout).toMatch(
      /PR\.md: \.ratchet\/finalize\/r1\/1-women-are-more-often-out-of-work-weight\/PR\.md/,
    );
  });

  it('refuses a run that kept nothing after its baseline, and an unknown run', async () => {
    const { dir, runId } = await linearRun([{ hypothesis: 'nothing', files: {} }], 'r0', 3000);
    await expect(finalizeRun(dir, { runId })).rejects.toThrow(
      /kept no change after the baseline: nothing to finalize/,
    );
    await expect(finalizeRun(dir, { runId: 'nope' })).rejects.toThrow(/no run nope/);
    expect(existsSync(join(dir, '.ratchet/finalize'))).toBe(false);
  });
});

describe('the grouping of kept changes', () => {
  /** A fake `git apply --check`: change j applies on a stack when the stack holds everything j needs. */
  const applies = (needs: number[][]) => async (stack: number[], j: number) =>
    needs[j]!.every((n) => stack.includes(n));
  const ch = (files: string[], parent: number | null = null) => ({ experiment: 0, files, parent });

  it('independent changes apart, a dependent one stacked, dependency transitive (groups merge)', async () => {
    // 0: f, 1: g (independent), 2: needs 0, 3: needs 1 and 2 → {0,1,2,3} one group; 4: h, alone.
    const changes = [ch(['f']), ch(['g']), ch(['f'], 0), ch(['f', 'g'], 2), ch(['h'])];
    const groups = await groupChanges(changes, applies([[], [], [0], [0, 1, 2], []]));
    expect(groups).toEqual([[0, 1, 2, 3], [4]]);
  });

  it("tries the parent's group first and falls back to all earlier changes", async () => {
    const changes = [ch(['f']), ch(['f']), ch(['f'], 1), ch(['x'])];
    // 2 applies on either 0 or 1 alone: it goes with its parent (1).
    expect(await groupChanges(changes.slice(0, 3), applies([[], [], [1]]))).toEqual([[0], [1, 2]]);
    // 3 touches a file no earlier change touched yet needs change 0 (e.g. a rename): every earlier change joins.
    expect(await groupChanges(changes, applies([[], [], [1], [0]]))).toEqual([[0, 1, 2, 3]]);
    await expect(groupChanges([ch(['f']), ch(['f'])], applies([[], [7]]))).rejects.toThrow(/applies neither/);
  });

  it('reads the files of a patch and makes branch-safe slugs', () => {
    const patch =
      'diff --git a/x/old.py b/x/new.py\nsimilarity index 90%\ndiff --git a/params.yaml b/params.yaml\n';
    expect(patchFiles(patch)).toEqual(['params.yaml', 'x/new.py', 'x/old.py']);
    expect(slugOf('TPE trial 12: lightgbm, num_leaves=31 (wider)')).toBe(
      'tpe-trial-12-lightgbm-num-leaves-31-wide',
    );
    expect(slugOf('日本語')).toBe('change');
    expect(slugOf('a'.repeat(60)).length).toBe(40);
  });
});

describe('the words of finalize', () => {
  const e = (over: Partial<ExperimentRecord>): ExperimentRecord => ({
    id: 4,
    runId: 'r1',
    seq: 4,
    proposer: 'scripted',
    hypothesis: 'use age',
    params: null,
    meta: { runs: [0.71, 0.7, 0.72] },
    decision: 'kept',
    reason: 'confirmed: mean gain +0.02 over 3 vs 1 seeds',
    score: 0.71,
    bestBefore: 0.69,
    delta: 0.02,
    ciLow: 0.01,
    ciHigh: 0.03,
    probImprovement: 0.99,
    keepTest: 'delong',
    commitSha: 'c'.repeat(40),
    parentSha: 'p'.repeat(40),
    files: ['b.txt'],
    sandboxStatus: 'ok',
    sandboxMessage: '',
    exitCode: 0,
    sandboxed: true,
    startedAt: '',
    endedAt: '',
    durationMs: 1,
    executeMs: 1,
    conclusion: null,
    metrics: {},
    ...over,
  });

  it('a commit message carries hypothesis, gain, interval, noise, reason and the trailers', () => {
    const t = commitText(e({}), 'auroc', 'rule: noise-aware (σ=1.0e-03 from 3 varied-seed runs)');
    expect(t.subject).toBe('ratchet: use age');
    expect(t.body).toContain('Gain: +0.020000 auroc (0.690000 → 0.710000)');
    expect(t.body).toContain('Interval of the gain: [+0.010000, +0.030000], P(better) 0.990 (delong)');
    expect(t.body).toContain('confirmed over 3 seeds');
    expect(t.trailers).toMatchObject({
      'Ratchet-Experiment': '4',
      'Ratchet-Delta': '+0.020000',
      'Ratchet-Interval': '+0.010000..+0.030000',
      'Ratchet-Source': 'c'.repeat(40),
    });
    expect(commitText(e({ ciLow: null, ciHigh: null }), 'auroc', 'x').trailers['Ratchet-Interval']).toBe(
      'none',
    );
  });

  it("PR.md: the verdict, the gap of a submitted run (in the branch or not), and the reviewer's checks", () => {
    const branch: FinalizedBranch = {
      batch: 't',
      run: 'r1',
      index: 2,
      branch: 'ratchet-final/r1/2-use-age',
      commit: 'f'.repeat(40),
      base: 'b'.repeat(40),
      commits: [{ experiment: 4, commit: 'f'.repeat(40), source: 'c'.repeat(40), hypothesis: 'use age' }],
      experiments: [4],
      files: ['b.txt'],
      score: 0.69,
      scores: [0.69],
      seeds: [1],
      baseline: 0.69,
      gain: 0,
      holds: false,
      verdict: 'does not hold alone',
      reason: 'gain +0.000 does not exceed 0.0005',
      reviewExperiment: 4,
      pr: 'x',
    };
    const other = { ...branch, index: 1, branch: 'ratchet-final/r1/1-use-sex', experiments: [2] };
    const submission = {
      record: {
        id: 1,
        ts: '',
        runId: 'r1',
        experimentId: 9,
        commitSha: null,
        public: 0.8,
        private: 0.75,
        gap: 0.05,
        metrics: {},
      },
      experiment: null,
    };
    const text = prText({
      branch,
      experiments: [e({})],
      metric: 'auroc',
      direction: 'maximize',
      noise: 'rule: min_delta only (σ unknown: run ratchet check)',
      diffstat: ' b.txt | 1 +\n',
      submission,
      others: [other],
    });
    expect(text).toMatch(/^# use age\n/);
    expect(text).toContain('**Does not hold alone**');
    expect(text).toContain('private worse by 0.050000 (the public holdout flattered it)');
    expect(text).toContain("That experiment's change is not in this branch");
    expect(text).toContain("kept on top of the run's earlier changes (ratchet-final/r1/1-use-sex: #2)");
    expect(text).toContain('run `ratchet check`');
    expect(text).toContain(' b.txt | 1 +');
    const inBranch = prText({
      branch: { ...branch, holds: true, verdict: 'holds', experiments: [9] },
      experiments: [e({ id: 9 })],
      metric: 'auroc',
      direction: 'maximize',
      noise: 'rule: noise-aware (σ=1e-3)',
      diffstat: '',
      submission,
      others: [],
    });
    expect(inBranch).toContain('**Holds alone**');
    expect(inBranch).toContain("That experiment's change is in this branch");
    expect(inBranch).not.toContain('ratchet check');
  });

  it('the latest finalize batch is the standing one', () => {
    const ev = (batch: string, branch: string, index: number) => ({
      id: 1,
      ts: batch,
      runId: 'r',
      experimentId: null,
      kind: 'finalize',
      severity: 'info' as const,
      guardrail: null,
      message: '',
      data: { batch, branch, index },
    });
    expect(
      latestBatch([ev('2026-01-01', 'old', 1), ev('2026-01-02', 'b', 2), ev('2026-01-02', 'a', 1)]).map(
        (b) => b.branch,
      ),
    ).toEqual(['a', 'b']);
    expect(latestBatch([])).toEqual([]);
  });
});

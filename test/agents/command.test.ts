import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { proposerFactory } from '../../src/cli/proposers.js';
import { readLock, verifyLock } from '../../src/contract/lock.js';
import { runLoop } from '../../src/loop/run.js';
import { gitOut, makeProject } from '../helpers/project.js';
import { agentProject, callDirs, journalOf } from './helpers.js';

/**
 * The `command` proposer with a stand-in CLI agent (a Python script run in the sandbox exactly like
 * `claude -p` would be): real git, bubblewrap, Python and the bundled example's data.
 */

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('command proposer: a CLI agent runs the bundled example end to end', () => {
  it('briefs the agent, runs its changes, asks for conclusions and records its usage', {
    timeout: 300_000,
  }, async () => {
    const dir = await agentProject({ variant: 'good' });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('command'), maxExperiments: 4 });
    expect(s.status, s.reason).toBe('finished');
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps.map((e) => e.proposer)).toEqual(['baseline', 'command', 'command', 'command']);
    for (const e of exps.slice(1)) {
      expect(['kept', 'reverted']).toContain(e.decision);
      expect(e.hypothesis).toMatch(/^switch to \w+: /);
      expect(e.files).toEqual(['params.yaml']);
      expect(e.sandboxed).toBe(true);
      // The agent's own conclusion replaced the built-in one.
      expect(e.conclusion).toMatch(/try another family next/);
      const agent = e.meta?.['agent'] as Record<string, unknown>;
      expect(agent['usage']).toEqual({ input_tokens: 1200, output_tokens: 300, cost_usd: 0.004, calls: 1 });
      expect(e.params?.['model']).toBe(e.hypothesis.split(' ')[2]!.replace(':', ''));
    }
    expect(events.filter((e) => e.kind === 'agent.conclusion')).toHaveLength(3);
    expect(events.filter((e) => e.kind === 'guardrail')).toHaveLength(0);
    // 3 proposals + 3 conclusions, each reporting 1500 tokens and $0.004.
    const ledger = readJson(join(dir, '.ratchet/proposers', s.runId, 'usage.json'));
    expect(ledger).toMatchObject({ inputTokens: 7200, outputTokens: 1800, calls: 6 });
    expect(ledger.costUsd).toBeCloseTo(0.024, 10);

    // The brief: directions, contract summary, history digest with conclusions, rules, how to answer.
    const calls = callDirs(dir, s.runId);
    expect(calls.map((c) => c.split('/').pop()!.split('-')[1])).toEqual([
      'propose',
      'conclude',
      'propose',
      'conclude',
      'propose',
      'conclude',
    ]);
    const brief = readFileSync(join(calls[4]!, 'brief', 'BRIEF.md'), 'utf8');
    expect(brief).toContain('Prefer tree ensembles');
    expect(brief).toContain('surface (what you may edit): params.yaml, train.py');
    expect(brief).toMatch(/budgets: 1 of 4 experiments left;/);
    expect(brief).toContain('## Rules (enforced by Ratchet');
    expect(brief).toContain('do-not-retry');
    expect(brief).toMatch(/conclusion: switch to logistic_regression/);
    const history = readJson(join(calls[4]!, 'brief', 'history.json'));
    expect(history.experiments.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
    expect(history.experiments[1].conclusion).toMatch(/try another family next/);
    expect(readJson(join(calls[4]!, 'brief', 'contract.json')).metric.primary).toBe('auroc');
    // The brief and answer live outside the worktree; the branch and checkout are clean.
    expect(calls[0]).toContain(join('.ratchet', 'proposers'));
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
    await verifyLock(readLock(dir), dir, dir);
  });
});

describe('command proposer: the cage holds', () => {
  it('an agent that edits outside the surface and tries to leave the sandbox is rejected, and got nothing', async () => {
    const dir = await agentProject({ variant: 'escape' });
    const before = readFileSync(join(dir, 'ratchet.yaml'), 'utf8');
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('command'), maxExperiments: 2 });
    const { exps, events } = journalOf(dir, s.runId);
    const e = exps[1]!;
    expect(e.decision).toBe('rejected');
    expect(e.reason).toMatch(/write-surface: .*notes\.txt/);
    expect(e.sandboxStatus).toBe('skipped');
    expect(events.some((ev) => ev.guardrail === 'write-surface')).toBe(true);
    const answer = readJson(join(callDirs(dir, s.runId)[0]!, 'answer', 'answer.json'));
    const a = answer.attempts as Record<string, string>;
    for (const k of ['write_project_contract', 'read_vault', 'list_vault', 'read_journal', 'read_raw_data']) {
      expect(a[k], k).toMatch(/^(FileNotFoundError|PermissionError|OSError)/);
    }
    for (const k of ['write_root', 'write_brief', 'write_data', 'write_traces', 'write_git_pointer']) {
      expect(a[k], k).toMatch(/Read-only file system|Permission denied|Device or resource busy/);
    }
    // The private predictions of earlier experiments (CSV or Parquet) are covered in /traces (unreadable or empty).
    expect(a['read_private_predictions']).toMatch(
      /^PermissionError: .*private\.(csv|parquet)|^ok: \[\('private\.(csv|parquet)', 0\)\]$/,
    );
    expect(a['network']).not.toMatch(/^ok/);
    expect(a['environment']).toBe('ok: []');
    // Nothing changed where the agent aimed; the worktree is back at the baseline.
    expect(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')).toBe(before);
    expect(existsSync('/escape.txt')).toBe(false);
    expect(gitOut(dir, ['diff', 'main', s.branch, '--stat'])).toBe('');
  });

  it('even when the contract mounts the project folder, the vault, the raw data and the journal stay hidden', async () => {
    const dir = await agentProject({ variant: 'escape', mounts: ['{dir}'] });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('command'), maxExperiments: 2 });
    const a = readJson(join(callDirs(dir, s.runId)[0]!, 'answer', 'answer.json')).attempts as Record<
      string,
      string
    >;
    expect(a['write_project_contract']).toMatch(/Read-only file system/);
    expect(a['read_vault']).toMatch(/^FileNotFoundError/);
    expect(a['list_vault']).toBe('ok: []');
    expect(a['read_journal']).toMatch(/^PermissionError/);
    expect(a['read_raw_data']).toMatch(/^PermissionError/);
    expect(a['read_private_predictions']).toMatch(
      /^PermissionError: .*private\.(csv|parquet)|^ok: \[\('private\.(csv|parquet)', 0\)\]$/,
    );
    expect(journalOf(dir, s.runId).exps[1]!.decision).toBe('rejected');
  });

  it('an agent that skips its conclusion holds the next experiment (conclusion-required), recorded', async () => {
    const dir = await agentProject({ variant: 'skip-conclusion' });
    const s = await runLoop({
      projectDir: dir,
      proposer: proposerFactory('command'),
      maxExperiments: 4,
      maxConsecutiveFailures: 10,
    });
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps).toHaveLength(4);
    expect(['kept', 'reverted']).toContain(exps[1]!.decision);
    // Its built-in conclusion stays; no agent conclusion was recorded.
    expect(events.filter((e) => e.kind === 'agent.conclusion')).toHaveLength(0);
    for (const e of exps.slice(2)) {
      expect(e.decision).toBe('rejected');
      expect(e.reason).toMatch(
        new RegExp(`conclusion-required: experiment #${exps[1]!.id} .*has no conclusion`),
      );
      expect(e.sandboxStatus).toBe('skipped');
    }
    const trips = events.filter((e) => e.guardrail === 'conclusion-required');
    // One when it skipped the conclusion, then two refused attempts per held experiment.
    expect(trips.length).toBeGreaterThanOrEqual(5);
    // The second attempt was told why the first was refused.
    const calls = callDirs(dir, s.runId).filter((c) => c.includes('-propose-'));
    const retry = readJson(join(calls[2]!, 'brief', 'history.json'));
    expect(retry.feedback[0].guardrail).toBe('conclusion-required');
    expect(retry.pending_conclusion.id).toBe(exps[1]!.id);
  });

  it('the same change twice is refused with the earlier result (do-not-retry)', async () => {
    const dir = await agentProject({ variant: 'repeat' });
    const s = await runLoop({
      projectDir: dir,
      proposer: proposerFactory('command'),
      maxExperiments: 3,
      maxConsecutiveFailures: 10,
    });
    const { exps, events } = journalOf(dir, s.runId);
    const [, first, second] = exps;
    expect(first!.decision).toBe('reverted');
    expect(second!.decision).toBe('rejected');
    expect(second!.reason).toMatch(
      new RegExp(`do-not-retry: this change is identical to experiment #${first!.id}`),
    );
    const trips = events.filter((e) => e.guardrail === 'do-not-retry');
    expect(trips).toHaveLength(2);
    expect(trips[0]!.data?.['experiment']).toBe(first!.id);
    const calls = callDirs(dir, s.runId).filter((c) => c.includes('-propose-'));
    const retry = readJson(join(calls[2]!, 'brief', 'history.json'));
    expect(retry.feedback[0]).toMatchObject({
      guardrail: 'do-not-retry',
      earlier: { id: first!.id, decision: 'reverted' },
    });
    expect(readFileSync(join(calls[2]!, 'brief', 'BRIEF.md'), 'utf8')).toContain(
      'Your previous attempt was refused',
    );
  });

  it('the cost cap stops the run through the kill switch (budget), with nothing half-recorded', async () => {
    const dir = await agentProject({ variant: 'greedy', agent: ['max_cost_usd: 2.5'] });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('command'), maxExperiments: 5 });
    expect(s.status).toBe('stopped');
    expect(s.reason).toMatch(/agent cost cap is used: \$3\.0000 of \$2\.5/);
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps).toHaveLength(2); // the baseline and one proposal (+ its conclusion) used $3
    expect(events.filter((e) => e.guardrail === 'budget')).toHaveLength(1);
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
  });

  it('a phase gate sends the proposal back until it explores (phase-gate), then it runs', async () => {
    const dir = await agentProject({
      variant: 'good',
      agent: [
        'discipline:',
        '  phases: [{ name: explore-families, file: params.yaml, key: model, distinct: 2 }]',
      ],
    });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('command'), maxExperiments: 2 });
    const { exps, events } = journalOf(dir, s.runId);
    // The stand-in first tunes the baseline's family (refused), then reads the refusal and switches family.
    expect(exps[1]!.hypothesis).toMatch(/^switch to hist_gradient_boosting/);
    expect(exps[1]!.meta?.['agent']).toMatchObject({ attempt: 2 });
    const trips = events.filter((e) => e.guardrail === 'phase-gate');
    expect(trips).toHaveLength(1);
    expect(trips[0]!.message).toMatch(/keeps model = logistic_regression/);
    const retry = readJson(join(callDirs(dir, s.runId)[1]!, 'brief', 'history.json'));
    expect(retry.phase).toMatchObject({
      name: 'explore-families',
      tried: ['logistic_regression'],
      remaining: 1,
    });
  });

  it('a contract without agent.command gets a clear error naming the field', async () => {
    const dir = await makeProject({ rows: 1000 });
    const err = await runLoop({
      projectDir: dir,
      proposer: proposerFactory('command'),
      maxExperiments: 2,
    }).catch((e: unknown) => e as { message: string; field?: string; file?: string });
    expect(err).toMatchObject({ field: 'agent.command', file: 'ratchet.yaml' });
    expect((err as Error).message).toMatch(/the command proposer needs the agent command/);
  });
});

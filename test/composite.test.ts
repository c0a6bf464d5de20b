/**
 * Composite scores with a business proxy, constraints and fairness gates, and the ranking task: wired through
 * the contract, the vault, the evaluator and the keep rule, on the bundled real data.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { cli, makeProject } from './helpers/project.js';
import { ScriptedProposer } from './helpers/scripted.js';

const composite =
  (extra = '') =>
  (y: string) =>
    y
      .replace('  positive_class: "1"\n', '  positive_class: "1"\n  outcome_columns: [hhninc]\n')
      .replace(
        'metric:\n  primary: auroc\n',
        'metric:\n  primary: composite\n  composite: "0.6*auroc + 0.4*profit/100"\n',
      ) +
    'proxies:\n  profit: { kind: cost_matrix, tp: 100, fp: -20, fn: -50, tn: 0 }\n  top_income: { kind: top_fraction_mean, column: hhninc, fraction: 0.1 }\n' +
    extra;

const lightgbm =
  'model: lightgbm\nlightgbm:\n  n_estimators: 150\n  learning_rate: 0.05\n  num_leaves: 15\ndrop_columns: [id]\n';

describe('composite score, proxies and constraints', () => {
  it('scores the composite from metrics and a cost-matrix proxy; hidden outcome columns never reach the sandbox', async () => {
    const dir = await makeProject({
      rows: 4000,
      contract: composite(
        'constraints:\n  - { metric: f1, min: 0.1 }\n  - { fairness: demographic_parity_difference, group: female, max: 0.9 }\n',
      ),
    });
    const header = readFileSync(join(dir, '.ratchet/data/public.csv'), 'utf8').split('\n')[0]!;
    expect(header.split(',')).not.toContain('hhninc');
    expect(
      readFileSync(join(dir, '.ratchet/data/train.csv'), 'utf8').split('\n')[0]!.split(','),
    ).not.toContain('hhninc');
    const s = await runLoop({
      projectDir: dir,
      proposer: async () =>
        new ScriptedProposer([{ hypothesis: 'lightgbm', files: { 'params.yaml': lightgbm } }]),
      maxExperiments: 2,
    });
    const j = Journal.open(dir, { readonly: true });
    const [base, cand] = j.listExperiments(s.runId);
    j.close();
    const m = base!.metrics;
    expect(m['composite']).toBeCloseTo(0.6 * m['auroc']! + (0.4 * m['profit']!) / 100, 12);
    expect(base!.score).toBe(m['composite']);
    expect(Object.keys(m)).toEqual(
      expect.arrayContaining(['auroc', 'profit', 'top_income', 'demographic_parity_difference[female]']),
    );
    expect(['kept', 'reverted']).toContain(cand!.decision);
    expect(cand!.reason).toMatch(/gain|paired bootstrap/);
  });

  it('a change that breaks a constraint is rejected whatever its score', async () => {
    // the baseline (logistic) has f1 well below 0.99: every change must reach it, none does
    const dir = await makeProject({
      rows: 4000,
      contract: composite('constraints:\n  - { metric: f1, min: 0.99 }\n'),
    });
    const s = await runLoop({
      projectDir: dir,
      proposer: async () =>
        new ScriptedProposer([{ hypothesis: 'lightgbm', files: { 'params.yaml': lightgbm } }]),
      maxExperiments: 2,
    });
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(s.runId);
    const events = j.listEvents({ runId: s.runId, kinds: ['guardrail'] });
    j.close();
    expect(exps[0]!.decision).toBe('kept');
    expect(exps[1]).toMatchObject({ decision: 'rejected' });
    expect(exps[1]!.reason).toMatch(/constraint: f1 0\.\d+ is below its floor 0.99/);
    expect(exps[1]!.score).not.toBeNull();
    expect(events.map((e) => e.guardrail)).toContain('constraint');
    expect(events.some((e) => /baseline breaks constraints/.test(e.message))).toBe(true);
  });

  it('contract errors name the field: unknown variable, undeclared outcome column, bad expression', async () => {
    const dir = await makeProject({
      rows: 800,
      noInit: true,
      contract: (y) => composite()(y).replace('profit/100', 'profitt/100'),
    });
    expect(cli(['init'], dir)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /metric.composite: "profitt" is neither a metric of task binary nor a proxy/,
      ),
    });
    const dir2 = await makeProject({
      rows: 800,
      noInit: true,
      contract: (y) => composite()(y).replace('  outcome_columns: [hhninc]\n', ''),
    });
    expect(cli(['init'], dir2)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/proxies.top_income.column: "hhninc" is not in data.outcome_columns/),
    });
    const dir3 = await makeProject({
      rows: 800,
      noInit: true,
      contract: (y) => composite()(y).replace('0.6*auroc', '0.6*(auroc'),
    });
    expect(cli(['init'], dir3)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/metric.composite: /),
    });
  });
});

describe('ranking task', () => {
  it('init --task ranking scaffolds a project; ndcg@10 scores queries; the loop runs', async () => {
    // Rank each person's years by doctor visits (query = person id, relevance = docvis): real GSOEP data.
    const dir = await makeProject({ rows: 4000, noInit: true });
    const lines = readFileSync(join(dir, 'data.csv'), 'utf8');
    const fresh = join(dir, 'ranking');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(fresh);
    writeFileSync(join(fresh, 'visits.csv'), lines);
    const init = cli(
      [
        'init',
        '--data',
        'visits.csv',
        '--target',
        'docvis',
        '--task',
        'ranking',
        '--query',
        'id',
        '--id',
        'row_id',
        '--json',
      ],
      fresh,
    );
    expect(init.code, init.stderr).toBe(0);
    expect(readFileSync(join(fresh, 'ratchet.yaml'), 'utf8')).toMatch(/primary: ndcg@10/);
    expect(readFileSync(join(fresh, 'params.yaml'), 'utf8')).toMatch(/drop_columns: \["id"\]/);
    const run = cli(['run', '--experiments', '3', '--json'], fresh);
    expect(run.code, run.stderr).toBe(0);
    const log = JSON.parse(cli(['log', '--json'], fresh).stdout) as {
      decision: string;
      score: number;
      metrics: Record<string, number>;
    }[];
    expect(log[0]!.decision).toBe('kept');
    expect(log[0]!.score).toBeGreaterThan(0.5);
    expect(log[0]!.score).toBeLessThanOrEqual(1);
    expect(Object.keys(log[0]!.metrics)).toEqual(expect.arrayContaining(['ndcg@10', 'mrr', 'map@10']));
  });
});

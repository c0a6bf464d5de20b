import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initProject } from '../../src/contract/init.js';
import { Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { failurePattern, type ReportData, recommend } from '../../src/report/data.js';
import { listReviews, recordReview } from '../../src/tiers/review.js';
import { submit } from '../../src/tiers/submit.js';
import { cli, EXAMPLE, makeProject } from '../helpers/project.js';
import { predictingScript, ScriptedProposer } from '../helpers/scripted.js';

/** The example's full feature set (the baseline below sees only `female`: a sure, but not suspicious, win). */
const FULL_PARAMS = readFileSync(join(EXAMPLE, 'params.yaml'), 'utf8');
const WEAK_PARAMS = FULL_PARAMS.replace(
  'drop_columns: [id]',
  'drop_columns: [id, age, married, kids, hhninc, educ, self, edlevel, edlevel1, edlevel2, edlevel3, edlevel4, docvis, hospvis, year]',
);

let dir: string;
let runId: string;
let ids: Record<string, number>;

beforeAll(async () => {
  dir = await makeProject({ rows: 6000, noInit: true });
  expect(WEAK_PARAMS).not.toBe(FULL_PARAMS);
  writeFileSync(join(dir, 'params.yaml'), WEAK_PARAMS);
  await initProject(dir);
  // Before any run: a clear error, not a crash.
  const early = cli(['report'], dir);
  expect(early.code).toBe(2);
  expect(early.stderr).toMatch(/no run yet|no journal yet/);
  const proposer = new ScriptedProposer([
    { hypothesis: 'use every feature, not just female', files: { 'params.yaml': FULL_PARAMS } },
    { hypothesis: 'a custom loss (crashes)', files: { 'train.py': 'raise ValueError("boom 17")\n' } },
    {
      hypothesis: 'another custom loss (crashes the same way)',
      files: { 'train.py': 'raise ValueError("boom 23")\n' },
    },
    {
      hypothesis: 'widen the search space (outside the surface)',
      files: { 'search_space.yaml': 'model: [x]\n' },
    },
    { hypothesis: 'predict NaN everywhere', files: { 'train.py': predictingScript('np.nan') } },
  ]);
  const s = await runLoop({
    projectDir: dir,
    proposer: async () => proposer,
    maxExperiments: 6,
    experimentTimeoutMs: 120_000,
  });
  runId = s.runId;
  const j = Journal.open(dir, { readonly: true });
  const exps = j.listExperiments(runId);
  j.close();
  ids = Object.fromEntries(exps.map((e) => [String(e.seq), e.id]));
  expect(exps.map((e) => e.decision)).toEqual(['kept', 'kept', 'crashed', 'crashed', 'rejected', 'invalid']);
}, 300_000);

describe('ratchet report on a real run', () => {
  it('recommends submitting before a private score exists, then promoting after a review', async () => {
    let r = cli(['report', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    let d = JSON.parse(r.stdout) as ReportData & { files: { markdown: string; html: string } };
    expect(d.recommendation.action).toBe('submit');
    expect(d.recommendation.experimentId).toBe(ids['2']);
    expect(d.recommendation.next[0]).toBe(`ratchet submit --run ${runId}`);

    const sub = await submit(dir, runId);
    expect(sub.experiment.id).toBe(ids['2']);
    // A review needs a note and a submitted experiment.
    expect(() => recordReview(dir, { experimentId: ids['2']!, decision: 'promote', note: '  ' })).toThrow(
      /needs a note/,
    );
    expect(() => recordReview(dir, { experimentId: ids['3']!, decision: 'promote', note: 'x' })).toThrow(
      /has not been submitted/,
    );
    const rv = cli(
      [
        'review',
        String(ids['2']),
        '--promote',
        '--note',
        'gap within noise; diff is one file',
        '--reviewer',
        'ana',
      ],
      dir,
    );
    expect(rv.code, rv.stderr).toBe(0);
    expect(rv.stdout).toMatch(/ana promoted experiment #\d+/);

    r = cli(['report', '--json'], dir);
    d = JSON.parse(r.stdout);
    expect(d.run.id).toBe(runId);
    expect(d.counts).toMatchObject({
      total: 6,
      baseline: 1,
      kept: 1,
      crashed: 2,
      rejected: 1,
      invalid: 1,
      reverted: 0,
    });
    expect(d.best?.id).toBe(ids['2']);
    expect(d.gain).toBeGreaterThan(0);
    expect(d.wins.map((w) => w.id)).toEqual([ids['2']]);
    expect(d.wins[0]!.hypothesis).toMatch(/every feature/);
    // The two crashes are one pattern; the rejection and the invalid file are their own.
    const crash = d.failures.find((f) => f.decision === 'crashed')!;
    expect(crash).toMatchObject({
      count: 2,
      experiments: [ids['3'], ids['4']],
      pattern: 'ValueError: boom N',
    });
    expect(d.failures.map((f) => f.decision).sort()).toEqual(['crashed', 'invalid', 'rejected']);
    const g = d.guardrails.find((x) => x.experiments.includes(ids['5']!))!;
    expect(['write-surface', 'contract-integrity']).toContain(g.guardrail);
    expect(g.overridable).toBe(false);
    expect(d.submissions).toHaveLength(1);
    expect(d.submissions[0]!.review).toMatchObject({ decision: 'promote', reviewer: 'ana' });
    expect(d.recommendation.action).toBe('promote');
    expect(d.reviews).toHaveLength(1);
    expect(d.progression.map((p) => p.runningBest).every((v, i, a) => i === 0 || v! >= a[i - 1]!)).toBe(true);
  });

  it('writes report.md with linked SVG charts and a self-contained report.html with the charts inline', () => {
    const r = cli(['report'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/report of run .*: .*#\d+ was promoted by ana/);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    for (const h of [
      'Recommendation',
      'What ran',
      'Score progression',
      'What was kept and why',
      'Biggest wins',
      'Failure patterns',
      'Guardrail events',
      'Public vs private holdout',
      'Noise',
      'Reviews',
    ]) {
      expect(md).toContain(`## ${h}`);
      expect(html).toContain(`<h2>${h}</h2>`);
    }
    // Text first: the chart is a file beside report.md, linked, never inline base64.
    expect(md).toContain('![auroc over experiments](report-progress.svg)');
    expect(md).not.toContain('base64');
    const svg = readFileSync(join(dir, 'report-progress.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg.match(/class="pt" data-id/g)).toHaveLength(6);
    expect(md).toContain('ValueError: boom N');
    expect(md).toContain('use every feature, not just female');
    // Self-contained: the chart inline, no script, nothing fetched from anywhere.
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '')).not.toMatch(/https?:\/\//);
    expect(html).toContain('class="d-crashed"');
  });

  it('writes elsewhere with --out, and names --run when the run does not exist', () => {
    const out = join(dir, '.ratchet', 'reports', 'today');
    const r = cli(['report', '--out', out, '--run', runId], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    expect(existsSync(join(out, 'report.md'))).toBe(true);
    const bad = cli(['report', '--run', 'nope'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--run: no run nope/);
  });

  it('lists submissions and their reviews, and refuses unclear review commands', () => {
    const l = cli(['review', '--json'], dir);
    const v = JSON.parse(l.stdout) as { submissions: unknown[]; reviews: { note: string }[] };
    expect(v.submissions).toHaveLength(1);
    expect(v.reviews[0]!.note).toBe('gap within noise; diff is one file');
    const both = cli(['review', String(ids['2']), '--promote', '--reject', '--note', 'x'], dir);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --promote or --reject/);
    const noNote = cli(['review', String(ids['2']), '--reject'], dir);
    expect(noNote.code).toBe(2);
    expect(noNote.stderr).toMatch(/note: a review needs a note/);
    const rej = cli(
      ['review', String(ids['2']), '--reject', '--note', 'on second thought: leaky feature'],
      dir,
    );
    expect(rej.code, rej.stderr).toBe(0);
    const j = Journal.open(dir, { readonly: true });
    const reviews = listReviews(j, runId);
    const events = j.listEvents({ runId, kinds: ['review'] });
    j.close();
    expect(reviews.map((r) => r.decision)).toEqual(['promote', 'reject']);
    expect(events).toHaveLength(2);
    expect(events[1]!.experimentId).toBe(ids['2']);
    const r = JSON.parse(cli(['report', '--json'], dir).stdout) as ReportData;
    expect(r.recommendation.action).toBe('reject');
  });
});

describe('report rules (pure)', () => {
  it('reduces failure reasons to patterns', () => {
    expect(failurePattern('crashed', 'exit code 1 — ValueError: boom 17')).toBe('ValueError: boom N');
    expect(failurePattern('invalid', 'public.csv: 3 NaN predictions in rows 5, 9, 12')).toBe(
      'public.csv: N NaN predictions in rows N, N, N',
    );
    expect(failurePattern('crashed', 'x — FileNotFoundError: /tmp/abc/def.csv')).toBe(
      'FileNotFoundError: <path>',
    );
  });

  it('rejects a best whose private score contradicts the public gain, and says nothing beat a lone baseline', () => {
    const base = {
      project: { name: 'p', task: 'binary', metric: 'auroc', direction: 'maximize', dir: '/x' },
      run: {
        id: 'r',
        status: 'finished',
        reason: '',
        branch: 'ratchet/r',
        proposer: 's',
        startedAt: '',
        endedAt: '',
        seconds: 1,
        unsafe: false,
        config: {},
      },
      counts: { total: 3, kept: 2, reverted: 1, crashed: 0, timeout: 0, invalid: 0, rejected: 0 },
      baseline: 0.8,
      gain: 0.02,
      kept: [],
      wins: [],
      nearMisses: [],
      failures: [],
      guardrails: [],
      escalations: [],
      warnings: [],
      noise: {
        measurements: [{ kind: 'same-seed', sd: 0.001, mean: 0.8, runs: 3, commit: 'c', at: '' }],
        minDelta: 0.001,
        noiseZ: null,
        gainInNoiseSd: 20,
      },
      reviews: [],
      timing: { meanExperimentSeconds: 1, executeShare: 0.5 },
      progression: [],
    } as unknown as Omit<ReportData, 'recommendation'>;
    const best = { id: 5, seq: 3, score: 0.82, hypothesis: 'h', decision: 'kept' } as ReportData['best'];
    const sub = (gap: number) => [
      {
        experimentId: 5,
        at: '',
        public: 0.82,
        private: 0.82 - gap,
        gap,
        gapInNoiseSd: null,
        metrics: {},
        review: null,
      },
    ];
    expect(recommend({ ...base, best, submissions: [] }).action).toBe('submit');
    expect(recommend({ ...base, best, submissions: sub(0.002) }).action).toBe('promote');
    expect(recommend({ ...base, best, submissions: sub(0.05) }).action).toBe('reject');
    expect(recommend({ ...base, best: { ...best!, seq: 1 }, submissions: [] }).action).toBe('nothing');
    expect(recommend({ ...base, best: null, submissions: [] }).action).toBe('investigate');
    expect(
      recommend({ ...base, best, submissions: sub(0.002), escalations: [{ at: '', message: 'plateau' }] })
        .action,
    ).toBe('review');
  });
});

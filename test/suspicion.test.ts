import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sanityChecks, scoreJump } from '../src/guardrails/suspicion.js';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { submit } from '../src/tiers/submit.js';
import { cli, EXAMPLE, makeProject } from './helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript, ScriptedProposer } from './helpers/scripted.js';

const s = { max_headroom_closed: 0.8, near_perfect: 0.001, row_order_corr: 0.5 };

describe('suspicion checks', () => {
  it('a jump that closes most of the gap to perfect, or lands next to it, is suspicious', () => {
    expect(scoreJump('auroc', 'maximize', 0.8, 0.85, s)).toBeNull();
    expect(scoreJump('auroc', 'maximize', 0.6, 0.9, s)).toBeNull(); // a strong model over a weak baseline
    expect(scoreJump('auroc', 'maximize', 0.8, 0.97, s)?.message).toMatch(/closed 85% of the gap/);
    expect(scoreJump('auroc', 'maximize', 0.995, 0.9995, s)?.message).toMatch(/within 0.001 of perfect/);
    expect(scoreJump('rmse', 'minimize', 10, 1, s)?.guardrail).toBe('suspicious-score');
    expect(scoreJump('rmse', 'minimize', 10, 4, s)).toBeNull();
    expect(scoreJump('composite', 'maximize', 1, 100, s)).toBeNull();
  });

  it('constant predictions and predictions in row order fail the sanity check; a real model passes', () => {
    const n = 200;
    const y = Uint8Array.from({ length: n }, (_, i) => ((i * 7919) % 13 < 5 ? 1 : 0));
    expect(sanityChecks({ task: 'binary', y, p: new Float64Array(n).fill(0.3) }, s)[0]?.message).toMatch(
      /every prediction is 0.3/,
    );
    expect(
      sanityChecks({ task: 'binary', y, p: Float64Array.from({ length: n }, (_, i) => i / n) }, s)[0]
        ?.message,
    ).toMatch(/row order/);
    const good = Float64Array.from(y, (v, i) => 0.6 * v + 0.4 * (((i * 31) % 17) / 17));
    expect(sanityChecks({ task: 'binary', y, p: good }, s)).toEqual([]);
    // labels sorted by row order: a good model follows them, and that is fine
    const ys = Uint8Array.from({ length: n }, (_, i) => (i > n / 2 ? 1 : 0));
    expect(
      sanityChecks(
        { task: 'binary', y: ys, p: Float64Array.from(ys, (v, i) => 0.8 * v + 0.1 * ((i % 7) / 7)) },
        s,
      ),
    ).toEqual([]);
  });
});

describe('escalation through the loop', () => {
  it('a leaked label makes the score jump: the change is held and the run escalates', async () => {
    // A change that "finds" a perfect feature: the prediction is derived from the label in the train file by id,
    // which here is the holdout's own label copied into a feature (planted in this test's data below).
    const leak = predictingScript('df["leak"].astype(float)');
    const data = readFileSync(join(EXAMPLE, 'data.csv'), 'utf8').trim().split('\n').slice(0, 3001);
    const header = `${data[0]},leak`;
    const rows = data.slice(1).map((l, i) => {
      const cols = l.split(',');
      const y = Number(cols[header.split(',').indexOf('outwork')]);
      return `${l},${i % 50 === 0 ? 1 - y : y}`; // 2% noise, so the init scan's 0.99 bar is not what catches it
    });
    const leaky = await makeProject({ rows: 10, noInit: true });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(leaky, 'data.csv'), `${header}\n${rows.join('\n')}\n`);
    const { initProject } = await import('../src/contract/init.js');
    // the baseline does not use the new column; the proposer's change does
    writeFileSync(
      join(leaky, 'params.yaml'),
      readFileSync(join(leaky, 'params.yaml'), 'utf8').replace(
        'drop_columns: [id]',
        'drop_columns: [id, leak]',
      ),
    );
    await initProject(leaky);
    const proposer = new ScriptedProposer([
      { hypothesis: 'use the new feature', files: { 'train.py': leak } },
    ]);
    const r = await runLoop({ projectDir: leaky, proposer: async () => proposer, maxExperiments: 5 });
    expect(r.status).toBe('escalated');
    expect(r.reason).toMatch(/suspicious-score/);
    const j = Journal.open(leaky, { readonly: true });
    const exps = j.listExperiments(r.runId);
    j.close();
    expect(exps).toHaveLength(2);
    expect(exps[1]).toMatchObject({ decision: 'rejected' });
    expect(exps[1]!.score).toBeGreaterThan(0.95);
    expect(exps[0]!.score).toBeLessThan(0.9);
  });

  it('constant predictions escalate; --override sanity with a reason lets them through, recorded', async () => {
    const dir = await makeProject({ rows: 1500 });
    const constant = predictingScript('0.5');
    const a = await runLoop({
      projectDir: dir,
      proposer: async () =>
        new ScriptedProposer([{ hypothesis: 'predict the base rate', files: { 'train.py': constant } }]),
      maxExperiments: 4,
    });
    expect(a).toMatchObject({ status: 'escalated', experiments: 2 });
    expect(a.reason).toMatch(/sanity: every prediction is 0.5/);
    // the project is escalated: a person reviews it and clears it before the next run
    expect(cli(['clear', '--note', 'constant predictions are the reference point here'], dir).code).toBe(0);
    const b = await runLoop({
      projectDir: dir,
      proposer: async () =>
        new ScriptedProposer([{ hypothesis: 'predict the base rate', files: { 'train.py': constant } }]),
      maxExperiments: 2,
      overrides: { sanity: 'a constant is the intended reference point' },
    });
    const j = Journal.open(dir, { readonly: true });
    const e = j.listExperiments(b.runId)[1]!;
    const ov = j.listEvents({ runId: b.runId, kinds: ['guardrail.override'] });
    j.close();
    expect(e.decision).toBe('reverted');
    expect(ov.map((x) => x.guardrail)).toContain('sanity');
    expect(ov.some((x) => /intended reference point/.test(x.message))).toBe(true);
    const refused = cli(['run', '--override', 'vault-isolation', '--reason', 'trust me'], dir);
    expect(refused).toMatchObject({
      code: 3,
      stderr: expect.stringMatching(/vault-isolation .* can never be overridden/),
    });
  });

  it('guardrail trips in a row escalate and block submit; a plateau escalates, blocks the next run, not a submit', async () => {
    const dir = await makeProject({ rows: 1500 });
    const outside = new ScriptedProposer([{ hypothesis: 'notes', files: { 'notes.txt': 'x' } }]);
    const a = await runLoop({
      projectDir: dir,
      proposer: async () => outside,
      maxExperiments: 10,
      maxConsecutiveFailures: 100,
    });
    expect(a.status).toBe('escalated');
    expect(a.reason).toMatch(/3 guardrail trips in a row/);
    await expect(submit(dir)).rejects.toThrow(/submit refused: escalated/);
    const plateauDir = await makeProject({ rows: 1500, contract: (y) => `${y}suspicion: { plateau: 2 }\n` });
    const noise = new ScriptedProposer([
      { hypothesis: 'noise', files: { 'train.py': predictingScript(NOISE_PREDICTIONS) } },
    ]);
    const b = await runLoop({ projectDir: plateauDir, proposer: async () => noise, maxExperiments: 4 });
    expect(b.status).toBe('escalated');
    expect(b.reason).toMatch(/plateau: .* last 2 experiments kept nothing/);
    // a stalled search: the person still scores the best kept experiment (the demo's last step), told why
    const sub = await submit(plateauDir);
    expect(sub.plateau).toMatch(/^plateau: /);
    expect(sub.submission.private).toEqual(expect.any(Number));
    // but nothing more runs until a person clears it
    await expect(
      runLoop({ projectDir: plateauDir, proposer: async () => noise, maxExperiments: 1 }),
    ).rejects.toThrow(/escalated: a person must clear it/);
    const cleared = cli(
      ['clear', '--note', 'looked: the search space is exhausted', '--dir', plateauDir],
      plateauDir,
    );
    expect(cleared.code).toBe(0);
    const c = await runLoop({ projectDir: plateauDir, proposer: async () => noise, maxExperiments: 1 });
    expect(c.experiments).toBeGreaterThan(0);
  });

  it('a public-private gap over the contract limit escalates at submit', async () => {
    const dir = await makeProject({ rows: 1500, contract: (y) => `${y}suspicion: { max_gap: -1 }\n` });
    await runLoop({ projectDir: dir, proposer: async () => new ScriptedProposer([]), maxExperiments: 1 });
    const r = await submit(dir);
    expect(r.escalation).toMatch(/exceeds the limit -1/);
    const status = JSON.parse(cli(['status', '--json'], dir).stdout);
    expect(status.escalations.map((e: { message: string }) => e.message).join(' ')).toMatch(
      /public-private gap/,
    );
  });
});

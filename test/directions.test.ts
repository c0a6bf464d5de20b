import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { proposerFactory } from '../src/cli/proposers.js';
import { initProject } from '../src/contract/init.js';
import {
  adoptionsOf,
  budgetPause,
  budgetShares,
  directionBests,
  directionCounts,
} from '../src/journal/directions.js';
import { type ExperimentRecord, Journal } from '../src/journal/store.js';
import { activeRun, requestStop } from '../src/loop/control.js';
import { experimentDir } from '../src/loop/paths.js';
import { runLoop } from '../src/loop/run.js';
import { startStudio } from '../src/studio/server.js';
import { submit } from '../src/tiers/submit.js';
import { FIXTURES, STANDIN } from './agents/helpers.js';
import { instantExecutor } from './helpers/instant-executor.js';
import { CLI, cli, cliAsync, EXAMPLE, gitOut, makeProject } from './helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript, ScriptedProposer } from './helpers/scripted.js';

/**
 * Parallel directions (`ratchet run --directions N`, docs/ARCHITECTURE.md "Parallel directions"): each direction on
 * its own branch and worktree with its own proposer, the built-in search proposer sharing one Optuna study, budgets
 * shared and never overrun, the kill switch stopping every direction.
 */

/** The example's train.py, printing the threads it was given first. */
function threadsTrainPy(extra = ''): string {
  const real = readFileSync(join(EXAMPLE, 'train.py'), 'utf8').replace(
    'from __future__ import annotations\n',
    '',
  );
  return `from __future__ import annotations
import os, sys, time
print("RATCHET_THREADS=" + os.environ.get("RATCHET_THREADS", "unset"), flush=True)
print("OMP_WAIT_POLICY=" + os.environ.get("OMP_WAIT_POLICY", "unset"), flush=True)
${extra}
${real}`;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe('parallel directions', () => {
  it('two directions share the budget and one Optuna study; each keeps its own branch from the baseline', async () => {
    const dir = await makeProject({ rows: 1500, trainPy: threadsTrainPy() });
    // The person's OpenMP wait policy, set where ratchet runs, reaches every experiment through the cleared sandbox.
    const r = cli(['run', '--directions', '2', '--experiments', '6', '--run', 'par', '--json'], dir, {
      OMP_WAIT_POLICY: 'PASSIVE',
    });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.experiments).toBe(6); // shared budget: 6 in all, never 6 each, never overrun
    expect(summary.branch).toBe('ratchet/par/d1, ratchet/par/d2');
    expect(r.stderr).toMatch(/ d2 #\d+ /);

    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('par');
    const run = j.getRun('par')!;
    j.close();
    expect(run.config).toMatchObject({ directions: 2 });
    expect(exps.map((e) => e.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    const baseline = exps.find((e) => e.seq === 1)!;
    expect(baseline).toMatchObject({ direction: 1, decision: 'kept' });
    const d2 = exps.filter((e) => e.direction === 2);
    expect(d2.length).toBeGreaterThan(0);
    expect(exps.filter((e) => e.direction === 1).length).toBeGreaterThan(1);
    // Each direction compares with its own best: its first experiment with the baseline.
    expect(d2[0]!.bestBefore).toBe(baseline.score);
    // One shared study: every search trial of both directions has its own Optuna trial number in the same study.
    const trials = exps.filter((e) => e.seq > 1).map((e) => e.meta?.['trial']);
    expect(new Set(exps.filter((e) => e.seq > 1).map((e) => e.meta?.['study']))).toEqual(new Set(['par']));
    expect(new Set(trials).size).toBe(trials.length);

    // Both branches start at the baseline commit; each holds only its own direction's kept commits.
    for (const d of [1, 2]) {
      const branch = `ratchet/par/d${d}`;
      expect(() => gitOut(dir, ['merge-base', '--is-ancestor', baseline.commitSha!, branch])).not.toThrow();
      const kept = exps.filter((e) => e.decision === 'kept' && e.seq > 1 && e.direction === d);
      const last = kept.at(-1)?.commitSha ?? baseline.commitSha!;
      expect(gitOut(dir, ['rev-parse', branch]).trim()).toBe(last);
    }
    // Two experiments at once on this machine: each command got its share of the cores.
    const threads = Math.max(1, Math.floor(availableParallelism() / 2));
    const stdout = readFileSync(join(experimentDir(dir, d2[0]!.id), 'stdout.log'), 'utf8');
    expect(stdout).toContain(`RATCHET_THREADS=${threads}`);
    expect(stdout).toContain('OMP_WAIT_POLICY=PASSIVE');
    expect(gitOut(dir, ['worktree', 'list'])).not.toMatch(/par-d/); // worktrees removed at the end
    // status and log show the directions.
    const st = JSON.parse(cli(['status', '--json'], dir).stdout);
    expect(st.run.branch).toBe('ratchet/par/d1..d2');
    expect(st.directions.map((d: { direction: number; branch: string }) => [d.direction, d.branch])).toEqual([
      [1, 'ratchet/par/d1'],
      [2, 'ratchet/par/d2'],
    ]);
    expect(st.directions[0].experiments + st.directions[1].experiments).toBe(6);
    expect(st.directions[1].best.score).not.toBeNull(); // at least the baseline it started from
    // The Studio and the report draw a lane per direction and list each direction's best and budget used.
    const studio = await startStudio({ projectDir: dir, port: 0 });
    try {
      const state = (await (await fetch(`http://127.0.0.1:${studio.port}/api/state`)).json()) as {
        status: { directions: unknown[] };
        chart: string;
      };
      expect(state.status.directions).toHaveLength(2);
      expect(state.chart.match(/class="best-line" data-direction="\d"/g)).toHaveLength(2);
      expect(state.chart).toContain('d2 best');
    } finally {
      await studio.close();
    }
    const rep = cli(['report'], dir);
    expect(rep.code, rep.stderr).toBe(0);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toMatch(/## Directions/);
    expect(md).toMatch(/\| d2 \| ratchet\/par\/d2 \|/);
    expect(readFileSync(join(dir, 'report-progress.svg'), 'utf8')).toMatch(/data-direction="2"/);
    const log = cli(['log'], dir).stdout;
    expect(log.split('\n')[0]).toMatch(/^id\s+seq\s+dir\s+decision/);
    expect(log).toMatch(/\n\d+\s+\d+\s+d2\s/);
    // MCP's get_history (through the real server, its output schema checked by the SDK) shows them too.
    const client = new Client({ name: 'ratchet-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'mcp', '--dir', dir],
        stderr: 'pipe',
      }),
    );
    try {
      const h = await client.callTool({ name: 'get_history', arguments: { run_id: 'par', limit: 50 } });
      expect(h.isError).toBeFalsy();
      const out = h.structuredContent as {
        experiments: { id: number; direction?: number }[];
        directions: { direction: number; branch: string; experiments: number; best: { id: number } | null }[];
      };
      expect(out.experiments.map((e) => [e.id, e.direction])).toEqual(exps.map((e) => [e.id, e.direction]));
      expect(out.directions.map((d) => [d.direction, d.branch, d.experiments])).toEqual(
        st.directions.map((d: { direction: number; branch: string; experiments: number }) => [
          d.direction,
          d.branch,
          d.experiments,
        ]),
      );
    } finally {
      await client.close();
    }
    expect(activeRun(dir)).toBeNull();
  }, 600_000);

  it('the kill switch stops every direction at once, recording nothing half-done', async () => {
    // After the baseline every experiment hangs: both directions are then inside the sandbox.
    const hang = 'if os.environ.get("RATCHET_EXPERIMENT") != "1":\n    time.sleep(600)';
    const dir = await makeProject({ rows: 1000, trainPy: threadsTrainPy(hang) });
    const { done } = cliAsync(
      ['run', '--directions', '2', '--experiments', '10', '--timeout', '300s', '--run', 'k'],
      dir,
    );
    const running = () => {
      try {
        return readdirSync(join(dir, '.ratchet', 'runs')).filter((n) => /^\d+$/.test(n)).length >= 3;
      } catch {
        return false;
      }
    };
    expect(await waitFor(running, 120_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500)); // both sandboxes started
    const t0 = Date.now();
    expect(requestStop(dir)?.runId).toBe('k');
    const r = await done;
    // The ≤ 1 s latency is measured by `npm run bench`; here far below the 300 s timeout.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.stdout).toMatch(/run k stopped/);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('k');
    const aborted = j.listEvents({ runId: 'k', kinds: ['experiment.aborted'] });
    j.close();
    expect(exps).toHaveLength(1); // the baseline only
    expect(aborted).toHaveLength(2); // one per direction
    for (const d of [1, 2])
      expect(gitOut(dir, ['rev-parse', `ratchet/k/d${d}`]).trim()).toBe(exps[0]!.commitSha);
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
    expect(activeRun(dir)).toBeNull();
  }, 300_000);

  it('refuses more than 64 directions, and resuming a run with another number of directions', async () => {
    const dir = await makeProject({ rows: 600 });
    const first = cli(['run', '--directions', '2', '--experiments', '1', '--run', 'r'], dir);
    expect(first.code, first.stderr).toBe(0);
    const j = Journal.open(dir);
    j.updateRun('r', { status: 'running', pid: null, endedAt: null, stopReason: null });
    j.close();
    const many = cli(['run', '--directions', '65'], dir);
    expect(many.code).not.toBe(0);
    expect(many.stderr).toMatch(/directions must be a whole number from 1 to 64, got 65/);
    expect(many.stderr).toMatch(/--directions/);
    expect(activeRun(dir)).toBeNull(); // the run lock is released
    const again = cli(['run', '--directions', '3', '--run', 'r'], dir);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/run r started with 2 direction\(s\), not 3/);
    expect(again.stderr).toMatch(/--directions/);
    expect(activeRun(dir)).toBeNull();
  }, 300_000);

  it('submit compares the directions on the public holdout and looks at the private holdout once', async () => {
    // The baseline predicts noise; direction 1 brings the real model, direction 2 the real code with a forest.
    const dir = await makeProject({ rows: 2000, trainPy: predictingScript(NOISE_PREDICTIONS) });
    const real = readFileSync(join(EXAMPLE, 'train.py'), 'utf8');
    const forest = readFileSync(join(EXAMPLE, 'params.yaml'), 'utf8')
      .replace('model: logistic_regression', 'model: random_forest')
      .concat('random_forest:\n  n_estimators: 200\n  min_samples_leaf: 5\n');
    const steps = {
      1: [{ hypothesis: 'the real model', files: { 'train.py': real } }],
      2: [{ hypothesis: 'the real code with a forest', files: { 'train.py': real, 'params.yaml': forest } }],
    } as const;
    const s = await runLoop({
      projectDir: dir,
      runId: 'two',
      directions: 2,
      maxExperiments: 3,
      proposer: async (ctx) => new ScriptedProposer([...steps[ctx.direction as 1 | 2]]),
    });
    expect(s.experiments).toBe(3);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('two');
    j.close();
    const byDir = (d: number) => exps.find((e) => e.seq > 1 && e.direction === d)!;
    expect(byDir(1).decision).toBe('kept');
    expect(byDir(2).decision).toBe('kept');

    const r = await submit(dir, 'two');
    const top = byDir(1).score! >= byDir(2).score! ? byDir(1) : byDir(2);
    const other = top === byDir(1) ? byDir(2) : byDir(1);
    expect(r.experiment.id).toBe(top.id); // the public winner
    expect(r.directions!.standings.map((d) => d.direction)).toEqual([1, 2]);
    const versus = r.directions!.standings.find((d) => d.experiment.id === other.id)!.versusWinner!;
    expect(versus.gain).toBeCloseTo(top.score! - other.score!, 12);
    expect(versus.test).not.toBe('none');
    expect(r.privateLooks).toBe(1); // one private look: the loser was never scored privately
    expect(r.others).toEqual([]);
    const again = await submit(dir, 'two', { allDirections: true });
    expect(again.fresh).toBe(false);
    expect(again.others.map((o) => o.experimentId)).toEqual([other.id]);
    expect(again.privateLooks).toBe(2); // said, and counted
  }, 600_000);

  it('contention-aware noise: ratchet check --concurrent N measures under the load of N directions, and the run uses it', async () => {
    const dir = await makeProject({ rows: 1200 });
    const threads = Math.max(1, Math.floor(availableParallelism() / 2));
    // Measured one at a time first: a two-direction run is warned that σ came from another load.
    const one = cli(['check', '--runs', '2', '--seeds', 'varied', '--json'], dir);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout).slot_class).toMatch(/^local:sandbox:1x\d+$/);
    const r1 = cli(['run', '--directions', '2', '--experiments', '1', '--run', 'a'], dir);
    expect(r1.code, r1.stderr).toBe(0);
    let j = Journal.open(dir, { readonly: true });
    const warned = j.listEvents({ runId: 'a', kinds: ['noise.mismatch'] });
    j.close();
    expect(warned).toHaveLength(1);
    expect(warned[0]!.message).toMatch(/ratchet check --concurrent 2/);

    const two = cli(['check', '--runs', '2', '--seeds', 'varied', '--concurrent', '2', '--json'], dir);
    expect(two.code, two.stderr).toBe(0);
    expect(JSON.parse(two.stdout).slot_class).toBe(`local:sandbox:2x${threads}`);
    const r2 = cli(['run', '--directions', '2', '--experiments', '3', '--run', 'b'], dir);
    expect(r2.code, r2.stderr).toBe(0);
    j = Journal.open(dir, { readonly: true });
    const started = j.listEvents({ runId: 'b', kinds: ['run.started'] })[0]!;
    const mismatch = j.listEvents({ runId: 'b', kinds: ['noise.mismatch'] });
    const later = j.listExperiments('b').filter((e) => e.seq > 1 && e.decision !== 'rejected');
    j.close();
    expect(started.data).toMatchObject({ directions: 2, slotClass: `local:sandbox:2x${threads}` });
    expect(mismatch).toEqual([]);
    // The keep rule names the load its σ was measured under.
    for (const e of later) expect(e.reason).toContain(`runs in slot local:sandbox:2x${threads}`);
    expect(later.length).toBeGreaterThan(0);
  }, 600_000);

  it("a direction behind another's verified best adopts it before its next experiment, recorded as such", async () => {
    const dir = await makeProject({ rows: 2000, trainPy: predictingScript(NOISE_PREDICTIONS) });
    const real = readFileSync(join(EXAMPLE, 'train.py'), 'utf8');
    const slowNoise = predictingScript(
      '((df["row_id"].astype(int) * 31 % 97) / 97)',
      'import time; time.sleep(6)',
    );
    const slowReal = real.replace(
      'from __future__ import annotations\n',
      'from __future__ import annotations\nimport time; time.sleep(12)\n',
    );
    const steps = {
      // Direction 1 finds the real model at once, then tries a slow variant.
      1: [
        { hypothesis: 'the real model', files: { 'train.py': real } },
        { hypothesis: 'a slow variant', files: { 'train.py': slowReal } },
      ],
      // Direction 2 tries other noise first (slowly, so direction 1's keep lands meanwhile), then a tweak.
      2: [
        { hypothesis: 'other noise', files: { 'train.py': slowNoise } },
        { hypothesis: 'a tweak on top', files: { 'program.md': 'notes\n' } },
      ],
    } as const;
    const s = await runLoop({
      projectDir: dir,
      runId: 'adopt',
      directions: 2,
      maxExperiments: 5,
      proposer: async (ctx) => new ScriptedProposer([...steps[ctx.direction as 1 | 2]]),
    });
    expect(s.experiments).toBe(5);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('adopt');
    const adopted = j.listEvents({ runId: 'adopt', kinds: ['direction.adopted'] });
    j.close();
    const realExp = exps.find((e) => e.hypothesis === 'the real model')!;
    expect(realExp.decision).toBe('kept');
    expect(adopted).toHaveLength(1);
    expect(adopted[0]!.data).toMatchObject({
      direction: 2,
      from: 1,
      experiment: realExp.id,
      commit: realExp.commitSha,
    });
    expect(adopted[0]!.message).toMatch(/direction 2 adopted direction 1's best/);
    const tweak = exps.find((e) => e.hypothesis === 'a tweak on top')!;
    expect(tweak.direction).toBe(2);
    expect(tweak.parentSha).toBe(realExp.commitSha); // it ran on top of direction 1's best
    expect(tweak.bestBefore).toBe(realExp.score);
  }, 600_000);

  it('agents: one agent per direction, each with its own brief naming its direction and the contract text for it', async () => {
    const dir = await makeProject({ rows: 1500, noInit: true });
    const yaml = [
      'agent:',
      `  command: ${JSON.stringify(`python ${STANDIN} good ${dir}`)}`,
      `  mounts: ${JSON.stringify([FIXTURES])}`,
      '  timeout: 2m',
      'parallel:',
      '  directions: 2',
      '  briefs: ["feature engineering only", "try another model family"]',
    ].join('\n');
    writeFileSync(join(dir, 'ratchet.yaml'), `${readFileSync(join(dir, 'ratchet.yaml'), 'utf8')}${yaml}\n`);
    await initProject(dir);
    const s = await runLoop({
      projectDir: dir,
      runId: 'agents',
      proposer: proposerFactory('command'),
      maxExperiments: 3,
    });
    expect(s.experiments).toBe(3);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('agents');
    j.close();
    expect(
      exps
        .filter((e) => e.seq > 1)
        .map((e) => e.direction)
        .sort(),
    ).toEqual([1, 2]);
    for (const [d, text] of [
      [1, 'feature engineering only'],
      [2, 'try another model family'],
    ] as const) {
      const calls = join(dir, '.ratchet', 'proposers', 'agents', `d${d}`, 'calls');
      const first = readdirSync(calls)
        .sort()
        .find((n) => n.includes('-propose-'))!;
      const brief = readFileSync(join(calls, first, 'brief', 'BRIEF.md'), 'utf8');
      expect(brief).toContain(`## Your direction: ${d} of 2`);
      expect(brief).toContain(text);
    }
  }, 600_000);

  it('verified-gains: budgetShares and budgetPause move the budget left toward the direction whose keeps hold', () => {
    const rec = (seq: number, direction: number, decision: string) =>
      ({ seq, direction, decision }) as unknown as ExperimentRecord;
    const exps = [
      rec(1, 1, 'kept'),
      rec(2, 1, 'kept'),
      rec(3, 2, 'reverted'),
      rec(4, 1, 'reverted'),
      rec(5, 2, 'reverted'),
      rec(6, 2, 'crashed'),
    ];
    const shares = budgetShares(directionCounts(exps, 2));
    expect(shares.map((s) => [s.tried, s.verified])).toEqual([
      [2, 1],
      [3, 0],
    ]);
    expect(shares[0]!.rate).toBeCloseTo(2 / 4, 12); // (1 + 1) / (2 + 2)
    expect(shares[1]!.rate).toBeCloseTo(1 / 5, 12);
    expect(shares[0]!.weight + shares[1]!.weight).toBeCloseTo(1, 12);
    // d2's share is 2/7 of what is left: it goes on while that is at least one experiment.
    expect(budgetPause(shares, 2, 4)).toBeNull(); // ⌊8/7⌋ = 1
    expect(budgetPause(shares, 2, 3)).toMatch(/direction 2 pauses: 0 verified keep\(s\) in 3 experiments/);
    expect(budgetPause(shares, 1, 1)).toBeNull(); // the best direction never pauses
    // Nobody pauses before MIN_TRIES experiments.
    expect(budgetPause(budgetShares(directionCounts(exps.slice(0, 3), 2)), 2, 1)).toBeNull();
  });

  it('verified-gains in a run: the direction without verified keeps pauses and the other takes the rest', async () => {
    const dir = await makeProject({
      rows: 1500,
      trainPy: predictingScript(NOISE_PREDICTIONS),
      contract: (y) => `${y}parallel:\n  directions: 2\n  budget: verified-gains\n  adopt_best: false\n`,
    });
    const real = readFileSync(join(EXAMPLE, 'train.py'), 'utf8');
    const noise = (k: number) => ({
      hypothesis: `noise ${k}`,
      files: { 'train.py': predictingScript(`((df["row_id"].astype(int) * ${31 + k} % 97) / 97)`) },
    });
    const steps = {
      1: [
        { hypothesis: 'the real model', files: { 'train.py': real } },
        ...[1, 2, 3, 4, 5, 6].map((k) => ({
          ...noise(k),
          files: { 'params.yaml': `# try ${k}\n${readFileSync(join(EXAMPLE, 'params.yaml'), 'utf8')}` },
        })),
      ],
      2: [1, 2, 3, 4, 5, 6].map((k) => noise(10 + k)),
    };
    const s = await runLoop({
      projectDir: dir,
      runId: 'vg',
      maxExperiments: 11,
      proposer: async (ctx) => new ScriptedProposer(steps[ctx.direction as 1 | 2]),
    });
    expect(s.experiments).toBe(11);
    expect(s.reason).toMatch(/experiment budget used/);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('vg');
    const paused = j.listEvents({ runId: 'vg', kinds: ['direction.paused'] });
    j.close();
    expect(exps.find((e) => e.hypothesis === 'the real model')!.decision).toBe('kept');
    expect(paused.length).toBeGreaterThan(0);
    expect(paused[0]!.data).toMatchObject({ direction: 2 });
    const count = (d: number) => exps.filter((e) => e.seq > 1 && e.direction === d).length;
    expect(count(1)).toBeGreaterThan(count(2));
  }, 600_000);

  it("a direction's best is the latest of its own keeps and what it adopted", () => {
    const rec = (id: number, direction: number, decision: string, endedAt: string, score = 0.7 + id / 100) =>
      ({ id, seq: id, direction, decision, endedAt, score }) as unknown as ExperimentRecord;
    const exps = [
      rec(1, 1, 'kept', '2026-01-01T00:00:01Z'),
      rec(2, 1, 'kept', '2026-01-01T00:00:02Z'),
      rec(3, 2, 'kept', '2026-01-01T00:00:03Z'),
      rec(4, 2, 'reverted', '2026-01-01T00:00:05Z'),
      rec(5, 1, 'kept', '2026-01-01T00:00:09Z'),
    ];
    const ids = (m: Map<number, ExperimentRecord>) => [...m.entries()].map(([d, e]) => [d, e.id]);
    expect(ids(directionBests(exps))).toEqual([
      [1, 5],
      [2, 3],
    ]);
    // d2 adopted d1's #2 after its own #3: #2 is its best; a later keep of its own would replace it.
    const adopted = adoptionsOf([
      {
        id: 1,
        ts: '2026-01-01T00:00:04Z',
        runId: 'r',
        experimentId: null,
        kind: 'direction.adopted',
        severity: 'info',
        guardrail: null,
        message: '',
        data: { direction: 2, experiment: 2 },
      },
      {
        id: 2,
        ts: '2026-01-01T00:00:04Z',
        runId: 'r',
        experimentId: null,
        kind: 'run.started',
        severity: 'info',
        guardrail: null,
        message: '',
        data: { direction: 2, experiment: 1 },
      },
    ]);
    expect(adopted).toEqual([{ ts: '2026-01-01T00:00:04Z', direction: 2, experiment: 2 }]);
    expect(ids(directionBests(exps, adopted))).toEqual([
      [1, 5],
      [2, 2],
    ]);
    expect(ids(directionBests([...exps, rec(6, 2, 'kept', '2026-01-01T00:00:10Z')], adopted))).toEqual([
      [1, 5],
      [2, 6],
    ]);
  });

  it('many directions: the shared budget is never overrun, and the kill switch takes a listener per direction without a leak warning', async () => {
    const dir = await makeProject({ rows: 1500, trainPy: predictingScript(NOISE_PREDICTIONS) });
    // Jobs of equal length that listen to the kill switch while they run, as the local executor's do: the
    // directions end their experiments together, and race for the budget's last ones.
    const executor = instantExecutor(dir, 400);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    let s: Awaited<ReturnType<typeof runLoop>>;
    try {
      s = await runLoop({
        projectDir: dir,
        runId: 'many',
        directions: 16,
        maxExperiments: 40,
        executor: () => executor,
        proposer: async (ctx) => ({
          name: 'scripted',
          async propose(p) {
            writeFileSync(
              join(p.worktree, 'params.yaml'),
              `# direction ${ctx.direction}, experiment ${p.seq}\n`,
            );
            return { hypothesis: `a comment in params.yaml (${p.seq})` };
          },
          async observe() {},
          async close() {},
        }),
      });
    } finally {
      process.off('warning', onWarning);
    }
    expect(s.experiments).toBe(40);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('many');
    j.close();
    expect(exps.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(executor.most).toBeGreaterThan(10); // more than Node's default of 10 listeners listened at once
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  }, 600_000);
});

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  createSearchProposer,
  type SearchProposer,
  studyStoragePath,
} from '../../src/proposers/search/proposer.js';
import type { ExperimentDigest, ProposeContext } from '../../src/proposers/types.js';
import { PYTHON, proposeContext, ROOT, renderedScaffold, tempDir } from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BASELINE_FILE = readFileSync(renderedScaffold('templates/tabular/params.yaml.tmpl'), 'utf8');
const SPACE_FILE = renderedScaffold('templates/tabular/search_space.yaml.tmpl');

interface Setup {
  proposer: SearchProposer;
  worktree: string;
  state: string;
}

function setup(opts: { baselineParams?: Record<string, unknown>; seed?: number } = {}): Setup {
  const t = tempDir('proposer');
  cleanups.push(t.cleanup);
  const worktree = join(t.dir, 'worktree');
  const state = join(t.dir, 'state');
  mkdirSync(worktree);
  writeFileSync(join(worktree, 'params.yaml'), BASELINE_FILE);
  const proposer = createSearchProposer({
    python: PYTHON,
    projectDir: ROOT,
    statePath: state,
    studyName: 'run-1',
    spacePath: SPACE_FILE,
    paramsFile: 'params.yaml',
    direction: 'maximize',
    seed: opts.seed ?? 3,
    baselineParams: opts.baselineParams,
  });
  cleanups.push(() => proposer.close());
  return { proposer, worktree, state };
}

function context(worktree: string, over: Partial<ProposeContext> = {}): ProposeContext {
  return proposeContext(worktree, over);
}

function digest(over: Partial<ExperimentDigest>): ExperimentDigest {
  return {
    id: 1,
    seq: 1,
    hypothesis: 'baseline',
    decision: 'kept',
    reason: 'baseline',
    score: 0.83,
    params: null,
    conclusion: null,
    ...over,
  };
}

describe('createSearchProposer', () => {
  it('refuses a params file outside the worktree and an invalid search space', () => {
    const base = {
      python: PYTHON,
      projectDir: ROOT,
      statePath: '/tmp/x',
      studyName: 's',
      direction: 'maximize' as const,
      seed: 1,
    };
    expect(() =>
      createSearchProposer({
        ...base,
        spacePath: SPACE_FILE,
        paramsFile: '../x.yaml',
      }),
    ).toThrow(/inside the worktree/);
    expect(() =>
      createSearchProposer({ ...base, spacePath: 'nope.yaml', paramsFile: 'params.yaml' }),
    ).toThrow(/invalid search space .*nope\.yaml/);
  });
});

describe('search proposer with the real helper', () => {
  it('replays the baseline first when it has not been measured, then proposes TPE trials', async () => {
    const { proposer, worktree, state } = setup();
    const first = await proposer.propose(context(worktree));
    expect(first.meta).toEqual({ trial: 0, study: 'run-1' });
    expect(first.hypothesis).toMatch(
      /^TPE trial 0: the baseline's parameters \(model=logistic_regression \(C=1\)/,
    );
    const written = readFileSync(join(worktree, 'params.yaml'), 'utf8');
    expect(written.split('\n')[0]).toBe("# written by Ratchet's search proposer, trial 0 (study run-1)");
    expect(parse(written)).toEqual(parse(BASELINE_FILE));
    await proposer.observe({ seq: 2, decision: 'kept', score: 0.83, meta: first.meta });

    // Then the search space's portfolio, in its order, each entry exactly as written.
    const portfolio = proposer.space.portfolio ?? [];
    expect(portfolio.length).toBeGreaterThanOrEqual(3);
    let seq = 3;
    for (const [i, entry] of portfolio.entries()) {
      const p = await proposer.propose(
        context(worktree, { seq, bestScore: 0.83, bestParams: first.params! }),
      );
      expect(p.meta).toEqual({ trial: i + 1, study: 'run-1' });
      expect(p.hypothesis).toMatch(
        new RegExp(`^TPE trial ${i + 1} \\(portfolio configuration ${i + 1} of ${portfolio.length}\\): `),
      );
      expect(p.params).toMatchObject(entry);
      await proposer.observe({ seq, decision: 'reverted', score: 0.8 - i / 100, meta: p.meta });
      seq++;
    }

    const second = await proposer.propose(
      context(worktree, { seq, bestScore: 0.83, bestParams: first.params! }),
    );
    const n = portfolio.length + 1;
    expect(second.meta).toEqual({ trial: n, study: 'run-1' });
    expect(second.hypothesis).toMatch(new RegExp(`^TPE trial ${n} \\(random start-up sample\\): `));
    const params = parse(readFileSync(join(worktree, 'params.yaml'), 'utf8')) as Record<string, unknown>;
    expect(params).toEqual(second.params);
    // unsearched keys of the baseline survive; only the chosen family has a section
    expect(params).toMatchObject({ onehot_max_categories: 50, drop_columns: [], categorical_columns: [] });
    const model = params.model as string;
    for (const f of [
      'logistic_regression',
      'random_forest',
      'extra_trees',
      'hist_gradient_boosting',
      'lightgbm',
    ]) {
      expect(f in params).toBe(f === model);
    }
    await proposer.observe({ seq, decision: 'crashed', score: null });

    const study = await proposer.study();
    expect(await study.info()).toMatchObject({ n_trials: n + 1, n_complete: n, n_fail: 1 });
    expect(proposer.storagePath).toBe(studyStoragePath(state, 'run-1'));
  });

  it('tells TPE the measured baseline score instead of re-running the baseline', async () => {
    const baselineParams = parse(BASELINE_FILE) as Record<string, unknown>;
    const { proposer, worktree } = setup({ baselineParams });
    const proposal = await proposer.propose(
      context(worktree, { bestScore: 0.83, baseline: digest({ score: 0.83 }) }),
    );
    expect(proposal.meta).toMatchObject({ trial: 1 });
    expect(proposal.hypothesis).not.toMatch(/baseline's parameters/);
    const study = await proposer.study();
    expect(await study.best()).toMatchObject({
      trial: 0,
      value: 0.83,
      params: { model: 'logistic_regression' },
    });
  });

  it('continues the same study after a restart (resume)', async () => {
    const first = setup();
    for (let seq = 2; seq < 5; seq++) {
      const p = await first.proposer.propose(context(first.worktree, { seq }));
      await first.proposer.observe({ seq, decision: 'reverted', score: 0.8 + seq / 100, meta: p.meta });
    }
    await first.proposer.close();
    const again = createSearchProposer({
      python: PYTHON,
      projectDir: ROOT,
      statePath: first.state,
      studyName: 'run-1',
      spacePath: SPACE_FILE,
      paramsFile: 'params.yaml',
      direction: 'maximize',
      seed: 3,
    });
    cleanups.push(() => again.close());
    const next = await again.propose(context(first.worktree, { seq: 5 }));
    expect(next.meta).toMatchObject({ trial: 3 });
    expect((await again.study()).opened).toMatchObject({ resumed: true, n_complete: 3 });
  });

  it('gives up promptly when the run is stopping', async () => {
    const { proposer, worktree } = setup();
    const controller = new AbortController();
    controller.abort();
    await expect(proposer.propose(context(worktree, { signal: controller.signal }))).rejects.toThrow(
      /stopping/,
    );
    await proposer.close();
    await proposer.close();
  });
});

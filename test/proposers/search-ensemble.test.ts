/**
 * The search proposer's ensembles: which models it combines (pure selection), how it proposes them through the real
 * Optuna helper (not a TPE trial, after `after` finished trials, once per `every`), and the scaffold's train.py
 * averaging the members' predictions for real.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  anchorOf,
  canonicalJson,
  type EnsembleInput,
  fixedWeights,
  membersOf,
  nextEnsemble,
  searchedPart,
  sharedPart,
} from '../../src/proposers/search/ensemble.js';
import type { GroupBest } from '../../src/proposers/search/optuna.js';
import { createSearchProposer, formatParamsYaml } from '../../src/proposers/search/proposer.js';
import { type EnsembleSpec, parseSearchSpace, SearchSpaceError } from '../../src/proposers/search/space.js';
import type { ProposeContext } from '../../src/proposers/types.js';
import {
  generateData,
  PYTHON,
  proposeContext,
  ROOT,
  readParquet,
  renderedScaffold,
  renderTemplate,
  repoFile,
  run,
  SCAFFOLD_ENSEMBLE,
  type Task,
  tempDir,
  tempWorktree,
} from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SPACE_FILE = renderedScaffold('templates/tabular/search_space.yaml.tmpl');
const SPACE = parseSearchSpace(parse(readFileSync(SPACE_FILE, 'utf8')));
const SPEC: EnsembleSpec = {
  by: 'model',
  members: 3,
  after: 8,
  every: 5,
  within: 0.1,
  weights: 'equal',
  folds: 5,
  anchor: 0,
};

const logistic = {
  model: 'logistic_regression',
  logistic_regression: { C: 1.0 },
  scale_numeric: true,
  onehot_min_frequency: 1,
  onehot_max_categories: 50,
  drop_columns: ['leaky'],
};

function best(
  trial: number,
  value: number,
  params: Record<string, unknown>,
  seconds: number | null = 2,
): GroupBest {
  return { trial, value, params, group: String(params.model), seconds };
}

const extraTrees = {
  model: 'extra_trees',
  extra_trees: { n_estimators: 200, max_depth: 8, min_samples_leaf: 5, max_features: 0.5 },
  scale_numeric: false,
  onehot_min_frequency: 2,
};
const lightgbm = {
  model: 'lightgbm',
  lightgbm: {
    n_estimators: 100,
    learning_rate: 0.05,
    num_leaves: 31,
    min_child_samples: 20,
    subsample: 1.0,
    colsample_bytree: 0.8,
    reg_lambda: 1.0,
  },
  scale_numeric: true,
  onehot_min_frequency: 1,
};
const TOP = [best(7, 0.74, extraTrees), best(0, 0.73, logistic), best(3, 0.72, lightgbm)];

/** What nextEnsemble is given: `SPEC` over the scaffold's space, the logistic incumbent at 0.73, `TOP`, 2 s a model. */
function ensembleInput(over: Partial<EnsembleInput> = {}): EnsembleInput {
  return {
    spec: SPEC,
    space: SPACE.space,
    incumbent: logistic,
    top: TOP,
    tried: new Set<string>(),
    seconds: () => 2,
    maxSeconds: null,
    incumbentScore: 0.73,
    direction: 'maximize',
    metric: 'auroc',
    ...over,
  };
}

describe('nextEnsemble with weights: equal (greedy forward selection over families)', () => {
  const input = ensembleInput();

  it('adds the best trial of the best family not in the incumbent; shared keys stay at the top level', () => {
    const choice = nextEnsemble(input)!;
    expect(choice.added.map((t) => t.trial)).toEqual([7]);
    expect(choice.families).toEqual(['logistic_regression']);
    expect(choice.members).toEqual([searchedPart(logistic, SPACE.space), extraTrees]);
    expect(choice.params).toEqual({
      onehot_max_categories: 50,
      drop_columns: ['leaky'],
      model: 'ensemble',
      ensemble: { members: choice.members },
    });
    expect(choice.seconds).toBe(4);
    expect(choice.key).toBe(canonicalJson(choice.members));
  });

  it('skips a member list already tried, and one expected to run past the time limit', () => {
    const first = nextEnsemble(input)!;
    const second = nextEnsemble({ ...input, tried: new Set([first.key]) })!;
    expect(second.added[0]!.trial).toBe(3);
    expect(nextEnsemble({ ...input, tried: new Set([first.key, second.key]) })).toBeNull();
    const slow = [best(7, 0.74, extraTrees, 50), best(3, 0.72, lightgbm, 5)];
    expect(nextEnsemble({ ...input, top: slow, maxSeconds: 10 })!.added[0]!.trial).toBe(3);
    expect(nextEnsemble({ ...input, top: slow, maxSeconds: 6 })).toBeNull();
  });

  it("leaves out a family much weaker than the incumbent (within), in the metric's direction", () => {
    // 0.73 − 0.72 = 0.01 ≤ 0.1 × 0.73; with within 0.01 only extra trees (better than the incumbent) qualifies
    expect(nextEnsemble({ ...input, tried: new Set([nextEnsemble(input)!.key]) })!.added[0]!.trial).toBe(3);
    const strict = { ...SPEC, within: 0.01 };
    const first = nextEnsemble({ ...input, spec: strict })!;
    expect(first.added[0]!.trial).toBe(7);
    expect(nextEnsemble({ ...input, spec: strict, tried: new Set([first.key]) })).toBeNull();
    // minimize: rmse 3.0 incumbent; 3.2 is 6.7 % worse (joins at 0.1), 3.5 is 16.7 % worse (does not)
    const rmse = [best(4, 3.2, extraTrees), best(5, 3.5, lightgbm)];
    const min = { ...input, top: rmse, incumbentScore: 3.0, direction: 'minimize' as const };
    const joined = nextEnsemble(min)!;
    expect(joined.added[0]!.trial).toBe(4);
    expect(nextEnsemble({ ...min, tried: new Set([joined.key]) })).toBeNull();
    expect(
      nextEnsemble({ ...min, incumbentScore: null, tried: new Set([joined.key]) })!.added[0]!.trial,
    ).toBe(5);
  });

  it('grows a kept ensemble by one family, up to `members`, and needs an incumbent', () => {
    const kept = nextEnsemble(input)!.params;
    expect(membersOf(kept, SPACE.space)).toHaveLength(2);
    const third = nextEnsemble({ ...input, incumbent: kept })!;
    expect(third.families).toEqual(['logistic_regression', 'extra_trees']);
    expect(third.added[0]!.trial).toBe(3);
    expect(sharedPart(third.params, SPACE.space)).toEqual({
      onehot_max_categories: 50,
      drop_columns: ['leaky'],
    });
    expect(nextEnsemble({ ...input, incumbent: third.params })).toBeNull(); // 3 = spec.members
    expect(nextEnsemble({ ...input, incumbent: null })).toBeNull();
  });

  it('writes member floats with a decimal point, so PyYAML and scikit-learn read them as fractions', () => {
    const params = nextEnsemble({ ...input, incumbent: logistic, top: [best(3, 0.72, lightgbm)] })!.params;
    const text = formatParamsYaml(params, SPACE.space, 'header');
    expect(text).toMatch(/subsample: 1\.0\b/);
    expect(text).toMatch(/C: 1\.0\b/);
    expect(parse(text)).toEqual(params);
  });
});

describe('nextEnsemble with weights: oof (every family at once, weights fitted by train.py)', () => {
  const OOF: EnsembleSpec = { ...SPEC, members: 4, within: 1, weights: 'oof', folds: 5, anchor: 0.5 };
  const randomForest = {
    model: 'random_forest',
    random_forest: { n_estimators: 100, max_depth: 6, min_samples_leaf: 2, max_features: 0.5 },
    scale_numeric: false,
    onehot_min_frequency: 1,
  };
  const input = ensembleInput({ spec: OOF, top: [...TOP, best(9, 0.6, randomForest)] });

  it("adds every family's best trial up to `members`, best first, with fit_weights on the contract's metric", () => {
    const choice = nextEnsemble(input)!;
    // the incumbent, then extra trees (0.74), lightgbm (0.72) and random forest (0.6): logistic trial 0 is the
    // incumbent's own model, skipped
    expect(choice.added.map((t) => t.trial)).toEqual([7, 3, 9]);
    expect(choice.members).toEqual([
      searchedPart(logistic, SPACE.space),
      extraTrees,
      lightgbm,
      searchedPart(randomForest, SPACE.space),
    ]);
    expect(choice.params).toEqual({
      onehot_max_categories: 50,
      drop_columns: ['leaky'],
      model: 'ensemble',
      ensemble: {
        members: choice.members,
        fit_weights: { metric: 'auroc', folds: 5, anchor: { members: 1, share: 0.5 } },
      },
    });
    expect(choice.seconds).toBe(4 * 2 * 5); // four members of 2 s, each fitted on 5 folds and the whole split
    const three = nextEnsemble({ ...input, spec: { ...OOF, members: 3 } })!;
    expect(three.added.map((t) => t.trial)).toEqual([7, 3]);
    expect(nextEnsemble({ ...input, metric: null, spec: { ...OOF, anchor: 0 } })!.params.ensemble).toEqual({
      members: choice.members,
      fit_weights: { folds: 5 },
    });
  });

  it("lets a better trial of the incumbent's own family join, but never the incumbent's model twice", () => {
    const tuned = { ...logistic, logistic_regression: { C: 0.2 } };
    const choice = nextEnsemble({ ...input, top: [best(11, 0.735, tuned), best(0, 0.73, logistic)] })!;
    expect(choice.added.map((t) => t.trial)).toEqual([11]);
    expect(choice.members.map((m) => m.model)).toEqual(['logistic_regression', 'logistic_regression']);
    expect(nextEnsemble({ ...input, top: [best(0, 0.73, logistic)] })).toBeNull();
  });

  it('proposes a member list once, skips a member past the time limit and one not within reach', () => {
    const first = nextEnsemble(input)!;
    expect(first.kind).toBe('oof');
    // 20 s of budget at 5 folds: the incumbent (2 s) and one 2 s member fit; extra trees (50 s) never does
    const slow = [best(7, 0.74, extraTrees, 50), best(3, 0.72, lightgbm, 2), best(9, 0.6, randomForest, 2)];
    const fits = nextEnsemble({ ...input, top: slow, maxSeconds: 20 })!;
    expect([fits.kind, fits.added.map((t) => t.trial)]).toEqual(['oof', [3]]);
    expect(nextEnsemble({ ...input, top: slow, maxSeconds: 3 })).toBeNull(); // not even the 4 s step fits
    // within 0.1 of 0.73: random forest (0.6) is 18 % worse and stays out
    const near = nextEnsemble({ ...input, spec: { ...OOF, members: 8, within: 0.1 } })!;
    expect(near.added.map((t) => t.trial)).toEqual([7, 3]);
  });
});

describe('steps: the kept model plus one trial, fixed weights, when the out-of-fold ensemble cannot run', () => {
  const OOF: EnsembleSpec = { ...SPEC, members: 4, within: 1, weights: 'oof', folds: 5, anchor: 0.5 };
  const input = ensembleInput({
    spec: OOF,
    top: [best(7, 0.74, extraTrees, 50), best(3, 0.72, lightgbm, 2)],
    maxSeconds: 9,
  });

  it('takes the first trial that fits at its own run time, anchor × the kept weights on the incumbent', () => {
    // at 5 folds even incumbent + lightgbm (4 s × 5) is past 9 s; alone, 4 s fits, extra trees (52 s) does not
    const step = nextEnsemble(input)!;
    expect(step.kind).toBe('step');
    expect(step.params.ensemble).toEqual({
      members: [searchedPart(logistic, SPACE.space), lightgbm],
      weights: [0.5, 0.5],
    });
    expect(step.seconds).toBe(4);
    expect(step.added.map((t) => t.trial)).toEqual([3]);
    // the next one skips the tried pair; none left
    expect(nextEnsemble({ ...input, tried: new Set([step.key]) })).toBeNull();
    // with no anchor there are no steps
    expect(nextEnsemble({ ...input, spec: { ...OOF, anchor: 0 } })).toBeNull();
    // a step's trial is at most 10 % worse than the incumbent, whatever `within` allows: 0.6 is 18 % below 0.73
    const weak = [best(9, 0.6, lightgbm, 2)];
    expect(nextEnsemble({ ...input, top: weak })).toBeNull();
    expect(nextEnsemble({ ...input, top: weak, incumbentScore: 0.65 })!.kind).toBe('step');
  });

  it('scales a fixed-weight incumbent’s weights, and takes none for a fitted incumbent (its weights are train.py’s)', () => {
    const members = [searchedPart(logistic, SPACE.space), extraTrees];
    const fixed = { ...logistic, model: 'ensemble', ensemble: { members, weights: [3, 1] } };
    const step = nextEnsemble({ ...input, incumbent: fixed, spec: { ...OOF, anchor: 0.6 } })!;
    const ensemble = step.params.ensemble as { members: unknown[]; weights: number[] };
    expect(ensemble.members).toEqual([...members, lightgbm]);
    [0.45, 0.15, 0.4].forEach((w, i) => {
      expect(ensemble.weights[i]).toBeCloseTo(w, 12);
    });
    expect(fixedWeights(fixed, 2)).toEqual([0.75, 0.25]);
    expect(fixedWeights({ model: 'ensemble', ensemble: { members } }, 2)).toEqual([0.5, 0.5]);
    expect(fixedWeights({ model: 'ensemble', ensemble: { members, weights: [1, 'x'] } }, 2)).toBeNull();
    const fitted = { model: 'ensemble', ensemble: { members, fit_weights: { metric: 'auroc' } } };
    expect(fixedWeights(fitted, 2)).toBeNull();
    expect(nextEnsemble({ ...input, incumbent: fitted })).toBeNull();
  });
});

describe('anchorOf: the kept model’s share of an ensemble, weighted as the kept model weights it', () => {
  const spec: EnsembleSpec = { ...SPEC, weights: 'oof', anchor: 0.5 };
  const at = { spec, metric: 'auroc' };
  const members = [{ model: 'logistic_regression' }, { model: 'lightgbm' }];

  it('anchors a single model alone, and nothing when the share is 0', () => {
    expect(anchorOf(logistic, 1, at)).toEqual({ members: 1, share: 0.5 });
    expect(anchorOf(logistic, 1, { ...at, spec: { ...spec, anchor: 0 } })).toBeNull();
  });

  it("copies an ensemble's fixed weights, and gives equal ones to an ensemble without weights", () => {
    const fixed = { model: 'ensemble', ensemble: { members, weights: [3, 1] } };
    expect(anchorOf(fixed, 2, at)).toEqual({ members: 2, share: 0.5, weights: [0.75, 0.25] });
    const equal = { model: 'ensemble', ensemble: { members } };
    expect(anchorOf(equal, 2, at)).toEqual({ members: 2, share: 0.5, weights: [0.5, 0.5] });
    // weights train.py would refuse are not copied into the successor: its anchor is re-fitted instead
    const broken = { model: 'ensemble', ensemble: { members, weights: [1, 'x'] } };
    expect(anchorOf(broken, 2, at)).toEqual({ members: 2, share: 0.5 });
  });

  it("nests a fitted ensemble's own anchor when it was fitted the same way, so train.py re-fits its weights", () => {
    const inner = { members: 1, share: 0.5 };
    const fitted = {
      model: 'ensemble',
      ensemble: { members, fit_weights: { metric: 'auroc', folds: 5, anchor: inner } },
    };
    expect(anchorOf(fitted, 2, at)).toEqual({ members: 2, share: 0.5, anchor: inner });
    // another metric or other folds: other out-of-fold predictions, the kept weights cannot be reproduced
    expect(anchorOf(fitted, 2, { ...at, metric: 'log_loss' })).toEqual({ members: 2, share: 0.5 });
    expect(anchorOf(fitted, 2, { ...at, spec: { ...spec, folds: 3 } })).toEqual({ members: 2, share: 0.5 });
  });

  it("a kept anchored ensemble's successor keeps its members first and nests its anchor", () => {
    const input = ensembleInput({ spec: { ...spec, members: 8, within: 1 }, seconds: () => null });
    const kept = nextEnsemble(input)!;
    const tuned = { ...extraTrees, extra_trees: { ...extraTrees.extra_trees, n_estimators: 300 } };
    const next = nextEnsemble({ ...input, incumbent: kept.params, top: [best(15, 0.75, tuned), ...TOP] })!;
    expect(next.members).toEqual([...kept.members, tuned]);
    expect(next.params.ensemble).toEqual({
      members: next.members,
      fit_weights: {
        metric: 'auroc',
        folds: 5,
        anchor: { members: kept.members.length, share: 0.5, anchor: { members: 1, share: 0.5 } },
      },
    });
  });
});

describe('the search space’s ensemble section', () => {
  const doc = () => parse(readFileSync(SPACE_FILE, 'utf8')) as Record<string, unknown>;

  it('is in the scaffold, with its defaults', () => {
    expect(SPACE.ensemble).toEqual(SCAFFOLD_ENSEMBLE);
    const bare = doc();
    bare.ensemble = {};
    expect(parseSearchSpace(bare).ensemble).toEqual({ ...SCAFFOLD_ENSEMBLE, members: 4 });
    const none = doc();
    delete none.ensemble;
    expect(parseSearchSpace(none).ensemble).toBeUndefined();
  });

  it.each([
    [
      { by: 'scale_numeric' },
      'ensemble.by',
      /not a top-level categorical parameter with conditional sections/,
    ],
    [{ members: 1 }, 'ensemble.members', /below 2/],
    [{ every: 0 }, 'ensemble.every', /below 1/],
    [{ members: 9 }, 'ensemble.members', /above 8/],
    [{ within: 0 }, 'ensemble.within', /.+/],
    [{ weights: 'mean' }, 'ensemble.weights', /.+/],
    [{ folds: 1 }, 'ensemble.folds', /below 2/],
    [{ anchor: 1 }, 'ensemble.anchor', /.+/],
    [
      { size: 3 },
      'ensemble',
      /unknown key 'size'.*allowed keys here: by, members, after, every, within, weights, folds, anchor/,
    ],
  ])('refuses %j, naming the field and the fix', (section, path, message) => {
    const bad = doc();
    bad.ensemble = section;
    try {
      parseSearchSpace(bad, 'search_space.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SearchSpaceError);
      const issue = (e as SearchSpaceError).issues.find((i) => i.path === path);
      expect(issue, (e as Error).message).toBeDefined();
      expect(`${issue!.message}; fix: ${issue!.fix}`).toMatch(message);
    }
  });
});

/** The proposer tests' context, with a kept score of 0.7 unless `over` says. */
function context(worktree: string, over: Partial<ProposeContext>): ProposeContext {
  return proposeContext(worktree, { bestScore: 0.7, ...over });
}

describe('search proposer ensembles, with the real helper', () => {
  it('weights: equal: an ensemble after `after` finished trials, never told to TPE, and again after `every` more', async () => {
    const t = tempWorktree('ensemble-proposer');
    cleanups.push(t.cleanup);
    const worktree = t.worktree;
    const doc = parse(readFileSync(SPACE_FILE, 'utf8')) as Record<string, unknown>;
    doc.ensemble = { ...(doc.ensemble as Record<string, unknown>), weights: 'equal', within: 0.1 };
    const spacePath = join(t.dir, 'space.yaml');
    writeFileSync(spacePath, JSON.stringify(doc));
    const baselineFile = readFileSync(renderedScaffold('templates/tabular/params.yaml.tmpl'), 'utf8');
    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const make = (worker: number) =>
      createSearchProposer({
        python: PYTHON,
        projectDir: ROOT,
        statePath: join(t.dir, 'state'),
        studyName: 'ens',
        spacePath,
        paramsFile: 'params.yaml',
        direction: 'maximize',
        seed: 5,
        worker,
        experimentTimeoutMs: 600_000,
      });
    const proposer = make(0);
    cleanups.push(() => proposer.close());
    const after = SPACE.ensemble!.after;
    const every = SPACE.ensemble!.every;
    // Trials 0..after-1 finish; the baseline (trial 0) stays the incumbent: its params file is in the worktree.
    const scores = new Map<string, number>();
    for (let seq = 1; seq <= after; seq++) {
      const p = await proposer.propose(context(worktree, { seq }));
      expect(p.meta).toMatchObject({ trial: seq - 1 });
      const model = p.params!.model as string;
      const score = 0.6 + seq / 100;
      scores.set(model, Math.max(scores.get(model) ?? 0, score));
      await proposer.observe({ seq, decision: 'reverted', score, meta: p.meta });
      writeFileSync(join(worktree, 'params.yaml'), baselineFile); // a revert resets the worktree
    }
    const study = await proposer.study();
    const before = await study.info();
    expect(before.n_complete).toBe(after);

    const ens = await proposer.propose(context(worktree, { seq: after + 1 }));
    expect(ens.meta).toEqual({ ensemble: true, study: 'ens', added_trials: [expect.any(Number)] });
    const written = parse(readFileSync(join(worktree, 'params.yaml'), 'utf8')) as Record<string, unknown>;
    expect(written).toEqual(ens.params);
    expect(written.model).toBe('ensemble');
    const members = membersOf(written, SPACE.space);
    expect(members[0]).toEqual(searchedPart(parse(baselineFile) as Record<string, unknown>, SPACE.space));
    // the added member is the best trial of the best family other than the incumbent's
    const others = [...scores].filter(([m]) => m !== 'logistic_regression').sort((a, b) => b[1] - a[1]);
    expect(members[1]!.model).toBe(others[0]![0]);
    expect(ens.hypothesis).toMatch(
      new RegExp(
        `^ensemble of 2 models, equal weights: the best kept model \\(logistic_regression\\) plus ${others[0]![0]}, TPE trial \\d+ \\(public `,
      ),
    );
    await proposer.observe({ seq: after + 1, decision: 'reverted', score: 0.99, meta: ens.meta });
    expect(await study.info()).toEqual(before); // TPE heard nothing

    // The next proposals are TPE trials until `every` more have finished; then the next family is tried.
    for (let k = 0; k < every; k++) {
      writeFileSync(join(worktree, 'params.yaml'), baselineFile);
      const p = await proposer.propose(context(worktree, { seq: after + 2 + k }));
      expect(p.meta).toMatchObject({ trial: after + k });
      await proposer.observe({ seq: after + 2 + k, decision: 'reverted', score: 0.5, meta: p.meta });
    }
    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const again = await proposer.propose(context(worktree, { seq: after + 2 + every }));
    expect(again.meta).toMatchObject({ ensemble: true });
    expect(membersOf(again.params!, SPACE.space)[1]!.model).toBe(others[1]![0]);
    await proposer.observe({ seq: after + 2 + every, decision: 'reverted', score: 0.5, meta: again.meta });

    // A second direction (worker 1) shares the study but never proposes ensembles.
    const second = make(1);
    cleanups.push(() => second.close());
    for (let k = 0; k < every + 1; k++) {
      const p = await second.propose(context(worktree, { seq: 100 + k }));
      expect(p.meta).toMatchObject({ trial: expect.any(Number) });
      await second.observe({ seq: 100 + k, decision: 'reverted', score: 0.5, meta: p.meta });
    }
  });
});

describe('search proposer ensembles with weights: oof, with the real helper', () => {
  it("proposes the kept model plus every family's best trial with fit_weights, and a member list only once", async () => {
    const t = tempWorktree('ensemble-oof');
    cleanups.push(t.cleanup);
    const worktree = t.worktree;
    const baselineFile = readFileSync(renderedScaffold('templates/tabular/params.yaml.tmpl'), 'utf8');
    const baseline = searchedPart(parse(baselineFile) as Record<string, unknown>, SPACE.space);
    const proposer = createSearchProposer({
      python: PYTHON,
      projectDir: ROOT,
      statePath: join(t.dir, 'state'),
      studyName: 'oof',
      spacePath: SPACE_FILE,
      paramsFile: 'params.yaml',
      direction: 'maximize',
      seed: 8,
      experimentTimeoutMs: 600_000,
      metric: 'auroc',
    });
    cleanups.push(() => proposer.close());
    const { after, every } = SPACE.ensemble!;
    // the best trial of each family so far, by the searched part of its params
    const bestOf = new Map<string, { score: number; member: Record<string, unknown> }>();
    let seq = 0;
    const trial = async (score: number) => {
      writeFileSync(join(worktree, 'params.yaml'), baselineFile); // a revert resets the worktree
      const p = await proposer.propose(context(worktree, { seq: ++seq }));
      expect(p.meta).toMatchObject({ trial: expect.any(Number) });
      const model = p.params!.model as string;
      if (score > (bestOf.get(model)?.score ?? -1))
        bestOf.set(model, { score, member: searchedPart(p.params!, SPACE.space) });
      await proposer.observe({ seq, decision: 'reverted', score, meta: p.meta });
    };
    const expected = () =>
      [baseline].concat(
        [...bestOf.values()]
          .sort((a, b) => b.score - a.score)
          .map((b) => b.member)
          .filter((m) => canonicalJson(m) !== canonicalJson(baseline))
          .slice(0, SPACE.ensemble!.members - 1),
      );
    for (let k = 1; k <= after; k++) await trial(0.6 + k / 100);

    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const ens = await proposer.propose(context(worktree, { seq: ++seq }));
    expect(ens.meta).toMatchObject({ ensemble: true, study: 'oof' });
    const written = parse(readFileSync(join(worktree, 'params.yaml'), 'utf8')) as Record<string, unknown>;
    expect(written).toEqual(ens.params);
    expect(written.ensemble).toEqual({
      members: expected(),
      fit_weights: { metric: 'auroc', folds: 5, anchor: { members: 1, share: 0.5 } },
    });
    expect((ens.meta!.added_trials as number[]).length).toBe(expected().length - 1);
    expect(ens.hypothesis).toMatch(
      /^ensemble of \d models, weights fitted on 5-fold out-of-fold auroc of the train split \(ensemble selection\): the best kept model \(logistic_regression\) plus \w+ \(TPE trial \d+, public 0\.\d+\)/,
    );
    await proposer.observe({ seq, decision: 'reverted', score: 0.9, meta: ens.meta });

    // After `every` worse trials, the same member list is never proposed again: a step comes instead (the kept
    // model and the best trial, fixed weights), unless a family seen for the first time brought a new best
    const first = canonicalJson(expected());
    for (let k = 0; k < every; k++) await trial(0.5);
    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const next = await proposer.propose(context(worktree, { seq: ++seq }));
    if (canonicalJson(expected()) === first) {
      expect(next.params!.ensemble).toEqual({ members: expected().slice(0, 2), weights: [0.5, 0.5] });
      expect(next.hypothesis).toMatch(
        /^ensemble of 2 models, fixed weights \[0\.5,0\.5\]: the best kept model/,
      );
    } else expect((next.params!.ensemble as Record<string, unknown>).members).toEqual(expected());
    const model = next.params!.model as string;
    if (typeof next.meta?.trial === 'number' && !bestOf.has(model))
      bestOf.set(model, { score: 0.5, member: searchedPart(next.params!, SPACE.space) });
    await proposer.observe({ seq, decision: 'reverted', score: 0.5, meta: next.meta });
    // `every` better trials do: the next ensemble carries the new bests
    for (let k = 0; k < every; k++) await trial(0.9 + k / 100);
    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const again = await proposer.propose(context(worktree, { seq: ++seq }));
    expect(again.meta).toMatchObject({ ensemble: true });
    expect((again.params!.ensemble as Record<string, unknown>).members).toEqual(expected());
  });
});

/** The scaffold's train.py, run for real on generated data: an ensemble is the weighted average of its members. */
describe('train.py with model: ensemble', () => {
  const TEMPLATE = repoFile('templates/tabular/train.py.tmpl');

  /** A temp folder with generated data (its paths in data.json) and the scaffold's train.py rendered for the task. */
  function project(name: string, task: Task, rows?: { train: number; public: number; private: number }) {
    const t = tempDir(name);
    cleanups.push(t.cleanup);
    const data = generateData(t.dir, task, rows);
    writeFileSync(join(t.dir, 'data.json'), JSON.stringify(data));
    const values = { TARGET: 'target', ID: 'row_id', TASK: task, POSITIVE_CLASS: data.positiveClass };
    writeFileSync(join(t.dir, 'train.py'), renderTemplate(TEMPLATE, { ...values, GROUP: '', TIME: '' }));
    return { dir: t.dir, data };
  }
  /** The task's linear family, and a small random forest. */
  const linearFor = (task: Task) =>
    task === 'regression'
      ? { model: 'linear_regression', linear_regression: { alpha: 1.0 }, scale_numeric: true }
      : { model: 'logistic_regression', logistic_regression: { C: 0.5 }, scale_numeric: true };
  const forestOf = (trees: number) => ({
    model: 'random_forest',
    random_forest: { n_estimators: trees, max_depth: 6, min_samples_leaf: 2, max_features: 0.5 },
    scale_numeric: false,
  });

  async function predictions(dir: string, params: Record<string, unknown>, name: string) {
    writeFileSync(join(dir, 'params.yaml'), formatParamsYaml(params, SPACE.space, name));
    const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as ReturnType<typeof generateData>;
    const out = join(dir, `out-${name}`);
    const r = await run(PYTHON, ['train.py'], {
      cwd: dir,
      env: {
        RATCHET_TRAIN: data.trainPath,
        RATCHET_PUBLIC: data.publicPath,
        RATCHET_PRIVATE: data.privatePath,
        RATCHET_OUTPUT: out,
        RATCHET_SEED: '3',
      },
    });
    expect(r.code, r.stderr).toBe(0);
    return { ...(await readParquet(join(out, 'public.parquet'))), stdout: r.stdout };
  }

  it.each(['binary', 'multiclass', 'regression'] as const)(
    '%s: the predictions are the weighted average of the members run alone',
    async (task) => {
      const t = project(`ensemble-train-${task}`, task);
      const linear = linearFor(task);
      const forest = forestOf(30);
      const shared = { categorical_columns: ['x_code'], onehot_min_frequency: 1 };
      const a = await predictions(t.dir, { ...shared, ...linear }, 'a');
      const b = await predictions(t.dir, { ...shared, ...forest }, 'b');
      const ens = await predictions(
        t.dir,
        {
          ...shared,
          model: 'ensemble',
          ensemble: { members: [linear, { ...forest, nestimators: 9 }], weights: [3, 1] },
        },
        'ens',
      );
      expect(ens.stdout).toContain('ensemble of 2 models, weights [0.75, 0.25]');
      expect(ens.stdout).toContain('member 2/2: model=random_forest');
      // a misspelt key in a member is named, not silently dropped
      expect(ens.stdout).toContain('ensemble.members[1] keys not used by this script: nestimators');
      expect(ens.header).toEqual(a.header);
      const first = task === 'multiclass' ? 2 : 1; // multiclass: the proba_<label> columns; else: prediction
      let checked = 0;
      ens.rows.forEach((row, i) => {
        expect(row[0]).toBe(a.rows[i]![0]);
        for (let c = first; c < row.length; c++) {
          const want = 0.75 * Number(a.rows[i]![c]) + 0.25 * Number(b.rows[i]![c]);
          expect(Number(row[c])).toBeCloseTo(want, 10);
          checked++;
        }
        if (task === 'multiclass') {
          const probs = row.slice(2).map(Number);
          expect(row[1]).toBe(ens.header[2 + probs.indexOf(Math.max(...probs))]!.replace(/^proba_/, ''));
        }
      });
      expect(checked).toBeGreaterThan(50);
    },
  );

  it.each([
    ['binary', 'auroc', 'maximize'],
    ['multiclass', 'log_loss', 'minimize'],
    ['regression', 'rmse', 'minimize'],
  ] as const)(
    '%s: fit_weights fits the weights on out-of-fold %s and applies them',
    async (task, metric, direction) => {
      const t = project(`ensemble-fit-${task}`, task, { train: 400, public: 100, private: 100 });
      const linear = linearFor(task);
      const forest = forestOf(40);
      // x_code (and, for classification, x_int) carry no signal: this member predicts noise
      const noise = {
        ...linear,
        drop_columns: ['x_num', 'x_cat', 'x_flag', ...(task === 'regression' ? ['x_int'] : [])],
      };
      const shared = { categorical_columns: ['x_code'], onehot_min_frequency: 1 };
      const alone = [
        await predictions(t.dir, { ...shared, ...linear }, 'a'),
        await predictions(t.dir, { ...shared, ...forest }, 'b'),
        await predictions(t.dir, { ...shared, ...noise }, 'c'),
      ];
      const ens = await predictions(
        t.dir,
        {
          ...shared,
          model: 'ensemble',
          ensemble: { members: [linear, forest, noise], fit_weights: { metric } },
        },
        'ens',
      );
      expect(ens.stdout).toContain('ensemble of 3 models, weights fitted on out-of-fold predictions');
      const line = ens.stdout.match(
        /fit_weights: 5-fold \((?:stratified|shuffled)\) out-of-fold (\w+) of each member \[([^\]]*)\]; ensemble selection \(best of 25 rounds\): picks \[([^\]]*)\] of (\d+); weights \[[^\]]*\], out-of-fold \w+ (-?[\d.]+)/,
      );
      expect(line, ens.stdout).not.toBeNull();
      expect(line![1]).toBe(metric);
      const each = line![2]!.split(',').map(Number);
      const picks = line![3]!.split(',').map(Number);
      const total = Number(line![4]);
      expect(picks.reduce((a, b) => a + b, 0)).toBe(total);
      expect(total).toBeLessThanOrEqual(25);
      const weights = picks.map((p) => p / total);
      const together = Number(line![5]);
      expect(weights).toHaveLength(3);
      // ensemble selection starts from the best member alone, so the ensemble is never worse out of fold
      for (const v of each) expect(direction === 'maximize' ? together >= v : together <= v).toBe(true);
      // the noise member is the worst alone and weighs less than the best member (on log_loss and rmse, nothing:
      // with AUROC its near-constant predictions barely move the ranking, so a share of it can break ties)
      const worst = direction === 'maximize' ? Math.min(...each) : Math.max(...each);
      expect(each[2]).toBe(worst);
      expect(weights[2]).toBeLessThan(Math.max(weights[0]!, weights[1]!));
      if (metric !== 'auroc') expect(weights[2]).toBe(0);
      // a member never selected is not fitted
      expect(ens.stdout.includes('member 3/3: fit')).toBe(weights[2]! > 0);
      // the predictions are the weighted average of the members run alone, with the fitted weights
      const first = task === 'multiclass' ? 2 : 1;
      expect(ens.header).toEqual(alone[0]!.header);
      let checked = 0;
      ens.rows.forEach((row, i) => {
        for (let c = first; c < row.length; c++) {
          const want = weights.reduce((sum, w, m) => sum + w * Number(alone[m]!.rows[i]![c]), 0);
          expect(Number(row[c])).toBeCloseTo(want, 10);
          checked++;
        }
      });
      expect(checked).toBeGreaterThan(90);
    },
  );

  it.each([
    ['g', '', 'groups of g kept together'],
    ['', 't', 'contiguous in t'],
    ['', '', 'stratified'],
  ])('out-of-fold folds are made like the holdouts (GROUP %j, TIME %j)', async (group, time, how) => {
    const t = tempDir('ensemble-folds');
    cleanups.push(t.cleanup);
    writeFileSync(
      join(t.dir, 'train.py'),
      renderTemplate(TEMPLATE, {
        TARGET: 'y',
        ID: 'row_id',
        TASK: 'binary',
        POSITIVE_CLASS: '1',
        GROUP: group,
        TIME: time,
      }),
    );
    // 200 rows in 40 groups of 5; times shuffled; each held-out fold is checked against the rule
    const code = `
import json, numpy as np, pandas as pd, train
rng = np.random.default_rng(0)
frame = pd.DataFrame({"g": np.repeat([f"p{i}" for i in range(40)], 5), "t": rng.permutation(200), "y": np.arange(200) % 2})
folds, how = train.oof_folds(frame, frame["y"].to_numpy(), 5, 0)
held = [frame.iloc[h] for _, h in folds]
print(json.dumps({"how": how, "all": sorted(int(i) for _, h in folds for i in h),
  "groups": [sorted(set(f["g"])) for f in held], "times": [[int(f["t"].min()), int(f["t"].max())] for f in held],
  "disjoint": all(len(set(a) & set(h)) == 0 for a, h in folds)}))`;
    const r = await run(PYTHON, ['-c', code], { cwd: t.dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      how: string;
      all: number[];
      groups: string[][];
      times: number[][];
      disjoint: boolean;
    };
    expect(out.how).toBe(how);
    expect(out.all).toEqual(Array.from({ length: 200 }, (_, i) => i)); // every row held out exactly once
    expect(out.disjoint).toBe(true);
    const groupsSplit = out.groups.flat().length !== new Set(out.groups.flat()).size;
    expect(groupsSplit).toBe(group === ''); // with GROUP, no group is in two held-out folds
    const ordered = [...out.times].sort((a, b) => a[0]! - b[0]!);
    const contiguous = ordered.every((f, i) => i === 0 || f[0]! > ordered[i - 1]![1]!);
    expect(contiguous).toBe(time !== ''); // with TIME, each held-out fold is one stretch of time
  });

  it('names a GROUP column the train split lacks, instead of folding without it', async () => {
    const t = tempDir('ensemble-folds-bad');
    cleanups.push(t.cleanup);
    const TARGET = 'y';
    writeFileSync(
      join(t.dir, 'train.py'),
      renderTemplate(TEMPLATE, {
        TARGET,
        ID: 'row_id',
        TASK: 'binary',
        POSITIVE_CLASS: '1',
        GROUP: 'person',
        TIME: '',
      }),
    );
    const code = `
import numpy as np, pandas as pd, train
frame = pd.DataFrame({"y": np.arange(20) % 2})
train.oof_folds(frame, frame["y"].to_numpy(), 5, 0)`;
    const r = await run(PYTHON, ['-c', code], { cwd: t.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "train.py names 'person' as the split's column (GROUP/TIME), but the train split has no such column",
    );
  });

  it('anchor: the kept model keeps its share, and a kept anchored ensemble is reproduced inside its successor', async () => {
    const t = project('ensemble-anchor', 'binary', { train: 400, public: 100, private: 100 });
    const linear = linearFor('binary');
    const forest = forestOf(40);
    const shallow = {
      model: 'extra_trees',
      extra_trees: { n_estimators: 40, max_depth: 3, min_samples_leaf: 5 },
    };
    const shared = { categorical_columns: ['x_code'], onehot_min_frequency: 1 };
    const alone = [];
    for (const [i, m] of [linear, forest, shallow].entries())
      alone.push(await predictions(t.dir, { ...shared, ...m }, `m${i}`));
    const selected = (stdout: string) => {
      const m = stdout.match(/picks \[([^\]]*)\] of (\d+)/);
      expect(m, stdout).not.toBeNull();
      return m![1]!.split(',').map((p) => Number(p) / Number(m![2]));
    };
    const column = (rows: string[][]) => rows.map((r) => Number(r[1]));
    const a = alone.map((p) => column(p.rows));

    const first = await predictions(
      t.dir,
      {
        ...shared,
        model: 'ensemble',
        ensemble: {
          members: [linear, forest],
          fit_weights: { metric: 'auroc', anchor: { members: 1, share: 0.5 } },
        },
      },
      'e1',
    );
    expect(first.stdout).toContain("anchored: 0.5 on the kept model's 1 member(s), weights [1.0]");
    const w1 = selected(first.stdout);
    const e1 = column(first.rows);
    e1.forEach((v, i) => {
      expect(v).toBeCloseTo(0.5 * a[0]![i]! + 0.5 * (w1[0]! * a[0]![i]! + w1[1]! * a[1]![i]!), 10);
    });

    const second = await predictions(
      t.dir,
      {
        ...shared,
        model: 'ensemble',
        ensemble: {
          members: [linear, forest, shallow],
          fit_weights: {
            metric: 'auroc',
            anchor: { members: 2, share: 0.5, anchor: { members: 1, share: 0.5 } },
          },
        },
      },
      'e2',
    );
    const w2 = selected(second.stdout);
    column(second.rows).forEach((v, i) => {
      const selection = w2.reduce((sum, w, m) => sum + w * a[m]![i]!, 0);
      expect(v).toBeCloseTo(0.5 * e1[i]! + 0.5 * selection, 10);
    });
  });

  it.each([
    [{ model: 'ensemble' }, /ensemble\.members must be a non-empty list/],
    [
      { model: 'ensemble', ensemble: { members: [{ model: 'linear_regression' }] } },
      /ensemble\.members\[0\]\.model must be one of logistic_regression/,
    ],
    [
      { model: 'ensemble', ensemble: { members: [{ model: 'logistic_regression' }], weights: [1, 2] } },
      /ensemble\.weights must be 1 numbers >= 0/,
    ],
    [
      {
        model: 'ensemble',
        ensemble: { members: [{ model: 'logistic_regression' }], weights: [1], fit_weights: {} },
      },
      /give ensemble\.weights \(fixed\) or ensemble\.fit_weights \(fitted\), not both/,
    ],
    [
      {
        model: 'ensemble',
        ensemble: { members: [{ model: 'logistic_regression' }], fit_weights: { metric: 'rmse' } },
      },
      /ensemble\.fit_weights must be a mapping with optional metric: one of auroc, average_precision, log_loss/,
    ],
    [
      {
        model: 'ensemble',
        ensemble: { members: [{ model: 'logistic_regression' }], fit_weights: { folds: 1 } },
      },
      /ensemble\.fit_weights\.folds must be an integer from 2 to 20, not 1/,
    ],
    [
      {
        model: 'ensemble',
        ensemble: {
          members: [{ model: 'logistic_regression' }, { model: 'random_forest' }],
          fit_weights: { anchor: { members: 2, share: 0.5 } },
        },
      },
      /ensemble\.fit_weights\.anchor must be \{members: k, share: s\} with k from 1 to 1/,
    ],
    [
      {
        model: 'ensemble',
        ensemble: {
          members: [{ model: 'logistic_regression' }, { model: 'random_forest' }],
          fit_weights: { anchor: { members: 1, share: 0.5, anchor: { members: 1, share: 0.5 } } },
        },
      },
      /ensemble\.fit_weights\.anchor\.anchor must be \{members: k, share: s\} with k from 1 to 0/,
    ],
  ])('refuses %j with a clear message', async (params, message) => {
    const t = tempDir('ensemble-bad');
    cleanups.push(t.cleanup);
    const data = generateData(t.dir, 'binary', { train: 40, public: 10, private: 10 });
    writeFileSync(
      join(t.dir, 'train.py'),
      renderTemplate(TEMPLATE, {
        TARGET: 'target',
        ID: 'row_id',
        TASK: 'binary',
        POSITIVE_CLASS: data.positiveClass,
        GROUP: '',
        TIME: '',
      }),
    );
    writeFileSync(join(t.dir, 'params.yaml'), JSON.stringify(params));
    const r = await run(PYTHON, ['train.py'], {
      cwd: t.dir,
      env: {
        RATCHET_TRAIN: data.trainPath,
        RATCHET_PUBLIC: data.publicPath,
        RATCHET_PRIVATE: data.privatePath,
        RATCHET_OUTPUT: join(t.dir, 'out'),
      },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('the incumbent’s params file is untrusted data', () => {
  /** A proposer whose space asks for an ensemble once 2 trials finished, after those 2 trials. */
  async function readyProposer(name: string) {
    const t = tempWorktree(`ensemble-attack-${name}`);
    cleanups.push(t.cleanup);
    const worktree = t.worktree;
    const doc = parse(readFileSync(SPACE_FILE, 'utf8')) as Record<string, unknown>;
    delete doc.portfolio;
    doc.ensemble = { after: 2, every: 1 };
    const spacePath = join(t.dir, 'space.yaml');
    writeFileSync(spacePath, JSON.stringify(doc));
    const baselineFile = readFileSync(renderedScaffold('templates/tabular/params.yaml.tmpl'), 'utf8');
    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const proposer = createSearchProposer({
      python: PYTHON,
      projectDir: ROOT,
      statePath: join(t.dir, 'state'),
      studyName: name,
      spacePath,
      paramsFile: 'params.yaml',
      direction: 'maximize',
      seed: 9,
    });
    cleanups.push(() => proposer.close());
    for (let seq = 1; seq <= 2; seq++) {
      const p = await proposer.propose(context(worktree, { seq }));
      await proposer.observe({ seq, decision: 'reverted', score: 0.6 + seq / 100, meta: p.meta });
      writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    }
    return { proposer, worktree, baselineFile };
  }

  it('builds an ensemble from a normal params file (the control)', async () => {
    const { proposer, worktree } = await readyProposer('control');
    expect((await proposer.propose(context(worktree, { seq: 3, bestScore: 0.61 }))).meta).toMatchObject({
      ensemble: true,
    });
  });

  it('proposes no ensemble expected to outrun the time this experiment has (the run’s wall clock left)', async () => {
    const { proposer, worktree, baselineFile } = await readyProposer('budget');
    // the members' trials took milliseconds each; 1 ms left is too little for any ensemble of them
    const p = await proposer.propose(context(worktree, { seq: 3, bestScore: 0.61, timeoutMs: 1 }));
    expect(p.meta).toMatchObject({ trial: 2 });
    await proposer.observe({ seq: 3, decision: 'reverted', score: 0.6, meta: p.meta });
    writeFileSync(join(worktree, 'params.yaml'), baselineFile);
    const q = await proposer.propose(context(worktree, { seq: 4, bestScore: 0.61, timeoutMs: 600_000 }));
    expect(q.meta).toMatchObject({ ensemble: true });
  });

  it('does not read a params file over 1 MiB', async () => {
    const { proposer, worktree, baselineFile } = await readyProposer('big');
    const padding = `# ${'x'.repeat(1 << 20)}\n`;
    writeFileSync(join(worktree, 'params.yaml'), `${baselineFile}${padding}`);
    const p = await proposer.propose(context(worktree, { seq: 3, bestScore: 0.61 }));
    expect(p.meta).toMatchObject({ trial: 2 });
  });

  it('proposes a trial, not a failure, when the params file is not YAML', async () => {
    const { proposer, worktree } = await readyProposer('broken');
    writeFileSync(join(worktree, 'params.yaml'), 'model: [unclosed\n  : {');
    const p = await proposer.propose(context(worktree, { seq: 3, bestScore: 0.61 }));
    expect(p.meta).toMatchObject({ trial: 2 });
  });

  it('proposes a trial, not a failure, when the best params nest past the stack', async () => {
    const { proposer, worktree } = await readyProposer('deep');
    let deep: Record<string, unknown> = { C: 1 };
    for (let i = 0; i < 200_000; i++) deep = { inner: deep };
    const bestParams = { model: 'logistic_regression', logistic_regression: deep };
    const p = await proposer.propose(context(worktree, { seq: 3, bestScore: 0.61, bestParams }));
    expect(p.meta).toMatchObject({ trial: 2 });
  });
});

describe('a run that starts from a kept ensemble', () => {
  it('merges its trials onto the ensemble’s shared keys only, never onto its leftovers', async () => {
    const t = tempWorktree('ensemble-resume');
    cleanups.push(t.cleanup);
    const worktree = t.worktree;
    const kept = nextEnsemble(
      ensembleInput({ seconds: () => null, incumbentScore: null, metric: null }),
    )!.params;
    writeFileSync(join(worktree, 'params.yaml'), formatParamsYaml(kept, SPACE.space, 'kept ensemble'));
    const make = (baselineParams?: Record<string, unknown>) =>
      createSearchProposer({
        python: PYTHON,
        projectDir: ROOT,
        statePath: join(t.dir, `state-${baselineParams ? 'given' : 'read'}`),
        studyName: 'from-ensemble',
        spacePath: SPACE_FILE,
        paramsFile: 'params.yaml',
        direction: 'maximize',
        seed: 4,
        ...(baselineParams ? { baselineParams } : {}),
      });
    // the baseline's params given (as `ratchet run` reads them) or read from the worktree at the first proposal
    for (const proposer of [make(kept), make()]) {
      cleanups.push(() => proposer.close());
      writeFileSync(join(worktree, 'params.yaml'), formatParamsYaml(kept, SPACE.space, 'kept ensemble'));
      const p = await proposer.propose(context(worktree, { seq: 2, bestParams: kept }));
      expect(p.meta).toMatchObject({ trial: 0 });
      expect(p.params).not.toHaveProperty('ensemble');
      expect(p.params!.model).not.toBe('ensemble');
      expect(p.params).toMatchObject({ onehot_max_categories: 50, drop_columns: ['leaky'] });
      expect(p.hypothesis).toMatch(/instead of ensemble/);
    }
  });
});

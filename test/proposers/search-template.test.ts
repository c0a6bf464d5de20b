/**
 * The tabular template end to end: the search proposer writes params files, the template's train.py
 * (run for real with the RATCHET_* variables) accepts them and writes valid predictions files.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { scaffoldDefaultValues } from '../../src/contract/init.js';
import { createSearchProposer } from '../../src/proposers/search/proposer.js';
import { loadSearchSpace } from '../../src/proposers/search/space.js';
import type { ProposeContext } from '../../src/proposers/types.js';
import {
  type GeneratedData,
  generateData,
  PYTHON,
  ROOT,
  readParquet,
  renderTemplate,
  repoFile,
  run,
  SCAFFOLD_ENSEMBLE,
  type Task,
  tempDir,
} from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TEMPLATE = repoFile('templates/tabular/train.py.tmpl');

/** A params or search-space template rendered with the scaffold's defaults (no column roles, small-data sizing). */
function templateFor(task: Task, kind: 'params' | 'search_space'): string {
  const src = join(
    ROOT,
    'templates/tabular',
    task === 'regression' ? `${kind}.regression.yaml.tmpl` : `${kind}.yaml.tmpl`,
  );
  const out = join(mkdtempSync(join(tmpdir(), 'ratchet-tmpl-')), `${kind}.yaml`);
  writeFileSync(out, renderTemplate(readFileSync(src, 'utf8'), scaffoldDefaultValues()));
  return out;
}

async function runTrain(worktree: string, data: GeneratedData, output: string) {
  return run(PYTHON, ['train.py'], {
    cwd: worktree,
    env: {
      RATCHET_TRAIN: data.trainPath,
      RATCHET_PUBLIC: data.publicPath,
      RATCHET_PRIVATE: data.privatePath,
      RATCHET_OUTPUT: output,
      RATCHET_SEED: '11',
    },
  });
}

async function checkPredictions(path: string, ids: string[], task: Task, classes: string[]): Promise<void> {
  const { header, rows } = await readParquet(path);
  const expectedHeader = [
    'row_id',
    'prediction',
    ...(task === 'multiclass' ? classes.map((c) => `proba_${c}`) : []),
  ];
  expect(header).toEqual(expectedHeader);
  expect(rows.length).toBe(ids.length);
  expect(rows.map((r) => r[0]).sort()).toEqual([...ids].sort());
  for (const row of rows) {
    const pred = row[1]!;
    if (task === 'binary') {
      const p = Number(pred);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    } else if (task === 'multiclass') {
      expect(classes).toContain(pred);
      const probs = row.slice(2).map(Number);
      for (const p of probs) expect(p >= 0 && p <= 1).toBe(true);
      expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
      expect(pred).toBe(classes[probs.indexOf(Math.max(...probs))]);
    } else {
      expect(Number.isFinite(Number(pred))).toBe(true);
    }
  }
}

describe('tabular template driven by the search proposer', () => {
  it.each(['binary', 'multiclass', 'regression'] as const)(
    '%s: every model family writes valid predictions',
    async (task) => {
      const t = tempDir(`template-${task}`);
      cleanups.push(t.cleanup);
      const worktree = join(t.dir, 'worktree');
      mkdirSync(worktree);
      const data = generateData(join(t.dir), task);
      writeFileSync(
        join(worktree, 'train.py'),
        renderTemplate(TEMPLATE, {
          TARGET: 'target',
          ID: 'row_id',
          TASK: task,
          POSITIVE_CLASS: data.positiveClass,
          GROUP: '',
          TIME: '',
        }),
      );
      copyFileSync(templateFor(task, 'params'), join(worktree, 'params.yaml'));
      // x_code is a numeric code: the template one-hot encodes it when told so
      const baseline = parse(readFileSync(join(worktree, 'params.yaml'), 'utf8')) as Record<string, unknown>;
      baseline.categorical_columns = ['x_code'];
      writeFileSync(join(worktree, 'params.yaml'), `# baseline\n${JSON.stringify(baseline)}\n`);

      const proposer = createSearchProposer({
        python: PYTHON,
        projectDir: ROOT,
        statePath: join(t.dir, 'state'),
        studyName: `template-${task}`,
        spacePath: templateFor(task, 'search_space'),
        paramsFile: 'params.yaml',
        direction: task === 'regression' ? 'minimize' : 'maximize',
        seed: 2026,
      });
      cleanups.push(() => proposer.close());
      const space = loadSearchSpace(templateFor(task, 'search_space'));
      const families = (space.space.model as { choices: string[] }).choices;

      // The baseline, then the space's portfolio (each entry must run), then every family the portfolio leaves out.
      const portfolioModels = (space.portfolio ?? []).map((e) => e.model as string);
      const others = families.filter(
        (f) => f !== 'logistic_regression' && f !== 'linear_regression' && !portfolioModels.includes(f),
      );
      const seen: string[] = [];
      for (let seq = 1; seq <= 1 + portfolioModels.length + others.length; seq++) {
        if (seq === 2) {
          // after the portfolio (enqueued at the first proposal): fix `model`, let TPE sample the rest
          for (const f of others) await (await proposer.study()).enqueue({ model: f });
        }
        const ctx: ProposeContext = {
          worktree,
          projectDir: ROOT,
          seq,
          metric: { name: task === 'regression' ? 'rmse' : 'auroc', direction: 'maximize' },
          bestScore: null,
          bestParams: null,
          history: [],
          baseline: null,
          signal: new AbortController().signal,
        };
        const proposal = await proposer.propose(ctx);
        const model = proposal.params!.model as string;
        seen.push(model);
        const output = join(t.dir, `out-${seq}`);
        const result = await runTrain(worktree, data, output);
        const context = `${proposal.hypothesis}\n${result.stdout}\n${result.stderr}`;
        expect(result.code, context).toBe(0);
        expect(result.stdout).toContain(`model=${model}`);
        expect(result.stdout).toMatch(/train rows=240 features=5 \(numeric=2, categorical=3\)/);
        await checkPredictions(join(output, 'public.parquet'), data.publicIds, task, data.classes);
        await checkPredictions(join(output, 'private.parquet'), data.privateIds, task, data.classes);
        await proposer.observe({ seq, decision: 'reverted', score: 0.5 + seq / 100, meta: proposal.meta });
      }
      expect(new Set(seen)).toEqual(new Set(families));
      expect(seen.slice(1, 1 + portfolioModels.length)).toEqual(portfolioModels);
    },
  );

  it('fails with a clear message on a params file naming an unknown model', async () => {
    const t = tempDir('template-bad');
    cleanups.push(t.cleanup);
    const data = generateData(t.dir, 'binary', { train: 40, public: 10, private: 10 });
    writeFileSync(
      join(t.dir, 'train.py'),
      renderTemplate(TEMPLATE, {
        TARGET: 'target',
        ID: 'row_id',
        TASK: 'binary',
        POSITIVE_CLASS: 'yes',
        GROUP: '',
        TIME: '',
      }),
    );
    writeFileSync(join(t.dir, 'params.yaml'), 'model: linear_regression\n');
    const result = await runTrain(t.dir, data, join(t.dir, 'out'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/model must be one of logistic_regression, .* for a binary task/);
  });
});

describe('the gsoep-outwork example', () => {
  const dir = join(ROOT, 'examples/gsoep-outwork');

  it('ships the template instantiated as its train.py', () => {
    const rendered = renderTemplate(TEMPLATE, {
      TARGET: 'outwork',
      ID: 'row_id',
      TASK: 'binary',
      POSITIVE_CLASS: '1',
      GROUP: 'id',
      TIME: '',
    });
    expect(readFileSync(join(dir, 'train.py'), 'utf8')).toBe(rendered);
  });

  it('has a contract, a baseline and a search space that agree', () => {
    const contract = parse(readFileSync(join(dir, 'ratchet.yaml'), 'utf8'));
    expect(contract).toMatchObject({
      name: 'gsoep-outwork',
      task: 'binary',
      data: {
        source: 'data.csv',
        target: 'outwork',
        id: 'row_id',
        group: 'id',
        time: 'year',
        positive_class: '1',
      },
      search: { space: 'search_space.yaml', params_file: 'params.yaml' },
    });
    const params = parse(readFileSync(join(dir, 'params.yaml'), 'utf8'));
    expect(params).toMatchObject({ model: 'logistic_regression', scale_numeric: true, drop_columns: ['id'] });
    const space = loadSearchSpace(join(dir, 'search_space.yaml'));
    expect((space.space.model as { choices: string[] }).choices).toContain(params.model);
    // the demo shows the search proposer's ensembles too
    expect(space.ensemble).toEqual(SCAFFOLD_ENSEMBLE);
    const header = readFileSync(join(dir, 'data.csv'), 'utf8').split('\n', 1)[0];
    expect(header).toBe(
      'row_id,id,docvis,hospvis,year,edlevel,age,outwork,female,married,kids,hhninc,educ,self,edlevel1,edlevel2,edlevel3,edlevel4',
    );
  });

  it('trains its baseline on a group split and ranks the out-of-work well', async () => {
    const t = tempDir('gsoep');
    cleanups.push(t.cleanup);
    const lines = readFileSync(join(dir, 'data.csv'), 'utf8').trimEnd().split('\n');
    const header = lines[0]!.split(',');
    const target = header.indexOf('outwork');
    const rows = lines.slice(1, 6001).map((l) => l.split(','));
    const part = (row: string[]) => Number(row[1]) % 5; // group split on the person id
    const write = (name: string, sel: string[][], withTarget: boolean) => {
      const keep = (r: string[]) => (withTarget ? r : r.filter((_, i) => i !== target));
      writeFileSync(
        join(t.dir, name),
        `${[keep(header), ...sel.map(keep)].map((r) => r.join(',')).join('\n')}\n`,
      );
    };
    const train = rows.filter((r) => part(r) >= 2);
    const pub = rows.filter((r) => part(r) === 0);
    write('train.csv', train, true);
    write('public.csv', pub, false);
    write(
      'private.csv',
      rows.filter((r) => part(r) === 1),
      false,
    );
    const result = await run(PYTHON, ['train.py'], {
      cwd: dir,
      env: {
        RATCHET_TRAIN: join(t.dir, 'train.csv'),
        RATCHET_PUBLIC: join(t.dir, 'public.csv'),
        RATCHET_PRIVATE: join(t.dir, 'private.csv'),
        RATCHET_OUTPUT: join(t.dir, 'out'),
        RATCHET_SEED: '1',
      },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('model=logistic_regression');
    expect(result.stdout).toMatch(/numeric=15, categorical=0/);
    const predicted = new Map(
      (await readParquet(join(t.dir, 'out/public.parquet'))).rows.map((r) => [r[0]!, Number(r[1])]),
    );
    // AUROC by pair counting: the baseline should be far better than chance
    const pos = pub.filter((r) => r[target] === '1').map((r) => predicted.get(r[0]!)!);
    const neg = pub.filter((r) => r[target] === '0').map((r) => predicted.get(r[0]!)!);
    let wins = 0;
    for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
    expect(wins / (pos.length * neg.length)).toBeGreaterThan(0.75);
  });
});

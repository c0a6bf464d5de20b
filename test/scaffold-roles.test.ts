import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderTemplate } from '../src/contract/init.js';
import { decideRoles } from '../src/contract/roles.js';
import { LARGE_ROWS, sizeSearchSpace, sizingNote, sizingValues } from '../src/contract/sizing.js';
import { loadSearchSpace } from '../src/proposers/search/space.js';
import { cli, ROOT, tempDir } from './helpers/project.js';

const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/**
 * A binary table over time where the calendar carries the signal (evenings and weekends are positive more
 * often), with an id-like reference, a near-unique free-text note, a high-cardinality city and a plain
 * numeric and categorical column. Rows are hourly-ish steps, so a temporal split's holdouts hold only
 * timestamps the train split never saw.
 */
function temporalCsv(dir: string, rows = 900): void {
  let seed = 11;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const words = [
    'late',
    'parcel',
    'refund',
    'friendly',
    'asked',
    'twice',
    'about',
    'the',
    'invoice',
    'colour',
  ];
  const lines = ['event_time,ref,note,city,x,color,y'];
  const start = Date.UTC(2023, 0, 2, 0, 0, 0);
  for (let i = 0; i < rows; i++) {
    const t = new Date(start + i * 7 * 3600_000 + Math.floor(rnd() * 3600) * 1000);
    const evening = t.getUTCHours() >= 18;
    const weekend = t.getUTCDay() === 0 || t.getUTCDay() === 6;
    const p = evening || weekend ? 0.8 : 0.2;
    const y = rnd() < p ? 1 : 0;
    const stamp = t.toISOString().slice(0, 19).replace('T', ' ');
    const note = Array.from({ length: 8 }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    const city = `c${Math.floor(rnd() * 120)}`;
    lines.push(
      `${stamp},R${String(100000 + i)},${note} ${i},${city},${rnd().toFixed(4)},${['red', 'green', 'blue'][i % 3]},${y}`,
    );
  }
  writeFileSync(join(dir, 'data.csv'), `${lines.join('\n')}\n`);
}

function runTrain(dir: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, ['train.py'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('column roles decided at init', () => {
  it('dates become calendar features, ids and free text are left out, a high-cardinality city is not one-hot encoded; every family trains', {
    timeout: 600_000,
  }, () => {
    const d = tempDir();
    temporalCsv(d);
    const init = cli(
      ['init', '--data', 'data.csv', '--target', 'y', '--task', 'binary', '--time', 'event_time'],
      d,
    );
    expect(init.code, init.stderr + init.stdout).toBe(0);
    expect(init.stdout).toMatch(/column roles: dates expanded into calendar features: event_time/);
    expect(init.stdout).toMatch(/column roles: high-cardinality categoricals \(no one-hot\): city/);
    expect(init.stdout).toMatch(/column roles: left out ref \(id-like: 100\.0% of \d+ values distinct\)/);
    expect(init.stdout).toMatch(/column roles: left out note \(free text: mean length \d+ characters/);
    expect(init.stdout).toMatch(/to use it, delete its line under drop_columns in params\.yaml/);
    expect(init.stdout).toMatch(/sizing: \d+ rows × \d+ columns/);

    const text = readFileSync(join(d, 'params.yaml'), 'utf8');
    expect(text).not.toContain('ratchet init: pending');
    expect(text).toMatch(/- "ref" {3}# id-like: .*; delete this line to use it as a feature/);
    const params = parse(text) as Record<string, unknown>;
    expect(params).toMatchObject({
      model: 'logistic_regression',
      date_columns: ['event_time'],
      high_cardinality_columns: ['city'],
      drop_columns: ['ref', 'note'],
      categorical_columns: [],
      onehot_max_categories: 50,
    });
    const space = readFileSync(join(d, 'search_space.yaml'), 'utf8');
    expect(space).toMatch(/# Sized by `ratchet init` for \d+ train rows/);
    expect(space).toContain('nothing was bounded');

    // The baseline: the raw timestamp is not one-hot encoded; the one-hot is sparse for the linear model.
    const base = runTrain(d);
    expect(base.code, base.stderr).toBe(0);
    const planLine = base.stdout.split('\n').find((l) => l.startsWith('[train] feature plan: '));
    expect(planLine).toBeDefined();
    const plan = JSON.parse(planLine!.slice('[train] feature plan: '.length));
    expect(plan.onehot).toEqual({ columns: ['color'], sparse: true });
    expect(plan.date.event_time).toEqual(
      expect.arrayContaining([
        'event_time__year',
        'event_time__weekday',
        'event_time__hour',
        'event_time__days',
      ]),
    );
    expect(plan.high_cardinality).toEqual({ columns: ['city'], encoding: 'target encoder' });
    expect(plan.numeric).toEqual(['x']);
    const used = JSON.parse(readFileSync(join(d, '.ratchet', 'manual-output', 'features.json'), 'utf8'));
    expect(used.sort()).toEqual(['city', 'color', 'event_time', 'x']);

    // Every family of the search space trains on it (small settings, to keep the test fast).
    const families: Record<string, Record<string, unknown>> = {
      random_forest: { n_estimators: 20, max_samples: 200 },
      extra_trees: { n_estimators: 20, max_samples: 200 },
      hist_gradient_boosting: { max_iter: 30 },
      lightgbm: { n_estimators: 30 },
    };
    const encodings: Record<string, string> = {
      random_forest: 'ordinal codes',
      extra_trees: 'ordinal codes',
      hist_gradient_boosting: 'target encoder',
      lightgbm: 'lightgbm native categorical',
    };
    for (const [family, hp] of Object.entries(families)) {
      const edited = { ...params, model: family, [family]: hp };
      writeFileSync(join(d, 'params.yaml'), JSON.stringify(edited));
      const r = runTrain(d);
      expect(r.code, `${family}: ${r.stderr}`).toBe(0);
      const line = r.stdout.split('\n').find((l) => l.startsWith('[train] feature plan: '))!;
      const p = JSON.parse(line.slice('[train] feature plan: '.length));
      expect(p.onehot).toEqual({ columns: ['color'], sparse: false });
      expect(p.high_cardinality.encoding).toBe(encodings[family]);
      expect(r.stdout).toContain('public.parquet');
    }
    writeFileSync(join(d, 'params.yaml'), text);

    // The baseline scores clearly better than chance on a temporal holdout whose timestamps train never saw.
    const check = cli(['check', '--runs', '1', '--seeds', 'same', '--json'], d);
    expect(check.code, check.stderr).toBe(0);
    const score = JSON.parse(check.stdout).runs[0].score as number;
    expect(score).toBeGreaterThan(0.7);
  });
});

describe('decideRoles', () => {
  it('reads DuckDB types and statistics: dates, ids, free text, high cardinality; plain columns stay features', () => {
    const rows = 1000;
    const roles = decideRoles(
      [
        { name: 'day', type: 'DATE', nonNull: rows, distinct: 300, meanLength: 0, dateLike: 0 },
        { name: 'ts_text', type: 'VARCHAR', nonNull: rows, distinct: 990, meanLength: 19, dateLike: 999 },
        { name: 'customer', type: 'BIGINT', nonNull: rows, distinct: 999, meanLength: 0, dateLike: 0 },
        { name: 'income', type: 'DOUBLE', nonNull: rows, distinct: 1000, meanLength: 0, dateLike: 0 },
        { name: 'comment', type: 'VARCHAR', nonNull: rows, distinct: 700, meanLength: 80, dateLike: 0 },
        { name: 'zip', type: 'VARCHAR', nonNull: rows, distinct: 400, meanLength: 5, dateLike: 0 },
        { name: 'sex', type: 'VARCHAR', nonNull: rows, distinct: 2, meanLength: 1, dateLike: 0 },
        { name: 'age', type: 'BIGINT', nonNull: rows, distinct: 70, meanLength: 0, dateLike: 0 },
      ],
      rows,
    );
    expect(roles.date).toEqual(['day', 'ts_text']);
    expect(roles.drop.map((x) => [x.column, x.reason])).toEqual([
      ['customer', 'id-like'],
      ['comment', 'free-text'],
    ]);
    expect(roles.highCardinality).toEqual(['zip']);
  });
});

describe('sizeSearchSpace', () => {
  it('leaves the small-data ranges alone for 10k rows and a 10-minute timeout', () => {
    const s = sizeSearchSpace(10_000, 20, 600);
    expect(s.bounded).toEqual([]);
    expect(s).toMatchObject({ forestTreesHigh: 500, forestDepthHigh: 24, forestMaxSamples: null });
  });

  it('counts the classes of a multiclass target for the boosters and the logistic regression, not the forests', () => {
    // 400k rows × 40 columns in 10 minutes: one tree per iteration fits 600 boosting iterations, ten per
    // iteration do not (the cost model: rows × columns × classes × 2e-8 s per iteration, 480 thread-seconds).
    const binary = sizeSearchSpace(400_000, 40, 600);
    const ten = sizeSearchSpace(400_000, 40, 600, 10);
    expect(binary.classes).toBe(1);
    expect(sizeSearchSpace(400_000, 40, 600, 2).lgbmTreesHigh).toBe(binary.lgbmTreesHigh);
    expect(binary.lgbmTreesHigh).toBe(600);
    expect(ten.classes).toBe(10);
    expect(ten.lgbmTreesHigh).toBe(Math.floor(480 / (400_000 * 40 * 10 * 2e-8)));
    expect(ten.hgbIterHigh).toBe(ten.lgbmTreesHigh);
    expect(ten.logisticMaxIter).toBeLessThan(binary.logisticMaxIter);
    expect(ten.forestTreesHigh).toBe(binary.forestTreesHigh);
    expect(ten.bounded).toContain(`lightgbm: n_estimators ≤ ${ten.lgbmTreesHigh}`);
    expect(sizingNote(ten)).toContain('400000 rows × 40 columns × 10 classes');
    expect(sizingValues(ten).SIZING).toContain('× 10 classes (boosters fit a tree per class and iteration)');
  });

  it('bounds the forests (subsampled rows, fewer and shallower trees) for 1.8M rows in 10 minutes', () => {
    const rows = 1_800_000;
    const s = sizeSearchSpace(rows, 30, 600);
    expect(rows).toBeGreaterThan(LARGE_ROWS);
    expect(s.forestMaxSamples).not.toBeNull();
    expect(s.forestMaxSamples!).toBeLessThan(rows / 10);
    expect(s.forestTreesHigh).toBeLessThanOrEqual(300);
    expect(s.forestDepthHigh).toBeLessThanOrEqual(16);
    // The cost model's worst forest point fits the fit budget (40% of the timeout on 2 threads).
    const worst = s.forestTreesHigh * s.forestMaxSamples! * 0.8 * 30 * s.forestDepthHigh * 1e-7;
    expect(worst).toBeLessThanOrEqual(0.4 * 600 * 2 + 1e-9);
    expect(s.bounded.join('\n')).toMatch(
      /forests: n_estimators ≤ \d+, max_depth ≤ 16, each tree on max_samples/,
    );
    expect(s.logisticMaxIter).toBeLessThan(2000);

    // The rendered search space is valid and carries the bounds; the baseline's forest sections subsample.
    const dir = tempDir();
    const values = sizingValues(s);
    const spaceText = renderTemplate(
      readFileSync(join(ROOT, 'templates/tabular/search_space.yaml.tmpl'), 'utf8'),
      { ...values, PENDING: '' },
    );
    expect(spaceText).toContain(`# Sized by \`ratchet init\` for ${rows} train rows × 30 feature columns`);
    writeFileSync(join(dir, 'search_space.yaml'), spaceText);
    const space = loadSearchSpace(join(dir, 'search_space.yaml'));
    const forest = (space.space.model as { conditional: Record<string, Record<string, { high: number }>> })
      .conditional.random_forest!;
    expect(forest.n_estimators!.high).toBe(s.forestTreesHigh);
    expect(forest.max_depth!.high).toBe(16);
    // The portfolio's configurations were sized with the space (loadSearchSpace refuses one outside it).
    const rf = space.portfolio?.find((e) => e.model === 'random_forest')?.random_forest as {
      n_estimators: number;
    };
    expect(rf.n_estimators).toBeLessThanOrEqual(s.forestTreesHigh);
    const params = parse(
      renderTemplate(readFileSync(join(ROOT, 'templates/tabular/params.yaml.tmpl'), 'utf8'), {
        ...values,
        COLUMN_ROLES: 'drop_columns: []',
        PENDING: '',
      }),
    ) as Record<string, Record<string, unknown>>;
    expect(params.random_forest).toEqual({ max_samples: s.forestMaxSamples });
    expect(params.extra_trees).toEqual({ bootstrap: true, max_samples: s.forestMaxSamples });
    expect(params.logistic_regression!.max_iter).toBe(s.logisticMaxIter);
  });
});

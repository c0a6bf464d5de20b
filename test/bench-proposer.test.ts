/**
 * The proposer benchmark's pieces that decide what its table says: the verdicts and the table (bench/proposer.ts),
 * and the baselines' scoring (python/bench/score.py, real Python in .venv) against metrics computed here by hand.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DatasetResult,
  type MethodResult,
  pairedCell,
  proposerTable,
  verdict,
} from '../bench/proposer.js';
import { PYTHON, ROOT, tempDir } from './proposers/helpers.js';

const m = (pub: number | null, priv: number | null, note?: string): MethodResult => ({
  public: pub,
  private: priv,
  count: 7,
  seconds: 12,
  ...(note ? { note } : {}),
});

function row(
  direction: 'maximize' | 'minimize',
  ratchet: MethodResult,
  optuna: MethodResult,
  autogluon: MethodResult,
): DatasetResult {
  return {
    dataset: 'd',
    task: direction === 'maximize' ? 'binary' : 'regression',
    metric: direction === 'maximize' ? 'auroc' : 'rmse',
    direction,
    rows: 100,
    split: { train: 60, public: 20, private: 20 },
    budgetS: 60,
    ratchet,
    optuna,
    autogluon,
  };
}

describe('proposer benchmark verdicts', () => {
  it('compares private scores in the metric direction, with 1% of |AutoGluon| as the tolerance', () => {
    // maximize: 0.80 ≥ 0.79; AutoGluon 0.808 → bound 0.808 − 0.00808 = 0.79992 ≤ 0.80
    expect(verdict(row('maximize', m(0.9, 0.8), m(0.95, 0.79), m(0.8, 0.808)))).toEqual({
      atLeastOptuna: true,
      withinAutoGluon: true,
    });
    // the public score does not count: Ratchet is better on public, worse on private
    expect(verdict(row('maximize', m(0.99, 0.78), m(0.7, 0.79), m(0.8, 0.7901)))).toEqual({
      atLeastOptuna: false,
      withinAutoGluon: false,
    });
    // minimize: lower is better; 1.015 > 1.0 · 1.01
    expect(verdict(row('minimize', m(1, 1.015), m(1, 1.02), m(1, 1.0)))).toEqual({
      atLeastOptuna: true,
      withinAutoGluon: false,
    });
    expect(verdict(row('minimize', m(1, 1.009), m(1, 1.0), m(1, 1.0)))).toEqual({
      atLeastOptuna: false,
      withinAutoGluon: true,
    });
    // a tie with Optuna counts as at least Optuna
    expect(verdict(row('minimize', m(1, 2), m(1, 2), m(1, 2))).atLeastOptuna).toBe(true);
  });

  it('says n/a when a score is missing, and the table names why', () => {
    const r = row(
      'maximize',
      m(0.8, 0.8),
      m(null, null, 'failed: boom'),
      m(null, null, 'AutoGluon not installed'),
    );
    expect(verdict(r)).toEqual({ atLeastOptuna: null, withinAutoGluon: null });
    const table = proposerTable([r, row('maximize', m(0.8, 0.7), m(0.8, 0.75), m(0.8, 0.8))]);
    const lines = table.split('\n').filter((l) => l.startsWith('| d |'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('— (AutoGluon not installed)');
    expect(lines[0]).toContain('— (failed: boom)');
    expect(lines[0]).toMatch(/\| n\/a \| n\/a \|$/);
    expect(lines[1]).toContain('0.8000 / **0.7000** (7 exp, 12 s)');
    expect(lines[1]).toMatch(/\| NO \| n\/a \| NO \|$/);
    expect(table).toContain('| dataset | task | metric |');
  });

  it('shows the paired private difference with its interval, and says when the interval holds 0', () => {
    expect(pairedCell({ delta: -0.0097, low: -0.031, high: 0.012 })).toBe(
      '−0.0097 [−0.0310, +0.0120] (noise)',
    );
    expect(pairedCell({ delta: 0.02, low: 0.005, high: 0.04 })).toBe('+0.0200 [+0.0050, +0.0400]');
    expect(pairedCell({ delta: -0.02, low: -0.04, high: -0.001 })).toBe('−0.0200 [−0.0400, −0.0010]');
    expect(pairedCell(null)).toBe('n/a');
    const r = {
      ...row('maximize', m(0.8, 0.7), m(0.8, 0.75), m(0.8, 0.8)),
      vsOptuna: { delta: -0.05, low: -0.08, high: -0.02 },
    };
    const line = proposerTable([r])
      .split('\n')
      .find((l) => l.startsWith('| d |'));
    expect(line).toMatch(/\| NO \| −0\.0500 \[−0\.0800, −0\.0200\] \| NO \|$/);
  });
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** AUROC by counting pairs (ties count half). */
function auroc(y: boolean[], p: number[]): number {
  let wins = 0;
  let pairs = 0;
  y.forEach((yi, i) => {
    y.forEach((yj, j) => {
      if (yi && !yj) {
        pairs++;
        wins += p[i]! > p[j]! ? 1 : p[i] === p[j] ? 0.5 : 0;
      }
    });
  });
  return wins / pairs;
}

/** Write a project folder score.py can read: contract, split.json, vault labels (via pandas) and predictions. */
function project(
  contract: string,
  truth: Array<[string, string]>,
  predictions: string,
  split: object = {},
): string {
  const t = tempDir('bench-score');
  cleanups.push(t.cleanup);
  mkdirSync(join(t.dir, '.ratchet', 'data'), { recursive: true });
  mkdirSync(join(t.dir, '.ratchet', 'vault'), { recursive: true });
  mkdirSync(join(t.dir, 'out'));
  writeFileSync(join(t.dir, 'ratchet.yaml'), contract);
  writeFileSync(join(t.dir, '.ratchet', 'data', 'split.json'), JSON.stringify(split));
  writeFileSync(join(t.dir, 'truth.csv'), `id,label\n${truth.map((r) => r.join(',')).join('\n')}\n`);
  writeFileSync(join(t.dir, 'out', 'public.csv'), predictions);
  return t.dir;
}

/** score.py's primary metric of out/public.csv, or its error (stderr tail). */
function scorePy(dir: string): { value?: number; error?: string } {
  const code = [
    'import sys, json, pandas as pd',
    `sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python', 'bench'))})`,
    'from pathlib import Path',
    'from score import load_contract, labels, read_predictions, score',
    'p = Path(sys.argv[1])',
    "pd.read_csv(p / 'truth.csv', dtype=str).to_parquet(p / '.ratchet/vault/public.parquet')",
    'c = load_contract(p)',
    "print(json.dumps(score(c, labels(p, 'public'), read_predictions(p / 'out', 'public'))))",
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', code, dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { error: r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.status}` };
  return { value: JSON.parse(r.stdout) as number };
}

describe('python/bench/score.py', () => {
  it('scores binary AUROC by id, with the positive class from split.json when the contract omits it', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const labels = ['yes', 'no', 'yes', 'no', 'no', 'yes', 'no'];
    const p = [0.9, 0.3, 0.4, 0.4, 0.8, 0.7, 0.1];
    // predictions in another order than the labels: score.py must align them by id
    const order = [6, 2, 0, 5, 1, 4, 3];
    const dir = project(
      'task: binary\ndata: { source: x.csv, target: y }\nmetric: { primary: auroc }\n',
      ids.map((id, i) => [id, labels[i]!]),
      `row_id,prediction\n${order.map((i) => `${ids[i]},${p[i]}`).join('\n')}\n`,
      { positiveClass: 'yes' },
    );
    const want = auroc(
      labels.map((l) => l === 'yes'),
      p,
    );
    expect(want).not.toBeCloseTo(1 - want, 3); // the positive class matters on this fixture
    expect(scorePy(dir).value).toBeCloseTo(want, 12);
  });

  it('scores multiclass log loss from proba_ columns (renormalised) and regression RMSE', () => {
    const truth: Array<[string, string]> = [
      ['1', 'd0'],
      ['2', 'd1'],
      ['3', 'd2'],
      ['4', 'd1'],
    ];
    const proba = [
      [0.7, 0.2, 0.1],
      [0.1, 0.6, 0.3],
      [0.2, 0.2, 0.4], // sums to 0.8: renormalised
      [0.3, 0.3, 0.4],
    ];
    const dir = project(
      'task: multiclass\ndata: { source: x.csv, target: y }\nmetric: { primary: log_loss }\n',
      truth,
      `id,prediction,proba_d0,proba_d1,proba_d2\n${proba.map((r, i) => `${i + 1},d0,${r.join(',')}`).join('\n')}\n`,
    );
    const want =
      -[0, 1, 2, 1]
        .map((k, i) => Math.log(proba[i]![k]! / proba[i]!.reduce((s, x) => s + x, 0)))
        .reduce((s, x) => s + x, 0) / 4;
    expect(scorePy(dir).value).toBeCloseTo(want, 12);

    const y = [3, -1, 2.5, 0];
    const pred = [2, 0, 2.5, 1];
    const reg = project(
      'task: regression\ndata: { source: x.csv, target: y }\nmetric: { primary: rmse }\n',
      y.map((v, i) => [`r${i}`, String(v)]),
      `id,prediction\n${pred.map((v, i) => `r${i},${v}`).join('\n')}\n`,
    );
    expect(scorePy(reg).value).toBeCloseTo(
      Math.sqrt(y.reduce((s, v, i) => s + (v - pred[i]!) ** 2, 0) / 4),
      12,
    );
  });

  it('refuses predictions that miss holdout ids', () => {
    const dir = project(
      'task: regression\ndata: { source: x.csv, target: y }\nmetric: { primary: rmse }\n',
      [
        ['1', '1'],
        ['2', '2'],
      ],
      'id,prediction\n1,1\n',
    );
    expect(scorePy(dir).error).toContain('predictions miss holdout ids');
  });
});

/** paired.py's answer for two prediction files of one project (its private holdout), or its error. */
function pairedPy(dir: string, a: string, b: string): { value?: Record<string, number>; error?: string } {
  const r = spawnSync(
    PYTHON,
    [join(ROOT, 'python', 'bench', 'paired.py'), '--project', dir, '--a', a, '--b', b, '--resamples', '400'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (r.status !== 0) return { error: r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.status}` };
  return { value: JSON.parse(r.stdout) as Record<string, number> };
}

describe('python/bench/paired.py', () => {
  /** A binary project with 200 private rows (seeded), its labels in the vault, and predictions files a/b/c. */
  function binaryProject(): { dir: string; labels: boolean[]; files: Record<string, number[]> } {
    const t = tempDir('bench-paired');
    cleanups.push(t.cleanup);
    mkdirSync(join(t.dir, '.ratchet', 'data'), { recursive: true });
    mkdirSync(join(t.dir, '.ratchet', 'vault'), { recursive: true });
    writeFileSync(
      join(t.dir, 'ratchet.yaml'),
      'task: binary\ndata: { source: x.csv, target: y, positive_class: "1" }\nmetric: { primary: auroc }\n',
    );
    writeFileSync(join(t.dir, '.ratchet', 'data', 'split.json'), '{}');
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const labels = Array.from({ length: 200 }, () => rand() < 0.4);
    const files: Record<string, number[]> = {
      // informative: the label plus noise; noise: unrelated to the label; slight: informative plus a little more noise
      good: labels.map((l) => (l ? 1 : 0) + rand() * 1.2),
      noise: labels.map(() => rand()),
    };
    files['slight'] = files['good']!.map((x) => x + rand() * 0.05);
    writeFileSync(
      join(t.dir, 'truth.csv'),
      `id,label\n${labels.map((l, i) => `r${i},${l ? 1 : 0}`).join('\n')}\n`,
    );
    for (const [name, p] of Object.entries(files))
      writeFileSync(
        join(t.dir, `${name}.csv`),
        `row_id,prediction\n${p
          .map((x, i) => `r${i},${x}`)
          .reverse()
          .join('\n')}\n`,
      );
    const conv = spawnSync(
      PYTHON,
      [
        '-c',
        `import pandas as pd, sys; pd.read_csv(sys.argv[1] + '/truth.csv', dtype=str).to_parquet(sys.argv[1] + '/.ratchet/vault/private.parquet')`,
        t.dir,
      ],
      { encoding: 'utf8' },
    );
    expect(conv.status, conv.stderr).toBe(0);
    return { dir: t.dir, labels, files };
  }

  it('gives metric(a) − metric(b) on the same rows, and an interval that excludes 0 only when the gap is real', {
    timeout: 120_000,
  }, () => {
    const { dir, labels, files } = binaryProject();
    const good = pairedPy(dir, join(dir, 'good.csv'), join(dir, 'noise.csv')).value!;
    expect(good['a']).toBeCloseTo(auroc(labels, files['good']!), 12);
    expect(good['b']).toBeCloseTo(auroc(labels, files['noise']!), 12);
    expect(good['delta']).toBeCloseTo(good['a']! - good['b']!, 12);
    expect(good['rows']).toBe(200);
    // An informative score against noise: the whole interval is above 0 and holds the difference.
    expect(good['low']).toBeGreaterThan(0);
    expect(good['low']).toBeLessThan(good['delta']!);
    expect(good['high']).toBeGreaterThan(good['delta']!);
    // The same model with a little more noise: the interval holds 0.
    const slight = pairedPy(dir, join(dir, 'slight.csv'), join(dir, 'good.csv')).value!;
    expect(slight['low']).toBeLessThanOrEqual(0);
    expect(slight['high']).toBeGreaterThanOrEqual(0);
    // A file against itself: every resample's difference is 0.
    const same = pairedPy(dir, join(dir, 'good.csv'), join(dir, 'good.csv')).value!;
    expect([same['delta'], same['low'], same['high']]).toEqual([0, 0, 0]);
    // Reversed, the difference changes sign.
    const rev = pairedPy(dir, join(dir, 'noise.csv'), join(dir, 'good.csv')).value!;
    expect(rev['delta']).toBeCloseTo(-good['delta']!, 12);
    expect(pairedPy(dir, join(dir, 'missing.csv'), join(dir, 'good.csv')).error).toContain(
      'no such predictions file',
    );
    // Predictions that miss holdout rows, or a folder that is not a project: one line naming the problem.
    writeFileSync(join(dir, 'short.csv'), 'row_id,prediction\nr0,0.5\n');
    expect(pairedPy(dir, join(dir, 'short.csv'), join(dir, 'good.csv')).error).toMatch(
      /short\.csv .*cannot be compared on the private holdout: predictions miss holdout ids/,
    );
    expect(pairedPy(join(dir, '.ratchet'), join(dir, 'good.csv'), join(dir, 'good.csv')).error).toMatch(
      /ratchet\.yaml is missing: --project must be a Ratchet project/,
    );
  });
});

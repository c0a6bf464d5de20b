import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanSplits } from '../../src/data/leakage.js';
import { tempDir } from '../helpers/project.js';
import { GSOEP, PYTHON, type SplitSpec, split, writeSklearnData } from './helpers.js';

/** The scanner's statistics of every column, from the onStatistic hook. */
async function statistics(spec: SplitSpec, csv: string) {
  const { input } = await split(csv, spec);
  const got = new Map<string, number>();
  await scanSplits(input, { onStatistic: (column, test, value) => got.set(`${column}:${test}`, value) });
  const r = spawnSync(
    PYTHON,
    [
      join(import.meta.dirname, 'sklearn_stats.py'),
      input.train,
      input.idColumn,
      spec.target,
      spec.task,
      spec.positive_class ?? '',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  const want = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
  return { got, want };
}

// The statistics that decide target leakage are the textbook ones: they match scikit-learn / scipy to 1e-9 on
// the train split Ratchet wrote.
describe('statistics match scikit-learn and scipy', () => {
  let sk: string;
  beforeAll(() => {
    sk = tempDir('ratchet-sk-');
    writeSklearnData(sk);
  });

  const check = (got: Map<string, number>, want: Record<string, Record<string, number>>) => {
    let compared = 0;
    for (const [col, stats] of Object.entries(want)) {
      for (const [test, value] of Object.entries(stats)) {
        expect(got.get(`${col}:${test}`), `${col} ${test}`).toBeCloseTo(value, 9);
        compared++;
      }
    }
    return compared;
  };

  it('binary AUROC (breast cancer, 30 features)', async () => {
    const { got, want } = await statistics(
      { task: 'binary', target: 'diagnosis', positive_class: 'malignant', strategy: 'stratified' },
      join(sk, 'breast_cancer.csv'),
    );
    expect(check(got, want)).toBe(30);
  });

  it('binary AUROC with ties (GSOEP, integer features)', async () => {
    const { got, want } = await statistics(
      { task: 'binary', target: 'outwork', id: 'row_id', positive_class: '1', strategy: 'random' },
      GSOEP,
    );
    expect(check(got, want)).toBeGreaterThanOrEqual(15);
  });

  it('multiclass one-vs-rest macro AUROC (wine)', async () => {
    const { got, want } = await statistics(
      { task: 'multiclass', target: 'cultivar', strategy: 'stratified' },
      join(sk, 'wine.csv'),
    );
    expect(check(got, want)).toBe(13);
  });

  it('regression |Pearson| and |Spearman| (diabetes)', async () => {
    const { got, want } = await statistics(
      { task: 'regression', target: 'progression', strategy: 'random' },
      join(sk, 'diabetes.csv'),
    );
    expect(check(got, want)).toBe(20);
  });
});

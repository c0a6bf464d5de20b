import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanSplits } from '../../src/data/leakage.js';
import { tempDir } from '../helpers/project.js';
import { derive, GSOEP, GSOEP_SPEC, keys, show, split, writeSklearnData } from './helpers.js';

// Each planted leak is a real column of real data computed from the target; the scanner must flag exactly
// that column with target-leakage (block) and nothing else.

/** Pseudo-random uniform [0, 1) from the row number (deterministic noise for plants). */
const unif = (salt: number) => `((hash(__row * 7919 + ${salt}) % 1000000) / 1000000.0)`;

describe('target leakage on the GSOEP panel (binary outwork, group split by person)', () => {
  const plants: [string, string, RegExp][] = [
    [
      'outwork_noisy',
      // a copy of outwork with 0.5 % of the rows flipped (every 200th row)
      'CASE WHEN __row % 200 = 0 THEN (1 - outwork::INT)::VARCHAR ELSE outwork END',
      /predicts the target "outwork" almost perfectly .*AUROC 0\.99/,
    ],
    [
      'outwork_next',
      // next year's outwork of the same person (empty in a person's last year)
      'lead(outwork) OVER (PARTITION BY id ORDER BY year::INT)',
      /equals the next row's target "outwork" \(by year within id\) on 100\.0% of/,
    ],
    [
      'outwork_prev',
      // last year's outwork of the same person (empty in a person's first year)
      'lag(outwork) OVER (PARTITION BY id ORDER BY year::INT)',
      /equals the previous row's target "outwork" \(by year within id\)/,
    ],
    ['outwork_x3', '(outwork::INT * 3 + 1)', /one-to-one recoding of the target "outwork"/],
    ['outwork_text', "CASE outwork WHEN '1' THEN 'yes' ELSE 'no' END", /one-to-one recoding of the target/],
    ['outwork_copy', 'outwork', /is a copy of the target "outwork": equal on 100\.0%/],
  ];

  it.each(plants)('flags %s', async (column, expr, message) => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(GSOEP, csv, `* EXCLUDE (__row), ${expr} AS ${column}`);
    const { input } = await split(csv, GSOEP_SPEC);
    const f = await scanSplits(input);
    show(`gsoep + ${column}`, f);
    expect(keys(f)).toEqual([`target-leakage:${column}:block`]);
    expect(f[0]!.message).toMatch(message);
    expect(f[0]!.hint).toContain(column);
  });

  it('flags every plant at once, each on its own column', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(GSOEP, csv, `* EXCLUDE (__row), ${plants.map(([c, e]) => `${e} AS ${c}`).join(', ')}`);
    const { input } = await split(csv, GSOEP_SPEC);
    const f = await scanSplits(input);
    expect(keys(f)).toEqual(plants.map(([c]) => `target-leakage:${c}:block`).sort());
  });
});

describe('target leakage with many classes (GSOEP age as a 40-class target)', () => {
  it('flags a recoded age and nothing on the clean columns', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(GSOEP, csv, `* EXCLUDE (__row), age::INT * 2 + 1 AS age_code, 'y' || age AS age_text`);
    const { input } = await split(csv, {
      task: 'multiclass',
      target: 'age',
      id: 'row_id',
      strategy: 'random',
    });
    const f = await scanSplits(input);
    show('gsoep age target + plants', f);
    expect(keys(f)).toEqual(['target-leakage:age_code:block', 'target-leakage:age_text:block']);
    expect(f.find((x) => x.column === 'age_code')!.message).toMatch(/one-to-one recoding/);
  });
});

describe('target leakage on scikit-learn datasets', () => {
  let sk: string;
  beforeAll(() => {
    sk = tempDir('ratchet-sk-');
    writeSklearnData(sk);
  });

  it('breast cancer: a separable score and the upper-cased label', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      join(sk, 'breast_cancer.csv'),
      csv,
      `* EXCLUDE (__row), (diagnosis = 'malignant')::INT + 0.9 * ${unif(1)} AS tumour_score, upper(diagnosis) AS diagnosis_code`,
    );
    const { input } = await split(csv, {
      task: 'binary',
      target: 'diagnosis',
      positive_class: 'malignant',
      strategy: 'stratified',
    });
    const f = await scanSplits(input);
    show('breast_cancer + plants', f);
    expect(keys(f)).toEqual(['target-leakage:diagnosis_code:block', 'target-leakage:tumour_score:block']);
    expect(f.find((x) => x.column === 'tumour_score')!.message).toMatch(/AUROC 1\.0000 ≥ 0\.99/);
    expect(f.find((x) => x.column === 'diagnosis_code')!.message).toMatch(/one-to-one recoding/);
  });

  it('breast cancer: a follow-up date that only malignant cases have (the leak is in which rows are empty)', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      join(sk, 'breast_cancer.csv'),
      csv,
      `* EXCLUDE (__row), CASE WHEN diagnosis = 'malignant' THEN round(30 + 300 * ${unif(4)}) END AS followup_days`,
    );
    const { input } = await split(csv, {
      task: 'binary',
      target: 'diagnosis',
      positive_class: 'malignant',
      strategy: 'stratified',
    });
    const f = await scanSplits(input);
    show('breast_cancer + followup_days', f);
    expect(keys(f)).toEqual(['target-leakage:followup_days:block']);
    expect(f[0]!.message).toMatch(/AUROC 1\.0000/);
  });

  it('wine: the upper-cased label and a noisy class code (range purity, not one-vs-rest AUROC)', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      join(sk, 'wine.csv'),
      csv,
      `* EXCLUDE (__row), upper(cultivar) AS cultivar_upper,
       right(cultivar, 1)::INT * 10 + 4 * ${unif(2)} AS cultivar_score`,
    );
    const { input } = await split(csv, { task: 'multiclass', target: 'cultivar', strategy: 'stratified' });
    const f = await scanSplits(input);
    show('wine + plants', f);
    expect(keys(f)).toEqual(['target-leakage:cultivar_score:block', 'target-leakage:cultivar_upper:block']);
    const score = f.find((x) => x.column === 'cultivar_score')!;
    expect(score.evidence['test']).toBe('range-purity');
    expect(f.find((x) => x.column === 'cultivar_upper')!.message).toMatch(/one-to-one recoding/);
  });

  it('diabetes: linear and monotonic transforms, a noisy copy, a text band and the previous row', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      join(sk, 'diabetes.csv'),
      csv,
      `* EXCLUDE (__row),
       progression::DOUBLE * 2 + 1 AS prog_linear,
       exp(progression::DOUBLE / 40) AS prog_exp,
       progression::DOUBLE + 6 * (${unif(3)} - 0.5) AS prog_noisy,
       'band' || (floor(progression::DOUBLE / 20) * 20)::INT AS prog_band,
       lag(progression) OVER (ORDER BY __row) AS prog_prev_row`,
    );
    const { input } = await split(csv, { task: 'regression', target: 'progression', strategy: 'random' });
    const f = await scanSplits(input);
    show('diabetes + plants', f);
    expect(keys(f)).toEqual(
      ['prog_band', 'prog_exp', 'prog_linear', 'prog_noisy', 'prog_prev_row'].map(
        (c) => `target-leakage:${c}:block`,
      ),
    );
    const by = (c: string) => f.find((x) => x.column === c)!;
    expect(by('prog_linear').message).toMatch(/linear transform .*\|Pearson\| 1\.0000/);
    expect(by('prog_exp').message).toMatch(/monotonic transform .*\|Spearman\| 1\.0000/);
    expect(by('prog_noisy').message).toMatch(/almost perfectly .*\|Pearson\| 0\.99/);
    expect(by('prog_band').evidence['test']).toBe('correlation-ratio');
    expect(by('prog_prev_row').message).toMatch(/previous row's target "progression" \(in id order\)/);
  });
});

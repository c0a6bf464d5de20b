import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeExampleData } from '../helpers/project.js';
import { GSOEP, GSOEP_SPEC, scanReport, split, writeSklearnData } from './helpers.js';

// No false alarms on clean real data: the bundled GSOEP panel under its own contract and other honest splits,
// and scikit-learn's bundled real datasets.
describe('clean real data has no findings', () => {
  let sk: string;
  beforeAll(() => {
    sk = tempDir('ratchet-sk-');
    writeSklearnData(sk);
  });

  it('GSOEP under its own contract (group split by person, time year)', async () => {
    const { input } = await split(GSOEP, GSOEP_SPEC);
    const f = await scanReport('gsoep group split', input);
    expect(f).toEqual([]);
  });

  it('the first 4,000 GSOEP rows (the projects the other test suites build)', async () => {
    const csv = join(tempDir('ratchet-sub-'), 'data.csv');
    writeExampleData(csv, 4000);
    const { input } = await split(csv, GSOEP_SPEC);
    expect(await scanReport('gsoep 4000 rows', input)).toEqual([]);
  });

  it('GSOEP under a temporal split by year', async () => {
    const { input } = await split(GSOEP, { ...GSOEP_SPEC, strategy: 'temporal' });
    const f = await scanReport('gsoep temporal split', input);
    expect(f).toEqual([]);
  });

  it('GSOEP under a stratified split with no time or group declared', async () => {
    const { input } = await split(GSOEP, {
      task: 'binary',
      target: 'outwork',
      id: 'row_id',
      strategy: 'stratified',
    });
    const f = await scanReport('gsoep stratified, no time/group', input);
    expect(f).toEqual([]);
  });

  it('breast cancer (binary, stratified)', async () => {
    const { input } = await split(join(sk, 'breast_cancer.csv'), {
      task: 'binary',
      target: 'diagnosis',
      positive_class: 'malignant',
      strategy: 'stratified',
    });
    const f = await scanReport('breast_cancer', input);
    expect(f).toEqual([]);
  });

  it('wine (multiclass, stratified)', async () => {
    const { input } = await split(join(sk, 'wine.csv'), {
      task: 'multiclass',
      target: 'cultivar',
      strategy: 'stratified',
    });
    const f = await scanReport('wine', input);
    expect(f).toEqual([]);
  });

  it('diabetes (regression, random)', async () => {
    const { input } = await split(join(sk, 'diabetes.csv'), {
      task: 'regression',
      target: 'progression',
      strategy: 'random',
    });
    const f = await scanReport('diabetes', input);
    expect(f).toEqual([]);
  });
});

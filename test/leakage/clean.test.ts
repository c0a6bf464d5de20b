import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanSplits } from '../../src/data/leakage.js';
import { tempDir } from '../helpers/project.js';
import { GSOEP, GSOEP_SPEC, show, split, writeSklearnData } from './helpers.js';

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
    const f = await scanSplits(input);
    show('gsoep group split', f);
    expect(f).toEqual([]);
  });

  it('GSOEP under a temporal split by year', async () => {
    const { input } = await split(GSOEP, { ...GSOEP_SPEC, strategy: 'temporal' });
    const f = await scanSplits(input);
    show('gsoep temporal split', f);
    expect(f).toEqual([]);
  });

  it('GSOEP under a stratified split with no time or group declared', async () => {
    const { input } = await split(GSOEP, { task: 'binary', target: 'outwork', id: 'row_id', strategy: 'stratified' });
    const f = await scanSplits(input);
    show('gsoep stratified, no time/group', f);
    expect(f).toEqual([]);
  });

  it('breast cancer (binary, stratified)', async () => {
    const { input } = await split(join(sk, 'breast_cancer.csv'), {
      task: 'binary',
      target: 'diagnosis',
      positive_class: 'malignant',
      strategy: 'stratified',
    });
    const f = await scanSplits(input);
    show('breast_cancer', f);
    expect(f).toEqual([]);
  });

  it('wine (multiclass, stratified)', async () => {
    const { input } = await split(join(sk, 'wine.csv'), { task: 'multiclass', target: 'cultivar', strategy: 'stratified' });
    const f = await scanSplits(input);
    show('wine', f);
    expect(f).toEqual([]);
  });

  it('diabetes (regression, random)', async () => {
    const { input } = await split(join(sk, 'diabetes.csv'), { task: 'regression', target: 'progression', strategy: 'random' });
    const f = await scanSplits(input);
    show('diabetes', f);
    expect(f).toEqual([]);
  });
});

import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type LeakFinding, matchFeature, scanFeatureNames, scanSplits } from '../../src/data/leakage.js';
import { tempDir } from '../helpers/project.js';
import { derive, GSOEP, GSOEP_SPEC, keys, split } from './helpers.js';

describe('matchFeature', () => {
  it('matches exact names, transformer prefixes and one-hot names', () => {
    expect(matchFeature('outwork_x3', 'outwork_x3')).toBe('exact');
    expect(matchFeature('num__outwork_x3', 'outwork_x3')).toBe('prefixed');
    expect(matchFeature('cat__outwork_text_yes', 'outwork_text')).toBe('encoded');
    expect(matchFeature('outwork_text=no', 'outwork_text')).toBe('encoded');
    expect(matchFeature('age', 'outwork_x3')).toBeNull();
    expect(matchFeature('outwork_', 'outwork')).toBeNull();
  });
});

describe('scanFeatureNames on the findings of a real scan', () => {
  let findings: LeakFinding[];
  beforeAll(async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      GSOEP,
      csv,
      `* EXCLUDE (__row), (outwork::INT * 3 + 1) AS outwork_x3,
       CASE outwork WHEN '1' THEN 'yes' ELSE 'no' END AS outwork_text, __row + 1000 AS seq`,
    );
    findings = await scanSplits((await split(csv, GSOEP_SPEC)).input);
    expect(keys(findings)).toEqual([
      'id-like:seq:warn',
      'target-leakage:outwork_text:block',
      'target-leakage:outwork_x3:block',
    ]);
  });

  it('reports the flagged columns a model used, however its pipeline named them', () => {
    const used = scanFeatureNames(
      ['age', 'female', 'num__outwork_x3', 'cat__outwork_text_yes', 'cat__outwork_text_no', 'seq'],
      findings,
    );
    expect(keys(used)).toEqual([
      'id-like:seq:warn',
      'target-leakage:outwork_text:block',
      'target-leakage:outwork_x3:block',
    ]);
    const x3 = used.find((f) => f.column === 'outwork_x3')!;
    expect(x3.message).toMatch(
      /^The model uses feature "num__outwork_x3" \(from column "outwork_x3"\), and column/,
    );
    expect(x3.evidence['matchedAs']).toBe('prefixed');
    expect(used.find((f) => f.column === 'seq')!.evidence['matchedAs']).toBe('exact');
  });

  it('is empty when the model used only clean columns', () => {
    expect(scanFeatureNames(['age', 'female', 'hhninc', 'educ'], findings)).toEqual([]);
    expect(scanFeatureNames([], findings)).toEqual([]);
  });

  it('ignores findings without a column (duplicates) and clean scans', () => {
    const dup: LeakFinding = {
      guardrail: 'duplicate-rows',
      column: null,
      message: 'x',
      hint: 'y',
      severity: 'block',
      evidence: {},
    };
    expect(scanFeatureNames(['age'], [dup])).toEqual([]);
  });
});

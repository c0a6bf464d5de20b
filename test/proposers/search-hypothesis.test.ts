import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeTrial, formatValue } from '../../src/proposers/search/hypothesis.js';
import { formatParamsYaml, mergeTrialParams, sameOnSpace } from '../../src/proposers/search/proposer.js';
import { type ParamSpace, parseSearchSpace } from '../../src/proposers/search/space.js';
import { PYTHON, tempDir } from './helpers.js';

const space: ParamSpace = parseSearchSpace({
  space: {
    model: {
      type: 'categorical',
      choices: ['logistic_regression', 'lightgbm'],
      conditional: {
        logistic_regression: { C: { type: 'float', low: 0.001, high: 100, log: true } },
        lightgbm: {
          n_estimators: { type: 'int', low: 50, high: 600, log: true },
          learning_rate: { type: 'float', low: 0.01, high: 0.3, log: true },
          num_leaves: { type: 'int', low: 8, high: 128, log: true },
        },
      },
    },
    scale_numeric: { type: 'categorical', choices: [true, false] },
    min_frequency: { type: 'int', low: 1, high: 50 },
  },
}).space;

const logistic = {
  model: 'logistic_regression',
  logistic_regression: { C: 1 },
  scale_numeric: true,
  min_frequency: 1,
};
const lgbm = {
  model: 'lightgbm',
  lightgbm: { n_estimators: 312, learning_rate: 0.04123456, num_leaves: 23 },
  scale_numeric: true,
  min_frequency: 1,
};

describe('describeTrial', () => {
  it('names a family switch with the new family’s parameters and what stayed', () => {
    expect(describeTrial({ trial: 7, params: lgbm, reference: logistic, space, finished: 6 })).toBe(
      'TPE trial 7 (model-guided, 6 finished trials): lightgbm instead of logistic_regression ' +
        '(n_estimators=312, learning_rate=0.0412, num_leaves=23); scale_numeric, min_frequency unchanged',
    );
  });

  it('lists changed hyperparameters within the same family, with their old values', () => {
    const next = { ...lgbm, lightgbm: { ...lgbm.lightgbm, num_leaves: 64 }, scale_numeric: false };
    expect(describeTrial({ trial: 12, params: next, reference: lgbm, space, startup: false })).toBe(
      'TPE trial 12: lightgbm with num_leaves=64 (was 23); scale_numeric=false (was true); min_frequency unchanged',
    );
  });

  it('marks random start-up samples, the baseline replay, first proposals and repeats', () => {
    expect(describeTrial({ trial: 2, params: lgbm, reference: logistic, space, startup: true })).toMatch(
      /^TPE trial 2 \(random start-up sample\): lightgbm instead of logistic_regression/,
    );
    expect(describeTrial({ trial: 0, params: logistic, reference: null, space, baseline: true })).toBe(
      "TPE trial 0: the baseline's parameters (model=logistic_regression (C=1), scale_numeric=true, " +
        'min_frequency=1), replayed so TPE learns from their score',
    );
    expect(describeTrial({ trial: 1, params: lgbm, reference: null, space })).toBe(
      'TPE trial 1: model=lightgbm (n_estimators=312, learning_rate=0.0412, num_leaves=23), ' +
        'scale_numeric=true, min_frequency=1',
    );
    expect(describeTrial({ trial: 3, params: lgbm, reference: lgbm, space })).toMatch(
      /^TPE trial 3: the same parameters as the best so far/,
    );
  });

  it('formats values compactly', () => {
    expect(formatValue(0.000123456)).toBe('0.000123');
    expect(formatValue(312)).toBe('312');
    expect(formatValue(12.3456)).toBe('12.3');
    expect(formatValue(true)).toBe('true');
    expect(formatValue(null)).toBe('none');
  });
});

describe('mergeTrialParams', () => {
  const base = {
    model: 'logistic_regression',
    logistic_regression: { C: 1, max_iter: 2000 },
    scale_numeric: true,
    min_frequency: 1,
    drop_columns: ['id'],
  };

  it('keeps unsearched keys, drops the sections of families not chosen, places the chosen one after model', () => {
    const merged = mergeTrialParams(base, lgbm, space);
    expect(Object.keys(merged)).toEqual([
      'model',
      'lightgbm',
      'scale_numeric',
      'min_frequency',
      'drop_columns',
    ]);
    expect(merged.lightgbm).toEqual(lgbm.lightgbm);
    expect(merged.drop_columns).toEqual(['id']);
  });

  it('merges into the chosen section, keeping its unsearched keys', () => {
    const merged = mergeTrialParams(base, { ...logistic, logistic_regression: { C: 0.3 } }, space);
    expect(merged.logistic_regression).toEqual({ C: 0.3, max_iter: 2000 });
    expect(base.logistic_regression.C).toBe(1); // the base is not modified
  });

  it('compares params on the space only', () => {
    expect(sameOnSpace(base, logistic, space)).toBe(true);
    expect(sameOnSpace(base, lgbm, space)).toBe(false);
  });
});

describe('formatParamsYaml', () => {
  const params = {
    model: 'logistic_regression',
    logistic_regression: { C: 1, max_iter: 2000 },
    tiny: 1e-7,
    words: ['yes', 'on', 'no'],
    scale_numeric: false,
  };

  it('writes a header and YAML that keeps float parameters as floats', () => {
    const text = formatParamsYaml(params, space, "written by Ratchet's search proposer, trial 4");
    expect(text.startsWith("# written by Ratchet's search proposer, trial 4\n")).toBe(true);
    expect(text).toContain('C: 1.0');
    expect(text).toContain('max_iter: 2000\n');
    expect(parse(text)).toEqual(params);
  });

  it('reads back identically with PyYAML (YAML 1.1)', () => {
    const t = tempDir('yaml');
    try {
      const path = join(t.dir, 'params.yaml');
      writeFileSync(path, formatParamsYaml(params, space, 'header'));
      const out = spawnSync(
        PYTHON,
        [
          '-c',
          'import json, sys, yaml; d = yaml.safe_load(open(sys.argv[1])); ' +
            'print(json.dumps([d, type(d["logistic_regression"]["C"]).__name__, type(d["tiny"]).__name__]))',
          path,
        ],
        { encoding: 'utf8' },
      );
      expect(out.status, out.stderr).toBe(0);
      const [doc, cType, tinyType] = JSON.parse(out.stdout) as [unknown, string, string];
      expect(doc).toEqual(params);
      expect(cType).toBe('float');
      expect(tinyType).toBe('float');
    } finally {
      t.cleanup();
    }
  });
});

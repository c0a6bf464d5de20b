import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderTemplate, scaffoldDefaultValues } from '../../src/contract/init.js';
import {
  loadSearchSpace,
  parameterNames,
  parseSearchSpace,
  SearchSpaceError,
  searchSpaceJsonSchema,
} from '../../src/proposers/search/space.js';
import { errorOf as errorOfType } from '../helpers/errors.js';
import { ROOT, tempDir } from './helpers.js';

const errorOf = (fn: () => unknown) => errorOfType(fn, SearchSpaceError);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function writeSpace(text: string): string {
  const t = tempDir('space');
  cleanups.push(t.cleanup);
  const path = join(t.dir, 'search_space.yaml');
  writeFileSync(path, text);
  return path;
}

describe('search space files shipped with Ratchet', () => {
  it.each([
    'templates/tabular/search_space.yaml.tmpl',
    'templates/tabular/search_space.regression.yaml.tmpl',
    'examples/gsoep-outwork/search_space.yaml',
  ])('%s is valid (templates rendered with the scaffold defaults)', (file) => {
    let path = join(ROOT, file);
    if (file.endsWith('.tmpl')) {
      path = join(mkdtempSync(join(tmpdir(), 'ratchet-space-')), 'search_space.yaml');
      writeFileSync(path, renderTemplate(readFileSync(join(ROOT, file), 'utf8'), scaffoldDefaultValues()));
    }
    const space = loadSearchSpace(path);
    expect(space.params_file).toBe('params.yaml');
    const model = space.space.model;
    expect(model?.type).toBe('categorical');
    expect(parameterNames(space.space)).toContain('lightgbm.num_leaves');
  });
});

describe('loadSearchSpace', () => {
  it('reads the documented format, with conditional parameters and mixed choices', () => {
    const path = writeSpace(`
params_file: params.yaml
space:
  model:
    type: categorical
    choices: [logistic_regression, lightgbm]
    conditional:
      logistic_regression:
        C: { type: float, low: 0.001, high: 100, log: true }
      lightgbm:
        n_estimators: { type: int, low: 50, high: 600, log: true }
        boosting:
          type: categorical
          choices: [gbdt, dart]
          conditional:
            dart:
              drop_rate: { type: float, low: 0.05, high: 0.5, step: 0.05 }
  scale_numeric: { type: categorical, choices: [true, false] }
  depth: { type: categorical, choices: [3, 5, null] }
`);
    const space = loadSearchSpace(path);
    expect(parameterNames(space.space)).toEqual([
      'model',
      'logistic_regression.C',
      'lightgbm.n_estimators',
      'lightgbm.boosting',
      'lightgbm.dart.drop_rate',
      'scale_numeric',
      'depth',
    ]);
  });

  it('names the file, the YAML path of the bad field and the fix', () => {
    const path = writeSpace(`
space:
  model:
    type: categorical
    choices: [logistic_regression, lightgbm]
    conditional:
      lightgbm:
        num_leaves: { type: int, low: 0, high: 128, log: true }
        learning_rate: { type: float, lo: 0.01, high: 0.3 }
      xgboost:
        eta: { type: float, low: 0.01, high: 0.3 }
  scale_numeric: { type: bool, choices: [true, false] }
`);
    const err = errorOf(() => loadSearchSpace(path));
    expect(err.file).toBe(path);
    expect(err.message).toContain(path);
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i]));
    expect(byPath['space.model.conditional.lightgbm.num_leaves.low']?.message).toMatch(
      /log scale needs low > 0/,
    );
    expect(byPath['space.model.conditional.lightgbm.num_leaves.low']?.fix).toMatch(/raise low above 0/);
    expect(byPath['space.model.conditional.lightgbm.learning_rate']?.message).toMatch(/unknown key 'lo'/);
    expect(byPath['space.model.conditional.lightgbm.learning_rate.low']?.message).toMatch(/missing number/);
    expect(byPath['space.model.conditional.xgboost']?.message).toMatch(/not one of the choices/);
    expect(byPath['space.scale_numeric.type']?.fix).toMatch(/float, int or categorical/);
    expect(err.message).toMatch(/space\.model\.conditional\.lightgbm\.num_leaves\.low: .*; fix: /);
  });

  it.each([
    [{ space: { a: { type: 'float', low: 3, high: 2 } } }, 'space.a.high', /greater than low/],
    [{ space: { a: { type: 'int', low: 1, high: 9.5 } } }, 'space.a.high', /not an integer/],
    [
      { space: { a: { type: 'float', low: 1, high: 2, log: true, step: 0.5 } } },
      'space.a.step',
      /log and step/,
    ],
    [{ space: { a: { type: 'float', low: '1', high: 2 } } }, 'space.a.low', /expected number, got string/],
    [{ space: { m: { type: 'categorical', choices: [] } } }, 'space.m.choices', /empty/],
    [{ space: { m: { type: 'categorical', choices: ['x', 'x'] } } }, 'space.m.choices[1]', /twice/],
    [{ space: { m: { type: 'categorical', choices: [{ a: 1 }] } } }, 'space.m.choices[0]', /mapping/],
    [{ space: { 'a.b': { type: 'int', low: 1, high: 2 } } }, 'space.a.b', /dots are reserved/],
    [{ space: {} }, 'space', /no parameters/],
    [{}, 'space', /missing/],
    [{ space: { a: { type: 'int', low: 1, high: 2 } }, spaces: 1 }, '', /unknown key 'spaces'/],
    [
      {
        space: {
          model: {
            type: 'categorical',
            choices: ['lgbm'],
            conditional: { lgbm: { x: { type: 'int', low: 1, high: 2 } } },
          },
          lgbm: { type: 'int', low: 1, high: 2 },
        },
      },
      'space.model.conditional.lgbm',
      /share its key/,
    ],
  ])('rejects %j at %s', (doc, path, message) => {
    const err = errorOf(() => parseSearchSpace(doc, 'ss.yaml'));
    const issue = err.issues.find((i) => i.path === path);
    expect(issue, err.message).toBeDefined();
    expect(issue!.message).toMatch(message);
    expect(issue!.fix.length).toBeGreaterThan(3);
    expect(err.message).toContain('ss.yaml');
  });

  it('reports a missing file and a YAML syntax error with the file name', () => {
    const missing = errorOf(() => loadSearchSpace('/nonexistent/search_space.yaml'));
    expect(missing.message).toMatch(/\/nonexistent\/search_space\.yaml[\s\S]*ENOENT[\s\S]*fix:/);
    const bad = writeSpace('space:\n  a: { type: int, low: 1\n');
    expect(errorOf(() => loadSearchSpace(bad)).message).toMatch(/YAML syntax error/);
  });
});

describe('searchSpaceJsonSchema', () => {
  it('exports a recursive JSON Schema', () => {
    const schema = searchSpaceJsonSchema();
    expect(schema.$schema).toMatch(/json-schema/);
    expect(schema.required).toEqual(['space']);
    const text = JSON.stringify(schema);
    expect(text).toContain('"categorical"');
    expect(text).toContain('$ref');
  });
});

describe('the portfolio', () => {
  const SPACE = `
space:
  model:
    type: categorical
    choices: [logistic_regression, lightgbm]
    conditional:
      logistic_regression:
        C: { type: float, low: 0.001, high: 100, log: true }
      lightgbm:
        num_leaves: { type: int, low: 8, high: 128, log: true }
  scale_numeric: { type: categorical, choices: [true, false] }
`;

  it('reads configurations nested like the space, partial ones included, in file order', () => {
    const space = loadSearchSpace(
      writeSpace(`${SPACE}portfolio:
  - { model: lightgbm, lightgbm: { num_leaves: 31 }, scale_numeric: true }
  - { model: logistic_regression }
`),
    );
    expect(space.portfolio).toEqual([
      { model: 'lightgbm', lightgbm: { num_leaves: 31 }, scale_numeric: true },
      { model: 'logistic_regression' },
    ]);
  });

  it('refuses values outside the space, naming the file, the entry, the field and the fix', () => {
    const path = writeSpace(`${SPACE}portfolio:
  - { model: lightgbm, lightgbm: { num_leaves: 300 } }
  - { model: xgboost }
  - { model: logistic_regression, lightgbm: { num_leaves: 31 } }
  - { model: lightgbm, lightgbm: { num_leaves: 31.5, max_depth: 4 }, scale_numeric: 1 }
  - { model: lightgbm, lightgbm: 31 }
`);
    const err = errorOf(() => loadSearchSpace(path));
    expect(err.message).toContain(path);
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i]));
    expect(byPath['portfolio[0].lightgbm.num_leaves']).toMatchObject({
      message: '300 is outside [8, 128]',
      fix: expect.stringMatching(/from 8 to 128/),
    });
    expect(byPath['portfolio[1].model']?.fix).toMatch(/"logistic_regression", "lightgbm"/);
    expect(byPath['portfolio[2].lightgbm']?.message).toMatch(
      /section 'lightgbm' is given but model is "logistic_regression"/,
    );
    expect(byPath['portfolio[3].lightgbm.num_leaves']?.message).toMatch(/expected a whole number/);
    expect(byPath['portfolio[3].lightgbm.max_depth']?.message).toMatch(/not a parameter of the space/);
    expect(byPath['portfolio[3].scale_numeric']?.message).toMatch(/not one of the choices/); // 1 is not true
    expect(byPath['portfolio[4].lightgbm']?.message).toMatch(/expected a mapping/);
    expect(err.issues).toHaveLength(7);
  });
});

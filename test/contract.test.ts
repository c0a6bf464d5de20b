import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { globMatch, loadContract, validateContract } from '../src/contract/load.js';
import { checkLock, readLock, verifyLock } from '../src/contract/lock.js';
import { contractJsonSchema } from '../src/contract/schema.js';
import { RatchetError } from '../src/util/errors.js';
import { parseBytes, parseDuration } from '../src/util/units.js';
import { errorOf as errorOfType } from './helpers/errors.js';
import { EXAMPLE, makeProject, tempDir } from './helpers/project.js';

const errorOf = (fn: () => unknown) => errorOfType(fn, RatchetError);

const example = () => parse(readFileSync(join(EXAMPLE, 'ratchet.yaml'), 'utf8')) as Record<string, any>;

describe('contract validation', () => {
  it('accepts the bundled example and fills defaults and parsed limits', () => {
    const c = validateContract(example(), '/p');
    expect(c.direction).toBe('maximize');
    expect(c.limits.experimentTimeoutMs).toBe(5 * 60_000);
    expect(c.limits.memoryBytes).toBe(8 * 1024 ** 3);
    expect(c.keep.noise_z).toBe(1.8);
    expect(c.keep.confirm_runs).toBe(4);
  });

  it('names the file, the field and the fix for a missing field', () => {
    const doc = example();
    delete doc['data'].target;
    const e = errorOf(() => validateContract(doc, '/p'));
    expect(e.file).toBe('ratchet.yaml');
    expect(e.field).toBe('data.target');
    expect(e.render()).toMatch(/required field is missing[\s\S]*fix: add data.target/);
  });

  it('rejects an unknown key with the key named', () => {
    const doc = example();
    doc['metric'].primry = 'auroc';
    const e = errorOf(() => validateContract(doc, '/p'));
    expect(e.field).toBe('metric');
    expect(e.hint).toMatch(/"primry"/);
  });

  it('rejects an unknown metric and lists the valid ones for the task', () => {
    const doc = example();
    doc['metric'].primary = 'rmse';
    const e = errorOf(() => validateContract(doc, '/p'));
    expect(e.field).toBe('metric.primary');
    expect(e.message).toMatch(/unknown metric "rmse" for task binary/);
    expect(e.hint).toMatch(/auroc/);
  });

  it('refuses a direction that contradicts the metric', () => {
    const doc = example();
    doc['metric'].direction = 'minimize';
    expect(errorOf(() => validateContract(doc, '/p')).field).toBe('metric.direction');
  });

  it('checks split fractions, strategy columns and durations', () => {
    const a = example();
    a['split'].fractions = { train: 0.5, public: 0.2, private: 0.2 };
    expect(errorOf(() => validateContract(a, '/p')).field).toBe('split.fractions');
    const b = example();
    b['split'].strategy = 'temporal';
    delete b['data'].time;
    expect(errorOf(() => validateContract(b, '/p')).field).toBe('data.time');
    const c = example();
    c['budgets'].experiment_timeout = '5 fortnights';
    expect(errorOf(() => validateContract(c, '/p')).field).toBe('budgets.experiment_timeout');
    const d = example();
    d['search'].params_file = 'other.yaml';
    expect(errorOf(() => validateContract(d, '/p')).field).toBe('search.params_file');
  });

  it('reports YAML syntax errors and a missing contract with the fix', () => {
    const dir = tempDir();
    expect(errorOf(() => loadContract(dir)).hint).toMatch(/ratchet init/);
    writeFileSync(join(dir, 'ratchet.yaml'), 'version: 1\ntask: [binary\n');
    const e = errorOf(() => loadContract(dir));
    expect(e.message).toMatch(/not valid YAML/);
  });

  it('exports a JSON Schema that names every section', () => {
    const s = contractJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(s.properties)).toEqual(
      expect.arrayContaining(['task', 'data', 'split', 'metric', 'keep', 'surface', 'run', 'budgets']),
    );
    expect(s.required).toEqual(
      expect.arrayContaining(['version', 'name', 'task', 'data', 'metric', 'surface', 'run']),
    );
  });
});

describe('units and globs', () => {
  it('parses durations and sizes', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration(2)).toBe(2000);
    expect(() => parseDuration('soon')).toThrow(/cannot read duration/);
    expect(parseBytes('512MiB')).toBe(512 * 1024 ** 2);
    expect(() => parseBytes('lots')).toThrow(/cannot read size/);
  });

  it('matches surface globs', () => {
    expect(globMatch('train.py', 'train.py')).toBe(true);
    expect(globMatch('src/*.py', 'src/a.py')).toBe(true);
    expect(globMatch('src/*.py', 'src/x/a.py')).toBe(false);
    expect(globMatch('src/**/*.py', 'src/x/y/a.py')).toBe(true);
    expect(globMatch('src/**/*.py', 'src/a.py')).toBe(true);
    expect(globMatch('*.py', 'ratchet.yaml')).toBe(false);
    expect(globMatch('params.yaml', 'params.yaml.bak')).toBe(false);
  });
});

describe('lock', () => {
  it('locks the contract, the frozen files and the splits, and names a changed file', async () => {
    const dir = await makeProject({ rows: 1500 });
    const lock = readLock(dir);
    expect(Object.keys(lock.contract)).toEqual(
      expect.arrayContaining(['ratchet.yaml', 'search_space.yaml', 'program.md']),
    );
    expect(Object.keys(lock.splits)).toContain('.ratchet/vault/public.parquet');
    expect(await checkLock(lock, dir, dir)).toEqual([]);
    writeFileSync(
      join(dir, 'search_space.yaml'),
      `${readFileSync(join(dir, 'search_space.yaml'), 'utf8')}\n# edited\n`,
    );
    const v = await checkLock(lock, dir, dir);
    expect(v.map((x) => x.path)).toEqual(['search_space.yaml']);
    await expect(verifyLock(lock, dir, dir)).rejects.toMatchObject({
      file: 'search_space.yaml',
      exitCode: 3,
    });
  });
});

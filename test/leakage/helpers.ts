import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { validateContract } from '../../src/contract/load.js';
import { lit, openDuck } from '../../src/data/duck.js';
import { splitData } from '../../src/data/ingest.js';
import { type LeakFinding, type ScanInput, scanSplits } from '../../src/data/leakage.js';
import { EXAMPLE, ROOT, tempDir } from '../helpers/project.js';

/** The bundled GSOEP example's data (19,609 person-years of 6,127 people; target outwork). */
export const GSOEP = join(EXAMPLE, 'data.csv');

/** The data part of a contract, and its split. */
export interface SplitSpec {
  task: 'binary' | 'multiclass' | 'regression';
  target: string;
  id?: string;
  time?: string;
  group?: string;
  positive_class?: string;
  strategy: 'random' | 'stratified' | 'temporal' | 'group';
  seed?: number;
}

/** The GSOEP example's own contract: group split by person, time year, id row_id. */
export const GSOEP_SPEC: SplitSpec = {
  task: 'binary',
  target: 'outwork',
  id: 'row_id',
  group: 'id',
  time: 'year',
  positive_class: '1',
  strategy: 'group',
  seed: 20261122,
};

/**
 * Split a CSV with Ratchet's own ingest (as `ratchet init` does) in a fresh folder and return the scanner's
 * input for the files it wrote.
 */
export async function split(csv: string, spec: SplitSpec): Promise<{ dir: string; input: ScanInput }> {
  const dir = tempDir('ratchet-leak-');
  copyFileSync(csv, join(dir, 'data.csv'));
  const contract = validateContract(
    {
      version: 1,
      name: 'leak',
      task: spec.task,
      data: {
        source: 'data.csv',
        target: spec.target,
        ...(spec.id ? { id: spec.id } : {}),
        ...(spec.time ? { time: spec.time } : {}),
        ...(spec.group ? { group: spec.group } : {}),
        ...(spec.positive_class ? { positive_class: spec.positive_class } : {}),
      },
      split: { strategy: spec.strategy, seed: spec.seed ?? 7 },
      metric: {
        primary: spec.task === 'regression' ? 'rmse' : spec.task === 'binary' ? 'auroc' : 'accuracy',
      },
      surface: ['train.py'],
      run: { command: 'python train.py' },
    },
    dir,
  );
  const m = await splitData(contract);
  return { dir, input: inputFor(dir, m.idColumn, spec, m.positiveClass) };
}

/** The scanner's input for a project folder split by {@link split}. */
export function inputFor(
  dir: string,
  idColumn: string,
  spec: SplitSpec,
  positiveClass: string | null,
): ScanInput {
  const data = join(dir, '.ratchet', 'data');
  const vault = join(dir, '.ratchet', 'vault');
  return {
    train: join(data, 'train.csv'),
    public: join(data, 'public.csv'),
    private: join(data, 'private.csv'),
    publicLabels: join(vault, 'public.parquet'),
    privateLabels: join(vault, 'private.parquet'),
    idColumn,
    target: spec.target,
    task: spec.task,
    positiveClass,
    strategy: spec.strategy,
    ...(spec.time ? { time: spec.time } : {}),
    ...(spec.group ? { group: spec.group } : {}),
  };
}

/**
 * Write `dest` as `SELECT <select> FROM <src CSV read as text>` in file order (DuckDB; `__row` is the 0-based
 * row number, `src` the table), so planted columns are computed from the real values.
 */
export async function derive(src: string, dest: string, select: string): Promise<void> {
  const duck = await openDuck();
  try {
    await duck.con.run(
      `CREATE TABLE src AS SELECT (row_number() OVER () - 1)::BIGINT AS __row, * FROM read_csv(${lit(src)}, header = true, all_varchar = true)`,
    );
    await duck.con.run(
      `COPY (SELECT ${select} FROM src ORDER BY __row) TO ${lit(dest)} (HEADER, DELIMITER ',')`,
    );
  } finally {
    duck.close();
  }
}

/**
 * Run a DuckDB statement list on a fresh in-memory database (test plumbing: rewrite split files). Fixtures are
 * built without Ratchet's default memory limit (a sort of a million wide rows does not spill at 128MB).
 */
export async function duckRun(...sql: string[]): Promise<void> {
  const duck = await openDuck();
  try {
    await duck.con.run("SET memory_limit = '2GB'");
    for (const s of sql) await duck.con.run(s);
  } finally {
    duck.close();
  }
}

/** Python with scikit-learn (the project's venv). */
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/**
 * Write scikit-learn's bundled real datasets as CSV into `dir`: breast_cancer.csv (binary, target `diagnosis`
 * malignant/benign), wine.csv (multiclass, target `cultivar` class_0..class_2), diabetes.csv (regression,
 * target `progression`). No id column: Ratchet numbers the rows.
 */
export function writeSklearnData(dir: string): void {
  const r = spawnSync(PYTHON, [join(import.meta.dirname, 'sklearn_data.py'), dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sklearn_data.py failed: ${r.stderr}`);
  for (const f of ['breast_cancer.csv', 'wine.csv', 'diabetes.csv']) {
    if (!existsSync(join(dir, f))) throw new Error(`sklearn_data.py did not write ${f}`);
  }
}

/** Findings as `guardrail:column:severity`, sorted: compact for assertions. */
export function keys(findings: LeakFinding[]): string[] {
  return findings.map((f) => `${f.guardrail}:${f.column ?? '-'}:${f.severity}`).sort();
}

/** Print findings (so a test log shows what each dataset reported). */
export function show(label: string, findings: LeakFinding[]): void {
  const lines = findings.map((f) => `  [${f.severity}] ${f.guardrail} ${f.column ?? ''}: ${f.message}`);
  console.log(`${label}: ${findings.length} finding(s)${lines.length ? `\n${lines.join('\n')}` : ''}`);
}

/**
 * Scan and also keep, per test, the highest statistic any column reached (how close clean data comes to a
 * threshold), printed with the findings.
 */
export async function scanReport(label: string, input: ScanInput): Promise<LeakFinding[]> {
  const top = new Map<string, { column: string; value: number }>();
  const findings = await scanSplits(input, {
    onStatistic: (column, test, value) => {
      const t = top.get(test);
      if (Number.isFinite(value) && (!t || value > t.value)) top.set(test, { column, value });
    },
  });
  show(label, findings);
  const line = [...top.entries()].map(([t, v]) => `${t} ${v.value.toFixed(4)} (${v.column})`).join('; ');
  console.log(`  highest statistics: ${line}`);
  return findings;
}

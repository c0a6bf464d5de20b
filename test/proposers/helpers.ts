/** Shared fixtures of the search proposer tests: the Python to use, temp folders, template rendering, data. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTemplate as renderScaffold, scaffoldDefaultValues } from '../../src/contract/init.js';
import type { ProposeContext } from '../../src/proposers/types.js';

/** Repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Python with optuna, scikit-learn and LightGBM: $RATCHET_PYTHON, else the repo's .venv, else python3. */
export const PYTHON =
  process.env.RATCHET_PYTHON ??
  (existsSync(join(ROOT, '.venv/bin/python')) ? join(ROOT, '.venv/bin/python') : 'python3');

const probe = spawnSync(PYTHON, ['-c', 'import optuna, sklearn, lightgbm, pandas, yaml'], {
  encoding: 'utf8',
  timeout: 120_000,
});

/**
 * The real-Python suites need the stack: a missing one is an error of the test setup (run scripts/setup.sh),
 * never a reason to skip.
 */
if (probe.status !== 0) {
  throw new Error(
    `${PYTHON} cannot import optuna, sklearn, lightgbm, pandas, yaml ` +
      `(${probe.error?.message ?? `exit ${probe.status}`}): ${(probe.stderr ?? '').slice(-500)}; run bash scripts/setup.sh`,
  );
}

/** A PROPOSE context for a proposer under test: experiment 2 of a maximized auroc, nothing kept yet unless `over` says. */
export function proposeContext(worktree: string, over: Partial<ProposeContext> = {}): ProposeContext {
  return {
    worktree,
    projectDir: ROOT,
    seq: 2,
    metric: { name: 'auroc', direction: 'maximize' },
    bestScore: null,
    bestParams: null,
    history: [],
    baseline: null,
    signal: new AbortController().signal,
    ...over,
  };
}

/** A fresh temp folder with an empty `worktree/` in it; `cleanup` removes both. */
export function tempWorktree(prefix: string): { dir: string; worktree: string; cleanup: () => void } {
  const t = tempDir(prefix);
  const worktree = join(t.dir, 'worktree');
  mkdirSync(worktree);
  return { ...t, worktree };
}

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ratchet-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Render a template the way `ratchet init` is meant to: each `{{KEY}}` becomes the value escaped for
 * a double-quoted Python string (JSON string escaping without the quotes).
 */
export function renderTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) =>
    key in values ? JSON.stringify(values[key]).slice(1, -1) : whole,
  );
}

/**
 * A scaffold template (templates/tabular/*.tmpl) rendered the way `ratchet init` writes it before the split is
 * known (scaffoldDefaultValues: small-data sizing, no column roles), as an absolute path of a temp file that
 * lives as long as the test process.
 */
export function renderedScaffold(template: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-scaffold-'));
  const out = join(dir, basename(template).replace(/\.tmpl$/, ''));
  writeFileSync(out, renderScaffold(readFileSync(join(ROOT, template), 'utf8'), scaffoldDefaultValues()));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return out;
}

/** Read a file of the repository. */
export function repoFile(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** Run a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Deterministic pseudo-random numbers in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The task types of the template. */
export type Task = 'binary' | 'multiclass' | 'regression';

/** A small generated dataset split like Ratchet splits it: train with labels, holdouts without. */
export interface GeneratedData {
  trainPath: string;
  publicPath: string;
  privatePath: string;
  publicIds: string[];
  privateIds: string[];
  classes: string[];
  positiveClass: string;
}

/**
 * Write a small tabular dataset with missing values, a string column, a boolean column and a numeric
 * code column; string labels for classification (`yes`/`no`, `red`/`green`/`blue`).
 */
export function generateData(
  dir: string,
  task: Task,
  rows = { train: 240, public: 80, private: 80 },
): GeneratedData {
  const r = rng(task.length * 7919 + 17);
  const header = ['row_id', 'x_num', 'x_int', 'x_cat', 'x_flag', 'x_code', 'target'];
  const classes = task === 'binary' ? ['no', 'yes'] : task === 'multiclass' ? ['blue', 'green', 'red'] : [];
  const make = (i: number): string[] => {
    const xNum = r() * 10 - 5;
    const xInt = Math.floor(r() * 100);
    const cat = ['alpha', 'beta', 'gamma', 'delta'][Math.floor(r() * 4)]!;
    const flag = r() < 0.5;
    const code = [10, 20, 30][Math.floor(r() * 3)]!;
    const signal = xNum + (cat === 'alpha' ? 2 : 0) + (flag ? 1 : -1) + (r() - 0.5) * 3;
    let target: string;
    if (task === 'binary') target = signal > 0.5 ? 'yes' : 'no';
    else if (task === 'multiclass') target = signal < -1.5 ? 'blue' : signal < 1.5 ? 'green' : 'red';
    else target = String(Math.round((signal * 3 + xInt / 10) * 1000) / 1000);
    return [
      `r${String(i).padStart(4, '0')}`,
      r() < 0.08 ? '' : xNum.toFixed(4),
      String(xInt),
      r() < 0.08 ? '' : cat,
      flag ? 'True' : 'False',
      String(code),
      target,
    ];
  };
  const all: string[][] = [];
  const total = rows.train + rows.public + rows.private;
  for (let i = 0; i < total; i++) all.push(make(i));
  const train = all.slice(0, rows.train);
  const pub = all.slice(rows.train, rows.train + rows.public);
  const priv = all.slice(rows.train + rows.public);
  const csv = (data: string[][], withTarget: boolean): string => {
    const cols = withTarget ? header : header.slice(0, -1);
    const lines = data.map((row) => (withTarget ? row : row.slice(0, -1)).join(','));
    return `${cols.join(',')}\n${lines.join('\n')}\n`;
  };
  const trainPath = join(dir, 'train.csv');
  const publicPath = join(dir, 'public.csv');
  const privatePath = join(dir, 'private.csv');
  writeFileSync(trainPath, csv(train, true));
  writeFileSync(publicPath, csv(pub, false));
  writeFileSync(privatePath, csv(priv, false));
  return {
    trainPath,
    publicPath,
    privatePath,
    publicIds: pub.map((row) => row[0]!),
    privateIds: priv.map((row) => row[0]!),
    classes,
    positiveClass: task === 'binary' ? 'yes' : '',
  };
}

/** Parse a simple CSV (no quoted fields) into a header and rows. */
export function readCsv(path: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** Read a Parquet file (predictions) with DuckDB as a header and rows of text, like {@link readCsv}. */
export async function readParquet(path: string): Promise<{ header: string[]; rows: string[][] }> {
  const { openDuck, readRows, lit } = await import('../../src/data/duck.js');
  const duck = await openDuck();
  try {
    const rows = await readRows(duck.con, `SELECT * FROM read_parquet(${lit(path)})`);
    const header = (await readRows(duck.con, `DESCRIBE SELECT * FROM read_parquet(${lit(path)})`)).map((r) =>
      String(r['column_name']),
    );
    return { header, rows: rows.map((r) => header.map((h) => String(r[h]))) };
  } finally {
    duck.close();
  }
}

/** The `ensemble:` section of the scaffold's search spaces (and the demo's), as parsed. */
export const SCAFFOLD_ENSEMBLE = {
  by: 'model',
  members: 8,
  after: 8,
  every: 5,
  within: 1,
  weights: 'oof',
  folds: 5,
  anchor: 0.5,
};

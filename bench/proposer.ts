/**
 * The proposer benchmark (issue 10), `npm run bench -- proposer [--quick] [--json <file>]`: the built-in search
 * proposer against Optuna TPE alone on the scaffold's search space and against AutoGluon's `medium_quality`
 * preset, on three public datasets other than the demo (python/bench/datasets.py), with the same wall-clock budget
 * each, public and private scores side by side.
 *
 * Per dataset: a temporary folder, the CSV written by datasets.py, `ratchet init --data` (the scaffold chooses
 * roles, split, metric and search space), then, each timed from its own start:
 * - Ratchet: `ratchet check --runs 2` and `ratchet run --proposer search --budget <rest>` (the check is inside
 *   the budget, and so are the run's baseline and confirmation runs), then `ratchet submit` scores the best kept
 *   experiment on the private holdout, once;
 * - Optuna TPE alone (python/bench/optuna_alone.py in .venv, the experiments' interpreter): the same TPE settings
 *   and seed over the same search space, train.py run directly, the trial best on public scored on private;
 * - AutoGluon (python/bench/autogluon_medium.py in .venv-bench): `medium_quality` on the train split with
 *   `time_limit` = the budget.
 * All three use the project's split (its vault), and the baselines are scored by scikit-learn (python/bench/score.py).
 * Ratchet's pick and Optuna's are also compared on the same private rows (python/bench/paired.py): their
 * difference with a 95 % paired-bootstrap interval, which says whether the private holdout can tell them apart.
 * Targets (stated, not asserted): the search proposer's private score at least Optuna-alone's on every dataset and
 * within 1 % of AutoGluon's.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { experimentDir } from '../src/loop/paths.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BENCH_PY = join(ROOT, 'python', 'bench');

/** Default wall-clock budget per method and dataset, seconds (3 datasets × 3 methods ≈ 25 min in all). */
export const DEFAULT_BUDGET_S = 150;
/** Budget of `--quick`, seconds. */
export const QUICK_BUDGET_S = 60;
/** Datasets of python/bench/datasets.py, in table order. */
export const DATASETS = ['fair', 'randhie', 'digits'] as const;
/** "Within 1 % of AutoGluon": the search proposer's private score may be this fraction of |AutoGluon's| worse. */
export const AUTOGLUON_TOLERANCE = 0.01;

const DIRECTIONS: Record<string, 'maximize' | 'minimize'> = {
  auroc: 'maximize',
  accuracy: 'maximize',
  log_loss: 'minimize',
  rmse: 'minimize',
  mae: 'minimize',
};

/** What one method scored on one dataset; scores are the primary metric, null when the method failed. */
export interface MethodResult {
  /** Primary metric on the public holdout (of the experiment / trial / model the method picked). */
  public: number | null;
  /** Primary metric of the same pick on the private holdout: what the table compares. */
  private: number | null;
  /** Experiments (Ratchet, baseline included), trials (Optuna) or models trained (AutoGluon). */
  count: number | null;
  /** Wall-clock seconds the method took, from its start to its scores. */
  seconds: number;
  /** Why there are no scores (failed, not installed), or a remark. */
  note?: string;
  /** The pick's private predictions (Ratchet's submitted experiment, Optuna's public-best trial), when kept. */
  privateFile?: string;
}

/**
 * Ratchet's pick minus Optuna's on the private holdout, paired over the same rows (python/bench/paired.py): the
 * difference in the metric's units and its 95 % paired-bootstrap interval. An interval holding 0 means the private
 * holdout cannot tell the two picks apart.
 */
export interface PairedDelta {
  delta: number;
  low: number;
  high: number;
}

/** One row of the table: a dataset and the three methods' results. */
export interface DatasetResult {
  dataset: string;
  task: string;
  /** Primary metric the scaffold chose (auroc, log_loss, rmse). */
  metric: string;
  direction: 'maximize' | 'minimize';
  /** Rows of the dataset, and of each split. */
  rows: number;
  split: { train: number; public: number; private: number };
  /** Wall-clock budget each method got, seconds. */
  budgetS: number;
  ratchet: MethodResult;
  optuna: MethodResult;
  autogluon: MethodResult;
  /** Ratchet − Optuna on private, paired (null when either pick's predictions are missing). */
  vsOptuna?: PairedDelta | null;
}

/** The verdict of one row: null where a score is missing. */
export interface Verdict {
  /** Ratchet's private score is at least Optuna-alone's (as good or better in the metric's direction). */
  atLeastOptuna: boolean | null;
  /** Ratchet's private score is no more than {@link AUTOGLUON_TOLERANCE} × |AutoGluon's| worse than AutoGluon's. */
  withinAutoGluon: boolean | null;
}

/** Verdict of a row from the private scores (see {@link Verdict}). */
export function verdict(r: DatasetResult): Verdict {
  const sign = r.direction === 'maximize' ? 1 : -1;
  const mine = r.ratchet.private;
  const opt = r.optuna.private;
  const ag = r.autogluon.private;
  return {
    atLeastOptuna: mine === null || opt === null ? null : sign * (mine - opt) >= 0,
    withinAutoGluon:
      mine === null || ag === null ? null : sign * (mine - ag) >= -AUTOGLUON_TOLERANCE * Math.abs(ag),
  };
}

const f4 = (x: number | null) => (x === null ? '—' : x.toFixed(4));
const yesNo = (b: boolean | null) => (b === null ? 'n/a' : b ? 'yes' : 'NO');

function cell(m: MethodResult, unit: string): string {
  if (m.public === null || m.private === null) return `— (${m.note ?? 'no score'})`;
  return `${f4(m.public)} / **${f4(m.private)}** (${m.count ?? '?'} ${unit}, ${m.seconds.toFixed(0)} s)`;
}

const signed = (x: number) => `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(4)}`;

/** `+0.0012 [−0.0100, +0.0130]`, with "(noise)" when the interval holds 0; n/a without both picks' predictions. */
export function pairedCell(d: PairedDelta | null | undefined): string {
  if (!d) return 'n/a';
  const noise = d.low <= 0 && d.high >= 0 ? ' (noise)' : '';
  return `${signed(d.delta)} [${signed(d.low)}, ${signed(d.high)}]${noise}`;
}

/**
 * The benchmark's markdown table: a header saying what each method gets, one row per dataset (public / private
 * score of each method, private in bold, with its count and seconds) and the verdict column.
 * @param results one per dataset, in table order
 * @returns the table's lines joined by newlines (no trailing newline)
 */
export function proposerTable(results: DatasetResult[]): string {
  const lines = [
    "Each method gets the same wall clock per dataset and the project's split (train / public / private, seed 42);",
    "scores are the primary metric, public / **private**; the private score of the method's pick is what counts.",
    '- Ratchet search: `ratchet check --runs 2` + `ratchet run --proposer search` (baseline, keep tests and',
    '  confirmation runs inside the budget, sandboxed); best kept experiment, scored on private by `ratchet submit`.',
    '- Optuna TPE alone: same sampler settings and seed over the same search space, train.py run directly (no',
    '  sandbox, no keep rule); the trial best on public, scored on private.',
    '- AutoGluon medium_quality: fit on the train split with time_limit = budget (its own validation split).',
    `Verdict: search ≥ Optuna-alone on private? within ${AUTOGLUON_TOLERANCE * 100}% of AutoGluon on private?`,
    "Ratchet − Optuna: the private difference of the two picks in the metric's units, with its 95 % paired-bootstrap",
    'interval over the private rows (python/bench/paired.py); an interval holding 0 cannot tell them apart.',
    '',
    '| dataset | task | metric | rows (train/public/private) | budget | Ratchet search | Optuna TPE alone | AutoGluon medium | ≥ Optuna? | Ratchet − Optuna (95 % CI) | within 1% of AG? |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const v = verdict(r);
    const arrow = r.direction === 'maximize' ? '↑' : '↓';
    lines.push(
      `| ${r.dataset} | ${r.task} | ${r.metric} ${arrow} | ${r.rows} (${r.split.train}/${r.split.public}/${r.split.private}) | ${r.budgetS} s | ${cell(r.ratchet, 'exp')} | ${cell(r.optuna, 'trials')} | ${cell(r.autogluon, 'models')} | ${yesNo(v.atLeastOptuna)} | ${pairedCell(r.vsOptuna)} | ${yesNo(v.withinAutoGluon)} |`,
    );
  }
  return lines.join('\n');
}

/** Options of {@link benchProposer}. */
export interface ProposerBenchOptions {
  /** Wall-clock seconds per method and dataset (default {@link DEFAULT_BUDGET_S}). */
  budgetS?: number;
  /** Which datasets (default all of {@link DATASETS}). */
  datasets?: readonly string[];
  /** Also write the results as JSON to this file. */
  jsonPath?: string;
}

/** Run a command; resolves with stdout, rejects with an error holding the tail of stderr. */
async function sh(cmd: string, args: string[], cwd: string, timeoutS: number): Promise<string> {
  try {
    const r = await run(cmd, args, {
      cwd,
      maxBuffer: 1 << 28,
      timeout: timeoutS * 1000,
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    });
    return r.stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    const tail = `${err.stderr ?? ''}\n${err.stdout ?? ''}`.trim().split('\n').slice(-4).join(' | ');
    throw new Error(`${[cmd, ...args].join(' ').slice(0, 160)} failed: ${tail || err.message}`);
  }
}

const since = (t: number) => (performance.now() - t) / 1000;
const log = (line: string) => console.error(`[proposer ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The interpreters the benchmark needs, or an error naming the setup step that makes them. */
function interpreters(): { venv: string; bench: string } {
  const venv = join(ROOT, '.venv', 'bin', 'python');
  const bench = join(ROOT, '.venv-bench', 'bin', 'python');
  if (!existsSync(venv)) throw new Error(`no ${venv}: run bash scripts/setup.sh`);
  if (!existsSync(bench))
    throw new Error(`no ${bench} (AutoGluon, statsmodels): run bash scripts/setup.sh --with-bench`);
  return { venv, bench };
}

async function hasAutoGluon(python: string): Promise<boolean> {
  try {
    await sh(python, ['-c', 'import autogluon.tabular'], ROOT, 120);
    return true;
  } catch {
    return false;
  }
}

async function ratchetMethod(dir: string, budgetS: number, unsafe: string[]): Promise<MethodResult> {
  const t = performance.now();
  const cli = (args: string[], timeoutS: number) =>
    sh(process.execPath, [CLI, ...args, '--dir', dir], dir, timeoutS);
  await cli(['check', '--runs', '2', ...unsafe], budgetS + 600);
  const checkS = since(t);
  const rest = Math.max(1, Math.floor(budgetS - since(t)));
  let note: string | undefined;
  try {
    await cli(
      ['run', '--proposer', 'search', '--budget', `${rest}s`, '--experiments', '100000', '--json', ...unsafe],
      rest + 900,
    );
  } catch (e) {
    // An escalated run exits non-zero yet has a best kept experiment to submit; a failed one has none (submit says).
    note = (e as Error).message.slice(-200);
  }
  const seconds = since(t);
  const status = JSON.parse(await cli(['status', '--json'], 600)) as { experiments: { total: number } };
  let sub: { experiment: number; public: number; private: number };
  try {
    sub = JSON.parse(await cli(['submit', '--json'], 600)) as typeof sub;
  } catch (e) {
    throw new Error(
      `nothing to submit after check (${checkS.toFixed(0)} s) and run (${(seconds - checkS).toFixed(0)} s): ${note ?? (e as Error).message.slice(-120)}`,
    );
  }
  const out = join(experimentDir(dir, sub.experiment), 'output');
  const privateFile = ['private.parquet', 'private.csv'].map((f) => join(out, f)).find((f) => existsSync(f));
  return {
    public: sub.public,
    private: sub.private,
    count: status.experiments.total,
    seconds,
    ...(note ? { note } : {}),
    ...(privateFile ? { privateFile } : {}),
  };
}

async function pythonMethod(
  python: string,
  script: string,
  dir: string,
  budgetS: number,
): Promise<MethodResult> {
  const t = performance.now();
  const out = join(dir, `.bench-${script}.json`);
  await sh(
    python,
    [join(BENCH_PY, script), '--project', dir, '--budget', String(budgetS), '--out', out],
    dir,
    budgetS + 900,
  );
  const r = JSON.parse(readFileSync(out, 'utf8')) as {
    public: number | null;
    private: number | null;
    trials?: number;
    models?: number;
    private_file?: string | null;
  };
  return {
    public: r.public,
    private: r.private,
    count: r.trials ?? r.models ?? null,
    seconds: since(t),
    ...(r.private_file ? { privateFile: r.private_file } : {}),
  };
}

/** Ratchet's pick minus Optuna's on private, paired (python/bench/paired.py); null when a pick's file is missing. */
async function pairedDelta(
  python: string,
  dir: string,
  ratchet: MethodResult,
  optuna: MethodResult,
): Promise<PairedDelta | null> {
  if (!ratchet.privateFile || !optuna.privateFile) return null;
  try {
    const r = JSON.parse(
      await sh(
        python,
        [
          join(BENCH_PY, 'paired.py'),
          '--project',
          dir,
          '--a',
          ratchet.privateFile,
          '--b',
          optuna.privateFile,
        ],
        dir,
        600,
      ),
    ) as PairedDelta;
    return { delta: r.delta, low: r.low, high: r.high };
  } catch (e) {
    log(`paired comparison failed: ${(e as Error).message.slice(-200)}`);
    return null;
  }
}

/** Run a method, turning its failure into a result with a note (the table goes on). */
async function method(name: string, dataset: string, f: () => Promise<MethodResult>): Promise<MethodResult> {
  const t = performance.now();
  log(`${dataset}: ${name} starts`);
  try {
    const r = await f();
    log(
      `${dataset}: ${name} done in ${since(t).toFixed(0)} s: public ${f4(r.public)}, private ${f4(r.private)}`,
    );
    return r;
  } catch (e) {
    const note = `failed: ${(e as Error).message}`;
    log(`${dataset}: ${name} ${note}`);
    return { public: null, private: null, count: null, seconds: since(t), note: note.slice(0, 200) };
  }
}

/**
 * Run the benchmark and print its markdown table on stdout (progress lines on stderr).
 * @returns the results, one per dataset
 * @throws Error when .venv or .venv-bench is missing (naming the setup command) or a dataset cannot be made
 */
export async function benchProposer(opts: ProposerBenchOptions = {}): Promise<DatasetResult[]> {
  const budgetS = opts.budgetS ?? DEFAULT_BUDGET_S;
  const py = interpreters();
  const ag = await hasAutoGluon(py.bench);
  const unsafe = (await sh('sh', ['-c', 'command -v bwrap || true'], ROOT, 30)).trim()
    ? []
    : ['--unsafe-no-sandbox'];
  console.log(`\n## Proposer benchmark: ${budgetS} s wall clock per method and dataset`);
  if (!ag)
    console.log(
      'AutoGluon is not installed in .venv-bench (scripts/setup.sh --with-bench could not install it): its column says so.',
    );
  if (unsafe.length)
    console.log('bubblewrap is missing: Ratchet runs its experiments unsandboxed (--unsafe-no-sandbox).');
  const results: DatasetResult[] = [];
  for (const name of opts.datasets ?? DATASETS) {
    const dir = mkdtempSync(join(tmpdir(), `ratchet-bench-proposer-${name}-`));
    // Ctrl-C ends the children too (same process group); the folder would outlive them without this.
    const onInt = () => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    };
    process.once('SIGINT', onInt);
    try {
      const made = JSON.parse(
        await sh(py.bench, [join(BENCH_PY, 'datasets.py'), name, join(dir, `${name}.csv`)], dir, 300),
      ) as { rows: number; target: string; task: string };
      log(`${name}: ${made.rows} rows, ${made.task} target ${made.target}; ratchet init`);
      await sh(
        process.execPath,
        [
          CLI,
          'init',
          '--data',
          `${name}.csv`,
          '--target',
          made.target,
          '--task',
          made.task,
          '--own-repo',
          '--dir',
          dir,
        ],
        dir,
        600,
      );
      const split = JSON.parse(readFileSync(join(dir, '.ratchet', 'data', 'split.json'), 'utf8')) as {
        counts: { train: number; public: number; private: number };
      };
      const contract = readFileSync(join(dir, 'ratchet.yaml'), 'utf8');
      const metric = /^\s*primary:\s*(\w+)/m.exec(contract)?.[1] ?? '?';
      const direction = DIRECTIONS[metric];
      if (!direction)
        throw new Error(`${name}: the scaffold chose metric ${metric}, which the benchmark does not score`);
      const ratchet = await method('Ratchet search', name, () => ratchetMethod(dir, budgetS, unsafe));
      const optuna = await method('Optuna TPE alone', name, () =>
        pythonMethod(py.venv, 'optuna_alone.py', dir, budgetS),
      );
      const autogluon = ag
        ? await method('AutoGluon medium_quality', name, () =>
            pythonMethod(py.bench, 'autogluon_medium.py', dir, budgetS),
          )
        : { public: null, private: null, count: null, seconds: 0, note: 'AutoGluon not installed' };
      const vsOptuna = await pairedDelta(py.venv, dir, ratchet, optuna);
      if (vsOptuna)
        log(
          `${name}: Ratchet − Optuna on private ${pairedCell(vsOptuna)} (paired bootstrap, 2000 resamples)`,
        );
      results.push({
        dataset: name,
        task: made.task,
        metric,
        direction,
        rows: made.rows,
        split: split.counts,
        budgetS,
        ratchet,
        optuna,
        autogluon,
        vsOptuna,
      });
    } finally {
      process.removeListener('SIGINT', onInt);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(proposerTable(results));
  if (opts.jsonPath) {
    // The picks' prediction files were in the datasets' removed folders: not worth naming.
    const json = JSON.stringify(
      { budget_s: budgetS, results },
      (k, v) => (k === 'privateFile' ? undefined : v),
      2,
    );
    writeFileSync(opts.jsonPath, `${json}\n`);
    console.log(`(results as JSON in ${opts.jsonPath})`);
  }
  return results;
}

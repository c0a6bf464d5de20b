/**
 * Benchmark of the harness overhead per experiment.
 *
 * Builds a project whose training command only copies precomputed predictions into the output folder
 * (`cp`), at a given number of rows per holdout (public and private each), and runs the real loop on it:
 * real git worktree, real bubblewrap sandbox, real evaluator (DuckDB validation + metric engine), real
 * keep rule, real journal. A scripted proposer switches between prediction sets so the loop sees:
 *   - `better`, `better2`, `better3`: real gains, each over the last → the keep rule's test runs (DeLong for
 *     this auroc contract) → kept
 *   - `same`:   identical predictions → gain 0 ≤ min delta → reverted without a test
 *   - `noise`:  a tiny random perturbation → gain within noise → reverted (by stage 1 or the test)
 * Predictions are Parquet files (`public.parquet`, `private.parquet`: what the scaffold's train.py writes);
 * a second, shorter run with the same predictions as CSV gives one summary line for that form.
 * It prints, per experiment, the keep rule's test and the decide step's time, the wall time, the time of
 * the sandboxed command, the harness overhead (wall − command) and the full cycle's overhead (from one
 * experiment's end to the next's, minus the command: it adds the journal write, the stop checks and the
 * trace tidying the experiment's own wall time leaves out), plus the medians. Figures are printed, not
 * asserted.
 *
 * Run: `npm run bench -- overhead` (`--quick`: 100k only) or `node dist/bench/overhead.js [rows...]` after
 * `npm run build`.
 *
 * Last figures (quiet 2-core machine; Parquet, median s, stage 1 / with DeLong): 100k rows 0.078-0.091 / 0.096-0.100
 * (0.12 / 0.14 before git ran from the lean helper process and the verify, patch and sort steps overlapped);
 * 3M rows 1.28 / 1.35 (1.86 / 2.9 before; the fingerprint alignment, DeLong's worker and the helper process).
 * DeLong's components are now counted in the orchestrator's thread (no worker: the run's peak RSS at 3M rows went
 * from 388-407 MB to 289 MB): 3M rows 1.86 / 1.75, against 1.47 / 1.68 for the worker's code measured on the same
 * quiet machine the same hour. CSV predictions stay slower at 3M (2.2-2.4 s: DuckDB parses the text).
 * A candidate's DeLong components counted only when stage 1 lets it through (its AUROC keeps its sort for them):
 * 3M rows 1.30 / 1.64 (from 1.99 / 1.70 measured the same hour), CSV 1.68 / 2.24 (from 2.48 / 2.31).
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initProject } from '../src/contract/init.js';
import { lit, openDuck } from '../src/data/duck.js';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { Xoshiro128 } from '../src/metrics/index.js';
import type { Proposal, ProposeContext, Proposer } from '../src/proposers/types.js';

/** Three tested gains (each better than the last kept) among untested experiments, for a median of each kind. */
const VARIANTS = ['better', 'same', 'noise', 'better2', 'same', 'noise', 'better3', 'same'] as const;
/** The shorter CSV run: enough for a median of each kind. */
const CSV_VARIANTS = ['better', 'same', 'noise', 'same'] as const;
type Format = 'parquet' | 'csv';

/** Write `n` lines of CSV quickly (chunked string building). */
function writeCsv(path: string, header: string, n: number, line: (i: number) => string): void {
  const chunks: string[] = [header];
  let buf: string[] = [];
  for (let i = 0; i < n; i++) {
    buf.push(line(i));
    if (buf.length === 100_000) {
      chunks.push(buf.join('\n'));
      buf = [];
    }
  }
  if (buf.length) chunks.push(buf.join('\n'));
  writeFileSync(path, `${chunks.join('\n')}\n`);
}

/** A scripted proposer that picks the next prediction set. */
class VariantProposer implements Proposer {
  readonly name = 'bench';
  private i = 0;
  constructor(
    private readonly format: Format,
    private readonly variants: readonly string[],
  ) {}
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const v = this.variants[this.i++ % this.variants.length]!;
    writeFileSync(join(ctx.worktree, 'variant.txt'), `${this.format}/${v}\n`);
    return { hypothesis: `use the ${v} predictions`, params: { variant: v } };
  }
  async observe(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * Build the benchmark project: data with `rows` rows per holdout (plus a small train split), and the
 * precomputed prediction sets (committed in the project, as a user's artefacts would be).
 */
export async function buildProject(rows: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `ratchet-bench-${rows}-`));
  const total = Math.round(rows / 0.45);
  const rng = new Xoshiro128(rows);
  const y = new Uint8Array(total);
  const base = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    y[i] = rng.nextFloat() < 0.3 ? 1 : 0;
    base[i] = rng.nextFloat();
  }
  writeCsv(join(dir, 'data.csv'), 'id,x,y', total, (i) => `${i},${base[i]!.toFixed(12)},${y[i]}`);
  writeFileSync(
    join(dir, 'ratchet.yaml'),
    [
      'version: 1',
      'name: bench',
      'task: binary',
      'data: { source: data.csv, target: y, id: id }',
      'split: { strategy: random, seed: 1, fractions: { train: 0.1, public: 0.45, private: 0.45 } }',
      'metric: { primary: auroc, also: [log_loss, accuracy] }',
      'keep: { min_delta: 0.0001, confidence: 0.95, resamples: 1000 }',
      'surface: [variant.txt]',
      'run: { command: \'cp preds/$(cat variant.txt)/* "$RATCHET_OUTPUT"/\' }',
      'budgets: { max_experiments: 100, experiment_timeout: 10m, max_wall_clock: 2h }',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'variant.txt'), 'parquet/baseline\n');
  // Prediction sets: the model score is a noisy function of y; `better` has less noise.
  const noise = new Xoshiro128(7);
  const u = Float64Array.from(y, () => noise.nextFloat());
  const baseline = Float64Array.from(y, (v, i) => 0.3 * v + 0.7 * u[i]!);
  const better = Float64Array.from(y, (v, i) => 0.4 * v + 0.6 * u[i]!);
  const better2 = Float64Array.from(y, (v, i) => 0.42 * v + 0.58 * u[i]!);
  const better3 = Float64Array.from(y, (v, i) => 0.44 * v + 0.56 * u[i]!);
  const jitter = Float64Array.from(baseline, (p) =>
    Math.min(1, Math.max(0, p + (noise.nextFloat() - 0.5) * 1e-3)),
  );
  const sets: Record<string, Float64Array> = {
    baseline,
    same: baseline,
    better,
    better2,
    better3,
    noise: jitter,
  };
  await initProject(dir); // splits the data; the split files tell which ids are public/private
  const ids: Record<string, string[]> = {};
  for (const h of ['public', 'private']) {
    ids[h] = execFileSync('cut', ['-d,', '-f1', join(dir, '.ratchet/data', `${h}.csv`)], {
      maxBuffer: 1 << 30,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .slice(1);
  }
  // The bench's own conversion of 3M-row CSVs, not a step of Ratchet: no need to hold it to the run's limit.
  const duck = await openDuck(2, { memoryMB: 2048 });
  try {
    for (const [name, p] of Object.entries(sets)) {
      mkdirSync(join(dir, 'preds', 'csv', name), { recursive: true });
      mkdirSync(join(dir, 'preds', 'parquet', name), { recursive: true });
      for (const h of ['public', 'private']) {
        const hid = ids[h]!;
        // CSV as a person's script would write it (6 decimals); Parquet as the scaffold's train.py writes it
        // (pandas: the id as the text the split holds, the prediction as a full float64).
        writeCsv(
          join(dir, 'preds', 'csv', name, `${h}.csv`),
          'id,prediction',
          hid.length,
          (i) => `${hid[i]},${p[Number(hid[i])]!.toFixed(6)}`,
        );
        const full = join(dir, `full-${h}.csv`);
        writeCsv(full, 'id,prediction', hid.length, (i) => `${hid[i]},${p[Number(hid[i])]!}`);
        await duck.con.run(
          `COPY (SELECT id, prediction::DOUBLE AS prediction FROM read_csv(${lit(full)}, header = true, all_varchar = true)) TO ${lit(join(dir, 'preds', 'parquet', name, `${h}.parquet`))} (FORMAT parquet)`,
        );
        rmSync(full);
      }
    }
  } finally {
    duck.close();
  }
  // Commit the prediction sets so the worktree has them.
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: dir });
  git('add', 'preds');
  git('commit', '-qm', 'precomputed predictions');
  return dir;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** One experiment's figures. */
interface Row {
  seq: number;
  tested: boolean;
  test: string;
  decide: number | undefined;
  /** The experiment's own overhead (wall − command), s. */
  over: number;
  /** The full cycle's overhead (previous experiment's end to this one's, minus the command), s. */
  cycle: number | null;
}

/**
 * Run the loop once on the project with the given predictions and print its rows when `table` is set.
 * @returns one row per experiment (the baseline first)
 */
export async function runOnce(
  dir: string,
  format: Format,
  variants: readonly string[],
  table: boolean,
): Promise<Row[]> {
  const ends = new Map<number, number>();
  const s = await runLoop({
    projectDir: dir,
    proposer: async () => new VariantProposer(format, variants),
    maxExperiments: 1 + variants.length,
    onProgress: (p) => {
      if (p.type === 'experiment-end') ends.set(p.record.seq, performance.now());
    },
  });
  const j = Journal.open(dir, { readonly: true });
  const exps = j.listExperiments(s.runId);
  j.close();
  if (table) {
    console.log(
      '| exp | predictions | decision | keep test | bootstrap resamples | decide ms | wall s | command s | overhead s | cycle overhead s | steps (ms) |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  }
  const rows: Row[] = [];
  for (const e of exps) {
    const cmd = (e.executeMs ?? 0) / 1000;
    const wall = e.durationMs / 1000;
    const test = e.keepTest ?? '—';
    const boot = test === 'bootstrap';
    const n = boot ? (/\((\d+) resamples\)/.exec(e.reason)?.[1] ?? '?') : '—';
    const tested = test !== '—' && test !== 'none';
    const t = (e.meta?.['timings'] ?? {}) as Record<string, number>;
    const prev = ends.get(e.seq - 1);
    const end = ends.get(e.seq);
    const cycle = prev !== undefined && end !== undefined ? (end - prev) / 1000 - cmd : null;
    rows.push({ seq: e.seq, tested, test, decide: t['decide'], over: wall - cmd, cycle });
    if (table)
      console.log(
        `| ${e.seq} | ${(e.params?.['variant'] as string) ?? 'baseline'} | ${e.decision} | ${test} | ${n} | ${t['decide'] ?? '—'} | ${wall.toFixed(3)} | ${cmd.toFixed(3)} | ${(wall - cmd).toFixed(3)} | ${cycle === null ? '—' : cycle.toFixed(3)} | ${Object.entries(
          t,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} |`,
      );
  }
  return rows;
}

/** The median of a list, formatted in s ('—' when empty). */
function med(xs: number[]): string {
  return xs.length ? median(xs).toFixed(3) : '—';
}

/** One line of medians: overhead when stage 1 decides and with the keep rule's test, and the decide step. */
export function summary(rows: Row[], target: number): string {
  const after = rows.filter((r) => r.seq > 1);
  const none = after.filter((r) => !r.tested);
  const tested = after.filter((r) => r.tested);
  const decide: Record<string, number[]> = {};
  for (const r of tested) if (r.decide !== undefined) decide[r.test] = [...(decide[r.test] ?? []), r.decide];
  const cyc = (rs: Row[]) => med(rs.flatMap((r) => (r.cycle === null ? [] : [r.cycle])));
  return (
    `median overhead: ${med(none.map((r) => r.over))} s when stage 1 decides, ` +
    `${med(tested.map((r) => r.over))} s with the keep rule's test (target ≤ ${target} s); ` +
    `full cycle: ${cyc(none)} s / ${cyc(tested)} s; decide step alone: ${
      Object.entries(decide)
        .map(([k, v]) => `${k} ${median(v).toFixed(0)} ms`)
        .join(', ') || '—'
    }`
  );
}

/**
 * Run the overhead benchmark at each size (rows per holdout) and print a table (Parquet predictions) and a
 * summary line for CSV predictions.
 * @param sizes rows per holdout (default 100k and 3M)
 */
export async function benchOverhead(sizes = [100_000, 3_000_000]): Promise<void> {
  console.log('\n## Harness overhead per experiment (train command = cp of precomputed predictions)');
  for (const rows of sizes) {
    const t0 = performance.now();
    const dir = await buildProject(rows);
    const target = rows > 1e6 ? 2 : 0.1;
    console.log(
      `\n${rows.toLocaleString('en')} rows per holdout (public and private); project built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    try {
      console.log('\nParquet predictions (public.parquet, private.parquet):');
      console.log(summary(await runOnce(dir, 'parquet', VARIANTS, true), target));
      const csv = await runOnce(dir, 'csv', CSV_VARIANTS, false);
      console.log(
        `\nCSV predictions (public.csv, private.csv), ${csv.length} experiments: ${summary(csv, target)}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  await benchOverhead(sizes.length ? sizes : undefined);
}

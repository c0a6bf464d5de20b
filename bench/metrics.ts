/**
 * Benchmark of the metric engine against scikit-learn.
 *
 * Generates seeded binary and regression data (1M and 10M rows by default), writes it as raw
 * little-endian arrays to a temporary directory so that Python reads exactly the same numbers, times
 * the metrics in Node (`performance.now()` around `computeMetric`, one warm-up call,
 * median of 3) and in scikit-learn (bench/metrics_sklearn.py, `time.perf_counter()` the same way),
 * and prints a table: metric, n, node ms, sklearn ms, speedup, |difference|. Metrics: auroc,
 * log_loss, average_precision (binary), rmse (regression) and ndcg@10 (ranking: n rows in n / 100
 * queries of 100 rows, grades 0..4, rows of the queries interleaved on the Node side; scikit-learn
 * gets the (q, 100) matrix its `ndcg_score` needs, built outside the timing). Then times
 * `pairedBootstrap` (auroc, 1000 resamples) at 100k and 3M rows. Figures are printed, not asserted.
 *
 * Run: `npm run bench` (another module wires it), or after `tsc`: `node dist/bench/metrics.js`.
 * Environment: RATCHET_PYTHON (default: <repo>/.venv/bin/python, then python3).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { computeMetric, type MetricInput, pairedBootstrap, Xoshiro128 } from '../src/metrics/index.js';

/** Options of `benchMetrics`; every field has the default the brief asks for. */
export interface BenchMetricsOptions {
  /** Row counts of the metric timings (default 1M and 10M). */
  sizes?: number[];
  /** Row counts of the bootstrap timings (default 100k and 3M). */
  bootstrapSizes?: number[];
  /** Bootstrap resamples (default 1000). */
  resamples?: number;
  /** Python interpreter with scikit-learn (default: RATCHET_PYTHON, <repo>/.venv/bin/python, python3). */
  python?: string;
}

interface BenchData {
  binary: MetricInput & { task: 'binary' };
  regression: MetricInput & { task: 'regression' };
  ranking: MetricInput & { task: 'ranking' };
}

/** Rows per query of the ranking workload. */
const QUERY_SIZE = 100;

/** Standard normal draw (Box-Muller). */
function normal(rng: Xoshiro128): number {
  const u = 1 - rng.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

/**
 * Seeded data of n rows: a binary task (prevalence 30%, p = sigmoid(1.2 y + N(0, 1) - 1), continuous
 * scores) and a regression task (y ~ N(10, 3), p = y + N(0, 1)).
 */
function makeData(n: number, seed: number): BenchData {
  const rng = new Xoshiro128(seed);
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  const ry = new Float64Array(n);
  const rp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const yi = rng.nextFloat() < 0.3 ? 1 : 0;
    y[i] = yi;
    p[i] = 1 / (1 + Math.exp(-(1.2 * yi + normal(rng) - 1)));
    ry[i] = 10 + 3 * normal(rng);
    rp[i] = ry[i]! + normal(rng);
  }
  // Ranking: query i % q for row i (the rows of one query are interleaved with all others), grade
  // floor(latent) clipped to 0..4, score latent + N(0, 1).
  const q = Math.max(1, Math.floor(n / QUERY_SIZE));
  const qy = new Float64Array(n);
  const qp = new Float64Array(n);
  const query = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const latent = normal(rng);
    query[i] = i % q;
    qy[i] = Math.min(4, Math.max(0, Math.floor(1.2 * latent + 0.5)));
    qp[i] = latent + normal(rng);
  }
  return {
    binary: { task: 'binary', y, p },
    regression: { task: 'regression', y: ry, p: rp },
    ranking: { task: 'ranking', y: qy, p: qp, query },
  };
}

function writeData(dir: string, n: number, d: BenchData): void {
  const raw = (a: Uint8Array | Float64Array | Int32Array) =>
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  writeFileSync(join(dir, `y_${n}.u8`), raw(d.binary.y));
  writeFileSync(join(dir, `p_${n}.f64`), raw(d.binary.p));
  writeFileSync(join(dir, `ry_${n}.f64`), raw(d.regression.y));
  writeFileSync(join(dir, `rp_${n}.f64`), raw(d.regression.p));
  writeFileSync(join(dir, `qy_${n}.f64`), raw(d.ranking.y));
  writeFileSync(join(dir, `qp_${n}.f64`), raw(d.ranking.p));
  writeFileSync(join(dir, `qq_${n}.i32`), raw(d.ranking.query));
}

/** One warm-up call, then the median of three timed calls (ms) and the last value. */
function timed(fn: () => number): { ms: number; value: number } {
  fn();
  const times: number[] = [];
  let value = Number.NaN;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    value = fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[1]!, value };
}

/** The repository root: the nearest ancestor of this module holding bench/metrics_sklearn.py. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bench', 'metrics_sklearn.py'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('bench/metrics_sklearn.py not found above ' + fileURLToPath(import.meta.url));
}

function pythonPath(root: string, explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.RATCHET_PYTHON) return process.env.RATCHET_PYTHON;
  const venv = join(root, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

function fmtN(n: number): string {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, j) => (j < 2 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Runs the benchmark and prints its figures (nothing is asserted).
 * @throws Error when the Python side fails (missing interpreter or scikit-learn).
 */
export async function benchMetrics(opts: BenchMetricsOptions = {}): Promise<void> {
  const sizes = opts.sizes ?? [1_000_000, 10_000_000];
  const bootSizes = opts.bootstrapSizes ?? [100_000, 3_000_000];
  const resamples = opts.resamples ?? 1000;
  const root = repoRoot();
  const python = pythonPath(root, opts.python);
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-metrics-'));
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`metric engine benchmark: node ${process.version}, ${cpus().length} x ${cpu}`);
  console.log(
    `load average at start: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  try {
    const metrics = ['auroc', 'log_loss', 'rmse', 'average_precision', 'ndcg@10'] as const;
    const node: Record<string, Record<number, { ms: number; value: number }>> = {};
    for (const m of metrics) node[m] = {};
    for (const n of sizes) {
      const d = makeData(n, 20240611 + n);
      writeData(dir, n, d);
      node.auroc![n] = timed(() => computeMetric('auroc', d.binary));
      node.log_loss![n] = timed(() => computeMetric('log_loss', d.binary));
      node.rmse![n] = timed(() => computeMetric('rmse', d.regression));
      node.average_precision![n] = timed(() => computeMetric('average_precision', d.binary));
      node['ndcg@10']![n] = timed(() => computeMetric('ndcg@10', d.ranking));
    }
    const out = execFileSync(python, [join(root, 'bench', 'metrics_sklearn.py'), dir, ...sizes.map(String)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const py = JSON.parse(out) as {
      sklearn: string;
      numpy: string;
      results: Record<string, Record<string, { ms: number; value: number }>>;
    };
    const rows: string[][] = [];
    for (const metric of metrics) {
      for (const n of sizes) {
        const a = node[metric]![n]!;
        const b = py.results[metric]![String(n)]!;
        rows.push([
          metric,
          fmtN(n),
          a.ms.toFixed(1),
          b.ms.toFixed(1),
          `${(b.ms / a.ms).toFixed(2)}x`,
          Math.abs(a.value - b.value).toExponential(2),
        ]);
      }
    }
    console.log(`\nNode vs scikit-learn ${py.sklearn} (numpy ${py.numpy}); median of 3 after a warm-up`);
    console.log(table(['metric', 'n', 'node ms', 'sklearn ms', 'speedup', '|difference|'], rows));

    const bootRows: string[][] = [];
    for (const n of bootSizes) {
      const rng = new Xoshiro128(7 + n);
      const d = makeData(n, 99 + n);
      // Model B: model A's score plus a little signal and noise (a slightly better model).
      const pb = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const logit = Math.log(d.binary.p[i]! / (1 - d.binary.p[i]!));
        pb[i] = 1 / (1 + Math.exp(-(logit + 0.1 * d.binary.y[i]! + 0.3 * normal(rng))));
      }
      const a = d.binary;
      const b: MetricInput = { task: 'binary', y: a.y, p: pb };
      const opts = { resamples, confidence: 0.95, seed: 1 };
      pairedBootstrap('auroc', a, b, { ...opts, resamples: Math.min(resamples, 20) }); // warm-up
      const t0 = performance.now();
      const r = pairedBootstrap('auroc', a, b, opts);
      const ms = performance.now() - t0;
      bootRows.push([
        'auroc',
        fmtN(n),
        String(resamples),
        ms.toFixed(0),
        (ms / resamples).toFixed(3),
        r.delta.toFixed(5),
        `[${r.low.toFixed(5)}, ${r.high.toFixed(5)}]`,
        r.probImprovement.toFixed(3),
      ]);
    }
    console.log('\npairedBootstrap (one timed run after a 20-resample warm-up)');
    console.log(
      table(
        ['metric', 'n', 'resamples', 'total ms', 'ms/resample', 'delta', '95% CI', 'P(B better)'],
        bootRows,
      ),
    );
    console.log(
      `load average at end: ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchMetrics().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}

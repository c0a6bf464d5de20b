/**
 * Benchmark of the harness overhead per experiment.
 *
 * Builds a project whose training command only copies precomputed predictions into the output folder
 * (`cp`), at a given number of rows per holdout (public and private each), and runs the real loop on it:
 * real git worktree, real bubblewrap sandbox, real evaluator (DuckDB validation + metric engine), real
 * keep rule, real journal. A scripted proposer switches between prediction sets so the loop sees:
 *   - `better`: a real gain → the keep rule's test runs (DeLong for this auroc contract) → kept
 *   - `same`:   identical predictions → gain 0 ≤ min delta → reverted without a test
 *   - `noise`:  a tiny random perturbation → gain within noise → reverted (by stage 1 or the test)
 * It prints, per experiment, the keep rule's test and the decide step's time, the wall time, the time of
 * the sandboxed command, and the harness overhead (wall − command), plus the medians. Figures are
 * printed, not asserted.
 *
 * Run: `npm run bench` (all benchmarks) or `node dist/bench/overhead.js [rows...]` after `npm run build`.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initProject } from '../src/contract/init.js';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { Xoshiro128 } from '../src/metrics/index.js';
import type { Proposal, ProposeContext, Proposer } from '../src/proposers/types.js';

const VARIANTS = ['better', 'same', 'noise', 'same', 'noise', 'same'] as const;

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
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const v = VARIANTS[this.i++ % VARIANTS.length]!;
    writeFileSync(join(ctx.worktree, 'variant.txt'), `${v}\n`);
    return { hypothesis: `use the ${v} predictions`, params: { variant: v } };
  }
  async observe(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * Build the benchmark project: data with `rows` rows per holdout (plus a small train split), and the
 * precomputed prediction sets (committed in the project, as a user's artefacts would be).
 */
async function buildProject(rows: number): Promise<string> {
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
      'run: { command: \'cp preds/$(cat variant.txt)/public.csv preds/$(cat variant.txt)/private.csv "$RATCHET_OUTPUT"/\' }',
      'budgets: { max_experiments: 100, experiment_timeout: 10m, max_wall_clock: 2h }',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'variant.txt'), 'baseline\n');
  // Prediction sets: the model score is a noisy function of y; `better` has less noise.
  const noise = new Xoshiro128(7);
  const u = Float64Array.from(y, () => noise.nextFloat());
  const baseline = Float64Array.from(y, (v, i) => 0.3 * v + 0.7 * u[i]!);
  const better = Float64Array.from(y, (v, i) => 0.4 * v + 0.6 * u[i]!);
  const jitter = Float64Array.from(baseline, (p) =>
    Math.min(1, Math.max(0, p + (noise.nextFloat() - 0.5) * 1e-3)),
  );
  const sets: Record<string, Float64Array> = { baseline, same: baseline, better, noise: jitter };
  await initProject(dir); // splits the data; the split files tell which ids are public/private
  for (const [name, p] of Object.entries(sets)) {
    mkdirSync(join(dir, 'preds', name), { recursive: true });
    for (const h of ['public', 'private']) {
      const ids = execFileSync('cut', ['-d,', '-f1', join(dir, '.ratchet/data', `${h}.csv`)], {
        maxBuffer: 1 << 30,
        encoding: 'utf8',
      })
        .trim()
        .split('\n')
        .slice(1);
      writeCsv(
        join(dir, 'preds', name, `${h}.csv`),
        'id,prediction',
        ids.length,
        (i) => `${ids[i]},${p[Number(ids[i])]!.toFixed(6)}`,
      );
    }
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

/**
 * Run the overhead benchmark at each size (rows per holdout) and print a table.
 * @param sizes rows per holdout (default 100k and 3M)
 */
export async function benchOverhead(sizes = [100_000, 3_000_000]): Promise<void> {
  console.log('\n## Harness overhead per experiment (train command = cp of precomputed predictions)');
  for (const rows of sizes) {
    const t0 = performance.now();
    const dir = await buildProject(rows);
    console.log(
      `\n${rows.toLocaleString('en')} rows per holdout (public and private); project built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    try {
      const s = await runLoop({
        projectDir: dir,
        proposer: async () => new VariantProposer(),
        maxExperiments: 1 + VARIANTS.length,
      });
      const j = Journal.open(dir, { readonly: true });
      const exps = j.listExperiments(s.runId);
      j.close();
      console.log(
        '| exp | predictions | decision | keep test | bootstrap resamples | decide ms | wall s | command s | overhead s | steps (ms) |',
      );
      console.log('|---|---|---|---|---|---|---|---|---|---|');
      const over: Record<string, number[]> = { tested: [], none: [] };
      const decide: Record<string, number[]> = {};
      for (const e of exps) {
        const cmd = (e.executeMs ?? 0) / 1000;
        const wall = e.durationMs / 1000;
        const test = e.keepTest ?? '—';
        const boot = test === 'bootstrap';
        const n = boot ? (/\((\d+) resamples\)/.exec(e.reason)?.[1] ?? '?') : '—';
        const tested = test !== '—' && test !== 'none';
        if (e.seq > 1) over[tested ? 'tested' : 'none']!.push(wall - cmd);
        const t = (e.meta?.['timings'] ?? {}) as Record<string, number>;
        if (tested && t['decide'] !== undefined) decide[test] = [...(decide[test] ?? []), t['decide']];
        console.log(
          `| ${e.seq} | ${(e.params?.['variant'] as string) ?? 'baseline'} | ${e.decision} | ${test} | ${n} | ${t['decide'] ?? '—'} | ${wall.toFixed(3)} | ${cmd.toFixed(3)} | ${(wall - cmd).toFixed(3)} | ${Object.entries(
            t,
          )
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')} |`,
        );
      }
      console.log(
        `median overhead: ${over['none']!.length ? median(over['none']!).toFixed(3) : '—'} s when stage 1 decides, ` +
          `${over['tested']!.length ? median(over['tested']!).toFixed(3) : '—'} s with the keep rule's test (target ≤ ${rows > 1e6 ? 2 : 0.1} s); ` +
          `decide step alone: ${
            Object.entries(decide)
              .map(([k, v]) => `${k} ${median(v).toFixed(0)} ms`)
              .join(', ') || '—'
          }`,
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

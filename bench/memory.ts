/**
 * Benchmark of the node process's peak memory in `ratchet init`, `ratchet check` and a short `ratchet run`.
 *
 * Builds a binary-task project whose data is a Parquet table written by DuckDB itself (deterministic: every value
 * is a hash of the row number) with a numeric, a categorical and a date column, split 10/45/45 so each holdout
 * has `rows` rows. The training command copies precomputed Parquet predictions into the output folder, so what
 * is measured is the harness, not Python: `variant: baseline` (params.yaml) copies near-random predictions, the
 * search proposer's only other point, `variant: better`, copies predictions that track the label, so the run's
 * second experiment beats the baseline by more than the minimum delta and the keep rule runs its paired test
 * (DeLong's, for AUROC) over every holdout row. Each step is a child process of the built CLI run under
 * `/usr/bin/time -f %M` (peak resident set size of the process, KiB), measured from outside.
 *
 * Run: `npm run bench -- memory` or `node dist/bench/memory.js [rows]` after `npm run build`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lit, openDuck } from '../src/data/duck.js';

/** Target peak RSS of the node process per step, MB (issue 10). */
const TARGET_MB = 300;
const CLI = resolve(import.meta.dirname, '..', 'src', 'cli', 'main.js');

/** Build the project: data.parquet (total rows = rows / 0.45), contract, committed predictions after init. */
export async function buildProject(rows: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `ratchet-mem-${rows}-`));
  const total = Math.round(rows / 0.45);
  const duck = await openDuck();
  try {
    await duck.con.run(
      `COPY (SELECT i AS id, (hash(i) % 1000000) / 1e6 AS x, 'c' || (hash(i * 3) % 40)::VARCHAR AS cat,
         DATE '2020-01-01' + (i % 1500)::INTEGER AS day, CASE WHEN hash(i * 7) % 10 < 3 THEN 1 ELSE 0 END AS y
       FROM range(${total}) t(i)) TO ${lit(join(dir, 'data.parquet'))} (FORMAT parquet)`,
    );
  } finally {
    duck.close();
  }
  writeFileSync(
    join(dir, 'ratchet.yaml'),
    [
      'version: 1',
      'name: memory',
      'task: binary',
      'data: { source: data.parquet, target: y, id: id }',
      'split: { strategy: random, seed: 1, fractions: { train: 0.1, public: 0.45, private: 0.45 } }',
      'metric: { primary: auroc, also: [log_loss] }',
      'surface: [params.yaml]',
      'search: { space: search_space.yaml, params_file: params.yaml }',
      'run: { command: \'v=$(sed -n "s/^variant: *//p" params.yaml); cp preds/$v/public.parquet preds/$v/private.parquet "$RATCHET_OUTPUT"/\' }',
      'budgets: { max_experiments: 10, experiment_timeout: 10m, max_wall_clock: 2h }',
      '',
    ].join('\n'),
  );
  // The search proposer's one point after the baseline: `better` (the baseline's value is outside the space).
  writeFileSync(join(dir, 'params.yaml'), 'variant: baseline\n');
  writeFileSync(
    join(dir, 'search_space.yaml'),
    'params_file: params.yaml\nspace:\n  variant: { type: categorical, choices: [better] }\n',
  );
  return dir;
}

/**
 * Write the precomputed predictions for the split `init` made, and commit them: `preds/baseline/` near-random,
 * `preds/better/` a noisy copy of the label (the label is a hash of the id, like the data's).
 */
export async function writePredictions(dir: string): Promise<void> {
  const duck = await openDuck();
  try {
    for (const [variant, prediction] of [
      ['baseline', '((hash(id::BIGINT * 11) % 1000) / 1000.0)::DOUBLE'],
      [
        'better',
        '(0.3 * (CASE WHEN hash(id::BIGINT * 7) % 10 < 3 THEN 1 ELSE 0 END) + 0.7 * (hash(id::BIGINT * 11) % 1000) / 1000.0)::DOUBLE',
      ],
    ] as const) {
      mkdirSync(join(dir, 'preds', variant), { recursive: true });
      for (const h of ['public', 'private']) {
        await duck.con.run(
          `COPY (SELECT id, ${prediction} AS prediction
             FROM read_parquet(${lit(join(dir, '.ratchet/data', `${h}_features.parquet`))}))
           TO ${lit(join(dir, 'preds', variant, `${h}.parquet`))} (FORMAT parquet)`,
        );
      }
    }
  } finally {
    duck.close();
  }
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: dir });
  git('add', 'preds');
  git('commit', '-qm', 'precomputed predictions');
}

/** Run one CLI step under /usr/bin/time; returns peak RSS (MB) and wall seconds. */
function measure(
  dir: string,
  args: string[],
): { mb: number; s: number; ok: boolean; err: string; stdout: string } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS_KB=%M', process.execPath, CLI, ...args, '--dir', dir], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const kb = Number(/MAXRSS_KB=(\d+)/.exec(r.stderr)?.[1] ?? Number.NaN);
  return {
    mb: kb / 1024,
    s: (performance.now() - t) / 1000,
    ok: r.status === 0,
    stdout: r.stdout,
    err: r.status === 0 ? '' : `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-6).join(' | '),
  };
}

/**
 * Print the peak RSS of `init`, `check` (one repetition per seed kind) and a two-experiment `run` whose second
 * experiment is decided by the keep rule's paired test.
 * @param rows rows per holdout (default 3M)
 */
export async function benchMemory(rows = 3_000_000): Promise<void> {
  console.log('\n## Peak RSS of the node process (train command = cp of precomputed Parquet predictions)');
  const t0 = performance.now();
  const dir = await buildProject(rows);
  console.log(
    `${rows.toLocaleString('en')} rows per holdout; data.parquet built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  try {
    console.log('| step | peak RSS MB | target MB | wall s | status |');
    console.log('|---|---|---|---|---|');
    const row = (name: string, m: ReturnType<typeof measure>) =>
      console.log(
        `| ${name} | ${m.mb.toFixed(0)} | ≤ ${TARGET_MB} | ${m.s.toFixed(1)} | ${m.ok ? 'ok' : `FAILED: ${m.err}`} |`,
      );
    const init = measure(dir, ['init']);
    row('init', init);
    if (!init.ok) return;
    await writePredictions(dir);
    row('check --runs 1', measure(dir, ['check', '--runs', '1', '--seeds', 'varied']));
    const run = measure(dir, ['run', '--experiments', '2', '--json']);
    row('run --experiments 2 (baseline, then a keep test)', run);
    if (run.ok) {
      const log = spawnSync(process.execPath, [CLI, 'log', '--json', '--dir', dir], { encoding: 'utf8' });
      const last = (log.status === 0 ? JSON.parse(log.stdout) : []).at(-1) as
        | { seq: number; decision: string; keep_test: string | null; reason: string }
        | undefined;
      console.log(
        last
          ? `experiment ${last.seq}: ${last.decision} by the ${last.keep_test ?? 'no'} test: ${last.reason.slice(0, 200)}`
          : `ratchet log failed: ${log.stderr.slice(0, 200)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2]);
  await benchMemory(rows > 0 ? rows : undefined);
}

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { lit } from '../../src/data/duck.js';
import { scanSplits } from '../../src/data/leakage.js';
import { tempDir } from '../helpers/project.js';
import { duckRun, keys } from './helpers.js';

/** Rows of the generated data (train 60 %, public 20 %, private 20 %); LEAK_SCALE_ROWS overrides. */
const ROWS = Number(process.env['LEAK_SCALE_ROWS'] ?? 1_000_000);

/** Deterministic uniform [0, 1) for row i, column j. */
const u = (j: number) => `((hash(i * 131 + ${j}) % 1000003) / 1000003.0)`;

const dir = tempDir('ratchet-scale-');
// About 370 MB of CSV: not left behind.
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Timing: wall clock depends on what else the machine runs; the CPU time the scan used (DuckDB's threads run in
// this process) is the steadier number. Both are printed; only a generous CPU bound is asserted.
it(`scans ${ROWS.toLocaleString('en-US')} rows × 50 columns in seconds and still finds the planted leaks`, {
  timeout: 300_000,
}, async () => {
  const cols = [
    'i::VARCHAR AS id',
    ...Array.from({ length: 30 }, (_, j) => `round(${u(j)} * 4 - 2 + ${u(j + 100)}, 6) AS f${j}`),
    ...Array.from({ length: 10 }, (_, j) => `(hash(i * 17 + ${j}) % 100)::INT AS n${j}`),
    ...Array.from(
      { length: 5 },
      (_, j) => `['alpha', 'beta', 'gamma', 'delta', 'eps'][1 + (hash(i * 29 + ${j}) % 5)::INT] AS c${j}`,
    ),
    `(hash(i * 7) % ${Math.max(1, Math.floor(ROWS / 20))})::INT AS customer`,
    'i + 100000 AS row_seq',
    // target depends on f0 and c0; leak_copy is the target with every 200th row flipped
    `(${u(0)} * 4 - 2 + ${u(100)} + (c0 = 'alpha')::INT + ${u(999)} * 2 > 1.5)::INT AS y`,
  ];
  await duckRun(
    `CREATE TABLE d AS SELECT *, CASE WHEN i % 200 = 0 THEN 1 - y ELSE y END AS leak_copy, hash(i * 3) % 10 AS s
       FROM (SELECT ${cols.join(', ')}, i FROM range(${ROWS}) t(i))`,
    `COPY (SELECT * EXCLUDE (i, s) FROM d WHERE s < 6 ORDER BY i) TO ${lit(join(dir, 'train.csv'))} (HEADER)`,
    `COPY (SELECT * EXCLUDE (i, s, y) FROM d WHERE s IN (6, 7) ORDER BY i) TO ${lit(join(dir, 'public.csv'))} (HEADER)`,
    `COPY (SELECT * EXCLUDE (i, s, y) FROM d WHERE s >= 8 ORDER BY i) TO ${lit(join(dir, 'private.csv'))} (HEADER)`,
    `COPY (SELECT id, y::VARCHAR AS label FROM d WHERE s IN (6, 7)) TO ${lit(join(dir, 'public.parquet'))} (FORMAT parquet)`,
    `COPY (SELECT id, y::VARCHAR AS label FROM d WHERE s >= 8) TO ${lit(join(dir, 'private.parquet'))} (FORMAT parquet)`,
  );
  const steps: string[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let last = cpu0;
  const f = await scanSplits(
    {
      train: join(dir, 'train.csv'),
      public: join(dir, 'public.csv'),
      private: join(dir, 'private.csv'),
      publicLabels: join(dir, 'public.parquet'),
      privateLabels: join(dir, 'private.parquet'),
      idColumn: 'id',
      target: 'y',
      task: 'binary',
      positiveClass: '1',
      group: 'customer',
      strategy: 'random',
    },
    {
      onStep: (s, ms) => {
        const c = process.cpuUsage(last);
        last = process.cpuUsage();
        steps.push(`${s} ${(ms / 1000).toFixed(2)}s (cpu ${((c.user + c.system) / 1e6).toFixed(2)}s)`);
      },
    },
  );
  const total = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(
    `scan of ${ROWS} rows × 50 columns: ${total.toFixed(2)}s wall, ${cpu.toFixed(2)}s cpu, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; steps: ${steps.join(', ')}`,
  );
  expect(keys(f)).toEqual([
    'group-overlap:customer:block',
    'id-like:row_seq:warn',
    'target-leakage:leak_copy:block',
  ]);
  expect(cpu).toBeLessThan((30 * ROWS) / 1_000_000);
});

import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ident, isParquet, openDuck, readerFor, readRows } from '../data/duck.js';
import { RatchetError } from '../util/errors.js';
import {
  type AbEffect,
  type ArmStats,
  type CupedMoments,
  cupedEffect,
  type RatioMoments,
  ratioArm,
  welchEffect,
} from './ab-stats.js';

/**
 * Reading an A/B results file (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): CSV or Parquet through
 * DuckDB, in one of two shapes told apart by its columns. Per-unit rows: `test_id, variant, value` (or `numerator,
 * denominator` for a ratio metric), optional `pre` (CUPED) and `experiment`. Per-arm summaries: `test_id, variant,
 * n, mean, sd`, optional `experiment`. Every check fails with the file, the row or test, and the fix; the per-arm
 * sufficient statistics are computed in DuckDB (a file of millions of units never enters JavaScript), and the
 * effects by tiers/ab-stats.ts.
 */

/** One test as read from the file, with its effect. */
export interface ParsedAbTest {
  testId: string;
  shape: 'units' | 'arms';
  metric: 'mean' | 'ratio';
  experiment: string | null;
  control: ArmStats;
  treatment: ArmStats;
  effect: AbEffect;
}

/** Options of {@link readAbFile}. */
export interface AbReadOptions {
  /** The control arm's variant name (default `control`). */
  control?: string;
  /** Confidence level of the intervals (default 0.95). */
  level?: number;
}

type Kind = { shape: 'arms' } | { shape: 'units'; metric: 'mean' | 'ratio'; cuped: boolean };

const SHAPES_HINT =
  'per-unit rows need test_id, variant and value (or numerator and denominator; optional pre, experiment); per-arm summaries need test_id, variant, n, mean and sd (optional experiment)';

/**
 * Read, check and summarize an A/B results file.
 * @param path the file (absolute); `.parquet`/`.pq` is read as Parquet, anything else as CSV with a header
 * @returns the tests in the order they first appear in the file
 * @throws RatchetError naming the file, the row or test and the fix
 */
export async function readAbFile(path: string, opts: AbReadOptions = {}): Promise<ParsedAbTest[]> {
  if (!existsSync(path))
    throw new RatchetError('no such file', { file: path, hint: 'give the path of a CSV or Parquet file' });
  const control = opts.control ?? 'control';
  const level = opts.level ?? 0.95;
  const duck = await openDuck(2, { memoryMB: 128 });
  try {
    const con = duck.con;
    let cols: string[];
    try {
      cols = (await readRows(con, `DESCRIBE SELECT * FROM ${readerFor(path, true)}`)).map((r) =>
        String(r['column_name']),
      );
    } catch (e) {
      throw new RatchetError(`cannot read the file: ${(e as Error).message.split('\n')[0]}`, {
        file: path,
        hint: 'give a CSV file with a header row, or a Parquet file',
      });
    }
    const byName = new Map(cols.map((c) => [c.trim().toLowerCase(), c]));
    const has = (c: string) => byName.has(c);
    for (const c of ['test_id', 'variant'])
      if (!has(c)) throw new RatchetError(`missing column ${c}`, { file: path, field: c, hint: SHAPES_HINT });
    const kind = detectShape(path, has);
    const numeric =
      kind.shape === 'arms'
        ? ['n', 'mean', 'sd']
        : kind.metric === 'ratio'
          ? ['numerator', 'denominator']
          : ['value', ...(kind.cuped ? ['pre'] : [])];
    const col = (c: string) => ident(byName.get(c)!);
    const select = [
      'row_number() OVER () AS _row',
      `trim(CAST(${col('test_id')} AS VARCHAR)) AS test_id`,
      `trim(CAST(${col('variant')} AS VARCHAR)) AS variant`,
      has('experiment')
        ? `nullif(trim(CAST(${col('experiment')} AS VARCHAR)), '') AS experiment`
        : 'CAST(NULL AS VARCHAR) AS experiment',
      ...numeric.flatMap((c) => [
        `CAST(${col(c)} AS VARCHAR) AS "_raw_${c}"`,
        `TRY_CAST(${col(c)} AS DOUBLE) AS "${c}"`,
      ]),
    ];
    await con.run(`CREATE TABLE ab AS SELECT ${select.join(', ')} FROM ${readerFor(path, true)}`);
    const where = (row: number) => (isParquet(path) ? `row ${row}` : `row ${row} (line ${row + 1})`);
    await checkRows(con, path, numeric, kind, where);
    const arms = await checkArms(con, path, kind, control);
    return await summarize(con, path, kind, arms, control, level);
  } finally {
    duck.close();
  }
}

function detectShape(path: string, has: (c: string) => boolean): Kind {
  if (has('n') || has('mean') || has('sd')) {
    const missing = ['n', 'mean', 'sd'].filter((c) => !has(c));
    if (missing.length)
      throw new RatchetError(`missing column ${missing.join(', ')} (per-arm summaries)`, {
        file: path,
        field: missing[0]!,
        hint: 'per-arm summaries need test_id, variant, n, mean and sd, one row per arm',
      });
    return { shape: 'arms' };
  }
  if (has('numerator') || has('denominator')) {
    const missing = ['numerator', 'denominator'].filter((c) => !has(c));
    if (missing.length)
      throw new RatchetError(`missing column ${missing.join(', ')} (a ratio metric's per-unit rows)`, {
        file: path,
        field: missing[0]!,
        hint: 'a ratio metric needs both numerator and denominator per unit',
      });
    if (has('pre'))
      throw new RatchetError('CUPED (a pre column) with a ratio metric is not supported', {
        file: path,
        field: 'pre',
        hint: 'drop the pre column, or import the per-unit ratio as a value column',
      });
    return { shape: 'units', metric: 'ratio', cuped: false };
  }
  if (!has('value'))
    throw new RatchetError('missing column value (per-unit rows) or n, mean, sd (per-arm summaries)', {
      file: path,
      field: 'value',
      hint: SHAPES_HINT,
    });
  return { shape: 'units', metric: 'mean', cuped: has('pre') };
}

/** Row-level checks: ids present, numbers finite, denominators > 0, n ≥ 2, sd ≥ 0. */
async function checkRows(
  con: DuckDBConnection,
  path: string,
  numeric: string[],
  kind: Kind,
  where: (row: number) => string,
): Promise<void> {
  const empty = await readRows(
    con,
    "SELECT _row, test_id, variant FROM ab WHERE coalesce(test_id, '') = '' OR coalesce(variant, '') = '' ORDER BY _row LIMIT 1",
  );
  if (empty[0]) {
    const c = empty[0]['test_id'] ? 'variant' : 'test_id';
    throw new RatchetError(`${where(Number(empty[0]['_row']))}: ${c} is empty`, {
      file: path,
      field: c,
      hint: `give every row its ${c}`,
    });
  }
  for (const c of numeric) {
    const bad = await readRows(
      con,
      `SELECT _row, test_id, "_raw_${c}" AS raw FROM ab WHERE "${c}" IS NULL OR NOT isfinite("${c}") ORDER BY _row LIMIT 1`,
    );
    if (bad[0]) {
      const raw = bad[0]['raw'];
      throw new RatchetError(
        `${where(Number(bad[0]['_row']))} (test ${String(bad[0]['test_id'])}): ${c} ${raw === null ? 'is missing' : `"${String(raw)}" is not a finite number`}`,
        { file: path, field: c, hint: `give a finite number in ${c} on every row` },
      );
    }
  }
  const rules: [string, string, string][] =
    kind.shape === 'arms'
      ? [
          ['n < 2 OR n <> floor(n)', 'n must be a whole number >= 2', 'an arm needs at least 2 units'],
          ['sd < 0', 'sd must be >= 0', 'give the sample standard deviation of the arm'],
        ]
      : kind.metric === 'ratio'
        ? [['denominator <= 0', 'denominator must be > 0', 'drop units with no denominator (e.g. no visits)']]
        : [];
  for (const [cond, what, fix] of rules) {
    const bad = await readRows(
      con,
      `SELECT _row, test_id, variant FROM ab WHERE ${cond} ORDER BY _row LIMIT 1`,
    );
    if (bad[0])
      throw new RatchetError(
        `${where(Number(bad[0]['_row']))} (test ${String(bad[0]['test_id'])}, arm ${String(bad[0]['variant'])}): ${what}`,
        { file: path, field: what.split(' ')[0]!, hint: fix },
      );
  }
}

/** Per test: its control and treatment names and its experiment, in file order; exactly two arms, one control. */
async function checkArms(
  con: DuckDBConnection,
  path: string,
  kind: Kind,
  control: string,
): Promise<{ testId: string; treatment: string; experiment: string | null }[]> {
  if (kind.shape === 'arms') {
    const dup = await readRows(
      con,
      'SELECT test_id, variant, count(*) AS k FROM ab GROUP BY test_id, variant HAVING count(*) > 1 ORDER BY min(_row) LIMIT 1',
    );
    if (dup[0])
      throw new RatchetError(
        `test ${String(dup[0]['test_id'])} has ${Number(dup[0]['k'])} rows for arm ${String(dup[0]['variant'])}`,
        {
          file: path,
          field: 'variant',
          hint: 'per-arm summaries have one row per arm: merge or rename them',
        },
      );
  }
  const tests = await readRows(
    con,
    `SELECT test_id, list(DISTINCT variant ORDER BY variant) AS variants, list(DISTINCT experiment) FILTER (WHERE experiment IS NOT NULL) AS experiments
     FROM ab GROUP BY test_id ORDER BY min(_row)`,
  );
  const out: { testId: string; treatment: string; experiment: string | null }[] = [];
  for (const t of tests) {
    const id = String(t['test_id']);
    const variants = (t['variants'] as unknown[]).map(String);
    if (!variants.includes(control))
      throw new RatchetError(`test ${id} has no control arm (${variants.join(', ')})`, {
        file: path,
        field: 'variant',
        hint:
          control === 'control'
            ? 'add its control row or name it with --control'
            : `add its ${control} row, or name the control with --control`,
      });
    const others = variants.filter((v) => v !== control);
    if (others.length === 0)
      throw new RatchetError(`test ${id} has no treatment arm (only ${control})`, {
        file: path,
        field: 'variant',
        hint: 'add the treatment arm, or drop the test',
      });
    if (others.length > 1)
      throw new RatchetError(
        `test ${id} has ${variants.length} arms (${variants.join(', ')}): one control and one treatment are compared`,
        {
          file: path,
          field: 'variant',
          hint: `split it into one test per treatment (e.g. ${id}-${others[0]}, ${id}-${others[1]}), each with its control`,
        },
      );
    const exps = ((t['experiments'] as unknown[] | null) ?? []).map(String);
    if (exps.length > 1)
      throw new RatchetError(`test ${id} names ${exps.length} experiments (${exps.join(', ')})`, {
        file: path,
        field: 'experiment',
        hint: 'a test ships one experiment: give the same experiment on every row of the test (or leave it empty)',
      });
    out.push({ testId: id, treatment: others[0]!, experiment: exps[0] ?? null });
  }
  if (out.length === 0)
    throw new RatchetError('the file has no rows', { file: path, hint: 'give at least one test' });
  return out;
}

/** The arms' statistics and the effect of every test. */
async function summarize(
  con: DuckDBConnection,
  path: string,
  kind: Kind,
  tests: { testId: string; treatment: string; experiment: string | null }[],
  controlName: string,
  level: number,
): Promise<ParsedAbTest[]> {
  const num = (v: unknown) => (v === null || v === undefined ? Number.NaN : Number(v));
  const rows =
    kind.shape === 'arms'
      ? await readRows(con, 'SELECT test_id, variant, n, mean, sd FROM ab')
      : kind.metric === 'ratio'
        ? await readRows(
            con,
            `SELECT test_id, variant, count(*) AS n, avg(numerator) AS mn, avg(denominator) AS md,
               var_samp(numerator) AS vn, var_samp(denominator) AS vd, covar_samp(numerator, denominator) AS c
             FROM ab GROUP BY test_id, variant`,
          )
        : await readRows(
            con,
            `SELECT test_id, variant, count(*) AS n, avg(value) AS my, var_samp(value) AS vy
               ${kind.cuped ? ', avg(pre) AS mx, var_samp(pre) AS vx, covar_samp(value, pre) AS c' : ''}
             FROM ab GROUP BY test_id, variant`,
          );
  const pooled =
    kind.shape === 'units' && kind.cuped
      ? new Map(
          (
            await readRows(
              con,
              'SELECT test_id, avg(pre) AS mx, var_samp(pre) AS vx, covar_samp(value, pre) AS c FROM ab GROUP BY test_id',
            )
          ).map((r) => [
            String(r['test_id']),
            { meanX: num(r['mx']), varX: num(r['vx']), covYX: num(r['c']) },
          ]),
        )
      : null;
  const arm = new Map(rows.map((r) => [`${String(r['test_id'])}\u0000${String(r['variant'])}`, r]));
  const out: ParsedAbTest[] = [];
  for (const t of tests) {
    const get = (v: string) => arm.get(`${t.testId}\u0000${v}`)!;
    const n = (v: string) => num(get(v)['n']);
    for (const v of [controlName, t.treatment])
      if (n(v) < 2)
        throw new RatchetError(`test ${t.testId}, arm ${v} has ${n(v)} unit: an arm needs at least 2`, {
          file: path,
          field: 'variant',
          hint: 'add the arm’s units, or drop the test',
        });
    let control: ArmStats;
    let treatment: ArmStats;
    let effect: AbEffect;
    if (kind.shape === 'arms') {
      const a = (v: string): ArmStats => ({
        variant: v,
        n: n(v),
        mean: num(get(v)['mean']),
        sd: num(get(v)['sd']),
      });
      control = a(controlName);
      treatment = a(t.treatment);
      effect = welchEffect(treatment, control, level, 'welch');
    } else if (kind.metric === 'ratio') {
      const m = (v: string): RatioMoments => {
        const r = get(v);
        return {
          variant: v,
          n: n(v),
          meanNum: num(r['mn']),
          meanDen: num(r['md']),
          varNum: num(r['vn']),
          varDen: num(r['vd']),
          covNumDen: num(r['c']),
        };
      };
      control = ratioArm(m(controlName));
      treatment = ratioArm(m(t.treatment));
      effect = welchEffect(treatment, control, level, 'delta');
    } else if (kind.cuped) {
      const m = (v: string): CupedMoments => {
        const r = get(v);
        return {
          variant: v,
          n: n(v),
          meanY: num(r['my']),
          varY: num(r['vy']),
          meanX: num(r['mx']),
          varX: num(r['vx']),
          covYX: num(r['c']),
        };
      };
      const c = cupedEffect(m(t.treatment), m(controlName), pooled!.get(t.testId)!, level);
      control = c.control;
      treatment = c.treatment;
      effect = c.effect;
    } else {
      const a = (v: string): ArmStats => ({
        variant: v,
        n: n(v),
        mean: num(get(v)['my']),
        sd: Math.sqrt(num(get(v)['vy'])),
      });
      control = a(controlName);
      treatment = a(t.treatment);
      effect = welchEffect(treatment, control, level, 'welch');
    }
    out.push({
      testId: t.testId,
      shape: kind.shape,
      metric: kind.shape === 'units' && kind.metric === 'ratio' ? 'ratio' : 'mean',
      experiment: t.experiment,
      control,
      treatment,
      effect,
    });
  }
  return out;
}

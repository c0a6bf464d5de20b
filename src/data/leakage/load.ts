/**
 * Loading the splits into DuckDB for the leakage scanner: `tr` (train, file order = rowid), `ho` (both holdouts,
 * `__split` 1 public / 2 private) and `vault` (holdout labels). Columns are typed once (BIGINT, DOUBLE or
 * VARCHAR), the id as text and the target as text (classification) or DOUBLE (regression).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { ident, lit, readRows } from '../duck.js';
import { sortLabels } from '../ingest.js';
import type { ScanInput } from './types.js';

/** A column of the splits as the scanner typed it. */
export interface Column {
  name: string;
  /** DuckDB type: BIGINT, DOUBLE or VARCHAR. */
  type: string;
  numeric: boolean;
}

/** What was loaded: the tables `tr`, `ho` and `vault`, and their shape. */
export interface Frame {
  /** Train columns except the target (id included), in file order. */
  columns: Column[];
  /** `columns` without the id: what a model may use. */
  features: Column[];
  rows: { train: number; public: number; private: number };
  /** Classification: sorted labels of train and vault; null for regression. */
  classes: string[] | null;
  /** Binary: the positive label. */
  positive: string | null;
  /** Every id parses as a number (so ids can order rows when there is no time column). */
  idNumeric: boolean;
}

/** A number from a DuckDB value (BIGINT comes as bigint, NULL as NaN). */
export function num(v: unknown): number {
  if (v === null || v === undefined) return Number.NaN;
  return typeof v === 'bigint' ? Number(v) : Number(v);
}

const NUMERIC = new Set(['BIGINT', 'DOUBLE']);

function typesStruct(cols: Column[]): string {
  return `{${cols.map((c) => `${lit(c.name)}: ${lit(c.type)}`).join(', ')}}`;
}

function csv(path: string, extra: string): string {
  return `read_csv(${lit(path)}, header = true${extra})`;
}

async function header(con: DuckDBConnection, path: string): Promise<Column[]> {
  const rows = await readRows(
    con,
    `DESCRIBE SELECT * FROM ${csv(path, ", auto_type_candidates = ['BIGINT', 'DOUBLE', 'VARCHAR']")}`,
  );
  return rows.map((r) => {
    const type = String(r['column_type']);
    const t = NUMERIC.has(type) ? type : 'VARCHAR';
    return { name: String(r['column_name']), type: t, numeric: NUMERIC.has(t) };
  });
}

/**
 * Create `table` from CSV files read with fixed column types. The sniffer types columns on a sample, so a
 * later value may not fit: then every file is read as text and each column cast with TRY_CAST (a column typed
 * from a sample only is re-typed from all its values).
 */
async function createTyped(
  con: DuckDBConnection,
  table: string,
  files: { path: string; prefix: string }[],
  cols: Column[],
  retype: Set<string>,
): Promise<Column[]> {
  const select = (prefix: string, reader: string) =>
    `SELECT ${prefix}${cols.map((c) => ident(c.name)).join(', ')} FROM ${reader}`;
  try {
    await con.run(
      `CREATE TABLE ${table} AS ${files
        .map((f) => select(f.prefix, csv(f.path, `, types = ${typesStruct(cols)}`)))
        .join(' UNION ALL ')}`,
    );
    return cols;
  } catch {
    await con.run(`DROP TABLE IF EXISTS ${table}`);
  }
  await con.run(
    `CREATE TEMP TABLE __raw AS ${files
      .map((f) => select(f.prefix, csv(f.path, ', all_varchar = true')))
      .join(' UNION ALL ')}`,
  );
  const typed = cols.map((c) => ({ ...c }));
  const todo = typed.filter((c) => retype.has(c.name));
  if (todo.length > 0) {
    const r = (
      await readRows(
        con,
        `SELECT ${todo
          .map(
            (c, i) =>
              `count(${ident(c.name)}) AS n${i}, count(TRY_CAST(${ident(c.name)} AS BIGINT)) AS b${i}, count(TRY_CAST(${ident(c.name)} AS DOUBLE)) AS d${i}`,
          )
          .join(', ')} FROM __raw`,
      )
    )[0]!;
    todo.forEach((c, i) => {
      const n = num(r[`n${i}`]);
      c.type =
        n > 0 && num(r[`b${i}`]) === n ? 'BIGINT' : n > 0 && num(r[`d${i}`]) === n ? 'DOUBLE' : 'VARCHAR';
      c.numeric = c.type !== 'VARCHAR';
    });
  }
  const prefixCols = files[0]!.prefix ? '__split, ' : '';
  await con.run(
    `CREATE TABLE ${table} AS SELECT ${prefixCols}${typed
      .map((c) => `TRY_CAST(${ident(c.name)} AS ${c.type}) AS ${ident(c.name)}`)
      .join(', ')} FROM __raw`,
  );
  await con.run('DROP TABLE __raw');
  return typed;
}

/**
 * Read the three splits and the two vault files into `con`.
 * @throws Error when the target or id column is missing, or a holdout lacks a train column
 */
export async function loadSplits(con: DuckDBConnection, input: ScanInput): Promise<Frame> {
  const sniffed = await header(con, input.train);
  const names = sniffed.map((c) => c.name);
  for (const [role, col] of [
    ['target', input.target],
    ['id', input.idColumn],
  ] as const) {
    if (!names.includes(col)) throw new Error(`the train split has no ${role} column "${col}"`);
  }
  const regression = input.task === 'regression';
  const all = sniffed.map((c) =>
    c.name === input.idColumn
      ? { ...c, type: 'VARCHAR', numeric: false }
      : c.name === input.target
        ? { ...c, type: regression ? 'DOUBLE' : 'VARCHAR', numeric: regression }
        : c,
  );
  const retype = new Set(names.filter((n) => n !== input.idColumn && n !== input.target));
  const trainCols = await createTyped(con, 'tr', [{ path: input.train, prefix: '' }], all, retype);
  const columns = trainCols.filter((c) => c.name !== input.target);

  for (const path of [input.public, input.private]) {
    const have = new Set((await header(con, path)).map((c) => c.name));
    const missing = columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (missing.length > 0) throw new Error(`${path} lacks the train columns ${missing.join(', ')}`);
  }
  await createTyped(
    con,
    'ho',
    [
      { path: input.public, prefix: '1::UTINYINT AS __split, ' },
      { path: input.private, prefix: '2::UTINYINT AS __split, ' },
    ],
    columns,
    new Set(),
  );
  const labelType = regression ? 'DOUBLE' : 'VARCHAR';
  await con.run(
    `CREATE TABLE vault AS ${[input.publicLabels, input.privateLabels]
      .map(
        (p, i) =>
          `SELECT ${i + 1}::UTINYINT AS __split, id::VARCHAR AS id, label::${labelType} AS label FROM read_parquet(${lit(p)})`,
      )
      .join(' UNION ALL ')}`,
  );

  const counts = await readRows(
    con,
    `SELECT (SELECT count(*) FROM tr) AS t, count(*) FILTER (WHERE __split = 1) AS pu, count(*) FILTER (WHERE __split = 2) AS pr FROM ho`,
  );
  const id = ident(input.idColumn);
  const idn = await readRows(
    con,
    `SELECT count(*) = count(TRY_CAST(i AS DOUBLE)) AS ok FROM (SELECT ${id} AS i FROM tr UNION ALL SELECT ${id} FROM ho)`,
  );
  let classes: string[] | null = null;
  let positive: string | null = null;
  if (!regression) {
    const t = ident(input.target);
    const labels = await readRows(
      con,
      `SELECT DISTINCT l FROM (SELECT ${t} AS l FROM tr UNION ALL SELECT label FROM vault) WHERE l IS NOT NULL`,
    );
    classes = sortLabels(labels.map((r) => String(r['l'])));
    if (input.task === 'binary') positive = input.positiveClass ?? classes[classes.length - 1] ?? null;
  }
  const c = counts[0]!;
  return {
    columns,
    features: columns.filter((col) => col.name !== input.idColumn),
    rows: { train: num(c['t']), public: num(c['pu']), private: num(c['pr']) },
    classes,
    positive,
    idNumeric: idn[0]!['ok'] === true,
  };
}

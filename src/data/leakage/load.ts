/**
 * Loading the splits into DuckDB for the leakage scanner: `tr` (train, file order = rowid), `ho` (both holdouts,
 * `__split` 1 public / 2 private) and `vault` (holdout labels). Columns are typed once (BIGINT, DOUBLE or
 * VARCHAR), the id as text and the target as text (classification) or DOUBLE (regression).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CSV_BUFFER, ident, lit, readRows } from '../duck.js';
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
  /**
   * Every id is a number and they rise along the train file (row numbers, sorted ids): ordering all rows by id
   * restores the file order across the splits (used when there is no time column).
   */
  idOrdersRows: boolean;
}

/** A number from a DuckDB value (BIGINT comes as bigint, NULL as NaN). */
export function num(v: unknown): number {
  if (v === null || v === undefined) return Number.NaN;
  return typeof v === 'bigint' ? Number(v) : Number(v);
}

const NUMERIC = new Set(['BIGINT', 'DOUBLE']);

/**
 * The column names in a CSV file's header line (comma-separated, fields optionally in double quotes with ""
 * for a quote, as DuckDB's COPY writes them), read without sniffing the data.
 */
export function headerNames(path: string): string[] {
  const fd = openSync(path, 'r');
  let text = '';
  try {
    const buf = Buffer.alloc(65536);
    for (let pos = 0; ; ) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got === 0) break;
      text += buf.toString('utf8', 0, got);
      pos += got;
      const nl = firstLineEnd(text);
      if (nl >= 0) {
        text = text.slice(0, nl);
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  const names: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      names.push(field);
      field = '';
    } else field += ch;
  }
  names.push(field.replace(/\r$/, ''));
  return names;
}

/** Index of the first line break outside double quotes, or -1. */
function firstLineEnd(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === '\n' && !quoted) return i;
  }
  return -1;
}

function typesStruct(cols: Column[]): string {
  return `{${cols.map((c) => `${lit(c.name)}: ${lit(c.type)}`).join(', ')}}`;
}

function csv(path: string, extra: string): string {
  return `read_csv(${lit(path)}, header = true, ${CSV_BUFFER}${extra})`;
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

/** A column whose non-empty values are at least this share numbers is numeric (the rest read as empty). */
const NUMERIC_SHARE = 0.99;

/**
 * Create `table` from CSV files read with fixed column types. The sniffer types columns on a sample, so a
 * later value may not fit: then every file is read as text and each column cast with TRY_CAST (a column in
 * `retype` is re-typed from all its values: BIGINT or DOUBLE when at least 99 % of them are numbers).
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
              `count(${ident(c.name)}) AS n${i}, count(CASE WHEN TRY_CAST(${ident(c.name)} AS BIGINT) = TRY_CAST(${ident(c.name)} AS DOUBLE) THEN 1 END) AS b${i}, count(TRY_CAST(${ident(c.name)} AS DOUBLE)) AS d${i}`,
          )
          .join(', ')} FROM __raw`,
      )
    )[0]!;
    // DuckDB casts '1.5' to BIGINT by rounding: a column is BIGINT only when every number is a whole one.
    for (const [i, c] of todo.entries()) {
      const n = num(r[`n${i}`]);
      const d = num(r[`d${i}`]);
      // Mostly numbers (a stray "n/a" or "?" among them) stays numeric; the stray values become empty.
      const numeric = n > 0 && d >= NUMERIC_SHARE * n;
      c.type = numeric ? (num(r[`b${i}`]) === d ? 'BIGINT' : 'DOUBLE') : 'VARCHAR';
      c.numeric = numeric;
    }
  }
  const prefixCols = files[0]!.prefix ? '__split, ' : '';
  await con.run(
    `CREATE TABLE ${table} AS SELECT ${prefixCols}${typed
      .map((c) => {
        const x = ident(c.name);
        // No rounding into a BIGINT column: a value that is not a whole number reads as empty.
        const cast =
          c.type === 'BIGINT'
            ? `CASE WHEN TRY_CAST(${x} AS DOUBLE) = TRY_CAST(${x} AS BIGINT) THEN TRY_CAST(${x} AS BIGINT) END`
            : `TRY_CAST(${x} AS ${c.type})`;
        return `${cast} AS ${x}`;
      })
      .join(', ')} FROM __raw`,
  );
  await con.run('DROP TABLE __raw');
  return typed;
}

/**
 * Text columns of `tr` whose values are mostly numbers (the sniffer saw a stray "n/a" or "?"): cast to DOUBLE
 * in `tr` and `ho` (the stray values become empty), and marked numeric in `columns`.
 */
async function numericText(con: DuckDBConnection, columns: Column[], retype: Set<string>): Promise<void> {
  const text = columns.filter((c) => c.type === 'VARCHAR' && retype.has(c.name));
  if (text.length === 0) return;
  const r = (
    await readRows(
      con,
      `SELECT ${text
        .map(
          (c, i) => `count(${ident(c.name)}) AS n${i}, count(TRY_CAST(${ident(c.name)} AS DOUBLE)) AS d${i}`,
        )
        .join(', ')} FROM tr`,
    )
  )[0]!;
  for (const [i, c] of text.entries()) {
    const n = num(r[`n${i}`]);
    if (n === 0 || num(r[`d${i}`]) < NUMERIC_SHARE * n) continue;
    for (const t of ['tr', 'ho']) {
      await con.run(
        `ALTER TABLE ${t} ALTER COLUMN ${ident(c.name)} SET DATA TYPE DOUBLE USING TRY_CAST(${ident(c.name)} AS DOUBLE)`,
      );
    }
    c.type = 'DOUBLE';
    c.numeric = true;
  }
}

/**
 * Read the three splits and the two vault files into `con`.
 * @throws Error when the target, id, time or group column is missing, or a holdout lacks a train column
 */
export async function loadSplits(con: DuckDBConnection, input: ScanInput): Promise<Frame> {
  const sniffed = await header(con, input.train);
  const names = sniffed.map((c) => c.name);
  for (const [role, col] of [
    ['target', input.target],
    ['id', input.idColumn],
    ['time', input.time],
    ['group', input.group],
  ] as const) {
    if (col !== undefined && !names.includes(col))
      throw new Error(`the train split has no ${role} column "${col}"`);
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
  const trainOnly = new Set(input.trainOnly ?? []);
  const columns = trainCols.filter((c) => c.name !== input.target && !trainOnly.has(c.name));

  for (const path of [input.public, input.private]) {
    const have = new Set(headerNames(path));
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
  await numericText(con, columns, retype);
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
  // Ids that are numbers rising along the train file (row numbers, sorted ids; judged on its first 100,000
  // rows) restore the file order across the splits.
  const idn = (
    await readRows(
      con,
      `SELECT (SELECT count(*) = count(TRY_CAST(i AS DOUBLE)) FROM (SELECT ${id} AS i FROM tr UNION ALL SELECT ${id} FROM ho)) AS numeric,
         (SELECT coalesce(avg((d > 0)::INT), 1) FROM (SELECT TRY_CAST(${id} AS DOUBLE) - lag(TRY_CAST(${id} AS DOUBLE)) OVER (ORDER BY rowid) AS d FROM tr WHERE rowid < 100000) WHERE d IS NOT NULL) AS rising`,
    )
  )[0]!;
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
    idOrdersRows: idn['numeric'] === true && num(idn['rising']) >= 0.99,
  };
}

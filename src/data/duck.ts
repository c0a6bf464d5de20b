import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/** An open in-memory DuckDB connection and the means to close it. */
export interface Duck {
  con: DuckDBConnection;
  /** Another connection to the same database, for queries that run concurrently with `con`'s. */
  connect(): Promise<DuckDBConnection>;
  close(): void;
}

/** Open an in-memory DuckDB with `threads` worker threads (default 2: the machines Ratchet targets). */
export async function openDuck(threads = 2): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await instance.connect();
  return {
    con,
    async connect() {
      return instance.connect();
    },
    close() {
      con.closeSync();
      instance.closeSync();
    },
  };
}

/** Quote an SQL identifier (column or table name). */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote an SQL string literal. */
export function lit(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** True for a Parquet file name (.parquet or .pq). */
export function isParquet(path: string): boolean {
  return /\.(parquet|pq)$/i.test(path);
}

/**
 * The DuckDB table function that reads a data file, chosen by extension (.parquet/.pq, else CSV).
 * @param asText read every CSV column as text, so values are copied exactly as written (no yes/no →
 *   true/false or date re-formatting); types are then only inferred for reporting
 */
export function readerFor(path: string, asText = false): string {
  if (isParquet(path)) return `read_parquet(${lit(path)})`;
  return `read_csv(${lit(path)}, header = true, sample_size = -1${asText ? ', all_varchar = true' : ''})`;
}

/** Visit every value of the first column of a query's result, in row order. */
async function eachValue(
  con: DuckDBConnection,
  sql: string,
  visit: (v: unknown, row: number) => void,
): Promise<number> {
  const res = await con.run(sql);
  let off = 0;
  for (let c = 0; c < res.chunkCount; c++) {
    const chunk = res.getChunk(c);
    const vec = chunk.getColumnVector(0);
    const m = chunk.rowCount;
    for (let i = 0; i < m; i++) visit(vec.getItem(i), off + i);
    off += m;
  }
  return off;
}

/**
 * Run a query and copy its first column into a Float64Array (NULL becomes NaN).
 * The query must produce a numeric column (cast in SQL when needed).
 */
export async function readDoubles(con: DuckDBConnection, sql: string): Promise<Float64Array> {
  const values: number[] = [];
  await eachValue(con, sql, (v) => values.push(v === null ? Number.NaN : Number(v)));
  return Float64Array.from(values);
}

/** Run a query and copy its first column as text (NULL becomes null). */
export async function readStrings(con: DuckDBConnection, sql: string): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  await eachValue(con, sql, (v) => out.push(v === null ? null : String(v)));
  return out;
}

/** Run a query and return its rows as plain JS objects (BIGINT as bigint). For small results. */
export async function readRows(con: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjectsJS() as Record<string, unknown>[];
}

/**
 * Run a query and copy its first `k` columns into Float64Arrays in one pass (NULL becomes NaN).
 * @returns k arrays of equal length, in result row order
 */
export async function readDoubleColumns(
  con: DuckDBConnection,
  sql: string,
  k: number,
): Promise<Float64Array[]> {
  const res = await con.run(sql);
  const n = res.rowCount;
  const out = Array.from({ length: k }, () => new Float64Array(n));
  let off = 0;
  for (let c = 0; c < res.chunkCount; c++) {
    const chunk = res.getChunk(c);
    const m = chunk.rowCount;
    for (let j = 0; j < k; j++) {
      const vec = chunk.getColumnVector(j);
      const col = out[j]!;
      for (let i = 0; i < m; i++) {
        const v = vec.getItem(i);
        col[off + i] = v === null ? Number.NaN : Number(v);
      }
    }
    off += m;
  }
  return out;
}

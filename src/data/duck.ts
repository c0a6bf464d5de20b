import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/** An open in-memory DuckDB connection and the means to close it. */
export interface Duck {
  con: DuckDBConnection;
  /** Another connection to the same database, for queries that run concurrently with `con`'s. */
  connect(): Promise<DuckDBConnection>;
  close(): void;
}

/**
 * Open an in-memory DuckDB with `threads` worker threads (default 2: the machines Ratchet targets) and a spill
 * folder under the system's temporary folder. DuckDB's own memory limit (default: 80% of RAM) can be set with
 * `RATCHET_DUCKDB_MEMORY` (a DuckDB size such as `512MB`): a limit too low for a step fails it out of memory
 * (at 512MB, `init` of 6.7M rows does), so none is imposed by default.
 */
export async function openDuck(threads = 2): Promise<Duck> {
  const limit = process.env['RATCHET_DUCKDB_MEMORY'];
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(threads),
    temp_directory: join(tmpdir(), 'ratchet-duckdb-spill'),
    ...(limit ? { memory_limit: limit } : {}),
  });
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

/** The typed storage of a DOUBLE vector (the node API keeps it in a field its typings call private). */
interface RawDoubles {
  items?: unknown;
  validity?: { itemValid(i: number): boolean };
}

/**
 * Copy one vector of a result chunk into `col` at `off`: a DOUBLE vector is copied as a block from its
 * Float64Array (then NULLs become NaN), any other type value by value.
 */
function copyVector(vec: { getItem(i: number): unknown }, m: number, col: Float64Array, off: number): void {
  const raw = vec as unknown as RawDoubles;
  if (raw.items instanceof Float64Array && raw.items.length >= m && raw.validity) {
    col.set(raw.items.subarray(0, m), off);
    const valid = raw.validity;
    for (let i = 0; i < m; i++) if (!valid.itemValid(i)) col[off + i] = Number.NaN;
    return;
  }
  for (let i = 0; i < m; i++) {
    const v = vec.getItem(i);
    col[off + i] = v === null ? Number.NaN : Number(v);
  }
}

/**
 * Run a query and copy its first `k` columns into Float64Arrays (NULL becomes NaN), streaming the result
 * chunk by chunk so DuckDB never materializes it. Cast columns to DOUBLE in SQL for the fast block copy;
 * other numeric types are converted value by value.
 * @returns k arrays of equal length, in result row order
 */
export async function readDoubleColumns(
  con: DuckDBConnection,
  sql: string,
  k: number,
): Promise<Float64Array[]> {
  const res = await con.stream(sql);
  let cap = 1 << 16;
  let out = Array.from({ length: k }, () => new Float64Array(cap));
  let off = 0;
  for (;;) {
    const chunk = await res.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const m = chunk.rowCount;
    if (off + m > cap) {
      while (off + m > cap) cap *= 2;
      out = out.map((col) => {
        const grown = new Float64Array(cap);
        grown.set(col.subarray(0, off));
        return grown;
      });
    }
    for (let j = 0; j < k; j++) copyVector(chunk.getColumnVector(j), m, out[j]!, off);
    off += m;
  }
  return out.map((col) => col.slice(0, off));
}

/**
 * Run a query and hand its first `k` columns to `visit` chunk by chunk as Float64Arrays (NULL becomes NaN),
 * streaming: neither DuckDB nor this function holds the whole result. The arrays are reused between calls.
 * @returns the number of rows visited
 */
export async function streamDoubleColumns(
  con: DuckDBConnection,
  sql: string,
  k: number,
  visit: (cols: Float64Array[], rows: number) => boolean | undefined,
): Promise<number> {
  const res = await con.stream(sql);
  let bufs: Float64Array[] = Array.from({ length: k }, () => new Float64Array(2048));
  let total = 0;
  for (;;) {
    const chunk = await res.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const m = chunk.rowCount;
    if (m > bufs[0]!.length) bufs = Array.from({ length: k }, () => new Float64Array(m));
    for (let j = 0; j < k; j++) copyVector(chunk.getColumnVector(j), m, bufs[j]!, 0);
    total += m;
    if (visit(bufs, m) === false) break;
  }
  return total;
}

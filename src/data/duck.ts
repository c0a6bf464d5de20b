import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// First: sets the options of DuckDB's allocator before DuckDB's library is loaded (see allocator.ts).
import './allocator.js';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { collectGarbage } from '../util/gc.js';
import { allocatorConfigured } from './allocator.js';

// DuckDB's library is loaded (its jemalloc read the options when it was): child processes must not inherit them.
allocatorConfigured();

/** An open in-memory DuckDB connection and the means to close it. */
export interface Duck {
  con: DuckDBConnection;
  /** Another connection to the same database, for queries that run concurrently with `con`'s. */
  connect(): Promise<DuckDBConnection>;
  close(): void;
}

/** Result chunks streamed between two collections by {@link releaseChunks}: 128 chunks, about 262,000 rows. */
const CHUNKS_PER_COLLECTION = 128;

/**
 * Collect garbage every {@link CHUNKS_PER_COLLECTION} result chunks of a stream. The node API frees a chunk's
 * native memory only when its JavaScript wrapper is collected, and V8 does not count that memory, so a stream
 * of 3M rows otherwise keeps 80 to 150 MB of dead chunks (measured: peak RSS 341 MB without, 193 MB with, for
 * two holdouts' joins). See {@link collectGarbage}.
 * @param chunk the number of the chunk just read (1-based)
 */
export function releaseChunks(chunk: number): void {
  if (chunk % CHUNKS_PER_COLLECTION !== 0) return;
  collectGarbage();
}

/**
 * At the end of a stream of `chunks` chunks: collect the dead chunks left since the last collection when the
 * stream was long (more than {@link CHUNKS_PER_COLLECTION} chunks), so their native memory is not still held
 * when the caller's next large allocation comes (a 3M-row holdout's metric sort or DeLong's test).
 */
export function releaseStream(chunks: number): void {
  if (chunks > CHUNKS_PER_COLLECTION) collectGarbage();
}

/**
 * DuckDB's memory limit in Ratchet's own process, in MB, unless `RATCHET_DUCKDB_MEMORY` says otherwise (issue
 * 10: peak RSS of a step ≤ 300 MB). Measured at 3M rows per holdout, the process's peak RSS is about node's own
 * ~120 MB plus 2 to 2.5 times DuckDB's limit (allocations outside the buffer pool grow with it), so the limits
 * are small; every query Ratchet runs spills beyond them (sorts, hash joins, aggregates and tables; the
 * one-partition windows and wide sorts that could not were replaced). Data steps (split, leakage scan) get
 * {@link DATA_MEMORY_MB} plus {@link COLUMN_MEMORY_MB} per column (CSV buffers and row groups grow with the
 * width: 50 columns did not fit 64MB); the evaluator's narrow joins (id, label, prediction; 32MB was too small
 * for the streamed join of 3M ids) get
 * {@link EVAL_MEMORY_MB}. A larger limit only buys speed.
 */
export const DATA_MEMORY_MB = 56;
/** Extra DuckDB memory per data column in the data steps, MB (see {@link DATA_MEMORY_MB}). */
export const COLUMN_MEMORY_MB = 2;
/** DuckDB's memory limit while aligning and scoring predictions, MB (see {@link DATA_MEMORY_MB}). */
export const EVAL_MEMORY_MB = 48;

/** Options of {@link openDuck}. */
export interface DuckOptions {
  /**
   * Folder under which this instance's spill folder is made (a fresh `duckdb-*` folder, deleted on close);
   * default the system's temporary folder. Ratchet passes `.ratchet/tmp` of the project, on the project's disk.
   */
  spillDir?: string;
  /** Memory limit in MB when `RATCHET_DUCKDB_MEMORY` is not set (default {@link DATA_MEMORY_MB}). */
  memoryMB?: number;
}

/**
 * The memory limit: `RATCHET_DUCKDB_MEMORY` (a DuckDB size such as `512MB` or `2GB`; `none` for DuckDB's own
 * default of 80 % of RAM), else `mb` MB.
 * @returns a DuckDB size, or null for no limit
 */
export function duckMemoryLimit(mb = DATA_MEMORY_MB): string | null {
  const env = process.env['RATCHET_DUCKDB_MEMORY']?.trim();
  if (!env) return `${Math.round(mb)}MB`;
  return env.toLowerCase() === 'none' ? null : env;
}

/**
 * Set the memory limit of an open DuckDB for a data step over `columns` columns:
 * {@link DATA_MEMORY_MB} + {@link COLUMN_MEMORY_MB} · columns MB (unless `RATCHET_DUCKDB_MEMORY` is set).
 */
export async function limitForColumns(con: DuckDBConnection, columns: number): Promise<void> {
  if (process.env['RATCHET_DUCKDB_MEMORY']?.trim()) return;
  await con.run(`SET memory_limit = '${duckMemoryLimit(DATA_MEMORY_MB + COLUMN_MEMORY_MB * columns)}'`);
}

/**
 * Open an in-memory DuckDB with `threads` worker threads (default 2: the machines Ratchet targets), the memory
 * limit of {@link duckMemoryLimit} and a spill folder of its own (tables, sorts, joins and aggregates larger
 * than the limit go there; in-memory tables are evicted to it too). `preserve_insertion_order` stays on: the
 * split files keep file order.
 */
export async function openDuck(threads = 2, opts: DuckOptions = {}): Promise<Duck> {
  const limit = duckMemoryLimit(opts.memoryMB);
  const base = opts.spillDir ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const spill = mkdtempSync(join(base, 'duckdb-'));
  let instance: DuckDBInstance;
  let con: DuckDBConnection;
  try {
    instance = await DuckDBInstance.create(':memory:', {
      threads: String(threads),
      temp_directory: spill,
      ...(limit ? { memory_limit: limit } : {}),
    });
    con = await instance.connect();
  } catch (e) {
    rmSync(spill, { recursive: true, force: true });
    throw e;
  }
  return {
    con,
    async connect() {
      return instance.connect();
    },
    close() {
      con.closeSync();
      instance.closeSync();
      rmSync(spill, { recursive: true, force: true });
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

/**
 * `read_csv` option of Ratchet's CSV reads: an 8 MiB read buffer instead of DuckDB's 32 MiB (16 × the 2 MiB
 * longest line). Each reading thread of each file holds one, inside the memory limit: at 32 MiB, two files read
 * side by side by two threads did not fit a 128MB limit.
 */
export const CSV_BUFFER = 'buffer_size = 8388608';

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
  return `read_csv(${lit(path)}, header = true, sample_size = -1, ${CSV_BUFFER}${asText ? ', all_varchar = true' : ''})`;
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
  let n = 0;
  for (;;) {
    const chunk = await res.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    releaseChunks(++n);
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
  releaseStream(n);
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
  let n = 0;
  for (;;) {
    const chunk = await res.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    releaseChunks(++n);
    const m = chunk.rowCount;
    if (m > bufs[0]!.length) bufs = Array.from({ length: k }, () => new Float64Array(m));
    for (let j = 0; j < k; j++) copyVector(chunk.getColumnVector(j), m, bufs[j]!, 0);
    total += m;
    if (visit(bufs, m) === false) break;
  }
  releaseStream(n);
  return total;
}

/**
 * Run a query and hand its first column to `visit` chunk by chunk as text (NULL becomes null), streaming: at
 * most one chunk (2,048 rows) is held at a time, so a column of millions of ids never sits in JavaScript whole.
 * @returns the number of rows visited
 */
export async function streamStrings(
  con: DuckDBConnection,
  sql: string,
  visit: (values: (string | null)[]) => void,
): Promise<number> {
  const res = await con.stream(sql);
  let total = 0;
  let n = 0;
  for (;;) {
    const chunk = await res.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    releaseChunks(++n);
    const vec = chunk.getColumnVector(0);
    const values: (string | null)[] = new Array(chunk.rowCount);
    for (let i = 0; i < chunk.rowCount; i++) {
      const v = vec.getItem(i);
      values[i] = v === null ? null : String(v);
    }
    total += chunk.rowCount;
    visit(values);
  }
  releaseStream(n);
  return total;
}

import { statSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ident, lit, readDoubleColumns, readRows } from '../data/duck.js';
import type { SplitManifest } from '../data/ingest.js';

/** A holdout's labels as read from its vault file, in vault row order. */
export interface VaultLabels {
  /** Rows of the holdout. */
  n: number;
  /**
   * The labels as numbers for regression and ranking (the value); null for binary, whose labels are kept only
   * as bytes in `y8` (3 MB instead of 24 MB per 3M rows held for the whole run).
   */
  y: Float64Array | null;
  /**
   * Binary labels as 0/1 bytes (null for other tasks). The same array is handed out while the vault file is
   * unchanged, so per-array caches downstream (DeLong's sort of the best model) keep hitting: never modify it.
   */
  y8: Uint8Array | null;
}

/** What identifies one version of a vault file: device, inode, size, modification and change times. */
function stampOf(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * The expression of a holdout's label as a number (binary: 1 for the positive class), over a relation whose
 * label column is `col`.
 */
export function labelExpr(manifest: SplitManifest, col: string): string {
  return manifest.task === 'binary' ? `(${col} = ${lit(manifest.positiveClass!)})::DOUBLE` : `${col}::DOUBLE`;
}

/**
 * Read a holdout's labels from its vault file (`id`, `label` columns) in file order.
 * @throws Error when the file cannot be read
 */
export async function readVaultLabels(
  con: DuckDBConnection,
  labelsPath: string,
  manifest: SplitManifest,
): Promise<VaultLabels> {
  const [y] = await readDoubleColumns(
    con,
    `SELECT ${labelExpr(manifest, 'label')} FROM read_parquet(${lit(labelsPath)})`,
    1,
  );
  const binary = manifest.task === 'binary';
  return { n: y!.length, y: binary ? null : y!, y8: binary ? Uint8Array.from(y!) : null };
}

/** What a Parquet file's id column is, position by position: its row count and order-sensitive sums of hashes. */
export interface IdFingerprint {
  rows: number;
  /**
   * Σ over rows of three bit fields (21, 21 and 22 bits) of DuckDB's 64-bit hash(salt ‖ id as text, row number)
   * ({@link idHashParts}): integers below 2^53 for any file under 2^31 rows, so exact as doubles in any order.
   */
  sums: [number, number, number];
}

/**
 * SQL for the three bit fields of a row's id hash (see {@link IdFingerprint}), over a relation with the id
 * column `idCol` and `file_row_number`.
 */
export function idHashParts(idCol: string, salt: string): [string, string, string] {
  const h = `hash(${lit(salt)} || CAST(${ident(idCol)} AS VARCHAR), file_row_number)`;
  return [`(${h} >> 43)::DOUBLE`, `((${h} >> 22) & 2097151)::DOUBLE`, `(${h} & 4194303)::DOUBLE`];
}

/** True when two fingerprints are equal (same rows, same sums). */
export function samePrint(a: IdFingerprint, b: IdFingerprint): boolean {
  return a.rows === b.rows && a.sums.every((v, i) => v === b.sums[i]);
}

/**
 * The id fingerprint of a Parquet file: one aggregate scan of its id column, no join. Two files with the same
 * fingerprint under the same salt hold the same id at every position (up to a collision of sums of 64-bit
 * per-row hashes: about 2^-64 for different files). The salt is random per process, so a collision cannot be
 * prepared in advance; an agent could in any case only mislabel its own predictions by forging one.
 * @param idCol the id column; @param salt text prefixed to every id before hashing
 * @param valid an SQL condition counted as `bad` where false (e.g. a prediction's range), or none
 * @returns the fingerprint and the number of rows where `valid` is false (0 without a condition)
 * @throws Error when the file cannot be read or lacks the column
 */
export async function idFingerprint(
  con: DuckDBConnection,
  path: string,
  idCol: string,
  salt: string,
  valid?: string,
): Promise<IdFingerprint & { bad: number }> {
  const parts = idHashParts(idCol, salt);
  const r = (
    await readRows(
      con,
      `SELECT count(*) AS n, ${parts.map((x, i) => `coalesce(sum(${x}), 0) AS s${i}`).join(', ')},
         ${valid ? `count(*) FILTER (WHERE NOT (${valid}))` : '0'} AS bad
       FROM read_parquet(${lit(path)}, file_row_number = true)`,
    )
  )[0]!;
  return {
    rows: Number(r['n']),
    sums: [Number(r['s0']), Number(r['s1']), Number(r['s2'])],
    bad: Number(r['bad']),
  };
}

/**
 * The holdouts' labels, read once per run and kept across experiments (they do not change during a run).
 * Every lookup re-stats the vault file: a file with another device, inode, size, modification or change time
 * (rewritten, replaced, touched) is read again, so a changed vault is never scored with stale labels.
 * Entries are keyed by file, task and positive class. Not for multiclass (its labels are class codes read
 * with the predictions).
 */
export class VaultCache {
  private readonly entries = new Map<string, { stamp: string; labels: VaultLabels }>();
  /** Reads of vault files so far (a hit does not count), for tests and timings. */
  reads = 0;

  /**
   * The labels of the holdout whose vault file is `labelsPath`, from the cache when the file is unchanged.
   * @throws Error when the file is missing or cannot be read
   */
  async get(con: DuckDBConnection, labelsPath: string, manifest: SplitManifest): Promise<VaultLabels> {
    const key = JSON.stringify([labelsPath, manifest.task, manifest.positiveClass ?? null]);
    const stamp = stampOf(labelsPath);
    const hit = this.entries.get(key);
    if (hit && hit.stamp === stamp) return hit.labels;
    this.entries.delete(key);
    const labels = await readVaultLabels(con, labelsPath, manifest);
    this.reads++;
    // Stamped before and after the read: a file replaced meanwhile is not cached (it is re-read next time).
    if (stampOf(labelsPath) === stamp) this.entries.set(key, { stamp, labels });
    return labels;
  }

  private readonly prints = new Map<string, { stamp: string; print: IdFingerprint & { bad: number } }>();

  /**
   * The id fingerprint of a vault file ({@link idFingerprint} of its `id` column under `salt`), from the cache
   * when the file is unchanged (re-stat on every lookup, as {@link get}).
   * @throws Error when the file is missing or cannot be read
   */
  async fingerprint(
    con: DuckDBConnection,
    labelsPath: string,
    salt: string,
  ): Promise<IdFingerprint & { bad: number }> {
    const key = JSON.stringify([labelsPath, salt]);
    const stamp = stampOf(labelsPath);
    const hit = this.prints.get(key);
    if (hit && hit.stamp === stamp) return hit.print;
    this.prints.delete(key);
    const print = await idFingerprint(con, labelsPath, 'id', salt);
    if (stampOf(labelsPath) === stamp) this.prints.set(key, { stamp, print });
    return print;
  }

  /** Forget every entry. */
  clear(): void {
    this.entries.clear();
    this.prints.clear();
  }
}

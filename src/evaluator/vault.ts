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

/** What a Parquet file's id column is, position by position: its row count and an order-sensitive sum of hashes. */
export interface IdFingerprint {
  rows: number;
  /** Σ over rows of DuckDB's 64-bit hash(salt ‖ id as text, row number), as a decimal string (exact HUGEINT). */
  sum: string;
}

/**
 * The id fingerprint of a Parquet file: one aggregate scan of its id column, no join. Two files with the same
 * fingerprint under the same salt hold the same id at every position (up to a 64-bit hash collision of a sum of
 * per-row hashes: about 2^-64 for different files). The salt is random per process, so a collision cannot be
 * prepared in advance; an agent could in any case only mislabel its own predictions by forging one.
 * @param idCol the id column; @param salt text prefixed to every id before hashing
 * @throws Error when the file cannot be read or lacks the column
 */
export async function idFingerprint(
  con: DuckDBConnection,
  path: string,
  idCol: string,
  salt: string,
): Promise<IdFingerprint> {
  const r = (
    await readRows(
      con,
      `SELECT count(*) AS n, sum(hash(${lit(salt)} || CAST(${ident(idCol)} AS VARCHAR), file_row_number)::HUGEINT) AS h
       FROM read_parquet(${lit(path)}, file_row_number = true)`,
    )
  )[0]!;
  return { rows: Number(r['n']), sum: String(r['h']) };
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

  private readonly prints = new Map<string, { stamp: string; print: IdFingerprint }>();

  /**
   * The id fingerprint of a vault file ({@link idFingerprint} of its `id` column under `salt`), from the cache
   * when the file is unchanged (re-stat on every lookup, as {@link get}).
   * @throws Error when the file is missing or cannot be read
   */
  async fingerprint(con: DuckDBConnection, labelsPath: string, salt: string): Promise<IdFingerprint> {
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

import { existsSync, lstatSync } from 'node:fs';
import { basename } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { type Duck, ident, lit, openDuck, readDoubleColumns, readRows, readStrings } from '../data/duck.js';
import type { SplitManifest } from '../data/ingest.js';
import type { MetricInput } from '../metrics/index.js';

/** Column holding the prediction in a predictions file. */
export const PREDICTION_COLUMN = 'prediction';
/** Prefix of the per-class probability columns of a multiclass predictions file. */
export const PROBA_PREFIX = 'proba_';

/** A predictions file aligned with the hidden labels, or the reason it cannot be scored. */
export type Aligned = { ok: true; input: MetricInput; rows: number } | { ok: false; reason: string };

/** What a holdout's predictions are checked against. */
export interface AlignOptions {
  /** Predictions file written by the sandboxed command (`<output>/public.csv`). */
  predictionsPath: string;
  /** Vault file with the holdout's `id` and `label` columns. */
  labelsPath: string;
  manifest: SplitManifest;
  /** Reuse an open DuckDB (the caller closes it); a private one is opened otherwise. */
  duck?: Duck;
}

const fail = (reason: string): Aligned => ({ ok: false, reason });

async function firstRows(con: DuckDBConnection, sql: string): Promise<string> {
  return (await readStrings(con, sql)).map((v) => JSON.stringify(v)).join(', ');
}

/**
 * Validate a predictions file and align it with the hidden labels, row for row.
 *
 * Checks, in order (the first failure is the reason): the file exists and is a regular file (never a symlink),
 * parses as CSV with a header, has the id column and `prediction`, has no duplicate, missing or unknown ids,
 * and every value is valid for the task: binary → a finite probability in [0, 1]; regression → a finite
 * number; multiclass → a known class label, plus optional `proba_<class>` columns (all classes, each in
 * [0, 1], rows summing to 1 ± 1e-3).
 * @returns the aligned metric input (rows in vault order), or `{ ok: false, reason }` naming the file,
 *   the problem and example ids — the experiment is then `invalid`, never scored
 */
export async function alignPredictions(opts: AlignOptions): Promise<Aligned> {
  const { predictionsPath, manifest } = opts;
  const file = basename(predictionsPath);
  if (!existsSync(predictionsPath)) return fail(`${file} was not written to the output folder`);
  const st = lstatSync(predictionsPath);
  if (st.isSymbolicLink()) return fail(`${file} is a symlink; Ratchet never follows links out of the output folder`);
  if (!st.isFile()) return fail(`${file} is not a regular file`);
  if (st.size === 0) return fail(`${file} is empty`);
  const duck = opts.duck ?? (await openDuck());
  const con = duck.con;
  try {
    await con.run('DROP TABLE IF EXISTS p; DROP TABLE IF EXISTS l');
    try {
      await con.run(
        `CREATE TABLE p AS SELECT * FROM read_csv(${lit(predictionsPath)}, header = true, all_varchar = true, auto_detect = true)`,
      );
    } catch (e) {
      return fail(`${file} is not a readable CSV: ${(e as Error).message.split('\n')[0]}`);
    }
    const cols = (await readRows(con, 'DESCRIBE p')).map((r) => String(r['column_name']));
    const idCol = manifest.idColumn;
    if (!cols.includes(idCol) || !cols.includes(PREDICTION_COLUMN)) {
      return fail(`${file} must have the columns ${idCol},${PREDICTION_COLUMN}; it has ${cols.join(',')}`);
    }
    const id = `p.${ident(idCol)}`;
    await con.run(`CREATE TABLE l AS SELECT id, label, (row_number() OVER ())::BIGINT AS __i FROM read_parquet(${lit(opts.labelsPath)})`);
    const expected = Number((await readRows(con, 'SELECT count(*) AS c FROM l'))[0]!['c']);
    const got = Number((await readRows(con, 'SELECT count(*) AS c FROM p'))[0]!['c']);
    const nullIds = await firstRows(con, `SELECT ${PREDICTION_COLUMN} FROM p WHERE ${id} IS NULL LIMIT 1`);
    if (nullIds) return fail(`${file} has rows with an empty ${idCol}`);
    const dups = await firstRows(con, `SELECT ${id} FROM p GROUP BY 1 HAVING count(*) > 1 LIMIT 3`);
    if (dups) return fail(`${file} repeats ids (e.g. ${dups}); write each holdout id once`);
    const missing = await firstRows(con, `SELECT l.id FROM l ANTI JOIN p ON l.id = ${id} LIMIT 3`);
    const unknown = await firstRows(con, `SELECT ${id} FROM p ANTI JOIN l ON l.id = ${id} LIMIT 3`);
    if (missing || unknown) {
      return fail(
        `${file} has ${got} rows for ${expected} holdout ids` +
          (missing ? `; missing ids e.g. ${missing}` : '') +
          (unknown ? `; ids not in the holdout e.g. ${unknown}` : ''),
      );
    }
    const joined = `FROM l JOIN p ON l.id = ${id} ORDER BY l.__i`;
    const pred = `p.${ident(PREDICTION_COLUMN)}`;
    const empty = await firstRows(con, `SELECT ${id} FROM p WHERE ${pred} IS NULL OR trim(${pred}) = '' LIMIT 3`);
    if (empty) return fail(`${file}: ${PREDICTION_COLUMN} is empty (NaN written as a blank?) for ids ${empty}`);
    if (manifest.task === 'binary' || manifest.task === 'regression') {
      const badNum = await firstRows(con, `SELECT ${pred} FROM p WHERE TRY_CAST(${pred} AS DOUBLE) IS NULL LIMIT 3`);
      if (badNum) return fail(`${file}: ${PREDICTION_COLUMN} has values that are not numbers (e.g. ${badNum})`);
      const nonFinite = await firstRows(con, `SELECT ${id} FROM p WHERE NOT isfinite(${pred}::DOUBLE) LIMIT 3`);
      if (nonFinite) return fail(`${file}: ${PREDICTION_COLUMN} is NaN or infinite for ids ${nonFinite}`);
      if (manifest.task === 'binary') {
        const out = await firstRows(con, `SELECT ${id} FROM p WHERE ${pred}::DOUBLE < 0 OR ${pred}::DOUBLE > 1 LIMIT 3`);
        if (out) {
          return fail(`${file}: binary predictions must be probabilities of class ${manifest.positiveClass} in [0, 1]; ids ${out} are outside`);
        }
        const [y, p] = await readDoubleColumns(
          con,
          `SELECT (l.label = ${lit(manifest.positiveClass!)})::DOUBLE, ${pred}::DOUBLE ${joined}`,
          2,
        );
        return { ok: true, rows: expected, input: { task: 'binary', y: Uint8Array.from(y!), p: p! } };
      }
      const [y, p] = await readDoubleColumns(con, `SELECT l.label::DOUBLE, ${pred}::DOUBLE ${joined}`, 2);
      return { ok: true, rows: expected, input: { task: 'regression', y: y!, p: p! } };
    }
    // multiclass
    const classes = manifest.classes!;
    const k = classes.length;
    const classTable = classes.map((c, i) => `(${lit(c)}, ${i})`).join(', ');
    await con.run(`DROP TABLE IF EXISTS cls; CREATE TABLE cls(label VARCHAR, k INTEGER); INSERT INTO cls VALUES ${classTable}`);
    const unknownClass = await firstRows(con, `SELECT DISTINCT ${pred} FROM p ANTI JOIN cls ON cls.label = ${pred} LIMIT 3`);
    if (unknownClass) {
      return fail(`${file}: ${PREDICTION_COLUMN} has labels that are not classes of the target (e.g. ${unknownClass}); classes: ${classes.join(', ')}`);
    }
    const probaCols = classes.map((c) => `${PROBA_PREFIX}${c}`);
    const present = probaCols.filter((c) => cols.includes(c));
    if (present.length > 0 && present.length < k) {
      const absent = probaCols.filter((c) => !cols.includes(c));
      return fail(`${file}: probability columns are incomplete; missing ${absent.join(', ')}`);
    }
    const hasProba = present.length === k;
    const select = [
      `(SELECT k FROM cls WHERE cls.label = l.label)::DOUBLE`,
      `(SELECT k FROM cls WHERE cls.label = ${pred})::DOUBLE`,
    ];
    if (hasProba) {
      for (const c of probaCols) {
        const q = `p.${ident(c)}`;
        const bad = await firstRows(con, `SELECT ${q} FROM p WHERE TRY_CAST(${q} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(${q} AS DOUBLE)) OR ${q}::DOUBLE < 0 OR ${q}::DOUBLE > 1 LIMIT 3`);
        if (bad) return fail(`${file}: ${c} must be a probability in [0, 1] (bad values e.g. ${bad})`);
        select.push(`${q}::DOUBLE`);
      }
      const sum = probaCols.map((c) => `p.${ident(c)}::DOUBLE`).join(' + ');
      const off = await firstRows(con, `SELECT ${id} FROM p WHERE abs((${sum}) - 1) > 1e-3 LIMIT 3`);
      if (off) return fail(`${file}: class probabilities must sum to 1 in each row; ids ${off} do not`);
    }
    const colsOut = await readDoubleColumns(con, `SELECT ${select.join(', ')} ${joined}`, select.length);
    const n = expected;
    const proba = hasProba ? new Float64Array(n * k) : undefined;
    if (proba) {
      for (let j = 0; j < k; j++) {
        const col = colsOut[2 + j]!;
        for (let i = 0; i < n; i++) proba[i * k + j] = col[i]!;
      }
    }
    return {
      ok: true,
      rows: n,
      input: { task: 'multiclass', k, y: Int32Array.from(colsOut[0]!), pred: Int32Array.from(colsOut[1]!), proba },
    };
  } finally {
    if (!opts.duck) duck.close();
  }
}

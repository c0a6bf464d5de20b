import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, lstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  CSV_BUFFER,
  type Duck,
  EVAL_MEMORY_MB,
  ident,
  isParquet,
  lit,
  openDuck,
  readDoubleColumns,
  readRows,
  readStrings,
  streamDoubleColumns,
} from '../data/duck.js';
import type { SplitManifest } from '../data/ingest.js';
import type { MetricInput } from '../metrics/index.js';
import { alignAnswers } from './harness.js';
import { alignPolicy } from './policy.js';
import {
  idFingerprint,
  idHashParts,
  labelExpr,
  readVaultLabels,
  samePrint,
  type VaultCache,
  type VaultLabels,
} from './vault.js';

/** Column holding the prediction in a predictions file. */
export const PREDICTION_COLUMN = 'prediction';
/** Prefix of the per-class probability columns of a multiclass predictions file. */
export const PROBA_PREFIX = 'proba_';

/** A predictions file aligned with the hidden labels, or the reason it cannot be scored. */
/** Hidden per-row columns of the holdout, aligned with the input's rows (vault order). */
export interface Extra {
  /** Outcome columns for business proxies. */
  outcomes: Record<string, Float64Array>;
  /** Group columns as codes 0..g-1 (in sorted order of their values), for fairness and per-group constraints. */
  groups: Record<string, Int32Array>;
}

/** Metric input with the hidden columns the contract's proxies and constraints read. */
export type ScoredInput = MetricInput & { extra?: Extra };

export type Aligned = { ok: true; input: ScoredInput; rows: number } | { ok: false; reason: string };

/** What a holdout's predictions are checked against. */
export interface AlignOptions {
  /** Predictions file written by the sandboxed command (`<output>/public.parquet` or `<output>/public.csv`). */
  predictionsPath: string;
  /** Vault file with the holdout's `id` and `label` columns. */
  labelsPath: string;
  manifest: SplitManifest;
  /** Reuse an open DuckDB connection (the caller closes it); a private database is opened otherwise. */
  con?: DuckDBConnection;
  /** Prefix of the temporary tables, so several alignments can share a database. */
  tag?: string;
  /** The run's cache of the vault's labels (read from the vault file on every call otherwise). */
  vault?: VaultCache;
}

/**
 * DuckDB's memory limit (MB) for aligning a holdout's predictions: {@link EVAL_MEMORY_MB}, plus 2 MB per class
 * of a multiclass task or action of a bandit task (its `proba_<class>` columns widen the joined rows).
 */
export function evalMemoryMB(manifest: SplitManifest): number {
  return (
    EVAL_MEMORY_MB +
    (manifest.task === 'multiclass' || manifest.task === 'bandit' ? 2 * (manifest.classes?.length ?? 0) : 0)
  );
}

/** Attach the vault's hidden columns (outcomes, groups) to an aligned input, in vault row order. */
async function withExtra(
  con: DuckDBConnection,
  L: string,
  manifest: SplitManifest,
  input: MetricInput,
): Promise<ScoredInput> {
  const v = manifest.vault;
  if (!v || (v.outcomes.length === 0 && v.groups.length === 0)) return input;
  const cols = [
    ...v.outcomes.map((c) => `${ident(`o__${c}`)}`),
    ...v.groups.map((c) => `(dense_rank() OVER (ORDER BY ${ident(`g__${c}`)}) - 1)::DOUBLE`),
  ];
  const out = await readDoubleColumns(con, `SELECT ${cols.join(', ')} FROM ${L} ORDER BY __i`, cols.length);
  const extra: Extra = { outcomes: {}, groups: {} };
  v.outcomes.forEach((c, i) => {
    extra.outcomes[c] = out[i]!;
  });
  v.groups.forEach((c, i) => {
    extra.groups[c] = Int32Array.from(out[v.outcomes.length + i]!);
  });
  return Object.assign(input, { extra });
}

/**
 * The column names of a CSV header line (RFC 4180 quoting), or null when the first line cannot be read
 * cheaply (then DuckDB's sniffer decides).
 */
export function csvHeader(path: string): string[] | null {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(65536);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.search(/\r?\n/);
    if (end < 0) return null;
    const line = text.slice(0, end);
    const out: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        out.push(cur);
        cur = '';
      } else cur += ch;
    }
    out.push(cur);
    return quoted || out.some((c) => c === '') ? null : out;
  } finally {
    closeSync(fd);
  }
}

/** DuckDB column types a numeric Parquet column may have. */
const NUMERIC_TYPE =
  /^(DOUBLE|FLOAT|REAL|DECIMAL.*|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/;

/**
 * Check a Parquet predictions file's columns and types, and give the relation that reads it: the id column
 * (any type) and a multiclass `prediction` as text so they compare with the vault's text ids and labels;
 * other columns keep their types.
 * @returns the column names and the relation (an SQL subquery), or the reason the file is refused
 *   (unreadable, missing columns, a numeric column of another type) naming the file, the column and the fix
 */
async function describeParquet(
  con: DuckDBConnection,
  path: string,
  file: string,
  idCol: string,
  task: SplitManifest['task'],
): Promise<{ cols: string[]; source: string } | string> {
  let types: { name: string; type: string }[];
  try {
    types = (await readRows(con, `DESCRIBE SELECT * FROM read_parquet(${lit(path)})`)).map((r) => ({
      name: String(r['column_name']),
      type: String(r['column_type']),
    }));
  } catch (e) {
    return `${file} is not a readable Parquet file: ${(e as Error).message.split('\n')[0]}`;
  }
  const names = types.map((t) => t.name);
  if (!names.includes(idCol) || !names.includes(PREDICTION_COLUMN)) {
    return `${file} must have the columns ${idCol},${PREDICTION_COLUMN}; it has ${names.join(',')}`;
  }
  const numeric = types.filter(
    (t) => (t.name === PREDICTION_COLUMN && task !== 'multiclass') || t.name.startsWith(PROBA_PREFIX),
  );
  const wrong = numeric.find((t) => !NUMERIC_TYPE.test(t.type));
  if (wrong) {
    return `${file}: column ${wrong.name} has type ${wrong.type}; write it as a float64 column`;
  }
  const asText = [idCol, ...(task === 'multiclass' ? [PREDICTION_COLUMN] : [])];
  const select = types
    .map((t) =>
      asText.includes(t.name) ? `CAST(${ident(t.name)} AS VARCHAR) AS ${ident(t.name)}` : ident(t.name),
    )
    .join(', ');
  return { cols: names, source: `(SELECT ${select} FROM read_parquet(${lit(path)}))` };
}

const fail = (reason: string): Aligned => ({ ok: false, reason });

async function firstRows(con: DuckDBConnection, sql: string): Promise<string> {
  return (await readStrings(con, sql)).map((v) => JSON.stringify(v)).join(', ');
}

/** True when the contract needs hidden vault columns (outcomes, groups) next to the labels. */
function hasExtra(manifest: SplitManifest): boolean {
  const v = manifest.vault;
  return Boolean(v && (v.outcomes.length > 0 || v.groups.length > 0));
}

/**
 * The metric input of a binary, regression or ranking holdout from labels `y` and predictions `p` in vault
 * order (`y8`: the binary labels as bytes when already made); ranking query codes and hidden columns are read
 * from table `L` (the vault with `__i`).
 */
async function finishNumeric(
  con: DuckDBConnection,
  L: string,
  manifest: SplitManifest,
  y: Float64Array | null,
  y8: Uint8Array | null,
  p: Float64Array,
): Promise<ScoredInput> {
  let input: MetricInput;
  if (manifest.task === 'binary') input = { task: 'binary', y: y8 ?? Uint8Array.from(y!), p };
  else if (manifest.task === 'regression') input = { task: 'regression', y: y!, p };
  else {
    const q = manifest.vault?.query;
    const [codes] = await readDoubleColumns(
      con,
      `SELECT (dense_rank() OVER (ORDER BY ${ident(`q__${q}`)}) - 1)::DOUBLE FROM ${L} ORDER BY __i`,
      1,
    );
    input = { task: 'ranking', y: y!, p, query: Int32Array.from(codes!) };
  }
  return withExtra(con, L, manifest, input);
}

/** Outcome of {@link streamAlign}. */
type Streamed =
  | { ok: true; y: Float64Array | null; y8: Uint8Array | null; p: Float64Array }
  /** An id that is not the vault's id at that position (or the row counts differ): try the hash join. */
  | { ok: false; why: 'order' }
  /** Something else is off (an id out of the holdout or repeated, a bad value): the SQL screening names it. */
  | { ok: false; why: 'invalid' };

/**
 * The fast paths for numeric predictions, streamed into vault order by each row's position in the vault (no
 * sort, no per-row objects):
 *   - `positional`: row k of the file is paired with row k of the vault, and kept only when both ids are
 *     equal; it succeeds when the file lists the holdout's ids in the vault's order (the order of the split
 *     files, so what a script that keeps the rows' order writes) and costs no hash table;
 *   - `hash`: one hash join of the file with the vault, for any order.
 * Either way it proves in passing that every holdout id appears exactly once (each file row lands on the vault
 * row whose id equals its own, no vault row twice, as many rows as the holdout), no other id appears, and
 * every value is valid (finite; binary in [0, 1]).
 * @param known the holdout's labels when cached (then the vault's label column is not read)
 * @returns y and p in vault order, or why not (the caller then tries the hash join or the SQL screening,
 *   which finds and names the problem)
 */
async function streamAlign(
  con: DuckDBConnection,
  source: string,
  labelsPath: string,
  idCol: string,
  manifest: SplitManifest,
  parquet: boolean,
  join: 'positional' | 'hash',
  known: VaultLabels | null,
): Promise<Streamed> {
  const labels = `read_parquet(${lit(labelsPath)}, file_row_number = true)`;
  const expected = known?.n ?? Number((await readRows(con, `SELECT count(*) AS n FROM ${labels}`))[0]!['n']);
  const pred = `s.${ident(PREDICTION_COLUMN)}`;
  const num = parquet ? `${pred}::DOUBLE` : `TRY_CAST(${pred} AS DOUBLE)`;
  const sid = `s.${ident(idCol)}`;
  const cols =
    join === 'positional'
      ? [`(CASE WHEN ${sid} = l.id THEN l.file_row_number END)::DOUBLE`]
      : ['l.file_row_number::DOUBLE'];
  if (!known) cols.push(labelExpr(manifest, 'l.label'));
  cols.push(num);
  const from =
    join === 'positional'
      ? `${source} s POSITIONAL JOIN (SELECT id, label, file_row_number FROM ${labels}) l`
      : `${source} s LEFT JOIN ${labels} l ON l.id = ${sid}`;
  const y = known ? known.y : new Float64Array(expected);
  const p = sharedFloat64(expected);
  const seen = new Uint8Array(expected);
  const binary = manifest.task === 'binary';
  let why: 'order' | 'invalid' | null = null;
  const rows = await streamDoubleColumns(
    con,
    `SELECT ${cols.join(', ')} FROM ${from}`,
    cols.length,
    (c, m) => {
      const is = c[0]!;
      const ys = known ? null : c[1]!;
      const ps = c[c.length - 1]!;
      for (let r = 0; r < m; r++) {
        const i = is[r]!;
        const v = ps[r]!;
        // NaN index: an id not in the holdout (or empty), or not the vault's id at this position; a repeat: a
        // duplicate id.
        if (!(i >= 0 && i < expected)) {
          why = join === 'positional' ? 'order' : 'invalid';
          return false;
        }
        if (seen[i] === 1 || !Number.isFinite(v) || (binary && (v < 0 || v > 1))) {
          why = 'invalid';
          return false;
        }
        seen[i] = 1;
        if (ys) y![i] = ys[r]!;
        p[i] = v;
      }
      return true;
    },
  );
  if (why) return { ok: false, why };
  if (rows !== expected) return { ok: false, why: join === 'positional' ? 'order' : 'invalid' };
  return { ok: true, y, y8: known ? known.y8 : null, p };
}

/**
 * n aligned predictions on shared memory: the paired bootstrap's worker thread (src/metrics/bootstrap_worker.ts) then
 * reads them where they are instead of a structured-clone copy (24 MB at 3M rows, at the run's peak).
 */
function sharedFloat64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(n * Float64Array.BYTES_PER_ELEMENT));
}

/** Salt of the id fingerprints of this process (random: a hash collision cannot be prepared in advance). */
const FINGERPRINT_SALT = randomBytes(16).toString('hex');

/**
 * The fast path for a Parquet predictions file that lists the holdout's ids in the vault's order (what the
 * scaffold's train.py writes): one scan streams each row's prediction with the bit fields of its id hash, whose
 * sums (the file's id fingerprint, {@link idFingerprint}) must equal the vault's (cached for the run): that
 * proves every position holds the vault's id, so the predictions, in file order, are in vault order; they are
 * checked (finite; binary in [0, 1]) on the way. No join means no materialized side: a POSITIONAL JOIN buffered
 * its right side up to DuckDB's memory limit (48 MB of the evaluator's peak RSS at 3M rows) and took 0.86 s at
 * 3M rows.
 * @returns y and p in vault order, or why not (`order`: other ids or another order, the hash join decides;
 *   `invalid`: a bad value, the SQL screening names it)
 */
async function fingerprintAlign(
  con: DuckDBConnection,
  predictionsPath: string,
  labelsPath: string,
  idCol: string,
  manifest: SplitManifest,
  known: VaultLabels | null,
  vault: VaultCache | undefined,
): Promise<Streamed> {
  const theirs = vault
    ? await vault.fingerprint(con, labelsPath, FINGERPRINT_SALT)
    : await idFingerprint(con, labelsPath, 'id', FINGERPRINT_SALT);
  const n = theirs.rows;
  const p = sharedFloat64(n);
  const binary = manifest.task === 'binary';
  // One scan: each row's prediction and the bit fields of its id hash, summed here (exact: see IdFingerprint).
  const sums: [number, number, number] = [0, 0, 0];
  let i = 0;
  let bad = false;
  const rows = await streamDoubleColumns(
    con,
    `SELECT ${ident(PREDICTION_COLUMN)}::DOUBLE, ${idHashParts(idCol, FINGERPRINT_SALT).join(', ')}
     FROM read_parquet(${lit(predictionsPath)}, file_row_number = true)`,
    4,
    ([c, a, b, d], m) => {
      for (let r = 0; r < m; r++) {
        sums[0] += a![r]!;
        sums[1] += b![r]!;
        sums[2] += d![r]!;
        const v = c![r]!;
        if (i < n) p[i] = v;
        i++;
        if (!Number.isFinite(v) || (binary && (v < 0 || v > 1))) bad = true;
      }
      return true;
    },
  );
  // Other ids or another order: the hash join decides. The same ids in order but a bad value: the screening names it.
  if (!samePrint({ rows, sums }, theirs)) return { ok: false, why: 'order' };
  if (bad) return { ok: false, why: 'invalid' };
  const labels = known ?? (await readVaultLabels(con, labelsPath, manifest));
  return { ok: true, y: labels.y, y8: labels.y8, p };
}

/**
 * Validate a predictions file and align it with the hidden labels, row for row.
 *
 * Checks, in order (the first failure is the reason): the file exists and is a regular file (never a symlink),
 * parses as CSV with a header or as Parquet (typed: numeric columns must be numbers), has the id column and `prediction`, has no duplicate, missing or unknown ids,
 * and every value is valid for the task: binary → a finite probability in [0, 1]; regression → a finite
 * number; multiclass → a known class label, plus optional `proba_<class>` columns (all classes, each in
 * [0, 1], rows summing to 1 ± 1e-3).
 * @returns the aligned metric input (rows in vault order), or `{ ok: false, reason }` naming the file,
 *   the problem and example ids — the experiment is then `invalid`, never scored
 */
export async function alignPredictions(opts: AlignOptions): Promise<Aligned> {
  return (await alignOrCheck(opts, false)) as Aligned;
}

/** A predictions file proven valid without its rows being read into memory. */
export type Checked = { ok: true; rows: number } | { ok: false; reason: string };

/**
 * Validate a predictions file exactly as {@link alignPredictions} does, without aligning it: for a file that
 * lists the holdout's ids in the vault's order, one aggregate query inside DuckDB proves that every holdout id
 * appears exactly once and no other id does (the file has as many rows as the holdout, each with the vault's
 * id at the same position) and that every value is valid, and no per-row data reaches JavaScript (so it runs
 * while the caller scores another file). Any other file (other order, a problem, multiclass) takes the full
 * alignment, which accepts it or names the problem.
 * @returns the row count, or `{ ok: false, reason }` as {@link alignPredictions} gives it
 */
export async function checkPredictions(opts: AlignOptions): Promise<Checked> {
  const r = await alignOrCheck(opts, true);
  return r.ok ? { ok: true, rows: r.rows } : r;
}

/** {@link alignPredictions}, or with `checkOnly` {@link checkPredictions} (then `input` is null on success). */
async function alignOrCheck(
  opts: AlignOptions,
  checkOnly: boolean,
): Promise<Aligned | { ok: true; rows: number; input: null }> {
  const { predictionsPath, manifest } = opts;
  const file = basename(predictionsPath);
  if (!existsSync(predictionsPath)) return fail(`${file} was not written to the output folder`);
  const st = lstatSync(predictionsPath);
  if (st.isSymbolicLink())
    return fail(`${file} is a symlink; Ratchet never follows links out of the output folder`);
  if (!st.isFile()) return fail(`${file} is not a regular file`);
  if (st.size === 0) return fail(`${file} is empty`);
  const own: Duck | null = opts.con ? null : await openDuck();
  const con = opts.con ?? own!.con;
  const t = opts.tag ?? 'x';
  const P = `p_${t}`;
  const L = `l_${t}`;
  const C = `c_${t}`;
  try {
    if (manifest.task === 'bandit')
      return await alignPolicy(con, predictionsPath, opts.labelsPath, manifest, t);
    if (manifest.task === 'harness')
      return await alignAnswers(con, predictionsPath, opts.labelsPath, manifest, t);
    await con.run(`DROP TABLE IF EXISTS ${P}; DROP TABLE IF EXISTS ${L}`);
    const idCol = manifest.idColumn;
    const parquet = isParquet(predictionsPath);
    let cols: string[];
    let source: string;
    if (parquet) {
      const described = await describeParquet(con, predictionsPath, file, idCol, manifest.task);
      if (typeof described === 'string') return fail(described);
      cols = described.cols;
      source = described.source;
    } else {
      // Every column as text: the header is read here (cheap), so DuckDB does not sniff the file.
      const header = csvHeader(predictionsPath);
      const reader = header
        ? `read_csv(${lit(predictionsPath)}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', ${CSV_BUFFER}, columns = {${header.map((h) => `${lit(h)}: 'VARCHAR'`).join(', ')}})`
        : `read_csv(${lit(predictionsPath)}, header = true, all_varchar = true, auto_detect = true, ${CSV_BUFFER})`;
      source = `(SELECT * FROM ${reader})`;
      try {
        cols =
          header ??
          (await readRows(con, `DESCRIBE SELECT * FROM ${source}`)).map((r) => String(r['column_name']));
      } catch (e) {
        return fail(`${file} is not a readable CSV: ${(e as Error).message.split('\n')[0]}`);
      }
      if (!cols.includes(idCol) || !cols.includes(PREDICTION_COLUMN)) {
        return fail(`${file} must have the columns ${idCol},${PREDICTION_COLUMN}; it has ${cols.join(',')}`);
      }
    }
    const labels = `read_parquet(${lit(opts.labelsPath)}, file_row_number = true)`;
    if (manifest.task !== 'multiclass' && checkOnly && parquet) {
      try {
        // One aggregate scan, no join: the id fingerprint equals the vault's and every value is valid.
        const num = `${ident(PREDICTION_COLUMN)}::DOUBLE`;
        const valid = `coalesce(isfinite(${num})${manifest.task === 'binary' ? ` AND ${num} >= 0 AND ${num} <= 1` : ''}, false)`;
        const theirs = opts.vault
          ? await opts.vault.fingerprint(con, opts.labelsPath, FINGERPRINT_SALT)
          : await idFingerprint(con, opts.labelsPath, 'id', FINGERPRINT_SALT);
        const mine = await idFingerprint(con, predictionsPath, idCol, FINGERPRINT_SALT, valid);
        if (samePrint(mine, theirs) && mine.bad === 0) return { ok: true, rows: theirs.rows, input: null };
      } catch {
        // unreadable or unexpected: the alignment below names the problem
      }
    } else if (manifest.task !== 'multiclass' && checkOnly) {
      try {
        // The row count comes from the Parquet footer (the labels are not needed: nothing is scored).
        const n = Number((await readRows(con, `SELECT count(*) AS n FROM ${labels}`))[0]!['n']);
        const pred = `s.${ident(PREDICTION_COLUMN)}`;
        const num = parquet ? `${pred}::DOUBLE` : `TRY_CAST(${pred} AS DOUBLE)`;
        const valid = `coalesce(isfinite(${num})${manifest.task === 'binary' ? ` AND ${num} >= 0 AND ${num} <= 1` : ''}, false)`;
        const r = (
          await readRows(
            con,
            `SELECT count(*) AS n_rows, count(*) FILTER (WHERE s.${ident(idCol)} = l.id) AS same,
               count(*) FILTER (WHERE NOT ${valid}) AS bad
             FROM ${source} s POSITIONAL JOIN (SELECT id FROM ${labels}) l`,
          )
        )[0]!;
        if (Number(r['n_rows']) === n && Number(r['same']) === n && Number(r['bad']) === 0)
          return { ok: true, rows: n, input: null };
      } catch {
        // unreadable or unexpected: the alignment below names the problem
      }
    }
    if (manifest.task !== 'multiclass') {
      let fast: Streamed = { ok: false, why: 'invalid' };
      try {
        const known = opts.vault ? await opts.vault.get(con, opts.labelsPath, manifest) : null;
        const args = [con, source, opts.labelsPath, idCol, manifest, parquet] as const;
        fast = parquet
          ? await fingerprintAlign(con, predictionsPath, opts.labelsPath, idCol, manifest, known, opts.vault)
          : await streamAlign(...args, 'positional', known);
        if (!fast.ok && fast.why === 'order') fast = await streamAlign(...args, 'hash', known);
      } catch {
        fast = { ok: false, why: 'invalid' }; // unreadable or unexpected: the diagnostic path below names the problem
      }
      if (fast.ok) {
        const needsL = manifest.task === 'ranking' || hasExtra(manifest);
        if (needsL) await con.run(`CREATE TABLE ${L} AS SELECT *, file_row_number AS __i FROM ${labels}`);
        return {
          ok: true,
          rows: fast.p.length,
          input: await finishNumeric(con, L, manifest, fast.y, fast.y8, fast.p),
        };
      }
    }
    // Slow path: load the file into a table and screen it in SQL, so the reason names the problem and ids.
    try {
      await con.run(`CREATE TABLE ${P} AS SELECT * FROM ${source}`);
    } catch (e) {
      return fail(
        `${file} is not a readable ${parquet ? 'Parquet file' : 'CSV'}: ${(e as Error).message.split('\n')[0]}`,
      );
    }
    const id = `${P}.${ident(idCol)}`;
    const pred = `${P}.${ident(PREDICTION_COLUMN)}`;
    // Parquet columns are typed (checked by loadParquet); CSV columns are text and parsed here.
    // (A multiclass prediction is a label: text in both forms.)
    const typed = parquet && manifest.task !== 'multiclass';
    const num = typed ? `${pred}::DOUBLE` : `TRY_CAST(${pred} AS DOUBLE)`;
    const blank = typed ? `${pred} IS NULL` : `${pred} IS NULL OR trim(${pred}) = ''`;
    const notNumber = typed ? 'false' : `trim(${pred}) <> '' AND ${num} IS NULL`;
    await con.run(`CREATE TABLE ${L} AS SELECT *, file_row_number AS __i FROM ${labels}`);
    // One scan screens the file; the example queries below run only when something is wrong.
    const st = (
      await readRows(
        con,
        `SELECT (SELECT count(*) FROM ${L}) AS expected, count(*) AS got,
           count(*) FILTER (WHERE ${id} IS NULL) AS null_ids,
           count(${id}) - count(DISTINCT ${id}) AS dups,
           count(*) FILTER (WHERE ${blank}) AS empty,
           count(*) FILTER (WHERE ${notNumber}) AS nonnum,
           count(*) FILTER (WHERE NOT isfinite(${num})) AS nonfinite,
           count(*) FILTER (WHERE ${num} < 0 OR ${num} > 1) AS outside
         FROM ${P}`,
      )
    )[0]!;
    const c = (k: string) => Number(st[k]);
    const expected = c('expected');
    const got = c('got');
    if (c('null_ids') > 0) return fail(`${file} has ${c('null_ids')} rows with an empty ${idCol}`);
    if (c('dups') > 0) {
      const dups = await firstRows(con, `SELECT ${id} FROM ${P} GROUP BY 1 HAVING count(*) > 1 LIMIT 3`);
      return fail(`${file} repeats ids (e.g. ${dups}); write each holdout id once`);
    }
    const idMismatch = async (): Promise<Aligned> => {
      const missing = await firstRows(
        con,
        `SELECT ${L}.id FROM ${L} ANTI JOIN ${P} ON ${L}.id = ${id} LIMIT 3`,
      );
      const unknown = await firstRows(
        con,
        `SELECT ${id} FROM ${P} ANTI JOIN ${L} ON ${L}.id = ${id} LIMIT 3`,
      );
      return fail(
        `${file} has ${got} rows for ${expected} holdout ids` +
          (missing ? `; missing ids e.g. ${missing}` : '') +
          (unknown ? `; ids not in the holdout e.g. ${unknown}` : ''),
      );
    };
    if (got !== expected) return await idMismatch();
    const joined = `FROM ${L} JOIN ${P} ON ${L}.id = ${id} ORDER BY ${L}.__i`;
    if (c('empty') > 0) {
      const empty = await firstRows(con, `SELECT ${id} FROM ${P} WHERE ${blank} LIMIT 3`);
      return fail(
        `${file}: ${PREDICTION_COLUMN} is ${typed ? 'null' : 'empty (NaN written as a blank?)'} for ids ${empty}`,
      );
    }
    if (manifest.task === 'binary' || manifest.task === 'regression' || manifest.task === 'ranking') {
      if (c('nonnum') > 0) {
        const badNum = await firstRows(con, `SELECT ${pred} FROM ${P} WHERE ${num} IS NULL LIMIT 3`);
        return fail(`${file}: ${PREDICTION_COLUMN} has values that are not numbers (e.g. ${badNum})`);
      }
      if (c('nonfinite') > 0) {
        const nonFinite = await firstRows(con, `SELECT ${id} FROM ${P} WHERE NOT isfinite(${num}) LIMIT 3`);
        return fail(`${file}: ${PREDICTION_COLUMN} is NaN or infinite for ids ${nonFinite}`);
      }
      if (manifest.task === 'binary' && c('outside') > 0) {
        const out = await firstRows(con, `SELECT ${id} FROM ${P} WHERE ${num} < 0 OR ${num} > 1 LIMIT 3`);
        return fail(
          `${file}: binary predictions must be probabilities of class ${manifest.positiveClass} in [0, 1]; ids ${out} are outside`,
        );
      }
      const yExpr =
        manifest.task === 'binary'
          ? `(${L}.label = ${lit(manifest.positiveClass!)})::DOUBLE`
          : `${L}.label::DOUBLE`;
      const [y, p] = await readDoubleColumns(con, `SELECT ${yExpr}, ${num} ${joined}`, 2);
      if (y!.length !== expected) return await idMismatch();
      return { ok: true, rows: expected, input: await finishNumeric(con, L, manifest, y!, null, p!) };
    }
    // multiclass
    const classes = manifest.classes!;
    const k = classes.length;
    const classTable = classes.map((c, i) => `(${lit(c)}, ${i})`).join(', ');
    await con.run(
      `DROP TABLE IF EXISTS ${C}; CREATE TABLE ${C}(label VARCHAR, k INTEGER); INSERT INTO ${C} VALUES ${classTable}`,
    );
    const unknownClass = await firstRows(
      con,
      `SELECT DISTINCT ${pred} FROM ${P} ANTI JOIN ${C} ON ${C}.label = ${pred} LIMIT 3`,
    );
    if (unknownClass) {
      return fail(
        `${file}: ${PREDICTION_COLUMN} has labels that are not classes of the target (e.g. ${unknownClass}); classes: ${classes.join(', ')}`,
      );
    }
    const probaCols = classes.map((c) => `${PROBA_PREFIX}${c}`);
    const present = probaCols.filter((c) => cols.includes(c));
    if (present.length > 0 && present.length < k) {
      const absent = probaCols.filter((c) => !cols.includes(c));
      return fail(`${file}: probability columns are incomplete; missing ${absent.join(', ')}`);
    }
    const hasProba = present.length === k;
    const select = [
      `(SELECT k FROM ${C} WHERE ${C}.label = ${L}.label)::DOUBLE`,
      `(SELECT k FROM ${C} WHERE ${C}.label = ${pred})::DOUBLE`,
    ];
    if (hasProba) {
      for (const c of probaCols) {
        const q = `${P}.${ident(c)}`;
        const bad = await firstRows(
          con,
          `SELECT ${q} FROM ${P} WHERE TRY_CAST(${q} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(${q} AS DOUBLE)) OR ${q}::DOUBLE < 0 OR ${q}::DOUBLE > 1 LIMIT 3`,
        );
        if (bad) return fail(`${file}: ${c} must be a probability in [0, 1] (bad values e.g. ${bad})`);
        select.push(`${q}::DOUBLE`);
      }
      const sum = probaCols.map((c) => `${P}.${ident(c)}::DOUBLE`).join(' + ');
      const off = await firstRows(con, `SELECT ${id} FROM ${P} WHERE abs((${sum}) - 1) > 1e-3 LIMIT 3`);
      if (off) return fail(`${file}: class probabilities must sum to 1 in each row; ids ${off} do not`);
    }
    const colsOut = await readDoubleColumns(con, `SELECT ${select.join(', ')} ${joined}`, select.length);
    if (colsOut[0]!.length !== expected) return await idMismatch();
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
      input: await withExtra(con, L, manifest, {
        task: 'multiclass',
        k,
        y: Int32Array.from(colsOut[0]!),
        pred: Int32Array.from(colsOut[1]!),
        proba,
      }),
    };
  } finally {
    await con
      .run(`DROP TABLE IF EXISTS ${P}; DROP TABLE IF EXISTS ${L}; DROP TABLE IF EXISTS ${C}`)
      .catch(() => undefined);
    own?.close();
  }
}

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CONTRACT_FILE, type Contract } from '../contract/load.js';
import { RatchetError } from '../util/errors.js';
import { sha256File, writeFileAtomic } from '../util/fs.js';
import {
  type Duck,
  ident,
  isParquet,
  limitForColumns,
  lit,
  openDuck,
  readerFor,
  readRows,
  readStrings,
} from './duck.js';
import { assignSplitsSql, SPLIT_NAMES } from './split.js';
import { firstInvalidUtf8 } from './utf8.js';

/** Name of the id column Ratchet adds when the contract names none (0-based row number in file order). */
export const GENERATED_ID = 'row_id';

/** Project-relative folders of the visible splits and of the vault. */
export const DATA_DIR = '.ratchet/data';
export const VAULT_DIR = '.ratchet/vault';
/** Project-relative folder under which Ratchet's in-process DuckDB spills (one fresh folder per instance). */
export const SPILL_DIR = '.ratchet/tmp';

/** One column of the source data. */
export interface ColumnInfo {
  name: string;
  /** DuckDB type name, e.g. BIGINT, DOUBLE, VARCHAR. */
  type: string;
}

/** What `ratchet init` wrote, saved as `.ratchet/data/split.json` (locked). */
export interface SplitManifest {
  version: 1;
  source: { path: string; sha256: string; rows: number };
  task: Contract['task'];
  idColumn: string;
  /** True when Ratchet numbered the rows because the contract names no id column. */
  generatedId: boolean;
  targetColumn: string;
  /** Feature columns handed to the sandbox (id included, target excluded). */
  columns: ColumnInfo[];
  /** Rows dropped because their target was empty. */
  droppedNullTarget: number;
  /** Classification: sorted class labels as text; bandit: the sorted actions (the policy's `proba_<action>` columns). */
  classes: string[] | null;
  /** Binary only: the label counted as positive. */
  positiveClass: string | null;
  strategy: Contract['split']['strategy'];
  seed: number;
  counts: { train: number; public: number; private: number };
  /** Hidden per-row columns stored in the vault next to the labels (prefixed o__, g__, q__ there). */
  vault: VaultColumns;
  /** Binary: share of positives per split; multiclass: share of the most frequent class; regression: mean target. */
  balance: { train: number; public: number; private: number };
}

/** Which extra columns the vault holds for the evaluator. */
export interface VaultColumns {
  /** Outcome columns for business proxies (numeric). */
  outcomes: string[];
  /** Group columns of fairness and per-group constraints. */
  groups: string[];
  /** Ranking: the query column. */
  query: string | null;
  /** Bandit: the logged action column (stored in the vault as `a__<name>`, text; hidden in the holdouts). */
  action?: string | null;
  /** Bandit: the logging propensity column (stored in the vault as `p__<name>`, DOUBLE; hidden in the holdouts). */
  propensity?: string | null;
}

/** The extra vault columns a contract needs. */
export function vaultColumns(contract: Contract): VaultColumns {
  const groups = [...new Set(contract.constraints.flatMap((c) => ('group' in c ? [c.group] : [])))];
  return {
    outcomes: [...contract.data.outcome_columns],
    groups,
    query: contract.data.query ?? null,
    ...(contract.task === 'bandit'
      ? { action: contract.data.action ?? null, propensity: contract.data.propensity ?? null }
      : {}),
  };
}

/** Progress callback: a short line per step. */
export type Progress = (message: string) => void;

function contractError(field: string, message: string, hint: string): RatchetError {
  return new RatchetError(message, { file: CONTRACT_FILE, field, hint });
}

/** Pick the positive label of a binary task (the contract's, else the larger label, as scikit-learn does). */
function positiveOf(classes: string[], declared: Contract['data']['positive_class']): string {
  if (declared !== undefined) {
    const want = String(declared);
    if (!classes.includes(want)) {
      throw contractError(
        'data.positive_class',
        `positive_class "${want}" is not one of the target's labels (${classes.join(', ')})`,
        `set positive_class to one of: ${classes.join(', ')}`,
      );
    }
    return want;
  }
  return classes[classes.length - 1]!;
}

/** Sort labels numerically when they all are numbers, else as text (scikit-learn's np.unique order). */
export function sortLabels(labels: string[]): string[] {
  const allNumeric = labels.every((l) => l.trim() !== '' && Number.isFinite(Number(l)));
  return [...labels].sort(
    allNumeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  );
}

/** DuckDB types written as DOUBLE in the Parquet splits (everything else stays text, as in the CSV). */
const NUMERIC_SPLIT_TYPE =
  /^(DOUBLE|FLOAT|REAL|DECIMAL.*|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/;

/**
 * The SELECT expression of one feature column in the Parquet splits: numbers (as DuckDB infers the column's
 * type from the source) as DOUBLE, the id column and every other type as the text the CSV splits hold.
 */
export function parquetColumn(c: ColumnInfo, isId: boolean): string {
  if (!isId && NUMERIC_SPLIT_TYPE.test(c.type))
    return `TRY_CAST(${ident(c.name)} AS DOUBLE) AS ${ident(c.name)}`;
  return ident(c.name);
}

async function loadSource(duck: Duck, contract: Contract, path: string): Promise<ColumnInfo[]> {
  try {
    // Types as DuckDB infers them (for reports and scans); the split files copy the text as written.
    const typed = await readRows(duck.con, `DESCRIBE SELECT * FROM ${readerFor(path)}`);
    const columns = typed.map((r) => ({ name: String(r['column_name']), type: String(r['column_type']) }));
    await limitForColumns(duck.con, columns.length);
    if (columns.some((c) => c.name.toLowerCase() === 'rowid')) {
      // A column named rowid hides DuckDB's row number: number the rows with a window instead (slower).
      await duck.con.run(
        `CREATE TABLE src_t AS SELECT (row_number() OVER () - 1)::BIGINT AS __row, * FROM ${readerFor(path, true)}`,
      );
      await duck.con.run('CREATE VIEW src AS SELECT * FROM src_t');
    } else {
      // The table keeps file order (insertion order), so its rowid is the 0-based row number in the file, and it
      // stays so after rows are deleted.
      await duck.con.run(`CREATE TABLE src_t AS SELECT * FROM ${readerFor(path, true)}`);
      await duck.con.run('CREATE VIEW src AS SELECT rowid AS __row, * FROM src_t');
    }
    return columns;
  } catch (e) {
    // A text file that is not UTF-8 (e.g. Latin-1 from a spreadsheet) makes DuckDB report a CSV error on
    // some line; say what is wrong instead.
    const bad = isParquet(path) ? null : firstInvalidUtf8(path);
    if (bad !== null) {
      throw new RatchetError(`${basename(path)} is not UTF-8 text (first bad byte at offset ${bad})`, {
        file: contract.data.source,
        hint: `re-encode it, e.g. iconv -f latin1 -t utf-8 ${basename(path)} > ${basename(path, extname(path))}.utf8${extname(path)}`,
      });
    }
    throw new RatchetError(`cannot read the data: ${(e as Error).message.split('\n')[0]}`, {
      file: contract.data.source,
      hint: 'give a CSV with a header row or a Parquet file (data.source in ratchet.yaml)',
    });
  }
}

async function count(con: DuckDBConnection, sql: string): Promise<number> {
  const rows = await readRows(con, sql);
  return Number(Object.values(rows[0]!)[0]);
}

/**
 * Read the contract's data source with DuckDB, check it, split it deterministically and write:
 * `.ratchet/data/{train,public,private}.csv` (train with the target; holdouts with features only),
 * `.ratchet/vault/{public,private}.parquet` (holdout ids and labels: never mounted into a sandbox) and
 * `.ratchet/data/split.json` (the manifest). Files appear all at once (written to a temporary folder, then renamed).
 * @throws RatchetError naming the file, field and fix: missing source, unreadable file, empty data, missing
 *   target/id/time/group column, duplicate or empty ids, a target that does not fit the task
 */
export async function splitData(contract: Contract, progress: Progress = () => {}): Promise<SplitManifest> {
  const root = contract.projectDir;
  const sourcePath = resolve(root, contract.data.source);
  if (!existsSync(sourcePath)) {
    throw contractError(
      'data.source',
      `data file ${contract.data.source} does not exist`,
      'give the path of a CSV or Parquet file relative to the project root',
    );
  }
  const duck = await openDuck(2, { spillDir: join(root, SPILL_DIR) });
  try {
    progress(`reading ${contract.data.source}`);
    const columns = await loadSource(duck, contract, sourcePath);
    const names = columns.map((c) => c.name);
    const total = await count(duck.con, 'SELECT count(*) FROM src');
    if (total === 0) {
      throw new RatchetError('the data has no rows', {
        file: contract.data.source,
        hint: 'point data.source at a file with data rows',
      });
    }
    const need = (field: string, col: string | undefined) => {
      if (col !== undefined && !names.includes(col)) {
        throw contractError(
          field,
          `column "${col}" is not in ${contract.data.source}`,
          `use one of: ${names.join(', ')}`,
        );
      }
    };
    need('data.target', contract.data.target);
    need('data.id', contract.data.id);
    need('data.time', contract.data.time);
    need('data.group', contract.data.group);
    for (const [i, d] of contract.data.drop.entries()) need(`data.drop.${i}`, d);
    for (const [i, d] of contract.data.outcome_columns.entries()) need(`data.outcome_columns.${i}`, d);
    need('data.query', contract.data.query);
    need('data.action', contract.data.action);
    need('data.propensity', contract.data.propensity);
    const vault = vaultColumns(contract);
    for (const [i, c] of contract.constraints.entries())
      if ('group' in c) need(`constraints.${i}.group`, c.group);
    for (const role of ['target', 'id', 'time', 'group', 'action', 'propensity'] as const) {
      const col = contract.data[role];
      if (col && contract.data.drop.includes(col)) {
        throw contractError(
          'data.drop',
          `"${col}" is the ${role} column and cannot be dropped`,
          `remove it from data.drop`,
        );
      }
    }
    const target = contract.data.target;
    const generatedId = contract.data.id === undefined;
    const idCol = contract.data.id ?? GENERATED_ID;
    if (generatedId && names.includes(GENERATED_ID)) {
      throw contractError(
        'data.id',
        `the data already has a column named ${GENERATED_ID}`,
        `set data.id: ${GENERATED_ID} if it is a unique row id`,
      );
    }
    if (idCol === target)
      throw contractError('data.id', 'the id column cannot be the target', 'name a unique row id column');

    const droppedNullTarget = await count(
      duck.con,
      `SELECT count(*) FROM src WHERE ${ident(target)} IS NULL`,
    );
    if (droppedNullTarget > 0) {
      progress(`dropping ${droppedNullTarget} rows with an empty target`);
      await duck.con.run(`DELETE FROM src_t WHERE ${ident(target)} IS NULL`);
    }
    const n = total - droppedNullTarget;
    if (n === 0) {
      throw new RatchetError(`every row's target "${target}" is empty`, {
        file: contract.data.source,
        hint: 'check data.target',
      });
    }
    const idExpr = generatedId ? '__row::VARCHAR' : `${ident(idCol)}::VARCHAR`;
    if (!generatedId) {
      const nullIds = await count(duck.con, `SELECT count(*) FROM src WHERE ${ident(idCol)} IS NULL`);
      if (nullIds > 0) {
        throw new RatchetError(`${nullIds} rows have an empty id in column "${idCol}"`, {
          file: contract.data.source,
          field: 'data.id',
          hint: 'fill the ids, or remove data.id from ratchet.yaml so Ratchet numbers the rows',
        });
      }
      const dups = await readRows(
        duck.con,
        `SELECT ${idExpr} AS id, count(*) AS c FROM src GROUP BY 1 HAVING count(*) > 1 ORDER BY c DESC, id LIMIT 3`,
      );
      if (dups.length > 0) {
        throw new RatchetError(
          `id column "${idCol}" is not unique (e.g. ${dups.map((d) => `${d['id']} ×${d['c']}`).join(', ')})`,
          {
            file: contract.data.source,
            field: 'data.id',
            hint: 'name a unique row id, or remove data.id so Ratchet numbers the rows',
          },
        );
      }
    }

    // Task checks on the target.
    const targetType = columns.find((c) => c.name === target)!.type;
    let classes: string[] | null = null;
    let positiveClass: string | null = null;
    if (contract.task === 'regression' || contract.task === 'ranking' || contract.task === 'bandit') {
      const bad = await count(
        duck.con,
        `SELECT count(*) FROM src WHERE TRY_CAST(${ident(target)} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(${ident(target)} AS DOUBLE))`,
      );
      if (bad > 0) {
        throw contractError(
          'task',
          `${contract.task} needs a numeric target, but ${bad} values of "${target}" are not finite numbers`,
          contract.task === 'bandit'
            ? 'the target of a bandit task is the logged reward (e.g. click: 0 or 1): clean it'
            : 'use task: binary or multiclass, or clean the target',
        );
      }
      if (contract.task === 'bandit') classes = await checkBanditLogs(duck.con, contract, idExpr);
    } else if (contract.task === 'harness') {
      // A task suite: the target is each task's expected answer (text), hidden in the vault for the holdouts.
    } else {
      const distinct = (
        await readStrings(duck.con, `SELECT DISTINCT ${ident(target)}::VARCHAR FROM src`)
      ).map(String);
      classes = sortLabels(distinct);
      if (contract.task === 'binary' && classes.length !== 2) {
        throw contractError(
          'task',
          `binary needs exactly 2 target labels; "${target}" has ${classes.length}${classes.length <= 10 ? ` (${classes.join(', ')})` : ''}`,
          classes.length > 2
            ? 'use task: multiclass (or regression for a numeric target)'
            : 'the target must have two labels',
        );
      }
      if (contract.task === 'multiclass' && classes.length < 3) {
        throw contractError(
          'task',
          `multiclass needs at least 3 labels; "${target}" has ${classes.length}`,
          'use task: binary',
        );
      }
      if (contract.task === 'multiclass' && classes.length > 1000) {
        throw contractError(
          'task',
          `"${target}" has ${classes.length} labels: too many for classification`,
          `use task: regression for a numeric target (type ${targetType})`,
        );
      }
      if (contract.task === 'binary') positiveClass = positiveOf(classes, contract.data.positive_class);
    }

    progress(`splitting ${n} rows (${contract.split.strategy}, seed ${contract.split.seed})`);
    const order = 'ORDER BY __row';
    // The assignment runs in DuckDB (assignSplitsSql: the same codes as assignSplits, no rows in JavaScript).
    let time: string | undefined;
    if (contract.split.strategy === 'temporal') {
      const t = contract.data.time!;
      // Numbers (e.g. a year) sort as numbers; dates and timestamps by their epoch seconds.
      time = `coalesce(TRY_CAST(${ident(t)} AS DOUBLE), epoch(TRY_CAST(${ident(t)} AS TIMESTAMP)))`;
      const bad = await readStrings(
        duck.con,
        `SELECT ${idExpr} FROM src WHERE ${time} IS NULL OR isnan(${time}) ${order} LIMIT 1`,
      );
      if (bad.length > 0) {
        throw new RatchetError(`time column "${t}" has an empty or unreadable value (row id ${bad[0]})`, {
          file: contract.data.source,
          field: 'data.time',
          hint: 'use a numeric, date or timestamp column with no gaps',
        });
      }
    }
    await assignSplitsSql(duck.con, {
      strategy: contract.split.strategy,
      seed: contract.split.seed,
      fractions: contract.split.fractions,
      table: 'src',
      row: '__row',
      id: idExpr,
      ...(contract.split.strategy === 'stratified' ? { label: `${ident(target)}::VARCHAR` } : {}),
      ...(time ? { time } : {}),
      ...(contract.split.strategy === 'group' ? { group: `${ident(contract.data.group!)}::VARCHAR` } : {}),
    });

    const hidden = new Set([...contract.data.drop, ...contract.data.outcome_columns]);
    // Bandit: the logged action and its propensity are part of the training logs, hidden in the holdouts (the
    // holdouts' are the vault's: a candidate policy that saw them could put its mass on the logged actions).
    const logged = [vault.action, vault.propensity].filter((c): c is string => typeof c === 'string');
    const features = columns.filter(
      (c) => c.name !== target && !hidden.has(c.name) && !logged.includes(c.name),
    );
    const featureCols = [
      ...(generatedId ? [`__row AS ${ident(GENERATED_ID)}`] : []),
      ...features.map((c) => ident(c.name)),
    ].join(', ');
    const trainLogged = logged.map((c) => `, ${ident(c)}`).join('');
    const tmpData = join(root, `${DATA_DIR}.tmp`);
    const tmpVault = join(root, `${VAULT_DIR}.tmp`);
    for (const d of [tmpData, tmpVault]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
    }
    // \`assign\` is in file order, row for row with \`src\`: a positional join pairs them without a hash table,
    // and the rows come out in file order without a sort (checked once here).
    const from = 'FROM src POSITIONAL JOIN (SELECT split FROM assign) AS a';
    const misaligned = await count(
      duck.con,
      'SELECT count(*) FROM src POSITIONAL JOIN assign AS a WHERE src.__row IS DISTINCT FROM a.__row',
    );
    if (misaligned > 0)
      throw new Error(`internal: the split assignment is out of file order (${misaligned} rows)`);
    const numericTarget =
      contract.task === 'regression' || contract.task === 'ranking' || contract.task === 'bandit';
    const labelExpr = numericTarget ? `${ident(target)}::DOUBLE` : `${ident(target)}::VARCHAR`;
    // Hidden per-row columns the evaluator needs next to the labels: outcomes for proxies, groups for
    // fairness gates, the query for ranking. Outcomes never reach a sandbox; groups and queries are features.
    const vaultExtra = [
      ...vault.outcomes.map((c) => `TRY_CAST(${ident(c)} AS DOUBLE) AS ${ident(`o__${c}`)}`),
      ...vault.groups.map((c) => `${ident(c)}::VARCHAR AS ${ident(`g__${c}`)}`),
      ...(vault.query ? [`${ident(vault.query)}::VARCHAR AS ${ident(`q__${vault.query}`)}`] : []),
      ...(vault.action ? [`${ident(vault.action)}::VARCHAR AS ${ident(`a__${vault.action}`)}`] : []),
      ...(vault.propensity
        ? [`${ident(vault.propensity)}::DOUBLE AS ${ident(`p__${vault.propensity}`)}`]
        : []),
    ];
    progress('writing train, public and private splits; holdout labels go to the vault');
    await duck.con.run(
      `COPY (SELECT ${featureCols}${trainLogged}, ${ident(target)} ${from} WHERE split = 0) TO ${lit(join(tmpData, 'train.csv'))} (HEADER, DELIMITER ',')`,
    );
    for (const [code, name] of [
      [1, 'public'],
      [2, 'private'],
    ] as const) {
      await duck.con.run(
        `COPY (SELECT ${featureCols} ${from} WHERE split = ${code}) TO ${lit(join(tmpData, `${name}.csv`))} (HEADER, DELIMITER ',')`,
      );
      await duck.con.run(
        `COPY (SELECT ${[`${idExpr} AS id`, `${labelExpr} AS label`, ...vaultExtra].join(', ')} ${from} WHERE split = ${code}) TO ${lit(join(tmpVault, `${name}.parquet`))} (FORMAT parquet)`,
      );
    }

    // The same splits as Parquet with typed columns (numbers as DOUBLE, the id and everything else as the
    // text the CSV holds), for commands that read Parquet (RATCHET_TRAIN_PARQUET, ...): no CSV parsing.
    const typedCols = [
      ...(generatedId ? [`__row::VARCHAR AS ${ident(GENERATED_ID)}`] : []),
      ...features.map((c) => parquetColumn(c, c.name === idCol)),
    ].join(', ');
    const trainLoggedTyped = [
      ...(vault.action ? [`, ${ident(vault.action)}::VARCHAR AS ${ident(vault.action)}`] : []),
      ...(vault.propensity ? [`, ${ident(vault.propensity)}::DOUBLE AS ${ident(vault.propensity)}`] : []),
    ].join('');
    const typedTarget = numericTarget
      ? `TRY_CAST(${ident(target)} AS DOUBLE) AS ${ident(target)}`
      : ident(target);
    await duck.con.run(
      `COPY (SELECT ${typedCols}${trainLoggedTyped}, ${typedTarget} ${from} WHERE split = 0) TO ${lit(join(tmpData, 'train.parquet'))} (FORMAT parquet)`,
    );
    for (const [code, name] of [
      [1, 'public'],
      [2, 'private'],
    ] as const) {
      await duck.con.run(
        `COPY (SELECT ${typedCols} ${from} WHERE split = ${code}) TO ${lit(join(tmpData, `${name}_features.parquet`))} (FORMAT parquet)`,
      );
    }

    const counts = { train: 0, public: 0, private: 0 };
    for (const r of await readRows(duck.con, 'SELECT split, count(*) AS c FROM assign GROUP BY split'))
      counts[SPLIT_NAMES[Number(r['split'])]!] = Number(r['c']);
    // One scan of the data for the balance and the classes present per split (per class counts are small).
    const balance = { train: Number.NaN, public: Number.NaN, private: Number.NaN };
    const present: Set<string>[] = SPLIT_NAMES.map(() => new Set<string>());
    if (contract.task === 'binary' || contract.task === 'multiclass') {
      const perClass = await readRows(
        duck.con,
        `SELECT split, ${ident(target)}::VARCHAR AS y, count(*) AS c ${from} GROUP BY ALL`,
      );
      for (const code of SPLIT_NAMES.keys()) {
        const rows = perClass.filter((r) => Number(r['split']) === code);
        const total = rows.reduce((t, r) => t + Number(r['c']), 0);
        for (const r of rows) if (r['y'] !== null) present[code]!.add(String(r['y']));
        if (total === 0) continue;
        // Binary: share of positives; multiclass: share of the most frequent class.
        balance[SPLIT_NAMES[code]!] =
          contract.task === 'binary'
            ? rows.filter((r) => r['y'] === positiveClass).reduce((t, r) => t + Number(r['c']), 0) / total
            : Math.max(...rows.map((r) => Number(r['c']))) / total;
      }
    } else if (contract.task !== 'harness') {
      const means = await readRows(
        duck.con,
        `SELECT split, avg(${ident(target)}::DOUBLE) AS m ${from} GROUP BY split`,
      );
      for (const r of means) balance[SPLIT_NAMES[Number(r['split'])]!] = Number(r['m'] ?? Number.NaN);
    }
    // A temporal or group split can leave a class out of a holdout: say so now, with the labels, since metrics
    // such as auroc_ovr are undefined there (reported as undefined; a primary one makes every experiment invalid).
    if (classes && classes.length > 1 && contract.task !== 'bandit') {
      for (const [code, name] of SPLIT_NAMES.entries()) {
        if (code === 0 || counts[name] === 0) continue;
        const missing = classes.filter((c) => !present[code]!.has(c));
        if (missing.length)
          progress(
            `warning: the ${name} holdout has no rows of class${missing.length > 1 ? 'es' : ''} ${missing.map((c) => JSON.stringify(c)).join(', ')} (${contract.split.strategy} split): per-class metrics such as auroc_ovr are undefined there; a stratified split, more data or other fractions avoid it`,
          );
      }
    }
    for (const name of SPLIT_NAMES) {
      if (counts[name] === 0) {
        throw contractError(
          'split.fractions',
          `the ${name} split is empty (${n} rows, strategy ${contract.split.strategy})`,
          'use more data, larger fractions, or more groups',
        );
      }
    }
    const manifest: SplitManifest = {
      version: 1,
      source: { path: contract.data.source, sha256: await sha256File(sourcePath), rows: total },
      task: contract.task,
      idColumn: idCol,
      generatedId,
      targetColumn: target,
      columns: [...(generatedId ? [{ name: GENERATED_ID, type: 'BIGINT' }] : []), ...features],
      droppedNullTarget,
      classes,
      positiveClass,
      strategy: contract.split.strategy,
      seed: contract.split.seed,
      vault,
      counts,
      balance,
    };
    writeFileAtomic(join(tmpData, 'split.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const [tmp, dir] of [
      [tmpData, DATA_DIR],
      [tmpVault, VAULT_DIR],
    ] as const) {
      const final = join(root, dir);
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
    }
    progress(`train ${counts.train}, public ${counts.public}, private ${counts.private} rows`);
    return manifest;
  } finally {
    duck.close();
  }
}

/**
 * Bandit logs: every row has an action and a propensity in (0, 1]; there are 2..1000 distinct actions.
 * @returns the sorted actions (as text)
 * @throws RatchetError naming the column, an example row id and the fix
 */
async function checkBanditLogs(con: DuckDBConnection, contract: Contract, idExpr: string): Promise<string[]> {
  const a = ident(contract.data.action!);
  const p = ident(contract.data.propensity!);
  const pv = `TRY_CAST(${p} AS DOUBLE)`;
  const noAction = await readStrings(
    con,
    `SELECT ${idExpr} FROM src WHERE ${a} IS NULL ORDER BY __row LIMIT 1`,
  );
  if (noAction.length > 0)
    throw new RatchetError(`the action column "${contract.data.action}" is empty in row id ${noAction[0]}`, {
      file: contract.data.source,
      field: 'data.action',
      hint: 'every logged decision needs the action the logging policy took',
    });
  const bad = await readRows(
    con,
    `SELECT ${idExpr} AS id, ${p}::VARCHAR AS v FROM src WHERE ${pv} IS NULL OR NOT isfinite(${pv}) OR ${pv} <= 0 OR ${pv} > 1 ORDER BY __row LIMIT 1`,
  );
  if (bad.length > 0)
    throw new RatchetError(
      `the propensity of row id ${bad[0]!['id']} is ${bad[0]!['v'] === null ? 'empty' : bad[0]!['v']}: a logging propensity must be a probability in (0, 1]`,
      {
        file: contract.data.source,
        field: 'data.propensity',
        hint: 'give the logging policy’s probability of the logged action (not a score or a percentage); drop rows logged without one',
      },
    );
  const actions = sortLabels((await readStrings(con, `SELECT DISTINCT ${a}::VARCHAR FROM src`)).map(String));
  if (actions.length < 2 || actions.length > 1000)
    throw new RatchetError(`the logs have ${actions.length} distinct actions in "${contract.data.action}"`, {
      file: contract.data.source,
      field: 'data.action',
      hint: 'a bandit task needs 2 to 1000 actions',
    });
  return actions;
}

/**
 * Read `.ratchet/data/split.json`.
 * @throws RatchetError when the project has not been initialised
 */
export function readManifest(projectDir: string): SplitManifest {
  const path = join(projectDir, DATA_DIR, 'split.json');
  if (!existsSync(path)) {
    throw new RatchetError('the data has not been split yet', {
      file: `${DATA_DIR}/split.json`,
      hint: 'run `ratchet init`',
    });
  }
  return JSON.parse(readFileSync(path, 'utf8')) as SplitManifest;
}

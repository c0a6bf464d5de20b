/**
 * Column roles of the scaffolded tabular baseline, decided at `ratchet init` from the train split
 * (docs/ARCHITECTURE.md, "The contract and the lock"): which columns are dates (expanded into calendar
 * features by train.py), which are id-like or free text (left out), and which are high-cardinality
 * categoricals (encoded without a huge one-hot). The roles are written into params.yaml, where a person,
 * an agent or the search proposer can change them.
 */
import { type Duck, ident, openDuck, readerFor, readRows } from '../data/duck.js';

/** Statistics of one feature column of the train split. */
export interface ColumnProfile {
  name: string;
  /** DuckDB type inferred from the train split's CSV, e.g. BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP. */
  type: string;
  /** Non-null values. */
  nonNull: number;
  /** Distinct non-null values. */
  distinct: number;
  /** Text columns: mean length in characters of the non-null values (0 for other types). */
  meanLength: number;
  /** Text columns: non-null values that parse as an ISO date or timestamp (0 for other types). */
  dateLike: number;
}

/** Why a column is left out of the features. */
export type DropReason = 'id-like' | 'free-text';

/** The roles decided for the feature columns. Column lists keep the data's column order. */
export interface ColumnRoles {
  /** Expanded into calendar features (year, month, day, weekday, day of year, hour/minute, days since epoch). */
  date: string[];
  /** Left out, each with the reason and the numbers behind it (for the YAML comment and the init note). */
  drop: { column: string; reason: DropReason; detail: string }[];
  /** Text categoricals with more than {@link HIGH_CARDINALITY} distinct values (but not near-unique). */
  highCardinality: string[];
  /** Train rows the roles were decided on. */
  rows: number;
}

/** A text column with more distinct values than this is high-cardinality (no one-hot). */
export const HIGH_CARDINALITY = 50;
/** Distinct share of the non-null values at or above which a text or integer column is id-like. */
export const NEAR_UNIQUE = 0.95;
/** Free text: mean length at least this many characters and at least half the values distinct. */
const FREE_TEXT_LENGTH = 30;
/** A text column is a date when at least this share of its non-null values parses as one. */
const DATE_SHARE = 0.95;
/** Fewer rows than this: too few to call a column near-unique (every column of 10 rows is). */
const MIN_ROWS = 50;

const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/;
const TEXT_TYPES = /^(VARCHAR|TEXT|STRING)$/;

/**
 * Decide the roles from column statistics (pure; see {@link profileColumns}).
 * @param profiles one per feature column (id and target excluded)
 * @param rows train rows
 */
export function decideRoles(profiles: ColumnProfile[], rows: number): ColumnRoles {
  const roles: ColumnRoles = { date: [], drop: [], highCardinality: [], rows };
  for (const p of profiles) {
    const type = p.type.toUpperCase();
    const text = TEXT_TYPES.test(type);
    const share = p.nonNull > 0 ? p.distinct / p.nonNull : 0;
    const pct = `${(100 * share).toFixed(1)}% of ${p.nonNull} values distinct`;
    if (/^(DATE|TIMESTAMP)/.test(type) || (text && p.nonNull > 0 && p.dateLike >= DATE_SHARE * p.nonNull)) {
      roles.date.push(p.name);
    } else if (text && p.meanLength >= FREE_TEXT_LENGTH && share >= 0.5 && p.nonNull >= MIN_ROWS) {
      roles.drop.push({
        column: p.name,
        reason: 'free-text',
        detail: `free text: mean length ${p.meanLength.toFixed(0)} characters, ${pct}`,
      });
    } else if ((text || INTEGER_TYPES.test(type)) && share >= NEAR_UNIQUE && p.nonNull >= MIN_ROWS) {
      roles.drop.push({ column: p.name, reason: 'id-like', detail: `id-like: ${pct}` });
    } else if ((text || type === 'BOOLEAN') && p.distinct > HIGH_CARDINALITY) {
      roles.highCardinality.push(p.name);
    }
  }
  return roles;
}

/**
 * Profile the feature columns of a train split CSV with DuckDB (types inferred from every row).
 * @param trainCsv path of `.ratchet/data/train.csv`
 * @param exclude columns that are not features (id, target, group keys, ...)
 * @returns the statistics and the row count
 * @throws the DuckDB error when the file cannot be read
 */
export async function profileColumns(
  trainCsv: string,
  exclude: string[],
): Promise<{ profiles: ColumnProfile[]; rows: number }> {
  const duck: Duck = await openDuck();
  try {
    await duck.con.run(`CREATE TEMP TABLE t AS SELECT * FROM ${readerFor(trainCsv)}`);
    const described = await readRows(duck.con, 'DESCRIBE t');
    const cols = described
      .map((r) => ({ name: String(r.column_name), type: String(r.column_type) }))
      .filter((c) => !exclude.includes(c.name));
    const [{ n }] = (await readRows(duck.con, 'SELECT count(*)::DOUBLE AS n FROM t')) as [{ n: number }];
    const profiles: ColumnProfile[] = [];
    for (const c of cols) {
      const q = ident(c.name);
      const text = TEXT_TYPES.test(c.type.toUpperCase());
      const extra = text
        ? `, coalesce(avg(length(${q})), 0)::DOUBLE AS len, count(TRY_CAST(trim(${q}) AS TIMESTAMP))::DOUBLE AS dates`
        : ', 0::DOUBLE AS len, 0::DOUBLE AS dates';
      const [r] = await readRows(
        duck.con,
        `SELECT count(${q})::DOUBLE AS nn, count(DISTINCT ${q})::DOUBLE AS d${extra} FROM t`,
      );
      profiles.push({
        name: c.name,
        type: c.type,
        nonNull: Number(r!.nn),
        distinct: Number(r!.d),
        meanLength: Number(r!.len),
        dateLike: Number(r!.dates),
      });
    }
    return { profiles, rows: Number(n) };
  } finally {
    duck.close();
  }
}

/**
 * The params.yaml lines recording the roles: `date_columns`, `high_cardinality_columns` and `drop_columns`
 * with a comment per dropped column saying why and how to bring it back.
 * @param extraDrop columns dropped for another reason (e.g. a ranking task's query column), kept first
 */
export function rolesYaml(roles: ColumnRoles, extraDrop: string[] = []): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    `# Column roles decided by \`ratchet init\` from the train split (${roles.rows} rows); edit them freely.`,
    '# date_columns: expanded into year, month, day, weekday, day of year, hour and minute (when the',
    '# values have a time part) and days since 1970-01-01; never one-hot encoded as raw values.',
    `date_columns: [${roles.date.map(q).join(', ')}]`,
    `# high_cardinality_columns: more than ${HIGH_CARDINALITY} distinct values: LightGBM uses them as native`,
    '# categoricals, forests as ordinal codes, the other families through a cross-fitted TargetEncoder.',
    `high_cardinality_columns: [${roles.highCardinality.map(q).join(', ')}]`,
  ];
  const drops = [...extraDrop.map((c) => ({ column: c, detail: '' })), ...roles.drop];
  if (roles.drop.length === 0) lines.push(`drop_columns: [${extraDrop.map(q).join(', ')}]`);
  else {
    lines.push('drop_columns:');
    for (const d of drops) {
      lines.push(
        d.detail
          ? `  - ${q(d.column)}   # ${d.detail}; delete this line to use it as a feature`
          : `  - ${q(d.column)}`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * One line per decided role for the init output (empty when every column is an ordinary feature).
 */
export function rolesNotes(roles: ColumnRoles): string[] {
  const out: string[] = [];
  if (roles.date.length)
    out.push(`column roles: dates expanded into calendar features: ${roles.date.join(', ')}`);
  if (roles.highCardinality.length)
    out.push(`column roles: high-cardinality categoricals (no one-hot): ${roles.highCardinality.join(', ')}`);
  for (const d of roles.drop)
    out.push(
      `column roles: left out ${d.column} (${d.detail}); to use it, delete its line under drop_columns in params.yaml`,
    );
  return out;
}

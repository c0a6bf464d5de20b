import type { DuckDBConnection } from '@duckdb/node-api';
import { lit, readRows, streamDoubleColumns } from './duck.js';
import { cyrb53 } from './hash.js';

/** Split codes stored per row. */
export const TRAIN = 0;
export const PUBLIC = 1;
export const PRIVATE = 2;

/** Names of the split codes, indexed by code. */
export const SPLIT_NAMES = ['train', 'public', 'private'] as const;

/** Inputs of {@link assignSplits}: one entry per row, all arrays the same length. */
export interface SplitInput {
  strategy: 'random' | 'stratified' | 'temporal' | 'group';
  seed: number;
  fractions: { train: number; public: number; private: number };
  /** Row ids as text (unique). */
  ids: readonly string[];
  /** Class labels as text: required by `stratified`. */
  labels?: readonly string[];
  /** Sortable time values (numbers: epoch or plain numbers): required by `temporal`. */
  times?: Float64Array;
  /** Group values as text: required by `group`. */
  groups?: readonly string[];
}

/**
 * Assign every row to train, public holdout or private holdout, deterministically from the seed.
 *
 * - random: rows ordered by cyrb53(id, seed); the first round(n·public) go public, the next round(n·private) private.
 * - stratified: the same within each class, so each split keeps the class balance (to ±1 row per class).
 * - temporal: rows ordered by time (ties by hash); the latest round(n·private) go private, the ones before
 *   them public, the earliest train, so no holdout row is earlier than a train row.
 * - group: groups ordered by cyrb53(group, seed) and taken whole, public first, until each holdout reaches its
 *   row fraction; a group never spans two splits.
 * @returns Uint8Array of split codes (0 train, 1 public, 2 private), aligned with `ids`
 * @throws Error when an array the strategy needs is missing or misaligned
 */
export function assignSplits(input: SplitInput): Uint8Array {
  const n = input.ids.length;
  const out = new Uint8Array(n);
  const { seed, fractions } = input;
  const hashes = new Float64Array(n);
  for (let i = 0; i < n; i++) hashes[i] = cyrb53(input.ids[i]!, seed);
  const byHash = (a: number, b: number) => hashes[a]! - hashes[b]! || a - b;

  const fill = (order: number[], total: number) => {
    const nPublic = Math.round(total * fractions.public);
    const nPrivate = Math.round(total * fractions.private);
    for (let j = 0; j < order.length; j++) {
      out[order[j]!] = j < nPublic ? PUBLIC : j < nPublic + nPrivate ? PRIVATE : TRAIN;
    }
  };
  const need = <T>(arr: T | undefined, what: string): T => {
    if (arr === undefined || (arr as { length: number }).length !== n) {
      throw new Error(`the ${input.strategy} split needs ${what} for every row`);
    }
    return arr;
  };

  switch (input.strategy) {
    case 'random': {
      const order = Array.from({ length: n }, (_, i) => i).sort(byHash);
      fill(order, n);
      break;
    }
    case 'stratified': {
      const labels = need(input.labels, 'a class label');
      const byClass = new Map<string, number[]>();
      for (let i = 0; i < n; i++) {
        const list = byClass.get(labels[i]!);
        if (list) list.push(i);
        else byClass.set(labels[i]!, [i]);
      }
      for (const rows of byClass.values()) fill(rows.sort(byHash), rows.length);
      break;
    }
    case 'temporal': {
      const times = need(input.times, 'a time value');
      const order = Array.from({ length: n }, (_, i) => i).sort(
        (a, b) => times[a]! - times[b]! || byHash(a, b),
      );
      const nPrivate = Math.round(n * fractions.private);
      const nPublic = Math.round(n * fractions.public);
      for (let j = 0; j < n; j++) {
        out[order[j]!] = j >= n - nPrivate ? PRIVATE : j >= n - nPrivate - nPublic ? PUBLIC : TRAIN;
      }
      break;
    }
    case 'group': {
      const groups = need(input.groups, 'a group value');
      const members = new Map<string, number[]>();
      for (let i = 0; i < n; i++) {
        const list = members.get(groups[i]!);
        if (list) list.push(i);
        else members.set(groups[i]!, [i]);
      }
      const keys = [...members.keys()];
      const gh = new Map(keys.map((k) => [k, cyrb53(k, seed)]));
      keys.sort((a, b) => gh.get(a)! - gh.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
      const targetPublic = n * fractions.public;
      const targetPrivate = n * fractions.private;
      let inPublic = 0;
      let inPrivate = 0;
      for (const k of keys) {
        const rows = members.get(k)!;
        let code = TRAIN;
        if (inPublic + rows.length / 2 <= targetPublic) {
          code = PUBLIC;
          inPublic += rows.length;
        } else if (inPrivate + rows.length / 2 <= targetPrivate) {
          code = PRIVATE;
          inPrivate += rows.length;
        }
        for (const r of rows) out[r] = code;
      }
      break;
    }
  }
  return out;
}

/** 2^32 - 1: the low 32 bits of a packed UBIGINT. */
const LOW32 = 4294967295;

/** SQL for Math.imul(a, k) >>> 0 on UBIGINT values below 2^32: the product fits UBIGINT, then mod 2^32. */
function imulSql(a: string, k: number): string {
  return `(((${a}) * ${k}::UBIGINT) % 4294967296)`;
}

/**
 * SQL expression of the UTF-16 code units of a VARCHAR (what JavaScript's `charCodeAt` walks), as UBIGINT[]:
 * one unit per code point of the Basic Multilingual Plane, a surrogate pair for every other code point
 * (Unicode 15.0, section 3.9, D91). The empty string gives [].
 */
export function utf16UnitsSql(text: string): string {
  return `flatten(list_transform(list_filter(string_split(${text}, ''), c -> c <> ''), c -> CASE WHEN unicode(c) > 65535 THEN [55296 + ((unicode(c) - 65536) >> 10), 56320 + ((unicode(c) - 65536) & 1023)]::UBIGINT[] ELSE [unicode(c)]::UBIGINT[] END))`;
}

/**
 * SQL expression of {@link cyrb53}(text, seed) as BIGINT: equal to the JavaScript function for every string
 * (a test pins it on random BMP, astral and ASCII strings). The loop over code units is a `list_reduce` whose
 * accumulator packs the two 32-bit states into one UBIGINT (h1 << 32 | h2); each Math.imul is a UBIGINT product
 * of two values below 2^32 (below 2^64, no overflow) taken mod 2^32; the final mixing binds intermediate
 * values through one-element `list_transform`s so each is computed once.
 * @param text a VARCHAR expression (not NULL)
 * @param seed the split seed (converted to a 32-bit integer as JavaScript's `^` does)
 */
export function cyrb53Sql(text: string, seed: number): string {
  const h1 = (0xdeadbeef ^ seed) >>> 0;
  const h2 = (0x41c6ce57 ^ seed) >>> 0;
  const start = (BigInt(h1) << 32n) | BigInt(h2);
  const loop = `list_reduce(${utf16UnitsSql(text)}, (acc, ch) -> (${imulSql('xor(acc >> 32, ch)', 2654435761)} << 32) | ${imulSql(`xor(acc & ${LOW32}, ch)`, 1597334677)}, ${start}::UBIGINT)`;
  // h: the packed state after the loop; a: h1 after its two mixing steps; then h2's two steps use a.
  const a = `xor(${imulSql('xor(h >> 32, h >> 48)', 2246822507)}, ${imulSql(`xor(h & ${LOW32}, (h & ${LOW32}) >> 13)`, 3266489909)})`;
  const b = `xor(${imulSql(`xor(h & ${LOW32}, (h & ${LOW32}) >> 16)`, 2246822507)}, ${imulSql('xor(a, a >> 13)', 3266489909)})`;
  return `list_transform([${loop}], h -> list_transform([${a}], a -> (4294967296 * (2097151 & ${b}) + a)::BIGINT)[1])[1]`;
}

/** What {@link assignSplitsSql} reads: a table with one row per data row, and SQL expressions over it. */
export interface SqlSplitInput {
  strategy: SplitInput['strategy'];
  seed: number;
  fractions: SplitInput['fractions'];
  /** The table of rows (e.g. `src`). */
  table: string;
  /** Column of the row's position in file order (BIGINT, unique): the tie-break, as the index is in JS. */
  row: string;
  /** VARCHAR expression of the row id (unique, not NULL). */
  id: string;
  /** VARCHAR expression of the class label: required by `stratified`. */
  label?: string;
  /** DOUBLE expression of the time value (not NULL or NaN): required by `temporal`. */
  time?: string;
  /** VARCHAR expression of the group value (NULL is a group of its own): required by `group`. */
  group?: string;
}

/**
 * {@link assignSplits} in DuckDB: create table `out` (`__row` BIGINT, `split` UTINYINT; rows in `__row` order,
 * so it can be paired with the table by a positional join) with the same split code
 * for every row as {@link assignSplits} gives for the same seed (rows ordered by cyrb53 of the id, computed by
 * {@link cyrb53Sql}; ties by file position), without bringing rows into JavaScript. Row counts per holdout are
 * rounded in JavaScript (Math.round, as in assignSplits). For `group`, the greedy walk over groups in hash
 * order runs in JavaScript on a stream of group sizes (one number per group, never held all at once), and the
 * codes go back as runs of consecutive groups; group ties on the hash are broken by UTF-16 code units, as
 * JavaScript's `<` does.
 * @throws Error when the strategy's expression is missing
 */
export async function assignSplitsSql(
  con: DuckDBConnection,
  input: SqlSplitInput,
  out = 'assign',
): Promise<void> {
  const { seed, fractions, table, row } = input;
  const need = (v: string | undefined, what: string): string => {
    if (v === undefined) throw new Error(`the ${input.strategy} split needs ${what} for every row`);
    return v;
  };
  const n = Number((await readRows(con, `SELECT count(*) AS n FROM ${table}`))[0]!['n']);
  const h = cyrb53Sql(input.id, seed);
  switch (input.strategy) {
    case 'random':
    case 'temporal': {
      const nPublic = Math.round(n * fractions.public);
      const nPrivate = Math.round(n * fractions.private);
      // Temporal: time (+ 0.0 makes -0 equal 0, as JavaScript's subtraction does), then the hash.
      const order = input.strategy === 'temporal' ? '__t + 0.0, __h' : '__h';
      const code =
        input.strategy === 'random'
          ? `CASE WHEN j < ${nPublic} THEN ${PUBLIC} WHEN j < ${nPublic + nPrivate} THEN ${PRIVATE} ELSE ${TRAIN} END`
          : `CASE WHEN j >= ${n - nPrivate} THEN ${PRIVATE} WHEN j >= ${n - nPrivate - nPublic} THEN ${PUBLIC} ELSE ${TRAIN} END`;
      await con.run(
        `CREATE OR REPLACE TABLE ${out} AS SELECT __row, (${code})::UTINYINT AS split FROM (
           SELECT __row, row_number() OVER (ORDER BY ${order}, __row) - 1 AS j FROM (
             SELECT ${row} AS __row, ${h} AS __h${input.strategy === 'temporal' ? `, ${need(input.time, 'a time value')} AS __t` : ''} FROM ${table}))
         ORDER BY __row`,
      );
      return;
    }
    case 'stratified': {
      const label = need(input.label, 'a class label');
      const classes = await readRows(con, `SELECT ${label} AS y, count(*) AS c FROM ${table} GROUP BY 1`);
      const quota = classes
        .map((r) => {
          const c = Number(r['c']);
          const pub = Math.round(c * fractions.public);
          return `(${r['y'] === null ? 'NULL' : lit(String(r['y']))}, ${pub}, ${pub + Math.round(c * fractions.private)})`;
        })
        .join(', ');
      await con.run(
        `CREATE OR REPLACE TABLE ${out} AS SELECT __row, (CASE WHEN j < q.pub THEN ${PUBLIC} WHEN j < q.priv THEN ${PRIVATE} ELSE ${TRAIN} END)::UTINYINT AS split
         FROM (SELECT __row, __y, row_number() OVER (PARTITION BY __y ORDER BY __h, __row) - 1 AS j FROM (
           SELECT ${row} AS __row, ${label} AS __y, ${h} AS __h FROM ${table})) r
         JOIN (VALUES ${quota}) q(y, pub, priv) ON q.y IS NOT DISTINCT FROM r.__y ORDER BY __row`,
      );
      return;
    }
    case 'group': {
      const g = `coalesce(${need(input.group, 'a group value')}, chr(0) || 'null')`;
      await con.run(
        `CREATE OR REPLACE TEMP TABLE __groups AS SELECT __g, count(*)::DOUBLE AS __n FROM (SELECT ${g} AS __g FROM ${table}) GROUP BY __g`,
      );
      await con.run(
        `CREATE OR REPLACE TEMP TABLE __granks AS SELECT __g, __n, row_number() OVER (ORDER BY ${cyrb53Sql('__g', seed)}, ${utf16UnitsSql('__g')}) - 1 AS __k FROM __groups`,
      );
      // The greedy walk of assignSplits, group by group in hash order; runs of equal codes are kept.
      const targetPublic = n * fractions.public;
      const targetPrivate = n * fractions.private;
      let inPublic = 0;
      let inPrivate = 0;
      let k = 0;
      const runStart: number[] = [];
      const runCode: number[] = [];
      await streamDoubleColumns(con, 'SELECT __n FROM __granks ORDER BY __k', 1, ([sizes], m) => {
        for (let r = 0; r < m; r++, k++) {
          const size = sizes![r]!;
          let code = TRAIN;
          if (inPublic + size / 2 <= targetPublic) {
            code = PUBLIC;
            inPublic += size;
          } else if (inPrivate + size / 2 <= targetPrivate) {
            code = PRIVATE;
            inPrivate += size;
          }
          if (runCode.length === 0 || runCode[runCode.length - 1] !== code) {
            runStart.push(k);
            runCode.push(code);
          }
        }
        return true;
      });
      await con.run('CREATE OR REPLACE TEMP TABLE __gruns (lo BIGINT, code UTINYINT)');
      const app = await con.createAppender('__gruns');
      for (let i = 0; i < runStart.length; i++) {
        app.appendBigInt(BigInt(runStart[i]!));
        app.appendUTinyInt(runCode[i]!);
        app.endRow();
      }
      app.closeSync();
      await con.run(
        `CREATE OR REPLACE TABLE ${out} AS SELECT t.__row, c.code AS split FROM (SELECT ${row} AS __row, ${g} AS __g FROM ${table}) t
         JOIN (SELECT gr.__g, r.code FROM __granks gr ASOF JOIN __gruns r ON gr.__k >= r.lo) c USING (__g)
         ORDER BY t.__row`,
      );
      await con.run('DROP TABLE __groups; DROP TABLE __granks; DROP TABLE __gruns');
      return;
    }
  }
}

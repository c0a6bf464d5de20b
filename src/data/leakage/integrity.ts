/**
 * Data-integrity checks of the splits: id-like columns, rows duplicated across train and holdouts, train rows
 * later than holdout rows, and groups that span train and a holdout.
 */
import { ident, readRows } from '../duck.js';
import { count, pct } from './format.js';
import { type Column, num } from './load.js';
import { prepareSample, type ScanContext, timeExpr } from './target.js';
import type { LeakFinding } from './types.js';

/**
 * Columns unique (or nearly) across all rows, or that count rows up or down in file order. Candidates are the
 * columns near-unique in the train sample (a loose HyperLogLog pre-filter); their distinct values are then
 * counted exactly over train and holdouts, and numeric ones correlated with the row number before the exact
 * test of consecutive rows.
 */
export async function scanIdLike(ctx: ScanContext): Promise<LeakFinding[]> {
  const { con, input, frame, th } = ctx;
  const p = ctx.sample ?? (await prepareSample(ctx));
  const n = frame.rows.train + frame.rows.public + frame.rows.private;
  const near = frame.features.filter(
    (c) =>
      c.name !== input.time &&
      c.name !== input.group &&
      p.n > 0 &&
      (p.distinct.get(c.name) ?? 0) >= 0.7 * th.idDistinct * p.n,
  );
  if (near.length === 0 || n < th.idMinRows) return [];
  // An id-like value: an integer, or a short token (no whitespace: not free text). Screened on the sample,
  // then checked with the exact distinct count over all rows.
  const kindSql = (c: Column, i: number) => {
    const x = ident(c.name);
    if (c.type === 'DOUBLE') return `bool_and(${x} = round(${x})) AS k${i}`;
    if (c.type === 'VARCHAR') return `coalesce(sum(regexp_matches(${x}, '\\s')::INT), 0) AS k${i}`;
    return `true AS k${i}`;
  };
  const kindOk = (c: Column, r: Record<string, unknown>, i: number) =>
    c.type === 'BIGINT' ||
    (c.type === 'DOUBLE' && r[`k${i}`] === true) ||
    (c.type === 'VARCHAR' && num(r[`k${i}`]) <= 0.01 * num(r[`c${i}`]));
  const screen = (
    await readRows(
      con,
      `SELECT ${near.map((c, i) => `${kindSql(c, i)}, count(${ident(c.name)}) AS c${i}`).join(', ')} FROM trs`,
    )
  )[0]!;
  const typed = near.filter((c, i) => kindOk(c, screen, i));
  const exact = new Map<string, number>();
  if (typed.length > 0) {
    const names = typed.map((c) => ident(c.name)).join(', ');
    const prof = (
      await readRows(
        con,
        `SELECT ${typed
          .map(
            (c, i) =>
              `count(DISTINCT ${ident(c.name)}) AS e${i}, count(${ident(c.name)}) AS c${i}, ${kindSql(c, i)}`,
          )
          .join(', ')} FROM (SELECT ${names} FROM tr UNION ALL SELECT ${names} FROM ho)`,
      )
    )[0]!;
    for (const [i, c] of typed.entries()) if (kindOk(c, prof, i)) exact.set(c.name, num(prof[`e${i}`]));
  }
  const mono = new Map<string, { up: number; down: number }>();
  const numeric = near.filter((c) => c.numeric);
  if (numeric.length > 0 && frame.rows.train > 1) {
    // A counter correlates with the row number; only those get the consecutive-rows test.
    const cr = (
      await readRows(
        con,
        `SELECT ${numeric.map((c, i) => `corr(${ident(c.name)}::DOUBLE, rowid::DOUBLE) AS r${i}`).join(', ')} FROM tr`,
      )
    )[0]!;
    const cands = numeric.filter((_, i) => Math.abs(num(cr[`r${i}`])) >= 0.5);
    if (cands.length > 0) {
      const r = (
        await readRows(
          con,
          `SELECT ${cands
            .map(
              (_, i) =>
                `coalesce(sum((m${i} > 0)::INT), 0) AS u${i}, coalesce(sum((m${i} < 0)::INT), 0) AS w${i}`,
            )
            .join(', ')} FROM (SELECT ${cands
            .map((c, i) => `${ident(c.name)} - lag(${ident(c.name)}) OVER (ORDER BY rowid) AS m${i}`)
            .join(', ')} FROM tr)`,
        )
      )[0]!;
      const pairs = frame.rows.train - 1;
      for (const [i, c] of cands.entries()) {
        mono.set(c.name, { up: num(r[`u${i}`]) / pairs, down: num(r[`w${i}`]) / pairs });
      }
    }
  }
  const cols = near;
  const out: LeakFinding[] = [];
  for (const c of cols) {
    const m = mono.get(c.name);
    const hint = `drop column "${c.name}" from the features (a model can memorise row identities and order instead of learning), or name it in the contract (data.id, data.time) if that is its role`;
    if (m && Math.max(m.up, m.down) >= th.idMonotonic) {
      const share = Math.max(m.up, m.down);
      const dir = m.up >= m.down ? 'rises' : 'falls';
      out.push({
        guardrail: 'id-like',
        column: c.name,
        message: `Column "${c.name}" is a row counter: it ${dir} between ${pct(share)} of consecutive train rows (≥ ${pct(th.idMonotonic)}).`,
        hint,
        severity: 'warn',
        evidence: {
          kind: 'counter',
          direction: dir === 'rises' ? 'up' : 'down',
          monotonicShare: share,
          threshold: th.idMonotonic,
          rows: frame.rows.train,
        },
      });
      continue;
    }
    const d = exact.get(c.name);
    if (d !== undefined && d / n >= th.idDistinct) {
      out.push({
        guardrail: 'id-like',
        column: c.name,
        message: `Column "${c.name}" looks like an id: ${count(d)} distinct values in ${count(n)} rows of train and holdouts (${pct(d / n)} ≥ ${pct(th.idDistinct)}).`,
        hint,
        severity: 'warn',
        evidence: {
          kind: 'unique',
          distinct: d,
          rows: n,
          distinctShare: d / n,
          threshold: th.idDistinct,
          type: c.type,
        },
      });
    }
  }
  return out;
}

/**
 * Holdout rows whose feature vector (every column but the id and the target) also appears in train. When one
 * trips, the evidence also gives the share of train rows repeated within train (`trainRepeatShare`): high on a
 * small feature space, where identical rows are natural rather than copied.
 */
export async function scanDuplicates(ctx: ScanContext): Promise<LeakFinding[]> {
  const { con, input, frame, th } = ctx;
  const cols = frame.features;
  if (cols.length === 0) return [];
  const on = cols.map((c) => `t.${ident(c.name)} IS NOT DISTINCT FROM h.${ident(c.name)}`).join(' AND ');
  const id = ident(input.idColumn);
  // Two stages, so the join never builds a hash table of every train row with all its columns: holdout rows
  // whose feature hash (DuckDB's hash() of all feature columns: NULL equals NULL, -0 equals 0, as IS NOT
  // DISTINCT FROM) is among train's are the candidates; they are then compared column by column with the train
  // rows of the same hash, so a hash collision never counts as a duplicate.
  const fh = (q: string) => `hash(${cols.map((c) => `${q}${ident(c.name)}`).join(', ')})`;
  await con.run(
    `CREATE OR REPLACE TEMP TABLE __dupc AS SELECT h.* FROM (SELECT *, ${fh('')} AS __fh FROM ho) AS h
       SEMI JOIN (SELECT ${fh('')} AS __fh FROM tr) AS t ON t.__fh = h.__fh`,
  );
  const rows = await readRows(
    con,
    `SELECT h.__split AS s, count(*) AS n, min(h.${id}, 5) AS ex FROM __dupc AS h
       SEMI JOIN (SELECT * FROM tr WHERE ${fh('')} IN (SELECT __fh FROM __dupc)) AS t ON ${on} GROUP BY h.__split`,
  );
  await con.run('DROP TABLE __dupc');
  const out: LeakFinding[] = [];
  // How often train repeats its own rows: high when the feature space is small (a few categorical columns),
  // where identical rows are natural; reported so a person can tell that from copied records.
  let trainRepeat: number | null = null;
  for (const [code, split] of [
    [1, 'public'],
    [2, 'private'],
  ] as const) {
    const r = rows.find((x) => num(x['s']) === code);
    const dup = r ? num(r['n']) : 0;
    const total = frame.rows[split];
    if (total === 0) continue;
    const share = dup / total;
    if (share <= th.duplicateWarn) continue;
    if (trainRepeat === null) {
      const names = cols.map((c) => ident(c.name)).join(', ');
      const t = await readRows(
        con,
        `SELECT coalesce(sum(CASE WHEN c > 1 THEN c END), 0) AS d FROM (SELECT count(*) AS c FROM tr GROUP BY ${names})`,
      );
      trainRepeat = frame.rows.train === 0 ? 0 : num(t[0]!['d']) / frame.rows.train;
    }
    const severity = share > th.duplicateBlock ? 'block' : 'warn';
    const natural =
      trainRepeat > th.duplicateWarn
        ? `; train itself repeats ${pct(trainRepeat)} of its rows, so the feature space may simply be small`
        : '';
    out.push({
      guardrail: 'duplicate-rows',
      column: null,
      message: `${count(dup)} of ${count(total)} ${split} holdout rows (${pct(share)}) repeat a train row exactly in every column but the id and the target (${severity === 'block' ? `block above ${pct(th.duplicateBlock)}` : `warn above ${pct(th.duplicateWarn)}`}${natural}).`,
      hint: 'deduplicate the data on its feature columns before `ratchet init`, or split by a group column (split.strategy: group) so copies land in one split; a model scores these rows by memory',
      severity,
      evidence: {
        split,
        duplicated: dup,
        holdoutRows: total,
        share,
        warnAbove: th.duplicateWarn,
        blockAbove: th.duplicateBlock,
        trainRepeatShare: trainRepeat,
        exampleIds: (r?.['ex'] as unknown[] | undefined)?.map(String) ?? [],
      },
    });
  }
  return out;
}

/**
 * Train rows later than the earliest holdout row by the time column. Checked when the contract names a time
 * column and the split is random, stratified or temporal; a group split takes the time column as the order of
 * rows within a group (a panel), not as a forecasting boundary.
 */
export async function scanTemporal(ctx: ScanContext): Promise<LeakFinding[]> {
  const { con, input, frame, th } = ctx;
  if (!input.time || input.strategy === 'group') return [];
  const col = frame.columns.find((c) => c.name === input.time);
  if (!col) throw new Error(`the splits have no time column "${input.time}"`);
  const te = timeExpr(col);
  const t = ident(col.name);
  const r = (
    await readRows(
      con,
      `WITH a AS (SELECT ${te} AS te, ${t}::VARCHAR AS tv FROM tr), b AS (SELECT ${te} AS te, ${t}::VARCHAR AS tv FROM ho),
       lim AS (SELECT (SELECT min(te) FROM b) AS minh, (SELECT max(te) FROM a) AS maxt)
       SELECT (SELECT count(*) FROM a, lim WHERE a.te > lim.minh) AS later, (SELECT count(te) FROM a) AS trn,
         (SELECT count(*) FROM b, lim WHERE b.te < lim.maxt) AS earlier, (SELECT count(te) FROM b) AS hon,
         (SELECT arg_min(tv, te) FROM b) AS first_holdout, (SELECT arg_max(tv, te) FROM a) AS last_train`,
    )
  )[0]!;
  const later = num(r['later']);
  const trn = num(r['trn']);
  if (trn === 0) return [];
  const share = later / trn;
  if (!(share > th.temporalShare)) return [];
  return [
    {
      guardrail: 'temporal-ordering',
      column: col.name,
      message: `${count(later)} of ${count(trn)} train rows (${pct(share)}) are later by "${col.name}" than the earliest holdout row (${String(r['first_holdout'])}) under the ${input.strategy} split.`,
      hint: 'use split.strategy: temporal so every holdout row is later than every train row (or remove data.time if the rows are not ordered in time); a model trained on the future scores too well on the past',
      severity: 'block',
      evidence: {
        trainLater: later,
        trainRows: trn,
        share,
        threshold: th.temporalShare,
        earliestHoldout: r['first_holdout'],
        latestTrain: r['last_train'],
        holdoutEarlier: num(r['earlier']),
        holdoutRows: num(r['hon']),
        strategy: input.strategy,
      },
    },
  ];
}

/**
 * Groups with rows in train and in a holdout. Checked when the contract names a group column and the split is
 * random, stratified or group; a temporal split of a panel keeps each group's past in train by design.
 */
export async function scanGroups(ctx: ScanContext): Promise<LeakFinding[]> {
  const { con, input, frame, th } = ctx;
  if (!input.group || input.strategy === 'temporal') return [];
  const col = frame.columns.find((c) => c.name === input.group);
  if (!col) throw new Error(`the splits have no group column "${input.group}"`);
  const g = ident(col.name);
  const r = (
    await readRows(
      con,
      `WITH tg AS (SELECT DISTINCT ${g}::VARCHAR AS g FROM tr WHERE ${g} IS NOT NULL),
       h AS (SELECT ${g}::VARCHAR AS g, ${g}::VARCHAR IN (SELECT g FROM tg) AS shared FROM ho WHERE ${g} IS NOT NULL)
       SELECT count(DISTINCT g) AS groups, count(DISTINCT g) FILTER (WHERE shared) AS sg, count(*) AS rows,
         count(*) FILTER (WHERE shared) AS sr,
         (SELECT list(g) FROM (SELECT DISTINCT g FROM h WHERE shared ORDER BY g LIMIT 5)) AS ex FROM h`,
    )
  )[0]!;
  const holdoutRows = frame.rows.public + frame.rows.private;
  const sr = num(r['sr']);
  const share = holdoutRows === 0 ? 0 : sr / holdoutRows;
  if (!(share > th.groupShare)) return [];
  const groups = num(r['groups']);
  const sg = num(r['sg']);
  const ex = ((r['ex'] as unknown[] | null) ?? []).map(String);
  return [
    {
      guardrail: 'group-overlap',
      column: col.name,
      message: `${count(sg)} of ${count(groups)} holdout groups of "${col.name}" (${pct(sg / groups)}) also have train rows, covering ${count(sr)} of ${count(holdoutRows)} holdout rows (${pct(share)}).`,
      hint: `use split.strategy: group (data.group: ${col.name}) so all rows of a group land in one split; a model that has seen a group's other rows scores it by memory`,
      severity: 'block',
      evidence: {
        sharedGroups: sg,
        holdoutGroups: groups,
        sharedRows: sr,
        holdoutRows,
        share,
        threshold: th.groupShare,
        exampleGroups: ex,
        strategy: input.strategy,
      },
    },
  ];
}

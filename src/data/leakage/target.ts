/**
 * Target leakage: single features that give the target away on the train split (AUROC, value purity, range
 * purity, correlations, correlation ratio), and features that hold a neighbouring row's target (the target
 * shifted by ±1 along time within group).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { ident, lit, readRows } from '../duck.js';
import { count, pct, stat } from './format.js';
import { type Column, type Frame, num } from './load.js';
import type { LeakFinding, LeakThresholds, ScanInput } from './types.js';

/** What the target checks need: the loaded tables, the input and the thresholds. */
export interface ScanContext {
  con: DuckDBConnection;
  input: ScanInput;
  frame: Frame;
  th: LeakThresholds;
  /** Called with every statistic computed, tripped or not (for calibration and reports). */
  onStatistic?: (column: string, test: string, value: number) => void;
  /** Called after each sub-step with its name and milliseconds. */
  onStep?: (step: string, ms: number) => void;
  /** The train sample's profile, set by {@link prepareSample}. */
  sample?: SampleProfile;
  /** Connections to the same database for per-feature queries run side by side (default: `con` alone). */
  cons?: DuckDBConnection[];
}

/**
 * Run `fn` on every feature, one feature per connection of `ctx.cons` at a time (small per-feature queries
 * leave DuckDB's threads idle between steps; two in flight keep both cores busy).
 * @returns the non-null results, in feature order
 */
async function eachFeature<T>(
  ctx: ScanContext,
  fn: (f: Column, con: DuckDBConnection) => Promise<T | null>,
): Promise<T[]> {
  const feats = ctx.frame.features;
  const out: (T | null)[] = feats.map(() => null);
  let next = 0;
  await Promise.all(
    (ctx.cons ?? [ctx.con]).map(async (con) => {
      while (next < feats.length) {
        const i = next++;
        out[i] = await fn(feats[i]!, con);
      }
    }),
  );
  return out.filter((x): x is T => x !== null);
}

/** Rows, non-empty counts and approximate distinct counts of the features in the train sample `trs`. */
export interface SampleProfile {
  n: number;
  nonNull: Map<string, number>;
  /** approx_count_distinct (HyperLogLog: can be off by 15 %). */
  distinct: Map<string, number>;
  /** The sample is smaller than train. */
  sampled: boolean;
}

/**
 * SQL condition keeping a deterministic sample of about `maxRows` train rows (by a hash of the row number `pos`),
 * or every row when train is not larger.
 */
function sampleCond(ctx: ScanContext, pos: string): string {
  const { th, frame } = ctx;
  if (frame.rows.train <= th.maxRows) return 'true';
  const mod = 1_000_003;
  return `hash(${pos}) % ${mod} < ${Math.ceil((mod * th.maxRows) / frame.rows.train)}`;
}

/** Time `fn` and report it through `ctx.onStep`. */
export async function timed<T>(ctx: ScanContext, step: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  ctx.onStep?.(step, performance.now() - t0);
  return out;
}

/** A single-feature test that tripped. */
interface Trip {
  column: Column;
  test: 'auroc' | 'value-purity' | 'range-purity' | 'pearson' | 'spearman' | 'correlation-ratio';
  /** The statistic's name as printed. */
  label: string;
  value: number;
  threshold: number;
  rows: number;
  extra: Record<string, unknown>;
}

const WINDOW_ROWS = 'ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW';

const leakHint = (col: string) =>
  `drop column "${col}" from the data (or rebuild it from information available before the target is known): it gives the target away, so scores look great here and fail on new data`;

/**
 * Screening statistics of a numeric feature for classification, in one query over the train sample `trs`
 * (features and `__y`): per class, the rank sum of its non-empty rows among the non-empty values and its count
 * of empty rows (enough for the AUROC with empties first or last); the number of label changes along the sorted
 * values (a bound on the range purity); and, when `valueMin` is set, the value purity.
 */
function screenSql(x: string, valueMin: number | null): string {
  const vp =
    valueMin === null
      ? ''
      : `, vp AS (SELECT sum(mx) AS hit, sum(tot) AS cov, count(*) AS nv FROM (SELECT xk, max(n) AS mx, sum(n) AS tot FROM g GROUP BY xk HAVING sum(n) >= ${valueMin}))`;
  return `WITH g AS MATERIALIZED (SELECT ${x}::DOUBLE AS xk, __y AS y, count(*)::DOUBLE AS n FROM trs GROUP BY ALL),
    gx AS (SELECT xk, sum(n) AS nx, arg_max(y, n) AS m FROM g WHERE xk IS NOT NULL GROUP BY xk),
    cx AS MATERIALIZED (SELECT xk, nx, sum(nx) OVER w - nx AS below, (m IS DISTINCT FROM lag(m) OVER w)::INT AS chg
      FROM gx WINDOW w AS (ORDER BY xk ${WINDOW_ROWS})),
    rs AS (SELECT g.y AS y, sum(g.n) AS pos, sum(g.n * (cx.below + (cx.nx + 1) / 2)) AS r FROM g JOIN cx USING (xk) GROUP BY g.y),
    nl AS (SELECT y, sum(n) AS c FROM g WHERE xk IS NULL GROUP BY y),
    per AS (SELECT list({'y': y, 'pos': coalesce(rs.pos, 0), 'r': coalesce(rs.r, 0), 'nul': coalesce(nl.c, 0)}) AS per FROM rs FULL JOIN nl USING (y))${vp}
    SELECT per.per, (SELECT coalesce(sum(chg), 0) FROM cx) AS changes${valueMin === null ? '' : ', vp.hit AS vp_hit, vp.cov AS vp_cov, vp.nv AS vp_nv'}
    FROM per${valueMin === null ? '' : ', vp'}`;
}

/** Most classes for which {@link screenWideSql} spells out one column per class. */
const WIDE_CLASSES = 20;

/**
 * {@link screenSql} for few classes: one aggregate per distinct value with a count column per class, one sort.
 * Returns per class j: s{j} (non-empty rows), r{j} (rank sum), z{j} (empty rows); `changes`; value purity.
 */
function screenWideSql(x: string, classes: string[], valueMin: number | null): string {
  const js = classes.map((_, j) => j);
  const ps = js.map((j) => `p${j}`).join(', ');
  return `WITH g AS MATERIALIZED (SELECT ${x}::DOUBLE AS xk, count(*)::DOUBLE AS nx, ${classes
    .map((c, j) => `sum((__y = ${lit(c)})::INT)::DOUBLE AS p${j}`)
    .join(', ')} FROM trs GROUP BY 1),
    cx AS (SELECT nx, ${ps}, sum(nx) OVER w - nx AS below,
      (list_position([${ps}], greatest(${ps})) IS DISTINCT FROM lag(list_position([${ps}], greatest(${ps}))) OVER w)::INT AS chg
      FROM g WHERE xk IS NOT NULL WINDOW w AS (ORDER BY xk ${WINDOW_ROWS}))
    SELECT ${js.map((j) => `sum(p${j}) AS s${j}, sum(p${j} * (below + (nx + 1) / 2)) AS r${j}, (SELECT coalesce(sum(p${j}), 0) FROM g WHERE xk IS NULL) AS z${j}`).join(', ')},
      coalesce(sum(chg), 0) AS changes${
        valueMin === null
          ? ''
          : `, (SELECT sum(greatest(${ps})) FROM g WHERE nx >= ${valueMin}) AS vp_hit, (SELECT sum(nx) FROM g WHERE nx >= ${valueMin}) AS vp_cov, (SELECT count(*) FROM g WHERE nx >= ${valueMin}) AS vp_nv`
      }
    FROM cx`;
}

/** Value purity of a feature for classification (values with at least `valueMin` rows; empty is a value). */
function valuePuritySql(x: string, valueMin: number): string {
  return `SELECT sum(mx) AS vp_hit, sum(tot) AS vp_cov, count(*) AS vp_nv FROM (
    SELECT x, max(n) AS mx, sum(n) AS tot FROM (SELECT ${x} AS x, __y AS y, count(*)::DOUBLE AS n FROM trs GROUP BY ALL)
    GROUP BY x HAVING sum(n) >= ${valueMin})`;
}

/**
 * Range purity of a numeric feature (empty values as one value below all others): values in order, each with
 * its majority label; consecutive values with the same majority label form a run. A run of at least `runRows`
 * rows is a range of that label. Shorter runs inside a range (between long runs of the same label, or before the
 * first / after the last) belong to it; shorter runs between long runs of different labels count as misses (a
 * conservative stand-in for the best cut). Hits: rows whose label is their range's label.
 */
function rangePuritySql(x: string, runRows: number): string {
  const big = `size >= ${runRows}`;
  return `WITH k AS MATERIALIZED (SELECT coalesce(${x}::DOUBLE, '-inf'::DOUBLE) AS xk, __y AS y, count(*)::DOUBLE AS n FROM trs GROUP BY ALL),
    v AS (SELECT xk, first(y ORDER BY n DESC, y) AS m FROM k GROUP BY xk),
    vr AS (SELECT xk, sum(chg) OVER (ORDER BY xk ${WINDOW_ROWS}) AS run
      FROM (SELECT xk, (m IS DISTINCT FROM lag(m) OVER (ORDER BY xk))::INT AS chg FROM v)),
    rc AS (SELECT vr.run, k.y, sum(k.n) AS c FROM k JOIN vr USING (xk) GROUP BY ALL),
    runs AS (SELECT run, first(y ORDER BY c DESC, y) AS m, sum(c) AS size FROM rc GROUP BY run),
    rl AS (SELECT run, m, ${big} AS big,
      last_value(CASE WHEN ${big} THEN m END IGNORE NULLS) OVER (ORDER BY run ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prevbig,
      first_value(CASE WHEN ${big} THEN m END IGNORE NULLS) OVER (ORDER BY run ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS nextbig
      FROM runs)
    SELECT sum(h) AS hit, count(*) FILTER (WHERE big AND m IS DISTINCT FROM prevbig) AS segs FROM (
      SELECT rl.run, any_value(rl.big) AS big, any_value(rl.m) AS m, any_value(rl.prevbig) AS prevbig,
        coalesce(max(rc.c) FILTER (WHERE CASE WHEN rl.big THEN rc.y = rl.m
          WHEN rl.prevbig IS NULL OR rl.nextbig IS NULL OR rl.prevbig = rl.nextbig THEN rc.y = coalesce(rl.prevbig, rl.nextbig)
          ELSE false END), 0) AS h
      FROM rl JOIN rc USING (run) GROUP BY rl.run)`;
}

interface ClassRanks {
  y: string;
  /** Non-empty rows of the class. */
  pos: number;
  /** Rank sum of those rows among the non-empty values (average ranks for ties). */
  r: number;
  /** Empty rows of the class. */
  nul: number;
}

/**
 * Oriented AUROC (max(a, 1 − a)) of the raw value: binary for the positive class, else the one-vs-rest macro
 * average; empty values ranked first and last, the higher of the two kept.
 */
function aurocOf(per: unknown, ctx: ScanContext): number | null {
  const rows = ((per as ClassRanks[] | null) ?? []).map((c) => ({
    y: String(c.y),
    pos: num(c.pos),
    r: num(c.r),
    nul: num(c.nul),
  }));
  const { th, frame } = ctx;
  const nn = rows.reduce((s, c) => s + c.pos, 0);
  const nul = rows.reduce((s, c) => s + c.nul, 0);
  const n = nn + nul;
  const placements = nul > 0 ? ['first', 'last'] : ['first'];
  let best: number | null = null;
  for (const place of placements) {
    const one = (c: (typeof rows)[number]) => {
      const p = c.pos + c.nul;
      if (p < th.minClassRows || n - p < th.minClassRows) return null;
      const r =
        place === 'first' ? c.r + nul * c.pos + (c.nul * (nul + 1)) / 2 : c.r + c.nul * (nn + (nul + 1) / 2);
      const a = (r - (p * (p + 1)) / 2) / (p * (n - p));
      return Math.max(a, 1 - a);
    };
    let auc: number | null;
    if (frame.positive !== null) {
      const c = rows.find((x) => x.y === frame.positive);
      auc = c ? one(c) : null;
    } else {
      const each = rows.map(one).filter((a): a is number => a !== null);
      auc = each.length < 2 ? null : each.reduce((s, a) => s + a, 0) / each.length;
    }
    if (auc !== null && (best === null || auc > best)) best = auc;
  }
  return best;
}

/**
 * Define the view `trs` (the features and `__y` of a deterministic sample of at most `maxRows` train rows) and
 * profile it; the result is also stored in `ctx.sample`.
 */
export async function prepareSample(ctx: ScanContext): Promise<SampleProfile> {
  const { con, input, frame, th } = ctx;
  const cols = frame.features.map((f) => ident(f.name)).join(', ');
  await con.run(
    `CREATE OR REPLACE VIEW trs AS SELECT ${cols}${cols ? ', ' : ''}${ident(input.target)} AS __y FROM tr WHERE ${sampleCond(ctx, 'rowid')}`,
  );
  const feats = frame.features;
  const r = (
    await readRows(
      con,
      `SELECT count(*) AS n${feats
        .map((f, i) => `, count(${ident(f.name)}) AS c${i}, approx_count_distinct(${ident(f.name)}) AS d${i}`)
        .join('')} FROM trs`,
    )
  )[0]!;
  const nonNull = new Map<string, number>();
  const distinct = new Map<string, number>();
  for (const [i, f] of feats.entries()) {
    nonNull.set(f.name, num(r[`c${i}`]));
    distinct.set(f.name, num(r[`d${i}`]));
  }
  ctx.sample = { n: num(r['n']), nonNull, distinct, sampled: frame.rows.train > th.maxRows };
  return ctx.sample;
}

async function classificationTrips(ctx: ScanContext, n: number, p: SampleProfile): Promise<Trip[]> {
  const { con, th, frame } = ctx;
  const baseRows = await readRows(
    con,
    'SELECT max(c) AS m FROM (SELECT count(*) AS c FROM trs GROUP BY __y)',
  );
  const base = num(baseRows[0]!['m']) / n;
  const lift = (purity: number) => (base >= 1 ? 0 : (purity - base) / (1 - base));
  // A range purity ≥ purity leaves at most (1 − purity)·n misses; every short run costs at least one miss and
  // there are at most n / minRunRows long runs, so the label changes along the sorted values are bounded. The
  // screen breaks ties of a value's majority label arbitrarily (each tie adds at most two changes and is itself
  // a miss) and leaves out the empty values (two changes): more changes than this and the range purity cannot trip.
  const maxChanges = 3 * (1 - th.purity) * n + n / th.minRunRows + 4;
  return eachFeature(ctx, async (f, con) => {
    const nonNull = p.nonNull.get(f.name)!;
    if (nonNull < th.minRows) return null;
    const x = ident(f.name);
    // Approximate distinct count (HyperLogLog, ±15 %): the coverage rule of the value purity (values with
    // minValueRows rows must cover minValueCoverage of the rows) is what really keeps near-unique columns out.
    const valueOk = p.distinct.get(f.name)! / nonNull < th.nearUnique;
    const valueMin = valueOk ? th.minValueRows : null;
    if (!f.numeric && valueMin === null) return null; // near-unique text: no single-feature test applies
    const classes = frame.classes ?? [];
    const wide = classes.length <= WIDE_CLASSES;
    const sql = !f.numeric
      ? valuePuritySql(x, valueMin!)
      : wide
        ? screenWideSql(x, classes, valueMin)
        : screenSql(x, valueMin);
    const r = (await readRows(con, sql))[0];
    if (!r) return null;
    const found: Trip[] = [];
    if (f.numeric) {
      const per = wide
        ? classes.map((y, j) => ({ y, pos: r[`s${j}`] ?? 0, r: r[`r${j}`] ?? 0, nul: r[`z${j}`] ?? 0 }))
        : r['per'];
      const auc = aurocOf(per, ctx);
      if (auc !== null) ctx.onStatistic?.(f.name, 'auroc', auc);
      if (auc !== null && auc >= th.auroc) {
        found.push({
          column: f,
          test: 'auroc',
          label: frame.positive !== null ? 'AUROC' : 'one-vs-rest macro AUROC',
          value: auc,
          threshold: th.auroc,
          rows: n,
          extra: {},
        });
      }
      if (num(r['changes']) <= maxChanges) {
        const rp = (await readRows(con, rangePuritySql(x, th.minRunRows)))[0]!;
        const segs = num(rp['segs']);
        const purity = num(rp['hit']) / n;
        ctx.onStatistic?.(f.name, 'range-purity', purity);
        if (segs >= 2 && purity >= th.purity && lift(purity) >= th.purityLift) {
          found.push({
            column: f,
            test: 'range-purity',
            label: `purity over ${segs} value ranges`,
            value: purity,
            threshold: th.purity,
            rows: n,
            extra: { ranges: segs, lift: lift(purity), majorityShare: base },
          });
        }
      }
    }
    if (valueMin !== null) {
      const cov = num(r['vp_cov']);
      const nv = num(r['vp_nv']);
      if (cov >= th.minValueCoverage * n && cov >= th.minRows && nv >= 1) {
        const purity = num(r['vp_hit']) / cov;
        ctx.onStatistic?.(f.name, 'value-purity', purity);
        if (purity >= th.purity && lift(purity) >= th.purityLift) {
          found.push({
            column: f,
            test: 'value-purity',
            label: `value purity over ${nv} values`,
            value: purity,
            threshold: th.purity,
            rows: cov,
            extra: { values: nv, lift: lift(purity), majorityShare: base },
          });
        }
      }
    }
    if (found.length === 0) return null;
    return {
      ...found[0]!,
      extra: {
        ...found[0]!.extra,
        alsoTripped: found.slice(1).map((t) => ({ test: t.test, value: t.value })),
      },
    };
  });
}

async function regressionTrips(ctx: ScanContext, n: number, p: SampleProfile): Promise<Trip[]> {
  const { con, th, frame } = ctx;
  const numeric = frame.features.filter((f) => f.numeric && p.nonNull.get(f.name)! >= th.minRows);
  const pearson = new Map<string, { r: number; n: number }>();
  if (numeric.length > 0) {
    const r = (
      await readRows(
        con,
        `SELECT ${numeric.map((f, i) => `corr(${ident(f.name)}::DOUBLE, __y) AS p${i}, count(${ident(f.name)}) AS n${i}`).join(', ')} FROM trs`,
      )
    )[0]!;
    for (const [i, f] of numeric.entries()) pearson.set(f.name, { r: num(r[`p${i}`]), n: num(r[`n${i}`]) });
  }
  const mu = num((await readRows(con, 'SELECT avg(__y) AS m FROM trs'))[0]!['m']);
  await con.run(
    `CREATE OR REPLACE TABLE __ry AS SELECT y, sum(n) OVER (ORDER BY y ${WINDOW_ROWS}) - n + (n + 1) / 2.0 AS r FROM (SELECT __y AS y, count(*) AS n FROM trs GROUP BY __y)`,
  );
  return eachFeature(ctx, async (f, con) => {
    const nonNull = p.nonNull.get(f.name)!;
    if (nonNull < th.minRows) return null;
    const x = ident(f.name);
    const found: Trip[] = [];
    if (f.numeric) {
      const pr = pearson.get(f.name)!;
      const ry =
        nonNull === n
          ? '__ry'
          : `(SELECT y, sum(n) OVER (ORDER BY y ${WINDOW_ROWS}) - n + (n + 1) / 2.0 AS r FROM (SELECT y, count(*) AS n FROM p GROUP BY y))`;
      const sp = (
        await readRows(
          con,
          `WITH p AS (SELECT ${x}::DOUBLE AS x, __y AS y FROM trs WHERE ${x} IS NOT NULL AND isfinite(${x}::DOUBLE)),
           rx AS (SELECT x, sum(n) OVER (ORDER BY x ${WINDOW_ROWS}) - n + (n + 1) / 2.0 AS r FROM (SELECT x, count(*) AS n FROM p GROUP BY x))
           SELECT corr(rx.r, ry.r) AS rho FROM p JOIN rx USING (x) JOIN ${ry} AS ry USING (y)`,
        )
      )[0];
      const rho = sp ? num(sp['rho']) : Number.NaN;
      ctx.onStatistic?.(f.name, 'pearson', Math.abs(pr.r));
      ctx.onStatistic?.(f.name, 'spearman', Math.abs(rho));
      if (Math.abs(pr.r) >= th.correlation) {
        found.push({
          column: f,
          test: 'pearson',
          label: '|Pearson|',
          value: Math.abs(pr.r),
          threshold: th.correlation,
          rows: pr.n,
          extra: { pearson: pr.r, spearman: rho },
        });
      } else if (Math.abs(rho) >= th.correlation) {
        found.push({
          column: f,
          test: 'spearman',
          label: '|Spearman|',
          value: Math.abs(rho),
          threshold: th.correlation,
          rows: pr.n,
          extra: { pearson: pr.r, spearman: rho },
        });
      }
    }
    if (found.length === 0 && p.distinct.get(f.name)! / nonNull < th.nearUnique) {
      const r = (
        await readRows(
          con,
          `SELECT sum(n) AS cov, count(*) AS nv, sum(sy2) - sum(sy) * sum(sy) / sum(n) AS sst, sum(sy * sy / n) - sum(sy) * sum(sy) / sum(n) AS ssb
           FROM (SELECT ${x} AS x, count(*)::DOUBLE AS n, sum(__y - ${mu}) AS sy, sum((__y - ${mu}) * (__y - ${mu})) AS sy2 FROM trs GROUP BY ${x} HAVING count(*) >= ${th.minValueRows})`,
        )
      )[0];
      const cov = r ? num(r['cov']) : 0;
      const sst = r ? num(r['sst']) : 0;
      if (r && cov >= th.minValueCoverage * n && cov >= th.minRows && sst > 0) {
        const eta = Math.sqrt(Math.max(0, num(r['ssb']) / sst));
        ctx.onStatistic?.(f.name, 'correlation-ratio', eta);
        if (eta >= th.correlation) {
          found.push({
            column: f,
            test: 'correlation-ratio',
            label: `correlation ratio over ${num(r['nv'])} values`,
            value: eta,
            threshold: th.correlation,
            rows: cov,
            extra: { values: num(r['nv']) },
          });
        }
      }
    }
    return found[0] ?? null;
  });
}

/** How the flagged feature relates to the target: an exact copy, a one-to-one recoding/transform, or neither. */
async function relation(
  ctx: ScanContext,
  t: Trip,
): Promise<{ relation: 'copy' | 'recoding' | 'linear' | 'monotonic' | null; equalShare: number }> {
  const x = ident(t.column.name);
  const regression = ctx.input.task === 'regression';
  const eq = t.column.numeric
    ? `${x}::DOUBLE = TRY_CAST(__y AS DOUBLE)`
    : regression
      ? `TRY_CAST(${x} AS DOUBLE) = __y`
      : `${x} = __y`;
  const r = (
    await readRows(
      ctx.con,
      `WITH g AS MATERIALIZED (SELECT ${x} AS x, __y AS y, count(*)::DOUBLE AS n, count(*) FILTER (WHERE ${eq}) AS same FROM trs GROUP BY ALL)
       SELECT (SELECT sum(n) FROM g) AS n, (SELECT sum(same) FROM g) AS same,
         (SELECT sum(mx) FROM (SELECT max(n) AS mx FROM g GROUP BY x)) AS fwd,
         (SELECT sum(mx) FROM (SELECT max(n) AS mx FROM g GROUP BY y)) AS rev`,
    )
  )[0]!;
  const n = num(r['n']);
  const equalShare = num(r['same']) / n;
  if (equalShare === 1) return { relation: 'copy', equalShare };
  const exact = 1 - 1e-9;
  if (!regression && num(r['fwd']) === n && num(r['rev']) === n) return { relation: 'recoding', equalShare };
  if (regression && t.test === 'pearson' && t.value >= exact) return { relation: 'linear', equalShare };
  if (regression && Math.abs(num(t.extra['spearman'])) >= exact) return { relation: 'monotonic', equalShare };
  return { relation: null, equalShare };
}

function tripFinding(
  ctx: ScanContext,
  t: Trip,
  rel: Awaited<ReturnType<typeof relation>>,
  sampled: boolean,
): LeakFinding {
  const col = t.column.name;
  const target = ctx.input.target;
  const on = `${count(t.rows)}${sampled ? ' sampled' : ''} train rows`;
  const measured = `${t.label} ${stat(t.value)} ≥ ${t.threshold}`;
  let message: string;
  switch (rel.relation) {
    case 'copy':
      message = `Column "${col}" is a copy of the target "${target}": equal on ${pct(rel.equalShare)} of ${on} (${measured}).`;
      break;
    case 'recoding':
      message = `Column "${col}" is a one-to-one recoding of the target "${target}" (${measured} on ${on}).`;
      break;
    case 'linear':
      message = `Column "${col}" is a linear transform of the target "${target}" (${measured} on ${on}).`;
      break;
    case 'monotonic':
      message = `Column "${col}" is a monotonic transform of the target "${target}" (${measured} on ${on}).`;
      break;
    default:
      message = `Column "${col}" predicts the target "${target}" almost perfectly on its own (${measured} on ${on}).`;
  }
  return {
    guardrail: 'target-leakage',
    column: col,
    message,
    hint: leakHint(col),
    severity: 'block',
    evidence: {
      test: t.test,
      statistic: t.value,
      threshold: t.threshold,
      rows: t.rows,
      sampled,
      relation: rel.relation,
      equalShare: rel.equalShare,
      ...t.extra,
    },
  };
}

/** SQL for the time value of the time column (numbers as they are, dates/timestamps as epoch seconds). */
export function timeExpr(col: Column, qualifier = ''): string {
  const c = `${qualifier}${ident(col.name)}`;
  return col.numeric ? `${c}::DOUBLE` : `epoch(TRY_CAST(${c} AS TIMESTAMP))`;
}

/** Features that equal the previous or next row's target (the target shifted by one row along time within group). */
async function shiftedTargets(ctx: ScanContext, skip: Set<string>): Promise<LeakFinding[]> {
  const { con, input, frame, th } = ctx;
  const targetNumeric =
    input.task === 'regression' ||
    (frame.classes ?? []).every((c) => c.trim() !== '' && Number.isFinite(Number(c)));
  const feats = frame.features.filter((f) => !skip.has(f.name) && (!f.numeric || targetNumeric));
  if (feats.length === 0) return [];
  const id = ident(input.idColumn);
  const timeCol = input.time ? frame.columns.find((c) => c.name === input.time) : undefined;
  // The neighbours' targets come from all labelled rows (train and holdouts with their vault labels) in one
  // narrow window; the comparison then runs on the train rows of the sample.
  const keys = (q: string) => [
    ...(input.group ? [`${q}${ident(input.group)}::VARCHAR AS __g`] : []),
    ...(timeCol ? [`${timeExpr(timeCol, q)} AS __te`] : []),
    ...(frame.idOrdersRows ? [`TRY_CAST(${q}${id} AS DOUBLE) AS __ik`] : []),
  ];
  const order = [...(timeCol ? ['__te'] : []), ...(frame.idOrdersRows ? ['__ik'] : []), '__split', '__pos'];
  // With groups, whole groups are sampled (their sequences stay complete); without, every row is ordered and
  // the train rows of the sample compared.
  const labelled = frame.rows.train + frame.rows.public + frame.rows.private;
  const mod = 1_000_003;
  const groupSample =
    input.group && labelled > th.maxRows
      ? `WHERE hash(__g) % ${mod} < ${Math.ceil((mod * th.maxRows) / labelled)}`
      : '';
  const rowSample = input.group ? 'true' : sampleCond(ctx, '__pos');
  // All labelled rows (or the sampled groups) are sorted once into a table, whose rowid is then the position
  // along the order (insertion order is kept); a row's neighbours are the rows at rowid ± 1 of the same group.
  // This is lag/lead over the same window, but the sort can spill to disk where a window over all rows could not
  // (a one-partition window holds its rows in memory: out of memory at 3M rows per holdout under a 128MB limit).
  // (The join with the vault and the sort run as two statements: in one, the join's and the sort's pinned
  // blocks together did not fit the limit.)
  await con.run(
    `CREATE OR REPLACE TEMP TABLE __lab0 AS
     SELECT * FROM (
       SELECT 0::UTINYINT AS __split, rowid AS __pos, ${[...keys(''), `${ident(input.target)}::VARCHAR AS __t`].join(', ')} FROM tr
       UNION ALL
       SELECT ho.__split, ho.rowid AS __pos, ${[...keys('ho.'), 'vault.label::VARCHAR AS __t'].join(', ')}
       FROM ho LEFT JOIN vault ON vault.__split = ho.__split AND vault.id = ho.${id}) ${groupSample}`,
  );
  await con.run(
    `CREATE OR REPLACE TEMP TABLE __lab AS SELECT * FROM __lab0 ORDER BY ${[...(input.group ? ['__g'] : []), ...order].join(', ')}`,
  );
  await con.run('DROP TABLE __lab0');
  const sameGroup = (q: string) => (input.group ? ` AND ${q}.__g IS NOT DISTINCT FROM o.__g` : '');
  const side = `(SELECT rowid AS __k, ${input.group ? '__g, ' : ''}__t FROM __lab)`;
  await con.run(
    `CREATE OR REPLACE TABLE __nb AS
     SELECT o.__pos, TRY_CAST(p.__t AS DOUBLE) AS pn, TRY_CAST(x.__t AS DOUBLE) AS nn, lower(trim(p.__t)) AS pt, lower(trim(x.__t)) AS nt
     FROM (SELECT rowid AS __k, * FROM __lab WHERE __split = 0 AND ${rowSample}) AS o
       LEFT JOIN ${side} AS p ON p.__k = o.__k - 1${sameGroup('p')}
       LEFT JOIN ${side} AS x ON x.__k = o.__k + 1${sameGroup('x')}`,
  );
  await con.run('DROP TABLE __lab');
  const along = timeCol
    ? `by ${input.time}${input.group ? ` within ${input.group}` : ''}`
    : `${input.group ? `within ${input.group} ` : ''}in ${frame.idOrdersRows ? 'id' : 'file'} order`;
  const key = (f: Column) => (f.numeric ? `tr.${ident(f.name)}::DOUBLE` : `lower(trim(tr.${ident(f.name)}))`);
  const base = `SELECT ${feats.map((f, i) => `${key(f)} AS f${i}`).join(', ')}, nb.pn, nb.nn, nb.pt, nb.nt
    FROM tr JOIN __nb AS nb ON nb.__pos = tr.rowid`;
  const dirs = [
    ['prev', 'previous'],
    ['next', 'next'],
  ] as const;
  const tcol = (f: Column, d: 'prev' | 'next') =>
    f.numeric ? (d === 'prev' ? 'pn' : 'nn') : d === 'prev' ? 'pt' : 'nt';
  const r = (
    await readRows(
      con,
      `WITH o AS (${base}) SELECT count(pt) AS hp, count(nt) AS hn, ${feats
        .flatMap((f, i) =>
          dirs.map(
            ([d]) =>
              `count(CASE WHEN ${tcol(f, d)} IS NOT NULL THEN f${i} END) AS c${i}_${d}, coalesce(sum((f${i} = ${tcol(f, d)})::INT), 0) AS m${i}_${d}`,
          ),
        )
        .join(', ')} FROM o`,
    )
  )[0]!;
  const out: LeakFinding[] = [];
  for (const [i, f] of feats.entries()) {
    let best: LeakFinding | null = null;
    for (const [d, word] of dirs) {
      const have = num(r[d === 'prev' ? 'hp' : 'hn']);
      const c = num(r[`c${i}_${d}`]);
      const m = num(r[`m${i}_${d}`]);
      if (c < th.minRows || c < th.shiftedCoverage * have) continue;
      const match = m / c;
      ctx.onStatistic?.(f.name, `shifted-${d}`, match);
      if (match < th.shiftedMatch) continue;
      const t = tcol(f, d);
      const pe = (
        await readRows(
          con,
          `WITH o AS (${base}), c AS (SELECT f${i} AS a, ${t} AS b FROM o WHERE f${i} IS NOT NULL AND ${t} IS NOT NULL),
           fa AS (SELECT a AS v, count(*)::DOUBLE AS n FROM c GROUP BY a), fb AS (SELECT b AS v, count(*)::DOUBLE AS n FROM c GROUP BY b)
           SELECT (SELECT sum(fa.n * fb.n) FROM fa JOIN fb USING (v)) / ((SELECT count(*) FROM c)::DOUBLE ^ 2) AS pe`,
        )
      )[0]!;
      const chance = num(pe['pe']) || 0;
      const kappa = chance >= 1 ? 0 : (match - chance) / (1 - chance);
      if (kappa < th.shiftedKappa) continue;
      if (best && num(best.evidence['matchShare']) >= match) continue;
      best = {
        guardrail: 'target-leakage',
        column: f.name,
        message: `Column "${f.name}" equals the ${word} row's target "${input.target}" (${along}) on ${pct(match)} of ${count(c)} rows (≥ ${pct(th.shiftedMatch)}, kappa ${stat(kappa, 3)}).`,
        hint: `drop column "${f.name}" from the data: it holds the target of the ${word} row ${along}, which is not known when predicting this row`,
        severity: 'block',
        evidence: {
          test: 'shifted-target',
          direction: d,
          order: along,
          matchShare: match,
          threshold: th.shiftedMatch,
          kappa,
          chanceAgreement: chance,
          rows: c,
        },
      };
    }
    if (best) out.push(best);
  }
  return out;
}

/**
 * All target-leakage findings: single features on the train split (sampled to `maxRows`), then features equal
 * to a neighbouring row's target over all labelled rows (train and holdouts with their vault labels).
 */
export async function scanTargetLeakage(ctx: ScanContext): Promise<LeakFinding[]> {
  const { input, th } = ctx;
  const p = ctx.sample ?? (await prepareSample(ctx));
  const n = p.n;
  const trips = await timed(ctx, 'target-leakage/single-feature', async () =>
    n < th.minRows
      ? []
      : input.task === 'regression'
        ? await regressionTrips(ctx, n, p)
        : await classificationTrips(ctx, n, p),
  );
  const findings: LeakFinding[] = [];
  for (const t of trips) findings.push(tripFinding(ctx, t, await relation(ctx, t), p.sampled));
  const flagged = new Set(findings.map((f) => f.column!));
  findings.push(...(await timed(ctx, 'target-leakage/shifted', () => shiftedTargets(ctx, flagged))));
  return findings;
}

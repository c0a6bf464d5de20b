/**
 * Paired bootstrap of the difference of one metric between two models scored on the same rows
 * (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13 percentile intervals; the
 * pairing resamples rows, so both models see the same resampled rows and the row-level correlation
 * of their errors cancels out of the difference). This is the statistical half of the keep rule
 * (docs/ARCHITECTURE.md, "The keep rule").
 *
 * For ranking inputs the resampled units are QUERIES, not rows (a cluster bootstrap, Davison &
 * Hinkley 1997, "Bootstrap Methods and their Application", sec. 3.8: resample the independent
 * clusters whole): each resample draws q query indices with replacement and weights every query
 * by its count. `pairedBootstrapPrepared` bootstraps any pair of prepared weighted evaluators (a
 * composite score, a business proxy) with the same machinery.
 */

import { Xoshiro128 } from './random.js';
import { relativeOrder } from './ranking.js';
import { metricImpl } from './registry.js';
import type { BanditInput, MetricDirection, MetricInput, WeightedMetric } from './types.js';

/** Result of `pairedBootstrap`. All metric values are in the metric's own units. */
export interface PairedBootstrapResult {
  /** metric(B) - metric(A) on all rows (unweighted). */
  delta: number;
  /** Lower end of the percentile interval of the resampled deltas at `confidence`. */
  low: number;
  /** Upper end of the percentile interval of the resampled deltas at `confidence`. */
  high: number;
  /**
   * Fraction of resamples in which B is strictly better than A in the metric's direction
   * (metric(B) > metric(A) when maximising, < when minimising); ties count as no improvement, so two
   * identical models give 0.
   */
  probImprovement: number;
  /** Number of resamples drawn: as requested, or fewer when `decideAt` settled the decision early. */
  resamples: number;
  /** True when the sequential rule of `decideAt` stopped before `resamples`. */
  stoppedEarly: boolean;
  /** Two-sided confidence level of [low, high], in (0, 1). */
  confidence: number;
  /** The PRNG seed; the same seed and inputs give the same result. */
  seed: number;
}

/** Options of `pairedBootstrap`. */
export interface PairedBootstrapOptions {
  /** Number of bootstrap resamples, an integer >= 1 (e.g. 1000). */
  resamples: number;
  /** Two-sided confidence level of the interval, in (0, 1) (e.g. 0.95). */
  confidence: number;
  /** Seed of the xoshiro128** generator, a non-negative safe integer. */
  seed: number;
  /**
   * Optional decision threshold on probImprovement (e.g. the keep rule's 0.95). When set, resampling
   * stops as soon as the decision "probImprovement >= decideAt" is settled: exactly, when the losses
   * already exceed what the full run allows, or with error below 1e-4, when the binomial tail of the
   * wins so far under p = decideAt is below 1e-4 (a sequential Monte Carlo test in the manner of
   * Besag & Clifford 1991, Biometrika 78:301). At least 100 resamples are always drawn.
   */
  decideAt?: number;
}

/** log of the binomial coefficient C(n, k) via log-gamma-free summation (n up to ~1e6 is fine). */
function logChoose(n: number, k: number): number {
  let s = 0;
  const m = Math.min(k, n - k);
  for (let i = 1; i <= m; i++) s += Math.log((n - m + i) / i);
  return s;
}

/**
 * P(X >= k) for X ~ Binomial(n, p), summed in log space from the mode outwards (exact to rounding).
 * @param k successes, 0 <= k <= n; @param n trials; @param p success probability in (0, 1)
 */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let term = logChoose(n, k) + k * lp + (n - k) * lq;
  let sum = 0;
  for (let j = k; j <= n; j++) {
    sum += Math.exp(term);
    // C(n, j+1)/C(n, j) = (n - j)/(j + 1)
    term += Math.log((n - j) / (j + 1)) + lp - lq;
    if (term < -745) break;
  }
  return Math.min(1, sum);
}

const EARLY_STOP_ERROR = 1e-4;
const EARLY_STOP_MIN = 100;

/** Linear-interpolation quantile of sorted values (numpy's default "linear", Hyndman & Fan type 7). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a === b ? a : a + (h - lo) * (b - a);
}

/** Throws unless A and B have the same task, rows and y (and k, queries): a paired test needs the same rows. */
export function sameTruth(a: MetricInput, b: MetricInput): void {
  if (a.task !== b.task)
    throw new Error(`pairedBootstrap: task '${a.task}' of A differs from task '${b.task}' of B`);
  if (a.y.length !== b.y.length) {
    throw new RangeError(`pairedBootstrap: A has ${a.y.length} rows but B has ${b.y.length}`);
  }
  if (a.task === 'multiclass' && b.task === 'multiclass' && a.k !== b.k) {
    throw new RangeError(`pairedBootstrap: A has k = ${a.k} classes but B has k = ${b.k}`);
  }
  if (a.task === 'ranking' && b.task === 'ranking' && a.query !== b.query) {
    for (let i = 0; i < a.query.length; i++) {
      if (a.query[i] !== b.query[i]) {
        throw new RangeError(
          `pairedBootstrap: A and B must rank the same queries; query differs at row ${i}`,
        );
      }
    }
  }
  if (a.task === 'bandit' && b.task === 'bandit') sameLogs(a, b);
  const ya = a.y;
  const yb = b.y;
  if (ya === yb) return;
  for (let i = 0; i < ya.length; i++) {
    if (ya[i] !== yb[i]) {
      throw new RangeError(
        `pairedBootstrap: A and B must be scored on the same rows with the same y; y differs at row ${i}`,
      );
    }
  }
}

/** Throws unless two bandit inputs hold the same logs: k, and every row's action and propensity. */
function sameLogs(a: BanditInput, b: BanditInput): void {
  if (a.k !== b.k) throw new RangeError(`pairedBootstrap: A has k = ${a.k} actions but B has k = ${b.k}`);
  for (const field of ['action', 'pscore'] as const) {
    const fa = a[field];
    const fb = b[field];
    if (fa === fb) continue;
    if (fa.length !== fb.length) {
      throw new RangeError(`pairedBootstrap: A has ${fa.length} ${field} values but B has ${fb.length}`);
    }
    for (let i = 0; i < fa.length; i++) {
      if (fa[i] !== fb[i]) {
        throw new RangeError(
          `pairedBootstrap: A and B must be evaluated on the same logs; ${field} differs at row ${i}`,
        );
      }
    }
  }
}

/**
 * Paired bootstrap of delta = metric(B) - metric(A) for two models' predictions on the same rows.
 *
 * Each resample draws n row indices with replacement from a seeded xoshiro128** stream (multinomial
 * counts, O(n)), evaluates both prepared metrics with those counts as weights, and records
 * metric(B) - metric(A). Both inputs are sorted/prepared once; no resample sorts, and no resample
 * allocates per row (rank metrics walk byte counts laid out in model A's sort order).
 * A resample on which the metric is undefined (e.g. auroc of a resample without a positive row,
 * possible only for tiny or extremely imbalanced holdouts) is redrawn; after 10x `resamples` such
 * redraws the function gives up with a RangeError.
 *
 * @param name metric name valid for the inputs' task.
 * @param a predictions of the baseline model A.
 * @param b predictions of the candidate model B on the same rows (same task, n, y, k).
 * @param opts resamples (integer >= 1), confidence in (0, 1), seed (non-negative safe integer).
 * @returns delta on all rows, the percentile interval [low, high] of the resampled deltas (linear
 *   interpolation between order statistics), the fraction of resamples where B beats A, and the
 *   options echoed.
 * @throws Error for an unknown metric or mismatched tasks; RangeError for invalid inputs, different
 *   y, bad options, or a metric undefined on all the rows.
 */
export function pairedBootstrap(
  name: string,
  a: MetricInput,
  b: MetricInput,
  opts: PairedBootstrapOptions,
): PairedBootstrapResult {
  checkOptions(opts);
  const impl = metricImpl(name, a.task);
  const direction = impl.spec.direction;
  sameTruth(a, b);
  impl.validate(a);
  impl.validate(b);
  const rng = new Xoshiro128(opts.seed);
  const n = a.y.length;

  // One resample: draw counts, return [metric(A), metric(B)]; a RangeError means "redraw".
  let draw: () => [number, number];
  let delta: number;
  if (impl.ranked !== undefined) {
    // Rank metrics: counts are drawn over the sorted positions of A's first score vector (a
    // uniform draw of a position is a uniform draw of a row), so that walk is sequential and the
    // others gather bytes through a precomputed permutation.
    const ranked = impl.ranked;
    const ia = ranked.indexes(a);
    const ib = ranked.indexes(b);
    const ref = ia[0]!;
    const pa = ia.map((x, j) => (j === 0 ? null : relativeOrder(ref, x)));
    const pb = ib.map((x) => relativeOrder(ref, x));
    const counts = new Uint8Array(n);
    delta = impl.compute(b, null) - impl.compute(a, null);
    draw = () => {
      rng.multinomialCountsU8(n, counts);
      return [ranked.evaluate(ia, counts, pa), ranked.evaluate(ib, counts, pb)];
    };
  } else {
    // Per-row weights, or per-query weights for ranking metrics (units = q): the same draw.
    const units = impl.units?.(a) ?? n;
    const fa = impl.prepare(a);
    const fb = impl.prepare(b);
    const counts = new Float64Array(units);
    delta = fb(null) - fa(null);
    draw = () => {
      rng.multinomialCounts(units, counts);
      return [fa(counts), fb(counts)];
    };
  }
  return runBootstrap(name, direction, delta, draw, opts);
}

/** Checks the options of a (paired) bootstrap; `label` prefixes the messages. */
function checkOptions(opts: PairedBootstrapOptions, label = 'pairedBootstrap'): void {
  const { resamples, confidence } = opts;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`${label}: resamples must be an integer >= 1, got ${resamples}`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`${label}: confidence must be in (0, 1), got ${confidence}`);
  }
}

/** Options of `bootstrapInterval`: as `PairedBootstrapOptions`, without `decideAt`. */
export type BootstrapIntervalOptions = Omit<PairedBootstrapOptions, 'decideAt'>;

/**
 * Percentile bootstrap interval of ONE weighted estimate (Efron & Tibshirani 1993, ch. 13): e.g.
 * the off-policy estimate of a candidate policy (`prepareMetric('dr', input)`), to report how
 * precisely the logs pin it down. Each resample draws `units` indices with replacement from the
 * seeded xoshiro128** stream (multinomial counts, exactly as `pairedBootstrapPrepared` draws them, so
 * the same seed gives the same resamples), evaluates `metric` with the counts as weights, and the
 * interval is the (1 - confidence)/2 and (1 + confidence)/2 quantiles of the resampled values (linear
 * interpolation between order statistics, numpy's default). A resample on which the metric is
 * undefined (RangeError) is redrawn, up to 10x `resamples` redraws.
 * @param metric a prepared weighted evaluator over `units` units.
 * @param units number of weights it takes (n rows, or q queries for ranking), an integer >= 1.
 * @param opts resamples (integer >= 1), confidence in (0, 1), seed (non-negative safe integer).
 * @returns the interval [low, high].
 * @throws RangeError for bad options or units, or a metric undefined on too many resamples.
 */
export function bootstrapInterval(
  metric: WeightedMetric,
  units: number,
  opts: BootstrapIntervalOptions,
): { low: number; high: number } {
  checkOptions(opts, 'bootstrapInterval');
  if (!Number.isInteger(units) || units < 1) {
    throw new RangeError(`bootstrapInterval: units must be an integer >= 1, got ${units}`);
  }
  const { resamples, confidence } = opts;
  const rng = new Xoshiro128(opts.seed);
  const counts = new Float64Array(units);
  const values = new Float64Array(resamples);
  let redraws = 0;
  for (let r = 0; r < resamples; ) {
    rng.multinomialCounts(units, counts);
    try {
      values[r] = metric(counts);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      if (++redraws > 10 * resamples) {
        throw new RangeError(
          `bootstrapInterval: the estimate was undefined on ${redraws} resamples (last: ${err.message})`,
        );
      }
      continue;
    }
    r++;
  }
  values.sort();
  const alpha = (1 - confidence) / 2;
  return { low: quantileSorted(values, alpha), high: quantileSorted(values, 1 - alpha) };
}

/**
 * Paired bootstrap of delta = b(w) - a(w) for two prepared weighted evaluators over the same units
 * (rows, or queries for ranking): e.g. a composite score built by `prepareComposite`, or a business
 * proxy. Same resampling, interval, win rate, redraw and `decideAt` rules as `pairedBootstrap`, whose
 * generic route is exactly this with the metric's prepared forms (the same seed gives the same
 * draws).
 * @param name a label for error messages (e.g. the composite's expression).
 * @param direction whether larger ('maximize') or smaller values of the evaluators are better.
 * @param units number of weights each evaluator takes (n rows, or q queries), an integer >= 1.
 * @param a the baseline's evaluator; `a(null)` is its value on all units.
 * @param b the candidate's evaluator over the same units.
 * @param opts as `pairedBootstrap`.
 * @throws RangeError for bad options or units, or an evaluator undefined on all the units (a
 *   RangeError from an evaluator on a resample means "redraw").
 */
export function pairedBootstrapPrepared(
  name: string,
  direction: MetricDirection,
  units: number,
  a: WeightedMetric,
  b: WeightedMetric,
  opts: PairedBootstrapOptions,
): PairedBootstrapResult {
  checkOptions(opts);
  if (!Number.isInteger(units) || units < 1) {
    throw new RangeError(`pairedBootstrap: units must be an integer >= 1, got ${units}`);
  }
  if (direction !== 'maximize' && direction !== 'minimize') {
    throw new RangeError(
      `pairedBootstrap: direction must be 'maximize' or 'minimize', got ${String(direction)}`,
    );
  }
  const rng = new Xoshiro128(opts.seed);
  const counts = new Float64Array(units);
  const delta = b(null) - a(null);
  const draw = (): [number, number] => {
    rng.multinomialCounts(units, counts);
    return [a(counts), b(counts)];
  };
  return runBootstrap(name, direction, delta, draw, opts);
}

/**
 * The resampling loop shared by both entry points: `draw` returns [A, B] on one resample (a
 * RangeError means "redraw").
 */
function runBootstrap(
  name: string,
  direction: MetricDirection,
  delta: number,
  draw: () => [number, number],
  opts: PairedBootstrapOptions,
): PairedBootstrapResult {
  const { resamples, confidence, seed } = opts;
  const deltas = new Float64Array(resamples);
  let wins = 0;
  let redraws = 0;
  let drawn = resamples;
  const decideAt = opts.decideAt;
  // Losses the full run may have while still reaching decideAt.
  const lossBudget =
    decideAt === undefined ? Number.POSITIVE_INFINITY : Math.floor(resamples * (1 - decideAt) + 1e-9);
  for (let r = 0; r < resamples; ) {
    if (decideAt !== undefined && r >= EARLY_STOP_MIN && r % 50 === 0) {
      const losses = r - wins;
      // Too few wins for p = decideAt: P(X <= wins) = P(losses' >= r - wins) with losses' ~ Bin(r, 1 - decideAt).
      const settledNo = losses > lossBudget || binomialUpperTail(losses, r, 1 - decideAt) < EARLY_STOP_ERROR;
      // Too many wins for p = decideAt.
      const settledYes = binomialUpperTail(wins, r, decideAt) < EARLY_STOP_ERROR;
      if (settledNo || settledYes) {
        drawn = r;
        break;
      }
    }
    let va: number;
    let vb: number;
    try {
      [va, vb] = draw();
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      if (++redraws > 10 * resamples) {
        throw new RangeError(
          `pairedBootstrap: ${name} was undefined on ${redraws} resamples (last: ${err.message}); ` +
            'the holdout is too small or too imbalanced for a bootstrap',
        );
      }
      continue;
    }
    const d = vb - va;
    deltas[r] = d;
    if (direction === 'maximize' ? d > 0 : d < 0) wins++;
    r++;
  }
  const used = drawn === resamples ? deltas : deltas.subarray(0, drawn);
  used.sort();
  const alpha = (1 - confidence) / 2;
  return {
    delta,
    low: quantileSorted(used, alpha),
    high: quantileSorted(used, 1 - alpha),
    probImprovement: wins / drawn,
    resamples: drawn,
    stoppedEarly: drawn < resamples,
    confidence,
    seed,
  };
}

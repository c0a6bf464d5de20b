/**
 * Group fairness of a binary classifier: differences of rates across the groups of a sensitive
 * feature, and any binary metric computed within each group (for floors such as "auroc >= 0.7 in
 * every group").
 *
 * Definitions and values are fairlearn 0.15.0's (Bird et al. 2020, "Fairlearn: A toolkit for
 * assessing and improving fairness in AI", MSR-TR-2020-32), `fairlearn.metrics`, with
 * method="between_groups" (max minus min over the groups):
 * - `demographic_parity_difference`: max_g - min_g of the selection rate P(pred = 1 | group g)
 *   (`fairlearn.metrics.demographic_parity_difference`, `selection_rate`);
 * - `equal_opportunity_difference`: max_g - min_g of the true positive rate P(pred = 1 | y = 1, g)
 *   (`fairlearn.metrics.equal_opportunity_difference`, `true_positive_rate`);
 * - `equalized_odds_difference`: max(TPR difference, FPR difference), FPR = P(pred = 1 | y = 0, g)
 *   (`fairlearn.metrics.equalized_odds_difference`, agg="worst_case").
 * The predicted label is `p > threshold` (default 0.5, as the engine's thresholded metrics).
 * fairlearn takes a group's TPR (FPR) as 0 when the group has no positive (negative) row: its
 * rates come from `sklearn.metrics.confusion_matrix(normalize="true")`, which maps 0/0 to 0
 * (`nan_to_num`); the engine does the same. All three are 0 for a single group and are minimized.
 *
 * Weights are per-row multiplicities, as everywhere in the engine: a group whose rows all have
 * weight 0 is absent (as it is from the rows repeated by their weights); for positive weights the
 * values equal fairlearn's with `sample_weight`.
 */

import { metricImpl } from './registry.js';
import { CompensatedSum } from './sum.js';
import type { BinaryInput, WeightedMetric } from './types.js';
import { validateBinary, validateWeights } from './validate.js';

/** The fairness metrics' names. */
export type FairnessMetricName =
  | 'demographic_parity_difference'
  | 'equal_opportunity_difference'
  | 'equalized_odds_difference';

/** Static description of a fairness metric. */
export interface FairnessSpec {
  name: FairnessMetricName;
  /** Always 'minimize': 0 is parity. */
  direction: 'minimize';
  /** The formula and the fairlearn function it reproduces. */
  description: string;
}

/** The fairness metrics, in a stable order (fairlearn 0.15.0 definitions, see the module doc). */
export const FAIRNESS_METRICS: ReadonlyArray<FairnessSpec> = [
  {
    name: 'demographic_parity_difference',
    direction: 'minimize',
    description:
      'max - min over groups of the selection rate P(p > threshold | group); equals ' +
      'fairlearn.metrics.demographic_parity_difference(method="between_groups").',
  },
  {
    name: 'equal_opportunity_difference',
    direction: 'minimize',
    description:
      'max - min over groups of the true positive rate P(p > threshold | y = 1, group), 0 for a group ' +
      'without positives; equals fairlearn.metrics.equal_opportunity_difference(method="between_groups").',
  },
  {
    name: 'equalized_odds_difference',
    direction: 'minimize',
    description:
      'max of the between-group differences of the true positive rate and of the false positive rate; ' +
      'equals fairlearn.metrics.equalized_odds_difference(method="between_groups", agg="worst_case").',
  },
];

/**
 * The spec of a fairness metric.
 * @throws Error naming the metric and listing the valid names.
 */
export function fairnessSpec(name: string): FairnessSpec {
  const s = FAIRNESS_METRICS.find((m) => m.name === name);
  if (s === undefined) {
    throw new Error(
      `unknown fairness metric '${name}'; valid metrics: ${FAIRNESS_METRICS.map((m) => m.name).join(', ')}`,
    );
  }
  return { ...s };
}

/** Options of the fairness metrics. */
export interface FairnessOptions {
  /** The predicted label is `p > threshold`; a finite number, default 0.5. */
  threshold?: number;
}

/** Rates of one group (fairlearn's selection_rate, true_positive_rate, false_positive_rate). */
export interface GroupRates {
  /** The group index. */
  group: number;
  /** Total weight (row count when unweighted) of the group's rows. */
  weight: number;
  /** Weighted fraction of the group's rows with p > threshold. */
  selectionRate: number;
  /** Weighted fraction of the group's positives with p > threshold; 0 without positives. */
  truePositiveRate: number;
  /** Weighted fraction of the group's negatives with p > threshold; 0 without negatives. */
  falsePositiveRate: number;
}

function fail(metric: string, msg: string): never {
  throw new RangeError(`${metric}: ${msg}`);
}

/**
 * Checks a sensitive-group vector: an Int32Array of length n with values >= 0.
 * @throws RangeError naming the first offending row.
 */
export function validateGroups(metric: string, group: Int32Array, n: number): void {
  if (!(group instanceof Int32Array)) fail(metric, 'group must be an Int32Array of group indices');
  if (group.length !== n) fail(metric, `group has ${group.length} rows, expected ${n}`);
  for (let i = 0; i < n; i++)
    if (group[i]! < 0) fail(metric, `group[${i}] = ${group[i]}; group indices must be >= 0`);
}

/** Dense slots of the distinct group values: `slot[i]` of row i, `values[s]` of slot s (ascending). */
function slots(group: Int32Array): { slot: Int32Array; values: Int32Array } {
  let max = 0;
  for (let i = 0; i < group.length; i++) if (group[i]! > max) max = group[i]!;
  if (max < 1 << 20) {
    // Small indices (the usual case): a direct lookup table.
    const table = new Int32Array(max + 1).fill(-1);
    for (let i = 0; i < group.length; i++) table[group[i]!] = 0;
    let k = 0;
    for (let v = 0; v <= max; v++) if (table[v] === 0) table[v] = k++;
    const values = new Int32Array(k);
    for (let v = 0; v <= max; v++) if (table[v]! >= 0) values[table[v]!] = v;
    const slot = new Int32Array(group.length);
    for (let i = 0; i < group.length; i++) slot[i] = table[group[i]!]!;
    return { slot, values };
  }
  const values = Int32Array.from(new Set(group)).sort();
  const index = new Map<number, number>();
  for (let s = 0; s < values.length; s++) index.set(values[s]!, s);
  const slot = Int32Array.from(group, (g) => index.get(g)!);
  return { slot, values };
}

/**
 * Per-group weighted sums [W, selected, positives, true positives, false positives], accumulated
 * per block with Neumaier-compensated totals (exact for integer weights).
 */
function groupSums(
  slot: Int32Array,
  k: number,
  y: Uint8Array,
  selected: Uint8Array,
  weights: Float64Array | null,
): Float64Array[] {
  const n = slot.length;
  const totals = Array.from({ length: 5 * k }, () => new CompensatedSum());
  const part = new Float64Array(5 * k);
  const BLOCK = 4096;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    part.fill(0);
    for (let i = start; i < end; i++) {
      const w = weights === null ? 1 : weights[i]!;
      if (w === 0) continue;
      const o = 5 * slot[i]!;
      const yi = y[i]!;
      const si = selected[i]!;
      part[o]! += w;
      part[o + 1]! += w * si;
      part[o + 2]! += w * yi;
      part[o + 3]! += w * yi * si;
      part[o + 4]! += w * (1 - yi) * si;
    }
    for (let j = 0; j < 5 * k; j++) if (part[j] !== 0) totals[j]!.add(part[j]!);
  }
  return Array.from({ length: k }, (_, s) =>
    Float64Array.from({ length: 5 }, (_, j) => totals[5 * s + j]!.value),
  );
}

function ratesFromSums(values: Int32Array, sums: Float64Array[]): GroupRates[] {
  const out: GroupRates[] = [];
  for (let s = 0; s < sums.length; s++) {
    const [W, S, P, TP, FP] = sums[s]! as unknown as [number, number, number, number, number];
    if (!(W > 0)) continue; // absent under these weights
    const N = W - P;
    out.push({
      group: values[s]!,
      weight: W,
      selectionRate: S / W,
      truePositiveRate: P > 0 ? TP / P : 0,
      falsePositiveRate: N > 0 ? FP / N : 0,
    });
  }
  return out;
}

function spread(
  rates: GroupRates[],
  key: 'selectionRate' | 'truePositiveRate' | 'falsePositiveRate',
): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const r of rates) {
    lo = Math.min(lo, r[key]);
    hi = Math.max(hi, r[key]);
  }
  return hi - lo;
}

function fromRates(name: FairnessMetricName, rates: GroupRates[]): number {
  if (name === 'demographic_parity_difference') return spread(rates, 'selectionRate');
  if (name === 'equal_opportunity_difference') return spread(rates, 'truePositiveRate');
  return Math.max(spread(rates, 'truePositiveRate'), spread(rates, 'falsePositiveRate'));
}

function thresholdOf(metric: string, opts: FairnessOptions | undefined): number {
  const t = opts?.threshold ?? 0.5;
  if (typeof t !== 'number' || !Number.isFinite(t))
    fail(metric, `threshold must be a finite number, got ${t}`);
  return t;
}

interface Prepared {
  slot: Int32Array;
  values: Int32Array;
  selected: Uint8Array;
}

function prepareGroups(
  metric: string,
  input: BinaryInput,
  group: Int32Array,
  opts?: FairnessOptions,
): Prepared {
  validateBinary(metric, input, false);
  validateGroups(metric, group, input.y.length);
  const t = thresholdOf(metric, opts);
  const selected = Uint8Array.from(input.p, (v) => Number(v > t));
  return { ...slots(group), selected };
}

/**
 * Selection rate, true positive rate and false positive rate of every group present (ascending group
 * index), as fairlearn's `MetricFrame(metrics={selection_rate, true_positive_rate,
 * false_positive_rate}).by_group`.
 * @param input binary labels y and scores p (any finite values).
 * @param group n group indices (>= 0).
 * @param opts threshold (default 0.5) and optional n per-row weights (multiplicities).
 * @throws RangeError for invalid inputs, groups, threshold or weights.
 */
export function groupRates(
  input: BinaryInput,
  group: Int32Array,
  opts?: FairnessOptions & { weights?: Float64Array },
): GroupRates[] {
  const g = prepareGroups('groupRates', input, group, opts);
  if (opts?.weights !== undefined) validateWeights('groupRates', opts.weights, input.y.length);
  return ratesFromSums(
    g.values,
    groupSums(g.slot, g.values.length, input.y, g.selected, opts?.weights ?? null),
  );
}

/**
 * A fairness metric (see `FAIRNESS_METRICS`) of one model on one holdout.
 * @param name demographic_parity_difference, equal_opportunity_difference or equalized_odds_difference.
 * @param input binary labels y and scores p; the predicted label is p > threshold.
 * @param group n group indices (>= 0) of the sensitive feature.
 * @param opts threshold (default 0.5) and optional n per-row weights (multiplicities; fairlearn's
 *   sample_weight for positive weights).
 * @returns the between-groups difference, in [0, 1] (0 for a single group).
 * @throws Error for an unknown name; RangeError for invalid inputs, groups, threshold or weights.
 */
export function computeFairness(
  name: string,
  input: BinaryInput,
  group: Int32Array,
  opts?: FairnessOptions & { weights?: Float64Array },
): number {
  return prepareFairness(name, input, group, opts)(opts?.weights ?? null);
}

/**
 * Prepared form of a fairness metric for the bootstrap: validates and thresholds once; each call is
 * one pass over n per-row weights (null = unweighted) and validates them.
 * @throws as `computeFairness`.
 */
export function prepareFairness(
  name: string,
  input: BinaryInput,
  group: Int32Array,
  opts?: FairnessOptions,
): WeightedMetric {
  const metric = fairnessSpec(name).name;
  const g = prepareGroups(metric, input, group, opts);
  const n = input.y.length;
  const k = g.values.length;
  return (weights) => {
    if (weights !== null) validateWeights(metric, weights, n);
    return fromRates(metric, ratesFromSums(g.values, groupSums(g.slot, k, input.y, g.selected, weights)));
  };
}

/** Options of `perGroup`. */
export interface PerGroupOptions {
  /** Optional n per-row weights; groups whose rows all have weight 0 are left out. */
  weights?: Float64Array;
  /**
   * Where the metric is undefined within a group (e.g. auroc of a group holding one class):
   * 'throw' (default) a RangeError naming the group, or 'nan' to report NaN for that group (fairlearn's
   * MetricFrame reports scikit-learn's NaN there).
   */
  undefinedAs?: 'throw' | 'nan';
}

/**
 * Prepared per-group values of a binary metric: splits the rows by group once and prepares the
 * metric on each group's rows; each call maps n per-row weights (null = unweighted) to the groups.
 * @returns a function giving a record from group index to the metric on that group's rows.
 * @throws Error for an unknown binary metric; RangeError for invalid inputs or groups.
 */
export function preparePerGroup(
  name: string,
  input: BinaryInput,
  group: Int32Array,
  opts?: Omit<PerGroupOptions, 'weights'>,
): (weights: Float64Array | null) => Record<number, number> {
  const impl = metricImpl(name, 'binary');
  impl.validate(input);
  const n = input.y.length;
  validateGroups(name, group, n);
  const { slot, values } = slots(group);
  const k = values.length;
  const rows: Int32Array[] = [];
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[slot[i]!]!++;
  for (let s = 0; s < k; s++) rows.push(new Int32Array(counts[s]!));
  const fill = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const s = slot[i]!;
    rows[s]![fill[s]!++] = i;
  }
  const nanOk = opts?.undefinedAs === 'nan';
  const prepared = rows.map((r) => {
    const sub: BinaryInput = {
      task: 'binary',
      y: Uint8Array.from(r, (i) => input.y[i]!),
      p: Float64Array.from(r, (i) => input.p[i]!),
    };
    return impl.prepare(sub);
  });
  const subWeights = rows.map((r) => new Float64Array(r.length));
  return (weights) => {
    if (weights !== null) validateWeights(name, weights, n);
    const out: Record<number, number> = {};
    for (let s = 0; s < k; s++) {
      let w: Float64Array | null = null;
      if (weights !== null) {
        w = subWeights[s]!;
        const r = rows[s]!;
        let any = false;
        for (let j = 0; j < r.length; j++) {
          w[j] = weights[r[j]!]!;
          if (w[j]! > 0) any = true;
        }
        if (!any) continue; // the group is absent under these weights
      }
      try {
        out[values[s]!] = prepared[s]!(w);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        if (!nanOk) throw new RangeError(`${name} is undefined in group ${values[s]}: ${err.message}`);
        out[values[s]!] = Number.NaN;
      }
    }
    return out;
  };
}

/**
 * A binary metric (any name of `metricsForTask('binary')`) computed on each group's rows, as
 * fairlearn's `MetricFrame(metrics=..., sensitive_features=group).by_group`: for floors such as
 * "auroc >= 0.7 in every group".
 * @param name a binary metric name.
 * @param input binary labels and scores.
 * @param group n group indices (>= 0).
 * @param opts weights (groups whose weights are all 0 are left out) and what to do where the metric
 *   is undefined within a group (default: throw).
 * @returns a record from each group index present to the metric's value on that group.
 * @throws Error for an unknown metric; RangeError for invalid inputs, groups or weights, and (unless
 *   undefinedAs = 'nan') when the metric is undefined in a group, naming the group.
 */
export function perGroup(
  name: string,
  input: BinaryInput,
  group: Int32Array,
  opts?: PerGroupOptions,
): Record<number, number> {
  const fn = preparePerGroup(name, input, group, opts);
  return fn(opts?.weights ?? null);
}

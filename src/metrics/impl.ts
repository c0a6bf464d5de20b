/**
 * The internal shape of one metric implementation; the registry holds one per (task, name).
 */

import type { RankIndex } from './ranking.js';
import type { MetricInput, MetricSpec, WeightedMetric } from './types.js';

/** One metric: its spec, its input check, a one-shot computation and a prepared form. */
export interface MetricImpl<I extends MetricInput = MetricInput> {
  spec: MetricSpec;
  /** Throws a RangeError when `input` is not valid for this metric. */
  validate(input: I): void;
  /**
   * Optional O(1) check for the unweighted one-shot path of metrics whose value is non-finite
   * whenever an input value is (rmse, mae, mape: NaN and infinities propagate through every term).
   * `computeMetric` then runs only this check, computes, and runs the full `validate` only when the
   * result is not finite, to report the offending row (or confirm a genuine overflow).
   */
  validateShape?(input: I): void;
  /**
   * Number of weights the metric takes for `input` (the bootstrap's resampling units): absent for
   * per-row metrics (n rows); the number of queries for ranking metrics.
   */
  units?(input: I): number;
  /**
   * The metric on a validated input, with optional validated weights (null = unweighted). Takes the
   * fastest route for a single evaluation (e.g. auroc: two native-order sorts and a merge).
   */
  compute(input: I, weights: Float64Array | null): number;
  /**
   * Precomputes everything that does not depend on the weights (sort orders, per-row loss terms);
   * each call of the result is then O(n) and allocation-free. The returned function does not
   * re-validate its weights.
   */
  prepare(input: I): WeightedMetric;
  /**
   * Present for rank metrics (auroc, average_precision, auroc_ovr): the bootstrap's fast route.
   * `indexes` sorts the input's score vectors once; `evaluate` computes the metric under byte
   * counts laid out in a reference sorted order, with `perms[j]` mapping index j's sorted positions
   * to reference positions (null when index j is the reference itself).
   */
  ranked?: RankedForm<I>;
  /**
   * Present for metrics that are `finish(mean of per-row terms)` (built by `meanMetric`): the per-row
   * terms of a validated input (n values) and the increasing transform `finish` of their mean
   * (identity, x/2 for brier, sqrt for rmse). The paired z-test (`paired_z.ts`) tests on these.
   */
  decomposed?: { terms(input: I): Float64Array; finish(mean: number): number };
}

/** See `MetricImpl.ranked`. */
export interface RankedForm<I extends MetricInput> {
  indexes(input: I): RankIndex[];
  evaluate(indexes: RankIndex[], counts: Uint8Array, perms: ReadonlyArray<Int32Array | null>): number;
}

/**
 * Writes the per-row terms of rows start..end-1 of `input` into out[0..end-start-1] (for metrics
 * that are a weighted mean of per-row terms). A plain function of its arguments, so that the typed
 * arrays are locals of the loop and V8 keeps it tight.
 */
export type TermsFiller<I> = (input: I, start: number, end: number, out: Float64Array) => void;

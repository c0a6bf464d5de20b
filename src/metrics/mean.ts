/**
 * Builder for metrics that are a (weighted) mean of per-row terms: log_loss, brier, accuracy,
 * rmse, mae, mape. A metric supplies a chunk filler that writes the terms of rows start..end-1;
 * the one-shot path streams the terms chunk by chunk (no n-sized allocation), the prepared path
 * materialises them once so each weighted evaluation is a single dot product.
 */

import type { MetricImpl, TermsFiller } from './impl.js';
import { weightedMean, weightedMeanChunked } from './sum.js';
import type { MetricInput, MetricSpec } from './types.js';

/**
 * Makes a MetricImpl whose value is `finish(weighted mean of terms)`.
 * @param spec the metric's spec.
 * @param validate the input check.
 * @param rows number of rows of an input.
 * @param filler the per-row term filler.
 * @param finish a transform of the mean (sqrt for rmse, x/2 for brier); identity by default.
 * @param validateShape see `MetricImpl.validateShape` (only for metrics where non-finite inputs always
 *   give a non-finite value).
 */
export function meanMetric<I extends MetricInput>(
  spec: MetricSpec,
  validate: (input: I) => void,
  rows: (input: I) => number,
  filler: TermsFiller<I>,
  finish: (mean: number) => number = (m) => m,
  validateShape?: (input: I) => void,
): MetricImpl<I> {
  return {
    spec,
    validate,
    ...(validateShape ? { validateShape } : {}),
    compute(input, weights) {
      return finish(weightedMeanChunked(rows(input), (s, e, out) => filler(input, s, e, out), weights));
    },
    prepare(input) {
      const terms = allTerms(input);
      return (weights) => finish(weightedMean(terms, weights));
    },
    decomposed: { terms: allTerms, finish },
  };

  function allTerms(input: I): Float64Array {
    const n = rows(input);
    const terms = new Float64Array(n);
    for (let start = 0; start < n; start += 65536) {
      const end = Math.min(n, start + 65536);
      filler(input, start, end, terms.subarray(start, end));
    }
    return terms;
  }
}

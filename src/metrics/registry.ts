/**
 * The registry of built-in metrics and the public entry points that evaluate them.
 */

import { BANDIT_METRIC_NAMES, BANDIT_METRICS, banditMetricImpl } from './bandit.js';
import { BINARY_METRICS } from './binary.js';
import { HARNESS_METRICS } from './harness.js';
import type { MetricImpl } from './impl.js';
import { MULTICLASS_METRICS } from './multiclass.js';
import { MAX_RANK_CUTOFF, queryCount, RANKING_METRICS, rankingMetricImpl } from './ranking_task.js';
import { REGRESSION_METRICS } from './regression.js';
import type { MetricInput, MetricSpec, Task, WeightedMetric } from './types.js';
import { validateWeights } from './validate.js';

const TASKS: readonly Task[] = ['binary', 'multiclass', 'regression', 'ranking', 'bandit', 'harness'];

const REGISTRY: Record<Task, ReadonlyArray<MetricImpl>> = {
  binary: BINARY_METRICS as ReadonlyArray<MetricImpl>,
  multiclass: MULTICLASS_METRICS as ReadonlyArray<MetricImpl>,
  regression: REGRESSION_METRICS as ReadonlyArray<MetricImpl>,
  ranking: RANKING_METRICS as ReadonlyArray<MetricImpl>,
  bandit: BANDIT_METRICS as ReadonlyArray<MetricImpl>,
  harness: HARNESS_METRICS as ReadonlyArray<MetricImpl>,
};

/**
 * Looks up the implementation of a metric for a task.
 * @throws Error naming the metric and listing the valid names for the task (or the valid tasks).
 */
export function metricImpl(name: string, task: Task): MetricImpl {
  const list = REGISTRY[task];
  if (list === undefined || !TASKS.includes(task)) {
    throw new Error(`unknown task '${String(task)}'; valid tasks: ${TASKS.join(', ')}`);
  }
  const impl =
    task === 'ranking'
      ? (rankingMetricImpl(name) as MetricImpl | undefined)
      : task === 'bandit'
        ? (banditMetricImpl(name) as MetricImpl | undefined)
        : list.find((m) => m.spec.name === name);
  if (impl === undefined) {
    const valid =
      task === 'ranking'
        ? `ndcg, ndcg@k, mrr, map, map@k (k an integer in 1..${MAX_RANK_CUTOFF}, e.g. ndcg@10)`
        : task === 'bandit'
          ? BANDIT_METRIC_NAMES
          : list.map((m) => m.spec.name).join(', ');
    throw new Error(`unknown metric '${name}' for task '${task}'; valid metrics: ${valid}`);
  }
  return impl;
}

/**
 * The spec of a metric: name, task, direction, whether it needs probabilities, and a description
 * citing the formula and the scikit-learn function it reproduces.
 * @throws Error naming the metric and listing the valid names for `task` when `name` is unknown.
 */
export function metricSpec(name: string, task: Task): MetricSpec {
  return { ...metricImpl(name, task).spec };
}

/**
 * All metrics defined for a task, in a stable order. For 'ranking' the list is ndcg, ndcg@10, mrr,
 * map, map@10; every `ndcg@k` and `map@k` with k in 1..1000 is also valid (see `metricSpec`). For
 * 'bandit' it is ips, snips, dm, dr, sndr, switch_dr; every `switch_dr@<tau>` (tau > 0) is also valid.
 * @throws Error for an unknown task.
 */
export function metricsForTask(task: Task): MetricSpec[] {
  const list = REGISTRY[task];
  if (list === undefined || !TASKS.includes(task)) {
    throw new Error(`unknown task '${String(task)}'; valid tasks: ${TASKS.join(', ')}`);
  }
  return list.map((m) => ({ ...m.spec }));
}

/**
 * Number of weights a metric takes for an input, i.e. the units the bootstrap resamples: the number
 * of rows n, or for a ranking input the number of queries q (max(query) + 1).
 */
export function weightLength(input: MetricInput): number {
  return input.task === 'ranking' ? queryCount(input) : input.y.length;
}

/**
 * Computes one metric on one input (the task is `input.task`).
 * @param name a metric name valid for the input's task (see `metricsForTask`).
 * @param input the predictions and true values.
 * @param weights optional non-negative finite weights (scikit-learn's `sample_weight`): n per-row
 *   weights, or for ranking q per-query weights (`weightLength`); for integer weights the result
 *   equals the metric of the rows (queries) repeated by their weights.
 * @returns the metric value (a plain number; probabilities as fractions, not percent).
 * @throws Error for an unknown metric name; RangeError for invalid inputs (shapes, labels,
 *   non-finite values, probabilities outside [0, 1], missing proba, bad weights) and where the
 *   metric is undefined (e.g. auroc with one class).
 */
export function computeMetric(name: string, input: MetricInput, weights?: Float64Array): number {
  const impl = metricImpl(name, input.task);
  if (weights === undefined && impl.validateShape !== undefined) {
    // Lazy finiteness check (see MetricImpl.validateShape): a finite value proves finite inputs.
    impl.validateShape(input);
    const v = impl.compute(input, null);
    if (!Number.isFinite(v)) impl.validate(input);
    return v;
  }
  impl.validate(input);
  if (weights !== undefined) validateWeights(name, weights, impl.units?.(input) ?? input.y.length);
  return impl.compute(input, weights ?? null);
}

/**
 * Computes several metrics on one input.
 * @returns a record from each name to its value.
 * @throws as `computeMetric`, on the first metric that fails.
 */
export function computeMetrics(names: string[], input: MetricInput): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) out[name] = computeMetric(name, input);
  return out;
}

/**
 * Prepared form of a metric for repeated weighted evaluation (the bootstrap): validates the input
 * and does all weight-independent work once (auroc/average_precision: one O(n) radix argsort;
 * mean-type metrics: the per-row terms), so that each call is O(n) and allocation-free.
 * @returns a function of n per-row weights, or q per-query weights for ranking (null = unweighted),
 *   giving the metric of the rows (queries) repeated by their weights. The function validates its weights (length, finite, >= 0, not all 0)
 *   and throws a RangeError where the metric is undefined for them.
 * @throws as `computeMetric` for an unknown name or an invalid input.
 */
export function prepareMetric(name: string, input: MetricInput): WeightedMetric {
  const impl = metricImpl(name, input.task);
  impl.validate(input);
  const fn = impl.prepare(input);
  const n = impl.units?.(input) ?? input.y.length;
  return (weights) => {
    if (weights !== null) validateWeights(name, weights, n);
    return fn(weights);
  };
}

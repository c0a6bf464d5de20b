/**
 * Input and specification types of the metric engine (docs/ARCHITECTURE.md, "The metric engine").
 *
 * All row data are typed arrays (no per-row objects): the engine is run on holdouts of
 * millions of rows, and inside a bootstrap thousands of times per experiment.
 */

/** The tasks the built-in metric engine scores. */
export type Task = 'binary' | 'multiclass' | 'regression' | 'ranking' | 'bandit' | 'harness';

/** Whether a larger (`maximize`) or a smaller (`minimize`) value of a metric is better. */
export type MetricDirection = 'maximize' | 'minimize';

/**
 * Binary classification predictions.
 * - `y`: n true labels, each 0 or 1.
 * - `p`: n predicted probabilities P(y = 1). Ranking metrics (auroc, average_precision) accept any
 *   finite score; log_loss, brier and ece require values in [0, 1]. Thresholded metrics use the
 *   predicted label `p > 0.5`.
 */
export interface BinaryInput {
  task: 'binary';
  y: Uint8Array;
  p: Float64Array;
}

/**
 * Multiclass classification predictions (k >= 2 classes, indexed 0..k-1).
 * - `y`: n true class indices.
 * - `pred`: n predicted class indices.
 * - `proba`: optional row-major n*k matrix of predicted class probabilities (row i is
 *   `proba[i*k .. i*k+k-1]`); rows should sum to ~1. Absent when the model predicted labels only;
 *   metrics that need it (log_loss, auroc_ovr) then throw a RangeError.
 */
export interface MulticlassInput {
  task: 'multiclass';
  y: Int32Array;
  k: number;
  pred: Int32Array;
  proba?: Float64Array;
}

/** Regression predictions: n true values `y` and n predicted values `p` (finite, same units). */
export interface RegressionInput {
  task: 'regression';
  y: Float64Array;
  p: Float64Array;
}

/**
 * Ranking (learning-to-rank) predictions: n rows, each an item of one query.
 * - `y`: n graded relevances, finite and >= 0 (0 = not relevant; mrr and map@k count y > 0 as
 *   relevant, ndcg uses y itself as the gain, as scikit-learn's `ndcg_score`).
 * - `p`: n finite model scores; a query's items are ranked by descending score.
 * - `query`: n query indices in 0..q-1 (q = max + 1); every index must have at least one row. Rows
 *   need not be grouped or sorted by query.
 *
 * Ranking metrics are means over queries, and their weights are per QUERY (length q), not per row:
 * the bootstrap resamples queries (a cluster bootstrap), since the rows of a query are not
 * independent (the metric of a query is a function of all its rows).
 */
export interface RankingInput {
  task: 'ranking';
  y: Float64Array;
  p: Float64Array;
  query: Int32Array;
}

/**
 * Logged contextual-bandit decisions and a candidate policy to evaluate off-policy (`bandit.ts`):
 * row i is one logged decision, in which the logging policy pi_b saw context x_i, took action a_i
 * with probability pscore_i and observed reward y_i. The candidate's "predictions" are its action
 * probabilities pi_e(a | x_i); the metrics (ips, snips, dm, dr, sndr, switch_dr) estimate the mean
 * reward the candidate would have earned. Weights are per row, as for the per-row tasks.
 */
export interface BanditInput {
  task: 'bandit';
  /** n logged rewards r_i (finite; clicks are 0/1). Named y so the engine's row count (y.length) works. */
  y: Float64Array;
  /** n logged action indices a_i in 0..k-1 (the action the logging policy took). */
  action: Int32Array;
  /** n logging propensities pi_b(a_i | x_i), each in (0, 1]. */
  pscore: Float64Array;
  /** number of actions. */
  k: number;
  /** row-major n*k evaluation policy pi_e(a | x_i): the candidate's probabilities; each row >= 0 and sums to 1 (tolerance 1e-6). */
  policy: Float64Array;
  /** optional row-major n*k reward model q_hat(x_i, a) (fitted on the training split by Ratchet); required by dm, dr, sndr, switch_dr. */
  qhat?: Float64Array;
}

/**
 * A harness run on a task suite (docs/ARCHITECTURE.md, "Harness tasks"): n tasks in vault order.
 * - `y`: n task identities (the task's index in the holdout: equal for two candidates on the same holdout, so
 *   paired tests can check they are scored on the same tasks);
 * - `score`: n per-task scores in [0, 1] (exact match: 0 or 1);
 * - `tokens`: n per-task tokens (prompt + completion) the host proxy counted from the model's responses;
 * - `cost`: n per-task costs, USD;
 * - `requests`: n model requests the proxy attributed to each task (optional: absent in metric-only uses).
 */
export interface HarnessInput {
  task: 'harness';
  y: Float64Array;
  score: Float64Array;
  tokens: Float64Array;
  cost: Float64Array;
  requests?: Float64Array;
}

/** Predictions of one model on one split, for any task. */
export type MetricInput =
  | BinaryInput
  | MulticlassInput
  | RegressionInput
  | RankingInput
  | BanditInput
  | HarnessInput;

/** Static description of one built-in metric. */
export interface MetricSpec {
  /** The metric's name as written in a contract, e.g. `auroc`, `f1_macro`, `rmse`. */
  name: string;
  /** The task the metric is defined for. */
  task: Task;
  /** Whether larger or smaller values are better. */
  direction: MetricDirection;
  /**
   * Whether the metric reads predicted probabilities or scores rather than only predicted labels:
   * for binary, the continuous `p` (auroc, average_precision, log_loss, brier, ece); for
   * multiclass, `proba` (log_loss, auroc_ovr). Always false for regression; true for ranking (the
   * scores `p` are read as scores) and for bandit (the candidate's action probabilities `policy`).
   */
  needsProba: boolean;
  /** The formula and the scikit-learn function (and conventions) it reproduces. */
  description: string;
}

/**
 * A metric bound to one input, ready for repeated evaluation under weights.
 * `weights` are non-negative multiplicities (null = every unit once), one per row, or one per query
 * for ranking inputs (see `weightLength`); the call returns the metric of the rows (queries)
 * repeated by their weights. Throws a RangeError when the metric is undefined for
 * those weights (e.g. auroc on a resample that holds one class only).
 */
export type WeightedMetric = (weights: Float64Array | null) => number;

/**
 * Multiclass classification metrics (k >= 2 classes indexed 0..k-1). Each matches the named
 * scikit-learn 1.9.1 function with default arguments and its `sample_weight` semantics.
 *
 * Label set of the F1 averages: like scikit-learn with `labels=None`, the classes that occur in y
 * or in pred (`unique_labels(y_true, y_pred)`); classes absent from both are not averaged. Under
 * weights, a class whose rows all have weight 0 is absent (the rows-repeated-by-weight semantics;
 * scikit-learn's sample_weight would still list it, with an F1 of 0).
 */

import { clipProba } from './binary.js';
import type { MetricImpl } from './impl.js';
import { meanMetric } from './mean.js';
import { aurocCounts, aurocUnweighted, aurocWeighted, buildRankIndex, type RankIndex } from './ranking.js';
import type { MetricSpec, MulticlassInput } from './types.js';
import { validateMulticlass } from './validate.js';

const rows = (input: MulticlassInput): number => input.y.length;
const labelsCheck = (name: string) => (input: MulticlassInput) => validateMulticlass(name, input, false);
const probaCheck = (name: string) => (input: MulticlassInput) => validateMulticlass(name, input, true);

function spec(
  name: string,
  direction: 'maximize' | 'minimize',
  needsProba: boolean,
  description: string,
): MetricSpec {
  return { name, task: 'multiclass', direction, needsProba, description };
}

const accuracy = meanMetric<MulticlassInput>(
  spec(
    'accuracy',
    'maximize',
    false,
    'Fraction of rows with pred == y; equals sklearn.metrics.accuracy_score.',
  ),
  labelsCheck('accuracy'),
  rows,
  (input, start, end, out) => {
    const { y, pred } = input;
    for (let i = start; i < end; i++) out[i - start] = Number(y[i] === pred[i]);
  },
);

const logLoss = meanMetric<MulticlassInput>(
  spec(
    'log_loss',
    'minimize',
    true,
    'Mean of -log(clip(proba[i, y_i], eps, 1 - eps)), eps = float64 machine epsilon, natural log; rows ' +
      'are NOT renormalised (scikit-learn 1.9.1 only warns when they do not sum to 1). Equals ' +
      'sklearn.metrics.log_loss(y, proba, labels=range(k)).',
  ),
  probaCheck('log_loss'),
  rows,
  (input, start, end, out) => {
    const { y, k } = input;
    const q = input.proba!;
    for (let i = start; i < end; i++) out[i - start] = -Math.log(clipProba(q[i * k + y[i]!]!));
  },
);

/** Per-class weighted counts: true positives, support (y = c) and predicted (pred = c). */
function classCounts(
  input: MulticlassInput,
  weights: Float64Array | null,
): [Float64Array, Float64Array, Float64Array] {
  const { y, pred, k } = input;
  const tp = new Float64Array(k);
  const support = new Float64Array(k);
  const predicted = new Float64Array(k);
  const n = y.length;
  if (weights === null) {
    for (let i = 0; i < n; i++) {
      const a = y[i]!;
      const b = pred[i]!;
      support[a]!++;
      predicted[b]!++;
      if (a === b) tp[a]!++;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      const a = y[i]!;
      const b = pred[i]!;
      support[a]! += w;
      predicted[b]! += w;
      if (a === b) tp[a]! += w;
    }
  }
  return [tp, support, predicted];
}

type Averaging = 'macro' | 'micro' | 'weighted';

function f1FromCounts(
  avg: Averaging,
  tp: Float64Array,
  support: Float64Array,
  predicted: Float64Array,
): number {
  const k = tp.length;
  if (avg === 'micro') {
    let t = 0;
    let s = 0;
    let p = 0;
    for (let c = 0; c < k; c++) {
      t += tp[c]!;
      s += support[c]!;
      p += predicted[c]!;
    }
    if (s + p === 0) throw new RangeError('f1_micro: weights sum to zero');
    return (2 * t) / (s + p);
  }
  let acc = 0;
  let den = 0;
  for (let c = 0; c < k; c++) {
    const s = support[c]!;
    const p = predicted[c]!;
    if (s + p === 0) continue; // class absent from y and pred: not in the label set
    const f = (2 * tp[c]!) / (s + p);
    if (avg === 'macro') {
      acc += f;
      den += 1;
    } else {
      acc += f * s;
      den += s;
    }
  }
  if (den === 0) throw new RangeError(`f1_${avg}: weights sum to zero`);
  return acc / den;
}

function f1Metric(avg: Averaging, description: string): MetricImpl<MulticlassInput> {
  const name = `f1_${avg}`;
  return {
    spec: spec(name, 'maximize', false, description),
    validate: labelsCheck(name),
    compute(input, weights) {
      return f1FromCounts(avg, ...classCounts(input, weights));
    },
    prepare(input) {
      return (weights) => f1FromCounts(avg, ...classCounts(input, weights));
    },
  };
}

const f1Macro = f1Metric(
  'macro',
  'Unweighted mean over the classes present in y or pred of F1_c = 2 tp_c / (support_c + predicted_c); ' +
    'equals sklearn.metrics.f1_score(average="macro").',
);
const f1Micro = f1Metric(
  'micro',
  'F1 of the pooled counts, 2 sum tp / (sum support + sum predicted) (= accuracy for single-label ' +
    'data); equals sklearn.metrics.f1_score(average="micro").',
);
const f1Weighted = f1Metric(
  'weighted',
  'Mean of the per-class F1 weighted by class support (count of y = c); equals ' +
    'sklearn.metrics.f1_score(average="weighted").',
);

/** scikit-learn's multiclass roc_auc_score check: np.allclose(1, row sums) (rtol 1e-5, atol 1e-8). */
function checkRowSums(proba: Float64Array, n: number, k: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < k; c++) s += proba[i * k + c]!;
    if (!(Math.abs(1 - s) <= 1e-8 + 1e-5 * Math.abs(s))) {
      throw new RangeError(
        `auroc_ovr: proba row ${i} sums to ${s}, not 1; target scores must be probabilities ` +
          '(scikit-learn raises the same error)',
      );
    }
  }
}

/** Class column c of the row-major proba matrix, and the one-vs-rest labels y == c. */
function column(input: MulticlassInput, c: number): [Float64Array, Uint8Array] {
  const { y, k } = input;
  const proba = input.proba!;
  const n = y.length;
  const scores = new Float64Array(n);
  const positive = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    scores[i] = proba[i * k + c]!;
    positive[i] = y[i] === c ? 1 : 0;
  }
  return [scores, positive];
}

function checkAllClassesPresent(input: MulticlassInput): void {
  const seen = new Uint8Array(input.k);
  for (let i = 0; i < input.y.length; i++) seen[input.y[i]!] = 1;
  for (let c = 0; c < input.k; c++) {
    if (seen[c] === 0) {
      throw new RangeError(
        `auroc_ovr is undefined: class ${c} of k = ${input.k} does not occur in y ` +
          '(scikit-learn raises "Number of classes in y_true not equal to the number of columns")',
      );
    }
  }
}

const aurocOvr: MetricImpl<MulticlassInput> = {
  spec: spec(
    'auroc_ovr',
    'maximize',
    true,
    'Unweighted mean over the k classes of the one-vs-rest AUROC of proba[:, c] for y == c; equals ' +
      'sklearn.metrics.roc_auc_score(multi_class="ovr", average="macro"). Throws a RangeError when a ' +
      'class does not occur in y or a proba row does not sum to 1 (np.allclose), as scikit-learn raises.',
  ),
  validate(input) {
    validateMulticlass('auroc_ovr', input, true);
    checkRowSums(input.proba!, input.y.length, input.k);
    checkAllClassesPresent(input);
  },
  compute(input, weights) {
    let acc = 0;
    for (let c = 0; c < input.k; c++) {
      const [scores, positive] = column(input, c);
      acc +=
        weights === null
          ? aurocUnweighted(scores, positive, `auroc_ovr (class ${c})`)
          : aurocWeighted(buildRankIndex(scores, positive), weights, `auroc_ovr (class ${c})`);
    }
    return acc / input.k;
  },
  ranked: {
    indexes(input) {
      const idx: RankIndex[] = [];
      for (let c = 0; c < input.k; c++) idx.push(buildRankIndex(...column(input, c)));
      return idx;
    },
    evaluate(idx, counts, perms) {
      let acc = 0;
      for (let c = 0; c < idx.length; c++)
        acc += aurocCounts(idx[c]!, counts, perms[c]!, `auroc_ovr (class ${c})`);
      return acc / idx.length;
    },
  },
  prepare(input) {
    const idx: RankIndex[] = [];
    for (let c = 0; c < input.k; c++) idx.push(buildRankIndex(...column(input, c)));
    return (weights) => {
      let acc = 0;
      for (let c = 0; c < idx.length; c++) acc += aurocWeighted(idx[c]!, weights, `auroc_ovr (class ${c})`);
      return acc / idx.length;
    };
  },
};

/** All multiclass metrics, in the order they are listed. */
export const MULTICLASS_METRICS: ReadonlyArray<MetricImpl<MulticlassInput>> = [
  accuracy,
  f1Macro,
  f1Micro,
  f1Weighted,
  logLoss,
  aurocOvr,
];

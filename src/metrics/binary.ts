/**
 * Binary classification metrics. Inputs: y in {0, 1}, p = P(y = 1). Each matches the named
 * scikit-learn 1.9.1 function with default arguments (pos_label = 1, zero_division = "warn", which
 * yields 0.0), and its `sample_weight` semantics for weights.
 */

import { cachedAuroc } from './delong_cache.js';
import type { MetricImpl } from './impl.js';
import { meanMetric } from './mean.js';
import {
  aurocCounts,
  aurocUnweighted,
  aurocWeighted,
  averagePrecisionCounts,
  averagePrecisionUnweighted,
  averagePrecisionWeighted,
  buildRankIndex,
} from './ranking.js';
import { BLOCK, CompensatedSum } from './sum.js';
import type { BinaryInput, MetricSpec } from './types.js';
import { validateBinary } from './validate.js';

/** Machine epsilon of float64, the clipping bound scikit-learn's log_loss uses (`np.finfo(float64).eps`). */
export const LOG_LOSS_EPS = Number.EPSILON;
const ONE_MINUS_EPS = 1 - LOG_LOSS_EPS;
/** Threshold of the thresholded metrics: the predicted label is `p > THRESHOLD` (scikit-learn's `predict`, `(p > 0.5)`). */
export const THRESHOLD = 0.5;
/** Number of equal-width ECE bins on [0, 1]. */
export const ECE_BINS = 10;
/** ECE bin edges b/10 (b = 0..10) as doubles: bin b covers [EDGES[b], EDGES[b+1]), the last bin includes 1. */
const EDGES = Float64Array.from({ length: ECE_BINS + 1 }, (_, b) => b / ECE_BINS);

const rows = (input: BinaryInput): number => input.y.length;

/** scikit-learn's clip of probabilities to [eps, 1 - eps] (log_loss, 1.9.1). */
export function clipProba(x: number): number {
  return Math.max(LOG_LOSS_EPS, Math.min(x, ONE_MINUS_EPS));
}

/**
 * ECE bin of a probability in [0, 1]: the number of inner edges EDGES[1..9] that are <= p.
 * floor(p * 10) is within one of it (both p * 10 and the edges are correctly rounded), so one
 * comparison with each neighbouring edge fixes the rounding cases.
 */
export function eceBin(p: number): number {
  const b = Math.min(ECE_BINS - 1, Math.floor(p * ECE_BINS));
  if (p < EDGES[b]!) return b - 1;
  if (b < ECE_BINS - 1 && p >= EDGES[b + 1]!) return b + 1;
  return b;
}

function spec(
  name: string,
  direction: 'maximize' | 'minimize',
  needsProba: boolean,
  description: string,
): MetricSpec {
  return { name, task: 'binary', direction, needsProba, description };
}

const probaCheck = (name: string) => (input: BinaryInput) => validateBinary(name, input, true);
const scoreCheck = (name: string) => (input: BinaryInput) => validateBinary(name, input, false);

const auroc: MetricImpl<BinaryInput> = {
  spec: spec(
    'auroc',
    'maximize',
    true,
    'Area under the ROC curve = Mann-Whitney U / (P*N), ties counted 1/2; equals ' +
      'sklearn.metrics.roc_auc_score (trapezoidal area under roc_curve). Throws a RangeError when y ' +
      'holds one class only (scikit-learn returns NaN with a warning).',
  ),
  validate: scoreCheck('auroc'),
  compute(input, weights) {
    // The keep rule's DeLong sort of these very predictions, when done, already counted U: the same value.
    if (weights === null) return cachedAuroc(input.y, input.p) ?? aurocUnweighted(input.p, input.y, 'auroc');
    return aurocWeighted(buildRankIndex(input.p, input.y), weights, 'auroc');
  },
  prepare(input) {
    const idx = buildRankIndex(input.p, input.y);
    return (weights) => aurocWeighted(idx, weights, 'auroc');
  },
  ranked: {
    indexes: (input) => [buildRankIndex(input.p, input.y)],
    evaluate: (idx, counts, perms) => aurocCounts(idx[0]!, counts, perms[0]!, 'auroc'),
  },
};

const averagePrecision: MetricImpl<BinaryInput> = {
  spec: spec(
    'average_precision',
    'maximize',
    true,
    'AP = sum_n (R_n - R_{n-1}) P_n over distinct thresholds in decreasing order (no interpolation); ' +
      'equals sklearn.metrics.average_precision_score. Throws a RangeError when y has no positive (single-class ' +
      'policy, docs/glossary.md; scikit-learn returns 0.0 with a warning).',
  ),
  validate: scoreCheck('average_precision'),
  compute(input, weights) {
    if (weights === null) return averagePrecisionUnweighted(input.p, input.y);
    return averagePrecisionWeighted(buildRankIndex(input.p, input.y), weights);
  },
  prepare(input) {
    const idx = buildRankIndex(input.p, input.y);
    return (weights) => averagePrecisionWeighted(idx, weights);
  },
  ranked: {
    indexes: (input) => [buildRankIndex(input.p, input.y)],
    evaluate: (idx, counts, perms) => averagePrecisionCounts(idx[0]!, counts, perms[0]!),
  },
};

const logLoss = meanMetric<BinaryInput>(
  spec(
    'log_loss',
    'minimize',
    true,
    'Mean of -log(q), q = p if y = 1 else 1 - p, with q clipped to [eps, 1 - eps], eps = float64 ' +
      'machine epsilon (2.22e-16); natural log. Equals sklearn.metrics.log_loss (1.9.1) with labels=[0, 1].',
  ),
  probaCheck('log_loss'),
  rows,
  (input, start, end, out) => {
    const { y, p } = input;
    for (let i = start; i < end; i++) {
      const pi = p[i]!;
      const yi = y[i]!;
      // q = p if y = 1 else 1 - p, branch-free and exact (one of the two products is 0)
      out[i - start] = -Math.log(clipProba(yi * pi + (1 - yi) * (1 - pi)));
    }
  },
);

const brier = meanMetric<BinaryInput>(
  spec(
    'brier',
    'minimize',
    true,
    'Brier score: mean over rows of ((1-y) - (1-p))^2 + (y - p)^2, halved (= mean (y - p)^2); equals ' +
      'sklearn.metrics.brier_score_loss (1.9.1, scale_by_half="auto"), computed in the same order.',
  ),
  probaCheck('brier'),
  rows,
  (input, start, end, out) => {
    const { y, p } = input;
    for (let i = start; i < end; i++) {
      const yi = y[i]!;
      const pi = p[i]!;
      const a = 1 - yi - (1 - pi);
      const b = yi - pi;
      out[i - start] = a * a + b * b;
    }
  },
  (m) => m * 0.5,
);

const accuracy = meanMetric<BinaryInput>(
  spec(
    'accuracy',
    'maximize',
    false,
    'Fraction of rows with (p > 0.5) == y; equals sklearn.metrics.accuracy_score on the thresholded labels.',
  ),
  scoreCheck('accuracy'),
  rows,
  (input, start, end, out) => {
    const { y, p } = input;
    for (let i = start; i < end; i++) out[i - start] = Number(Number(p[i]! > THRESHOLD) === y[i]);
  },
);

/** Weighted confusion counts at p > 0.5: [tp, predicted positives, true positives]. */
function confusion(input: BinaryInput, weights: Float64Array | null): [number, number, number] {
  const { y, p } = input;
  const n = y.length;
  const tp = new CompensatedSum();
  const pp = new CompensatedSum();
  const ap = new CompensatedSum();
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let a = 0;
    let b = 0;
    let c = 0;
    for (let i = start; i < end; i++) {
      const w = weights === null ? 1 : weights[i]!;
      const yi = y[i]!;
      const pw = w * Number(p[i]! > THRESHOLD);
      a += yi * pw;
      b += pw;
      c += yi * w;
    }
    tp.add(a);
    pp.add(b);
    ap.add(c);
  }
  return [tp.value, pp.value, ap.value];
}

/** Prepared counts: the thresholded labels are fixed, each call is one pass over the weights. */
function preparedConfusion(input: BinaryInput) {
  const n = input.y.length;
  const yf = Float64Array.from(input.y);
  const pf = new Float64Array(n);
  for (let i = 0; i < n; i++) pf[i] = Number(input.p[i]! > THRESHOLD);
  const unweighted = confusion(input, null);
  return (weights: Float64Array | null): [number, number, number] => {
    if (weights === null) return unweighted;
    const tp = new CompensatedSum();
    const pp = new CompensatedSum();
    const ap = new CompensatedSum();
    for (let start = 0; start < n; start += BLOCK) {
      const end = Math.min(n, start + BLOCK);
      let a = 0;
      let b = 0;
      let c = 0;
      for (let i = start; i < end; i++) {
        const w = weights[i]!;
        const wp = w * pf[i]!;
        a += wp * yf[i]!;
        b += wp;
        c += w * yf[i]!;
      }
      tp.add(a);
      pp.add(b);
      ap.add(c);
    }
    return [tp.value, pp.value, ap.value];
  };
}

/** A metric of the confusion counts (precision, recall, f1). */
function countMetric(s: MetricSpec, f: (tp: number, predPos: number, truePos: number) => number) {
  const impl: MetricImpl<BinaryInput> = {
    spec: s,
    validate: scoreCheck(s.name),
    compute(input, weights) {
      const [tp, pp, ap] = confusion(input, weights);
      return f(tp, pp, ap);
    },
    prepare(input) {
      const counts = preparedConfusion(input);
      return (weights) => {
        const [tp, pp, ap] = counts(weights);
        return f(tp, pp, ap);
      };
    },
  };
  return impl;
}

const precision = countMetric(
  spec(
    'precision',
    'maximize',
    false,
    'tp / (tp + fp) at p > 0.5; 0.0 when nothing is predicted positive. Equals ' +
      'sklearn.metrics.precision_score (pos_label=1, zero_division="warn" -> 0.0).',
  ),
  (tp, pp) => (pp === 0 ? 0 : tp / pp),
);

const recall = countMetric(
  spec(
    'recall',
    'maximize',
    false,
    'tp / (tp + fn) at p > 0.5; 0.0 when y has no positive. Equals ' +
      'sklearn.metrics.recall_score (pos_label=1, zero_division="warn" -> 0.0).',
  ),
  (tp, _pp, ap) => (ap === 0 ? 0 : tp / ap),
);

const f1 = countMetric(
  spec(
    'f1',
    'maximize',
    false,
    '2 tp / (2 tp + fp + fn) at p > 0.5; 0.0 when there is no positive in y nor in the ' +
      'predictions. Equals sklearn.metrics.f1_score (pos_label=1, zero_division="warn" -> 0.0).',
  ),
  (tp, pp, ap) => (pp + ap === 0 ? 0 : (2 * tp) / (ap + pp)),
);

/** ECE from per-bin weight, weighted sum of p and weighted sum of y. */
function eceFromBins(wb: Float64Array, sp: Float64Array, sy: Float64Array): number {
  let W = 0;
  for (let b = 0; b < ECE_BINS; b++) W += wb[b]!;
  if (!(W > 0)) throw new RangeError('ece: weights sum to zero');
  let ece = 0;
  for (let b = 0; b < ECE_BINS; b++) {
    const w = wb[b]!;
    if (w > 0) ece += (w / W) * Math.abs(sp[b]! / w - sy[b]! / w);
  }
  return ece;
}

/** Per-bin sums, accumulated in blocks with compensated totals. */
function eceSums(
  bins: Uint8Array,
  y: Uint8Array,
  p: Float64Array,
  weights: Float64Array | null,
): [Float64Array, Float64Array, Float64Array] {
  const n = y.length;
  const totW = Array.from({ length: ECE_BINS }, () => new CompensatedSum());
  const totP = Array.from({ length: ECE_BINS }, () => new CompensatedSum());
  const totY = Array.from({ length: ECE_BINS }, () => new CompensatedSum());
  const bw = new Float64Array(ECE_BINS);
  const bp = new Float64Array(ECE_BINS);
  const by = new Float64Array(ECE_BINS);
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    bw.fill(0);
    bp.fill(0);
    by.fill(0);
    for (let i = start; i < end; i++) {
      const b = bins[i]!;
      const w = weights === null ? 1 : weights[i]!;
      bw[b]! += w;
      bp[b]! += w * p[i]!;
      by[b]! += w * y[i]!;
    }
    for (let b = 0; b < ECE_BINS; b++) {
      totW[b]!.add(bw[b]!);
      totP[b]!.add(bp[b]!);
      totY[b]!.add(by[b]!);
    }
  }
  return [
    Float64Array.from(totW, (s) => s.value),
    Float64Array.from(totP, (s) => s.value),
    Float64Array.from(totY, (s) => s.value),
  ];
}

function eceBins(p: Float64Array): Uint8Array {
  const bins = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) bins[i] = eceBin(p[i]!);
  return bins;
}

const ece: MetricImpl<BinaryInput> = {
  spec: spec(
    'ece',
    'minimize',
    true,
    'Expected calibration error (Naeini, Cooper & Hauskrecht 2015; Guo et al. 2017): 10 equal-width ' +
      'bins, bin b = [b/10, (b+1)/10) with the last bin including 1.0 (edges are the doubles b/10); ' +
      'ECE = sum_b (n_b / n) |mean(p in b) - mean(y in b)|. No scikit-learn function; the fixtures ' +
      'use a numpy reference with np.searchsorted(np.arange(1, 10) / 10, p, side="right").',
  ),
  validate: probaCheck('ece'),
  compute(input, weights) {
    return eceFromBins(...eceSums(eceBins(input.p), input.y, input.p, weights));
  },
  prepare(input) {
    const bins = eceBins(input.p);
    return (weights) => eceFromBins(...eceSums(bins, input.y, input.p, weights));
  },
};

/** All binary metrics, in the order they are listed. */
export const BINARY_METRICS: ReadonlyArray<MetricImpl<BinaryInput>> = [
  auroc,
  averagePrecision,
  logLoss,
  brier,
  accuracy,
  f1,
  precision,
  recall,
  ece,
];

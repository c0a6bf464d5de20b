/**
 * Weighted metrics equal the unweighted metric of the rows repeated by their weights, for every
 * metric (one-shot, prepared and, for rank metrics, the bootstrap's byte-count route).
 * Tolerance: relative 1e-12; exact for auroc and the counting metrics.
 */

import { describe, expect, it } from 'vitest';
import { BINARY_METRICS } from '../../src/metrics/binary.js';
import {
  computeMetric,
  type MetricInput,
  metricsForTask,
  prepareMetric,
  Xoshiro128,
} from '../../src/metrics/index.js';
import { MULTICLASS_METRICS } from '../../src/metrics/multiclass.js';
import { relativeOrder } from '../../src/metrics/ranking.js';
import { close, repeatRows } from './helpers.js';

const EXACT = new Set(['auroc', 'accuracy', 'precision', 'recall', 'f1', 'f1_micro']);

function binaryInput(rng: Xoshiro128, n: number, ties: boolean): MetricInput {
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextFloat() < 0.35 ? 1 : 0;
    const s = Math.min(1, Math.max(0, 0.35 + 0.25 * (y[i]! - 0.5) + 0.5 * (rng.nextFloat() - 0.5)));
    p[i] = ties ? Math.round(s * 10) / 10 : s;
  }
  return { task: 'binary', y, p };
}

function multiclassInput(rng: Xoshiro128, n: number, k: number, ties: boolean): MetricInput {
  const y = new Int32Array(n);
  const pred = new Int32Array(n);
  const proba = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextInt(k);
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const v = (c === y[i] ? 1.5 : 0.5) + (ties ? rng.nextInt(3) : rng.nextFloat());
      proba[i * k + c] = v;
      sum += v;
    }
    let best = 0;
    for (let c = 0; c < k; c++) {
      proba[i * k + c] = proba[i * k + c]! / sum;
      if (proba[i * k + c]! > proba[i * k + best]!) best = c;
    }
    pred[i] = rng.nextFloat() < 0.9 ? best : rng.nextInt(k);
  }
  return { task: 'multiclass', y, k, pred, proba };
}

function regressionInput(rng: Xoshiro128, n: number): MetricInput {
  const y = new Float64Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 17 === 0 ? 0 : 5 + 3 * (rng.nextFloat() - 0.5);
    p[i] = y[i]! + (rng.nextFloat() - 0.5);
  }
  return { task: 'regression', y, p };
}

function integerWeights(rng: Xoshiro128, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.nextInt(4)); // 0..3, about a quarter zeros
}

const inputs: Array<[string, (rng: Xoshiro128) => MetricInput]> = [
  ['binary', (rng) => binaryInput(rng, 400, false)],
  ['binary with ties', (rng) => binaryInput(rng, 400, true)],
  ['multiclass', (rng) => multiclassInput(rng, 400, 4, false)],
  ['multiclass with ties', (rng) => multiclassInput(rng, 400, 3, true)],
  ['regression', (rng) => regressionInput(rng, 400)],
];

describe('weighted metric == metric of the rows repeated by their weights', () => {
  inputs.forEach(([label, make], s) => {
    it(label, () => {
      const rng = new Xoshiro128(100 + s);
      const input = make(rng);
      for (let trial = 0; trial < 3; trial++) {
        const w = integerWeights(rng, input.y.length);
        const repeated = repeatRows(input, w);
        for (const { name } of metricsForTask(input.task)) {
          const direct = computeMetric(name, repeated);
          const weighted = computeMetric(name, input, w);
          const prepared = prepareMetric(name, input)(w);
          const msg = `${label}/${name}: weighted ${weighted}, prepared ${prepared}, repeated ${direct}`;
          if (EXACT.has(name)) {
            expect(weighted, msg).toBe(direct);
            expect(prepared, msg).toBe(direct);
          } else {
            expect(close(weighted, direct), msg).toBe(true);
            expect(close(prepared, direct), msg).toBe(true);
          }
        }
      }
    });
  });

  it('rank metrics: the byte-count route of the bootstrap equals the weighted route', () => {
    const rng = new Xoshiro128(7);
    const a = binaryInput(rng, 500, true);
    const b = binaryInput(rng, 500, false);
    b.y.set(a.y);
    const mc = multiclassInput(rng, 500, 3, true);
    const cases: Array<[(typeof BINARY_METRICS)[number] | (typeof MULTICLASS_METRICS)[number], MetricInput]> =
      [
        [BINARY_METRICS.find((m) => m.spec.name === 'auroc')!, b],
        [BINARY_METRICS.find((m) => m.spec.name === 'average_precision')!, b],
        [MULTICLASS_METRICS.find((m) => m.spec.name === 'auroc_ovr')!, mc],
      ];
    for (const [impl, input] of cases) {
      const ranked = impl.ranked!;
      // biome-ignore lint/suspicious/noExplicitAny: the impl's input type is the case's task
      const idx = ranked.indexes(input as any);
      // Reference order: another model's sort order (as in the bootstrap, where it is model A's).
      // biome-ignore lint/suspicious/noExplicitAny: same as above
      const ref = ranked.indexes((input.task === 'binary' ? a : input) as any)[0]!;
      const perms = idx.map((x) => relativeOrder(ref, x));
      for (let trial = 0; trial < 5; trial++) {
        const counts = new Uint8Array(input.y.length);
        for (let i = 0; i < counts.length; i++) counts[i] = rng.nextInt(4);
        const rowWeights = new Float64Array(counts.length);
        for (let j = 0; j < counts.length; j++) rowWeights[ref.order[j]!] = counts[j]!;
        const viaCounts = ranked.evaluate(idx, counts, perms);
        const viaWeights = computeMetric(impl.spec.name, input, rowWeights);
        expect(close(viaCounts, viaWeights, 1e-14), `${impl.spec.name}: ${viaCounts} vs ${viaWeights}`).toBe(
          true,
        );
      }
    }
  });

  it('f1 averages drop a class whose rows all have weight 0 (as the repeated rows do)', () => {
    const input: MetricInput = {
      task: 'multiclass',
      k: 3,
      y: Int32Array.of(0, 0, 1, 1, 2, 2, 0, 1),
      pred: Int32Array.of(0, 1, 1, 1, 2, 0, 0, 0),
    };
    // rows 4 and 5 are the only ones with y = 2 or pred = 2
    const w = Float64Array.of(1, 2, 1, 1, 0, 0, 3, 1);
    const repeated = repeatRows(input, w);
    for (const name of ['f1_macro', 'f1_micro', 'f1_weighted']) {
      expect(computeMetric(name, input, w), name).toBe(computeMetric(name, repeated));
    }
    // macro over classes {0, 1}: class 0 F1 = 2*4/(6+5), class 1 F1 = 2*2/(4+3)
    expect(computeMetric('f1_macro', input, w)).toBe((8 / 11 + 4 / 7) / 2);
  });

  it('zero-weight rows are absent even when their loss term is infinite', () => {
    const y = Float64Array.of(0, 1, 2, 3);
    const p = Float64Array.of(1e300, 1, 2, 3.5); // mape term of row 0 overflows to Infinity
    const w = Float64Array.of(0, 1, 1, 1);
    expect(Number.isFinite(computeMetric('mape', { task: 'regression', y, p }))).toBe(false);
    const weighted = computeMetric('mape', { task: 'regression', y, p }, w);
    const rest = computeMetric('mape', { task: 'regression', y: y.subarray(1), p: p.subarray(1) });
    expect(weighted).toBe(rest);
    expect(prepareMetric('mape', { task: 'regression', y, p })(w)).toBe(rest);
  });

  it('rejects bad weights with a RangeError', () => {
    const input: MetricInput = {
      task: 'binary',
      y: Uint8Array.of(0, 1, 1),
      p: Float64Array.of(0.1, 0.8, 0.4),
    };
    expect(() => computeMetric('log_loss', input, Float64Array.of(1, 1))).toThrow(/weights have 2 rows/);
    expect(() => computeMetric('log_loss', input, Float64Array.of(1, -1, 1))).toThrow(/non-negative/);
    expect(() => computeMetric('log_loss', input, Float64Array.of(1, Number.NaN, 1))).toThrow(RangeError);
    expect(() => computeMetric('auroc', input, Float64Array.of(0, 0, 0))).toThrow(/all weights are zero/);
    expect(() => prepareMetric('brier', input)(Float64Array.of(0, 0, 0))).toThrow(RangeError);
    // weighting away every negative makes auroc undefined
    expect(() => computeMetric('auroc', input, Float64Array.of(0, 1, 1))).toThrow(/only one class/);
  });

  it('real-valued weights follow scikit-learn sample_weight scaling invariance', () => {
    const rng = new Xoshiro128(3);
    const input = binaryInput(rng, 300, true);
    const w = Float64Array.from({ length: 300 }, () => 0.1 + rng.nextFloat());
    const w2 = w.map((v) => v * 8); // a power of two: exact scaling
    for (const { name } of metricsForTask('binary')) {
      expect(computeMetric(name, input, w2), name).toBe(computeMetric(name, input, w));
    }
  });
});

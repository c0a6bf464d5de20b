/**
 * The registry (names, directions, errors) and input validation.
 */

import { describe, expect, it } from 'vitest';
import {
  computeMetric,
  computeMetrics,
  type MetricInput,
  metricSpec,
  metricsForTask,
} from '../../src/metrics/index.js';

describe('registry', () => {
  it('lists exactly the contract names per task', () => {
    expect(metricsForTask('binary').map((m) => m.name)).toEqual([
      'auroc',
      'average_precision',
      'log_loss',
      'brier',
      'accuracy',
      'f1',
      'precision',
      'recall',
      'ece',
    ]);
    expect(metricsForTask('multiclass').map((m) => m.name)).toEqual([
      'accuracy',
      'f1_macro',
      'f1_micro',
      'f1_weighted',
      'log_loss',
      'auroc_ovr',
    ]);
    expect(metricsForTask('regression').map((m) => m.name)).toEqual(['rmse', 'mae', 'r2', 'mape']);
  });

  it('gives directions and needsProba', () => {
    const minimized = new Set(['log_loss', 'brier', 'ece', 'rmse', 'mae', 'mape']);
    for (const task of ['binary', 'multiclass', 'regression'] as const) {
      for (const m of metricsForTask(task)) {
        expect(m.task).toBe(task);
        expect(m.direction, m.name).toBe(minimized.has(m.name) ? 'minimize' : 'maximize');
        expect(m.description.length, m.name).toBeGreaterThan(40);
        expect(m.description, m.name).toMatch(m.name === 'ece' ? /Naeini|Guo/ : /sklearn\.metrics\./);
      }
    }
    expect(metricSpec('log_loss', 'multiclass').needsProba).toBe(true);
    expect(metricSpec('auroc_ovr', 'multiclass').needsProba).toBe(true);
    expect(metricSpec('f1_macro', 'multiclass').needsProba).toBe(false);
    expect(metricSpec('accuracy', 'binary').needsProba).toBe(false);
    expect(metricSpec('auroc', 'binary').needsProba).toBe(true);
    expect(metricSpec('rmse', 'regression').needsProba).toBe(false);
  });

  it('metricSpec returns a copy', () => {
    const s = metricSpec('auroc', 'binary');
    s.direction = 'minimize';
    expect(metricSpec('auroc', 'binary').direction).toBe('maximize');
  });

  it('an unknown name throws an Error naming it and listing the valid names for the task', () => {
    expect(() => metricSpec('roc_auc', 'binary')).toThrow(
      "unknown metric 'roc_auc' for task 'binary'; valid metrics: auroc, average_precision, log_loss, " +
        'brier, accuracy, f1, precision, recall, ece',
    );
    expect(() => metricSpec('auroc', 'regression')).toThrow(/valid metrics: rmse, mae, r2, mape/);
    expect(() => metricSpec('f1', 'multiclass')).toThrow(/f1_macro, f1_micro, f1_weighted/);
    // biome-ignore lint/suspicious/noExplicitAny: an invalid task on purpose
    expect(() => metricsForTask('survival' as any)).toThrow(/unknown task 'survival'/);
    const input: MetricInput = { task: 'regression', y: Float64Array.of(1, 2), p: Float64Array.of(1, 2) };
    expect(() => computeMetric('auroc', input)).toThrow(/unknown metric 'auroc' for task 'regression'/);
  });

  it('computeMetrics returns a record of values', () => {
    const input: MetricInput = {
      task: 'binary',
      y: Uint8Array.of(0, 0, 1, 1),
      p: Float64Array.of(0.1, 0.4, 0.35, 0.8),
    };
    // The example of sklearn.metrics.roc_auc_score / average_precision_score docs.
    expect(computeMetrics(['auroc', 'average_precision', 'accuracy'], input)).toEqual({
      auroc: 0.75,
      average_precision: 0.8333333333333333,
      accuracy: 0.75, // labels p > 0.5 = [0, 0, 0, 1]
    });
  });
});

describe('input validation (RangeError: the evaluator marks the experiment invalid)', () => {
  const bin = (y: number[], p: number[]): MetricInput => ({
    task: 'binary',
    y: Uint8Array.from(y),
    p: Float64Array.from(p),
  });

  it('binary', () => {
    expect(() => computeMetric('auroc', bin([0, 1], [0.2, Number.NaN]))).toThrow(/p\[1\] is NaN/);
    expect(() => computeMetric('auroc', bin([0, 1], [0.2, Number.POSITIVE_INFINITY]))).toThrow(RangeError);
    expect(() => computeMetric('auroc', bin([0, 2], [0.2, 0.3]))).toThrow(/y\[1\] = 2 is not a binary label/);
    expect(() => computeMetric('auroc', bin([0, 1], [0.2]))).toThrow(/y has 2 rows but p has 1/);
    expect(() => computeMetric('accuracy', bin([], []))).toThrow(/no rows/);
    // probability metrics need [0, 1]; ranking and thresholded metrics take any finite score
    expect(() => computeMetric('log_loss', bin([0, 1], [0.2, 1.5]))).toThrow(/outside \[0, 1\]/);
    expect(() => computeMetric('brier', bin([0, 1], [-0.1, 0.5]))).toThrow(RangeError);
    expect(() => computeMetric('ece', bin([0, 1], [0.1, 1.0000001]))).toThrow(RangeError);
    expect(computeMetric('auroc', bin([0, 1, 1], [-3, 5, 2]))).toBe(1);
    expect(computeMetric('accuracy', bin([0, 1], [-3, 5]))).toBe(1);
  });

  it('multiclass', () => {
    const base = {
      task: 'multiclass' as const,
      k: 3,
      y: Int32Array.of(0, 1, 2),
      pred: Int32Array.of(0, 1, 1),
    };
    expect(() => computeMetric('log_loss', base)).toThrow(/needs predicted class probabilities/);
    expect(() => computeMetric('auroc_ovr', base)).toThrow(RangeError);
    expect(computeMetric('accuracy', base)).toBe(2 / 3);
    expect(() => computeMetric('accuracy', { ...base, pred: Int32Array.of(0, 1, 3) })).toThrow(
      /pred\[2\] = 3 is not a class index in \[0, 3\)/,
    );
    expect(() => computeMetric('accuracy', { ...base, y: Int32Array.of(0, -1, 2) })).toThrow(RangeError);
    expect(() => computeMetric('accuracy', { ...base, k: 1 })).toThrow(/k must be an integer >= 2/);
    const proba = Float64Array.of(0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.5, 0.4);
    expect(() => computeMetric('log_loss', { ...base, proba: proba.subarray(0, 8) })).toThrow(
      /expected n\*k = 9/,
    );
    const bad = proba.slice();
    bad[4] = Number.NaN;
    expect(() => computeMetric('log_loss', { ...base, proba: bad })).toThrow(/proba\[4\] is NaN/);
    const scaled = proba.map((v) => v * 0.5);
    expect(() => computeMetric('auroc_ovr', { ...base, proba: scaled })).toThrow(/row 0 sums to 0.5/);
    expect(Number.isFinite(computeMetric('log_loss', { ...base, proba: scaled }))).toBe(true);
  });

  it('regression', () => {
    const reg = (y: number[], p: number[]): MetricInput => ({
      task: 'regression',
      y: Float64Array.from(y),
      p: Float64Array.from(p),
    });
    expect(() => computeMetric('rmse', reg([1, Number.NaN], [1, 2]))).toThrow(/y\[1\] is NaN/);
    expect(() => computeMetric('rmse', reg([1, 2], [1, Number.NEGATIVE_INFINITY]))).toThrow(RangeError);
    expect(() => computeMetric('r2', reg([1], [2]))).toThrow(/fewer than two rows/);
    expect(computeMetric('rmse', reg([1], [3]))).toBe(2);
    // rmse, mae and mape check finiteness lazily: still an error for a bad value, but a genuine
    // overflow of finite inputs is returned as Infinity (as numpy would)
    expect(() => computeMetric('mae', reg([1, 2], [Number.POSITIVE_INFINITY, 2]))).toThrow(
      /p\[0\] is Infinity/,
    );
    expect(() => computeMetric('mape', reg([Number.NaN, 2], [1, 2]))).toThrow(/y\[0\] is NaN/);
    expect(computeMetric('rmse', reg([1e200, 0], [-1e200, 0]))).toBe(Number.POSITIVE_INFINITY);
    expect(() => computeMetric('rmse', reg([1, Number.NaN], [1, 2]), Float64Array.of(1, 0))).toThrow(
      RangeError,
    );
  });

  it('rejects arrays of the wrong type', () => {
    // biome-ignore lint/suspicious/noExplicitAny: a plain array on purpose
    const input = { task: 'binary', y: [0, 1], p: Float64Array.of(0.1, 0.9) } as any;
    expect(() => computeMetric('auroc', input)).toThrow(/Uint8Array/);
  });
});

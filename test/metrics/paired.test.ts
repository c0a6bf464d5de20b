/**
 * The keep rule's analytic tests against the committed fixtures (generate_paired_fixtures.py):
 * DeLong's test versus scikit-learn's roc_auc_score and an independent O(m·n) numpy implementation
 * of DeLong et al. 1988, and the paired z-test versus scikit-learn's metrics and numpy on the
 * per-row losses.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { structuralComponents } from '../../src/metrics/delong.js';
import {
  type BinaryInput,
  computeMetric,
  delongTest,
  type MetricInput,
  normalCdf,
  pairedZTest,
  type RegressionInput,
} from '../../src/metrics/index.js';

interface DeLongCase {
  name: string;
  y: number[];
  a: number[];
  b: number[];
  auc_a: number;
  auc_b: number;
  delta: number;
  s10: number[];
  s01: number[];
  variance: number;
  z: number;
  p_better: number;
}

interface PairedZCase {
  name: string;
  task: 'binary' | 'regression';
  metric: string;
  y: number[];
  a: number[];
  b: number[];
  value_a: number;
  value_b: number;
  mean_d: number;
  se_d: number;
  z: number;
  p_better: number;
  se_metric?: number;
}

const doc = JSON.parse(readFileSync(new URL('./fixtures/paired.json', import.meta.url), 'utf8')) as {
  delong: DeLongCase[];
  pairedz: PairedZCase[];
};

const rel = (x: number, y: number, tol: number) =>
  expect(Math.abs(x - y)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(y)));

describe('DeLong test vs scikit-learn and the O(m·n) 1988 formulas', () => {
  it('has the five fixture cases', () => expect(doc.delong.map((c) => c.name)).toHaveLength(5));
  for (const c of doc.delong) {
    it(`${c.name}: AUCs to 1e-12, covariance, variance and z to 1e-9`, () => {
      const y = Uint8Array.from(c.y);
      const r = delongTest(y, Float64Array.from(c.a), Float64Array.from(c.b), 0.95);
      rel(r.a, c.auc_a, 1e-12);
      rel(r.b, c.auc_b, 1e-12);
      rel(r.delta, c.delta, 1e-12);
      for (let k = 0; k < 3; k++) {
        rel(r.s10[k]!, c.s10[k]!, 1e-9);
        rel(r.s01[k]!, c.s01[k]!, 1e-9);
      }
      rel(r.variance, c.variance, 1e-9);
      rel(r.z, c.z, 1e-9);
      rel(r.probImprovement, c.p_better, 1e-9);
      // the engine's own auroc agrees
      rel(computeMetric('auroc', { task: 'binary', y, p: Float64Array.from(c.b) }), c.auc_b, 1e-12);
      // interval: delta ± 1.959963985·se
      rel(r.high - r.delta, 1.959963984540054 * Math.sqrt(c.variance), 1e-9);
    });
  }

  it('identical models: delta 0, variance 0, P(better) 0', () => {
    const c = doc.delong[0]!;
    const p = Float64Array.from(c.a);
    const r = delongTest(Uint8Array.from(c.y), p, p, 0.95);
    expect(r.delta).toBe(0);
    expect(r.variance).toBe(0);
    expect(r.probImprovement).toBe(0);
  });

  it('swapping the models negates z', () => {
    const c = doc.delong[2]!;
    const y = Uint8Array.from(c.y);
    const r = delongTest(y, Float64Array.from(c.b), Float64Array.from(c.a), 0.95);
    rel(r.z, -c.z, 1e-9);
    rel(r.probImprovement, 1 - c.p_better, 1e-9);
  });

  it('throws on one class only and on mismatched lengths', () => {
    const p = new Float64Array([0.1, 0.2, 0.3]);
    expect(() => delongTest(new Uint8Array([1, 1, 1]), p, p, 0.95)).toThrow(RangeError);
    expect(() => delongTest(new Uint8Array([1, 0]), p, p, 0.95)).toThrow(RangeError);
  });
});

function inputs(c: PairedZCase): [MetricInput, MetricInput] {
  if (c.task === 'binary') {
    const y = Uint8Array.from(c.y);
    const a: BinaryInput = { task: 'binary', y, p: Float64Array.from(c.a) };
    return [a, { task: 'binary', y, p: Float64Array.from(c.b) }];
  }
  const y = Float64Array.from(c.y);
  const a: RegressionInput = { task: 'regression', y, p: Float64Array.from(c.a) };
  return [a, { task: 'regression', y, p: Float64Array.from(c.b) }];
}

describe('paired z-test vs scikit-learn and numpy', () => {
  it('has the five fixture cases', () => expect(doc.pairedz).toHaveLength(5));
  for (const c of doc.pairedz) {
    it(`${c.name}: the mean of per-row terms is the engine's metric (1e-12); z to 1e-9`, () => {
      const [a, b] = inputs(c);
      const r = pairedZTest(c.metric, a, b, 0.95);
      rel(r.a, c.value_a, 1e-12);
      rel(r.b, c.value_b, 1e-12);
      rel(r.a, computeMetric(c.metric, a), 1e-12);
      rel(r.b, computeMetric(c.metric, b), 1e-12);
      rel(r.z, c.z, 1e-9);
      rel(r.probImprovement, c.p_better, 1e-9);
      // brier: the engine's terms are 2(y − p)² and finish halves them, so se is numpy's se of (y − p)².
      if (c.se_metric !== undefined) rel(r.se, c.se_metric, 1e-6);
      else rel(r.se, c.se_d, 1e-9);
    });
  }

  it('identical predictions: z 0 and P(better) 0', () => {
    const [a] = inputs(doc.pairedz[0]!);
    const r = pairedZTest('log_loss', a, a, 0.95);
    expect(r.z).toBe(0);
    expect(r.probImprovement).toBe(0);
  });

  it('refuses a metric that is not a mean of per-row terms', () => {
    const [a, b] = inputs(doc.pairedz[0]!);
    expect(() => pairedZTest('f1', a, b, 0.95)).toThrow(/not a mean of per-row terms/);
  });
});

describe('normalCdf', () => {
  it('matches erfc-based values', () => {
    rel(normalCdf(0), 0.5, 1e-15);
    rel(normalCdf(1.959963984540054), 0.975, 1e-14);
    rel(normalCdf(-3), 0.0013498980316300946, 1e-13);
    rel(normalCdf(8), 1 - 6.22096057427178e-16, 1e-15);
    expect(normalCdf(Number.POSITIVE_INFINITY)).toBe(1);
  });
});

describe('DeLong structural components by counting', () => {
  /** Brute force O(m·n): t10 = Σ_j 2·[X_i > Y_j] + [X_i = Y_j] per positive, t01 = Σ_i 2·[Y_j > X_i] + [Y_j = X_i] per negative. */
  function bruteForce(y: Uint8Array, p: Float64Array): { t10: number[]; t01: number[] } {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < y.length; i++) (y[i] === 1 ? pos : neg).push(p[i]!);
    const psi2 = (a: number, b: number) => (a > b ? 2 : a === b ? 1 : 0);
    return {
      t10: pos.map((x) => neg.reduce((s, v) => s + psi2(x, v), 0)),
      t01: neg.map((v) => pos.reduce((s, x) => s + psi2(v, x), 0)),
    };
  }
  // Sizes around the search index's bucket (8 values), runs of ties longer than many buckets, -0 beside +0,
  // negative scores; spreads that pile most values into one bucket (skewed), overflow the range (±1e308) or make
  // it too narrow for a bucket scale (neighbouring doubles).
  const spreads = {
    uniform: (u: number) => u,
    skewed: (u: number) => Math.sign(u) * Math.exp(Math.abs(u) * 700),
    overflow: (u: number) => u * 1.7e308,
    narrow: (u: number) => u * 1e-320,
  };
  for (const [rows, levels, spread] of [
    [1, 3, 'uniform'],
    [7, 0, 'uniform'],
    [63, 5, 'uniform'],
    [64, 2, 'uniform'],
    [65, 1000, 'uniform'],
    [700, 4, 'uniform'],
    [2000, 0, 'uniform'],
    [2000, 0, 'skewed'],
    [2000, 50, 'skewed'],
    [500, 0, 'overflow'],
    [500, 0, 'narrow'],
  ] as const) {
    it(`equal exact counts on ${rows} rows (${levels === 0 ? 'distinct scores' : `${levels} score levels`}, ${spread})`, () => {
      let s = rows * 7 + levels;
      const rnd = () => {
        s = (s * 1103515245 + 12345) % 2 ** 31;
        return s / 2 ** 31;
      };
      const y = new Uint8Array(rows + 2);
      const p = new Float64Array(rows + 2);
      for (let i = 0; i < rows; i++) {
        y[i] = rnd() < 0.4 ? 1 : 0;
        const u = rnd() * 2 - 1;
        p[i] = spreads[spread](levels === 0 ? u : Math.round(u * levels) / levels);
      }
      [y[rows], p[rows], y[rows + 1], p[rows + 1]] = [1, -0, 0, 0];
      const m = y.reduce((a, v) => a + v, 0);
      const c = structuralComponents(y, p, m, y.length - m);
      const b = bruteForce(y, p);
      expect(Array.from(c.t10)).toEqual(b.t10);
      expect(Array.from(c.t01)).toEqual(b.t01);
      expect(c.auc).toBe(b.t10.reduce((a, v) => a + v, 0) / (2 * m * (y.length - m)));
    });
  }
});

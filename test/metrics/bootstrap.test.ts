/**
 * The paired bootstrap: determinism, exact zero for identical models, coverage of a planted
 * difference, and a ~1/2 win rate for equally good models.
 */

import { describe, expect, it } from 'vitest';
import { quantileSorted } from '../../src/metrics/bootstrap.js';
import {
  type BinaryInput,
  type MetricInput,
  type MulticlassInput,
  pairedBootstrap,
  type RegressionInput,
  Xoshiro128,
} from '../../src/metrics/index.js';

/** Standard normal draw (Box-Muller). */
function normal(rng: Xoshiro128): number {
  const u = 1 - rng.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 through erf; |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Two binary models on the same rows: score = mu * y + N(0, 1), independent noise per model,
 * reported as sigmoid(score). Population AUROC of a model is Phi(mu / sqrt(2)).
 */
function binaryPair(rng: Xoshiro128, n: number, muA: number, muB: number): [BinaryInput, BinaryInput] {
  const y = new Uint8Array(n);
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextFloat() < 0.5 ? 1 : 0;
    pa[i] = sigmoid(muA * y[i]! + normal(rng));
    pb[i] = sigmoid(muB * y[i]! + normal(rng));
  }
  return [
    { task: 'binary', y, p: pa },
    { task: 'binary', y, p: pb },
  ];
}

/** Two regression models: p = y + N(0, sigma); population RMSE is sigma. */
function regressionPair(
  rng: Xoshiro128,
  n: number,
  sA: number,
  sB: number,
): [RegressionInput, RegressionInput] {
  const y = new Float64Array(n);
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = normal(rng);
    pa[i] = y[i]! + sA * normal(rng);
    pb[i] = y[i]! + sB * normal(rng);
  }
  return [
    { task: 'regression', y, p: pa },
    { task: 'regression', y, p: pb },
  ];
}

function multiclassModel(rng: Xoshiro128, y: Int32Array, k: number, noise: number): MulticlassInput {
  const n = y.length;
  const proba = new Float64Array(n * k);
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let best = 0;
    for (let c = 0; c < k; c++) {
      const v = Math.exp((c === y[i] ? 1 : 0) + noise * normal(rng));
      proba[i * k + c] = v;
      sum += v;
      if (v > proba[i * k + best]!) best = c;
    }
    for (let c = 0; c < k; c++) proba[i * k + c] = proba[i * k + c]! / sum;
    pred[i] = best;
  }
  return { task: 'multiclass', y, k, pred, proba };
}

const OPTS = { resamples: 400, confidence: 0.95, seed: 12345 };

describe('pairedBootstrap', () => {
  it('is deterministic for a seed (rank route and generic route)', () => {
    const [a, b] = binaryPair(new Xoshiro128(1), 3000, 1.0, 1.2);
    for (const metric of ['auroc', 'log_loss', 'f1']) {
      const r1 = pairedBootstrap(metric, a, b, OPTS);
      const r2 = pairedBootstrap(metric, a, b, OPTS);
      expect(r2, metric).toEqual(r1);
      const r3 = pairedBootstrap(metric, a, b, { ...OPTS, seed: 54321 });
      expect(r3.low, metric).not.toBe(r1.low);
      expect(r3.delta, metric).toBe(r1.delta); // the point estimate does not depend on the seed
      expect(r1.seed).toBe(12345);
      expect(r1.resamples).toBe(400);
      expect(r1.confidence).toBe(0.95);
    }
  });

  it('gives exactly [0, 0] and no improvement for identical models', () => {
    const rng = new Xoshiro128(2);
    const [a] = binaryPair(rng, 2000, 1.0, 1.0);
    const copy: BinaryInput = { task: 'binary', y: a.y.slice(), p: a.p.slice() };
    const [ra] = regressionPair(rng, 1000, 1, 1);
    const y = Int32Array.from({ length: 1500 }, () => rng.nextInt(3));
    const ma = multiclassModel(rng, y, 3, 1.0);
    const cases: Array<[string, MetricInput, MetricInput]> = [
      ['auroc', a, a],
      ['auroc', a, copy],
      ['average_precision', a, copy],
      ['log_loss', a, copy],
      ['ece', a, copy],
      ['rmse', ra, { ...ra }],
      ['r2', ra, ra],
      ['f1_macro', ma, { ...ma }],
      ['auroc_ovr', ma, { ...ma, proba: ma.proba!.slice() }],
    ];
    for (const [metric, x, z] of cases) {
      const r = pairedBootstrap(metric, x, z, { resamples: 200, confidence: 0.95, seed: 3 });
      expect([r.delta, r.low, r.high, r.probImprovement], metric).toEqual([0, 0, 0, 0]);
    }
  });

  it('CI covers a planted AUROC difference (coverage over 40 datasets)', () => {
    const muA = 1.0;
    const muB = 1.4;
    const trueDelta = phi(muB / Math.SQRT2) - phi(muA / Math.SQRT2); // ~0.0787
    const rng = new Xoshiro128(4);
    let covered = 0;
    let excludesZero = 0;
    let minProb = 1;
    for (let d = 0; d < 40; d++) {
      const [a, b] = binaryPair(rng, 2000, muA, muB);
      const r = pairedBootstrap('auroc', a, b, { resamples: 400, confidence: 0.95, seed: d });
      expect(r.low <= r.delta && r.delta <= r.high).toBe(true);
      if (r.low <= trueDelta && trueDelta <= r.high) covered++;
      if (r.low > 0) excludesZero++;
      minProb = Math.min(minProb, r.probImprovement);
    }
    // Nominal 95%; the percentile interval of this set-up covered 92.5% of 200 datasets (n = 2000),
    // so 37 of 40 are expected and fewer than 34 would mean a miscalibrated interval.
    expect(covered).toBeGreaterThanOrEqual(34);
    expect(excludesZero).toBeGreaterThanOrEqual(38);
    expect(minProb).toBeGreaterThan(0.9);
  });

  it('CI covers a planted RMSE difference, and probImprovement follows the direction', () => {
    const rng = new Xoshiro128(5);
    let covered = 0;
    for (let d = 0; d < 40; d++) {
      const [a, b] = regressionPair(rng, 1000, 1.0, 0.8); // B is better: lower rmse
      const r = pairedBootstrap('rmse', a, b, { resamples: 400, confidence: 0.95, seed: d });
      if (r.low <= -0.2 && -0.2 <= r.high) covered++;
      expect(r.high).toBeLessThan(0);
      expect(r.probImprovement).toBeGreaterThan(0.95); // minimize: B wins when rmse(B) < rmse(A)
      const reverse = pairedBootstrap('rmse', b, a, { resamples: 400, confidence: 0.95, seed: d });
      expect(reverse.probImprovement).toBeLessThan(0.05);
      expect(reverse.delta).toBe(-r.delta);
    }
    expect(covered).toBeGreaterThanOrEqual(34);
  });

  it('probImprovement is ~0.5 for two noisy, equally good models', () => {
    const rng = new Xoshiro128(6);
    let sum = 0;
    let coversZero = 0;
    const D = 40;
    for (let d = 0; d < D; d++) {
      const [a, b] = binaryPair(rng, 2000, 1.0, 1.0);
      const r = pairedBootstrap('auroc', a, b, { resamples: 400, confidence: 0.95, seed: 100 + d });
      sum += r.probImprovement;
      if (r.low <= 0 && 0 <= r.high) coversZero++;
    }
    // Per dataset the win rate is ~Uniform(0, 1) under the null; its mean over 40 has sd ~0.046.
    expect(Math.abs(sum / D - 0.5)).toBeLessThan(0.14);
    expect(coversZero).toBeGreaterThanOrEqual(34);
  });

  it('probImprovement is ~0.5 when two models have the same AUROC on the rows but differ row by row', () => {
    // B's scores are A's, shuffled among the positives and among the negatives: the same sample
    // AUROC exactly, but different per-row predictions, so resampled deltas scatter around 0.
    const rng = new Xoshiro128(7);
    const [a] = binaryPair(rng, 4000, 1.0, 1.0);
    const p = a.p.slice();
    for (const cls of [0, 1]) {
      const rows: number[] = [];
      for (let i = 0; i < p.length; i++) if (a.y[i] === cls) rows.push(i);
      for (let j = rows.length - 1; j > 0; j--) {
        const t = rng.nextInt(j + 1);
        const x = p[rows[j]!]!;
        p[rows[j]!] = p[rows[t]!]!;
        p[rows[t]!] = x;
      }
    }
    const b: BinaryInput = { task: 'binary', y: a.y, p };
    const r = pairedBootstrap('auroc', a, b, { resamples: 1000, confidence: 0.95, seed: 1 });
    expect(r.delta).toBe(0);
    expect(r.probImprovement).toBeGreaterThan(0.4);
    expect(r.probImprovement).toBeLessThan(0.6);
    expect(r.low).toBeLessThan(0);
    expect(r.high).toBeGreaterThan(0);
  });

  it('a wider confidence level gives a wider interval from the same resamples', () => {
    const [a, b] = binaryPair(new Xoshiro128(8), 1500, 1.0, 1.1);
    const r80 = pairedBootstrap('average_precision', a, b, { resamples: 500, confidence: 0.8, seed: 9 });
    const r99 = pairedBootstrap('average_precision', a, b, { resamples: 500, confidence: 0.99, seed: 9 });
    expect(r99.low).toBeLessThan(r80.low);
    expect(r99.high).toBeGreaterThan(r80.high);
    expect(r99.probImprovement).toBe(r80.probImprovement);
  });

  it('redraws resamples on which the metric is undefined', () => {
    // One positive among 12 rows: about a third of resamples miss it and auroc is undefined there.
    const y = Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0);
    const a: BinaryInput = { task: 'binary', y, p: Float64Array.from(y, (v, i) => 0.05 * i + 0.3 * v) };
    const b: BinaryInput = { task: 'binary', y, p: Float64Array.from(y, (v, i) => 0.5 - 0.03 * i + 0.1 * v) };
    const r = pairedBootstrap('auroc', a, b, { resamples: 300, confidence: 0.9, seed: 1 });
    expect(r.resamples).toBe(300);
    expect(Number.isFinite(r.low) && Number.isFinite(r.high)).toBe(true);
    expect(r.low).toBeLessThanOrEqual(r.high);
  });

  it('rejects mismatched inputs and bad options', () => {
    const [a, b] = binaryPair(new Xoshiro128(10), 100, 1, 1);
    const other: BinaryInput = { task: 'binary', y: a.y.map((v) => 1 - v), p: b.p };
    expect(() => pairedBootstrap('auroc', a, other, OPTS)).toThrow(/y differs at row 0/);
    const [ra] = regressionPair(new Xoshiro128(11), 100, 1, 1);
    expect(() => pairedBootstrap('auroc', a, ra, OPTS)).toThrow(/task 'binary' of A differs/);
    const short: BinaryInput = { task: 'binary', y: a.y.subarray(1), p: b.p.subarray(1) };
    expect(() => pairedBootstrap('auroc', a, short, OPTS)).toThrow(/A has 100 rows but B has 99/);
    expect(() => pairedBootstrap('auroc', a, b, { ...OPTS, resamples: 0 })).toThrow(RangeError);
    expect(() => pairedBootstrap('auroc', a, b, { ...OPTS, confidence: 1 })).toThrow(RangeError);
    expect(() => pairedBootstrap('auroc', a, b, { ...OPTS, seed: -1 })).toThrow(RangeError);
    expect(() => pairedBootstrap('roc', a, b, OPTS)).toThrow(/unknown metric 'roc'/);
    const bad: BinaryInput = { task: 'binary', y: a.y, p: b.p.map((v, i) => (i === 3 ? Number.NaN : v)) };
    expect(() => pairedBootstrap('auroc', a, bad, OPTS)).toThrow(/p\[3\] is NaN/);
  });

  it('quantiles interpolate linearly between order statistics (numpy "linear")', () => {
    const s = Float64Array.of(1, 2, 3, 4, 5);
    expect(quantileSorted(s, 0)).toBe(1);
    expect(quantileSorted(s, 1)).toBe(5);
    expect(quantileSorted(s, 0.5)).toBe(3);
    expect(quantileSorted(s, 0.1)).toBeCloseTo(1.4, 15);
    expect(quantileSorted(Float64Array.of(7), 0.975)).toBe(7);
  });
});

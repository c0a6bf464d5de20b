/**
 * Sequential early stopping of the paired bootstrap (the keep rule's `decideAt`): it must reach the same
 * decision as the full run, with fewer resamples when the decision is clear.
 */
import { describe, expect, it } from 'vitest';
import { binomialUpperTail } from '../../src/metrics/bootstrap.js';
import { type BinaryInput, pairedBootstrap, Xoshiro128 } from '../../src/metrics/index.js';

function pair(seed: number, n: number, muA: number, muB: number): [BinaryInput, BinaryInput] {
  const rng = new Xoshiro128(seed);
  const normal = () =>
    Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
  const y = new Uint8Array(n);
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextFloat() < 0.5 ? 1 : 0;
    pa[i] = 1 / (1 + Math.exp(-(muA * y[i]! + normal())));
    pb[i] = 1 / (1 + Math.exp(-(muB * y[i]! + normal())));
  }
  return [
    { task: 'binary', y, p: pa },
    { task: 'binary', y, p: pb },
  ];
}

describe('binomialUpperTail', () => {
  it('matches closed forms and a direct sum', () => {
    expect(binomialUpperTail(200, 200, 0.95)).toBeCloseTo(0.95 ** 200, 15);
    expect(binomialUpperTail(0, 10, 0.3)).toBe(1);
    expect(binomialUpperTail(11, 10, 0.3)).toBe(0);
    // P(X >= 3), X ~ Bin(5, 0.5) = (10 + 5 + 1) / 32
    expect(binomialUpperTail(3, 5, 0.5)).toBeCloseTo(16 / 32, 14);
    let direct = 0;
    const n = 40;
    const p = 0.9;
    for (let k = 33; k <= n; k++) {
      let c = 1;
      for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
      direct += c * p ** k * (1 - p) ** (n - k);
    }
    expect(binomialUpperTail(33, n, p)).toBeCloseTo(direct, 12);
  });
});

describe('pairedBootstrap with decideAt', () => {
  const opts = { resamples: 1000, confidence: 0.95, seed: 11 };
  it('stops early on a clear improvement and on a clear non-improvement, with the full run’s decision', () => {
    const [a, b] = pair(1, 3000, 1.0, 1.6);
    const full = pairedBootstrap('auroc', a, b, opts);
    const fast = pairedBootstrap('auroc', a, b, { ...opts, decideAt: 0.95 });
    expect(full.probImprovement).toBe(1);
    expect(fast.stoppedEarly).toBe(true);
    expect(fast.resamples).toBeLessThanOrEqual(200);
    expect(fast.probImprovement >= 0.95).toBe(full.probImprovement >= 0.95);
    const [c, d] = pair(2, 3000, 1.0, 1.0);
    const fullNull = pairedBootstrap('auroc', c, d, opts);
    const fastNull = pairedBootstrap('auroc', c, d, { ...opts, decideAt: 0.95 });
    expect(fastNull.stoppedEarly).toBe(true);
    expect(fastNull.resamples).toBeLessThan(300);
    expect(fastNull.probImprovement >= 0.95).toBe(fullNull.probImprovement >= 0.95);
    expect(full.stoppedEarly).toBe(false);
    expect(full.resamples).toBe(1000);
  });

  it('agrees with the full run across many borderline cases', () => {
    let agree = 0;
    let total = 0;
    let drawn = 0;
    for (let s = 0; s < 40; s++) {
      const [a, b] = pair(100 + s, 1500, 1.0, 1.0 + 0.02 * (s % 10));
      const full = pairedBootstrap('auroc', a, b, opts);
      const fast = pairedBootstrap('auroc', a, b, { ...opts, decideAt: 0.95 });
      total++;
      drawn += fast.resamples;
      if (full.probImprovement >= 0.95 === fast.probImprovement >= 0.95) agree++;
    }
    expect(agree).toBe(total);
    expect(drawn / total).toBeLessThan(700);
  });
});

/** Synthetic keep-rule fixtures shared by the keep-rule tests (test/keep.test.ts, test/keep-tests.test.ts, the worker tests). */
import type { KeepRule } from '../src/loop/keep.js';
import type { BinaryInput } from '../src/metrics/index.js';

/** Deterministic pseudo-random numbers (mulberry32) for synthetic predictions. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Binary predictions whose quality grows with `signal`: labels fixed by seed 1, model noise by `seed`. */
export function binary(n: number, signal: number, seed: number): BinaryInput {
  const r = rng(1);
  const noise = rng(seed);
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = r() < 0.4 ? 1 : 0;
    const z = signal * (y[i]! - 0.5) + (noise() - 0.5);
    p[i] = 1 / (1 + Math.exp(-4 * z));
  }
  return { task: 'binary', y, p };
}

/** A keep rule for one metric with one run deciding (no measured noise), 300 resamples at 95 %, seed 5. */
export function oneRunRule(metric: string, minDelta: number): KeepRule {
  return {
    metric,
    direction: 'maximize',
    minDelta,
    confidence: 0.95,
    resamples: 300,
    noiseSd: null,
    noiseZ: 2,
    confirmRuns: 0,
    seed: 5,
  };
}

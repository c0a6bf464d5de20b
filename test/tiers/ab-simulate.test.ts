import { describe, expect, it } from 'vitest';
import { Xoshiro128 } from '../../src/metrics/random.js';
import { type SimulatedTest, simulateAb, standardNormal } from '../../src/tiers/ab-simulate.js';
import {
  type CupedMoments,
  cupedEffect,
  ratioArm,
  summarize,
  welchEffect,
} from '../../src/tiers/ab-stats.js';
import { alignReport } from '../../src/tiers/align.js';
import type { AlignPair } from '../../src/tiers/align-pairs.js';

/**
 * Statistical checks of tier 3 against a simulator with known truth (src/tiers/ab-simulate.ts). Every seed is fixed,
 * so the measured rates are reproducible; the bounds are the nominal rate ± 2.5 points at 400 tests (about 2.3
 * standard errors of a coverage rate), and "most seeds" for the verdict.
 */

const welchOf = (t: SimulatedTest) =>
  welchEffect(
    { variant: 'treatment', ...summarize(t.treatment) },
    { variant: 'control', ...summarize(t.control) },
  );

function moments(variant: string, y: Float64Array, x: Float64Array): CupedMoments {
  const n = y.length;
  const my = y.reduce((a, b) => a + b, 0) / n;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  let vy = 0;
  let vx = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    vy += (y[i]! - my) ** 2;
    vx += (x[i]! - mx) ** 2;
    c += (y[i]! - my) * (x[i]! - mx);
  }
  return { variant, n, meanY: my, meanX: mx, varY: vy / (n - 1), varX: vx / (n - 1), covYX: c / (n - 1) };
}

function pooledOf(t: SimulatedTest) {
  const y = Float64Array.from([...t.control, ...t.treatment]);
  const x = Float64Array.from([...t.controlPre!, ...t.treatmentPre!]);
  const m = moments('all', y, x);
  return { meanX: m.meanX, varX: m.varX, covYX: m.covYX };
}

const rate = (hits: boolean[]) => hits.filter(Boolean).length / hits.length;

describe('simulator', () => {
  it('is reproducible for a seed and draws offline and true effects with the chosen correlation', () => {
    const a = simulateAb({ tests: 3, alignment: 0.5, seed: 9, unitsPerArm: 10 });
    const b = simulateAb({ tests: 3, alignment: 0.5, seed: 9, unitsPerArm: 10 });
    expect(a.map((t) => t.offline)).toEqual(b.map((t) => t.offline));
    expect([...a[2]!.treatment]).toEqual([...b[2]!.treatment]);
    const big = simulateAb({ tests: 4000, alignment: 0.6, seed: 3, unitsPerArm: 2 });
    const x = big.map((t) => t.offline);
    const y = big.map((t) => t.trueEffect);
    const mx = x.reduce((s, v) => s + v, 0) / x.length;
    const my = y.reduce((s, v) => s + v, 0) / y.length;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i < x.length; i++) {
      sxy += (x[i]! - mx) * (y[i]! - my);
      sxx += (x[i]! - mx) ** 2;
      syy += (y[i]! - my) ** 2;
    }
    // sd of a correlation estimate at n = 4000 is about (1 − 0.36) / √4000 ≈ 0.01.
    expect(Math.abs(sxy / Math.sqrt(sxx * syy) - 0.6)).toBeLessThan(0.04);
  });
});

describe('interval coverage over 400 simulated tests (nominal 95% ± 2.5%)', () => {
  it('Welch intervals cover the true effect', () => {
    const sims = simulateAb({ tests: 400, alignment: 0.3, seed: 11, unitsPerArm: 100 });
    const cover = rate(
      sims.map((t) => {
        const e = welchOf(t);
        return e.ciLow <= t.trueEffect && t.trueEffect <= e.ciHigh;
      }),
    );
    console.log(`Welch coverage over 400 tests: ${cover}`);
    expect(Math.abs(cover - 0.95)).toBeLessThanOrEqual(0.025);
  });

  it('Welch intervals with unequal arm sizes and variances cover the true effect', () => {
    const rng = new Xoshiro128(5);
    const hits: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      const c = Float64Array.from({ length: 12 }, () => 3 * standardNormal(rng));
      const t = Float64Array.from({ length: 60 }, () => 0.5 + 0.5 * standardNormal(rng));
      const e = welchEffect({ variant: 't', ...summarize(t) }, { variant: 'c', ...summarize(c) });
      hits.push(e.ciLow <= 0.5 && 0.5 <= e.ciHigh);
    }
    const cover = rate(hits);
    console.log(`Welch coverage, unequal arms (12 vs 60 units, sd 3 vs 0.5): ${cover}`);
    expect(Math.abs(cover - 0.95)).toBeLessThanOrEqual(0.025);
  });

  it('CUPED intervals cover the true effect and shrink the variance by about corr(Y, pre)²', () => {
    const sims = simulateAb({ tests: 400, alignment: 0.3, seed: 12, unitsPerArm: 200, preBeta: 0.8 });
    const reductions: number[] = [];
    const cover = rate(
      sims.map((t) => {
        const { effect } = cupedEffect(
          moments('treatment', t.treatment, t.treatmentPre!),
          moments('control', t.control, t.controlPre!),
          pooledOf(t),
        );
        reductions.push(effect.varianceReduction!);
        return effect.ciLow <= t.trueEffect && t.trueEffect <= effect.ciHigh;
      }),
    );
    const meanReduction = reductions.reduce((a, b) => a + b, 0) / reductions.length;
    console.log(
      `CUPED coverage over 400 tests: ${cover}; mean variance reduction ${meanReduction.toFixed(3)}`,
    );
    expect(Math.abs(cover - 0.95)).toBeLessThanOrEqual(0.025);
    // Y = base + 0.8·pre + ε with sd(pre) = sd(ε): corr² = 0.64 / 1.64 ≈ 0.39.
    expect(Math.abs(meanReduction - 0.64 / 1.64)).toBeLessThan(0.03);
  });

  it('delta-method intervals of a ratio metric cover the true ratio difference', () => {
    // Units with 1..10 page views (den) and each view clicked with probability p (num): Σnum/Σden estimates p.
    const rng = new Xoshiro128(13);
    const arm = (p: number, n: number) => {
      const num = new Float64Array(n);
      const den = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        den[i] = 1 + rng.nextInt(10);
        for (let v = 0; v < den[i]!; v++) if (rng.nextFloat() < p) num[i]!++;
      }
      const sn = summarize(num);
      const sd = summarize(den);
      let c = 0;
      for (let i = 0; i < n; i++) c += (num[i]! - sn.mean) * (den[i]! - sd.mean);
      return ratioArm({
        variant: String(p),
        n,
        meanNum: sn.mean,
        meanDen: sd.mean,
        varNum: sn.sd ** 2,
        varDen: sd.sd ** 2,
        covNumDen: c / (n - 1),
      });
    };
    const hits: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      const pc = 0.1 + 0.1 * rng.nextFloat();
      const pt = pc + 0.02 * standardNormal(rng);
      const e = welchEffect(arm(pt, 300), arm(pc, 300), 0.95, 'delta');
      hits.push(e.ciLow <= pt - pc && pt - pc <= e.ciHigh);
    }
    const cover = rate(hits);
    console.log(`delta-method coverage over 400 ratio tests: ${cover}`);
    expect(Math.abs(cover - 0.95)).toBeLessThanOrEqual(0.025);
  });
});

/** The verdict of align on one simulated history of `tests` tests. */
function verdictOf(alignment: number, seed: number, tests: number): boolean | null {
  const sims = simulateAb({ tests, alignment, seed, unitsPerArm: 2000 });
  const pairs: AlignPair[] = sims.map((t, i) => {
    const e = welchOf(t);
    return {
      testId: t.testId,
      experimentId: i + 2,
      commitSha: null,
      offline: t.offline,
      online: e.diff,
      onlineLow: e.ciLow,
      onlineHigh: e.ciHigh,
      parts: {},
    };
  });
  return alignReport(pairs, { resamples: 1000, seed }).ready;
}

describe("align's verdict over simulated histories of 30 tests (100 seeds each)", () => {
  const SEEDS = Array.from({ length: 100 }, (_, i) => 1000 + i);
  it('finds good alignment (ρ = 0.8) in most seeds', () => {
    const ready = rate(SEEDS.map((s) => verdictOf(0.8, s, 30) === true));
    console.log(`ρ = 0.8, 30 tests: judged aligned in ${ready * 100}% of 100 seeds`);
    expect(ready).toBeGreaterThanOrEqual(0.75);
  });
  it('flags no alignment (ρ = 0) in most seeds', () => {
    const flagged = rate(SEEDS.map((s) => verdictOf(0, s, 30) === false));
    console.log(`ρ = 0, 30 tests: judged not ready in ${flagged * 100}% of 100 seeds`);
    expect(flagged).toBeGreaterThanOrEqual(0.9);
  });
  it('says there are too few tests below 5 pairs', () => {
    expect(verdictOf(0.9, 1, 4)).toBeNull();
  });
});

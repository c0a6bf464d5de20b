import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ratioArm, summarize, welchEffect } from '../../src/tiers/ab-stats.js';
import { averageRanks, kendallTauB, olsFit, spearmanRho } from '../../src/tiers/align-stats.js';
import { binomialTest, studentTCdf, studentTQuantile } from '../../src/tiers/distributions.js';

/** Reference values from scipy (test/fixtures/ab_stats.py writes them). */
const F = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'ab-stats.json'), 'utf8')) as {
  welch: { a: number[]; b: number[]; t: number; p: number; df: number; ci95: number[]; ci90: number[] }[];
  t_ppf: { p: number; df: number; q: number }[];
  t_cdf: { t: number; df: number; cdf: number }[];
  association: {
    x: number[];
    y: number[];
    kendall_tau_b: number;
    spearman: number;
    slope: number;
    intercept: number;
    slope_se: number;
    slope_p: number;
    slope_ci95: number[];
  }[];
  binomtest: { k: number; n: number; two_sided: number; greater: number }[];
  binomtest_p: { k: number; n: number; p: number; two_sided: number }[];
};

const close = (got: number, want: number, rel = 1e-9) =>
  expect(Math.abs(got - want), `got ${got}, want ${want}`).toBeLessThanOrEqual(
    rel * Math.max(1, Math.abs(want)),
  );

describe("Student's t against scipy.stats.t", () => {
  it('quantiles at real df (ppf)', () => {
    expect(F.t_ppf.length).toBeGreaterThan(50);
    for (const c of F.t_ppf) close(studentTQuantile(c.p, c.df), c.q, 1e-9);
  });
  it('CDF', () => {
    for (const c of F.t_cdf) close(studentTCdf(c.t, c.df), c.cdf, 1e-10);
  });
  it('refuses p outside (0, 1) and df <= 0', () => {
    expect(() => studentTQuantile(1, 5)).toThrow(RangeError);
    expect(() => studentTQuantile(0.5, 0)).toThrow(RangeError);
  });
});

describe('Welch interval against scipy.stats.ttest_ind(equal_var=False)', () => {
  it('t, p, Welch–Satterthwaite df and the 95% and 90% intervals', () => {
    for (const c of F.welch) {
      const t = { variant: 'treatment', ...summarize(c.a) };
      const k = { variant: 'control', ...summarize(c.b) };
      const e95 = welchEffect(t, k, 0.95);
      const e90 = welchEffect(t, k, 0.9);
      close(e95.df, c.df, 1e-9);
      close(e95.t, c.t, 1e-9);
      close(e95.p, c.p, 1e-8);
      close(e95.ciLow, c.ci95[0]!, 1e-9);
      close(e95.ciHigh, c.ci95[1]!, 1e-9);
      close(e90.ciLow, c.ci90[0]!, 1e-9);
      close(e90.ciHigh, c.ci90[1]!, 1e-9);
    }
  });
  it('refuses n < 2 and a negative sd', () => {
    const ok = { variant: 'c', n: 10, mean: 1, sd: 1 };
    expect(() => welchEffect({ variant: 't', n: 1, mean: 1, sd: 1 }, ok)).toThrow(/n must be >= 2/);
    expect(() => welchEffect({ variant: 't', n: 5, mean: 1, sd: -1 }, ok)).toThrow(/sd must be >= 0/);
  });
  it('the delta method for a ratio with a constant denominator is the plain mean of num / den', () => {
    // With every denominator equal to d, Σnum/Σden = mean(num)/d and its variance is var(num)/(n d²).
    const num = [3, 5, 2, 8, 6, 4];
    const s = summarize(num);
    const arm = ratioArm({
      variant: 't',
      n: s.n,
      meanNum: s.mean,
      meanDen: 2,
      varNum: s.sd ** 2,
      varDen: 0,
      covNumDen: 0,
    });
    close(arm.mean, s.mean / 2);
    close(arm.sd, s.sd / 2);
  });
});

describe('Kendall τ-b, Spearman ρ and OLS against scipy (kendalltau, spearmanr, linregress)', () => {
  it('with and without ties', () => {
    for (const c of F.association) {
      close(kendallTauB(c.x, c.y), c.kendall_tau_b, 1e-12);
      close(spearmanRho(c.x, c.y), c.spearman, 1e-12);
      const fit = olsFit(c.x, c.y)!;
      close(fit.slope, c.slope, 1e-10);
      close(fit.intercept, c.intercept, 1e-10);
      close(fit.slopeSe, c.slope_se, 1e-10);
      close(fit.p, c.slope_p, 1e-8);
      close(fit.slopeLow, c.slope_ci95[0]!, 1e-9);
      close(fit.slopeHigh, c.slope_ci95[1]!, 1e-9);
    }
    expect(F.association.some((c) => new Set(c.x).size < c.x.length)).toBe(true);
  });
  it('average ranks of ties; τ undefined for a constant side', () => {
    expect([...averageRanks([3, 1, 3, 2])]).toEqual([3.5, 1, 3.5, 2]);
    expect(kendallTauB([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(olsFit([1, 1, 1], [1, 2, 3])).toBeNull();
  });
});

describe('binomial test against scipy.stats.binomtest', () => {
  it('two-sided and one-sided (greater) p-values vs 0.5', () => {
    for (const c of F.binomtest) {
      close(binomialTest(c.k, c.n, 0.5, 'two-sided'), c.two_sided, 1e-10);
      close(binomialTest(c.k, c.n, 0.5, 'greater'), c.greater, 1e-10);
    }
  });
  it('two-sided against other success probabilities', () => {
    for (const c of F.binomtest_p) close(binomialTest(c.k, c.n, c.p), c.two_sided, 1e-10);
  });
});

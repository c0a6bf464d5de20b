import { describe, expect, it } from 'vitest';
import { confirmKeep, decideKeep, type KeepRule, normalQuantile } from '../src/loop/keep.js';
import type { BinaryInput, RegressionInput } from '../src/metrics/index.js';
import { binary, rng } from './keep-fixtures.js';

const auc = (inp: BinaryInput) => {
  let pos = 0;
  let wins = 0;
  const P: number[] = [];
  const N: number[] = [];
  inp.y.forEach((v, i) => {
    (v ? P : N).push(inp.p[i]!);
  });
  for (const a of P) for (const b of N) wins += a > b ? 1 : a === b ? 0.5 : 0;
  pos = P.length * N.length;
  return wins / pos;
};

const rule: KeepRule = {
  metric: 'auroc',
  direction: 'maximize',
  minDelta: 0.001,
  confidence: 0.95,
  resamples: 1000,
  noiseSd: null,
  noiseZ: 2,
  confirmRuns: 0,
  seed: 1,
};

describe('keep rule', () => {
  it('reverts a gain below the minimum delta without bootstrapping', () => {
    const a = binary(800, 0.6, 2);
    const v = decideKeep(rule, { score: 0.8, input: a }, { score: 0.8005, input: a });
    expect(v.keep).toBe(false);
    expect(v.probImprovement).toBeNull();
    expect(v.reason).toMatch(/gain \+0.0005000 does not exceed 0.001000 \(min delta\)/);
  });

  it('keeps a large real improvement, with its interval above zero', () => {
    const a = binary(1500, 0.4, 2);
    const b = binary(1500, 1.2, 3);
    const v = decideKeep(rule, { score: auc(a), input: a }, { score: auc(b), input: b });
    expect(v.keep).toBe(true);
    expect(v.gain).toBeGreaterThan(0.05);
    expect(v.ciLow!).toBeGreaterThan(0);
    expect(v.ciHigh!).toBeGreaterThan(v.ciLow!);
    expect(v.probImprovement!).toBeGreaterThanOrEqual(0.95);
  });

  it('reverts a gain above the minimum delta that the bootstrap calls noise', () => {
    // Same signal, different model noise: the gain is luck.
    let found = false;
    for (let s = 3; s < 40 && !found; s++) {
      const a = binary(600, 0.6, 2);
      const b = binary(600, 0.6, s);
      const gain = auc(b) - auc(a);
      if (gain > 0.002 && gain < 0.01) {
        const v = decideKeep(rule, { score: auc(a), input: a }, { score: auc(b), input: b });
        expect(v.keep).toBe(false);
        expect(v.reason).toMatch(/not significant/);
        expect(v.ciLow!).toBeLessThan(0);
        found = true;
      }
    }
    expect(found).toBe(true);
  });

  it('uses the measured noise: the gain must clear z·σ', () => {
    const a = binary(1500, 0.4, 2);
    const b = binary(1500, 1.2, 3);
    const v = decideKeep({ ...rule, noiseSd: 0.1 }, { score: auc(a), input: a }, { score: auc(b), input: b });
    // a single-run gain has noise σ·√(1 + 1/n_best)
    expect(v.threshold).toBeCloseTo(2 * 0.1 * Math.SQRT2, 12);
    expect(v.keep).toBe(false);
    expect(v.needsConfirmation).toBe(false);
    expect(v.reason).toMatch(/2·σ·√\(1\+1\/1\) noise/);
    const withRuns = decideKeep(
      { ...rule, noiseSd: 0.01 },
      { score: auc(a), input: a, runs: { scores: [1, 2, 3], inputs: [a, a, a] } },
      { score: auc(b), input: b },
    );
    expect(withRuns.threshold).toBeCloseTo(2 * 0.01 * Math.sqrt(1 + 1 / 3), 12);
  });

  it('with confirmation runs, a single run only screens (any gain), then the means are tested', () => {
    const a = binary(1500, 0.4, 2);
    const b = binary(1500, 1.2, 3);
    const v = decideKeep(
      { ...rule, noiseSd: 0.1, confirmRuns: 2 },
      { score: auc(a), input: a },
      { score: auc(b), input: b },
    );
    expect(v.threshold).toBe(0);
    expect(v.probImprovement).toBeNull();
    expect(v.needsConfirmation).toBe(true);
    const worse = decideKeep(
      { ...rule, noiseSd: 0.1, confirmRuns: 2 },
      { score: auc(b), input: b },
      { score: auc(a), input: a },
    );
    expect(worse).toMatchObject({ keep: false, needsConfirmation: false });
    const noNoise = decideKeep(
      { ...rule, noiseSd: 0, confirmRuns: 2 },
      { score: auc(a), input: a },
      { score: auc(b), input: b },
    );
    expect(noNoise.needsConfirmation).toBe(false);
    expect(noNoise.probImprovement).not.toBeNull();
  });

  it('confirmKeep: a one-sided z-test on mean scores with known σ, then a row bootstrap of the means', () => {
    const r: KeepRule = { ...rule, noiseSd: 0.01, noiseZ: normalQuantile(0.95), confirmRuns: 2 };
    const seeds = (signal: number, first: number, k: number) =>
      Array.from({ length: k }, (_, i) => binary(1500, signal, first + i));
    const bestIn = seeds(0.4, 10, 5);
    const candIn = seeds(1.2, 20, 3);
    const best = { scores: bestIn.map(auc), inputs: bestIn };
    const cand = { scores: candIn.map(auc), inputs: candIn };
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const keep = confirmKeep(r, best, cand);
    expect(keep.meanGain).toBeCloseTo(mean(cand.scores) - mean(best.scores), 12);
    expect(keep.threshold).toBeCloseTo(1.6448536269514722 * 0.01 * Math.sqrt(1 / 3 + 1 / 5), 12);
    expect(keep.keep).toBe(true);
    expect(keep.ciLow!).toBeGreaterThan(0);
    expect(keep.reason).toMatch(/^confirmed: mean gain/);
    // Same model, other seeds: the mean gain is noise and fails the z-test.
    const same = { scores: seeds(0.4, 30, 3).map(auc), inputs: seeds(0.4, 30, 3) };
    const no = confirmKeep({ ...r, noiseSd: 0.02 }, best, same);
    expect(no.keep).toBe(false);
    expect(no.reason).toMatch(/not confirmed over seeds/);
    // A mean gain above z·σ that the rows do not support is refused by the bootstrap of the means.
    const tiny = confirmKeep({ ...r, noiseSd: 1e-9, minDelta: 0 }, best, {
      scores: best.scores.map((s) => s + 1e-6),
      inputs: best.inputs,
    });
    expect(tiny.keep).toBe(false);
    expect(tiny.test).toBe('delong');
    expect(tiny.reason).toMatch(/but DeLong test of the mean AUROCs P\(better\) 0\.000 < 0\.95/);
    // The same with the bootstrap forced (contract keep.test: bootstrap).
    const tinyBoot = confirmKeep({ ...r, noiseSd: 1e-9, minDelta: 0, test: 'bootstrap' }, best, {
      scores: best.scores.map((s) => s + 1e-6),
      inputs: best.inputs,
    });
    expect(tinyBoot.keep).toBe(false);
    expect(tinyBoot.test).toBe('bootstrap');
    expect(tinyBoot.reason).toMatch(/but paired bootstrap of the means/);
  });

  it('normalQuantile matches known quantiles (AS 241)', () => {
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 14);
    expect(normalQuantile(0.025)).toBeCloseTo(-1.959963984540054, 14);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 10);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });

  it('handles a metric to minimize (rmse): lower is a gain', () => {
    const n = 500;
    const r = rng(9);
    const y = Float64Array.from({ length: n }, () => r() * 10);
    const good: RegressionInput = { task: 'regression', y, p: y.map((v) => v + (r() - 0.5)) };
    const bad: RegressionInput = { task: 'regression', y, p: y.map((v) => v + 4 * (r() - 0.5)) };
    const rmse = (x: RegressionInput) => Math.sqrt(x.y.reduce((s, v, i) => s + (v - x.p[i]!) ** 2, 0) / n);
    const minRule: KeepRule = { ...rule, metric: 'rmse', direction: 'minimize', minDelta: 0 };
    const v = decideKeep(minRule, { score: rmse(bad), input: bad }, { score: rmse(good), input: good });
    expect(v.keep).toBe(true);
    expect(v.gain).toBeCloseTo(rmse(bad) - rmse(good), 12);
    expect(v.ciLow!).toBeGreaterThan(0);
    const back = decideKeep(minRule, { score: rmse(good), input: good }, { score: rmse(bad), input: bad });
    expect(back.keep).toBe(false);
  });
});

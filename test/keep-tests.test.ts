/**
 * Which test stage 2 of the keep rule runs, and that the verdict and reason name it: DeLong for a plain
 * auroc, the paired z-test for a mean of per-row losses, the paired bootstrap for everything else (a
 * weighted/composite evaluator, f1, average precision) or when the contract forces it.
 */

import { describe, expect, it } from 'vitest';
import { chooseKeepTest, confirmKeep, decideKeep, type KeepRule, prepareBest } from '../src/loop/keep.js';
import {
  type BinaryInput,
  computeMetric,
  delongMeanTest,
  delongTest,
  type MetricInput,
  pairedBootstrap,
  pairedZMeanTest,
  pairedZTest,
  prepareMetric,
} from '../src/metrics/index.js';
import { binary } from './keep-fixtures.js';

const base: KeepRule = {
  metric: 'auroc',
  direction: 'maximize',
  minDelta: 0.001,
  confidence: 0.95,
  resamples: 300,
  noiseSd: null,
  noiseZ: 2,
  confirmRuns: 0,
  seed: 7,
};

const side = (metric: string, input: MetricInput) => ({ score: computeMetric(metric, input), input });

const weak = binary(3000, 0.6, 2);
const strong = binary(3000, 1.2, 3);

interface Row {
  name: string;
  rule: Partial<KeepRule>;
  best: BinaryInput;
  cand: BinaryInput;
  test: 'delong' | 'paired-z' | 'bootstrap' | 'none';
  keep: boolean;
  reason: RegExp;
}

const table: Row[] = [
  {
    name: 'auroc, clear gain: DeLong keeps',
    rule: {},
    best: weak,
    cand: strong,
    test: 'delong',
    keep: true,
    reason: /; DeLong P\(better\) 1\.000 ≥ 0\.95 \(z=\d+\.\d\d, 95% CI \+/,
  },
  {
    name: 'auroc, negative gain: stage 1 reverts, no test',
    rule: {},
    best: strong,
    cand: weak,
    test: 'none',
    keep: false,
    reason: /does not exceed 0\.001000 \(min delta\)/,
  },
  {
    name: 'auroc, identical models (a tie): no gain, no keep',
    rule: { minDelta: 0 },
    best: weak,
    cand: weak,
    test: 'none',
    keep: false,
    reason: /gain \+0\.000 does not exceed/,
  },
  {
    name: 'log_loss, clear gain: paired z-test keeps',
    rule: { metric: 'log_loss', direction: 'minimize', minDelta: 0 },
    best: weak,
    cand: strong,
    test: 'paired-z',
    keep: true,
    reason: /paired z-test on per-row log loss P\(better\) 1\.000 ≥ 0\.95/,
  },
  {
    name: 'accuracy, clear gain: paired z-test on correctness',
    rule: { metric: 'accuracy', minDelta: 0 },
    best: weak,
    cand: strong,
    test: 'paired-z',
    keep: true,
    reason: /paired z-test on per-row correctness P\(better\)/,
  },
  {
    name: 'f1 (not a mean of per-row terms): the bootstrap',
    rule: { metric: 'f1', minDelta: 0 },
    best: weak,
    cand: strong,
    test: 'bootstrap',
    keep: true,
    reason: /paired bootstrap \(\d+ resamples\) P\(better\) 1\.000 ≥ 0\.95/,
  },
  {
    name: 'auroc through a weighted evaluator (composite route): the bootstrap',
    rule: { prepare: (i) => prepareMetric('auroc', i) },
    best: weak,
    cand: strong,
    test: 'bootstrap',
    keep: true,
    reason: /paired bootstrap/,
  },
  {
    name: 'auroc with keep.test bootstrap: the bootstrap',
    rule: { test: 'bootstrap' },
    best: weak,
    cand: strong,
    test: 'bootstrap',
    keep: true,
    reason: /paired bootstrap \(\d+ resamples\)/,
  },
];

describe('keep rule: the test that decides', () => {
  for (const row of table) {
    it(row.name, () => {
      const rule = { ...base, ...row.rule };
      const v = decideKeep(rule, side(rule.metric, row.best), side(rule.metric, row.cand));
      expect(v.test).toBe(row.test);
      expect(v.keep).toBe(row.keep);
      expect(v.reason).toMatch(row.reason);
      if (row.test === 'none') expect(v.probImprovement).toBeNull();
      else expect(v.probImprovement).toBeGreaterThanOrEqual(0.95);
    });
  }

  it('a small positive auroc gain that DeLong cannot tell from noise is reverted', () => {
    // two models of the same quality with independent noise: gains both ways, none significant
    let tested = 0;
    for (let s = 10; s < 20; s++) {
      const a = binary(400, 0.8, s);
      const b = binary(400, 0.8, s + 100);
      const v = decideKeep({ ...base, minDelta: 0 }, side('auroc', a), side('auroc', b));
      if (v.test === 'delong') {
        tested++;
        const d = delongTest(a.y, a.p, b.p, 0.95);
        expect(v.probImprovement).toBe(d.probImprovement);
        expect(v.keep).toBe(d.probImprovement >= 0.95);
      }
    }
    expect(tested).toBeGreaterThan(2);
  });

  it('the DeLong verdict carries its interval as a gain (direction-adjusted)', () => {
    const v = decideKeep(base, side('auroc', weak), side('auroc', strong));
    const d = delongTest(weak.y, weak.p, strong.p, 0.95);
    expect(v.ciLow).toBe(d.low);
    expect(v.ciHigh).toBe(d.high);
    expect(v.gain).toBeCloseTo(d.delta, 12);
  });

  it('minimize: the paired z interval of the gain is the negated interval of the delta', () => {
    const rule = { ...base, metric: 'brier', direction: 'minimize' as const, minDelta: 0 };
    const v = decideKeep(rule, side('brier', weak), side('brier', strong));
    expect(v.test).toBe('paired-z');
    expect(v.gain).toBeGreaterThan(0);
    expect(v.ciLow!).toBeGreaterThan(0);
    expect(v.ciLow!).toBeLessThan(v.gain);
    expect(v.ciHigh!).toBeGreaterThan(v.gain);
  });

  it("preparing the best model's DeLong side ahead (prepareBest) leaves every verdict unchanged", () => {
    // Fresh copies: the cold verdict computes both sides; the warm one finds the best side prepared.
    const a = binary(3000, 0.6, 70);
    const b = binary(3000, 0.7, 71);
    const cold = delongTest(a.y.slice(), a.p.slice(), b.p.slice(), 0.95);
    const best = { ...a, y: a.y.slice(), p: a.p.slice() };
    prepareBest(base, best);
    const warm = delongTest(best.y, best.p, b.p.slice(), 0.95);
    expect(warm).toEqual(cold);
    // Prepared under other labels: the cache is keyed by the label array too, so it is not used wrongly.
    const flipped = Uint8Array.from(best.y, (v) => 1 - v);
    const other = delongTest(flipped, best.p, b.p.slice(), 0.95);
    expect(other).toEqual(delongTest(flipped.slice(), best.p.slice(), b.p.slice(), 0.95));
    expect(other.a).toBeCloseTo(1 - cold.a, 12);
    // Not a DeLong rule: nothing to prepare, nothing breaks.
    prepareBest({ ...base, metric: 'brier' }, best);
    prepareBest(base, null);
  });

  it('chooseKeepTest per metric and task', () => {
    expect(chooseKeepTest(base, weak)).toBe('delong');
    expect(chooseKeepTest({ ...base, metric: 'brier' }, weak)).toBe('paired-z');
    expect(chooseKeepTest({ ...base, metric: 'average_precision' }, weak)).toBe('bootstrap');
    expect(chooseKeepTest({ ...base, metric: 'ece' }, weak)).toBe('bootstrap');
    const reg: MetricInput = { task: 'regression', y: new Float64Array(3), p: new Float64Array(3) };
    expect(chooseKeepTest({ ...base, metric: 'rmse' }, reg)).toBe('paired-z');
    expect(chooseKeepTest({ ...base, metric: 'r2' }, reg)).toBe('bootstrap');
  });

  it('the bootstrap verdict equals pairedBootstrap for the same seed', () => {
    const rule = { ...base, metric: 'f1', minDelta: 0 };
    const v = decideKeep(rule, side('f1', weak), side('f1', strong));
    const b = pairedBootstrap('f1', weak, strong, {
      resamples: 300,
      confidence: 0.95,
      seed: 7,
      decideAt: 0.95,
    });
    expect(v.probImprovement).toBe(b.probImprovement);
    expect(v.ciLow).toBe(b.low);
  });
});

describe('confirmation over seeds: the analytic tests of mean metrics', () => {
  const bestRuns = [binary(2000, 0.6, 40), binary(2000, 0.6, 41)];
  const candRuns = [binary(2000, 0.9, 50), binary(2000, 0.9, 51), binary(2000, 0.9, 52)];

  it('delongMeanTest with one run per side equals delongTest', () => {
    const a = bestRuns[0]!;
    const b = candRuns[0]!;
    const one = delongTest(a.y, a.p, b.p, 0.95);
    const mean = delongMeanTest(a.y, [a.p], [b.p], 0.95);
    expect(mean.delta).toBeCloseTo(one.delta, 14);
    expect(mean.se).toBeCloseTo(one.se, 12);
    expect(mean.z).toBeCloseTo(one.z, 9);
  });

  it('delongMeanTest: the delta is the difference of mean AUCs', () => {
    const y = bestRuns[0]!.y;
    const r = delongMeanTest(
      y,
      bestRuns.map((x) => x.p),
      candRuns.map((x) => x.p),
      0.95,
    );
    const m = (xs: BinaryInput[]) => xs.reduce((s, x) => s + computeMetric('auroc', x), 0) / xs.length;
    expect(r.delta).toBeCloseTo(m(candRuns) - m(bestRuns), 12);
    expect(r.z).toBeGreaterThan(3);
  });

  it('pairedZMeanTest with one run per side equals pairedZTest (linear metrics)', () => {
    const a = bestRuns[0]!;
    const b = candRuns[0]!;
    for (const metric of ['log_loss', 'brier', 'accuracy']) {
      const one = pairedZTest(metric, a, b, 0.95);
      const mean = pairedZMeanTest(metric, [a], [b], 0.95);
      expect(mean.delta).toBeCloseTo(one.delta, 14);
      expect(mean.se).toBeCloseTo(one.se, 12);
      expect(mean.z).toBeCloseTo(one.z, 8);
    }
  });

  it('confirmKeep uses the analytic test of the means and names it', () => {
    const rule = {
      ...base,
      metric: 'log_loss',
      direction: 'minimize' as const,
      minDelta: 0,
      noiseSd: 0.001,
      confirmRuns: 2,
    };
    const runs = (xs: BinaryInput[]) => ({ scores: xs.map((x) => computeMetric('log_loss', x)), inputs: xs });
    const c = confirmKeep(rule, runs(bestRuns), runs(candRuns));
    expect(c.test).toBe('paired-z');
    expect(c.keep).toBe(true);
    expect(c.reason).toMatch(/paired z-test of the means on per-row log loss P\(better\) 1\.000 ≥ 0\.95/);
  });
});

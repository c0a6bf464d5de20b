import { type MetricInput, pairedBootstrap } from '../metrics/index.js';
import type { Direction } from '../proposers/types.js';

/** Parameters of the keep rule (from the contract's `keep` section and the measured noise). */
export interface KeepRule {
  /** Primary metric name. */
  metric: string;
  direction: Direction;
  /** The gain must exceed this, in metric units (contract keep.min_delta). */
  minDelta: number;
  /** One-sided confidence the bootstrap must give that the gain is above zero (contract keep.confidence). */
  confidence: number;
  /** Paired bootstrap resamples (contract keep.resamples). */
  resamples: number;
  /** Run-to-run standard deviation of the primary metric (ratchet check --determinism), or null if unmeasured. */
  noiseSd: number | null;
  /** The gain must exceed noiseZ × noiseSd as well (contract keep.noise_z). */
  noiseZ: number;
  /** Seed of the bootstrap (deterministic decisions). */
  seed: number;
}

/** The keep rule's verdict with its arithmetic, recorded on every decision. */
export interface KeepVerdict {
  keep: boolean;
  /** Gain in the metric's direction: candidate − best for maximize, best − candidate for minimize. */
  gain: number;
  /** The gain had to exceed this: max(minDelta, noiseZ·noiseSd). */
  threshold: number;
  /** Two-sided bootstrap interval of the gain at the contract's confidence (null when not bootstrapped). */
  ciLow: number | null;
  ciHigh: number | null;
  /** Share of bootstrap resamples in which the candidate beat the best (null when not bootstrapped). */
  probImprovement: number | null;
  /** One sentence with the numbers, e.g. "gain +0.0123 > 0.0010 and P(better) 0.999 ≥ 0.95". */
  reason: string;
}

const fmt = (x: number) => (x >= 0 ? '+' : '') + x.toPrecision(4);

/**
 * Decide whether a candidate beats the current best.
 *
 * Keep only when (1) the gain exceeds max(min_delta, z·σ_noise) and (2) a paired bootstrap over the public
 * holdout rows (Efron & Tibshirani 1993, ch. 16: both models scored on the same resampled rows) finds the
 * candidate better in at least `confidence` of the resamples, i.e. the one-sided (1 − confidence) lower
 * quantile of the gain is above zero. The bootstrap only runs when (1) holds.
 * @param best aligned public predictions of the best kept experiment
 * @param candidate aligned public predictions of the candidate (same rows, same order)
 */
export function decideKeep(
  rule: KeepRule,
  best: { score: number; input: MetricInput },
  candidate: { score: number; input: MetricInput },
): KeepVerdict {
  const sign = rule.direction === 'maximize' ? 1 : -1;
  const gain = sign * (candidate.score - best.score);
  const noiseFloor = rule.noiseSd === null ? 0 : rule.noiseZ * rule.noiseSd;
  const threshold = Math.max(rule.minDelta, noiseFloor);
  const thresholdText =
    noiseFloor > rule.minDelta
      ? `${threshold.toPrecision(4)} (${rule.noiseZ}σ noise)`
      : `${threshold.toPrecision(4)} (min delta)`;
  if (!(gain > threshold)) {
    return {
      keep: false,
      gain,
      threshold,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      reason: `gain ${fmt(gain)} does not exceed ${thresholdText}`,
    };
  }
  const boot = pairedBootstrap(rule.metric, best.input, candidate.input, {
    resamples: rule.resamples,
    confidence: rule.confidence,
    seed: rule.seed,
    decideAt: rule.confidence,
  });
  // pairedBootstrap's delta is metric(candidate) − metric(best); turn it into a gain.
  const lo = sign > 0 ? boot.low : -boot.high;
  const hi = sign > 0 ? boot.high : -boot.low;
  const keep = boot.probImprovement >= rule.confidence;
  const pct = `${Math.round(rule.confidence * 100)}%`;
  const n = boot.stoppedEarly ? `, settled after ${boot.resamples} resamples` : '';
  return {
    keep,
    gain,
    threshold,
    ciLow: lo,
    ciHigh: hi,
    probImprovement: boot.probImprovement,
    reason: keep
      ? `gain ${fmt(gain)} > ${thresholdText}; paired bootstrap P(better) ${boot.probImprovement.toFixed(3)} ≥ ${rule.confidence} (${pct} CI ${fmt(lo)}..${fmt(hi)}${n})`
      : `gain ${fmt(gain)} > ${thresholdText} but not significant: paired bootstrap P(better) ${boot.probImprovement.toFixed(3)} < ${rule.confidence} (${pct} CI ${fmt(lo)}..${fmt(hi)}${n})`,
  };
}

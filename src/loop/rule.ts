import type { Contract } from '../contract/load.js';
import { preparePrimary } from '../evaluator/score.js';
import type { NoiseRecord } from '../journal/store.js';
import { sampleSd } from './baseline.js';
import type { KeepRule } from './keep.js';

/**
 * The keep rule of a contract (its `keep` section) with the run-to-run noise measured by `ratchet check`
 * (docs/architecture.md, "The keep rule").
 * @param noise the latest noise measurement of the primary metric (varied seeds preferred), or null when none
 * @returns the rule; σ is recomputed from the measured scores (a spread at rounding level is no noise)
 */
export function keepRuleFor(contract: Contract, noise: NoiseRecord | null): KeepRule {
  return {
    metric: contract.metric.primary,
    direction: contract.direction,
    minDelta: contract.keep.min_delta,
    confidence: contract.keep.confidence,
    resamples: contract.keep.resamples,
    test: contract.keep.test,
    noiseSd: noise ? sampleSd(noise.scores) : null,
    noiseZ: contract.keep.noise_z,
    confirmRuns: contract.keep.confirm_runs,
    ...(contract.metric.composite ? { prepare: (input) => preparePrimary(contract, input) } : {}),
    confirmSeeds: noise?.kind === 'same-seed' ? 'same' : 'varied',
    noiseFrom: noise ? { kind: noise.kind, runs: noise.scores.length } : null,
    seed: contract.split.seed,
  };
}

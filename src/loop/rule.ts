import type { Contract } from '../contract/load.js';
import { preparePrimary } from '../evaluator/score.js';
import type { JournalReader, NoiseRecord } from '../journal/store.js';
import { sampleSd } from './baseline.js';
import { type KeepRule, slotConcurrency } from './keep.js';

/**
 * The keep rule of a contract (its `keep` section) with the run-to-run noise measured by `ratchet check`
 * (docs/ARCHITECTURE.md, "The keep rule").
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
    noiseFrom: noise ? { kind: noise.kind, runs: noise.scores.length, slot: noise.slotClass ?? null } : null,
    seed: contract.split.seed,
  };
}

/**
 * The noise measurement a run's keep rule uses (docs/ARCHITECTURE.md, "Parallel directions"): seed noise (varied
 * seeds) before nondeterminism (same seed), measured in the run's own executor slot class when there is one (scores
 * measured under the same contention), else the latest of any class.
 * @param slotClass the run's executor slot class
 * @returns the measurement (null when none), and a warning when it was measured under another load than the run's
 */
export function noiseFor(
  journal: JournalReader,
  metric: string,
  slotClass: string,
): { noise: NoiseRecord | null; mismatch: string | null } {
  const noise =
    journal.latestNoise(metric, 'varied-seed', slotClass) ??
    journal.latestNoise(metric, 'same-seed', slotClass) ??
    journal.latestNoise(metric, 'varied-seed') ??
    journal.latestNoise(metric, 'same-seed');
  const measured = slotConcurrency(noise?.slotClass);
  const running = slotConcurrency(slotClass);
  const mismatch =
    noise && measured !== running
      ? `the noise σ was measured with ${measured} run(s) at once (${noise.slotClass ?? 'one at a time'}) but this run runs ${running} at once (${slotClass}): scores under another load vary differently; measure under this load with ratchet check --concurrent ${running}`
      : null;
  return { noise, mismatch };
}

import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { openDuck } from '../data/duck.js';
import { SPILL_DIR, type SplitManifest, VAULT_DIR } from '../data/ingest.js';
import { predictionsFile } from '../evaluator/evaluate.js';
import { alignPredictions, evalMemoryMB } from '../evaluator/predictions.js';
import { type Adoption, bestKept, directionBests, directionOf } from '../journal/directions.js';
import type { ExperimentRecord, NoiseRecord } from '../journal/store.js';
import { decideKeep, type KeepTest } from '../loop/keep.js';
import { experimentDir } from '../loop/paths.js';
import { keepRuleFor } from '../loop/rule.js';
import { RatchetError } from '../util/errors.js';

export { bestKept, directionBests, directionOf } from '../journal/directions.js';

/**
 * Parallel directions at `submit` (docs/ARCHITECTURE.md, "Parallel directions"): each direction's best is compared
 * on the public holdout, and only the winner is scored on the private holdout (one private look).
 */

/** One direction's best against the winner, on the public holdout. */
export interface DirectionStanding {
  direction: number;
  experiment: ExperimentRecord;
  /** True when the direction's best is one it adopted from another direction (`direction.adopted`). */
  adopted: boolean;
  score: number;
  /**
   * The keep rule's paired test of the winner against this direction's best (null for the winner itself): the gain
   * of the winner, the test that ran and whether the winner's lead is significant at the contract's confidence.
   */
  versusWinner: {
    gain: number;
    test: KeepTest;
    probImprovement: number | null;
    significant: boolean;
    reason: string;
  } | null;
}

/** The directions of a run compared on the public holdout. */
export interface DirectionComparison {
  winner: ExperimentRecord;
  standings: DirectionStanding[];
}

/**
 * Compare the directions' bests on the public holdout: the best public score wins, and the keep rule's paired test
 * (DeLong, paired z on per-row losses or the paired bootstrap, as for a keep; stage 1's minimum delta and noise test
 * included) says whether its lead over each other direction is real. No private score is read.
 * @param projectDir the project (its `.ratchet/runs` holds the predictions); the vault is the contract's (the split
 *   the run ran on)
 * @param noise the noise measurement the run's keep rule used (null when none)
 * @param adoptions the run's adoptions: a direction that adopted the winner stands with it
 * @throws RatchetError when a best's public predictions are gone (retention never prunes kept experiments)
 */
export async function compareDirections(
  projectDir: string,
  contract: Contract,
  manifest: SplitManifest,
  experiments: ExperimentRecord[],
  noise: NoiseRecord | null,
  adoptions: Adoption[] = [],
): Promise<DirectionComparison> {
  const bests = [...directionBests(experiments, adoptions).entries()];
  const winner = bestKept(experiments, contract.direction);
  if (!winner) throw new RangeError('compareDirections: the run kept nothing');
  const rule = keepRuleFor(contract, noise);
  const inputs = new Map<number, Awaited<ReturnType<typeof alignPredictions>>>();
  if (!contract.evaluator) {
    const duck = await openDuck(2, {
      spillDir: join(projectDir, SPILL_DIR),
      memoryMB: evalMemoryMB(manifest),
    });
    try {
      for (const e of new Set(bests.map(([, b]) => b))) {
        const out = join(experimentDir(projectDir, e.id), 'output');
        const path = predictionsFile(out, 'public');
        if (typeof path !== 'string')
          throw new RatchetError(`the public predictions of experiment ${e.id} are unreadable`, {
            file: out,
          });
        inputs.set(
          e.id,
          await alignPredictions({
            predictionsPath: path,
            labelsPath: join(contract.projectDir, VAULT_DIR, 'public.parquet'),
            manifest,
            con: duck.con,
          }),
        );
      }
    } finally {
      duck.close();
    }
  }
  const inputOf = (e: ExperimentRecord) => {
    const a = inputs.get(e.id);
    return a?.ok ? a.input : null;
  };
  const standings = bests.map(([direction, e]): DirectionStanding => {
    const adopted = directionOf(e) !== direction;
    if (e.id === winner.id) return { direction, experiment: e, adopted, score: e.score!, versusWinner: null };
    const v = decideKeep(
      rule,
      { score: e.score!, input: inputOf(e), runs: { scores: [e.score!], inputs: [inputOf(e)] } },
      { score: winner.score!, input: inputOf(winner) },
    );
    return {
      direction,
      experiment: e,
      adopted,
      score: e.score!,
      versusWinner: {
        gain: v.gain,
        test: v.test,
        probImprovement: v.probImprovement,
        // With seed noise the single runs only screen: the lead is then not shown significant by one run.
        significant: v.keep && !v.needsConfirmation,
        reason: v.reason,
      },
    };
  });
  return { winner, standings };
}

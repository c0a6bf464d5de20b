import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { baselineRecord, createFinishedRun } from './tiers.js';

/**
 * A run of many experiments written straight through the Journal API (no loop, no git): what the Studio's tests of
 * a long run (a bounded snapshot, the paged table) need in a second, not an hour.
 */

/** The duration of experiment `id` in {@link recordManyExperiments}' run, ms (growing with the id, so the median of the newest rows is not the whole run's). */
export const durationOf = (id: number, first: number): number => 1000 + (id - first);

/**
 * Record a finished run `runId` of `n` experiments with ids `first..first+n-1` (seq 1..n; the first the kept
 * baseline, every tenth after it kept, the rest reverted; hypotheses "exp <id>").
 * @param dir an initialised project (its journal is opened and closed here)
 * @returns the ids, ascending
 */
export function recordManyExperiments(dir: string, runId: string, n: number, first = 1): number[] {
  const j = Journal.open(dir);
  const sha = (id: number) => id.toString(16).padStart(40, 'a');
  try {
    createFinishedRun(j, runId, { maxExperiments: n });
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = first + i;
      const kept = i === 0 || i % 10 === 0;
      const e: ExperimentRecord = {
        ...baselineRecord(runId),
        id,
        seq: i + 1,
        hypothesis: `exp ${id}`,
        params: { lr: i / n },
        decision: kept ? 'kept' : 'reverted',
        reason: kept ? 'better' : 'not better',
        score: 0.7 + i / (10 * n),
        bestBefore: i === 0 ? null : 0.7,
        delta: i === 0 ? null : i / (10 * n),
        commitSha: kept ? sha(id) : null,
        parentSha: sha(first),
        files: ['params.yaml'],
        durationMs: durationOf(id, first),
        executeMs: 900,
        metrics: { auroc: 0.7 + i / (10 * n), log_loss: 0.5 },
      };
      j.recordExperiment(e);
      ids.push(id);
    }
    return ids;
  } finally {
    j.close();
  }
}

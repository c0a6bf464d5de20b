/**
 * What a run session keeps in memory of its recorded experiments (docs/ARCHITECTURE.md, "Parallel directions": what
 * a session keeps in memory). The journal holds every record; a session keeps counts, the baseline, each
 * direction's last keep and a short window of each direction's latest experiments, so its memory stays flat however
 * long the run (the scale benchmark's 5,000-experiment soak: bench/scale.ts). Readers that need more read the
 * journal.
 */
import type { Decision, ExperimentRecord } from '../journal/store.js';
import type { ExperimentDigest } from '../proposers/types.js';

/**
 * How many of a direction's latest experiments a proposer is shown at PROPOSE (`ProposeContext.history`). The
 * built-in proposers read the journal for more (agents: their history digest) or keep their own (the search
 * proposer: its Optuna study).
 */
export const PROPOSER_HISTORY = 32;

/** Decisions that count as a failed experiment (the consecutive-failures budget). */
export const FAILURES: ReadonlySet<Decision> = new Set(['crashed', 'timeout', 'invalid', 'rejected']);

/**
 * Meta keys only the journal and the reports read (the step timings, the predictions' hashes, the feature check):
 * a session leaves them out of the records it keeps in memory.
 */
const JOURNAL_ONLY_META = new Set(['timings', 'predictions', 'featureCheck']);

/**
 * An experiment as a run session keeps it in memory (the baseline, a direction's last keep): the record without the
 * meta only the journal needs ({@link JOURNAL_ONLY_META}, about half a record: step timings alone are 15 numbers).
 * @returns a shallow copy; the record itself is not changed
 */
export function historyEntry(e: ExperimentRecord): ExperimentRecord {
  if (e.meta === null || !Object.keys(e.meta).some((k) => JOURNAL_ONLY_META.has(k))) return e;
  return {
    ...e,
    meta: Object.fromEntries(Object.entries(e.meta).filter(([k]) => !JOURNAL_ONLY_META.has(k))),
  };
}

/** An experiment as a proposer sees it (the fields of {@link ExperimentDigest}, nothing else). */
export function digest(e: ExperimentRecord): ExperimentDigest {
  return {
    id: e.id,
    seq: e.seq,
    hypothesis: e.hypothesis,
    decision: e.decision,
    reason: e.reason,
    score: e.score,
    params: e.params,
    conclusion: e.conclusion,
  };
}

/** What a session keeps of one direction's experiments. */
export interface LaneTally {
  /** Experiments recorded in the direction after the baseline. */
  tried: number;
  /** Of those, the kept ones. */
  kept: number;
  /** Its last kept experiment with a commit (the baseline for direction 1 until it keeps another), or null. */
  lastKept: ExperimentRecord | null;
  /** Its latest experiments, oldest first: at most {@link PROPOSER_HISTORY}. */
  recent: ExperimentDigest[];
}

/** A fresh {@link LaneTally}. */
export function laneTally(): LaneTally {
  return { tried: 0, kept: 0, lastKept: null, recent: [] };
}

/**
 * The run-wide counts a session keeps, updated with each recorded experiment ({@link RunTally.add}), in the order
 * the experiments were recorded (the order of the journal's ids).
 */
export class RunTally {
  /** Experiments recorded, the baseline included. */
  count = 0;
  /** Kept experiments after the baseline. */
  kept = 0;
  /** True once any experiment (the baseline included) was kept. */
  anyKept = false;
  /** The run's first experiment (seq 1: the baseline), once recorded. */
  baseline: ExperimentRecord | null = null;
  /** Experiments recorded since the last keep (all of them when none was kept): the plateau rule reads it. */
  sinceKept = 0;
  /** Failed experiments ({@link FAILURES}) recorded since the last one that did not fail. */
  failuresInARow = 0;

  /**
   * Count one recorded experiment into the run's tally and its direction's.
   * @param lane the tally of the direction it ran in
   */
  add(e: ExperimentRecord, lane: LaneTally): void {
    this.count++;
    const kept = e.decision === 'kept';
    if (e.seq === 1) this.baseline = historyEntry(e);
    else {
      lane.tried++;
      if (kept) {
        lane.kept++;
        this.kept++;
      }
    }
    if (kept) {
      this.anyKept = true;
      this.sinceKept = 0;
      if (e.commitSha) lane.lastKept = historyEntry(e);
    } else this.sinceKept++;
    this.failuresInARow = FAILURES.has(e.decision) ? this.failuresInARow + 1 : 0;
    lane.recent.push(digest(e));
    if (lane.recent.length > PROPOSER_HISTORY) lane.recent.splice(0, lane.recent.length - PROPOSER_HISTORY);
  }
}

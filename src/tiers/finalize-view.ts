/**
 * The finalized branches of a run as the journal records them (docs/ARCHITECTURE.md, "Finalize"): one `finalize`
 * event per branch, the branches of one `ratchet finalize` sharing its `batch`; the latest batch is the standing
 * one (a later finalize replaces the branches). Read by the CLI, the Studio and the promotion of a branch.
 */

import type { EventRecord, JournalReader } from '../journal/store.js';

/** The event kind of one finalized branch. */
export const FINALIZE_EVENT = 'finalize';

/** What re-running a finalized branch by itself said. */
export type FinalVerdict = 'holds' | 'does not hold alone' | 'failed to re-run';

/** One stacked commit of a finalized branch. */
export interface FinalCommit {
  experiment: number;
  /** The commit on the finalized branch. */
  commit: string;
  /** The experiment's own commit on the run's branch. */
  source: string;
  hypothesis: string;
}

/** A finalized branch as recorded in its `finalize` event's data. */
export interface FinalizedBranch {
  /** When the finalize that made it started (ISO): the branches of one finalize share it. */
  batch: string;
  run: string;
  /** 1-based position among the run's finalized branches. */
  index: number;
  branch: string;
  /** Its tip and the base commit it starts from (the run's). */
  commit: string;
  base: string;
  commits: FinalCommit[];
  experiments: number[];
  files: string[];
  /** The primary metric of the re-run on the public holdout (its first seed), null when it failed. */
  score: number | null;
  /** Scores of every re-run seed. */
  scores: number[];
  seeds: number[];
  /** The baseline's public score the branch was compared with. */
  baseline: number;
  /** Gain of the re-run over the baseline in the metric's direction (the mean over seeds when confirmed). */
  gain: number | null;
  holds: boolean;
  verdict: FinalVerdict;
  /** The keep rule's reason (or why the re-run failed). */
  reason: string;
  /** The experiment a review of the branch is recorded on: its last (the commit its scores came from). */
  reviewExperiment: number;
  /** PR.md's path, project-relative. */
  pr: string;
}

/** The finalized branches recorded by `events` (`finalize` events), latest batch only, in branch order. */
export function latestBatch(events: EventRecord[]): FinalizedBranch[] {
  const all = events
    .filter((e) => e.kind === FINALIZE_EVENT && e.data && typeof e.data['branch'] === 'string')
    .map((e) => e.data as unknown as FinalizedBranch);
  if (all.length === 0) return [];
  const batch = all
    .map((b) => b.batch)
    .sort()
    .at(-1);
  return all.filter((b) => b.batch === batch).sort((a, b) => a.index - b.index);
}

/** The standing finalized branches of a run (none when it was never finalized). */
export function finalizedBranches(journal: JournalReader, runId: string): FinalizedBranch[] {
  return latestBatch(journal.listEvents({ runId, kinds: [FINALIZE_EVENT] }));
}

import type { Direction } from '../proposers/types.js';
import type { ExperimentRecord, RunRecord } from './store.js';

/**
 * The directions of a run as its experiment records tell them (docs/architecture.md, "Parallel directions"):
 * pure functions of journal records, shared by `status`, `submit` and the report.
 */

/** The direction (1-based) an experiment ran in: a run with one direction records none, which is direction 1. */
export function directionOf(e: ExperimentRecord): number {
  return e.direction ?? 1;
}

/**
 * The best kept experiment of each direction of a run: the last kept one of the direction (each keep beat the one
 * before it in that direction). The baseline belongs to direction 1 and is every direction's start: a direction
 * that kept nothing has no entry.
 * @returns direction → its best, in direction order
 */
export function directionBests(experiments: ExperimentRecord[]): Map<number, ExperimentRecord> {
  const out = new Map<number, ExperimentRecord>();
  for (const e of experiments) if (e.decision === 'kept' && e.score !== null) out.set(directionOf(e), e);
  return new Map([...out.entries()].sort((a, b) => a[0] - b[0]));
}

/**
 * The best kept experiment of a run: with one direction its last keep; with several, the direction best with the
 * best public score (ties: the lowest direction).
 * @param goal the metric's direction (maximize | minimize)
 */
export function bestKept(
  experiments: ExperimentRecord[],
  goal: Direction = 'maximize',
): ExperimentRecord | null {
  const sign = goal === 'maximize' ? 1 : -1;
  let top: ExperimentRecord | null = null;
  for (const e of directionBests(experiments).values())
    if (!top || sign * (e.score! - top.score!) > 0) top = e;
  return top;
}

/** One direction of a run as `status`, the Studio and the report show it. */
export interface DirectionSummary {
  direction: number;
  /** Its branch, `ratchet/<run>/d<k>`. */
  branch: string;
  /** Its experiments (the baseline counts for direction 1): its share of the shared experiment budget. */
  experiments: number;
  /** Its kept changes (the baseline not counted). */
  kept: number;
  /** Its best kept experiment; a direction that kept nothing stands at the baseline it started from. */
  best: { id: number; score: number | null } | null;
}

/**
 * Per-direction summaries of a run with several directions (its `config.directions`), null for a run with one.
 * @param exps the run's experiments
 */
export function directionSummaries(run: RunRecord, exps: ExperimentRecord[]): DirectionSummary[] | null {
  const lanes = (run.config as { directions?: number }).directions ?? 1;
  if (lanes < 2) return null;
  const bests = directionBests(exps);
  const baseline = exps.find((e) => e.seq === 1 && e.decision === 'kept') ?? null;
  const prefix = run.branch.replace(/\/d1$/, '');
  return Array.from({ length: lanes }, (_, i) => {
    const d = i + 1;
    const mine = exps.filter((e) => directionOf(e) === d);
    const b = bests.get(d) ?? baseline;
    return {
      direction: d,
      branch: `${prefix}/d${d}`,
      experiments: mine.length,
      kept: mine.filter((e) => e.decision === 'kept' && e.seq > 1).length,
      best: b ? { id: b.id, score: b.score } : null,
    };
  });
}

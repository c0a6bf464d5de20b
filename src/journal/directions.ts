import type { Direction } from '../proposers/types.js';
import type { EventRecord, ExperimentRecord, RunRecord } from './store.js';

/**
 * The directions of a run as its experiment records tell them (docs/ARCHITECTURE.md, "Parallel directions"):
 * pure functions of journal records, shared by `status`, `submit` and the report.
 */

/** The direction (1-based) an experiment ran in: a run with one direction records none, which is direction 1. */
export function directionOf(e: Pick<ExperimentRecord, 'direction'>): number {
  return e.direction ?? 1;
}

/** A direction moving onto another direction's best (a `direction.adopted` event): when, who, and which experiment. */
export interface Adoption {
  /** ISO time of the event. */
  ts: string;
  direction: number;
  /** The adopted experiment's id. */
  experiment: number;
}

/**
 * The adoptions recorded in a run's events (kind `direction.adopted`, see `RunSession.adoptBest`).
 * @param events the run's events (any kinds; others are ignored)
 */
export function adoptionsOf(events: EventRecord[]): Adoption[] {
  return events
    .filter((e) => e.kind === 'direction.adopted' && e.data)
    .map((e) => ({
      ts: e.ts,
      direction: Number(e.data!['direction']),
      experiment: Number(e.data!['experiment']),
    }))
    .filter((a) => Number.isInteger(a.direction) && Number.isInteger(a.experiment));
}

/** What {@link directionBests} reads of an experiment. */
export type BestFacts = Pick<ExperimentRecord, 'id' | 'decision' | 'score' | 'direction' | 'endedAt'>;

/**
 * The best kept experiment of each direction of a run: the latest of its own keeps (each beat the one before it in
 * that direction) and of the bests it adopted from other directions. The baseline belongs to direction 1 and is
 * every direction's start: a direction that kept and adopted nothing has no entry.
 * @param adoptions the run's adoptions ({@link adoptionsOf}); none when omitted
 * @returns direction → its best, in direction order
 */
export function directionBests<E extends BestFacts>(
  experiments: readonly E[],
  adoptions: Adoption[] = [],
): Map<number, E> {
  const latest = new Map<number, { at: string; e: E }>();
  const offer = (d: number, at: string, e: E) => {
    const cur = latest.get(d);
    if (!cur || at >= cur.at) latest.set(d, { at, e });
  };
  const byId = new Map(experiments.map((e) => [e.id, e]));
  for (const e of experiments)
    if (e.decision === 'kept' && e.score !== null) offer(directionOf(e), e.endedAt, e);
  for (const a of adoptions) {
    const e = byId.get(a.experiment);
    if (e?.decision === 'kept' && e.score !== null) offer(a.direction, a.ts, e);
  }
  return new Map([...latest.entries()].sort((a, b) => a[0] - b[0]).map(([d, v]) => [d, v.e]));
}

/**
 * The best kept experiment of a run: with one direction its last keep; with several, the direction best with the
 * best public score (ties: the lowest direction).
 * @param goal the metric's direction (maximize | minimize)
 */
export function bestKept<E extends BestFacts>(
  experiments: readonly E[],
  goal: Direction = 'maximize',
): E | null {
  const sign = goal === 'maximize' ? 1 : -1;
  let top: E | null = null;
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
 * @param adoptions the run's adoptions ({@link adoptionsOf}): a direction's best may be one it adopted
 */
export function directionSummaries(
  run: RunRecord,
  exps: readonly (BestFacts & Pick<ExperimentRecord, 'seq'>)[],
  adoptions: Adoption[] = [],
): DirectionSummary[] | null {
  const lanes = (run.config as { directions?: number }).directions ?? 1;
  if (lanes < 2) return null;
  const bests = directionBests(exps, adoptions);
  const baseline = exps.find((e) => e.seq === 1 && e.decision === 'kept') ?? null;
  const prefix = run.branch.replace(/\/d1$/, '');
  // One pass over the experiments (the Studio asks on every snapshot of a run with thousands).
  const count = new Map<number, { experiments: number; kept: number }>();
  for (const e of exps) {
    const d = directionOf(e);
    let c = count.get(d);
    if (!c) {
      c = { experiments: 0, kept: 0 };
      count.set(d, c);
    }
    c.experiments++;
    if (e.decision === 'kept' && e.seq > 1) c.kept++;
  }
  return Array.from({ length: lanes }, (_, i) => {
    const d = i + 1;
    const b = bests.get(d) ?? baseline;
    return {
      direction: d,
      branch: `${prefix}/d${d}`,
      experiments: count.get(d)?.experiments ?? 0,
      kept: count.get(d)?.kept ?? 0,
      best: b ? { id: b.id, score: b.score } : null,
    };
  });
}

/** Experiments a direction runs before `verified-gains` may pause it. */
export const MIN_TRIES = 2;

/** One direction's share of the remaining budget under the `verified-gains` policy. */
export interface BudgetShare {
  direction: number;
  /** Experiments it ran after the baseline. */
  tried: number;
  /** Its keeps that hold: kept after the confirmation runs when the keep rule asked for them. */
  verified: number;
  /** Posterior mean of its rate of verified keeps, (1 + verified) / (2 + tried): Beta(1, 1) prior. */
  rate: number;
  /** Its share of the remaining budget: rate / Σ rates. */
  weight: number;
}

/** What the `verified-gains` policy reads of one direction (see {@link directionCounts}). */
export interface DirectionCount {
  /** Experiments it ran after the baseline. */
  tried: number;
  /** Its keeps after the baseline. */
  verified: number;
}

/**
 * Count each direction's experiments after the baseline and its keeps, from journal records (a run session keeps
 * these counts as it goes: src/loop/tally.ts).
 * @param directions how many directions the run has
 * @returns one count per direction, in direction order
 */
export function directionCounts(exps: readonly ExperimentRecord[], directions: number): DirectionCount[] {
  const counts = Array.from({ length: directions }, () => ({ tried: 0, verified: 0 }));
  for (const e of exps) {
    const c = counts[directionOf(e) - 1];
    if (!c || e.seq <= 1) continue;
    c.tried++;
    if (e.decision === 'kept') c.verified++;
  }
  return counts;
}

/**
 * The `verified-gains` budget policy (docs/ARCHITECTURE.md, "Parallel directions"): each direction's rate of
 * verified keeps (a Beta(1, 1)-Bernoulli posterior mean over its experiments after the baseline) sets its share of
 * the experiments left. A keep counts when it holds: a keep the rule asked confirmation runs for is recorded as kept
 * only when they confirmed it.
 * @param counts each direction's experiments after the baseline and keeps, in direction order
 * @returns one share per direction, in direction order
 */
export function budgetShares(counts: readonly DirectionCount[]): BudgetShare[] {
  const shares = counts.map((c, i) => ({
    direction: i + 1,
    tried: c.tried,
    verified: c.verified,
    rate: (1 + c.verified) / (2 + c.tried),
    weight: 0,
  }));
  const total = shares.reduce((a, s) => a + s.rate, 0);
  for (const s of shares) s.weight = s.rate / total;
  return shares;
}

/**
 * Whether a direction may start another experiment under `verified-gains`: always during its first
 * {@link MIN_TRIES} experiments and for the direction with the highest rate; otherwise while its share of the
 * experiments left is at least one (⌊weight · left⌋ ≥ 1).
 * @param left experiments left in the run's budget (experiments under way excluded)
 * @returns null when it may, else why it pauses
 */
export function budgetPause(shares: BudgetShare[], direction: number, left: number): string | null {
  const me = shares[direction - 1];
  if (!me || me.tried < MIN_TRIES) return null;
  const top = shares.reduce((a, s) => (s.rate > a.rate ? s : a), shares[0]!);
  if (top.direction === direction || Math.floor(me.weight * left) >= 1) return null;
  return `direction ${direction} pauses: ${me.verified} verified keep(s) in ${me.tried} experiments (rate ${me.rate.toFixed(2)}) give it ${(me.weight * left).toFixed(2)} of the ${left} experiments left; direction ${top.direction} (rate ${top.rate.toFixed(2)}) goes on`;
}

/**
 * Where each experiment of a harness task landed on its two objectives (src/loop/pareto.ts): the public-holdout
 * `task_score` (maximize) against the contract's cost metric (`harness.keep.cost_metric`, minimize), with the Pareto
 * front of the run (pareto-front.ts). The report's "Score and cost (harness)" section and the Studio's harness panel
 * show it (docs/ARCHITECTURE.md, "The report"); harness-chart.ts draws it. Pure: computed from the journal's
 * experiments.
 */

import { bestKept } from '../journal/directions.js';
import type { ExperimentRecord } from '../journal/store.js';
import type { HarnessKeep } from '../loop/pareto.js';
import { paretoFront } from './pareto-front.js';

/** The score objective of a harness task. */
export const HARNESS_SCORE = 'task_score';

/** Decisions whose experiments may be on the front: a guardrail's verdict (rejected) never is. */
const FRONT_DECISIONS: ReadonlySet<string> = new Set(['kept', 'reverted']);

/** One scored experiment as the scatter and the front table show it. */
export interface HarnessPoint {
  id: number;
  seq: number;
  decision: string;
  /** Public-holdout task_score. */
  score: number;
  /** Public-holdout cost metric. */
  cost: number;
  /** Proposer text: data, never markup (every rendering escapes it). */
  hypothesis: string;
  /** On the run's Pareto front. */
  front: boolean;
  /** The run's current best (its last keep, as `ratchet status` says). */
  best: boolean;
}

/** A harness run's score against cost. */
export interface HarnessFront {
  score: typeof HARNESS_SCORE;
  cost: HarnessKeep['cost_metric'];
  /** `harness.keep.cost_ceiling`, null when unset. */
  ceiling: number | null;
  /** Every experiment with both metrics, in run order. */
  points: HarnessPoint[];
  /** Ids of the front, by cost ascending (score rising). */
  front: number[];
  /** Id of the run's current best, null before a keep. */
  best: number | null;
  /** Experiments without both metrics (crashed, timed out, invalid): not drawn. */
  unscored: number;
}

/**
 * The score–cost picture of a run's experiments. The front is taken over the kept and reverted experiments (a
 * reverted one can trade score for cost); a rejected experiment is drawn but never on it: a guardrail refused it.
 * @param keep the contract's `harness.keep` (cost metric and ceiling)
 * @param direction the primary metric's direction (for the current best)
 */
export function harnessFront(
  exps: ExperimentRecord[],
  keep: Pick<HarnessKeep, 'cost_metric' | 'cost_ceiling'>,
  direction: 'maximize' | 'minimize',
): HarnessFront {
  const best = bestKept(exps, direction)?.id ?? null;
  const points: HarnessPoint[] = [];
  for (const e of exps) {
    const score = e.metrics?.[HARNESS_SCORE];
    const cost = e.metrics?.[keep.cost_metric];
    if (typeof score !== 'number' || typeof cost !== 'number') continue;
    if (!Number.isFinite(score) || !Number.isFinite(cost)) continue;
    points.push({
      id: e.id,
      seq: e.seq,
      decision: e.decision,
      score,
      cost,
      hypothesis: e.hypothesis,
      front: false,
      best: e.id === best,
    });
  }
  const front = paretoFront(points.filter((p) => FRONT_DECISIONS.has(p.decision)));
  for (const p of front) p.front = true;
  return {
    score: HARNESS_SCORE,
    cost: keep.cost_metric,
    ceiling: keep.cost_ceiling ?? null,
    points,
    front: front.map((p) => p.id),
    best,
    unscored: exps.length - points.length,
  };
}

/** A cost value in words: tokens with one decimal, dollars with four significant digits. */
export function costText(v: number, metric: HarnessKeep['cost_metric']): string {
  return metric === 'cost_per_task' ? `$${v.toPrecision(4)}` : v.toFixed(1);
}

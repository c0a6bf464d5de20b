/**
 * Report facts derived from the journal's experiments alone: the winner's secondary metrics against the
 * baseline, the best score per model family, and what to try next after a plateau.
 */
import type { ExperimentRecord } from '../journal/store.js';
import { metricSpec } from '../metrics/registry.js';
import type { Task } from '../metrics/types.js';
import { type ChoiceValue, choiceKey, type ParamSpace, type ParamSpec } from '../proposers/search/space.js';
import type { ImportanceResult } from './importance.js';

/** One metric of the winner against the baseline, on the public holdout. */
export interface SecondaryMetric {
  metric: string;
  /** Whether larger or smaller is better (null when the metric is not a built-in: custom or composite). */
  direction: 'maximize' | 'minimize' | null;
  baseline: number | null;
  best: number | null;
  /** best − baseline, raw. */
  change: number | null;
  /** The change in the metric's direction (positive = better), null without a known direction. */
  gain: number | null;
  /** Why the metric has no value on the baseline or the best (undefined on the public holdout), else absent. */
  undefinedReason?: string;
}

/**
 * The metrics of the best kept experiment against the baseline's (every public metric both recorded; the
 * primary first, then the contract's `also` order, then any other), each with its direction.
 * @param task the contract's task (to look the metric's direction up in the registry)
 * @param primaryDirection the contract's direction of the primary metric
 */
export function secondaryMetrics(
  baseline: ExperimentRecord | null,
  best: ExperimentRecord | null,
  order: { primary: string; also: string[]; task: string; primaryDirection: 'maximize' | 'minimize' },
): SecondaryMetric[] {
  if (!baseline || !best) return [];
  const names = [
    ...new Set([
      order.primary,
      ...order.also,
      ...Object.keys(baseline.metrics),
      ...Object.keys(best.metrics),
    ]),
  ].filter(
    (m) => m in baseline.metrics || m in best.metrics || m in undefinedOf(baseline) || m in undefinedOf(best),
  );
  return names.map((metric) => {
    let direction: SecondaryMetric['direction'] = null;
    if (metric === order.primary) direction = order.primaryDirection;
    else {
      try {
        direction = metricSpec(metric, order.task as Task).direction;
      } catch {
        direction = null;
      }
    }
    const b = baseline.metrics[metric] ?? null;
    const w = best.metrics[metric] ?? null;
    const change = b !== null && w !== null ? w - b : null;
    const gain = change === null || direction === null ? null : direction === 'maximize' ? change : -change;
    const why = undefinedOf(best)[metric] ?? undefinedOf(baseline)[metric];
    return {
      metric,
      direction,
      baseline: b,
      best: w,
      change,
      gain,
      ...(why ? { undefinedReason: why } : {}),
    };
  });
}

/** Reported-only metrics the experiment could not compute on the public holdout (meta.undefinedMetrics). */
function undefinedOf(e: ExperimentRecord): Record<string, string> {
  return (e.meta?.['undefinedMetrics'] as Record<string, string> | undefined) ?? {};
}

/** One row of the per-family table. */
export interface FamilyRow {
  /** The family (the value of the space's family parameter), or "(no params recorded)". */
  family: string;
  experiments: number;
  /** Kept changes of this family (the baseline not counted). */
  kept: number;
  /** Scored experiments of the family. */
  scored: number;
  /** Best public primary score of the family (any decision with a valid score), in the metric's direction. */
  best: number | null;
  /** Journal id of that experiment. */
  bestId: number | null;
}

/**
 * The parameter that chooses the model family: the first top-level categorical parameter with conditional
 * sections (`model` in the templates), or null when the space has none.
 */
export function familyParam(space: ParamSpace | null): string | null {
  if (!space) return null;
  for (const [name, spec] of Object.entries(space))
    if (spec.type === 'categorical' && spec.conditional && Object.keys(spec.conditional).length > 0)
      return name;
  return null;
}

/** The family of an experiment's params (null when it recorded none or the parameter is absent). */
function familyOf(params: Record<string, unknown> | null, param: string): string | null {
  const v = params?.[param];
  return v === undefined ? null : choiceKey(v as ChoiceValue);
}

/**
 * Experiments, kept changes and the best public score per model family, best family first.
 * @param baselineParams the baseline's params when its record has none (the project's params file)
 */
export function familyTable(
  exps: ExperimentRecord[],
  param: string,
  direction: 'maximize' | 'minimize',
  baselineParams: Record<string, unknown> | null,
): FamilyRow[] {
  const rows = new Map<string, FamilyRow>();
  const better = (a: number, b: number) => (direction === 'maximize' ? a > b : a < b);
  for (const e of exps) {
    const params = e.params ?? (e.seq === 1 ? baselineParams : null);
    const family = familyOf(params, param) ?? '(no params recorded)';
    let r = rows.get(family);
    if (!r) {
      r = { family, experiments: 0, kept: 0, scored: 0, best: null, bestId: null };
      rows.set(family, r);
    }
    r.experiments++;
    if (e.decision === 'kept' && e.seq > 1) r.kept++;
    if (e.score !== null && Number.isFinite(e.score)) {
      r.scored++;
      if (r.best === null || better(e.score, r.best)) {
        r.best = e.score;
        r.bestId = e.id;
      }
    }
  }
  return [...rows.values()].sort((a, b) =>
    a.best === null ? 1 : b.best === null ? -1 : better(a.best, b.best) ? -1 : better(b.best, a.best) ? 1 : 0,
  );
}

/** What the report suggests after a plateau: when it applies, and the suggestions. */
export interface NextSteps {
  /** Why the report suggests anything (the plateau), or null when the run did not stall. */
  trigger: string | null;
  items: string[];
}

/** Share of a numeric range (on the log scale for log parameters) that counts as "at the edge". */
const EDGE = 0.05;

function position(spec: ParamSpec, v: number): number | null {
  if (spec.type === 'categorical') return null;
  const lo = spec.log ? Math.log(spec.low) : spec.low;
  const hi = spec.log ? Math.log(spec.high) : spec.high;
  const x = spec.log ? Math.log(v) : v;
  return hi > lo ? (x - lo) / (hi - lo) : null;
}

/**
 * Whether the run stalled: it escalated on a plateau, or its last `window` experiments (after the baseline)
 * kept nothing.
 * @returns the reason in words, or null
 */
export function plateauTrigger(
  exps: ExperimentRecord[],
  stopReason: string | null,
  window: number,
): string | null {
  if (stopReason?.startsWith('plateau')) return stopReason;
  const after = exps.filter((e) => e.seq > 1);
  if (window > 0 && after.length >= window && !after.slice(-window).some((e) => e.decision === 'kept'))
    return `the last ${window} experiments kept nothing`;
  return null;
}

/**
 * Concrete suggestions after a plateau, from the run's own data: model families never tried, parameters at
 * the edge of their range in the best trials (widen the space), the importance of the parameters, another
 * proposer (features, not just hyperparameters), and a larger budget when TPE barely left its random start-up.
 * @returns `trigger` null and no items when the run did not stall
 */
export function nextSteps(o: {
  exps: ExperimentRecord[];
  stopReason: string | null;
  /** Experiments without a kept change that count as a stall (the contract's suspicion.plateau, capped). */
  window: number;
  space: ParamSpace | null;
  direction: 'maximize' | 'minimize';
  proposer: string;
  importance: ImportanceResult | null;
  baselineParams: Record<string, unknown> | null;
  /** TPE's random start-up trials (python/optuna_helper.py N_STARTUP_TRIALS). */
  startupTrials?: number;
}): NextSteps {
  const trigger = plateauTrigger(o.exps, o.stopReason, o.window);
  if (!trigger) return { trigger: null, items: [] };
  const items: string[] = [];
  const fam = familyParam(o.space);
  const scored = o.exps
    .map((e) => ({ e, params: e.params ?? (e.seq === 1 ? o.baselineParams : null) }))
    .filter((x) => x.e.score !== null && Number.isFinite(x.e.score) && x.params);
  if (fam && o.space) {
    const spec = o.space[fam]!;
    if (spec.type === 'categorical') {
      const tried = new Set(scored.map((x) => choiceKey(x.params![fam] as ChoiceValue)));
      const never = spec.choices.map((c) => choiceKey(c)).filter((c) => !tried.has(c));
      if (never.length)
        items.push(
          `${fam} families never scored: ${never.join(', ')}: enqueue one (edit params.yaml) or give the search more trials`,
        );
    }
  }
  if (o.space) {
    const sign = o.direction === 'maximize' ? -1 : 1;
    const top = [...scored].sort((a, b) => sign * (a.e.score! - b.e.score!)).slice(0, 3);
    const edges = new Map<string, { lowHigh: string; n: number; range: string; best: boolean }>();
    for (const [rank, { params }] of top.entries()) {
      const visit = (space: ParamSpace, p: Record<string, unknown>, prefix: string) => {
        for (const [name, spec] of Object.entries(space)) {
          const v = p[name];
          if (spec.type === 'categorical') {
            const sub = spec.conditional?.[choiceKey(v as ChoiceValue)];
            const section = p[choiceKey(v as ChoiceValue)];
            if (sub && section && typeof section === 'object')
              visit(sub, section as Record<string, unknown>, `${prefix}${choiceKey(v as ChoiceValue)}.`);
            continue;
          }
          if (typeof v !== 'number') continue;
          const pos = position(spec, v);
          if (pos === null) continue;
          const side = pos <= EDGE ? 'bottom' : pos >= 1 - EDGE ? 'top' : null;
          if (!side) continue;
          const key = `${prefix}${name}:${side}`;
          const cur = edges.get(key);
          edges.set(key, {
            lowHigh: side,
            n: (cur?.n ?? 0) + 1,
            range: `[${spec.low}, ${spec.high}]`,
            best: (cur?.best ?? false) || rank === 0,
          });
        }
      };
      visit(o.space, params!, '');
    }
    for (const [key, v] of edges) {
      if (v.n < 2 && !v.best) continue; // one trial of the three that is not the best says little
      const name = key.slice(0, key.lastIndexOf(':'));
      items.push(
        `${name} sits at the ${v.lowHigh} of its range ${v.range} in ${v.n} of the ${top.length} best trials${v.best ? ' (the best one included)' : ''}: widen search_space.yaml ${v.lowHigh === 'top' ? 'upwards' : 'downwards'}`,
      );
    }
  }
  if (o.importance?.status === 'ok') {
    const all = o.importance.groups.find((g) => g.family === null);
    const first = all ? Object.entries(all.importances)[0] : undefined;
    if (first && first[1] >= 0.5)
      items.push(
        first[0] === fam
          ? `the ${fam} choice explains ${(first[1] * 100).toFixed(0)}% of the score's variance over all trials: narrow the search to the best families (see Model families)`
          : `${first[0]} explains ${(first[1] * 100).toFixed(0)}% of the score's variance over all trials: search it more finely, the rest matters little`,
      );
  }
  if (o.proposer === 'search')
    items.push(
      'the hyperparameters alone have stalled: try feature work with an agent (`ratchet run --proposer hybrid`, or command/openai)',
    );
  const startup = o.startupTrials ?? 10;
  if (scored.length <= startup * 2)
    items.push(
      scored.length <= startup
        ? `only ${scored.length} scored trials, all within TPE's ${startup} random start-up trials: raise budgets.max_experiments so the model-based search gets going`
        : `only ${scored.length} scored trials, ${startup} of them TPE's random start-up: raise budgets.max_experiments so the model-based search gets going`,
    );
  return { trigger, items };
}

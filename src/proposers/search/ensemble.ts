/**
 * Ensembles of the search proposer (docs/ARCHITECTURE.md, "Ensembles"). An ensemble proposal is the best kept
 * experiment's model(s) plus the best finished trials of the model families; the training script averages their
 * predictions (`model: ensemble`). With `weights: oof` every competitive family's best trial joins at once and the
 * training script weights the members by ensemble selection over out-of-fold predictions of the train split (Caruana
 * et al. 2004, "Ensemble selection from libraries of models", ICML); with `weights: equal` one family joins per
 * proposal (greedy forward selection, the keep rule judging each addition). Ensembles are not TPE trials: they lie
 * outside the search space, TPE never hears their scores.
 */
import type { Direction } from '../types.js';
import { formatValue } from './hypothesis.js';
import type { GroupBest } from './optuna.js';
import { type ChoiceValue, choiceKey, type EnsembleSpec, type ParamSpace } from './space.js';

/**
 * A step's trial must be at most this fraction of the incumbent's score worse than the incumbent (or `within`, when
 * smaller): a fixed half-and-half average with a much weaker model seldom helps (on the benchmark's digits, LightGBM
 * with a HistGradientBoosting 46 % worse lost 0.0095 log loss and took 45 of the 150 s).
 */
export const STEP_WITHIN = 0.1;

/** The `model` value that makes the scaffold's train.py average its `ensemble.members`. */
export const ENSEMBLE_MODEL = 'ensemble';

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * The searched part of params: the space's top-level parameters that params sets, and the section its categorical
 * choices open (`model: lightgbm` brings `lightgbm: {...}`). Every other key (drop_columns, date_columns, ...) is left
 * out: it belongs to the ensemble's top level, shared by the members.
 */
export function searchedPart(params: Record<string, unknown>, space: ParamSpace): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(space)) {
    if (!(name in params)) continue;
    out[name] = params[name];
    if (spec.type === 'categorical' && spec.conditional) {
      const key = choiceKey(params[name] as ChoiceValue);
      if (key in spec.conditional && key in params) out[key] = structuredClone(params[key]);
    }
  }
  return out;
}

/** The models of params: an ensemble's members, or the params' own searched part as one member. */
export function membersOf(params: Record<string, unknown>, space: ParamSpace): Record<string, unknown>[] {
  if (params.model === ENSEMBLE_MODEL) {
    const members = asRecord(params[ENSEMBLE_MODEL])?.members;
    return Array.isArray(members)
      ? members.filter((m) => asRecord(m) !== undefined).map((m) => structuredClone(m))
      : [];
  }
  return [searchedPart(params, space)];
}

/**
 * The top level an ensemble shares among its members: the incumbent's keys that are neither searched nor a family's
 * section nor the ensemble itself (e.g. drop_columns, date_columns: what `ratchet init` or the user set).
 */
export function sharedPart(params: Record<string, unknown>, space: ParamSpace): Record<string, unknown> {
  const sections = new Set<string>([ENSEMBLE_MODEL]);
  for (const spec of Object.values(space)) {
    if (spec.type === 'categorical') for (const key of Object.keys(spec.conditional ?? {})) sections.add(key);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if (key in space || sections.has(key)) continue;
    out[key] = structuredClone(value);
  }
  return out;
}

/** JSON with object keys sorted at every level: equal params give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const rec = asRecord(value);
  if (rec) {
    const keys = Object.keys(rec).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(rec[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** What the proposer knows when it considers an ensemble. */
export interface EnsembleInput {
  spec: EnsembleSpec;
  space: ParamSpace;
  /** Params of the best kept experiment (the incumbent); null before any. */
  incumbent: Record<string, unknown> | null;
  /** The best finished trial of each family, best first ({@link OptunaSession.top}). */
  top: GroupBest[];
  /** Canonical JSON of the member lists already proposed (this run's history and this process's proposals). */
  tried: ReadonlySet<string>;
  /** Seconds one model took to run as an experiment, by the canonical JSON of its searched part, when known. */
  seconds: (member: Record<string, unknown>) => number | null;
  /** Longest an ensemble may be expected to take, in seconds (the members' sum), or null for no limit. */
  maxSeconds: number | null;
  /** The incumbent's public score (null: unknown, no family is filtered on score) and the metric's direction. */
  incumbentScore: number | null;
  direction: Direction;
  /** The contract's primary metric, which `weights: oof` fits the weights on (null: the script's default). */
  metric: string | null;
}

/** An ensemble to propose: its params, its members, and the trials it adds. */
export interface EnsembleChoice {
  /** The params file's content: the shared top level, `model: ensemble`, `ensemble: {members, fit_weights?}`. */
  params: Record<string, unknown>;
  members: Record<string, unknown>[];
  /** Canonical JSON of `members` (what {@link EnsembleInput.tried} holds). */
  key: string;
  /** The finished trials added to the incumbent's models, best first (`weights: equal`: one). */
  added: GroupBest[];
  /** The families already in the incumbent, in order. */
  families: string[];
  /**
   * `oof`: weights fitted by train.py; `step`: fixed weights, the anchor's share on the incumbent (the out-of-fold
   * ensemble did not fit the time); `equal`: equal weights.
   */
  kind: 'oof' | 'step' | 'equal';
  /**
   * Expected seconds: the members' known run times summed, times `folds` with `weights: oof` (each member is fitted
   * on every fold and once on the whole train split); null when none is known.
   */
  seconds: number | null;
}

/**
 * Whether a score is close enough to the incumbent's to join it: at most `spec.within` × |incumbent| worse, in the
 * metric's direction (any score when the incumbent's is unknown).
 */
export function competitive(
  score: number,
  input: Pick<EnsembleInput, 'spec' | 'incumbentScore' | 'direction'>,
): boolean {
  const inc = input.incumbentScore;
  if (inc === null) return true;
  const worse = input.direction === 'maximize' ? inc - score : score - inc;
  return worse <= input.spec.within * Math.abs(inc);
}

/**
 * The next ensemble to propose, or null. Its members are the incumbent's models, then the best finished trials of
 * the families in `input.top` order (best first), skipping a trial already a member, one not {@link competitive} with
 * the incumbent, and one that would take the expected run time past `maxSeconds`:
 * - `weights: oof`: every trial that passes joins, up to `spec.members` models; the weights are fitted by the
 *   training script (`ensemble.fit_weights`), `spec.anchor` of them kept on the incumbent;
 * - when that ensemble does not fit the time (or was tried) and `spec.anchor` > 0: a step, the incumbent plus the
 *   first trial that passes at its own run time and within {@link STEP_WITHIN}, with fixed weights (`spec.anchor` ×
 *   the incumbent's, the rest on the trial); only for an incumbent whose weights are known (a single model, or fixed
 *   or equal weights);
 * - `weights: equal`: the first trial of a family not in the incumbent joins, one per proposal.
 * Null when there is no incumbent, the incumbent already holds `spec.members` models, nothing joins, or the member
 * list was already tried.
 */
export function nextEnsemble(input: EnsembleInput): EnsembleChoice | null {
  const { spec, space, incumbent } = input;
  if (!incumbent) return null;
  const current = membersOf(incumbent, space);
  if (current.length === 0 || current.length >= spec.members) return null;
  const shared = sharedPart(incumbent, space);
  const families = current.map((m) => choiceKey((m[spec.by] ?? null) as ChoiceValue));
  const choice = (kind: EnsembleChoice['kind'], got: Gathered, ensemble: Record<string, unknown>) => ({
    params: { ...shared, model: ENSEMBLE_MODEL, [ENSEMBLE_MODEL]: { members: got.members, ...ensemble } },
    members: got.members,
    key: got.key,
    added: got.added,
    families,
    seconds: got.seconds,
    kind,
  });
  if (spec.weights === 'equal') {
    const got = gather(input, current, { one: true, otherFamilies: true, factor: 1 });
    return got ? choice('equal', got, {}) : null;
  }
  const all = gather(input, current, { one: false, otherFamilies: false, factor: spec.folds });
  if (all) {
    const fit: Record<string, unknown> =
      input.metric === null ? { folds: spec.folds } : { metric: input.metric, folds: spec.folds };
    const anchor = anchorOf(incumbent, current.length, input);
    if (anchor) fit.anchor = anchor;
    return choice('oof', all, { fit_weights: fit });
  }
  const kept = spec.anchor > 0 ? fixedWeights(incumbent, current.length) : null;
  if (!kept) return null;
  const near = { ...input, spec: { ...spec, within: Math.min(spec.within, STEP_WITHIN) } };
  const step = gather(near, current, { one: true, otherFamilies: false, factor: 1 });
  if (!step) return null;
  const weights = [...kept.map((w) => w * spec.anchor), 1 - spec.anchor];
  return choice('step', step, { weights });
}

/** What {@link gather} found: the member list, its key, the trials added and the expected seconds. */
interface Gathered {
  members: Record<string, unknown>[];
  key: string;
  added: GroupBest[];
  seconds: number | null;
}

/**
 * The incumbent's models plus trials of `input.top` (see {@link nextEnsemble}): `one` stops after the first,
 * `otherFamilies` skips the incumbent's families, `factor` multiplies the run times (out-of-fold fits). Null when
 * nothing joins or the member list was already tried.
 */
function gather(
  input: EnsembleInput,
  current: Record<string, unknown>[],
  how: { one: boolean; otherFamilies: boolean; factor: number },
): Gathered | null {
  const { spec, space } = input;
  const families = current.map((m) => choiceKey((m[spec.by] ?? null) as ChoiceValue));
  const known = current.map(input.seconds);
  let seconds = known.some((s) => s !== null) ? known.reduce<number>((sum, s) => sum + (s ?? 0), 0) : null;
  const members = [...current];
  const keys = new Set(members.map((m) => canonicalJson(m)));
  const added: GroupBest[] = [];
  for (const trial of input.top) {
    if (members.length >= spec.members || (how.one && added.length > 0)) break;
    if (how.otherFamilies && families.includes(trial.group)) continue;
    if (!competitive(trial.value, input)) continue;
    const member = searchedPart(trial.params, space);
    const memberKey = canonicalJson(member);
    if (keys.has(memberKey)) continue;
    if (how.one && input.tried.has(canonicalJson([...members, member]))) continue;
    const total = seconds === null && trial.seconds === null ? null : (seconds ?? 0) + (trial.seconds ?? 0);
    if (input.maxSeconds !== null && total !== null && total * how.factor > input.maxSeconds) continue;
    members.push(member);
    keys.add(memberKey);
    added.push(trial);
    seconds = total;
  }
  if (added.length === 0) return null;
  const key = canonicalJson(members);
  if (input.tried.has(key)) return null;
  return { members, key, added, seconds: seconds === null ? null : seconds * how.factor };
}

/**
 * The incumbent's weights over its `k` models when they are fixed: 1 for a single model, an ensemble's `weights`
 * normalised (equal when it gives none); null for a fitted ensemble (its weights are only known to train.py) or
 * weights that are not k non-negative numbers with a positive sum.
 */
export function fixedWeights(incumbent: Record<string, unknown>, k: number): number[] | null {
  if (incumbent.model !== ENSEMBLE_MODEL) return [1];
  const ensemble = asRecord(incumbent[ENSEMBLE_MODEL]);
  if (ensemble?.fit_weights !== undefined) return null;
  const weights = Array.isArray(ensemble?.weights) ? (ensemble.weights as unknown[]) : Array(k).fill(1);
  if (weights.length !== k || !weights.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0))
    return null;
  const sum = (weights as number[]).reduce((a, b) => a + b, 0);
  return sum > 0 ? (weights as number[]).map((w) => w / sum) : null;
}

/**
 * The `fit_weights.anchor` that keeps `spec.anchor` of an ensemble's weight on the incumbent, whose `k` models are the
 * ensemble's first members, weighted as the incumbent weights them: a single model alone; an ensemble's fixed
 * `weights` (equal when it gives none); a fitted ensemble's own anchor, nested (train.py re-fits its weights from
 * the same out-of-fold predictions: exact when the incumbent was fitted with the same metric and folds, else the
 * nearest it can do). Null when `spec.anchor` is 0. The incumbent's params are data: the nested anchor is copied
 * as it is and train.py validates it.
 */
export function anchorOf(
  incumbent: Record<string, unknown>,
  k: number,
  input: Pick<EnsembleInput, 'spec' | 'metric'>,
): Record<string, unknown> | null {
  const share = input.spec.anchor;
  if (share <= 0) return null;
  if (incumbent.model !== ENSEMBLE_MODEL) return { members: k, share };
  const fit = asRecord(asRecord(incumbent[ENSEMBLE_MODEL])?.fit_weights);
  if (!fit) {
    // fixed or equal weights, read and checked once ({@link fixedWeights}); unreadable ones: anchor re-fitted
    const fixed = fixedWeights(incumbent, k);
    return fixed ? { members: k, share, weights: fixed } : { members: k, share };
  }
  const same = (fit.metric ?? null) === input.metric && (fit.folds ?? 5) === input.spec.folds;
  const inner = asRecord(fit.anchor);
  return same && inner ? { members: k, share, anchor: structuredClone(inner) } : { members: k, share };
}

/**
 * The hypothesis of an ensemble proposal, e.g. "ensemble of 2 models, equal weights: the best kept model
 * (logistic_regression) plus extra_trees, TPE trial 57 (public 0.7245; n_estimators=475, max_depth=7); models of
 * different families err differently, so their average can beat each alone", or with fitted weights "ensemble of
 * 4 models, weights fitted on 5-fold out-of-fold auroc of the train split (ensemble selection): the best kept model
 * (logistic_regression) plus extra_trees (TPE trial 57, public 0.7245), lightgbm (TPE trial 12, public 0.7198), …".
 */
export function describeEnsemble(choice: EnsembleChoice, spec: EnsembleSpec, space: ParamSpace): string {
  const kept = `the best kept model${choice.families.length > 1 ? 's' : ''} (${choice.families.join(' + ')})`;
  const value = (t: GroupBest) => Number(t.value.toPrecision(4));
  if (choice.kind === 'step') {
    const added = choice.added[0]!;
    const weights = asRecord(choice.params[ENSEMBLE_MODEL])?.weights as number[];
    return (
      `ensemble of ${choice.members.length} models, fixed weights ${JSON.stringify(weights.map((w) => Number(w.toPrecision(4))))}: ` +
      `${kept} plus ${added.group} (TPE trial ${added.trial}, public ${value(added)}); weights fitted out of fold ` +
      `would take longer than this experiment has, so ${spec.anchor} of the weight stays on the kept model, a step ` +
      'close enough to it for the public holdout to confirm'
    );
  }
  if (choice.kind === 'equal') {
    const added = choice.added[0]!;
    const by = space[spec.by];
    const section = by?.type === 'categorical' ? by.conditional?.[added.group] : undefined;
    const detail = section ? listParams(section, asRecord(added.params[added.group])) : '';
    return (
      `ensemble of ${choice.members.length} models, equal weights: ${kept} ` +
      `plus ${added.group}, TPE trial ${added.trial} (public ${value(added)}${detail ? `; ${detail}` : ''}); ` +
      'models of different families err differently, so their average can beat each alone'
    );
  }
  const fit = asRecord(asRecord(choice.params[ENSEMBLE_MODEL])?.fit_weights);
  const metric = typeof fit?.metric === 'string' ? `${fit.metric} ` : '';
  const anchor = asRecord(fit?.anchor);
  const trials = choice.added.map((t) => `${t.group} (TPE trial ${t.trial}, public ${value(t)})`).join(', ');
  return (
    `ensemble of ${choice.members.length} models, weights fitted on ${spec.folds}-fold out-of-fold ${metric}` +
    `of the train split (ensemble selection): ${kept} plus ${trials}; models of different families err ` +
    'differently, and ensemble selection weights each by what it adds to the others' +
    (anchor
      ? `; ${anchor.share} of the weight stays on the kept model, a step close enough to it for the public holdout to confirm`
      : '')
  );
}

function listParams(level: ParamSpace, params: Record<string, unknown> | undefined): string {
  if (!params) return '';
  return Object.keys(level)
    .filter((name) => name in params)
    .map((name) => `${name}=${formatValue(params[name])}`)
    .join(', ');
}

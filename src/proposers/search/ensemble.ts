/**
 * Ensembles of the search proposer (docs/ARCHITECTURE.md, "Ensembles"): greedy forward selection over model
 * families (Caruana et al. 2004, "Ensemble selection from libraries of models", ICML), with the keep rule as the
 * judge of each addition. An ensemble proposal is the best kept experiment's model(s) plus the best finished trial of
 * one family not in it yet; the training script averages their predictions with equal weights (`model: ensemble`).
 * Ensembles are not TPE trials: they lie outside the search space, TPE never hears their scores.
 */
import type { Direction } from '../types.js';
import { formatValue } from './hypothesis.js';
import type { GroupBest } from './optuna.js';
import { type ChoiceValue, choiceKey, type EnsembleSpec, type ParamSpace } from './space.js';

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
}

/** An ensemble to propose: its params, its members, and the trial it adds. */
export interface EnsembleChoice {
  /** The params file's content: the shared top level, `model: ensemble`, `ensemble: {members}`. */
  params: Record<string, unknown>;
  members: Record<string, unknown>[];
  /** Canonical JSON of `members` (what {@link EnsembleInput.tried} holds). */
  key: string;
  /** The finished trial added to the incumbent's models. */
  added: GroupBest;
  /** The families already in the incumbent, in order. */
  families: string[];
  /** Expected seconds (the members' known durations summed), null when none is known. */
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
 * The next ensemble to propose, or null: the incumbent's models plus the best finished trial of the best-scoring
 * family not among them, skipping a family not {@link competitive} with the incumbent, a member list already tried
 * and one whose known run time exceeds the limit.
 * Null when there is no incumbent, the incumbent already holds `spec.members` models, or no family is left.
 */
export function nextEnsemble(input: EnsembleInput): EnsembleChoice | null {
  const { spec, space, incumbent } = input;
  if (!incumbent) return null;
  const current = membersOf(incumbent, space);
  if (current.length === 0 || current.length >= spec.members) return null;
  const families = current.map((m) => choiceKey((m[spec.by] ?? null) as ChoiceValue));
  const known = current.map(input.seconds);
  const base = known.reduce<number>((sum, s) => sum + (s ?? 0), 0);
  for (const added of input.top) {
    if (families.includes(added.group)) continue;
    if (!competitive(added.value, input)) continue;
    const members = [...current, searchedPart(added.params, space)];
    const key = canonicalJson(members);
    if (input.tried.has(key)) continue;
    const seconds =
      known.some((s) => s !== null) || added.seconds !== null ? base + (added.seconds ?? 0) : null;
    if (input.maxSeconds !== null && seconds !== null && seconds > input.maxSeconds) continue;
    const params = { ...sharedPart(incumbent, space), model: ENSEMBLE_MODEL, [ENSEMBLE_MODEL]: { members } };
    return { params, members, key, added, families, seconds };
  }
  return null;
}

/**
 * The hypothesis of an ensemble proposal, e.g. "ensemble of 2 models, equal weights: the best kept model
 * (logistic_regression) plus extra_trees, TPE trial 57 (public 0.7245; n_estimators=475, max_depth=7); models of
 * different families err differently, so their average can beat each alone".
 */
export function describeEnsemble(choice: EnsembleChoice, by: string, space: ParamSpace): string {
  const kept = choice.families.join(' + ');
  const spec = space[by];
  const section = spec?.type === 'categorical' ? spec.conditional?.[choice.added.group] : undefined;
  const detail = section ? listParams(section, asRecord(choice.added.params[choice.added.group])) : '';
  const value = Number(choice.added.value.toPrecision(4));
  return (
    `ensemble of ${choice.members.length} models, equal weights: the best kept model${choice.families.length > 1 ? 's' : ''} ` +
    `(${kept}) plus ${choice.added.group}, TPE trial ${choice.added.trial} (public ${value}${detail ? `; ${detail}` : ''}); ` +
    'models of different families err differently, so their average can beat each alone'
  );
}

function listParams(level: ParamSpace, params: Record<string, unknown> | undefined): string {
  if (!params) return '';
  return Object.keys(level)
    .filter((name) => name in params)
    .map((name) => `${name}=${formatValue(params[name])}`)
    .join(', ');
}

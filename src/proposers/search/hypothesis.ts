/**
 * The search proposer's hypothesis: one readable sentence saying what a TPE trial changes compared
 * with the best parameters so far, e.g.
 * `TPE trial 7 (model-guided, 6 finished trials): lightgbm instead of logistic_regression
 * (n_estimators=312, learning_rate=0.041, num_leaves=23); scale_numeric unchanged`.
 */
import { type ChoiceValue, choiceKey, type ParamSpace } from './space.js';

/** What {@link describeTrial} needs to know about a trial. */
export interface TrialDescription {
  /** Optuna trial number. */
  trial: number;
  /** The trial's params, nested like the space (keys outside the space are ignored). */
  params: Record<string, unknown>;
  /** Params of the best experiment so far (or the baseline's), or null when there is nothing to compare with. */
  reference: Record<string, unknown> | null;
  /** The search space the params were drawn from. */
  space: ParamSpace;
  /** The trial replays the baseline's params (enqueued so TPE learns from their score). */
  baseline?: boolean;
  /** The trial's params were enqueued (fully or partly fixed) rather than sampled. */
  enqueued?: boolean;
  /** The trial replays entry `index` (0-based) of the search space's portfolio of `of` configurations. */
  portfolio?: { index: number; of: number };
  /** The trial was sampled at random (TPE's start-up phase) rather than from TPE's model. */
  startup?: boolean;
  /** Trials finished before this one, when known. */
  finished?: number;
}

/** Format a parameter value for a sentence: 3 significant digits for non-integers, `none` for null. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(3)));
  }
  if (typeof value === 'string' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** Every parameter of a level as `name=value`, conditional sections in parentheses. */
function listAll(space: ParamSpace, params: Record<string, unknown> | undefined): string {
  const parts: string[] = [];
  for (const [name, spec] of Object.entries(space)) {
    if (!params || !(name in params)) continue;
    const value = params[name];
    let text = `${name}=${formatValue(value)}`;
    if (spec.type === 'categorical') {
      const key = choiceKey(value as ChoiceValue);
      const sub = spec.conditional?.[key];
      if (sub) {
        const inner = listAll(sub, asRecord(params[key]));
        if (inner) text += ` (${inner})`;
      }
    }
    parts.push(text);
  }
  return parts.join(', ');
}

function compare(
  space: ParamSpace,
  params: Record<string, unknown>,
  reference: Record<string, unknown>,
  top: boolean,
): { changed: string[]; unchanged: string[] } {
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const [name, spec] of Object.entries(space)) {
    if (!(name in params)) continue;
    const value = params[name];
    const before = reference[name];
    const sub = spec.type === 'categorical' ? spec.conditional?.[choiceKey(value as ChoiceValue)] : undefined;
    // A family switch at the top level reads best without its parameter name: "lightgbm instead of ...".
    const label = top && spec.type === 'categorical' && spec.conditional ? '' : `${name}=`;
    if (!same(value, before)) {
      const was = before === undefined ? 'unset' : formatValue(before);
      const detail = sub ? listAll(sub, asRecord(params[choiceKey(value as ChoiceValue)])) : '';
      if (label === '') {
        changed.push(`${formatValue(value)} instead of ${was}${detail ? ` (${detail})` : ''}`);
      } else {
        changed.push(`${label}${formatValue(value)}${detail ? ` (${detail})` : ''} (was ${was})`);
      }
      continue;
    }
    if (sub) {
      const key = choiceKey(value as ChoiceValue);
      const inner = compare(sub, asRecord(params[key]) ?? {}, asRecord(reference[key]) ?? {}, false);
      if (inner.changed.length > 0) {
        changed.push(`${label}${formatValue(value)} with ${inner.changed.join(', ')}`);
        continue;
      }
    }
    unchanged.push(name);
  }
  return { changed, unchanged };
}

/**
 * Build the hypothesis sentence of a TPE trial, comparing its params with the reference (the best so
 * far). Only parameters of the search space are mentioned; numbers are rounded to 3 significant digits.
 */
export function describeTrial(t: TrialDescription): string {
  let head = `TPE trial ${t.trial}`;
  if (t.baseline) {
    return `${head}: the baseline's parameters (${listAll(t.space, t.params)}), replayed so TPE learns from their score`;
  }
  if (t.portfolio) head += ` (portfolio configuration ${t.portfolio.index + 1} of ${t.portfolio.of})`;
  else if (t.enqueued) head += ' (enqueued)';
  else if (t.startup) head += ' (random start-up sample)';
  else if (t.finished !== undefined) head += ` (model-guided, ${t.finished} finished trials)`;

  if (t.reference === null) {
    return `${head}: ${listAll(t.space, t.params)}`;
  }
  const { changed, unchanged } = compare(t.space, t.params, t.reference, true);
  if (changed.length === 0) {
    return `${head}: the same parameters as the best so far (${listAll(t.space, t.params)})`;
  }
  const tail = unchanged.length > 0 ? `; ${unchanged.join(', ')} unchanged` : '';
  return `${head}: ${changed.join('; ')}${tail}`;
}

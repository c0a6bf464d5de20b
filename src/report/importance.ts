/**
 * Parameter importance over a run's trials: which searched parameters mattered, by Optuna's fANOVA
 * (`python/importance.py`, run once per report with a timeout). The search proposer records each trial's
 * nested params on its experiment; this module maps them onto Optuna's dotted names with the contract's
 * search space and hands them, with the public scores, to the script. The script computes one importance
 * over every trial for the unconditional parameters (the model family among them) and one per model family
 * over that family's trials (see the script's docstring for why).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentRecord } from '../journal/store.js';
import { ENSEMBLE_MODEL } from '../proposers/search/ensemble.js';
import { type ChoiceValue, choiceKey, type ParamSpace } from '../proposers/search/space.js';
import { packageDir } from '../util/paths.js';

/** Importances of one group of trials (normalised to sum 1, largest first). */
export interface ImportanceGroup {
  /** "all trials" or `<chooser>=<choice>` (e.g. `model=lightgbm`). */
  name: string;
  /** The model family of a per-family group (null for "all trials"). */
  family: string | null;
  trials: number;
  importances: Record<string, number>;
}

/** The importance section: computed, or not available with the reason. */
export type ImportanceResult =
  | {
      status: 'ok';
      /** Scored trials handed to the script. */
      trials: number;
      groups: ImportanceGroup[];
      /** Groups left out (too few trials, nothing varied, constant score), with the reason. */
      skipped: { name: string; family: string | null; trials: number; reason: string }[];
    }
  | { status: 'unavailable'; reason: string };

/** One trial as the script reads it. */
export interface ImportanceTrial {
  /** Optuna names (`model`, `lightgbm.num_leaves`) → values. */
  params: Record<string, unknown>;
  value: number;
}

/** Fewest trials of a group for fANOVA to say anything. */
export const MIN_IMPORTANCE_TRIALS = 5;

/** Longest wait for the script, ms. */
const TIMEOUT_MS = 60_000;

/**
 * Flatten nested trial params onto Optuna's names along the chosen branches of `space` (the names the search
 * proposer's helper uses): `{model: lightgbm, lightgbm: {num_leaves: 31}}` → `{model: lightgbm,
 * lightgbm.num_leaves: 31}`. Keys the space does not describe are left out.
 */
export function flattenTrialParams(
  params: Record<string, unknown>,
  space: ParamSpace,
  prefix = '',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(space)) {
    if (!(name in params)) continue;
    const v = params[name];
    out[prefix + name] = v;
    if (spec.type === 'categorical' && spec.conditional) {
      const key = choiceKey(v as ChoiceValue);
      const sub = spec.conditional[key];
      const section = params[key];
      if (sub && section && typeof section === 'object' && !Array.isArray(section))
        Object.assign(out, flattenTrialParams(section as Record<string, unknown>, sub, `${prefix}${key}.`));
    }
  }
  return out;
}

/**
 * The trials of a run for the importance script: experiments with a public score and params (the baseline's
 * params from `baselineParams` when its record has none), flattened onto the space; ensembles are left out.
 */
export function trialsOf(
  exps: ExperimentRecord[],
  space: ParamSpace,
  baselineParams: Record<string, unknown> | null,
): ImportanceTrial[] {
  const out: ImportanceTrial[] = [];
  for (const e of exps) {
    if (e.score === null || !Number.isFinite(e.score)) continue;
    const params = e.params ?? (e.seq === 1 ? baselineParams : null);
    // An ensemble is not a point of the space (docs/ARCHITECTURE.md, "Ensembles"): no trial of fANOVA's.
    if (!params || params.model === ENSEMBLE_MODEL) continue;
    const flat = flattenTrialParams(params, space);
    if (Object.keys(flat).length === 0) continue;
    out.push({ params: flat, value: e.score });
  }
  return out;
}

/** `python/importance.py` in Ratchet's installation. */
export function importanceScriptPath(): string {
  return join(packageDir(), 'python', 'importance.py');
}

/**
 * Run `python/importance.py` on the trials.
 * @param python an interpreter with optuna (the one experiments and the search proposer use)
 * @param opts.timeoutMs longest wait (default 60 s); the script is killed after it
 * @returns the importances, or `unavailable` with the reason (too few trials, no Python, a timeout, a script
 *   error); never throws
 */
export async function computeImportance(
  python: string | null,
  trials: ImportanceTrial[],
  space: ParamSpace,
  direction: 'maximize' | 'minimize',
  opts: { timeoutMs?: number; seed?: number; script?: string; minTrials?: number } = {},
): Promise<ImportanceResult> {
  const minTrials = opts.minTrials ?? MIN_IMPORTANCE_TRIALS;
  if (trials.length < minTrials)
    return {
      status: 'unavailable',
      reason: `${trials.length} scored trial${trials.length === 1 ? '' : 's'} with searched params (fANOVA needs at least ${minTrials})`,
    };
  if (!python) return { status: 'unavailable', reason: 'no Python interpreter found' };
  const script = opts.script ?? importanceScriptPath();
  if (!existsSync(script)) return { status: 'unavailable', reason: `${script} is missing` };
  const input = JSON.stringify({ direction, seed: opts.seed ?? 0, min_trials: minTrials, space, trials });
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: string }>(
    (done) => {
      const child = spawn(python, [script], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs ?? TIMEOUT_MS);
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
      child.stdin.on('error', () => {});
      child.on('error', (err) => {
        clearTimeout(timer);
        done({ code: null, stdout, stderr, error: `${python} could not be started (${err.message})` });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        done({
          code,
          stdout,
          stderr,
          ...(timedOut
            ? { error: `timed out after ${Math.round((opts.timeoutMs ?? TIMEOUT_MS) / 1000)} s` }
            : {}),
        });
      });
      child.stdin.end(input);
    },
  );
  if (run.error) return { status: 'unavailable', reason: run.error };
  let reply: Record<string, unknown>;
  try {
    reply = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    const last = run.stderr.trim().split('\n').pop() ?? '';
    return { status: 'unavailable', reason: `the importance script failed (exit ${run.code}): ${last}` };
  }
  if (reply['ok'] !== true)
    return { status: 'unavailable', reason: String(reply['error'] ?? 'unknown error') };
  const groups = (reply['groups'] as ImportanceGroup[]).map((g) => ({
    ...g,
    importances: Object.fromEntries(Object.entries(g.importances).sort((a, b) => b[1] - a[1])),
  }));
  return {
    status: 'ok',
    trials: trials.length,
    groups,
    skipped: reply['skipped'] as Extract<ImportanceResult, { status: 'ok' }>['skipped'],
  };
}

/**
 * Experiment discipline for agents, enforced by Ratchet rather than asked for in a prompt
 * (docs/ARCHITECTURE.md, "Agents and MCP"): a hypothesis before every experiment, a conclusion after it before
 * the next one, never the same change twice, optional phase gates (explore before tuning), a rate limit. The
 * same functions serve the command, openai and hybrid proposers and the MCP server; every refusal is a journal
 * event with the guardrail's id.
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { PhaseConfig } from '../contract/agent.js';
import { git, snapshot } from '../git/git.js';
import { scanTree } from '../git/tree.js';
import { checkHypothesis as checkVisibleHypothesis } from '../guardrails/hypothesis.js';
import { guardrail, type Trip } from '../guardrails/registry.js';
import type { ExperimentRecord, Journal, JournalReader } from '../journal/store.js';
import { experimentDir } from '../loop/paths.js';
import { sha256 } from '../util/fs.js';

/** An earlier experiment's result, as returned with a do-not-retry refusal. */
export interface EarlierResult {
  id: number;
  run: string;
  seq: number;
  decision: string;
  score: number | null;
  delta: number | null;
  hypothesis: string;
  conclusion: string | null;
  reason: string;
}

/** A discipline rule said no: the guardrail, why, and what helps (the earlier result, when to retry). */
export interface Refusal extends Trip {
  /** do-not-retry: the experiment this change repeats. */
  earlier?: EarlierResult;
  /** rate-limit: seconds until a new experiment may start. */
  retryAfterS?: number;
}

/** The earlier-result view of an experiment record. */
export function earlierResult(e: ExperimentRecord): EarlierResult {
  return {
    id: e.id,
    run: e.runId,
    seq: e.seq,
    decision: e.decision,
    score: e.score,
    delta: e.delta,
    hypothesis: e.hypothesis,
    conclusion: e.conclusion,
    reason: e.reason,
  };
}

/**
 * hypothesis-required: at least `minChars` VISIBLE characters and a few letters or digits (zero-width, format
 * and control characters do not count; see src/guardrails/hypothesis.ts). Null when the hypothesis may stand.
 */
export function checkHypothesis(hypothesis: string | null | undefined, minChars: number): Refusal | null {
  return checkVisibleHypothesis(hypothesis, minChars);
}

/** What a worktree's change is: its normalized patch hash and the tree it would run. */
export interface Fingerprint {
  /** SHA-256 of the patch against HEAD with the `index` lines removed. */
  patchHash: string;
  /** The git tree the worktree holds (what CHECK would approve). */
  tree: string;
  /** The change is empty. */
  empty: boolean;
  /** The patch (binary-safe git diff against HEAD). */
  patch: string;
}

/** A patch without its `index <blob>..<blob>` lines, so the same edit hashes the same. */
export function normalizePatch(patch: string): string {
  return patch
    .split('\n')
    .filter((l) => !l.startsWith('index '))
    .join('\n')
    .trim();
}

/** Fingerprint the change in a worktree (stages it, as CHECK does). */
export async function fingerprint(worktree: string): Promise<Fingerprint> {
  // A tree CHECK will refuse (tree-integrity) is never read by git here: it matches no earlier change, and CHECK
  // rejects it.
  if (scanTree(worktree).length > 0)
    return { patchHash: 'tree-integrity', tree: '', empty: false, patch: '' };
  const { tree, patch } = await snapshot(worktree);
  const norm = normalizePatch(patch);
  return { patchHash: sha256(norm), tree, empty: norm === '', patch };
}

/**
 * do-not-retry: the earlier experiment whose change is identical (the same tree ran, or the same patch was
 * proposed), newest first; null when the change is new. Baselines and empty changes never match.
 * @param records every experiment of the project (all runs)
 */
export function findRetry(
  projectDir: string,
  records: ExperimentRecord[],
  fp: Fingerprint,
): ExperimentRecord | null {
  if (fp.empty) return null;
  for (const e of [...records].reverse()) {
    if (e.files.length === 0) continue;
    if (e.meta?.['tree'] === fp.tree) return e;
    const p = join(experimentDir(projectDir, e.id), 'patch.diff');
    try {
      if (sha256(normalizePatch(readFileSync(p, 'utf8'))) === fp.patchHash) return e;
    } catch {
      // no archived patch for this experiment
    }
  }
  return null;
}

/** do-not-retry as a refusal (null when the change is new). */
export function checkDoNotRetry(
  projectDir: string,
  records: ExperimentRecord[],
  fp: Fingerprint,
): Refusal | null {
  const e = findRetry(projectDir, records, fp);
  if (!e) return null;
  return {
    guardrail: 'do-not-retry',
    message:
      `this change is identical to experiment #${e.id} (${e.decision}${e.score === null ? '' : `, score ${e.score.toFixed(6)}`}: ` +
      `"${e.hypothesis.slice(0, 200)}"); its result stands, try something else`,
    data: { experiment: e.id, patchHash: fp.patchHash, tree: fp.tree },
    earlier: earlierResult(e),
  };
}

/** A key of a parsed YAML/JSON document by dotted path (undefined when absent). */
export function valueAt(doc: unknown, dotted: string): unknown {
  let cur: unknown = doc;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** The phase key's value in a worktree file (refusing symlinks, which could point anywhere). */
export function worktreeValue(worktree: string, phase: PhaseConfig): unknown {
  const p = join(worktree, phase.file);
  if (!existsSync(p) || lstatSync(p).isSymbolicLink() || !lstatSync(p).isFile()) return undefined;
  try {
    return valueAt(parseYaml(readFileSync(p, 'utf8')), phase.key);
  } catch {
    return undefined;
  }
}

const treeValueCache = new Map<string, unknown>();

/** The phase key's value in the file as an experiment ran it (from the tree CHECK approved). */
export async function experimentValue(
  projectDir: string,
  e: ExperimentRecord,
  phase: PhaseConfig,
): Promise<unknown> {
  const tree = e.meta?.['tree'];
  if (typeof tree !== 'string') return valueAt(e.params, phase.key);
  const cacheKey = `${projectDir}\0${tree}\0${phase.file}\0${phase.key}`;
  if (treeValueCache.has(cacheKey)) return treeValueCache.get(cacheKey);
  let v: unknown;
  try {
    v = valueAt(parseYaml(await git(projectDir, ['show', `${tree}:${phase.file}`])), phase.key);
  } catch {
    v = valueAt(e.params, phase.key);
  }
  treeValueCache.set(cacheKey, v);
  return v;
}

const show = (v: unknown): string =>
  v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v);

/** Where a run stands in its phase gates. */
export interface PhaseState {
  /** The phase in force, or null when every phase is done (or none is configured). */
  phase: PhaseConfig | null;
  /** Distinct values of the phase's key run so far. */
  tried: string[];
  /** Values still to find before the phase ends. */
  remaining: number;
}

/** Decisions of experiments that produced a score and so count toward a phase (a crash tried nothing). */
export const PHASE_DECISIONS: ReadonlySet<string> = new Set(['kept', 'reverted']);

/**
 * The phase in force: the first whose key has not yet taken `distinct` values among the experiments that
 * produced a score (kept or reverted; the baseline counts). A crashed, timed-out, invalid or rejected
 * experiment tried no model family: it does not advance a phase.
 */
export async function phaseState(
  projectDir: string,
  phases: PhaseConfig[],
  run: ExperimentRecord[],
): Promise<PhaseState> {
  const ran = run.filter((e) => PHASE_DECISIONS.has(e.decision));
  for (const phase of phases) {
    const tried = new Set<string>();
    for (const e of ran) tried.add(show(await experimentValue(projectDir, e, phase)));
    if (tried.size < phase.distinct)
      return { phase, tried: [...tried], remaining: phase.distinct - tried.size };
  }
  return { phase: null, tried: [], remaining: 0 };
}

/** phase-gate: while a phase is in force, the change must give its key a value not run yet. */
export async function checkPhase(
  projectDir: string,
  phases: PhaseConfig[],
  run: ExperimentRecord[],
  worktree: string,
): Promise<Refusal | null> {
  const st = await phaseState(projectDir, phases, run);
  if (!st.phase) return null;
  const v = show(worktreeValue(worktree, st.phase));
  if (!st.tried.includes(v)) return null;
  const p = st.phase;
  return {
    guardrail: 'phase-gate',
    message:
      `phase "${p.name}": ${p.distinct} distinct values of ${p.key} in ${p.file} must run before anything else is tuned; ` +
      `run so far: ${st.tried.join(', ')} (${st.tried.length} of ${p.distinct}). This change keeps ${p.key} = ${v}: ` +
      `set ${p.key} to a value not run yet`,
    data: { phase: p.name, key: p.key, file: p.file, tried: st.tried, value: v },
  };
}

/**
 * rate-limit: at most `max` experiments started per `perMs`.
 * @param starts start times (ms since the epoch) of the agent's experiments
 */
export function checkRateLimit(
  max: number,
  perMs: number,
  starts: number[],
  now = Date.now(),
): Refusal | null {
  const recent = starts.filter((t) => now - t < perMs).sort((a, b) => a - b);
  if (recent.length < max) return null;
  const retryAfterS = Math.max(1, Math.ceil((recent[recent.length - max]! + perMs - now) / 1000));
  return {
    guardrail: 'rate-limit',
    message: `rate limit: ${recent.length} experiments started in the last ${Math.round(perMs / 1000)} s (at most ${max}); the next may start in ${retryAfterS} s`,
    data: { max, perMs, recent: recent.length },
    retryAfterS,
  };
}

/** Kind of the journal event that marks an agent's own conclusion of an experiment. */
export const CONCLUSION_EVENT = 'agent.conclusion';

/** Ids of the experiments that an agent concluded (from the journal's events), of one run or (no id) all. */
export function concludedIds(journal: JournalReader, runId?: string): Set<number> {
  const out = new Set<number>();
  for (const ev of journal.listEvents({ ...(runId ? { runId } : {}), kinds: [CONCLUSION_EVENT] })) {
    const id = Number(ev.data?.['experiment']);
    if (Number.isInteger(id)) out.add(id);
  }
  return out;
}

/**
 * conclusion-required: the last experiment of the run that ran (not the baseline, not rejected) when the agent
 * has not concluded it yet, else null.
 */
export function pendingConclusion(run: ExperimentRecord[], concluded: Set<number>): ExperimentRecord | null {
  const last = [...run].reverse().find((e) => e.seq > 1 && e.decision !== 'rejected');
  return last && !concluded.has(last.id) ? last : null;
}

/** conclusion-required as a refusal. */
export function conclusionRefusal(e: ExperimentRecord): Refusal {
  return {
    guardrail: 'conclusion-required',
    message:
      `experiment #${e.id} (${e.decision}${e.score === null ? '' : `, score ${e.score.toFixed(6)}`}) has no conclusion yet: ` +
      'say what it taught you before the next experiment',
    data: { experiment: e.id },
  };
}

/**
 * Record a refusal (or any discipline trip) in the journal: a `guardrail` event carrying the guardrail's id.
 * @param runId the run, or null before a run exists
 */
export function recordRefusal(
  journal: Journal,
  runId: string | null,
  r: Trip,
  source: string,
  extra: Record<string, unknown> = {},
): void {
  const g = guardrail(r.guardrail);
  journal.addEvent({
    ts: new Date().toISOString(),
    runId,
    experimentId: null,
    kind: 'guardrail',
    severity: 'warning',
    guardrail: g.id,
    message: `${source}: ${r.message} (${g.hint})`,
    data: { ...(r.data ?? {}), source, ...extra },
  });
}

/** Record that an agent concluded an experiment (and store the conclusion on the experiment). */
export function recordConclusion(
  journal: Journal,
  runId: string,
  experimentId: number,
  conclusion: string,
  source: string,
): void {
  journal.transaction(() => {
    journal.setConclusion(experimentId, conclusion);
    journal.addEvent({
      ts: new Date().toISOString(),
      runId,
      experimentId,
      kind: CONCLUSION_EVENT,
      severity: 'info',
      guardrail: null,
      message: conclusion,
      data: { experiment: experimentId, source },
    });
  });
}

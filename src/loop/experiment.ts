import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { type Lock, verifyLock } from '../contract/lock.js';
import type { Duck } from '../data/duck.js';
import type { SplitManifest } from '../data/ingest.js';
import { scanFeatureNames } from '../data/leakage.js';
import { readFindings } from '../data/scan.js';
import { evaluateOutput } from '../evaluator/evaluate.js';
import type { VaultCache } from '../evaluator/vault.js';
import { commit, resetHard, resetStaged, revParse } from '../git/git.js';
import { canaryTrips } from '../guardrails/canary.js';
import { checkHypothesis, cleanHypothesis } from '../guardrails/hypothesis.js';
import { guardrail, type Trip } from '../guardrails/registry.js';
import { sanityChecks, scoreJump } from '../guardrails/suspicion.js';
import { appendResult } from '../journal/results.js';
import type { Decision, EventRecord, ExperimentRecord, Journal } from '../journal/store.js';
import type { PreparedComponents } from '../metrics/delong_worker.js';
import type { MetricInput } from '../metrics/index.js';
import type { ExperimentDigest, Proposal, Proposer } from '../proposers/types.js';
import type { PythonRuntime, SandboxResult } from '../sandbox/index.js';
import { protectTree } from '../sandbox/output.js';
import { RatchetError } from '../util/errors.js';
import { failpoint } from '../util/failpoint.js';
import { sha256File } from '../util/fs.js';
import { checkChange, treeAfterExecute } from './check.js';
import { execute } from './execute.js';
import {
  confirmKeep,
  type decideKeep,
  decideKeepAsync,
  type KeepRule,
  prepareBest,
  prepareCandidate,
  type Runs,
} from './keep.js';
import { pruneOutputs, retentionEvent, tidyTraces } from './tidy.js';

/**
 * One experiment: PROPOSE → APPLY → CHECK → EXECUTE → EVALUATE → DECIDE → RECORD
 * (docs/architecture.md, "The loop").
 */

/** Project-relative folder of the experiments' traces. */
export const RUNS_DIR = '.ratchet/runs';
/** Project-relative folder of the ratchet branches' worktrees. */
export const WORKTREES_DIR = '.ratchet/worktrees';

/** Folder of an experiment's trace: `.ratchet/runs/0007/`. */
export function experimentDir(projectDir: string, id: number): string {
  return join(projectDir, RUNS_DIR, String(id).padStart(4, '0'));
}

/** The best kept experiment so far: its score and aligned public predictions (for the paired bootstrap). */
export interface Best {
  id: number;
  score: number;
  /** Per-row public predictions (null with a custom evaluator). */
  input: MetricInput | null;
  commit: string;
  params: Record<string, unknown> | null;
  /** Its public scores and predictions over seeds: the first is the experiment's own run (seed-noise test). */
  runs: Runs;
}

/** Decision for a sandbox outcome that produced no scorable output. */
function sandboxDecision(r: SandboxResult): { decision: Decision; reason: string } | null {
  switch (r.status) {
    case 'ok':
      return null;
    case 'timeout':
      return { decision: 'timeout', reason: r.message };
    case 'output_limit':
      return { decision: 'rejected', reason: r.message };
    default:
      return { decision: 'crashed', reason: r.message };
  }
}

/** Last lines of a log file ('' when missing). */
export function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Size and mtime of a file. */
export interface StatStamp {
  size: number;
  mtimeMs: number;
}

/** Size and mtime of every locked split file (taken once at the start of a run). */
export function lockStats(projectDir: string, lock: Lock): Record<string, StatStamp> {
  const out: Record<string, StatStamp> = {};
  for (const p of Object.keys(lock.splits)) {
    const st = statSync(join(projectDir, p));
    out[p] = { size: st.size, mtimeMs: st.mtimeMs };
  }
  return out;
}

/** Cheap per-experiment check of the (large) split files: size and mtime must not move after the start hash. */
export function checkLockStats(projectDir: string, lock: Lock, stamps: Record<string, StatStamp>): void {
  for (const p of Object.keys(lock.splits)) {
    const full = join(projectDir, p);
    const st = existsSync(full) ? statSync(full) : null;
    const s = stamps[p]!;
    if (!st || st.size !== s.size || st.mtimeMs !== s.mtimeMs) {
      throw new RatchetError(`locked split file ${p} changed during the run`, {
        file: p,
        hint: 're-create the splits with `ratchet init --force` (a new contract)',
        exitCode: 3,
      });
    }
  }
}

/** Everything one experiment needs (owned by the run session). */
export interface ExperimentInput {
  projectDir: string;
  contract: Contract;
  manifest: SplitManifest;
  lock: Lock;
  journal: Journal;
  runId: string;
  seq: number;
  worktree: string;
  python: PythonRuntime;
  proposer: Proposer;
  best: Best | null;
  history: ExperimentRecord[];
  timeoutMs: number;
  unsafe: boolean;
  signal: AbortSignal;
  rule: KeepRule;
  /** Guardrails the person overrode for this run: id → reason (only overridable ones take effect). */
  overrides: Record<string, string>;
  /** The run's DuckDB, shared by every EVALUATE. */
  duck: Duck;
  /** The run's cache of the vault's labels, shared by every EVALUATE. */
  vault: VaultCache;
  onStart: (id: number, hypothesis: string) => void;
}

/** What a proposer may see of an experiment. */
export function digest(e: ExperimentRecord): ExperimentDigest {
  return {
    id: e.id,
    seq: e.seq,
    hypothesis: e.hypothesis,
    decision: e.decision,
    reason: e.reason,
    score: e.score,
    params: e.params,
    conclusion: e.conclusion,
  };
}

/** One turn of the loop. Returns 'aborted' when the kill switch fired mid-way (nothing recorded). */
/**
 * Run one experiment and record it (journal, results.tsv, git, trace folder) before returning.
 * @returns the record and the new best (when kept), or 'aborted' when the kill switch fired mid-way
 *   (the sandbox is killed, the worktree reset, nothing recorded but an event)
 */
export async function runExperiment(
  x: ExperimentInput,
): Promise<{ record: ExperimentRecord; best: Best | null; escalate: string | null } | 'aborted'> {
  const { projectDir, contract, journal, worktree } = x;
  const baseline = x.best === null;
  // Proposers see finished experiments only (a crash's half-written folder goes aside); old outputs are pruned.
  const tidy = tidyTraces(
    projectDir,
    join(projectDir, RUNS_DIR),
    journal.listExperiments(),
    contract.retention.keep_last,
  );
  if (tidy.pruned.length > 0) journal.addEvent(retentionEvent(x.runId, tidy.pruned));
  const id = journal.reserveExperimentId();
  const dir = experimentDir(projectDir, id);
  const outputDir = join(dir, 'output');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(outputDir, { recursive: true });
  const startedAt = new Date();
  const parentSha = await revParse(worktree);
  const trips: Trip[] = [];
  // Wall time of each step, ms (kept in the experiment's meta: where the time went).
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const lap = (step: string) => {
    const now = performance.now();
    timings[step] = Math.round((now - mark) * 10) / 10;
    mark = now;
  };

  // PROPOSE + APPLY (the proposer edits the worktree)
  let proposal: Proposal;
  if (baseline) {
    proposal = { hypothesis: `baseline: the committed code as it is (${parentSha.slice(0, 12)})` };
  } else {
    try {
      proposal = await x.proposer.propose({
        worktree,
        projectDir,
        seq: x.seq,
        metric: { name: contract.metric.primary, direction: contract.direction },
        bestScore: x.best!.score,
        bestParams: x.best!.params,
        history: x.history.map(digest),
        signal: x.signal,
        onEvent: (ev) =>
          journal.addEvent({ ...ev, ts: new Date().toISOString(), runId: x.runId, experimentId: id }),
      });
    } catch (e) {
      if (x.signal.aborted) {
        await resetHard(worktree, parentSha);
        rmSync(dir, { recursive: true, force: true });
        return 'aborted';
      }
      proposal = { hypothesis: '(the proposer failed before stating a hypothesis)' };
      trips.push({
        guardrail: 'hypothesis-required',
        message: `the proposer failed: ${(e as Error).message}`,
      });
    }
    const h = checkHypothesis(proposal.hypothesis, 1);
    if (h) trips.push(h);
  }
  // Stored and printed without terminal escapes or control characters.
  proposal = { ...proposal, hypothesis: cleanHypothesis(proposal.hypothesis) };
  lap('propose');
  x.onStart(id, proposal.hypothesis);
  journal.addEvent({
    ts: startedAt.toISOString(),
    runId: x.runId,
    experimentId: null,
    kind: 'experiment.started',
    severity: 'info',
    guardrail: null,
    message: proposal.hypothesis,
    data: { id, seq: x.seq, params: proposal.params ?? null },
  });

  // CHECK
  mark = performance.now();
  const check = await checkChange(worktree, contract.surface, x.lock, parentSha);
  // The patch is read from git's objects while EXECUTE runs; it is on disk before RECORD (and before any return).
  const patchWritten = check.patch
    .then((p) => writeFileSync(join(dir, 'patch.diff'), p))
    .catch(() => undefined);
  // Every file of the worktree is staged from here on (CHECK, then verify_tree, stage all): a revert needs no clean.
  let staged = true;
  if (!baseline) trips.push(...check.trips);
  else trips.push(...check.trips.filter((t) => t.guardrail !== 'no-op'));
  try {
    await verifyLock({ ...x.lock, splits: {} }, worktree, projectDir);
  } catch (e) {
    trips.push({ guardrail: 'contract-integrity', message: (e as RatchetError).message });
  }
  lap('check');

  let decision: Decision | null = null;
  let reason = '';
  let sandbox: SandboxResult | null = null;
  let hashes: Promise<Record<string, string>> | null = null;
  let metrics: Record<string, number> = {};
  let score: number | null = null;
  let verdict: ReturnType<typeof decideKeep> | null = null;
  let input: MetricInput | null = null;
  // The keep rule's work started in a worker while EVALUATE scores (stopped at RECORD when unused).
  const prepared: { c: PreparedComponents | null } = { c: null };

  let runs: Runs = { scores: [], inputs: [] };
  let escalate: string | null = null;
  let featureCheck: FeatureCheck | null = null;
  // Reported-only metrics undefined on the public holdout (name → why), kept in meta.undefinedMetrics.
  let undefinedMetrics: Record<string, string> | null = null;
  const blocking = () => trips.filter((t) => !overridden(x, t));
  if (blocking().length > 0) {
    decision = 'rejected';
    reason = blocking()
      .map((t) => `${t.guardrail}: ${t.message}`)
      .join('; ');
  } else {
    // EXECUTE
    sandbox = await execute({
      contract,
      worktree,
      runDir: dir,
      outputDir,
      python: x.python,
      timeoutMs: x.timeoutMs,
      seed: contract.split.seed,
      experimentId: id,
      unsafeNoSandbox: x.unsafe,
      signal: x.signal,
    });
    lap('execute');
    writeFileSync(join(dir, 'sandbox.json'), `${JSON.stringify(sandbox, null, 2)}\n`);
    if (sandbox.status === 'aborted' || x.signal.aborted) {
      await patchWritten;
      await resetHard(worktree, parentSha);
      journal.addEvent({
        ts: new Date().toISOString(),
        runId: x.runId,
        experimentId: null,
        kind: 'experiment.aborted',
        severity: 'warning',
        guardrail: null,
        message: `experiment ${id} was interrupted by the kill switch; its sandbox was killed and nothing was recorded`,
        data: { id, seq: x.seq },
      });
      return 'aborted';
    }
    // Links, FIFOs, devices or unwalkable subtrees in the output (removed by the sandbox) are not a model's output.
    const planted = /removed \d+ symlink\/special/.test(sandbox.message)
      ? `the command left entries host code must never follow in the output folder (${sandbox.message})`
      : null;
    const unprotected = protectOutput(outputDir) ?? planted;
    // The predictions' hashes (recorded at RECORD) are taken now, while EVALUATE reads them: the files are
    // read-only from here on, and hashing overlaps DuckDB's work instead of adding to the record step.
    hashes = hashPredictions(outputDir);
    hashes.catch(() => undefined); // awaited at RECORD; a step that throws first must not leave it unhandled
    const sd = sandboxDecision(sandbox);
    // EVALUATE reads only the (read-only) output folder and the vault, never the worktree: it starts now and runs
    // while git proves the tree that ran is the tree CHECK approved; its result counts only if the proof holds.
    const evTimings: Record<string, number> = {};
    const evaluating =
      unprotected === null && sd === null
        ? evaluateOutput(contract, x.manifest, outputDir, x.duck, x.python.binDir, {
            vault: x.vault,
            timings: evTimings,
            // The keep rule's sort of the candidate (DeLong) starts in a worker while the metrics are scored.
            onAligned: (input) => {
              if (!baseline) prepared.c = prepareCandidate(x.rule, x.best!.input, input);
            },
          })
        : null;
    evaluating?.catch(() => undefined); // awaited below (or settled before returning)
    // The tree that ran must be the tree CHECK approved (and as clean: tree-integrity before git reads it).
    staged = false;
    const verified = await treeAfterExecute(worktree).catch((e: unknown) => e as Error);
    if (verified instanceof Error) {
      await evaluating?.catch(() => undefined);
      throw verified;
    }
    staged = true;
    await patchWritten; // its `git diff` finished before the index moves again
    const { tree: after, trip: treeTrip } = verified;
    lap('verify_tree');
    if (treeTrip || after !== check.tree) {
      await evaluating?.catch(() => undefined);
      decision = 'rejected';
      if (treeTrip) trips.push(treeTrip);
      if (after !== check.tree)
        trips.push({
          guardrail: 'snapshot-integrity',
          message: `the worktree changed during EXECUTE (tree ${check.tree.slice(0, 12)} → ${after.slice(0, 12)})`,
        });
      reason = trips.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
    } else if (unprotected && sandbox.status === 'ok') {
      decision = 'invalid';
      reason = unprotected;
    } else {
      if (sd) {
        decision = sd.decision;
        const errTail = tail(join(dir, 'stderr.log'), 3);
        reason = sd.reason + (errTail && sd.decision === 'crashed' ? ` — ${errTail.split('\n').pop()}` : '');
      } else {
        // EVALUATE (started above, alongside verify_tree)
        const ev = await evaluating!;
        lap('evaluate');
        Object.assign(timings, evTimings);
        if (ev.status === 'invalid') {
          decision = 'invalid';
          // The sandbox's note matters here (e.g. a symlink it removed from the output folder).
          reason = sandbox.message.includes('removed') ? `${ev.reason} (${sandbox.message})` : ev.reason;
        } else {
          metrics = ev.metrics;
          if (Object.keys(ev.undefinedMetrics).length) undefinedMetrics = ev.undefinedMetrics;
          score = ev.score;
          input = ev.input;
          runs = { scores: [ev.score], inputs: [ev.input] };
          // Sanity of the predictions (constant, row order): a person must look.
          const sane = ev.input ? sanityChecks(ev.input, contract.suspicion) : [];
          trips.push(...sane);
          const insane = sane.filter((t) => !overridden(x, t));
          // The model's own feature list, when it wrote one, against the leakage scan of `ratchet init`.
          const used = usedLeaks(projectDir, outputDir);
          featureCheck = used.check;
          const leaks = used.trips;
          trips.push(...leaks);
          // Predictions copied from the decoy labels planted in the sandbox: a cheating attempt, escalated.
          const canary = await canaryTrips(contract, x.manifest, ev.input, x.duck);
          trips.push(...canary);
          // DECIDE
          // Constraints (floors, ceilings, fairness gates) reject a change whatever its score.
          const broken = ev.violations.map((v) => ({ guardrail: 'constraint', message: v }) as Trip);
          if (baseline && broken.length > 0) {
            x.journal.addEvent({
              ts: new Date().toISOString(),
              runId: x.runId,
              experimentId: null,
              kind: 'guardrail',
              severity: 'warning',
              guardrail: 'constraint',
              message: `the baseline breaks constraints (${ev.violations.join('; ')}): every change must satisfy them`,
              data: null,
            });
          } else trips.push(...broken);
          if (canary.length > 0) {
            decision = 'rejected';
            reason = canary.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
            escalate = reason;
          } else if (leaks.length > 0) {
            decision = 'rejected';
            reason = leaks.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
          } else if (!baseline && broken.length > 0) {
            decision = 'rejected';
            reason = broken.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
          } else if (insane.length > 0) {
            decision = 'rejected';
            reason = insane.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
            escalate = reason;
          } else if (baseline) {
            decision = 'kept';
            reason = `baseline ${contract.metric.primary} ${ev.score.toFixed(6)}`;
            // Once per run: what the keep rule's test needs of the best model (a kept candidate's test has
            // already prepared it), so each later experiment pays only for its own side.
            prepareBest(x.rule, ev.input);
            lap('decide');
          } else {
            verdict = await decideKeepAsync(
              x.rule,
              { score: x.best!.score, input: x.best!.input, runs: x.best!.runs },
              { score: ev.score, input: ev.input },
              prepared.c,
            );
            decision = verdict.keep ? 'kept' : 'reverted';
            reason = verdict.reason;
            lap('decide');
            if (verdict.needsConfirmation) {
              const confirmed = await confirmOverSeeds(x, dir, runs);
              runs = confirmed.runs;
              if (confirmed.failure) {
                decision = 'reverted';
                reason = `${reason}; ${confirmed.failure}`;
              } else {
                const c = confirmKeep(x.rule, x.best!.runs, runs);
                decision = c.keep ? 'kept' : 'reverted';
                reason = `${reason}; ${c.reason}`;
                verdict = {
                  ...verdict,
                  ciLow: c.ciLow,
                  ciHigh: c.ciHigh,
                  probImprovement: c.probImprovement,
                  test: c.test,
                  gain: c.meanGain,
                };
              }
              lap('confirm');
            }
            // A keep that noise and history cannot explain is held for a person.
            const jump =
              decision === 'kept'
                ? scoreJump(
                    contract.metric.primary,
                    contract.direction,
                    x.best!.score,
                    ev.score,
                    contract.suspicion,
                  )
                : null;
            if (jump) {
              trips.push(jump);
              if (!overridden(x, jump)) {
                decision = 'rejected';
                reason = `${jump.guardrail}: ${jump.message} (${reason})`;
                escalate = reason;
              }
            }
          }
        }
      }
    }
  }

  // RECORD
  prepared.c?.cancel();
  mark = performance.now();
  let commitSha: string | null = null;
  if (decision === 'kept') {
    const trailers: Record<string, string> = {
      'Ratchet-Experiment': String(id),
      'Ratchet-Run': x.runId,
      'Ratchet-Score': `${contract.metric.primary}=${score!.toFixed(6)}`,
      'Ratchet-Hypothesis': proposal.hypothesis,
    };
    if (verdict) trailers['Ratchet-Delta'] = `${verdict.gain >= 0 ? '+' : ''}${verdict.gain.toFixed(6)}`;
    const subject = baseline
      ? `ratchet: baseline ${contract.metric.primary} ${score!.toFixed(4)}`
      : `ratchet: ${truncate(proposal.hypothesis, 68)}`;
    commitSha = await commit(worktree, subject, reason, trailers, { tree: check.tree, parent: parentSha });
    failpoint('record:after-commit');
  } else if (staged) {
    await resetStaged(worktree, parentSha);
  } else {
    await resetHard(worktree, parentSha);
  }
  await patchWritten;
  const endedAt = new Date();
  // Recorded by the name written (public.csv or public.parquet); submit re-checks the one it reads.
  const predictions = await (hashes ?? hashPredictions(outputDir));
  const record: ExperimentRecord = {
    id,
    runId: x.runId,
    seq: x.seq,
    proposer: baseline ? 'baseline' : x.proposer.name,
    hypothesis: proposal.hypothesis,
    params: proposal.params ?? null,
    meta: {
      ...(proposal.meta ?? {}),
      predictions,
      tree: check.tree,
      timings,
      runs: runs.scores,
      ...(featureCheck ? { featureCheck } : {}),
      ...(undefinedMetrics ? { undefinedMetrics } : {}),
    },
    decision: decision!,
    reason,
    score,
    bestBefore: x.best?.score ?? null,
    delta: verdict ? verdict.gain : null,
    ciLow: verdict?.ciLow ?? null,
    ciHigh: verdict?.ciHigh ?? null,
    probImprovement: verdict?.probImprovement ?? null,
    keepTest: verdict?.test ?? null,
    commitSha,
    parentSha,
    files: check.files,
    sandboxStatus: sandbox?.status ?? 'skipped',
    sandboxMessage: sandbox?.message ?? '',
    exitCode: sandbox?.exitCode ?? null,
    sandboxed: !x.unsafe,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
    executeMs: sandbox?.wallMs ?? null,
    conclusion: conclusionFor(decision!, contract.metric.primary, score, verdict?.gain ?? null),
    metrics,
  };
  writeFileSync(join(dir, 'experiment.json'), `${JSON.stringify(record, null, 2)}\n`);
  const events: Omit<EventRecord, 'id' | 'experimentId'>[] = trips.map((t) => ({
    ts: endedAt.toISOString(),
    runId: x.runId,
    kind: overridden(x, t) ? 'guardrail.override' : 'guardrail',
    severity: 'warning',
    guardrail: t.guardrail,
    message: overridden(x, t)
      ? `${t.message} — overridden: ${x.overrides[t.guardrail]}`
      : `${t.message} (${guardrail(t.guardrail).hint})`,
    data: t.data ?? null,
  }));
  events.push({
    ts: endedAt.toISOString(),
    runId: x.runId,
    kind: 'experiment.finished',
    severity: 'info',
    guardrail: null,
    message: `${decision}: ${reason}`,
    data: { id, seq: x.seq, score },
  });
  lap('record');
  journal.recordExperiment(record, events);
  failpoint('record:after-journal');
  appendResult(projectDir, record);
  if (sandbox?.status === 'output_limit' && decision !== 'kept')
    pruneOutputs(dir, `it was ${decision} for passing the output size cap`);
  const outcome = { seq: x.seq, decision: record.decision, score: record.score, meta: proposal.meta ?? {} };
  await x.proposer.observe(outcome);
  if (x.proposer.conclude && !baseline) {
    const c = await x.proposer
      .conclude({ ...outcome, hypothesis: record.hypothesis, reason: record.reason })
      .catch(() => null);
    if (c?.trim()) {
      record.conclusion = c.trim();
      journal.setConclusion(id, record.conclusion);
    }
  }
  const newBest: Best | null =
    decision === 'kept'
      ? { id, score: score!, input: input!, commit: commitSha!, params: proposal.params ?? null, runs }
      : null;
  return { record, best: newBest, escalate };
}

/** Names of the predictions files an output folder may hold. */
const PREDICTION_FILES = ['public.csv', 'private.csv', 'public.parquet', 'private.parquet'];

/**
 * SHA-256 (hex) of each predictions file in an output folder, by file name (absent names are left out).
 * Files are read concurrently; an unreadable file fails the promise (as it failed the record before).
 */
async function hashPredictions(outputDir: string): Promise<Record<string, string>> {
  const names = PREDICTION_FILES.filter((f) => {
    const p = join(outputDir, f);
    return existsSync(p) && statSync(p).isFile();
  });
  const sums = await Promise.all(names.map((f) => sha256File(join(outputDir, f))));
  return Object.fromEntries(names.map((f, i) => [f, sums[i]!]));
}

/** Whether the model's `features.json` was checked against the leakage scan, and why not (meta.featureCheck). */
export interface FeatureCheck {
  status: 'checked' | 'not_checked';
  /** What was checked (the column count) or why nothing was (absent, too large, not JSON, not a list). */
  reason: string;
}

/** Largest `features.json` read, bytes. */
const FEATURES_MAX_BYTES = 1 << 20;

/**
 * The leaking columns a model says it used: `features.json` in its output folder (a JSON list of column
 * names, written by the scaffolded train.py) checked against the blocking findings of `ratchet init`.
 * @returns the trips, and whether the file could be checked at all (with the why when not)
 */
function usedLeaks(projectDir: string, outputDir: string): { trips: Trip[]; check: FeatureCheck } {
  const p = join(outputDir, 'features.json');
  const not = (reason: string) => ({ trips: [], check: { status: 'not_checked', reason } as FeatureCheck });
  if (!existsSync(p))
    return not('no features.json in the output folder: the model did not say which columns it used');
  if (!lstatSync(p).isFile()) return not('features.json is not a regular file');
  const size = statSync(p).size;
  if (size > FEATURES_MAX_BYTES)
    return not(`features.json is ${size} bytes, over the ${FEATURES_MAX_BYTES}-byte limit: not read`);
  let features: unknown;
  try {
    features = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    return not(`features.json is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(features) || !features.every((f) => typeof f === 'string'))
    return not('features.json is not a JSON list of column names');
  const trips = scanFeatureNames(features, readFindings(projectDir))
    .filter((f) => f.severity === 'block')
    .map((f) => ({
      guardrail: f.guardrail,
      message: `the model used ${f.column}: ${f.message}`,
      data: f.evidence,
    }));
  return {
    trips,
    check: { status: 'checked', reason: `${features.length} columns checked against the leakage scan` },
  };
}

/** Is this trip overridden by the person (`--override <id> --reason ...`) and may it be? */
function overridden(x: ExperimentInput, t: Trip): boolean {
  return t.guardrail in x.overrides && guardrail(t.guardrail).overridable;
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= n ? one : `${one.slice(0, n - 1)}…`;
}

/** The built-in conclusion for proposers that do not write their own. */
function conclusionFor(
  decision: Decision,
  metric: string,
  score: number | null,
  gain: number | null,
): string {
  switch (decision) {
    case 'kept':
      return gain === null
        ? `baseline ${metric} ${score?.toFixed(4)}`
        : `improved ${metric} by ${gain.toFixed(4)}: kept`;
    case 'reverted':
      return `${metric} ${score?.toFixed(4)}: no significant gain (${gain === null ? '' : gain.toFixed(4)}); reverted`;
    default:
      return `${decision}: produced no valid score`;
  }
}

/**
 * Make the output folder's files read-only once the sandbox is done (they are evidence for submit), whatever
 * modes the sandboxed code left (see {@link protectTree}). Never throws.
 * @returns null, or why the output could not be protected (the experiment is then `invalid`)
 */
function protectOutput(dir: string): string | null {
  try {
    const r = protectTree(dir);
    return r.problems.length > 0
      ? `the output folder could not be made safe: ${r.problems.slice(0, 3).join('; ')}`
      : null;
  } catch (e) {
    return `the output folder could not be made safe: ${(e as Error).message}`;
  }
}

/** Seed offset of confirmation runs (distinct from `ratchet check --determinism`'s seed + 1..k). */
export const CONFIRM_SEED_OFFSET = 1000;

/**
 * Stage 3 of the keep rule: run the candidate's tree again with `rule.confirmRuns` other seeds and score
 * each run on the public holdout.
 * @returns the scores (the experiment's own run first) or the failure that stopped the confirmation
 */
async function confirmOverSeeds(
  x: ExperimentInput,
  dir: string,
  first: Runs,
): Promise<{ runs: Runs; failure: string | null }> {
  const runs: Runs = { scores: [...first.scores], inputs: [...first.inputs] };
  for (let j = 1; j <= x.rule.confirmRuns; j++) {
    const runDir = join(dir, `confirm-${j}`);
    const outputDir = join(runDir, 'output');
    mkdirSync(outputDir, { recursive: true });
    const res = await execute({
      contract: x.contract,
      worktree: x.worktree,
      runDir,
      outputDir,
      python: x.python,
      timeoutMs: x.timeoutMs,
      seed:
        x.rule.confirmSeeds === 'same'
          ? x.contract.split.seed
          : x.contract.split.seed + CONFIRM_SEED_OFFSET + j,
      experimentId: 0,
      unsafeNoSandbox: x.unsafe,
      signal: x.signal,
    });
    if (res.status !== 'ok')
      return { runs, failure: `confirmation run ${j} did not finish (${res.message})` };
    const ev = await evaluateOutput(x.contract, x.manifest, outputDir, x.duck, x.python.binDir, {
      vault: x.vault,
    });
    if (ev.status !== 'ok') return { runs, failure: `confirmation run ${j} was invalid (${ev.reason})` };
    runs.scores.push(ev.score);
    runs.inputs.push(ev.input);
  }
  return { runs, failure: null };
}

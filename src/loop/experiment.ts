import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { type Lock, verifyLock } from '../contract/lock.js';
import type { DuckPool } from '../data/duck-pool.js';
import type { SplitManifest } from '../data/ingest.js';
import { scanFeatureNames } from '../data/leakage.js';
import { readFindings } from '../data/scan.js';
import { type Evaluation, evaluateOutput } from '../evaluator/evaluate.js';
import type { VaultCache } from '../evaluator/vault.js';
import { commit, resetHard, resetStaged, revParse } from '../git/git.js';
import { canaryTrips } from '../guardrails/canary.js';
import { checkHypothesis, cleanHypothesis } from '../guardrails/hypothesis.js';
import { guardrail, type Trip } from '../guardrails/registry.js';
import { sanityChecks } from '../guardrails/suspicion.js';
import { appendResult } from '../journal/results.js';
import type { Decision, EventRecord, ExperimentRecord, Journal } from '../journal/store.js';
import type { MetricInput } from '../metrics/index.js';
import type { ExperimentDigest, Proposal, Proposer } from '../proposers/types.js';
import type { PythonRuntime, SandboxResult } from '../sandbox/index.js';
import { protectTree } from '../sandbox/output.js';
import { RatchetError } from '../util/errors.js';
import { failpoint } from '../util/failpoint.js';
import { sha256File } from '../util/fs.js';
import { checkChange, treeAfterExecute } from './check.js';
import { type DecideInput, decide, type Findings, screen } from './decide.js';
import type { Executor } from './executor.js';
import {
  decideKeepAsync,
  type KeepRule,
  type KeepVerdict,
  prepareBest,
  prepareCandidate,
  type Runs,
} from './keep.js';
import { paretoKeep } from './pareto.js';
import { experimentDir, RUNS_DIR, tail } from './paths.js';
import { runOverSeeds } from './seeds.js';
import { digest } from './tally.js';
import { pruneOutputs, retentionEvent, type TraceTidy, tidyTraces } from './tidy.js';

/**
 * One experiment: PROPOSE → APPLY → CHECK → EXECUTE → EVALUATE → DECIDE → RECORD
 * (docs/ARCHITECTURE.md, "The loop").
 */

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
  /** The direction (1-based) in a run with several, null in a run with one. */
  direction?: number | null;
  worktree: string;
  python: PythonRuntime;
  /** Where EXECUTE runs the worktree (the local sandbox, or a cluster). */
  executor: Executor;
  proposer: Proposer;
  best: Best | null;
  /** The direction's latest experiments, oldest first (at most PROPOSER_HISTORY: src/loop/tally.ts). */
  history: readonly ExperimentDigest[];
  /** The run's baseline (its first experiment) once recorded, else null. */
  baseline: ExperimentRecord | null;
  /**
   * Ids of the run's experiments under way (shared by its directions): their trace folders have no journal row
   * yet and are never tidied away. This experiment's id is added once reserved and removed when it ends.
   */
  active?: Set<number>;
  /**
   * The run's incremental trace tidy (one per session, made with the contract's `retention.keep_last`); without
   * it each experiment tidies with a full scan ({@link tidyTraces}), the same result.
   */
  tidy?: TraceTidy;
  timeoutMs: number;
  unsafe: boolean;
  signal: AbortSignal;
  rule: KeepRule;
  /** Guardrails the person overrode for this run: id → reason (only overridable ones take effect). */
  overrides: Record<string, string>;
  /** The run's DuckDBs, one lent to each EVALUATE and canary check (directions score at the same time). */
  ducks: DuckPool;
  /** The run's cache of the vault's labels, shared by every EVALUATE. */
  vault: VaultCache;
  onStart: (id: number, hypothesis: string) => void;
}

/**
 * One experiment while it moves through the steps (Optuna's trial object): what every step reads and adds to.
 * Created by {@link openTrial}; the steps below each take it.
 */
interface Trial {
  x: ExperimentInput;
  id: number;
  /** The experiment's trace folder and its output folder. */
  dir: string;
  outputDir: string;
  baseline: boolean;
  startedAt: Date;
  /** The commit the worktree stood at before the proposer edited it (a revert goes back here). */
  parentSha: string;
  /** Every guardrail trip, recorded as events at RECORD (overridden ones as overrides). */
  trips: Trip[];
  /** Wall time of each step, ms (kept in the experiment's meta: where the time went). */
  timings: Record<string, number>;
  /** Close the current step: its time goes to `timings[step]`. */
  lap: (step: string) => void;
  /** Start timing the next step now. */
  restart: () => void;
}

/** What CHECK approved: the tree that must run, its files, and the worktree's index state. */
interface Checked {
  tree: string;
  files: string[];
  /** The patch (read from git's objects while EXECUTE runs), on disk before RECORD. */
  patchWritten: Promise<void>;
  /** Every file of the worktree is staged (a revert then needs no clean); false only while verify_tree runs. */
  staged: boolean;
}

/** What EXECUTE, EVALUATE and DECIDE made of the experiment: everything RECORD writes. */
interface Outcome {
  decision: Decision;
  reason: string;
  /** Why a person must look, or null. */
  escalate: string | null;
  sandbox: SandboxResult | null;
  score: number | null;
  metrics: Record<string, number>;
  input: MetricInput | null;
  verdict: KeepVerdict | null;
  runs: Runs;
  featureCheck: FeatureCheck | null;
  /** Reported-only metrics undefined on the public holdout (name → why), kept in meta.undefinedMetrics. */
  undefinedMetrics: Record<string, string> | null;
  /** The predictions' hashes, taken while EVALUATE reads them (null when the command did not run). */
  hashes: Promise<Record<string, string>> | null;
}

/** An outcome with no score (rejected before or after EXECUTE, crashed, invalid). */
function unscored(decision: Decision, reason: string, extra: Partial<Outcome> = {}): Outcome {
  return {
    decision,
    reason,
    escalate: null,
    sandbox: null,
    score: null,
    metrics: {},
    input: null,
    verdict: null,
    runs: { scores: [], inputs: [] },
    featureCheck: null,
    undefinedMetrics: null,
    hashes: null,
    ...extra,
  };
}

/**
 * Run one experiment and record it (journal, results.tsv, git, trace folder) before returning: the loop as the
 * diagram (docs/ARCHITECTURE.md, "The loop"): PROPOSE → CHECK → EXECUTE → EVALUATE → DECIDE → RECORD.
 * @returns the record and the new best (when kept), or 'aborted' when the kill switch fired mid-way
 *   (the sandbox is killed, the worktree reset, nothing recorded but an event)
 * @throws RatchetError when the host's own state is broken (e.g. verify_tree cannot read the worktree)
 */
export async function runExperiment(
  x: ExperimentInput,
): Promise<{ record: ExperimentRecord; best: Best | null; escalate: string | null } | 'aborted'> {
  const t = await openTrial(x);
  try {
    return await steps(t);
  } finally {
    x.active?.delete(t.id);
  }
}

/** The steps after {@link openTrial}, in the diagram's order. */
async function steps(
  t: Trial,
): Promise<{ record: ExperimentRecord; best: Best | null; escalate: string | null } | 'aborted'> {
  const { x } = t;
  const proposal = await propose(t);
  if (proposal === 'aborted') return 'aborted';
  const checked = await check(t);
  const blocking = t.trips.filter((trip) => !overridden(x, trip));
  let outcome: Outcome;
  if (blocking.length > 0) {
    outcome = unscored('rejected', tripReasons(blocking));
  } else {
    const sandbox = await executeStep(t, checked);
    if (sandbox === 'aborted') return 'aborted';
    const evaluated = await evaluateStep(t, checked, sandbox);
    outcome = 'decision' in evaluated ? evaluated : await decideStep(t, sandbox, evaluated);
  }
  return record(t, proposal, checked, outcome);
}

const tripReasons = (ts: Trip[]) => ts.map((t) => `${t.guardrail}: ${t.message}`).join('; ');

/** Start an experiment: tidy the trace folders, reserve its id, create its folder, note the worktree's commit. */
async function openTrial(x: ExperimentInput): Promise<Trial> {
  const { projectDir, journal } = x;
  // Proposers see finished experiments only (a crash's half-written folder goes aside); old outputs are pruned.
  // The tidy needs each experiment's id, decision and sandbox status only (whole records cost ~70 µs each); a
  // run's session keeps one incremental tidy (a full scan costs ~57–100 ms at 5,000 experiments, it ~6 ms).
  const tidy = x.tidy
    ? x.tidy.tidy(journal, x.active)
    : tidyTraces(
        projectDir,
        join(projectDir, RUNS_DIR),
        journal.listOutcomes(),
        x.contract.retention.keep_last,
        x.active,
      );
  if (tidy.pruned.length > 0) journal.addEvent(retentionEvent(x.runId, tidy.pruned));
  const id = journal.reserveExperimentId();
  x.active?.add(id); // before its folder exists: another direction's tidy never takes it for an orphan
  const dir = experimentDir(projectDir, id);
  const outputDir = join(dir, 'output');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(outputDir, { recursive: true });
  const startedAt = new Date();
  const parentSha = await revParse(x.worktree);
  const timings: Record<string, number> = {};
  let mark = performance.now();
  return {
    x,
    id,
    dir,
    outputDir,
    baseline: x.best === null,
    startedAt,
    parentSha,
    trips: [],
    timings,
    lap: (step) => {
      const now = performance.now();
      timings[step] = Math.round((now - mark) * 10) / 10;
      mark = now;
    },
    restart: () => {
      mark = performance.now();
    },
  };
}

/**
 * PROPOSE + APPLY: the proposer edits the worktree and states its hypothesis (the baseline proposes the committed
 * code as it is). A proposer that fails or states no hypothesis trips `hypothesis-required`.
 * @returns the proposal (its hypothesis cleaned of terminal escapes), or 'aborted' when the kill switch fired
 */
async function propose(t: Trial): Promise<Proposal | 'aborted'> {
  const { x } = t;
  let proposal: Proposal;
  if (t.baseline) {
    proposal = { hypothesis: `baseline: the committed code as it is (${t.parentSha.slice(0, 12)})` };
  } else {
    try {
      proposal = await x.proposer.propose({
        worktree: x.worktree,
        projectDir: x.projectDir,
        seq: x.seq,
        metric: { name: x.contract.metric.primary, direction: x.contract.direction },
        bestScore: x.best!.score,
        bestParams: x.best!.params,
        history: [...x.history],
        baseline: x.baseline ? digest(x.baseline) : null,
        signal: x.signal,
        timeoutMs: x.timeoutMs,
        onEvent: (ev) =>
          x.journal.addEvent({ ...ev, ts: new Date().toISOString(), runId: x.runId, experimentId: t.id }),
      });
    } catch (e) {
      if (x.signal.aborted) {
        await resetHard(x.worktree, t.parentSha);
        rmSync(t.dir, { recursive: true, force: true });
        return 'aborted';
      }
      proposal = { hypothesis: '(the proposer failed before stating a hypothesis)' };
      t.trips.push({
        guardrail: 'hypothesis-required',
        message: `the proposer failed: ${(e as Error).message}`,
      });
    }
    const h = checkHypothesis(proposal.hypothesis, 1);
    if (h) t.trips.push(h);
  }
  // Stored and printed without terminal escapes or control characters.
  proposal = { ...proposal, hypothesis: cleanHypothesis(proposal.hypothesis) };
  t.lap('propose');
  x.onStart(t.id, proposal.hypothesis);
  x.journal.addEvent({
    ts: t.startedAt.toISOString(),
    runId: x.runId,
    experimentId: null,
    kind: 'experiment.started',
    severity: 'info',
    guardrail: null,
    message: proposal.hypothesis,
    data: { id: t.id, seq: x.seq, params: proposal.params ?? null },
  });
  return proposal;
}

/**
 * CHECK: the change stays on the surface and the frozen contract is intact; the tree to run is staged and named.
 * Adds its trips to the trial (a baseline with no change is no `no-op`).
 */
async function check(t: Trial): Promise<Checked> {
  const { x } = t;
  t.restart();
  const c = await checkChange(x.worktree, x.contract.surface, x.lock, t.parentSha);
  // The patch (read by CHECK with the paths) is written while EXECUTE runs; it is on disk before RECORD (and
  // before any return).
  const patchWritten = writeFile(join(t.dir, 'patch.diff'), c.patch).catch(() => undefined);
  if (!t.baseline) t.trips.push(...c.trips);
  else t.trips.push(...c.trips.filter((trip) => trip.guardrail !== 'no-op'));
  try {
    await verifyLock({ ...x.lock, splits: {} }, x.worktree, x.projectDir);
  } catch (e) {
    t.trips.push({ guardrail: 'contract-integrity', message: (e as RatchetError).message });
  }
  t.lap('check');
  // Every file of the worktree is staged from here on (CHECK, then verify_tree, stage all): a revert needs no clean.
  return { tree: c.tree, files: c.files, patchWritten, staged: true };
}

/**
 * EXECUTE: the executor runs the worktree with the contract's seed and limits; the result goes to sandbox.json.
 * @returns the executor's result, or 'aborted' when the kill switch fired (the worktree is reset and an
 *   `experiment.aborted` event recorded; nothing else)
 */
async function executeStep(t: Trial, checked: Checked): Promise<SandboxResult | 'aborted'> {
  const { x } = t;
  const sandbox = await x.executor.run({
    contract: x.contract,
    worktree: x.worktree,
    runDir: t.dir,
    outputDir: t.outputDir,
    seed: x.contract.split.seed,
    experimentId: t.id,
    timeoutMs: x.timeoutMs,
    signal: x.signal,
    slot: (x.direction ?? 1) - 1,
  });
  t.lap('execute');
  writeFileSync(join(t.dir, 'sandbox.json'), `${JSON.stringify(sandbox, null, 2)}\n`);
  if (sandbox.status === 'aborted' || x.signal.aborted) {
    await checked.patchWritten;
    await resetHard(x.worktree, t.parentSha);
    x.journal.addEvent({
      ts: new Date().toISOString(),
      runId: x.runId,
      experimentId: null,
      kind: 'experiment.aborted',
      severity: 'warning',
      guardrail: null,
      message: `experiment ${t.id} was interrupted by the kill switch; its sandbox was killed and nothing was recorded`,
      data: { id: t.id, seq: x.seq },
    });
    return 'aborted';
  }
  return sandbox;
}

/** A scored candidate, ready for DECIDE. */
interface Scored {
  ev: Extract<Evaluation, { status: 'ok' }>;
  hashes: Promise<Record<string, string>>;
}

/**
 * EVALUATE, alongside verify_tree: the output folder is made read-only and scored against the vault while git
 * proves the tree that ran is the tree CHECK approved; the score counts only if that proof holds.
 * @returns the scored candidate, or the outcome when there is nothing to decide on (the tree moved, the output is
 *   unsafe or invalid, the command crashed or timed out)
 * @throws when verify_tree cannot read the worktree (the host's state is broken)
 */
async function evaluateStep(t: Trial, checked: Checked, sandbox: SandboxResult): Promise<Scored | Outcome> {
  const { x } = t;
  // Links, FIFOs, devices or unwalkable subtrees in the output (removed by the sandbox) are not a model's output.
  const planted = /removed \d+ symlink\/special/.test(sandbox.message)
    ? `the command left entries host code must never follow in the output folder (${sandbox.message})`
    : null;
  const unprotected = protectOutput(t.outputDir) ?? planted;
  // The predictions' hashes (recorded at RECORD) are taken now, while EVALUATE reads them: the files are
  // read-only from here on, and hashing overlaps DuckDB's work instead of adding to the record step.
  const hashes = hashPredictions(t.outputDir);
  hashes.catch(() => undefined); // awaited at RECORD; a step that throws first must not leave it unhandled
  const sd = sandboxDecision(sandbox);
  // EVALUATE reads only the (read-only) output folder and the vault, never the worktree: it starts now and runs
  // while git proves the tree that ran is the tree CHECK approved.
  const evTimings: Record<string, number> = {};
  const evaluating =
    unprotected === null && sd === null
      ? x.ducks.use((duck) =>
          evaluateOutput(x.contract, x.manifest, t.outputDir, duck, x.python.binDir, {
            vault: x.vault,
            timings: evTimings,
            // Before the metrics: their AUROC then keeps its sort of the candidate for the keep rule's DeLong test.
            onAligned: (input) => {
              if (!t.baseline) prepareCandidate(x.rule, x.best!.input, input);
            },
          }),
        )
      : null;
  evaluating?.catch(() => undefined); // awaited below (or settled before returning)
  // The tree that ran must be the tree CHECK approved (and as clean: tree-integrity before git reads it).
  checked.staged = false;
  const verified = await treeAfterExecute(x.worktree).catch((e: unknown) => e as Error);
  if (verified instanceof Error) {
    await evaluating?.catch(() => undefined);
    throw verified;
  }
  checked.staged = true;
  await checked.patchWritten; // patch.diff is on disk before anything can return
  const { tree: after, trip: treeTrip } = verified;
  t.lap('verify_tree');
  const base = { sandbox, hashes };
  if (treeTrip || after !== checked.tree) {
    await evaluating?.catch(() => undefined);
    if (treeTrip) t.trips.push(treeTrip);
    if (after !== checked.tree)
      t.trips.push({
        guardrail: 'snapshot-integrity',
        message: `the worktree changed during EXECUTE (tree ${checked.tree.slice(0, 12)} → ${after.slice(0, 12)})`,
      });
    return unscored('rejected', tripReasons(t.trips), base);
  }
  if (unprotected && sandbox.status === 'ok') return unscored('invalid', unprotected, base);
  if (sd) {
    const errTail = tail(join(t.dir, 'stderr.log'), 3);
    const why = errTail && sd.decision === 'crashed' ? ` — ${errTail.split('\n').pop()}` : '';
    return unscored(sd.decision, sd.reason + why, base);
  }
  const ev = await evaluating!;
  t.lap('evaluate');
  Object.assign(t.timings, evTimings);
  if (ev.status === 'invalid')
    // The sandbox's note matters here (e.g. a symlink it removed from the output folder).
    return unscored(
      'invalid',
      sandbox.message.includes('removed') ? `${ev.reason} (${sandbox.message})` : ev.reason,
      base,
    );
  return { ev, hashes };
}

/**
 * DECIDE for a scored candidate: the guardrails that read predictions (sanity, leaking columns used, decoy labels,
 * constraints) add their findings, then {@link decide} (pure) rules, with the keep rule's test computed in a worker
 * where it helps and the confirmation runs over seeds executed when it asks for them.
 */
async function decideStep(t: Trial, sandbox: SandboxResult, s: Scored): Promise<Outcome> {
  const { x } = t;
  const { ev } = s;
  // Sanity of the predictions (constant, row order): a person must look.
  const sanity = ev.input ? sanityChecks(ev.input, x.contract.suspicion) : [];
  // The model's own feature list, when it wrote one, against the leakage scan of `ratchet init`.
  const used = usedLeaks(x.projectDir, t.outputDir);
  // Predictions copied from the decoy labels planted in the sandbox: a cheating attempt, escalated.
  const canary = await x.ducks.use((duck) => canaryTrips(x.contract, x.manifest, ev.input, duck));
  // Constraints (floors, ceilings, fairness gates) reject a change whatever its score.
  const constraints = [
    ...ev.violations.map((v) => ({ guardrail: 'constraint', message: v }) as Trip),
    // An off-policy estimate outside the trust thresholds cannot decide a keep (rejected, as a constraint).
    ...ev.trust.map((v) => ({ guardrail: 'ope-trust', message: v }) as Trip),
    // A harness that answers without its model optimizes nothing the contract measures (rejected, as a constraint).
    ...ev.bypass.map((v) => ({ guardrail: 'model-bypass', message: v }) as Trip),
  ];
  t.trips.push(...sanity, ...used.trips, ...canary);
  if (t.baseline && constraints.length > 0) {
    x.journal.addEvent({
      ts: new Date().toISOString(),
      runId: x.runId,
      experimentId: null,
      kind: 'guardrail',
      severity: 'warning',
      guardrail: 'constraint',
      message: `the baseline breaks constraints (${constraints.map((c) => c.message).join('; ')}): every change must satisfy them`,
      data: null,
    });
  } else t.trips.push(...constraints);
  const findings: Findings = { canary, leaks: used.trips, constraints, sanity };
  const isOverridden = (trip: Trip) => overridden(x, trip);
  const candidate = { score: ev.score, input: ev.input };
  let runs: Runs = { scores: [ev.score], inputs: [ev.input] };
  const input: DecideInput = {
    rule: x.rule,
    suspicion: x.contract.suspicion,
    baseline: t.baseline,
    best: x.best ? { score: x.best.score, input: x.best.input, runs: x.best.runs } : null,
    candidate,
    findings,
    isOverridden,
  };
  // The keep rule's test runs (in a worker where it helps) only when no guardrail decides first.
  if (!t.baseline && !screen(findings, false, isOverridden))
    input.verdict = await decideKeepAsync(x.rule, input.best!, candidate);
  let d = decide(input);
  t.lap('decide');
  if (d.status === 'confirm') {
    const confirmed = await confirmOverSeeds(x, t.dir, runs);
    runs = confirmed.runs;
    d = decide({
      ...input,
      verdict: d.verdict,
      confirmation: confirmed.failure ? { failure: confirmed.failure } : { runs },
    });
    t.lap('confirm');
    if (d.status === 'confirm') throw new Error('decide asked twice for confirmation runs');
  }
  // A harness task: cost is an objective too (a cost cut at a score not worse is kept; a gain over the ceiling is not).
  const h = x.contract.harness;
  if (h && !t.baseline && ev.input?.task === 'harness' && x.best?.input?.task === 'harness') {
    const p = paretoKeep(
      h.keep,
      x.best.input,
      ev.input,
      { decision: d.decision, reason: d.reason, fromKeepRule: d.verdict !== null },
      x.contract.keep.confidence,
    );
    if (p) d = { ...d, decision: p.decision, reason: p.reason };
  }
  t.trips.push(...d.trips);
  // Once per run: what the keep rule's test needs of the best model (a kept candidate's test has already
  // prepared it), so each later experiment pays only for its own side.
  if (t.baseline && d.decision === 'kept') prepareBest(x.rule, ev.input);
  return {
    decision: d.decision,
    reason: d.reason,
    escalate: d.escalate,
    sandbox,
    score: ev.score,
    metrics: ev.metrics,
    input: ev.input,
    verdict: d.verdict,
    runs,
    featureCheck: used.check,
    undefinedMetrics: Object.keys(ev.undefinedMetrics).length ? ev.undefinedMetrics : null,
    hashes: s.hashes,
  };
}

/**
 * RECORD: a keep becomes a commit on the ratchet branch (anything else resets the worktree to its parent); the
 * experiment goes to its trace folder, the journal (with its guardrail events, in one transaction), results.tsv,
 * and back to the proposer.
 */
async function record(
  t: Trial,
  proposal: Proposal,
  checked: Checked,
  o: Outcome,
): Promise<{ record: ExperimentRecord; best: Best | null; escalate: string | null }> {
  const { x, id } = t;
  const { contract, journal, worktree } = x;
  t.restart();
  let commitSha: string | null = null;
  if (o.decision === 'kept') {
    const trailers: Record<string, string> = {
      'Ratchet-Experiment': String(id),
      'Ratchet-Run': x.runId,
      'Ratchet-Score': `${contract.metric.primary}=${o.score!.toFixed(6)}`,
      'Ratchet-Hypothesis': proposal.hypothesis,
    };
    if (o.verdict)
      trailers['Ratchet-Delta'] = `${o.verdict.gain >= 0 ? '+' : ''}${o.verdict.gain.toFixed(6)}`;
    const subject = t.baseline
      ? `ratchet: baseline ${contract.metric.primary} ${o.score!.toFixed(4)}`
      : `ratchet: ${truncate(proposal.hypothesis, 68)}`;
    commitSha = await commit(worktree, subject, o.reason, trailers, {
      tree: checked.tree,
      parent: t.parentSha,
    });
    failpoint('record:after-commit');
  } else if (checked.staged) {
    await resetStaged(worktree, t.parentSha);
  } else {
    await resetHard(worktree, t.parentSha);
  }
  await checked.patchWritten;
  const endedAt = new Date();
  // Recorded by the name written (public.csv or public.parquet); submit re-checks the one it reads.
  const predictions = await (o.hashes ?? hashPredictions(t.outputDir));
  const { sandbox, verdict, score, decision, reason } = o;
  const rec: ExperimentRecord = {
    id,
    runId: x.runId,
    seq: x.seq,
    direction: x.direction ?? null,
    proposer: t.baseline ? 'baseline' : x.proposer.name,
    hypothesis: proposal.hypothesis,
    params: proposal.params ?? null,
    meta: {
      ...(proposal.meta ?? {}),
      predictions,
      tree: checked.tree,
      timings: t.timings,
      runs: o.runs.scores,
      ...(o.featureCheck ? { featureCheck: o.featureCheck } : {}),
      ...(o.undefinedMetrics ? { undefinedMetrics: o.undefinedMetrics } : {}),
    },
    decision,
    reason,
    score,
    bestBefore: x.best?.score ?? null,
    delta: verdict ? verdict.gain : null,
    ciLow: verdict?.ciLow ?? null,
    ciHigh: verdict?.ciHigh ?? null,
    probImprovement: verdict?.probImprovement ?? null,
    keepTest: verdict?.test ?? null,
    commitSha,
    parentSha: t.parentSha,
    files: checked.files,
    sandboxStatus: sandbox?.status ?? 'skipped',
    sandboxMessage: sandbox?.message ?? '',
    exitCode: sandbox?.exitCode ?? null,
    sandboxed: !x.unsafe,
    startedAt: t.startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - t.startedAt.getTime(),
    executeMs: sandbox?.wallMs ?? null,
    conclusion: conclusionFor(decision, contract.metric.primary, score, verdict?.gain ?? null),
    metrics: o.metrics,
  };
  writeFileSync(join(t.dir, 'experiment.json'), `${JSON.stringify(rec, null, 2)}\n`);
  const events: Omit<EventRecord, 'id' | 'experimentId'>[] = t.trips.map((trip) => ({
    ts: endedAt.toISOString(),
    runId: x.runId,
    kind: overridden(x, trip) ? 'guardrail.override' : 'guardrail',
    severity: 'warning',
    guardrail: trip.guardrail,
    message: overridden(x, trip)
      ? `${trip.message} — overridden: ${x.overrides[trip.guardrail]}`
      : `${trip.message} (${guardrail(trip.guardrail).hint})`,
    data: trip.data ?? null,
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
  t.lap('record');
  journal.recordExperiment(rec, events);
  failpoint('record:after-journal');
  appendResult(x.projectDir, rec);
  if (sandbox?.status === 'output_limit' && decision !== 'kept')
    pruneOutputs(t.dir, `it was ${decision} for passing the output size cap`);
  const outcome = { seq: x.seq, decision: rec.decision, score: rec.score, meta: proposal.meta ?? {} };
  // The experiment is recorded: a proposer that fails to take the outcome in is noted, never fatal to the run.
  await x.proposer.observe(outcome).catch((e: unknown) =>
    journal.addEvent({
      ts: new Date().toISOString(),
      runId: x.runId,
      experimentId: id,
      kind: 'proposer.error',
      severity: 'warning',
      guardrail: null,
      message: `the ${x.proposer.name} proposer could not take in experiment ${id}'s outcome: ${(e as Error).message}`,
      data: null,
    }),
  );
  if (x.proposer.conclude && !t.baseline) {
    const c = await x.proposer
      .conclude({ ...outcome, hypothesis: rec.hypothesis, reason: rec.reason })
      .catch(() => null);
    if (c?.trim()) {
      rec.conclusion = c.trim();
      journal.setConclusion(id, rec.conclusion);
    }
  }
  const newBest: Best | null =
    decision === 'kept'
      ? {
          id,
          score: score!,
          input: o.input!,
          commit: commitSha!,
          params: proposal.params ?? null,
          runs: o.runs,
        }
      : null;
  return { record: rec, best: newBest, escalate: o.escalate };
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
  const seed0 = x.contract.split.seed;
  const done = await runOverSeeds({
    executor: x.executor,
    contract: x.contract,
    manifest: x.manifest,
    worktree: x.worktree,
    seeds: Array.from({ length: x.rule.confirmRuns }, (_, i) =>
      x.rule.confirmSeeds === 'same' ? seed0 : seed0 + CONFIRM_SEED_OFFSET + i + 1,
    ),
    runDir: (i) => join(dir, `confirm-${i + 1}`),
    slot: (x.direction ?? 1) - 1,
    modelCache: 'fresh',
    timeoutMs: x.timeoutMs,
    signal: x.signal,
    ducks: x.ducks,
    vault: x.vault,
    binDir: x.python.binDir,
    onRun: (r) => {
      runs.scores.push(r.evaluation.score);
      runs.inputs.push(r.evaluation.input);
    },
  });
  const f = done.failure;
  if (!f) return { runs, failure: null };
  const j = f.index + 1;
  return {
    runs,
    failure:
      f.step === 'execute'
        ? `confirmation run ${j} did not finish (${f.message})`
        : `confirmation run ${j} was invalid (${f.message})`,
  };
}

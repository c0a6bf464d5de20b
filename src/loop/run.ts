import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Contract } from '../contract/load.js';
import { type Lock, verifyLock } from '../contract/lock.js';
import { type Duck, openDuck } from '../data/duck.js';
import { type SplitManifest, VAULT_DIR } from '../data/ingest.js';
import { evaluateOutput, PRIVATE_PREDICTIONS, PUBLIC_PREDICTIONS } from '../evaluator/evaluate.js';
import { alignPredictions } from '../evaluator/predictions.js';
import { addWorktree, commit, currentTree, git, removeWorktree, resetHard, revParse } from '../git/git.js';
import { guardrail, type Trip } from '../guardrails/registry.js';
import { appendResult } from '../journal/results.js';
import { type Decision, type EventRecord, type ExperimentRecord, Journal } from '../journal/store.js';
import type { MetricInput } from '../metrics/index.js';
import type { ExperimentDigest, Proposal, Proposer } from '../proposers/types.js';
import type { PythonRuntime, SandboxResult } from '../sandbox/index.js';
import { RatchetError } from '../util/errors.js';
import { sha256File } from '../util/fs.js';
import { formatDuration } from '../util/units.js';
import { checkChange } from './check.js';
import { acquireRunLock, releaseRunLock, watchStop } from './control.js';
import { execute } from './execute.js';
import { decideKeep, type KeepRule } from './keep.js';
import { preflight } from './preflight.js';

/** Project-relative folder of the experiments' traces. */
export const RUNS_DIR = '.ratchet/runs';
/** Project-relative folder of the ratchet branches' worktrees. */
export const WORKTREES_DIR = '.ratchet/worktrees';

/** Folder of an experiment's trace: `.ratchet/runs/0007/`. */
export function experimentDir(projectDir: string, id: number): string {
  return join(projectDir, RUNS_DIR, String(id).padStart(4, '0'));
}

/** Everything a proposer factory needs to build a proposer for a run. */
export interface ProposerContext {
  contract: Contract;
  runId: string;
  worktree: string;
  python: PythonRuntime;
  /** Folder for the proposer's own state (e.g. the Optuna study), under `.ratchet/`. */
  stateDir: string;
  /** Parameters of the baseline, when the proposer can read them. */
  resumed: boolean;
}

/** Builds the run's proposer once the worktree exists. */
export type ProposerFactory = (ctx: ProposerContext) => Promise<Proposer>;

/** Progress of a run, for terminals and tests. */
export type RunProgress =
  | { type: 'run-start'; runId: string; branch: string; resumed: boolean; maxExperiments: number; maxWallClockMs: number }
  | { type: 'experiment-start'; id: number; seq: number; hypothesis: string; elapsedMs: number }
  | { type: 'experiment-end'; record: ExperimentRecord; bestScore: number | null; elapsedMs: number; left: Budgets }
  | { type: 'run-end'; summary: RunSummary };

/** Budgets left after an experiment. */
export interface Budgets {
  experiments: number;
  wallClockMs: number;
  consecutiveFailures: number;
}

/** Options of {@link runLoop}. Unset budgets come from the contract. */
export interface RunOptions {
  projectDir: string;
  proposer: ProposerFactory;
  /** Run id; an existing, unfinished run with this id is resumed. Default: a timestamp. */
  runId?: string;
  /** Total experiments in the run, the baseline included. */
  maxExperiments?: number;
  experimentTimeoutMs?: number;
  maxWallClockMs?: number;
  maxConsecutiveFailures?: number;
  /** Run the command without bubblewrap (recorded on every experiment). */
  unsafeNoSandbox?: boolean;
  onProgress?: (p: RunProgress) => void;
  /** External kill switch (in addition to `ratchet stop`, SIGINT and SIGTERM). */
  signal?: AbortSignal;
}

/** How a run ended. */
export interface RunSummary {
  runId: string;
  branch: string;
  /** finished (a budget ran out) | stopped (kill switch) | escalated (handed to a person) | failed */
  status: 'finished' | 'stopped' | 'escalated' | 'failed';
  reason: string;
  experiments: number;
  kept: number;
  baselineScore: number | null;
  best: { id: number; score: number; commit: string } | null;
}

interface Best {
  id: number;
  score: number;
  input: MetricInput;
  commit: string;
  params: Record<string, unknown> | null;
}

const FAILURES: ReadonlySet<Decision> = new Set(['crashed', 'timeout', 'invalid', 'rejected']);

function defaultRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
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

/**
 * The loop: PROPOSE → APPLY → CHECK → EXECUTE → EVALUATE → DECIDE → RECORD on the branch `ratchet/<run>`,
 * until a budget runs out or the kill switch fires. The first experiment of a new run is the baseline
 * (the committed code as it is). A kept change is committed with trailers; anything else is archived as a
 * patch in the experiment's folder and the worktree returns to the last kept commit.
 * @throws RatchetError before the first experiment for a broken setup (lock violation, tracked data,
 *   missing sandbox, a run already active); never leaves the branch dirty
 */
export async function runLoop(opts: RunOptions): Promise<RunSummary> {
  const projectDir = opts.projectDir;
  const unsafe = opts.unsafeNoSandbox ?? false;
  const { contract, lock, manifest, head, python } = await preflight(projectDir, { unsafe });

  const journal = Journal.open(projectDir);
  const existing = opts.runId ? journal.getRun(opts.runId) : null;
  if (existing && existing.status === 'finished') {
    journal.close();
    throw new RatchetError(`run ${existing.id} already finished`, { hint: 'start a new run (omit --run) or pick another id' });
  }
  const runId = existing?.id ?? opts.runId ?? defaultRunId();
  const branch = `ratchet/${runId}`;
  const worktree = join(projectDir, WORKTREES_DIR, runId);
  acquireRunLock(projectDir, runId);
  const controller = new AbortController();
  const unwatch = watchStop(projectDir, controller);
  const onExternal = () => controller.abort(opts.signal?.reason ?? new Error('aborted'));
  opts.signal?.addEventListener('abort', onExternal, { once: true });

  const limits = {
    maxExperiments: opts.maxExperiments ?? contract.limits.maxExperiments,
    maxWallClockMs: opts.maxWallClockMs ?? contract.limits.maxWallClockMs,
    experimentTimeoutMs: opts.experimentTimeoutMs ?? contract.limits.experimentTimeoutMs,
    maxConsecutiveFailures: opts.maxConsecutiveFailures ?? contract.limits.maxConsecutiveFailures,
  };
  const t0 = Date.now();
  const emit = (p: RunProgress) => opts.onProgress?.(p);
  let proposer: Proposer | null = null;
  let duck: Duck | null = null;
  const summary: RunSummary = {
    runId,
    branch,
    status: 'finished',
    reason: '',
    experiments: 0,
    kept: 0,
    baselineScore: null,
    best: null,
  };
  const event = (kind: string, severity: 'info' | 'warning' | 'error', message: string, data: Record<string, unknown> | null = null, guard: string | null = null) =>
    journal.addEvent({ ts: new Date().toISOString(), runId, experimentId: null, kind, severity, guardrail: guard, message, data });

  try {
    if (existing) {
      journal.updateRun(runId, { status: 'running', pid: process.pid, endedAt: null, stopReason: null });
    } else {
      journal.createRun({
        id: runId,
        branch,
        worktree,
        baseCommit: head,
        proposer: 'pending',
        status: 'running',
        startedAt: new Date().toISOString(),
        unsafe,
        pid: process.pid,
        config: { ...limits, unsafe },
      });
    }
    mkdirSync(join(projectDir, WORKTREES_DIR), { recursive: true });
    if (existsSync(worktree)) await removeWorktree(projectDir, worktree);
    rmSync(worktree, { recursive: true, force: true });
    await addWorktree(projectDir, worktree, branch, head);
    event('run.started', 'info', `${existing ? 'resumed' : 'started'} run ${runId} on ${branch}`, { limits, unsafe });
    if (unsafe) {
      const g = guardrail('sandbox-unsafe');
      event('guardrail', 'warning', `experiments run WITHOUT the sandbox (--unsafe-no-sandbox): ${g.hint}`, null, g.id);
    }
    emit({ type: 'run-start', runId, branch, resumed: Boolean(existing), maxExperiments: limits.maxExperiments, maxWallClockMs: limits.maxWallClockMs });

    const history: ExperimentRecord[] = journal.listExperiments(runId);
    let best: Best | null = null;
    const lastKept = [...history].reverse().find((e) => e.decision === 'kept' && e.commitSha);
    if (lastKept) {
      // Resume: the branch must sit on the last kept commit recorded in the journal.
      await resetHard(worktree, lastKept.commitSha!);
      const aligned = await alignPredictions({
        predictionsPath: join(experimentDir(projectDir, lastKept.id), 'output', PUBLIC_PREDICTIONS),
        labelsPath: join(projectDir, VAULT_DIR, 'public.parquet'),
        manifest,
      });
      if (!aligned.ok) throw new RatchetError(`cannot resume: the best experiment's predictions are unreadable (${aligned.reason})`);
      best = { id: lastKept.id, score: lastKept.score!, input: aligned.input, commit: lastKept.commitSha!, params: lastKept.params };
      summary.baselineScore = history[0]?.score ?? null;
    }
    proposer = await opts.proposer({
      contract,
      runId,
      worktree,
      python,
      stateDir: join(projectDir, '.ratchet', 'proposers', runId),
      resumed: Boolean(existing),
    });
    journal.db.prepare('UPDATE runs SET proposer = ? WHERE id = ?').run(proposer.name, runId);

    const rule: KeepRule = {
      metric: contract.metric.primary,
      direction: contract.direction,
      minDelta: contract.keep.min_delta,
      confidence: contract.keep.confidence,
      resamples: contract.keep.resamples,
      noiseSd: journal.latestNoise(contract.metric.primary)?.sd ?? null,
      noiseZ: contract.keep.noise_z,
      seed: contract.split.seed,
    };
    duck = await openDuck();
    let consecutiveFailures = 0;
    for (let i = history.length - 1; i >= 0 && FAILURES.has(history[i]!.decision); i--) consecutiveFailures++;
    const splitStats = lockStats(projectDir, lock);

    const stopWith = (status: RunSummary['status'], reason: string) => {
      summary.status = status;
      summary.reason = reason;
    };
    while (true) {
      const seq = history.length + 1;
      const elapsed = Date.now() - t0;
      if (controller.signal.aborted) {
        stopWith('stopped', `stopped: ${(controller.signal.reason as Error)?.message ?? 'kill switch'}`);
        break;
      }
      if (seq > limits.maxExperiments) {
        stopWith('finished', `experiment budget used (${limits.maxExperiments})`);
        break;
      }
      if (elapsed >= limits.maxWallClockMs) {
        stopWith('finished', `wall-clock budget used (${formatDuration(limits.maxWallClockMs)})`);
        break;
      }
      if (consecutiveFailures >= limits.maxConsecutiveFailures) {
        stopWith('escalated', `${consecutiveFailures} consecutive failed experiments: needs a person`);
        event('escalation', 'error', summary.reason, { consecutiveFailures });
        break;
      }
      // The contract on disk must still be the locked one (a person could have edited it mid-run).
      await verifyLock({ ...lock, splits: {} }, projectDir, projectDir);
      checkLockStats(projectDir, lock, splitStats);

      const remainingMs = limits.maxWallClockMs - elapsed;
      const timeoutMs = Math.min(limits.experimentTimeoutMs, remainingMs);
      const rec = await runExperiment({
        projectDir,
        contract,
        manifest,
        lock,
        journal,
        runId,
        seq,
        worktree,
        python,
        proposer,
        best,
        history,
        timeoutMs,
        unsafe,
        signal: controller.signal,
        rule,
        duck,
        onStart: (id, hypothesis) => emit({ type: 'experiment-start', id, seq, hypothesis, elapsedMs: Date.now() - t0 }),
      });
      if (rec === 'aborted') continue;
      history.push(rec.record);
      summary.experiments++;
      if (rec.record.decision === 'kept') {
        summary.kept += seq === 1 ? 0 : 1;
        best = rec.best!;
        if (seq === 1) summary.baselineScore = rec.record.score;
      } else if (seq === 1) {
        stopWith('failed', `the baseline did not produce a valid score: ${rec.record.decision}: ${rec.record.reason}`);
        event('escalation', 'error', summary.reason);
        break;
      }
      consecutiveFailures = FAILURES.has(rec.record.decision) ? consecutiveFailures + 1 : 0;
      emit({
        type: 'experiment-end',
        record: rec.record,
        bestScore: best?.score ?? null,
        elapsedMs: Date.now() - t0,
        left: {
          experiments: limits.maxExperiments - seq,
          wallClockMs: Math.max(0, limits.maxWallClockMs - (Date.now() - t0)),
          consecutiveFailures: limits.maxConsecutiveFailures - consecutiveFailures,
        },
      });
    }
    if (best) summary.best = { id: best.id, score: best.score, commit: best.commit };
    summary.kept = history.filter((e) => e.decision === 'kept' && e.seq > 1).length;
    summary.experiments = history.length;
  } catch (e) {
    summary.status = 'failed';
    summary.reason = (e as Error).message;
    event('run.failed', 'error', summary.reason);
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onExternal);
    unwatch();
    await proposer?.close().catch(() => undefined);
    duck?.close();
    // Leave the branch clean at its last kept commit, and the worktree folder gone.
    if (existsSync(worktree)) {
      await git(worktree, ['reset', '-q', '--hard', 'HEAD']).catch(() => undefined);
      await removeWorktree(projectDir, worktree);
    }
    journal.updateRun(runId, {
      status: summary.status,
      stopReason: summary.reason,
      endedAt: new Date().toISOString(),
      pid: null,
    });
    event(`run.${summary.status}`, summary.status === 'failed' || summary.status === 'escalated' ? 'error' : 'info', summary.reason, {
      experiments: summary.experiments,
      kept: summary.kept,
      best: summary.best,
    });
    journal.close();
    releaseRunLock(projectDir);
    emit({ type: 'run-end', summary });
  }
  return summary;
}

interface StatStamp {
  size: number;
  mtimeMs: number;
}

function lockStats(projectDir: string, lock: Lock): Record<string, StatStamp> {
  const out: Record<string, StatStamp> = {};
  for (const p of Object.keys(lock.splits)) {
    const st = statSync(join(projectDir, p));
    out[p] = { size: st.size, mtimeMs: st.mtimeMs };
  }
  return out;
}

/** Cheap per-experiment check of the (large) split files: size and mtime must not move after the start hash. */
function checkLockStats(projectDir: string, lock: Lock, stamps: Record<string, StatStamp>): void {
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

interface ExperimentInput {
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
  /** The run's DuckDB, shared by every EVALUATE. */
  duck: Duck;
  onStart: (id: number, hypothesis: string) => void;
}

function digest(e: ExperimentRecord): ExperimentDigest {
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
async function runExperiment(x: ExperimentInput): Promise<{ record: ExperimentRecord; best: Best | null } | 'aborted'> {
  const { projectDir, contract, journal, worktree } = x;
  const baseline = x.best === null;
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
      });
    } catch (e) {
      if (x.signal.aborted) {
        await resetHard(worktree, parentSha);
        rmSync(dir, { recursive: true, force: true });
        return 'aborted';
      }
      proposal = { hypothesis: '(the proposer failed before stating a hypothesis)' };
      trips.push({ guardrail: 'hypothesis-required', message: `the proposer failed: ${(e as Error).message}` });
    }
    if (!proposal.hypothesis?.trim()) {
      trips.push({ guardrail: 'hypothesis-required', message: 'the proposal has no hypothesis' });
    }
  }
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
  const check = await checkChange(worktree, contract.surface, x.lock);
  writeFileSync(join(dir, 'patch.diff'), check.patch);
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
  let metrics: Record<string, number> = {};
  let score: number | null = null;
  let verdict: ReturnType<typeof decideKeep> | null = null;
  let input: MetricInput | null = null;
  if (trips.length > 0) {
    decision = 'rejected';
    reason = trips.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
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
    protectOutput(outputDir);
    // The tree that ran must be the tree CHECK approved.
    const after = await currentTree(worktree);
    lap('verify_tree');
    if (after !== check.tree) {
      decision = 'rejected';
      trips.push({ guardrail: 'snapshot-integrity', message: `the worktree changed during EXECUTE (tree ${check.tree.slice(0, 12)} → ${after.slice(0, 12)})` });
      reason = trips.map((t) => `${t.guardrail}: ${t.message}`).join('; ');
    } else {
      const sd = sandboxDecision(sandbox);
      if (sd) {
        decision = sd.decision;
        const errTail = tail(join(dir, 'stderr.log'), 3);
        reason = sd.reason + (errTail && sd.decision === 'crashed' ? ` — ${errTail.split('\n').pop()}` : '');
      } else {
        // EVALUATE
        const ev = await evaluateOutput(contract, x.manifest, outputDir, x.duck);
        lap('evaluate');
        if (ev.status === 'invalid') {
          decision = 'invalid';
          reason = ev.reason;
        } else {
          metrics = ev.metrics;
          score = ev.score;
          input = ev.input;
          // DECIDE
          if (baseline) {
            decision = 'kept';
            reason = `baseline ${contract.metric.primary} ${ev.score.toFixed(6)}`;
          } else {
            verdict = decideKeep(x.rule, { score: x.best!.score, input: x.best!.input }, { score: ev.score, input: ev.input });
            decision = verdict.keep ? 'kept' : 'reverted';
            reason = verdict.reason;
            lap('decide');
          }
        }
      }
    }
  }

  // RECORD
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
    const subject = baseline ? `ratchet: baseline ${contract.metric.primary} ${score!.toFixed(4)}` : `ratchet: ${truncate(proposal.hypothesis, 68)}`;
    commitSha = await commit(worktree, subject, reason, trailers);
  } else {
    await resetHard(worktree, parentSha);
  }
  const endedAt = new Date();
  const predictions: Record<string, string> = {};
  for (const f of [PUBLIC_PREDICTIONS, PRIVATE_PREDICTIONS]) {
    const p = join(outputDir, f);
    if (existsSync(p) && statSync(p).isFile()) predictions[f] = await sha256File(p);
  }
  const record: ExperimentRecord = {
    id,
    runId: x.runId,
    seq: x.seq,
    proposer: baseline ? 'baseline' : x.proposer.name,
    hypothesis: proposal.hypothesis,
    params: proposal.params ?? null,
    meta: { ...(proposal.meta ?? {}), predictions, tree: check.tree, timings },
    decision: decision!,
    reason,
    score,
    bestBefore: x.best?.score ?? null,
    delta: verdict ? verdict.gain : null,
    ciLow: verdict?.ciLow ?? null,
    ciHigh: verdict?.ciHigh ?? null,
    probImprovement: verdict?.probImprovement ?? null,
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
    kind: 'guardrail',
    severity: 'warning',
    guardrail: t.guardrail,
    message: `${t.message} (${guardrail(t.guardrail).hint})`,
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
  appendResult(projectDir, record);
  await x.proposer.observe({
    seq: x.seq,
    decision: record.decision,
    score: record.score,
    meta: proposal.meta ?? {},
  });
  const newBest: Best | null =
    decision === 'kept' ? { id, score: score!, input: input!, commit: commitSha!, params: proposal.params ?? null } : null;
  return { record, best: newBest };
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= n ? one : `${one.slice(0, n - 1)}…`;
}

/** The built-in conclusion for proposers that do not write their own. */
function conclusionFor(decision: Decision, metric: string, score: number | null, gain: number | null): string {
  switch (decision) {
    case 'kept':
      return gain === null ? `baseline ${metric} ${score?.toFixed(4)}` : `improved ${metric} by ${gain.toFixed(4)}: kept`;
    case 'reverted':
      return `${metric} ${score?.toFixed(4)}: no significant gain (${gain === null ? '' : gain.toFixed(4)}); reverted`;
    default:
      return `${decision}: produced no valid score`;
  }
}

/** Make the output folder read-only once the sandbox is done (its files are evidence for submit). */
function protectOutput(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) protectOutput(p);
    else if (entry.isFile()) chmodSync(p, 0o444);
  }
}

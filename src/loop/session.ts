import { defaultMaxListeners, setMaxListeners } from 'node:events';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { escalationMessage, escalationRefusal, projectEscalation } from '../agents/limits.js';
import type { Contract } from '../contract/load.js';
import { type Lock, verifyLock } from '../contract/lock.js';
import { DIRECTIONS_LIMIT } from '../contract/schema.js';
import { currentSplitVersion, runSplitVersion } from '../contract/splits.js';
import { DuckPool } from '../data/duck-pool.js';
import { SPILL_DIR, type SplitManifest, VAULT_DIR } from '../data/ingest.js';
import { predictionsFile } from '../evaluator/evaluate.js';
import { alignPredictions, evalMemoryMB } from '../evaluator/predictions.js';
import { VaultCache } from '../evaluator/vault.js';
import { type ExecutorKind, executorFor } from '../executors/index.js';
import { addWorktree, git, removeWorktree, resetHard } from '../git/git.js';
import { GUARDRAILS, guardrail } from '../guardrails/registry.js';
import { budgetPause, budgetShares } from '../journal/directions.js';
import { rewriteResults } from '../journal/results.js';
import { type ExperimentRecord, Journal, type NoiseRecord } from '../journal/store.js';
import type { MetricInput } from '../metrics/index.js';
import type { Proposer } from '../proposers/types.js';
import type { PythonRuntime } from '../sandbox/index.js';
import { requireAlignment } from '../tiers/align-gate.js';
import { RatchetError } from '../util/errors.js';
import { formatDuration } from '../util/units.js';
import { acquireRunLock, isAlive, releaseRunLock, runActiveMs, watchStop } from './control.js';
import type { Executor } from './executor.js';
import { type Best, checkLockStats, lockStats, runExperiment, type StatStamp } from './experiment.js';
import { confirmKeep, decideKeep, type KeepRule, prepareBest, type Runs } from './keep.js';
import { experimentDir, WORKTREES_DIR } from './paths.js';
import { preflight } from './preflight.js';
import { keepRuleFor, noiseFor } from './rule.js';
import { type LaneTally, laneTally, RunTally } from './tally.js';
import { TraceTidy } from './tidy.js';

/** Prefix of a plateau's stop reason (the search stalled; an escalation with cause `plateau`). */
const PLATEAU = 'plateau: ';

/**
 * Most directions a run may have (the contract's `parallel.directions` has the same bound): each holds a worktree, a
 * DuckDB (~5 MB opened, its memory limit once used) and a proposer. The scale benchmark (bench/scale.ts) drives 64.
 */
export const MAX_DIRECTIONS = DIRECTIONS_LIMIT;

/** How often an open run writes its active time into the journal, ms. */
export const ACTIVE_CHECKPOINT_MS = 2000;

/** Budgets of a run, in machine units. */
export interface Limits {
  maxExperiments: number;
  maxWallClockMs: number;
  experimentTimeoutMs: number;
  maxConsecutiveFailures: number;
}

/** Budgets left after an experiment. */
export interface Budgets {
  experiments: number;
  wallClockMs: number;
  consecutiveFailures: number;
}

/** How a run ended. */
export interface RunSummary {
  runId: string;
  branch: string;
  /** finished (a budget ran out) | stopped (kill switch) | escalated (handed to a person) | failed */
  status: 'finished' | 'stopped' | 'escalated' | 'failed';
  reason: string;
  experiments: number;
  /** Kept changes after the baseline (the baseline is the starting point, not a kept change). */
  kept: number;
  baselineScore: number | null;
  best: { id: number; score: number; commit: string } | null;
}

/**
 * Something that wants to hear about every recorded experiment (MLflow, a live dashboard feed...).
 * Observers are called after RECORD, in order; they must return quickly (queue slow work themselves) and
 * their errors never stop the loop (they are recorded as `observer.error` events).
 */
export interface ExperimentObserver {
  /** Short name used in error events. */
  readonly name: string;
  /** Called once when the run starts (or resumes). */
  onRunStart?(session: RunSession): void | Promise<void>;
  /** Called after each recorded experiment. */
  onExperiment?(record: ExperimentRecord, session: RunSession): void | Promise<void>;
  /** Called once when the run ends, before the journal closes; may flush queued work (bounded time). */
  onRunEnd?(summary: RunSummary, session: RunSession): void | Promise<void>;
}

/** Options of {@link RunSession.open}. Unset budgets come from the contract. */
export interface SessionOptions {
  projectDir: string;
  /** Run id; an existing, unfinished run with this id is resumed. Default: a timestamp. */
  runId?: string;
  maxExperiments?: number;
  experimentTimeoutMs?: number;
  maxWallClockMs?: number;
  maxConsecutiveFailures?: number;
  /** Run the command without bubblewrap (recorded on every experiment). */
  unsafeNoSandbox?: boolean;
  /** External kill switch (in addition to `ratchet stop`, SIGINT and SIGTERM). */
  signal?: AbortSignal;
  /** Handle SIGINT/SIGTERM (default true; an embedding server such as `ratchet mcp` may handle them itself). */
  handleSignals?: boolean;
  /** Hear about every recorded experiment (e.g. the MLflow tracker). */
  observers?: ExperimentObserver[];
  /** Guardrails a person overrides for this run: id → reason (recorded). Never-overridable ids are refused. */
  overrides?: Record<string, string>;
  /**
   * Directions explored at once (default: the contract's `parallel.directions`, or what a resumed run started
   * with); see docs/ARCHITECTURE.md, "Parallel directions".
   */
  directions?: number;
  /**
   * Where experiments run: `--executor` (default: the contract's `executor.kind`), or a factory given how many run
   * at once (benchmarks inject a simulated executor); see docs/ARCHITECTURE.md, "Executors".
   */
  executor?: ExecutorKind | ((concurrent: number) => Executor);
}

/**
 * One direction of a run (docs/ARCHITECTURE.md, "Parallel directions"): its own branch and worktree, its best
 * kept experiment and its experiments. A run with one direction has one lane, on `ratchet/<run>`.
 */
export interface Lane {
  /** 1-based. */
  direction: number;
  branch: string;
  worktree: string;
  /** The direction's best kept experiment (every direction starts from the run's baseline). */
  best: Best | null;
  /** What the session keeps of the direction's experiments (the baseline belongs to direction 1; see RunTally). */
  tally: LaneTally;
  /** True while an experiment of this direction runs. */
  busy: boolean;
}

/**
 * How many DuckDBs a run's directions share for EVALUATE (see DuckPool): one of 2 threads per two cores, never more
 * than the directions, at least one. Scoring's DuckDB part is short next to its JavaScript part, which runs on the
 * orchestrator's one thread whatever the pool: at 64 directions on 2 cores (bench/scale.ts) a second instance
 * bought no throughput and held its own warmed-up buffers and allocator caches (~60 MB after ~900 evaluations).
 * @param directions the run's directions (≥ 1); @param cores the machine's cores (≥ 1)
 */
export function evalDuckCount(directions: number, cores: number): number {
  return Math.max(1, Math.min(directions, Math.floor(cores / 2)));
}

/** The least time between two trace tidies of a session with several directions, ms (see TraceTidy). */
export const TIDY_INTERVAL_MS = 1000;

/** Branch and worktree of direction `d` of `n` in run `runId`: `ratchet/<run>` alone, `ratchet/<run>/d<d>` with several. */
export function laneRef(
  projectDir: string,
  runId: string,
  d: number,
  n: number,
): { branch: string; worktree: string } {
  return n === 1
    ? { branch: `ratchet/${runId}`, worktree: join(projectDir, WORKTREES_DIR, runId) }
    : { branch: `ratchet/${runId}/d${d}`, worktree: join(projectDir, WORKTREES_DIR, `${runId}-d${d}`) };
}

function defaultRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * An open run: the branch and its worktree, the journal, the run lock, the budgets and the best kept
 * experiment. The loop (`runLoop`) and the MCP server both drive experiments through a session, so the
 * guarantees are the same whoever proposes. One session per project at a time (the run lock).
 */
export class RunSession {
  readonly projectDir: string;
  readonly contract: Contract;
  readonly manifest: SplitManifest;
  readonly lock: Lock;
  readonly python: PythonRuntime;
  readonly journal: Journal;
  readonly runId: string;
  readonly branch: string;
  readonly worktree: string;
  readonly limits: Limits;
  readonly unsafe: boolean;
  /** Where experiments execute (docs/ARCHITECTURE.md, "Executors"). */
  readonly executor: Executor;
  /** True when an unfinished run was reopened. */
  readonly resumed: boolean;
  /**
   * What the session keeps of the run's recorded experiments: counts, the baseline, the plateau and failure
   * counters (bounded: read the journal for the records themselves).
   */
  readonly tally = new RunTally();
  /** The run's directions (one unless `--directions N`); the first is the one `branch` and `worktree` name. */
  readonly lanes: Lane[];
  /** Ids of experiments under way (their trace folders have no journal row yet: never tidied away). */
  private readonly active = new Set<number>();
  /** The trace tidy before each experiment, incremental over the session (see TraceTidy). */
  private readonly tidy: TraceTidy;
  /** Sequence numbers of experiments under way. */
  private readonly activeSeqs = new Set<number>();
  /** The highest sequence number handed out so far (recorded or under way). */
  private lastSeq = 0;
  /** Pairs `<own best id>><other best id>` already tested by {@link adoptBest}. */
  private readonly adoptTested = new Set<string>();
  /** Aborted by the kill switch (stop file, SIGINT/SIGTERM, the caller's signal). */
  readonly signal: AbortSignal;
  /**
   * When the run would have started had it never been stopped (ms since the epoch): now minus the active time
   * of its earlier periods, so `Date.now() - startedAt` is the run's total active time and a resumed run
   * continues its wall-clock budget instead of starting it again.
   */
  readonly startedAt: number;
  /** The split version the run runs on (see contract/splits.ts). */
  readonly splitVersion: number;
  private readonly controller: AbortController;
  private readonly rule: KeepRule;
  /** The run's DuckDBs, lent to each EVALUATE, canary check and resume (see DuckPool). */
  private readonly ducks: DuckPool;
  /** The holdouts' labels, read once per run (re-read when a vault file changes). */
  private readonly vault = new VaultCache();
  private readonly splitStamps: Record<string, StatStamp>;
  private readonly cleanups: (() => void)[] = [];
  private consecutiveTrips = 0;
  private escalation: string | null = null;
  private readonly overrides: Record<string, string>;
  private readonly noise: NoiseRecord | null;
  /** Why the noise measurement does not match the run's load (recorded as a warning at the start), or null. */
  private readonly noiseMismatch: string | null;
  private readonly observers: ExperimentObserver[];
  private closed = false;
  private summary: RunSummary;

  private constructor(init: {
    opts: SessionOptions;
    ready: Awaited<ReturnType<typeof preflight>>;
    journal: Journal;
    runId: string;
    resumed: boolean;
    limits: Limits;
    /** Directions of the run (one lane each). */
    directions: number;
    /** The run's DuckDBs (owned by the session from here: closed with it). */
    ducks: DuckPool;
    priorActiveMs: number;
    splitVersion: number;
  }) {
    const { opts, ready } = init;
    this.projectDir = opts.projectDir;
    this.contract = ready.contract;
    this.manifest = ready.manifest;
    this.lock = ready.lock;
    this.python = ready.python;
    this.journal = init.journal;
    this.runId = init.runId;
    const n = init.directions;
    this.lanes = Array.from({ length: n }, (_, i) => ({
      direction: i + 1,
      ...laneRef(opts.projectDir, init.runId, i + 1, n),
      best: null,
      tally: laneTally(),
      busy: false,
    }));
    this.branch = this.lanes[0]!.branch;
    this.worktree = this.lanes[0]!.worktree;
    this.limits = init.limits;
    this.unsafe = opts.unsafeNoSandbox ?? false;
    // Experiments of all directions share the machine: each gets its share of the cores.
    this.executor =
      typeof opts.executor === 'function'
        ? opts.executor(n)
        : executorFor(ready.contract, ready.python, this.unsafe, n, opts.executor);
    this.resumed = init.resumed;
    // With several directions, at most one tidy a second: they may start many experiments a second (see
    // TraceTidy). One direction tidies before every experiment (one at a time: the tidy's cost does not add up).
    this.tidy = new TraceTidy(
      opts.projectDir,
      ready.contract.retention.keep_last,
      n > 1 ? TIDY_INTERVAL_MS : 0,
    );
    for (const e of init.journal.listExperiments(init.runId)) {
      this.tally.add(e, this.laneOf(e).tally);
      this.lastSeq = Math.max(this.lastSeq, e.seq);
    }
    this.controller = new AbortController();
    this.signal = this.controller.signal;
    // Each direction's running job and proposer call listen to the kill switch at once: with many directions more
    // than Node's default of 10 listeners is expected, not a leak (it printed MaxListenersExceededWarning at 11).
    setMaxListeners(Math.max(defaultMaxListeners, 4 * n), this.signal);
    this.startedAt = Date.now() - init.priorActiveMs;
    this.splitVersion = init.splitVersion;
    this.ducks = init.ducks;
    this.observers = opts.observers ?? [];
    this.overrides = opts.overrides ?? {};
    this.splitStamps = lockStats(opts.projectDir, ready.lock);
    // Seed noise (varied seeds) when measured, else nondeterminism at a fixed seed.
    const metric = ready.contract.metric.primary;
    // Measured under this run's load when it was (the executor's slot class): contention-aware noise.
    const { noise, mismatch } = noiseFor(init.journal, metric, this.executor.slotClass);
    this.noiseMismatch = mismatch;
    this.noise = noise;
    this.rule = keepRuleFor(ready.contract, noise);
    this.summary = {
      runId: this.runId,
      branch: this.lanes.map((l) => l.branch).join(', '),
      status: 'finished',
      reason: '',
      experiments: 0,
      kept: 0,
      baselineScore: null,
      best: null,
    };
  }

  /**
   * Preflight the project, take the run lock, create (or resume) the run and its worktree.
   * @throws RatchetError for a broken setup (see {@link preflight}), a finished run id, or a live run
   */
  static async open(opts: SessionOptions): Promise<RunSession> {
    for (const [id, why] of Object.entries(opts.overrides ?? {})) {
      const g = GUARDRAILS[id];
      if (!g)
        throw new RatchetError(`no guardrail named "${id}"`, {
          field: '--override',
          hint: `use one of: ${Object.keys(GUARDRAILS).join(', ')}`,
        });
      if (!g.overridable) {
        throw new RatchetError(`guardrail ${id} (${g.title}) can never be overridden`, {
          field: '--override',
          hint: g.hint,
          exitCode: 3,
        });
      }
      if (!why.trim())
        throw new RatchetError(`overriding ${id} needs a reason`, {
          field: '--reason',
          hint: 'say why, e.g. --reason "constant baseline is intended"',
        });
    }
    const unsafe = opts.unsafeNoSandbox ?? false;
    const ready = await preflight(opts.projectDir, {
      unsafe,
      ...(typeof opts.executor === 'string' ? { executor: opts.executor } : {}),
    });
    const journal = Journal.open(opts.projectDir);
    // An escalated project runs nothing (no proposer, no agent) until a person clears it.
    const escalation = projectEscalation(journal);
    if (escalation) {
      const r = escalationRefusal(escalation);
      journal.addEvent({
        ts: new Date().toISOString(),
        runId: null,
        experimentId: null,
        kind: 'guardrail',
        severity: 'warning',
        guardrail: r.guardrail,
        message: `a new run was refused: ${r.message}`,
        data: r.data ?? null,
      });
      journal.close();
      throw new RatchetError(`the run was refused: ${escalationMessage(escalation)}`, {
        hint: 'a person reviews it (ratchet status, the Studio) and clears it: ratchet clear --note "<why>"',
        exitCode: 3,
      });
    }
    // A contract that requires offline–online alignment runs nothing until the A/B history shows it.
    try {
      requireAlignment(ready.contract);
    } catch (e) {
      journal.addEvent({
        ts: new Date().toISOString(),
        runId: null,
        experimentId: null,
        kind: 'guardrail',
        severity: 'warning',
        guardrail: 'alignment',
        message: `a new run was refused: ${(e as Error).message}`,
        data: null,
      });
      journal.close();
      throw e;
    }
    // `ratchet run` with no id resumes an interrupted run (status running, its process gone: a crash).
    const latest = journal.getRun();
    const interrupted =
      latest && latest.status === 'running' && !(latest.pid && isAlive(latest.pid)) ? latest : null;
    const existing = opts.runId ? journal.getRun(opts.runId) : interrupted;
    if (existing && existing.status === 'finished') {
      journal.close();
      throw new RatchetError(`run ${existing.id} already finished`, {
        hint: 'start a new run (omit --run) or pick another id',
      });
    }
    const runId = existing?.id ?? opts.runId ?? defaultRunId();
    const splitVersion = currentSplitVersion(journal);
    if (existing && runSplitVersion(existing) !== splitVersion) {
      journal.close();
      throw new RatchetError(
        `run ${existing.id} ran on split version ${runSplitVersion(existing)}; the project was re-split since (version ${splitVersion})`,
        { hint: 'start a new run (omit --run); ratchet submit still scores that run on its own split' },
      );
    }
    try {
      acquireRunLock(opts.projectDir, runId);
    } catch (e) {
      journal.close();
      throw e;
    }
    // A resumed run keeps the budgets it started with, unless the caller gives new ones.
    const c = { ...ready.contract.limits, ...((existing?.config ?? {}) as Partial<Limits>) };
    const limits: Limits = {
      maxExperiments: opts.maxExperiments ?? c.maxExperiments,
      maxWallClockMs: opts.maxWallClockMs ?? c.maxWallClockMs,
      experimentTimeoutMs: opts.experimentTimeoutMs ?? c.experimentTimeoutMs,
      maxConsecutiveFailures: opts.maxConsecutiveFailures ?? c.maxConsecutiveFailures,
    };
    // A resumed run keeps its directions (its branches are named after them); a new one takes the contract's.
    const started = existing ? ((existing.config as { directions?: number }).directions ?? 1) : null;
    const directions = opts.directions ?? started ?? ready.contract.parallel.directions;
    if (!Number.isInteger(directions) || directions < 1 || directions > MAX_DIRECTIONS) {
      journal.close();
      releaseRunLock(opts.projectDir);
      throw new RatchetError(
        `directions must be a whole number from 1 to ${MAX_DIRECTIONS}, got ${directions}`,
        {
          field: '--directions',
          hint: `each direction holds a worktree and a proposer: give at most ${MAX_DIRECTIONS} (parallel.directions has the same limit)`,
        },
      );
    }
    if (started !== null && directions !== started) {
      journal.close();
      releaseRunLock(opts.projectDir);
      throw new RatchetError(`run ${existing!.id} started with ${started} direction(s), not ${directions}`, {
        field: '--directions',
        hint: 'resume it without --directions, or start a new run',
      });
    }
    // Directions score at the same time, but scoring is CPU work here, and its JavaScript half runs on this one
    // thread anyway: one DuckDB of 2 threads per two cores (one on the machines Ratchet targets), lent per use.
    const ducks = await DuckPool.open(evalDuckCount(directions, availableParallelism()), 2, {
      spillDir: join(opts.projectDir, SPILL_DIR),
      memoryMB: evalMemoryMB(ready.manifest),
    });
    // A resumed run continues its wall clock from where it stopped (the sum of its active periods).
    const priorActiveMs = existing ? runActiveMs(existing, false) : 0;
    const s = new RunSession({
      splitVersion,
      opts,
      ready,
      journal,
      runId,
      resumed: Boolean(existing),
      limits,
      directions,
      ducks,
      priorActiveMs,
    });
    try {
      await s.start(opts, ready.head);
    } catch (e) {
      await s.close('failed', (e as Error).message);
      throw e;
    }
    return s;
  }

  private async start(opts: SessionOptions, head: string): Promise<void> {
    const unwatch = watchStop(this.projectDir, this.controller, opts.handleSignals ?? true);
    this.cleanups.push(unwatch);
    if (opts.signal) {
      const onExternal = () => this.controller.abort(opts.signal?.reason ?? new Error('aborted'));
      if (opts.signal.aborted) onExternal();
      opts.signal.addEventListener('abort', onExternal, { once: true });
      this.cleanups.push(() => opts.signal?.removeEventListener('abort', onExternal));
    }
    if (this.resumed) {
      this.journal.updateRun(this.runId, {
        status: 'running',
        pid: process.pid,
        endedAt: null,
        stopReason: null,
      });
    } else {
      this.journal.createRun({
        id: this.runId,
        branch: this.branch,
        worktree: this.worktree,
        baseCommit: head,
        proposer: 'pending',
        status: 'running',
        startedAt: new Date().toISOString(),
        unsafe: this.unsafe,
        pid: process.pid,
        config: {
          ...this.limits,
          unsafe: this.unsafe,
          splitVersion: this.splitVersion,
          directions: this.lanes.length,
        },
      });
    }
    this.checkpoint();
    const clock = setInterval(() => this.checkpoint(), ACTIVE_CHECKPOINT_MS);
    clock.unref();
    this.cleanups.push(() => clearInterval(clock));
    mkdirSync(join(this.projectDir, WORKTREES_DIR), { recursive: true });
    for (const lane of this.lanes) {
      if (existsSync(lane.worktree)) await removeWorktree(this.projectDir, lane.worktree);
      rmSync(lane.worktree, { recursive: true, force: true });
      await addWorktree(this.projectDir, lane.worktree, lane.branch, head);
    }
    this.event(
      'run.started',
      'info',
      `${this.resumed ? 'resumed' : 'started'} run ${this.runId} on ${this.lanes.map((l) => l.branch).join(', ')}`,
      {
        limits: this.limits,
        unsafe: this.unsafe,
        directions: this.lanes.length,
        slotClass: this.executor.slotClass,
        threads: this.executor.threads,
      },
    );
    if (this.noiseMismatch) this.event('noise.mismatch', 'warning', this.noiseMismatch, null);
    for (const [id, why] of Object.entries(this.overrides)) {
      this.event(
        'guardrail.override',
        'warning',
        `guardrail ${id} overridden for this run: ${why}`,
        { reason: why },
        id,
      );
    }
    if (this.unsafe) {
      const g = guardrail('sandbox-unsafe');
      this.event(
        'guardrail',
        'warning',
        `experiments run WITHOUT the sandbox (--unsafe-no-sandbox): ${g.hint}`,
        null,
        g.id,
      );
    }
    if (this.resumed) {
      // After a crash the journal is the record: results.tsv is rebuilt from it, and the branch goes back to
      // the last kept commit the journal knows (a commit made just before the crash is dropped).
      rewriteResults(this.projectDir, this.journal.listExperiments());
      const run = this.journal.getRun(this.runId)!;
      this.event('run.resumed', 'info', `resumed after ${this.tally.count} recorded experiments`, {
        experiments: this.tally.count,
      });
      if (!this.tally.anyKept) for (const lane of this.lanes) await resetHard(lane.worktree, run.baseCommit);
    }
    // Resume: each direction's branch must sit on its last kept commit recorded in the journal; a direction that
    // kept nothing yet starts from the baseline (direction 1's first keep).
    let baseline: Best | null = null;
    for (const lane of this.lanes) {
      const lastKept = lane.tally.lastKept;
      if (lastKept) {
        await resetHard(lane.worktree, lastKept.commitSha!);
        const runs = await this.loadRuns(lastKept);
        lane.best = {
          id: lastKept.id,
          score: lastKept.score!,
          input: runs.inputs[0] ?? null,
          commit: lastKept.commitSha!,
          params: lastKept.params,
          runs,
        };
        prepareBest(this.rule, lane.best.input);
      }
      if (lane.direction === 1) {
        const b = this.tally.baseline;
        const first = b?.decision === 'kept' && b.commitSha ? b : undefined;
        baseline = first && lane.best?.id === first.id ? lane.best : null;
        if (first && !baseline) {
          const runs = await this.loadRuns(first);
          baseline = {
            id: first.id,
            score: first.score!,
            input: runs.inputs[0] ?? null,
            commit: first.commitSha!,
            params: first.params,
            runs,
          };
        }
      } else if (!lane.best && baseline) {
        await resetHard(lane.worktree, baseline.commit);
        lane.best = baseline;
      }
    }
    await this.notify('onRunStart', (o) => o.onRunStart?.(this));
  }

  /** Call one hook of every observer; an observer's error becomes an event, never a failure of the run. */
  private async notify(hook: string, call: (o: ExperimentObserver) => void | Promise<void>): Promise<void> {
    for (const o of this.observers) {
      try {
        await call(o);
      } catch (e) {
        this.event('observer.error', 'warning', `${o.name}.${hook} failed: ${(e as Error).message}`, {
          observer: o.name,
          hook,
        });
      }
    }
  }

  /** Align the public predictions in `dirs` (output folders), or null when any is unreadable. */
  private async alignAll(dirs: string[]): Promise<(MetricInput | null)[] | null> {
    // A custom evaluator leaves no per-row predictions to align.
    if (this.contract.evaluator) return dirs.map(() => null);
    const out: MetricInput[] = [];
    for (const d of dirs) {
      const path = predictionsFile(d, 'public');
      if (typeof path !== 'string') return null;
      const a = await this.ducks.use((duck) =>
        alignPredictions({
          predictionsPath: path,
          labelsPath: join(this.projectDir, VAULT_DIR, 'public.parquet'),
          manifest: this.manifest,
          con: duck.con,
          vault: this.vault,
        }),
      );
      if (!a.ok) return null;
      out.push(a.input);
    }
    return out;
  }

  /** A kept experiment's runs over seeds, from its trace folder (its own output, then confirm-<j>/output). */
  private async loadRuns(e: ExperimentRecord): Promise<Runs> {
    const dir = experimentDir(this.projectDir, e.id);
    const scores = (e.meta?.['runs'] as number[] | undefined) ?? [e.score!];
    const dirs = scores.map((_, j) => (j === 0 ? join(dir, 'output') : join(dir, `confirm-${j}`, 'output')));
    const inputs = await this.alignAll(dirs);
    if (!inputs)
      throw new RatchetError(`cannot resume: the predictions of experiment ${e.id} are unreadable`, {
        hint: `see ${dir}`,
      });
    return { scores, inputs };
  }

  /** The noise runs measured by `ratchet check` (their output folders are recorded with them), or null. */
  private async loadNoiseRuns(noise: NoiseRecord): Promise<Runs | null> {
    if (noise.outputs.length !== noise.scores.length) return null;
    const inputs = await this.alignAll(noise.outputs);
    return inputs ? { scores: noise.scores, inputs } : null;
  }

  /** Record the name of the run's proposer. */
  setProposer(name: string): void {
    this.journal.updateRun(this.runId, { proposer: name });
  }

  /** Append a run-level event to the journal. */
  event(
    kind: string,
    severity: 'info' | 'warning' | 'error',
    message: string,
    data: Record<string, unknown> | null = null,
    guard: string | null = null,
  ): void {
    this.journal.addEvent({
      ts: new Date().toISOString(),
      runId: this.runId,
      experimentId: null,
      kind,
      severity,
      guardrail: guard,
      message,
      data,
    });
  }

  /** The run's active time so far, ms: every earlier active period plus this one. */
  elapsedMs(): number {
    return Date.now() - this.startedAt;
  }

  /** Persist the active time (every few seconds and at close), so a crash loses at most a few seconds of it. */
  private checkpoint(): void {
    if (!this.journal.isOpen) return;
    try {
      this.journal.setActiveMs(this.runId, this.elapsedMs(), new Date().toISOString());
    } catch {
      // a busy journal: the next checkpoint writes it
    }
  }

  /** Budgets left now. */
  budgetsLeft(): Budgets {
    return {
      experiments: Math.max(0, this.limits.maxExperiments - this.tally.count - this.activeSeqs.size),
      wallClockMs: Math.max(0, this.limits.maxWallClockMs - (Date.now() - this.startedAt)),
      consecutiveFailures: this.limits.maxConsecutiveFailures - this.tally.failuresInARow,
    };
  }

  /**
   * Why the run must end before another experiment (kill switch, a budget, too many failures), or null.
   * Also re-verifies the locked contract files and the split files' stamps.
   * @throws RatchetError when a locked file changed mid-run
   */
  async stopCheck(): Promise<{ status: RunSummary['status']; reason: string } | null> {
    if (this.signal.aborted)
      return {
        status: 'stopped',
        reason: `stopped: ${(this.signal.reason as Error)?.message ?? 'kill switch'}`,
      };
    // Experiments under way in other directions count: the budget is shared, never overrun.
    if (this.tally.count + this.activeSeqs.size >= this.limits.maxExperiments) {
      const p = this.contract.suspicion.plateau;
      if (p > 0 && this.tally.count > p && this.tally.sinceKept >= p) {
        return {
          status: 'escalated',
          reason: `${PLATEAU}the experiment budget (${this.limits.maxExperiments}) ran out and the last ${p} experiments kept nothing`,
        };
      }
      return { status: 'finished', reason: `experiment budget used (${this.limits.maxExperiments})` };
    }
    if (Date.now() - this.startedAt >= this.limits.maxWallClockMs) {
      return {
        status: 'finished',
        reason: `wall-clock budget used (${formatDuration(this.limits.maxWallClockMs)})`,
      };
    }
    if (this.escalation) return { status: 'escalated', reason: this.escalation };
    // escalated elsewhere meanwhile (e.g. a submit's public-private gap): nothing more runs until a person clears it
    const elsewhere = projectEscalation(this.journal);
    if (elsewhere) return { status: 'stopped', reason: `stopped: ${escalationMessage(elsewhere)}` };
    const sus = this.contract.suspicion;
    if (this.consecutiveTrips >= sus.consecutive_trips) {
      return {
        status: 'escalated',
        reason: `${this.consecutiveTrips} guardrail trips in a row: needs a person`,
      };
    }
    if (this.tally.failuresInARow >= this.limits.maxConsecutiveFailures) {
      return {
        status: 'escalated',
        reason: `${this.tally.failuresInARow} consecutive failed experiments: needs a person`,
      };
    }
    await verifyLock({ ...this.lock, splits: {} }, this.projectDir, this.projectDir);
    checkLockStats(this.projectDir, this.lock, this.splitStamps);
    return null;
  }

  /**
   * Run one experiment with `proposer` (the baseline when nothing is kept yet) and record it.
   * @param onStart called once the hypothesis is known, before CHECK (with the experiment's id and seq)
   * @param direction the direction (1-based) it runs in; directions other than 1 start once the baseline is kept
   * @returns the record, or 'aborted' when the kill switch interrupted it (nothing recorded)
   */
  async experiment(
    proposer: Proposer,
    onStart: (id: number, hypothesis: string, seq: number) => void = () => {},
    direction = 1,
  ): Promise<ExperimentRecord | 'aborted'> {
    if (this.closed) throw new Error('the run session is closed');
    const lane = this.lanes[direction - 1];
    if (!lane) throw new RangeError(`no direction ${direction} in a run with ${this.lanes.length}`);
    if (lane.busy) throw new Error(`direction ${direction} already runs an experiment`);
    if (!lane.best && direction !== 1)
      throw new Error(`direction ${direction} starts once the baseline (direction 1) is kept`);
    const remaining = this.limits.maxWallClockMs - (Date.now() - this.startedAt);
    // Unique over the run: after every recorded and every running experiment (an aborted one leaves a gap).
    const seq = ++this.lastSeq;
    lane.busy = true;
    this.activeSeqs.add(seq);
    let rec: Awaited<ReturnType<typeof runExperiment>>;
    try {
      rec = await runExperiment({
        projectDir: this.projectDir,
        contract: this.contract,
        manifest: this.manifest,
        lock: this.lock,
        journal: this.journal,
        runId: this.runId,
        seq,
        direction: this.lanes.length > 1 ? direction : null,
        worktree: lane.worktree,
        python: this.python,
        executor: this.executor,
        proposer,
        best: lane.best,
        history: lane.tally.recent,
        baseline: this.tally.baseline,
        active: this.active,
        tidy: this.tidy,
        timeoutMs: Math.max(1000, Math.min(this.limits.experimentTimeoutMs, remaining)),
        unsafe: this.unsafe,
        signal: this.signal,
        rule: this.rule,
        ducks: this.ducks,
        vault: this.vault,
        overrides: this.overrides,
        onStart: (id, hypothesis) => onStart(id, hypothesis, seq),
      });
    } finally {
      lane.busy = false;
      this.activeSeqs.delete(seq);
    }
    if (rec === 'aborted') return rec;
    this.tally.add(rec.record, lane.tally);
    if (rec.record.decision === 'kept') {
      lane.best = rec.best!;
      // The baseline's other seeds are the noise runs of the same commit, when ratchet check measured them.
      if (
        rec.record.seq === 1 &&
        this.noise?.kind === 'varied-seed' &&
        this.noise.commitSha === rec.record.parentSha
      ) {
        const noiseRuns = await this.loadNoiseRuns(this.noise);
        if (noiseRuns) {
          lane.best.runs = {
            scores: [...lane.best.runs.scores, ...noiseRuns.scores],
            inputs: [...lane.best.runs.inputs, ...noiseRuns.inputs],
          };
        }
      }
      // Every direction starts from the baseline: its commit and its scores.
      if (rec.record.seq === 1) {
        for (const other of this.lanes.slice(1)) {
          await resetHard(other.worktree, lane.best.commit);
          other.best = lane.best;
        }
      }
    }
    const tripped = rec.record.decision === 'rejected' && rec.record.sandboxStatus === 'skipped';
    this.consecutiveTrips = tripped ? this.consecutiveTrips + 1 : 0;
    if (rec.escalate) this.escalation = `escalated by experiment ${rec.record.id}: ${rec.escalate}`;
    await this.notify('onExperiment', (o) => o.onExperiment?.(rec.record, this));
    return rec.record;
  }

  /**
   * Move direction `direction` onto the best of the other directions when that best beats its own by the keep rule
   * (the same test a keep runs, the measured noise included; over seeds when both have confirmation runs): its
   * worktree and branch are reset to that commit and it continues from there, recorded as a `direction.adopted`
   * event. Only between experiments of the direction (never while it runs one); a no-op with one direction or when
   * the contract's `parallel.adopt_best` is false.
   * @returns the adopted best's experiment id, or null when nothing was adopted
   */
  async adoptBest(direction: number): Promise<number | null> {
    const lane = this.lanes[direction - 1];
    if (!lane?.best || lane.busy || this.lanes.length < 2 || !this.contract.parallel.adopt_best) return null;
    const sign = this.contract.direction === 'maximize' ? 1 : -1;
    let top: Best | null = null;
    let topLane = 0;
    for (const other of this.lanes) {
      if (other === lane || !other.best || other.best.id === lane.best.id) continue;
      if (!top || sign * (other.best.score - top.score) > 0) {
        top = other.best;
        topLane = other.direction;
      }
    }
    if (!top || !(sign * (top.score - lane.best.score) > 0)) return null;
    const mine = lane.best;
    // Each pair is tested once: the test's answer does not change until one of the two bests does.
    const pair = `${mine.id}>${top.id}`;
    if (this.adoptTested.has(pair)) return null;
    this.adoptTested.add(pair);
    const v = decideKeep(this.rule, { score: mine.score, input: mine.input, runs: mine.runs }, top);
    const c = v.needsConfirmation ? confirmKeep(this.rule, mine.runs, top.runs) : null;
    if (!(c ? c.keep : v.keep)) return null;
    await resetHard(lane.worktree, top.commit);
    lane.best = top;
    this.event(
      'direction.adopted',
      'info',
      `direction ${direction} adopted direction ${topLane}'s best #${top.id} (${this.contract.metric.primary} ${top.score.toFixed(6)} over its own #${mine.id} ${mine.score.toFixed(6)}): ${c ? c.reason : v.reason}`,
      { direction, from: topLane, experiment: top.id, commit: top.commit, replaced: mine.id },
    );
    return top.id;
  }

  /**
   * Under the contract's `parallel.budget: verified-gains`, why direction `direction` must pause instead of starting
   * another experiment (its share of the experiments left fell below one; see {@link budgetPause}), recorded once as
   * a `direction.paused` event; null when it may go on (always under `even`).
   */
  budgetPause(direction: number): string | null {
    if (this.contract.parallel.budget !== 'verified-gains' || this.lanes.length < 2) return null;
    const left = this.limits.maxExperiments - this.tally.count - this.activeSeqs.size;
    const why = budgetPause(
      budgetShares(this.lanes.map((l) => ({ tried: l.tally.tried, verified: l.tally.kept }))),
      direction,
      left,
    );
    if (why) this.event('direction.paused', 'info', why, { direction, left });
    return why;
  }

  /** The best kept experiment over every direction (null before the baseline). */
  get best(): Best | null {
    const sign = this.contract.direction === 'maximize' ? 1 : -1;
    let top: Best | null = null;
    for (const l of this.lanes) if (l.best && (!top || sign * (l.best.score - top.score) > 0)) top = l.best;
    return top;
  }

  /** The lane of a recorded experiment (experiments of a one-direction run belong to direction 1). */
  private laneOf(e: ExperimentRecord): Lane {
    return this.lanes[(e.direction ?? 1) - 1] ?? this.lanes[0]!;
  }

  /** Abort the run (the same as `ratchet stop`). */
  stop(reason = 'stopped'): void {
    if (!this.signal.aborted) this.controller.abort(new Error(reason));
  }

  /**
   * End the run: record its status, leave the branch clean at its last kept commit, remove the worktree,
   * close the journal and release the run lock. Safe to call twice.
   */
  async close(status?: RunSummary['status'], reason?: string): Promise<RunSummary> {
    if (this.closed) return this.summary;
    this.closed = true;
    for (const c of this.cleanups) c();
    const s = this.summary;
    s.status = status ?? 'finished';
    s.reason = reason ?? '';
    s.experiments = this.tally.count;
    s.kept = this.tally.kept;
    s.baselineScore = this.tally.baseline?.score ?? null;
    s.best = this.best ? { id: this.best.id, score: this.best.score, commit: this.best.commit } : null;
    await this.notify('onRunEnd', (o) => o.onRunEnd?.(s, this));
    this.ducks.close();
    for (const lane of this.lanes) {
      if (existsSync(lane.worktree)) {
        await git(lane.worktree, ['reset', '-q', '--hard', 'HEAD']).catch(() => undefined);
        await removeWorktree(this.projectDir, lane.worktree);
      }
    }
    if (this.journal.getRun(this.runId)) {
      this.checkpoint();
      this.journal.updateRun(this.runId, {
        status: s.status,
        stopReason: s.reason,
        endedAt: new Date().toISOString(),
        pid: null,
      });
      const bad = s.status === 'failed' || s.status === 'escalated';
      if (s.status === 'escalated')
        this.event('escalation', 'error', s.reason, {
          cause: s.reason.startsWith(PLATEAU) ? 'plateau' : 'integrity',
        });
      this.event(`run.${s.status}`, bad ? 'error' : 'info', s.reason, {
        experiments: s.experiments,
        kept: s.kept,
        best: s.best,
      });
    }
    this.journal.close();
    releaseRunLock(this.projectDir);
    return s;
  }
}

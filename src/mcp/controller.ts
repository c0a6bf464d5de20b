/**
 * The state behind `ratchet mcp`: one run session opened on demand, and the discipline an outside agent works
 * under, enforced here (server-side), not in a prompt: a hypothesis before every experiment, the last
 * experiment's conclusion before the next one, never the same change twice (refused with the earlier result),
 * optional phase gates, a rate limit, the run's budgets and the agent's token/cost caps. Every refusal is a
 * journal event with its guardrail id. The private holdout's score is never returned by anything here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractSummary, readProgram } from '../agents/brief.js';
import {
  checkDoNotRetry,
  checkHypothesis,
  checkPhase,
  checkRateLimit,
  concludedIds,
  conclusionRefusal,
  fingerprint,
  pendingConclusion,
  type Refusal,
  recordConclusion,
  recordRefusal,
} from '../agents/discipline.js';
import { type DigestEntry, digestEntry } from '../agents/history.js';
import {
  CLEAR_COMMAND,
  escalationMessage,
  escalationRefusal,
  isAgentExperiment,
  projectEscalation,
  projectStarts,
} from '../agents/limits.js';
import { AgentRules } from '../agents/rules.js';
import { type AgentSettings, agentSettings } from '../agents/settings.js';
import { parseReportedUsage, totalTokens, type Usage, usageJson } from '../agents/usage.js';
import { type Contract, loadContract } from '../contract/load.js';
import { adoptionsOf, type DirectionSummary, directionSummaries } from '../journal/directions.js';
import { type ExperimentRecord, JOURNAL_FILE, Journal } from '../journal/store.js';
import { activeRun } from '../loop/control.js';
import { experimentDir, RUNS_DIR } from '../loop/paths.js';
import { RunSession, type SessionOptions } from '../loop/session.js';
import { paramsOf } from '../proposers/command/index.js';
import type { Proposer } from '../proposers/types.js';
import { submit } from '../tiers/submit.js';
import {
  type GrepQuery,
  type GrepResult,
  isPrivateEvent,
  journalQuery,
  type SqlResult,
  traceGrep,
} from '../traces/index.js';
import { RatchetError } from '../util/errors.js';

/** Options of the MCP server (CLI flags of `ratchet mcp`). */
export interface McpOptions {
  projectDir: string;
  /** Open (or resume) this run id instead of a new one. */
  runId?: string;
  unsafeNoSandbox?: boolean;
  maxExperiments?: number;
  experimentTimeoutMs?: number;
  maxWallClockMs?: number;
  /** How often a long tool reports progress, ms (default 5000). */
  progressIntervalMs?: number;
  /** Logger for diagnostics (stderr in `ratchet mcp`: stdout is the protocol). */
  log?: (line: string) => void;
}

/** A progress reporter a tool passes in (the server turns it into `notifications/progress`). */
export type Progress = (message: string) => void;

/** An experiment as the agent sees it after it ran. */
export interface ExperimentView extends DigestEntry {
  metrics: Record<string, number>;
  params: Record<string, unknown> | null;
  commit: string | null;
  duration_s: number;
  started_at: string;
  /** The direction it ran in, in a run of `ratchet run --directions N` (absent in a run with one). */
  direction?: number;
}

/** The agent-facing view of an experiment record (public fields only). */
export function experimentView(e: ExperimentRecord): ExperimentView {
  return {
    ...digestEntry(e),
    metrics: e.metrics,
    params: e.params,
    commit: e.commitSha,
    duration_s: Math.round(e.durationMs) / 1000,
    started_at: e.startedAt,
    ...(e.direction ? { direction: e.direction } : {}),
  };
}

/** A refusal as the agent reads it. */
export interface RefusalView {
  guardrail: string;
  message: string;
  earlier?: Refusal['earlier'];
  retry_after_s?: number;
}

const refusalView = (r: Refusal): RefusalView => ({
  guardrail: r.guardrail,
  message: r.message,
  ...(r.earlier ? { earlier: r.earlier } : {}),
  ...(r.retryAfterS !== undefined ? { retry_after_s: r.retryAfterS } : {}),
});

/** The result of start_experiment. */
export interface StartResult {
  accepted: boolean;
  /** The run was opened (and its baseline measured) by this call: edit the worktree, then call again. */
  opened: boolean;
  refusals: RefusalView[];
  experiment: ExperimentView | null;
  best: { id: number; score: number } | null;
  worktree: string | null;
  next: string;
}

/** The MCP server's state: the open session, the agent's rules, and every tool's logic. */
export class McpController {
  readonly projectDir: string;
  readonly opts: McpOptions;
  private session: RunSession | null = null;
  private rules: AgentRules | null = null;
  private busy: string | null = null;
  private lastRunId: string | null = null;
  private closing: Promise<void> | null = null;

  constructor(opts: McpOptions) {
    this.opts = opts;
    this.projectDir = opts.projectDir;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** The contract (read fresh, so errors name the file and field). */
  contract(): Contract {
    return loadContract(this.projectDir);
  }

  /** The agent section in machine units. */
  settings(contract = this.contract()): AgentSettings {
    return agentSettings(contract);
  }

  /** The open session, if any. */
  get current(): RunSession | null {
    return this.session;
  }

  /** A read-only journal for reads without a session (null before anything ran). */
  private withJournal<T>(fn: (j: Journal) => T, fallback: T): T {
    if (this.session) return fn(this.session.journal);
    if (!existsSync(join(this.projectDir, JOURNAL_FILE))) return fallback;
    const j = Journal.open(this.projectDir, { readonly: true });
    try {
      return fn(j);
    } finally {
      j.close();
    }
  }

  /** Record a refusal (with a short-lived journal when no run is open). */
  private refuse(r: Refusal): void {
    if (this.rules) {
      this.rules.refuse(r);
      return;
    }
    const j = Journal.open(this.projectDir);
    try {
      recordRefusal(j, null, r, 'mcp agent');
    } finally {
      j.close();
    }
  }

  private guard(what: string): void {
    if (this.busy) {
      throw new RatchetError(`${this.busy} is in progress`, {
        hint: `wait for it to finish before ${what} (get_status shows what runs)`,
      });
    }
  }

  /**
   * Open a run (a new branch and worktree, or `opts.runId` resumed) and measure its baseline.
   * @throws RatchetError for a broken setup (the preflight's message), a live run elsewhere, or a baseline that
   *   produced no valid score
   */
  async openRun(progress: Progress): Promise<{ opened: boolean; baseline: ExperimentView | null }> {
    if (this.session) return { opened: false, baseline: null };
    this.guard('opening a run');
    this.busy = 'opening the run';
    try {
      const so: SessionOptions = {
        projectDir: this.projectDir,
        handleSignals: false,
        unsafeNoSandbox: this.opts.unsafeNoSandbox ?? false,
      };
      if (this.opts.runId && !this.lastRunId) so.runId = this.opts.runId;
      if (this.opts.maxExperiments) so.maxExperiments = this.opts.maxExperiments;
      if (this.opts.experimentTimeoutMs) so.experimentTimeoutMs = this.opts.experimentTimeoutMs;
      if (this.opts.maxWallClockMs) so.maxWallClockMs = this.opts.maxWallClockMs;
      progress('preflight: contract, lock, sandbox, Python');
      const session = await RunSession.open(so);
      this.session = session;
      this.lastRunId = session.runId;
      session.setProposer('mcp');
      this.rules = new AgentRules({
        contract: session.contract,
        settings: agentSettings(session.contract),
        runId: session.runId,
        stateDir: join(this.projectDir, '.ratchet', 'proposers', session.runId, 'mcp'),
        source: 'mcp agent',
        journal: session.journal,
        budgets: () => {
          const b = session.budgetsLeft();
          return {
            experiments: b.experiments,
            wallClockMs: b.wallClockMs,
            maxExperiments: session.limits.maxExperiments,
          };
        },
      });
      session.signal.addEventListener('abort', () => void this.onAbort(), { once: true });
      this.log(`opened run ${session.runId} (worktree ${session.worktree})`);
      const baseline = session.tally.baseline;
      if (session.tally.count > 0 && baseline) return { opened: true, baseline: experimentView(baseline) };
      progress('measuring the baseline');
      let rec: ExperimentRecord | 'aborted';
      try {
        rec = await this.runOne(this.proposer('baseline', {}), progress);
      } catch (e) {
        await this.closeSession('failed', `the baseline failed: ${(e as Error).message}`);
        throw e;
      }
      if (rec === 'aborted' || session.signal.aborted) {
        await this.closeSession('stopped', 'stopped while the baseline ran');
        throw new RatchetError('the run was stopped (kill switch) while its baseline ran', {
          hint: 'open_run starts a new run when the person allows it',
        });
      }
      if (rec.decision !== 'kept') {
        await this.closeSession(
          'failed',
          `the baseline did not produce a valid score: ${rec.decision}: ${rec.reason}`,
        );
        throw new RatchetError(`the baseline did not produce a valid score: ${rec.decision}: ${rec.reason}`, {
          hint: 'fix the training command (see get_experiment for its logs), then open a new run',
        });
      }
      return { opened: true, baseline: experimentView(rec) };
    } finally {
      this.busy = null;
    }
  }

  /** The proposer handed to the session: the change is already in the worktree; it only states the hypothesis. */
  private proposer(hypothesis: string, meta: Record<string, unknown>): Proposer {
    const contract = this.session!.contract;
    const worktree = this.session!.worktree;
    return {
      name: 'mcp',
      propose: async () => {
        const params = paramsOf(contract, worktree);
        return { hypothesis, ...(params ? { params } : {}), meta: { agent: { proposer: 'mcp', ...meta } } };
      },
      observe: async () => {},
      close: async () => {},
    };
  }

  /** Run one experiment through the session, reporting progress until it is recorded. */
  private async runOne(proposer: Proposer, progress: Progress): Promise<ExperimentRecord | 'aborted'> {
    const session = this.session!;
    const t0 = Date.now();
    let label = 'the experiment';
    const timer = setInterval(
      () => progress(`${label}: running for ${Math.round((Date.now() - t0) / 1000)} s`),
      this.opts.progressIntervalMs ?? 5000,
    );
    timer.unref();
    try {
      return await session.experiment(proposer, (id, hypothesis) => {
        label = `experiment #${id}`;
        progress(`${label} started: ${hypothesis.slice(0, 120)}`);
      });
    } finally {
      clearInterval(timer);
    }
  }

  /** The session's kill switch fired (ratchet stop, the Studio): end the run as soon as nothing runs. */
  private async onAbort(): Promise<void> {
    const s = this.session;
    if (!s || this.busy) return;
    await this.closeSession('stopped', `stopped: ${(s.signal.reason as Error)?.message ?? 'kill switch'}`);
  }

  /** Close the open session (if any) with a status. */
  async closeSession(status: 'finished' | 'stopped' | 'failed' | 'escalated', reason: string): Promise<void> {
    if (this.closing) return this.closing;
    const s = this.session;
    if (!s) return;
    this.closing = (async () => {
      this.rules = null;
      this.session = null;
      await s.close(status, reason).catch((e) => this.log(`closing run ${s.runId}: ${(e as Error).message}`));
      this.log(`closed run ${s.runId}: ${status} (${reason})`);
    })();
    try {
      await this.closing;
    } finally {
      this.closing = null;
    }
  }

  /**
   * Run the agent's change (already in the worktree) as one experiment, after every discipline rule agreed.
   * Without an open run, opens one and measures its baseline instead (the new worktree cannot hold a change yet).
   * @param usage the agent's cumulative usage so far (tokens, cost), for the caps
   */
  async startExperiment(hypothesis: string, usage: Usage | null, progress: Progress): Promise<StartResult> {
    if (!this.session) {
      const esc = this.withJournal((j) => projectEscalation(j), null);
      if (esc) {
        const r = escalationRefusal(esc);
        this.refuse(r);
        return {
          ...this.refused([r], null),
          next: `nothing runs until a person clears it (${CLEAR_COMMAND})`,
        };
      }
      const h = checkHypothesis(hypothesis, this.settings().discipline.min_hypothesis_chars);
      if (h) {
        this.refuse(h);
        return this.refused([h], null);
      }
      const o = await this.openRun(progress);
      const s = this.session as RunSession | null;
      return {
        accepted: false,
        opened: true,
        refusals: [],
        experiment: o.baseline,
        best: s?.best ? { id: s.best.id, score: s.best.score } : null,
        worktree: s?.worktree ?? null,
        next:
          `the run is open and its baseline measured. Make your change in ${s?.worktree} (surface: ` +
          `${s?.contract.surface.join(', ')}), then call start_experiment again with your hypothesis.`,
      };
    }
    this.guard('starting an experiment');
    const session = this.session;
    const rules = this.rules!;
    const d = rules.settings.discipline;
    const stop = await session.stopCheck();
    if (stop) {
      const r: Refusal = {
        guardrail: 'budget',
        message: `the run is over: ${stop.reason}`,
        data: { status: stop.status },
      };
      rules.refuse(r);
      const worktree = session.worktree;
      await this.closeSession(stop.status, stop.reason);
      return {
        ...this.refused([r], worktree),
        next: 'the run has ended; open_run starts a new one (a new direction)',
      };
    }
    if (usage) rules.ledger.raiseTo(usage);
    const refusals: Refusal[] = [];
    const cap = rules.capTrip();
    if (cap) refusals.push(cap);
    const h = checkHypothesis(hypothesis, d.min_hypothesis_chars);
    if (h) refusals.push(h);
    const pending = rules.pending();
    if (pending) refusals.push(conclusionRefusal(pending));
    if (d.rate_limit && rules.settings.ratePerMs) {
      // the window counts the agent's experiments in every run of the project, not only this one
      const starts = projectStarts(session.journal, 'mcp');
      const r = checkRateLimit(d.rate_limit.max, rules.settings.ratePerMs, starts);
      if (r) refusals.push(r);
    }
    const fp = await fingerprint(session.worktree);
    if (fp.empty) {
      refusals.push({
        guardrail: 'no-op',
        message: `the worktree ${session.worktree} holds no change: edit a file of the surface (${session.contract.surface.join(', ')}) first`,
      });
    } else {
      if (d.do_not_retry) {
        const r = checkDoNotRetry(this.projectDir, session.journal.listExperiments(), fp);
        if (r) refusals.push(r);
      }
      if (d.phases.length > 0) {
        const run = session.journal.listExperiments(session.runId);
        const r = await checkPhase(this.projectDir, d.phases, run, session.worktree);
        if (r) refusals.push(r);
      }
    }
    if (refusals.length > 0) {
      for (const r of refusals) rules.refuse(r);
      return this.refused(refusals, session.worktree);
    }
    this.busy = 'an experiment';
    let rec: ExperimentRecord | 'aborted';
    try {
      rec = await this.runOne(
        this.proposer(hypothesis.trim(), { patch_hash: fp.patchHash, usage: usageJson(rules.ledger.usage) }),
        progress,
      );
    } finally {
      this.busy = null;
    }
    if (rec === 'aborted' || session.signal.aborted) {
      await this.closeSession(
        'stopped',
        `stopped: ${(session.signal.reason as Error)?.message ?? 'kill switch'}`,
      );
      return {
        accepted: true,
        opened: false,
        refusals: [],
        experiment: rec === 'aborted' ? null : experimentView(rec),
        best: null,
        worktree: null,
        next: 'the run was stopped by its kill switch (ratchet stop); nothing more runs in it',
      };
    }
    const e = experimentView(rec);
    const needs = d.require_conclusion && rec.decision !== 'rejected';
    return {
      accepted: true,
      opened: false,
      refusals: [],
      experiment: e,
      best: session.best ? { id: session.best.id, score: session.best.score } : null,
      worktree: session.worktree,
      next:
        `${rec.decision === 'kept' ? 'kept and committed' : `${rec.decision}: the worktree is back at the last kept commit`}. ` +
        (needs
          ? `Conclude it with log_conclusion({experiment_id: ${rec.id}, conclusion}) before the next start_experiment.`
          : 'Make your next change, then call start_experiment.'),
    };
  }

  private refused(refusals: Refusal[], worktree: string | null): StartResult {
    return {
      accepted: false,
      opened: false,
      refusals: refusals.map(refusalView),
      experiment: null,
      best: this.session?.best ? { id: this.session.best.id, score: this.session.best.score } : null,
      worktree,
      next: `refused by ${refusals.map((r) => r.guardrail).join(', ')}: fix that, then call start_experiment again`,
    };
  }

  /**
   * Store the agent's conclusion of an experiment of the open run (the pending one by default).
   * @throws RatchetError without an open run, for an unknown experiment, or a conclusion that is too short
   */
  logConclusion(
    experimentId: number | undefined,
    conclusion: string,
    usage: Usage | null,
  ): {
    recorded: boolean;
    experiment_id: number;
    pending_conclusion: number | null;
  } {
    const session = this.session;
    if (session && this.rules) return this.concludeWith(this.rules, experimentId, conclusion, usage);
    // No open run: the pending conclusion is the project's, so it can (and must) be given between runs.
    const contract = this.contract();
    const rules = new AgentRules({
      contract,
      settings: this.settings(contract),
      runId: this.lastRunId ?? 'none',
      stateDir: join(this.projectDir, '.ratchet', 'proposers', 'mcp'),
      source: 'mcp agent',
    });
    try {
      return this.concludeWith(rules, experimentId, conclusion, usage);
    } finally {
      rules.close();
    }
  }

  private concludeWith(
    rules: AgentRules,
    experimentId: number | undefined,
    conclusion: string,
    usage: Usage | null,
  ): { recorded: boolean; experiment_id: number; pending_conclusion: number | null } {
    if (usage) rules.ledger.raiseTo(usage);
    const id = experimentId ?? rules.pending()?.id;
    if (id === undefined)
      throw new RatchetError('no experiment waits for a conclusion', { field: 'experiment_id' });
    const rec = rules.journal.getExperiment(id);
    if (!rec) {
      throw new RatchetError(`no experiment ${id}`, {
        field: 'experiment_id',
        hint: 'get_history lists the experiments (get_status names the one waiting for a conclusion)',
      });
    }
    const text = conclusion.trim();
    const min = rules.settings.discipline.min_hypothesis_chars;
    if (text.length < min) {
      const r: Refusal = {
        guardrail: 'conclusion-required',
        message: `the conclusion is too short (${text.length} characters, at least ${min}): say what the experiment taught`,
        data: { experiment: id },
      };
      rules.refuse(r);
      throw new RatchetError(r.message, { field: 'conclusion' });
    }
    recordConclusion(rules.journal, rec.runId, id, text, rules.source);
    rec.conclusion = text;
    return { recorded: true, experiment_id: id, pending_conclusion: rules.pending()?.id ?? null };
  }

  /**
   * End the open run's direction and score its best kept experiment on the private holdout, once. The score is
   * recorded in the journal for the person; the agent is told only that it was recorded.
   * @throws RatchetError without a run to submit
   */
  async submitDirection(
    rationale: string,
    progress: Progress,
  ): Promise<{
    recorded: boolean;
    fresh: boolean;
    run: string;
    experiment_id: number;
    public_score: number | null;
    note: string;
  }> {
    this.guard('submitting');
    const esc = this.withJournal((j) => projectEscalation(j), null);
    if (esc) {
      this.refuse(escalationRefusal(esc));
      throw new RatchetError(`submit_direction refused: ${escalationMessage(esc)}`, {
        hint: `nothing is submitted until a person clears it (${CLEAR_COMMAND})`,
      });
    }
    const runId =
      this.session?.runId ?? this.lastRunId ?? this.withJournal((j) => j.getRun()?.id ?? null, null);
    if (!runId) throw new RatchetError('no run to submit', { hint: 'open_run and run experiments first' });
    const live = activeRun(this.projectDir);
    if (live && live.runId === runId && live.pid !== process.pid) {
      throw new RatchetError(`run ${runId} is active in another process (pid ${live.pid})`, {
        hint: 'a run is submitted once it has ended',
      });
    }
    if (this.session) {
      progress(`closing run ${runId}`);
      await this.closeSession('finished', `direction submitted: ${rationale.slice(0, 200)}`);
    }
    progress('scoring the best kept experiment on the private holdout');
    this.busy = 'the submission';
    try {
      const r = await submit(this.projectDir, runId);
      const j = Journal.open(this.projectDir);
      try {
        j.addEvent({
          ts: new Date().toISOString(),
          runId,
          experimentId: r.experiment.id,
          kind: 'direction.submitted',
          severity: 'info',
          guardrail: null,
          message: rationale,
          data: { source: 'mcp agent', fresh: r.fresh },
        });
      } finally {
        j.close();
      }
      return {
        recorded: true,
        fresh: r.fresh,
        run: runId,
        experiment_id: r.experiment.id,
        public_score: r.experiment.score,
        note: r.fresh
          ? 'the private-holdout score was recorded for the person reviewing the run; it is never shown to agents'
          : 'this run was already submitted; nothing was rescored',
      };
    } finally {
      this.busy = null;
    }
  }

  /** What get_status answers. */
  async status(): Promise<Record<string, unknown>> {
    const contract = this.contract();
    const settings = this.settings(contract);
    const s = this.session;
    const base = {
      project: contract.name,
      task: contract.task,
      metric: { name: contract.metric.primary, direction: contract.direction },
      surface: contract.surface,
      busy: this.busy,
    };
    if (!s || !this.rules) {
      const project = this.withJournal<{
        last: ReturnType<Journal['getRun']>;
        escalation: ReturnType<typeof projectEscalation>;
        pending: ExperimentRecord | null;
        usage: Usage | null;
      }>(
        (j) => {
          const pending = settings.discipline.require_conclusion
            ? pendingConclusion(j.listExperiments().filter(isAgentExperiment), concludedIds(j))
            : null;
          const b = j.agentBudget();
          return {
            last: j.getRun(),
            escalation: projectEscalation(j),
            pending,
            usage: {
              inputTokens: b.inputTokens,
              outputTokens: b.outputTokens,
              costUsd: b.costUsd,
              calls: b.calls,
            },
          };
        },
        { last: null, escalation: null, pending: null, usage: null },
      );
      const { last, escalation, pending } = project;
      return {
        ...base,
        run: null,
        worktree: null,
        last_run: last ? { id: last.id, status: last.status, reason: last.stopReason } : null,
        escalated: escalation ? escalationMessage(escalation) : null,
        budgets_left: null,
        pending_conclusion: pending
          ? { id: pending.id, decision: pending.decision, hypothesis: pending.hypothesis }
          : null,
        phase: null,
        usage: this.usageView(project.usage, settings),
        next: escalation
          ? `nothing runs until a person clears the escalation (${CLEAR_COMMAND})`
          : pending
            ? `log_conclusion for experiment #${pending.id} first; then open_run (or start_experiment)`
            : 'call open_run (or start_experiment) to open a run: it creates a worktree and measures the baseline',
      };
    }
    const rules = this.rules;
    const b = s.budgetsLeft();
    const pending = rules.pending();
    const phase = settings.discipline.phases.length > 0 ? await rules.phase() : null;
    return {
      ...base,
      run: {
        id: s.runId,
        branch: s.branch,
        experiments: s.tally.count,
        kept: s.tally.kept,
        baseline: s.tally.baseline?.score ?? null,
        best: s.best
          ? {
              id: s.best.id,
              score: s.best.score,
              hypothesis: s.journal.getExperiment(s.best.id)?.hypothesis ?? '',
            }
          : null,
      },
      worktree: s.worktree,
      last_run: null,
      budgets_left: {
        experiments: b.experiments,
        wall_clock_s: Math.round(b.wallClockMs / 1000),
        consecutive_failures: b.consecutiveFailures,
      },
      pending_conclusion: pending
        ? { id: pending.id, decision: pending.decision, hypothesis: pending.hypothesis }
        : null,
      phase: phase?.phase
        ? {
            name: phase.phase.name,
            file: phase.phase.file,
            key: phase.phase.key,
            tried: phase.tried,
            remaining: phase.remaining,
          }
        : null,
      usage: this.usageView(rules.ledger.usage, settings),
      next: pending
        ? `log_conclusion for experiment #${pending.id}, then change files in ${s.worktree} and start_experiment`
        : `change files in ${s.worktree} (surface: ${s.contract.surface.join(', ')}), then start_experiment({hypothesis})`,
    };
  }

  private usageView(u: Usage | null, settings: AgentSettings): Record<string, unknown> {
    return {
      tokens: u ? totalTokens(u) : 0,
      cost_usd: u ? Math.round(u.costUsd * 1e6) / 1e6 : 0,
      max_tokens: settings.max_tokens ?? null,
      max_cost_usd: settings.max_cost_usd ?? null,
    };
  }

  /** What get_contract answers: the contract summary, the directions file and the rules. */
  contractView(): Record<string, unknown> {
    const contract = this.contract();
    const settings = this.settings(contract);
    const b = this.session?.budgetsLeft();
    const summary = contractSummary(
      contract,
      settings,
      {
        experiments: b?.experiments ?? null,
        wallClockMs: b?.wallClockMs ?? null,
        maxExperiments: this.session?.limits.maxExperiments ?? null,
      },
      this.rules?.ledger.usage ?? { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 },
    );
    const d = settings.discipline;
    const rules = [
      `hypothesis-required: start_experiment needs a hypothesis of at least ${d.min_hypothesis_chars} characters`,
      ...(d.require_conclusion
        ? ['conclusion-required: log_conclusion for the last experiment before the next start_experiment']
        : []),
      ...(d.do_not_retry
        ? ['do-not-retry: a change identical to an earlier experiment is refused with its result']
        : []),
      ...d.phases.map(
        (p) =>
          `phase-gate "${p.name}": ${p.distinct} distinct values of ${p.key} in ${p.file} before other tuning`,
      ),
      ...(d.rate_limit
        ? [`rate-limit: at most ${d.rate_limit.max} experiments per ${d.rate_limit.per}`]
        : []),
      'budget: the run ends when its experiments or wall clock are used; the agent stops at its token/cost caps, counted per project across runs (only a person resets them)',
      'escalated: after an escalation nothing runs and nothing is submitted until a person clears it',
      'write-surface: only files in the surface may change; contract-integrity: contract files never change',
      'the private holdout score is recorded for the person only (submit_direction); it is never returned',
    ];
    return {
      ...summary,
      directions: readProgram(contract.projectDir, settings.program),
      rules,
    };
  }

  /** Experiments of the open run (or of `runId`, or the latest run), newest last. */
  history(
    runId: string | undefined,
    limit: number,
  ): {
    run: string | null;
    total: number;
    experiments: ExperimentView[];
    directions: DirectionSummary[] | null;
  } {
    return this.withJournal(
      (j) => {
        const id = runId ?? this.session?.runId ?? j.getRun()?.id;
        if (!id) return { run: null, total: 0, experiments: [], directions: null };
        const run = j.getRun(id);
        if (!run)
          throw new RatchetError(`no run ${id}`, { field: 'run_id', hint: 'get_status names the runs' });
        const all = j.listExperiments(id);
        const adoptions = adoptionsOf(j.listEvents({ runId: id, kinds: ['direction.adopted'] }));
        return {
          run: id,
          total: all.length,
          experiments: all.slice(-limit).map(experimentView),
          // A run of `ratchet run --directions N`: each direction's branch, experiments, keeps and best.
          directions: directionSummaries(run, all, adoptions),
        };
      },
      { run: null, total: 0, experiments: [], directions: null },
    );
  }

  /**
   * One experiment with its patch and log tails (capped), and its events (never a submission's).
   * @throws RatchetError for an unknown id
   */
  experiment(id: number, withPatch: boolean, withLogs: boolean): Record<string, unknown> {
    const cap = (text: string, max: number, fromEnd: boolean) =>
      text.length <= max
        ? text
        : fromEnd
          ? `… (${text.length - max} earlier characters cut)\n${text.slice(-max)}`
          : `${text.slice(0, max)}\n… (${text.length - max} more characters: search_traces reads the rest)`;
    const read = (f: string) => {
      const p = join(experimentDir(this.projectDir, id), f);
      return existsSync(p) ? readFileSync(p, 'utf8') : '';
    };
    const v = this.withJournal<Record<string, unknown> | null>((j) => {
      const e = j.getExperiment(id);
      if (!e) return null;
      const events = j
        .listEvents({ runId: e.runId })
        .filter((ev) => ev.experimentId === id && !isPrivateEvent(ev))
        .map((ev) => ({ ts: ev.ts, kind: ev.kind, guardrail: ev.guardrail, message: ev.message }));
      return {
        ...experimentView(e),
        sandbox: { status: e.sandboxStatus, message: e.sandboxMessage, exit_code: e.exitCode },
        trace_dir: `${RUNS_DIR}/${String(id).padStart(4, '0')}`,
        patch: withPatch ? cap(read('patch.diff'), 16_000, false) : null,
        stdout_tail: withLogs ? cap(read('stdout.log'), 4000, true) : null,
        stderr_tail: withLogs ? cap(read('stderr.log'), 4000, true) : null,
        events,
      };
    }, null);
    if (!v)
      throw new RatchetError(`no experiment ${id}`, {
        field: 'id',
        hint: 'get_history lists the experiments',
      });
    return v;
  }

  /**
   * grep over the traces (capped), off the event loop within a time limit (ms; default 5 s, at most 30 s).
   * @throws RatchetError for a bad pattern, or when the search ran over its limits and was stopped
   */
  grep(q: GrepQuery, timeoutMs?: number): Promise<GrepResult> {
    return traceGrep(this.projectDir, q, timeoutMs ? { timeoutMs } : {});
  }

  /**
   * Read-only SQL over the public journal (capped), off the event loop within a time limit (ms; default 5 s).
   * @throws RatchetError for a bad query, or when it ran over its time or memory limit and was stopped
   */
  sql(query: string, maxRows?: number, timeoutMs?: number): Promise<SqlResult> {
    return journalQuery(this.projectDir, query, {
      ...(maxRows ? { maxRows } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  }

  /** Parse the usage an agent reports (null when absent). */
  static usage(v: unknown): Usage | null {
    return parseReportedUsage(v);
  }

  /** Stop whatever runs and close the run (server shutdown). */
  async shutdown(reason = 'the MCP server stopped'): Promise<void> {
    if (this.closing) await this.closing; // a close already under way (the kill switch) must finish first
    const s = this.session;
    if (!s) return;
    s.stop(reason);
    const until = Date.now() + 10_000;
    while (this.busy && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await this.closeSession('stopped', `stopped: ${reason}`);
  }
}

/**
 * The rules one agent works under in one run, in one object shared by the command, openai and hybrid
 * proposers and the MCP server: the discipline checks, the token/cost ledger and its caps, the pending
 * conclusion, and the brief's ingredients. The ledger and the pending conclusion are the project's (see
 * limits.ts): a new run starts with them as the last one left them. Every refusal is recorded in the journal with its guardrail id.
 */
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { type ExperimentRecord, Journal } from '../journal/store.js';
import {
  type BriefInput,
  type BudgetsLeft,
  contractSummary,
  type DirectionBrief,
  readProgram,
  type Suggestion,
} from './brief.js';
import {
  checkDoNotRetry,
  checkHypothesis,
  checkPhase,
  concludedIds,
  fingerprint,
  type PhaseState,
  pendingConclusion,
  phaseState,
  type Refusal,
  recordConclusion,
  recordRefusal,
} from './discipline.js';
import { digestEntry, historyDigest } from './history.js';
import { isAgentExperiment, ProjectLedger } from './limits.js';
import { budgetsLeftFromJournal, runRecords } from './runstate.js';
import type { AgentSettings } from './settings.js';
import { capTrip, type Usage } from './usage.js';

/** How to build {@link AgentRules}. */
export interface AgentRulesOptions {
  contract: Contract;
  settings: AgentSettings;
  runId: string;
  /** Folder for the ledger (the proposer's state folder of the run). */
  stateDir: string;
  /** Who is bound by the rules, used in events (e.g. `command proposer`, `mcp client claude-code`). */
  source: string;
  /** A journal to use (the MCP server passes its session's); otherwise one is opened and closed here. */
  journal?: Journal;
  /** Budgets left, when the caller knows them better than the journal (the MCP server's session). */
  budgets?: () => BudgetsLeft;
  /** The agent's direction in a run with several (shown in every brief). */
  direction?: DirectionBrief;
}

/** The discipline, caps and brief of one agent in one run. */
export class AgentRules {
  readonly contract: Contract;
  readonly settings: AgentSettings;
  readonly runId: string;
  readonly source: string;
  /** The agent's direction in a run with several, or null. */
  readonly direction: DirectionBrief | null;
  readonly journal: Journal;
  /** The agents' usage in the project's budget period (shared by every run and agent; only a person resets it). */
  readonly ledger: ProjectLedger;
  private readonly ownJournal: boolean;
  private readonly budgets: (() => BudgetsLeft) | undefined;

  constructor(o: AgentRulesOptions) {
    this.direction = o.direction ?? null;
    this.contract = o.contract;
    this.settings = o.settings;
    this.runId = o.runId;
    this.source = o.source;
    this.ownJournal = !o.journal;
    this.journal = o.journal ?? Journal.open(o.contract.projectDir);
    this.ledger = new ProjectLedger(this.journal, join(o.stateDir, 'usage.json'));
    this.budgets = o.budgets;
  }

  /** This run's experiments and the project's, oldest first. */
  records(): { run: ExperimentRecord[]; all: ExperimentRecord[] } {
    return runRecords(this.journal, this.runId);
  }

  /** The token or cost cap that is used up, or null. */
  capTrip(): Refusal | null {
    return capTrip(this.ledger.usage, {
      maxTokens: this.settings.max_tokens,
      maxCostUsd: this.settings.max_cost_usd,
    });
  }

  /** Count one call's usage (also when the agent reported nothing: one call, zero tokens). */
  addUsage(u: Usage | null): Usage {
    return this.ledger.add(u ?? { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 1 });
  }

  /**
   * The experiment an agent must conclude before the next one, or null: the project's latest agent experiment
   * that ran, in any run (closing a run and opening another does not drop it).
   */
  pending(): ExperimentRecord | null {
    if (!this.settings.discipline.require_conclusion) return null;
    return pendingConclusion(
      this.journal.listExperiments().filter(isAgentExperiment),
      concludedIds(this.journal),
    );
  }

  /** The phase gate in force. */
  phase(): Promise<PhaseState> {
    return phaseState(this.contract.projectDir, this.settings.discipline.phases, this.records().run);
  }

  /**
   * The discipline checks on a proposed change that sits in `worktree`: hypothesis-required, do-not-retry,
   * phase-gate. Returns every refusal (empty when the proposal may run). Does not record them.
   */
  async check(worktree: string, hypothesis: string | null | undefined): Promise<Refusal[]> {
    const d = this.settings.discipline;
    const out: Refusal[] = [];
    const h = checkHypothesis(hypothesis, d.min_hypothesis_chars);
    if (h) out.push(h);
    const { run, all } = this.records();
    if (d.do_not_retry) {
      const r = checkDoNotRetry(this.contract.projectDir, all, await fingerprint(worktree));
      if (r) out.push(r);
    }
    if (d.phases.length > 0) {
      const p = await checkPhase(this.contract.projectDir, d.phases, run, worktree);
      if (p) out.push(p);
    }
    return out;
  }

  /** Record a refusal in the journal (a `guardrail` event with the guardrail's id). */
  refuse(r: Refusal, extra: Record<string, unknown> = {}): void {
    recordRefusal(this.journal, this.runId, r, this.source, extra);
  }

  /** Store the agent's conclusion of an experiment (and mark it concluded). */
  conclude(experimentId: number, conclusion: string): void {
    recordConclusion(this.journal, this.runId, experimentId, conclusion, this.source);
  }

  /** Budgets left now. */
  budgetsLeft(): BudgetsLeft {
    return this.budgets ? this.budgets() : budgetsLeftFromJournal(this.journal, this.runId);
  }

  /** The ingredients of a brief (the caller adds feedback, the outcome or a suggestion). */
  async briefInput(
    mode: BriefInput['mode'],
    answer: BriefInput['answer'],
    extra: { feedback?: Refusal[]; outcome?: BriefInput['outcome']; suggestion?: Suggestion } = {},
  ): Promise<BriefInput> {
    const { run, all } = this.records();
    const pending = mode === 'propose' ? this.pending() : null;
    const earlier = all.filter((e) => e.runId !== this.runId);
    return {
      mode,
      answer,
      contract: this.contract,
      settings: this.settings,
      program: readProgram(this.contract.projectDir, this.settings.program),
      digest: historyDigest(run, earlier, {
        limit: this.settings.history,
        metric: this.contract.metric.primary,
        direction: this.contract.direction,
      }),
      summary: contractSummary(this.contract, this.settings, this.budgetsLeft(), this.ledger.usage),
      feedback: extra.feedback ?? [],
      pendingConclusion: pending ? digestEntry(pending) : null,
      phase: this.settings.discipline.phases.length > 0 ? await this.phase() : null,
      ...(extra.outcome ? { outcome: extra.outcome } : {}),
      ...(extra.suggestion ? { suggestion: extra.suggestion } : {}),
      ...(this.direction ? { direction: this.direction } : {}),
    };
  }

  /** Close the journal if this object opened it. Safe to call twice. */
  close(): void {
    if (this.ownJournal && this.journal.isOpen) this.journal.close();
  }
}

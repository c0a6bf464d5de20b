/**
 * Limits that belong to the project and the person, not to a run (docs/ARCHITECTURE.md, "Project limits"): the
 * agents' token and cost budget period, the escalation that stops every agent until a person clears it, the pending
 * conclusion and the rate-limit window, all read from the journal so that closing and opening runs, or
 * restarting a process, changes none of them.
 */
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentBudgetRecord, ExperimentRecord, Journal, JournalReader } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { ensureDir } from '../util/fs.js';
import type { Refusal } from './discipline.js';
import { type Usage, zeroUsage } from './usage.js';

/** Kind of the journal event that escalates the project to a person (a run's escalation, a submit's gap). */
export const ESCALATION_EVENT = 'escalation';
/** Kind of the journal event a person writes when clearing an escalation (`ratchet clear`, the Studio). */
export const CLEARED_EVENT = 'escalation.cleared';
/** Kind of the journal event a person writes when opening a new agent budget period (`ratchet budget reset`). */
export const BUDGET_RESET_EVENT = 'agent.budget.reset';
/** The command that clears an escalation, as shown in messages. */
export const CLEAR_COMMAND = 'ratchet clear --note "<why>"';

/** An escalation still waiting for a person. */
export interface Escalation {
  /** Journal event id. */
  id: number;
  at: string;
  runId: string | null;
  message: string;
  /**
   * Why: `plateau` (the search stalled: a person should look, nothing is suspect) or `integrity` (guardrail trips,
   * failures, a canary, a public-private gap). Events written before causes existed count as `integrity`.
   */
  cause: EscalationCause;
}

/** Why a project escalated; see {@link Escalation.cause}. */
export type EscalationCause = 'plateau' | 'integrity';

/** The project's open escalation (the latest `escalation` event after the latest clearing), or null. */
export function projectEscalation(journal: JournalReader): Escalation | null {
  // The newest of the two kinds, from the journal's (kind, id) index: asked before every experiment of a run.
  const last = journal.latestEvent([ESCALATION_EVENT, CLEARED_EVENT]);
  if (!last || last.kind !== ESCALATION_EVENT) return null;
  const cause =
    (last.data as { cause?: unknown } | null | undefined)?.cause === 'plateau' ? 'plateau' : 'integrity';
  return { id: last.id, at: last.ts, runId: last.runId, message: last.message, cause };
}

/** The message every refusal of an escalated project carries. */
export function escalationMessage(e: Escalation): string {
  return `escalated: a person must clear it (${CLEAR_COMMAND}) before anything runs: ${e.message}${e.runId ? ` (run ${e.runId}, ${e.at})` : ` (${e.at})`}`;
}

/** The `escalated` refusal of an escalated project. */
export function escalationRefusal(e: Escalation): Refusal {
  return {
    guardrail: 'escalated',
    message: escalationMessage(e),
    data: { escalation: e.id, run: e.runId },
  };
}

/**
 * Refuse when the project is escalated.
 * @param what what is refused, for the message (e.g. `a new run`, `submit`)
 * @throws RatchetError (exit code 3) naming the escalation and `ratchet clear`
 */
export function assertNotEscalated(journal: Journal, what: string): void {
  const e = projectEscalation(journal);
  if (!e) return;
  throw new RatchetError(`${what} refused: ${escalationMessage(e)}`, {
    hint: `a person reviews it (ratchet status, the Studio) and clears it: ${CLEAR_COMMAND}`,
    exitCode: 3,
  });
}

/**
 * A person clears the project's escalation: a `escalation.cleared` event with the note.
 * @param who who cleared it (e.g. `ratchet clear`, `studio`)
 * @throws RatchetError when the note is blank or nothing is escalated
 */
export function clearEscalation(journal: Journal, note: string, who: string): Escalation {
  const text = note.trim();
  if (!text) {
    throw new RatchetError('clearing an escalation needs a note', {
      field: '--note',
      hint: 'say what you checked and why work may go on, e.g. --note "the jump was a real feature, not a leak"',
    });
  }
  const e = projectEscalation(journal);
  if (!e) throw new RatchetError('nothing is escalated', { hint: 'ratchet status shows the escalations' });
  journal.addEvent({
    ts: new Date().toISOString(),
    runId: e.runId,
    experimentId: null,
    kind: CLEARED_EVENT,
    severity: 'info',
    guardrail: null,
    message: `escalation cleared by a person (${who}): ${text}`,
    data: { escalation: e.id, note: text, who },
  });
  return e;
}

/**
 * A person opens a new agent budget period: the agents' token and cost usage starts again at zero. Journaled
 * as an `agent.budget.reset` event with the note and the usage of the period that ended.
 * @throws RatchetError when the note is blank
 */
export function resetAgentBudget(
  journal: Journal,
  note: string,
): { ended: AgentBudgetRecord; opened: AgentBudgetRecord } {
  const text = note.trim();
  if (!text) {
    throw new RatchetError('resetting the agent budget needs a note', {
      field: '--note',
      hint: 'say why the agents may spend again, e.g. --note "new monthly budget"',
    });
  }
  return journal.transaction(() => {
    const ended = journal.agentBudget();
    const opened = journal.openAgentBudget(text);
    journal.addEvent({
      ts: new Date().toISOString(),
      runId: null,
      experimentId: null,
      kind: BUDGET_RESET_EVENT,
      severity: 'info',
      guardrail: null,
      message: `agent budget period ${opened.period} opened by a person: ${text}`,
      data: { note: text, ended, period: opened.period },
    });
    return { ended, opened };
  });
}

const budgetUsage = (b: AgentBudgetRecord): Usage => ({
  inputTokens: b.inputTokens,
  outputTokens: b.outputTokens,
  costUsd: b.costUsd,
  calls: b.calls,
});

/**
 * The agents' token and cost usage of the project's current budget period, kept in the journal (so neither a
 * new run nor a restarted process resets it). Optionally mirrored as JSON into `mirrorPath` for readers of
 * the run's proposer folder.
 */
export class ProjectLedger {
  /**
   * @param journal a writable journal of the project
   * @param mirrorPath a JSON file to mirror the total into after every count (optional)
   */
  constructor(
    readonly journal: Journal,
    readonly mirrorPath?: string,
  ) {}

  /** The total of the current period. */
  get usage(): Usage {
    return this.journal.isOpen ? budgetUsage(this.journal.agentBudget()) : zeroUsage();
  }

  /** The current budget period's number (0 before anything was counted). */
  get period(): number {
    return this.journal.agentBudget().period;
  }

  /** Add one call's usage. */
  add(u: Usage): Usage {
    return this.save(budgetUsage(this.journal.countAgentUsage(u, 'add')));
  }

  /** Raise the total to at least `u` field by field (agents that report cumulative totals); one call. */
  raiseTo(u: Usage): Usage {
    return this.save(budgetUsage(this.journal.countAgentUsage(u, 'raise')));
  }

  private save(u: Usage): Usage {
    if (this.mirrorPath) {
      ensureDir(dirname(this.mirrorPath));
      writeFileSync(this.mirrorPath, `${JSON.stringify(u)}\n`);
    }
    return u;
  }
}

/** Proposers whose experiments are an agent's (the conclusion rule applies to them). */
const AGENT_PROPOSERS = new Set(['mcp', 'command', 'openai', 'hybrid']);

/** True when an agent proposed this experiment (its meta names the agent, or its proposer is an agent's). */
export function isAgentExperiment(e: ExperimentRecord): boolean {
  return (e.meta !== null && e.meta['agent'] !== undefined) || AGENT_PROPOSERS.has(e.proposer);
}

/** Start times (ms) of the experiments a proposer started in the project, in every run (baselines excluded). */
export function projectStarts(journal: JournalReader, proposer: string): number[] {
  return journal
    .listExperiments()
    .filter((e) => e.proposer === proposer && e.seq > 1)
    .map((e) => Date.parse(e.startedAt));
}

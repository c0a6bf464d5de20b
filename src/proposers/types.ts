/**
 * The proposer interface: whatever suggests the next change (docs/glossary.md, "proposer").
 *
 * The orchestrator calls a proposer at PROPOSE only. A proposer edits files in the run's
 * worktree and answers with a hypothesis; it never decides, commits, scores or extends a budget.
 */
import type { ProposerEvent } from '../guardrails/refused.js';

/** Direction of the primary metric. */
export type Direction = 'maximize' | 'minimize';

/** One past experiment as a proposer sees it (public information only: never a private score). */
export interface ExperimentDigest {
  /** Journal id of the experiment. */
  id: number;
  /** 1-based position of the experiment within its run. */
  seq: number;
  hypothesis: string;
  /** kept | reverted | crashed | timeout | invalid | rejected */
  decision: string;
  /** Why the keep rule decided as it did. */
  reason: string;
  /** Public-holdout primary metric, or null when the experiment produced no valid score. */
  score: number | null;
  /** Parameters the proposer attached to its proposal, if any. */
  params: Record<string, unknown> | null;
  conclusion: string | null;
}

/** What a proposer receives at PROPOSE. */
export interface ProposeContext {
  /** Absolute path of the run's git worktree; the proposer writes its change here. */
  worktree: string;
  /** Project root (holds ratchet.yaml); read-only for proposers. */
  projectDir: string;
  /** 1-based position of the experiment about to run within this run. */
  seq: number;
  /** Primary metric name and its direction. */
  metric: { name: string; direction: Direction };
  /** Best kept public score so far (null before the baseline). */
  bestScore: number | null;
  /** Parameters of the best kept experiment, when the proposer attached some. */
  bestParams: Record<string, unknown> | null;
  /**
   * This direction's latest experiments, oldest first: at most `PROPOSER_HISTORY` (32; src/loop/tally.ts), so a
   * long run's memory stays flat. The journal holds every experiment (`Journal.listExperiments`).
   */
  history: ExperimentDigest[];
  /** The run's baseline (its first experiment, in direction 1) once recorded, else null. */
  baseline: ExperimentDigest | null;
  /** Aborted when the run is stopped; a proposer must return or throw promptly. */
  signal: AbortSignal;
  /**
   * Longest this experiment may run, in milliseconds: the contract's experiment timeout, or less when the run's
   * wall-clock budget has less left. Absent outside the loop.
   */
  timeoutMs?: number;
  /**
   * Record an event in the journal, tied to the experiment being proposed (e.g. an agent's refused tool
   * call). Absent outside the loop; a proposer then records what it must itself.
   */
  onEvent?: (ev: ProposerEvent) => void;
}

/** A proposer's answer: the change is already in the worktree; this says why. */
export interface Proposal {
  /** One or two sentences: what changed and why it should improve the metric. Required, non-empty. */
  hypothesis: string;
  /** Machine-readable parameters of the change (logged as params in the journal and MLflow). */
  params?: Record<string, unknown>;
  /** Free-form proposer bookkeeping (e.g. an Optuna trial number), stored with the experiment. */
  meta?: Record<string, unknown>;
}

/** What the proposer is told after DECIDE. */
export interface Outcome {
  seq: number;
  decision: string;
  /** Public primary metric, or null when no valid score exists (crash, timeout, invalid, rejected). */
  score: number | null;
  meta?: Record<string, unknown>;
}

/** A proposer: the only component the orchestrator calls at PROPOSE. */
export interface Proposer {
  /** Short name recorded on every experiment (`search`, `command`, `openai`, ...). */
  readonly name: string;
  /** Edit the worktree and describe the change. Throws on an unrecoverable proposer failure. */
  propose(ctx: ProposeContext): Promise<Proposal>;
  /** Learn from the decided experiment (e.g. Optuna `tell`). */
  observe(outcome: Outcome): Promise<void>;
  /**
   * Optional: what was learned from the decided experiment, in a sentence (an agent is asked after the
   * run). Returning null keeps Ratchet's built-in conclusion. Called after `observe`.
   */
  conclude?(outcome: Outcome & { hypothesis: string; reason: string }): Promise<string | null>;
  /**
   * Start what the proposer needs before its first proposal (e.g. open the shared Optuna study). Called once,
   * in direction order, when a run has several directions; optional (PROPOSE starts it lazily otherwise).
   */
  open?(): Promise<void>;
  /** Release resources (child processes, connections). Safe to call twice. */
  close(): Promise<void>;
}

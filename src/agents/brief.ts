/**
 * The brief an agent reads before it works: the human's directions (`program.md`), the contract summary
 * (metric, surface, budgets left), the history digest, the rules, and how to answer. The same text serves a
 * CLI agent (written as files into a read-only folder outside the worktree) and a chat model (the user
 * message), so every agent is told the same thing.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import type { PhaseState, Refusal } from './discipline.js';
import type { DigestEntry, HistoryDigest } from './history.js';
import type { AgentSettings } from './settings.js';
import { totalTokens, type Usage } from './usage.js';

/** Longest directions file put in a brief, characters. */
const MAX_PROGRAM_CHARS = 32_000;

/**
 * Read the human's directions file from the project root (null when absent or not a regular file).
 * Read from the project, never the worktree: the agent cannot edit its own directions.
 */
export function readProgram(projectDir: string, file: string): string | null {
  const p = join(projectDir, file);
  if (!existsSync(p) || !lstatSync(p).isFile()) return null;
  const text = readFileSync(p, 'utf8');
  return text.length > MAX_PROGRAM_CHARS
    ? `${text.slice(0, MAX_PROGRAM_CHARS)}\n… (cut at ${MAX_PROGRAM_CHARS} characters)\n`
    : text;
}

/** What an agent may know of the contract. */
export interface ContractSummary {
  name: string;
  task: string;
  metric: { primary: string; direction: string; also: string[] };
  surface: string[];
  frozen: string[];
  run: string;
  keep: { min_delta: number; confidence: number };
  budgets: {
    max_experiments: number;
    experiment_timeout_s: number;
    experiments_left: number | null;
    wall_clock_left_s: number | null;
  };
  agent: {
    max_tokens: number | null;
    max_cost_usd: number | null;
    tokens_used: number;
    cost_used_usd: number;
    discipline: AgentSettings['discipline'];
  };
}

/** Budgets left, when known. */
export interface BudgetsLeft {
  experiments: number | null;
  wallClockMs: number | null;
  /** The run's experiment budget (it may differ from the contract's: `--experiments`). */
  maxExperiments?: number | null;
}

/** The contract summary an agent sees (no vault paths, nothing private). */
export function contractSummary(
  contract: Contract,
  settings: AgentSettings,
  left: BudgetsLeft,
  usage: Usage,
): ContractSummary {
  return {
    name: contract.name,
    task: contract.task,
    metric: { primary: contract.metric.primary, direction: contract.direction, also: contract.metric.also },
    surface: contract.surface,
    frozen: ['ratchet.yaml', ...contract.frozen],
    run: contract.run.command,
    keep: { min_delta: contract.keep.min_delta, confidence: contract.keep.confidence },
    budgets: {
      max_experiments: left.maxExperiments ?? contract.limits.maxExperiments,
      experiment_timeout_s: contract.limits.experimentTimeoutMs / 1000,
      experiments_left: left.experiments,
      wall_clock_left_s: left.wallClockMs === null ? null : Math.round(left.wallClockMs / 1000),
    },
    agent: {
      max_tokens: settings.max_tokens ?? null,
      max_cost_usd: settings.max_cost_usd ?? null,
      tokens_used: totalTokens(usage),
      cost_used_usd: Math.round(usage.costUsd * 1e6) / 1e6,
      discipline: settings.discipline,
    },
  };
}

/** A suggestion from another proposer (the hybrid's TPE trial) that the agent may take. */
export interface Suggestion {
  /** Who suggests it, e.g. `TPE (Optuna)`. */
  source: string;
  /** What it changes, in a sentence. */
  summary: string;
  /** The file it writes (in the surface) and the content it would have. */
  file: string;
  content: string;
}

/** The outcome an agent concludes. */
export interface OutcomeForBrief {
  id: number;
  seq: number;
  hypothesis: string;
  decision: string;
  score: number | null;
  delta: number | null;
  reason: string;
}

/** Everything a brief is made of. */
/** An agent's direction in a run with several: k of n, and the person's text for it (null when none). */
export interface DirectionBrief {
  index: number;
  of: number;
  text: string | null;
}

export interface BriefInput {
  /** propose: change the code and state a hypothesis; conclude: say what the last experiment taught. */
  mode: 'propose' | 'conclude';
  contract: Contract;
  settings: AgentSettings;
  /** Text of the directions file (null when there is none). */
  program: string | null;
  digest: HistoryDigest;
  summary: ContractSummary;
  /** Refusals of the previous attempt, to fix now. */
  feedback: Refusal[];
  /** propose: an experiment the agent must conclude first (conclusion-required). */
  pendingConclusion: DigestEntry | null;
  /** conclude: the experiment to conclude. */
  outcome?: OutcomeForBrief;
  /** propose, hybrid: a suggestion the agent may take. */
  suggestion?: Suggestion;
  /** The phase gate in force. */
  phase: PhaseState | null;
  /** files: a CLI agent answering through files; tools: a chat model answering through tool calls. */
  answer: 'files' | 'tools';
  /**
   * The direction this agent explores in a run with several (docs/ARCHITECTURE.md, "Parallel directions"): its
   * number, how many there are, and the contract's text for it (`parallel.briefs`), shown in every brief.
   */
  direction?: DirectionBrief;
}

const fmt = (v: number | null): string => (v === null ? '—' : v.toFixed(6));

function rules(b: BriefInput): string[] {
  const s = b.summary;
  const d = b.settings.discipline;
  const out = [
    `- Edit only files in the surface: ${s.surface.join(', ')}. A change to any other file, or to a contract file (${s.frozen.join(', ')}), rejects the experiment (write-surface, contract-integrity).`,
    `- Ratchet runs \`${s.run}\` on your change in a sandbox (no network, no hidden labels), scores it on the public holdout and keeps it only when the gain in ${s.metric.primary} clears the keep rule (min_delta ${s.keep.min_delta}, a paired bootstrap at ${s.keep.confidence}); otherwise the change is reverted. You never commit.`,
    s.task === 'bandit'
      ? '- The training command reads RATCHET_TRAIN_PARQUET (the training logs: context, the logged action, its propensity, the reward), RATCHET_PUBLIC_PARQUET and RATCHET_PRIVATE_PARQUET (holdout contexts only: their logged actions, propensities and rewards are hidden) and must write public.parquet and private.parquet into RATCHET_OUTPUT: a POLICY, the `<id>` column and one `proba_<action>` column per action, each row summing to 1. Ratchet estimates its value off-policy on the hidden logs; an estimate outside the trust thresholds (effective sample size, largest importance weight, mass on never-logged actions, estimator spread) cannot be kept (ope-trust), so keep some probability on the logged actions. A metric your code prints is never read.'
      : '- The training command reads RATCHET_TRAIN, RATCHET_PUBLIC, RATCHET_PRIVATE (CSV paths; the same splits as Parquet in RATCHET_TRAIN_PARQUET, RATCHET_PUBLIC_PARQUET, RATCHET_PRIVATE_PARQUET) and must write public.parquet and private.parquet (or public.csv and private.csv, header `<id>,prediction`; not both) into RATCHET_OUTPUT. A metric your code prints is never read.',
    `- Every experiment needs a hypothesis of at least ${d.min_hypothesis_chars} characters: what you changed and why it should improve ${s.metric.primary} (hypothesis-required).`,
  ];
  if (d.require_conclusion)
    out.push(
      '- After each experiment you are asked what it taught. No next experiment starts before the last one is concluded (conclusion-required).',
    );
  if (d.do_not_retry)
    out.push(
      '- Never repeat a change that already ran: an identical change is refused with its earlier result (do-not-retry). Read the history first.',
    );
  for (const p of d.phases)
    out.push(
      `- Phase "${p.name}": until ${p.distinct} distinct values of \`${p.key}\` in ${p.file} have run, every experiment must try a value not run yet (phase-gate).`,
    );
  const caps: string[] = [];
  if (s.agent.max_tokens !== null) caps.push(`${s.agent.tokens_used} of ${s.agent.max_tokens} tokens used`);
  if (s.agent.max_cost_usd !== null) caps.push(`$${s.agent.cost_used_usd} of $${s.agent.max_cost_usd} spent`);
  if (caps.length) out.push(`- Your budget: ${caps.join('; ')}. At the cap the run stops (budget).`);
  out.push(
    "- The private holdout's score is never shown to you; the hidden labels are out of reach, and every attempt to reach them is recorded.",
  );
  return out;
}

function howToAnswer(b: BriefInput): string[] {
  if (b.answer === 'tools') {
    if (b.mode === 'conclude')
      return ['Reply with one or two sentences: what this experiment taught you. No tool calls.'];
    const out = [
      '- `list_files` lists the files you may edit; `read_file` reads one; `write_file` replaces one (surface only).',
      '- `search_traces` greps the raw traces of every experiment (patches, logs, predictions); `query_journal` runs a read-only SQL SELECT over the journal (tables experiments, metrics, events, runs, noise).',
      '- When your change is in place, call `finish` with your hypothesis. That ends your turn; Ratchet then runs the experiment.',
    ];
    if (b.pendingConclusion)
      out.unshift('- First call `conclude_previous` with the conclusion of the experiment named below.');
    if (b.suggestion)
      out.push(
        `- \`take_suggestion\` writes the ${b.suggestion.source} suggestion below into ${b.suggestion.file}.`,
      );
    return out;
  }
  if (b.mode === 'conclude') {
    return [
      '- The working tree at /workspace is read-only now.',
      '- Write `/output/answer.json` as {"conclusion": "<one or two sentences: what this experiment taught>"} (or the text alone in /output/conclusion.md).',
      '- Optional: "usage": {"input_tokens": N, "output_tokens": N, "cost_usd": X} when you know what this call used.',
    ];
  }
  const out = [
    '- The working tree is /workspace (your current directory). Edit the files there; do not commit.',
    "- Data: /data/train.csv (with labels), /data/public.csv and /data/private.csv (features only). `python` has the project's packages.",
    '- Raw traces of every earlier experiment: /traces/<id>/ (patch.diff, stdout.log, stderr.log, experiment.json, output/public.csv). grep them.',
    '- When your change is in place, write `/output/answer.json` as {"hypothesis": "<what you changed and why it should help>"} (or the text alone in /output/hypothesis.md).',
    '- Optional: "usage": {"input_tokens": N, "output_tokens": N, "cost_usd": X} when you know what this call used (Claude Code and Codex JSON output is read too).',
  ];
  if (b.pendingConclusion)
    out.push(
      '- Also put "previous_conclusion": "<what the experiment named below taught>" in answer.json: it is required.',
    );
  if (b.suggestion)
    out.push(
      `- To take the ${b.suggestion.source} suggestion, copy /brief/suggestion/${b.suggestion.file} over /workspace/${b.suggestion.file} (you may change more).`,
    );
  return out;
}

/** The whole brief as Markdown. */
export function composeBrief(b: BriefInput): string {
  const s = b.summary;
  const parts: string[] = [];
  parts.push(
    b.mode === 'propose'
      ? `# Ratchet brief: propose experiment for ${s.name}`
      : `# Ratchet brief: conclude experiment #${b.outcome?.id} of ${s.name}`,
    '',
    b.mode === 'propose'
      ? `You are a proposer in Ratchet, a harness that keeps a change only when it really improves ${s.metric.primary} (${s.metric.direction}) on a holdout you cannot see. Make ONE focused change to the code and state your hypothesis.`
      : 'The experiment below has been run and decided. Say what it taught, in one or two sentences, for whoever proposes next.',
    '',
  );
  if (b.mode === 'conclude' && b.outcome) {
    const o = b.outcome;
    parts.push(
      '## The experiment',
      `- #${o.id} (seq ${o.seq}): ${o.hypothesis}`,
      `- decision: **${o.decision}**; ${s.metric.primary} ${fmt(o.score)}${o.delta === null ? '' : ` (Δ ${o.delta >= 0 ? '+' : ''}${o.delta.toFixed(6)} vs the best before)`}`,
      `- reason: ${o.reason}`,
      '',
    );
  }
  if (b.feedback.length > 0) {
    parts.push('## Your previous attempt was refused — fix this first');
    for (const r of b.feedback) {
      parts.push(`- ${r.guardrail}: ${r.message}`);
      if (r.earlier)
        parts.push(
          `  - earlier result: #${r.earlier.id} ${r.earlier.decision}, score ${fmt(r.earlier.score)}; conclusion: ${r.earlier.conclusion ?? '—'}`,
        );
    }
    parts.push('');
  }
  if (b.mode === 'propose' && b.pendingConclusion) {
    const e = b.pendingConclusion;
    parts.push(
      '## Conclude the last experiment first (required)',
      `- #${e.id} ${e.decision}, ${s.metric.primary} ${fmt(e.score)}: ${e.hypothesis}`,
      `- reason: ${e.reason}`,
      '',
    );
  }
  parts.push('## Directions from the person (program.md)', b.program?.trim() || '(none given)', '');
  if (b.direction)
    parts.push(
      `## Your direction: ${b.direction.index} of ${b.direction.of}`,
      `${b.direction.of} agents explore this project at once, each on its own branch from the same baseline; the experiment budget is shared. Yours is direction ${b.direction.index}.`,
      b.direction.text?.trim() ||
        '(no text for this direction: explore what the others are less likely to try)',
      '',
    );
  parts.push(
    '## Contract',
    `- task: ${s.task}; metric: ${s.metric.primary} (${s.metric.direction}), also reported: ${s.metric.also.join(', ') || '—'}`,
    `- surface (what you may edit): ${s.surface.join(', ')}`,
    `- budgets: ${s.budgets.experiments_left ?? '?'} of ${s.budgets.max_experiments} experiments left; ${s.budgets.wall_clock_left_s === null ? '?' : `${s.budgets.wall_clock_left_s} s`} of wall clock left; ${s.budgets.experiment_timeout_s} s per experiment`,
    '',
  );
  if (b.phase?.phase) {
    const p = b.phase.phase;
    parts.push(
      '## Phase in force',
      `- "${p.name}": ${p.key} in ${p.file} has run with ${b.phase.tried.join(', ') || 'nothing yet'}; ${b.phase.remaining} more distinct value(s) needed before anything else is tuned.`,
      '',
    );
  }
  if (b.suggestion && b.mode === 'propose') {
    parts.push(
      `## Suggestion from ${b.suggestion.source} (optional)`,
      `${b.suggestion.summary}`,
      `It would write ${b.suggestion.file} as:`,
      '```yaml',
      b.suggestion.content.trimEnd(),
      '```',
      'Classical tuners are strong on fixed hyperparameter spaces; take it when you have no better idea, or make your own change.',
      '',
    );
  }
  parts.push('## History', b.digest.markdown.trim(), '');
  parts.push('## Rules (enforced by Ratchet, not by this text)', ...rules(b), '');
  parts.push('## How to answer', ...howToAnswer(b), '');
  return `${parts.join('\n')}\n`;
}

/**
 * Write a brief folder for a CLI agent: BRIEF.md (everything), program.md, contract.json, history.md,
 * history.json and, with a suggestion, suggestion/<file>. The folder is mounted read-only at /brief.
 * @returns the brief's text
 */
export function writeBrief(dir: string, b: BriefInput): string {
  mkdirSync(dir, { recursive: true });
  const text = composeBrief(b);
  writeFileSync(join(dir, 'BRIEF.md'), text);
  writeFileSync(join(dir, 'program.md'), b.program ?? '');
  writeFileSync(join(dir, 'contract.json'), `${JSON.stringify(b.summary, null, 2)}\n`);
  writeFileSync(join(dir, 'history.md'), b.digest.markdown);
  writeFileSync(
    join(dir, 'history.json'),
    `${JSON.stringify(
      {
        mode: b.mode,
        experiments: b.digest.entries,
        pending_conclusion: b.pendingConclusion,
        outcome: b.outcome ?? null,
        feedback: b.feedback,
        phase: b.phase?.phase
          ? { ...b.phase.phase, tried: b.phase.tried, remaining: b.phase.remaining }
          : null,
      },
      null,
      2,
    )}\n`,
  );
  if (b.suggestion) {
    const f = join(dir, 'suggestion', b.suggestion.file);
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, b.suggestion.content);
  }
  return text;
}

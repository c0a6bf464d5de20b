/**
 * The `command` proposer: any CLI coding agent (Claude Code `claude -p`, Codex `codex exec`, aider, a script)
 * run at PROPOSE inside the sandbox, with the worktree writable, the vault absent and the network only when the
 * contract allows it. Ratchet writes the agent's brief (directions, contract summary, history digest, rules)
 * into a read-only folder; the agent edits the worktree and answers with a hypothesis in a writable folder
 * outside it (a file in the worktree would be part of the diff). After the run it is asked for a conclusion.
 * The discipline rules are checked on every answer; a refused answer goes back to the agent with the reason.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Suggestion } from '../../agents/brief.js';
import { type DirectionBrief, writeBrief } from '../../agents/brief.js';
import { conclusionRefusal, type Refusal } from '../../agents/discipline.js';
import { AgentRules } from '../../agents/rules.js';
import { type AgentRun, runAgent } from '../../agents/runner.js';
import { abortError, stopRun } from '../../agents/runstate.js';
import { type AgentSettings, agentSettings } from '../../agents/settings.js';
import { usageJson } from '../../agents/usage.js';
import { CONTRACT_FILE, type Contract } from '../../contract/load.js';
import { resetHard } from '../../git/git.js';
import type { PythonRuntime } from '../../sandbox/index.js';
import { RatchetError } from '../../util/errors.js';
import { readFileNoFollow } from '../../util/fs.js';
import type { Outcome, Proposal, ProposeContext, Proposer } from '../types.js';

/** How to build a {@link CommandProposer}. */
export interface CommandProposerOptions {
  contract: Contract;
  runId: string;
  /** The run's worktree (the agent's /workspace). */
  worktree: string;
  /** Interpreter bound into the agent's sandbox (so the agent can run Python). */
  python: PythonRuntime;
  /** Folder for briefs, answers, agent logs and the usage ledger. */
  stateDir: string;
  /** Override of the contract's agent section (tests). */
  settings?: AgentSettings;
  /** The agent's direction in a run with several (docs/ARCHITECTURE.md, "Parallel directions"). */
  direction?: DirectionBrief;
}

const tail = (s: string, n = 5): string => s.trimEnd().split('\n').slice(-n).join('\n');

/** Params of the contract's params file in the worktree, when it parses to an object (for the journal). */
export function paramsOf(contract: Contract, worktree: string): Record<string, unknown> | undefined {
  const f = contract.search?.params_file ?? 'params.yaml';
  const text = readFileNoFollow(worktree, f);
  if (text === null || text.length > 256 * 1024) return undefined;
  try {
    const v = parseYaml(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `command` proposer. Build it with {@link createCommandProposer}. */
export class CommandProposer implements Proposer {
  readonly name = 'command';
  /** A suggestion to offer in the next brief (set by the hybrid proposer before each PROPOSE). */
  suggestion: Suggestion | null = null;
  readonly rules: AgentRules;
  private readonly o: CommandProposerOptions;
  private calls = 0;
  private closed = false;
  /** The run's kill switch, as last seen at PROPOSE (a conclusion call stops with the run too). */
  private signal: AbortSignal = new AbortController().signal;

  constructor(o: CommandProposerOptions) {
    this.o = o;
    const settings = o.settings ?? agentSettings(o.contract);
    if (!settings.command) {
      throw new RatchetError('the command proposer needs the agent command', {
        file: CONTRACT_FILE,
        field: 'agent.command',
        hint: 'add agent: { command: \'claude -p "$(cat "$RATCHET_BRIEF")" --output-format json --dangerously-skip-permissions\', network: true, env: [ANTHROPIC_API_KEY] } (see README, "Connecting an agent")',
      });
    }
    this.rules = new AgentRules({
      contract: o.contract,
      settings,
      runId: o.runId,
      stateDir: o.stateDir,
      source: 'command proposer',
      ...(o.direction ? { direction: o.direction } : {}),
    });
  }

  /** Run the agent once; returns its run (the caller checks the answer). */
  private async call(
    mode: 'propose' | 'conclude',
    brief: Parameters<typeof writeBrief>[1],
    signal: AbortSignal,
  ): Promise<AgentRun & { dir: string }> {
    const dir = join(
      this.o.stateDir,
      'calls',
      `${String(++this.calls).padStart(4, '0')}-${mode}-${Date.now()}`,
    );
    const briefDir = join(dir, 'brief');
    const answerDir = join(dir, 'answer');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(answerDir, { recursive: true });
    writeBrief(briefDir, brief);
    const run = await runAgent({
      mode,
      contract: this.o.contract,
      settings: this.rules.settings,
      python: this.o.python,
      worktree: this.o.worktree,
      briefDir,
      answerDir,
      stdoutPath: join(dir, 'stdout.log'),
      stderrPath: join(dir, 'stderr.log'),
      signal,
    });
    this.rules.addUsage(run.answer.usage);
    return { ...run, dir };
  }

  /**
   * Brief the agent, let it change the worktree, and check its answer against the discipline rules; a refused
   * answer is sent back with the reason (up to `agent.attempts` times).
   * @throws Error when the agent fails, or its last answer is still refused (the loop records `rejected`);
   *   stops the run when the token or cost cap is used
   */
  async propose(ctx: ProposeContext): Promise<Proposal> {
    if (this.closed) throw new Error('the command proposer is closed');
    this.signal = ctx.signal;
    const rules = this.rules;
    let feedback: Refusal[] = [];
    const attempts = rules.settings.attempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const cap = rules.capTrip();
      if (cap) {
        rules.refuse(cap);
        await stopRun(this.o.contract.projectDir, ctx.signal, cap.message);
      }
      if (attempt > 1) await resetHard(this.o.worktree, 'HEAD');
      const pending = rules.pending();
      const brief = await rules.briefInput('propose', 'files', {
        feedback,
        ...(this.suggestion ? { suggestion: this.suggestion } : {}),
      });
      const run = await this.call('propose', brief, ctx.signal);
      if (run.sandbox.status === 'aborted' || ctx.signal.aborted) throw abortError('the agent');
      if (run.sandbox.status !== 'ok') {
        throw new Error(
          `the agent command ${run.sandbox.status === 'timeout' ? 'timed out' : 'failed'} (${run.sandbox.message})` +
            `${run.stderr.trim() ? `: ${tail(run.stderr, 3)}` : ''}`,
        );
      }
      const a = run.answer;
      const refusals: Refusal[] = [];
      if (pending) {
        if (a.previousConclusion) rules.conclude(pending.id, a.previousConclusion);
        else refusals.push(conclusionRefusal(pending));
      }
      refusals.push(...(await rules.check(this.o.worktree, a.hypothesis)));
      if (refusals.length === 0) {
        const params = paramsOf(this.o.contract, this.o.worktree);
        return {
          hypothesis: a.hypothesis!,
          ...(params ? { params } : {}),
          meta: {
            agent: {
              proposer: 'command',
              attempt,
              calls: run.dir,
              usage: a.usage ? usageJson(a.usage) : null,
              run_usage: usageJson(rules.ledger.usage),
            },
          },
        };
      }
      for (const r of refusals) rules.refuse(r, { attempt, of: attempts });
      feedback = [
        ...refusals,
        ...a.problems.map((m) => ({ guardrail: 'hypothesis-required', message: m }) as Refusal),
      ];
    }
    throw new Error(
      `refused after ${attempts} attempt(s): ${feedback.map((r) => `${r.guardrail}: ${r.message}`).join('; ')}`,
    );
  }

  /** Nothing to learn here: the agent reads the history in its next brief. */
  async observe(_outcome: Outcome): Promise<void> {}

  /**
   * Ask the agent what the experiment taught (the worktree is read-only for this call).
   * @returns the conclusion, or null when the agent gave none (then the next experiment waits for it)
   */
  async conclude(outcome: Outcome & { hypothesis: string; reason: string }): Promise<string | null> {
    if (this.closed) return null;
    const rules = this.rules;
    const rec = rules.records().run.find((e) => e.seq === outcome.seq);
    if (!rec || rules.capTrip() || this.signal.aborted) return null;
    const brief = await rules.briefInput('conclude', 'files', {
      outcome: {
        id: rec.id,
        seq: rec.seq,
        hypothesis: rec.hypothesis,
        decision: rec.decision,
        score: rec.score,
        delta: rec.delta,
        reason: rec.reason,
      },
    });
    const run = await this.call('conclude', brief, this.signal);
    const text = run.sandbox.status === 'ok' ? run.answer.conclusion : undefined;
    if (text) {
      rules.conclude(rec.id, text);
      return text;
    }
    if (rules.settings.discipline.require_conclusion && rec.decision !== 'rejected') {
      const r = conclusionRefusal(rec);
      rules.refuse({
        ...r,
        message: `the agent gave no conclusion for experiment #${rec.id}; the next experiment waits for it`,
      });
    }
    return null;
  }

  /** Close the journal connection. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.rules.close();
  }
}

/**
 * Build the `command` proposer.
 * @throws RatchetError when the contract has no `agent.command`, or its agent section is unreadable
 */
export function createCommandProposer(o: CommandProposerOptions): CommandProposer {
  return new CommandProposer(o);
}

/**
 * The `openai` proposer: any OpenAI-compatible chat endpoint (hosted, or local through Ollama or vLLM) with
 * tools restricted to the surface (list, read, write a file, search the traces, query the journal, finish with a
 * hypothesis). The model runs in Ratchet's process but can only act through those tools, so it never reaches the
 * vault, the project checkout or the network. Its tokens and cost are counted from every completion's usage and
 * capped by the contract: at the cap the run stops. The discipline rules are checked when it calls `finish`; a
 * refusal is the tool's answer, and the model may fix its change.
 */
import { writeFileSync } from 'node:fs';
import { composeBrief, type DirectionBrief, type Suggestion } from '../../agents/brief.js';
import { conclusionRefusal, type Refusal } from '../../agents/discipline.js';
import { AgentRules } from '../../agents/rules.js';
import { abortError, stopRun } from '../../agents/runstate.js';
import { type AgentSettings, agentSettings } from '../../agents/settings.js';
import { usageJson } from '../../agents/usage.js';
import { CONTRACT_FILE, type Contract } from '../../contract/load.js';
import { readLock } from '../../contract/lock.js';
import { resetHard } from '../../git/git.js';
import { refusalEvent, type ToolRefusal } from '../../guardrails/refused.js';
import { RatchetError } from '../../util/errors.js';
import { readFileNoFollow, writeFileNoFollow } from '../../util/fs.js';
import { paramsOf } from '../command/index.js';
import type { Outcome, Proposal, ProposeContext, Proposer } from '../types.js';
import { ChatClient, type ChatMessage } from './client.js';
import { type PathRefusal, proposeTools, runFileTool, surfacePath, type ToolScope } from './tools.js';

export { ChatClient, type ChatMessage, type Completion, type ToolCall, type ToolSpec } from './client.js';
export {
  type PathRefusal,
  proposeTools,
  runFileTool,
  surfaceFiles,
  surfacePath,
  type ToolScope,
} from './tools.js';

/** How to build an {@link OpenAIProposer}. */
export interface OpenAIProposerOptions {
  contract: Contract;
  runId: string;
  worktree: string;
  /** Folder for the usage ledger and the transcripts. */
  stateDir: string;
  /** Override of the contract's agent section (tests). */
  settings?: AgentSettings;
  /** Name recorded on experiments (default `openai`; the hybrid uses `hybrid`). */
  /** The agent's direction in a run with several (docs/ARCHITECTURE.md, "Parallel directions"). */
  direction?: DirectionBrief;
  name?: string;
}

const SYSTEM =
  'You are a careful machine-learning engineer working inside Ratchet, a harness that runs each change you make ' +
  'in a sandbox, scores it on a holdout you cannot see, and keeps it only when the improvement is real. Work ' +
  'through the tools only. Make one focused change per experiment, then call finish with a precise hypothesis.';

/** The `openai` proposer. Build it with {@link createOpenAIProposer}. */
export class OpenAIProposer implements Proposer {
  readonly name: string;
  /** A suggestion to offer in the next brief (set by the hybrid proposer before each PROPOSE). */
  suggestion: Suggestion | null = null;
  /** Whether the model called take_suggestion during the last PROPOSE. */
  tookSuggestion = false;
  readonly rules: AgentRules;
  readonly client: ChatClient;
  private readonly o: OpenAIProposerOptions;
  private readonly scope: ToolScope;
  private signal: AbortSignal = new AbortController().signal;
  private transcripts = 0;
  private closed = false;

  constructor(o: OpenAIProposerOptions) {
    this.o = o;
    this.name = o.name ?? 'openai';
    const settings = o.settings ?? agentSettings(o.contract);
    const cfg = settings.openai;
    if (!cfg) {
      throw new RatchetError(`the ${this.name} proposer needs an OpenAI-compatible endpoint`, {
        file: CONTRACT_FILE,
        field: 'agent.openai',
        hint: 'add agent: { openai: { base_url: http://127.0.0.1:11434/v1, model: qwen2.5-coder:14b } } (Ollama), or a hosted endpoint with api_key_env',
      });
    }
    if (settings.max_cost_usd !== undefined && !cfg.price) {
      throw new RatchetError('agent.max_cost_usd needs the prices of the endpoint to compute a cost', {
        file: CONTRACT_FILE,
        field: 'agent.openai.price',
        hint: 'add price: { input_per_mtok: 2.5, output_per_mtok: 10 } (USD per million tokens), or cap tokens with agent.max_tokens',
      });
    }
    this.client = new ChatClient(cfg, settings.requestTimeoutMs, process.env[cfg.api_key_env]);
    this.rules = new AgentRules({
      contract: o.contract,
      settings,
      runId: o.runId,
      stateDir: o.stateDir,
      source: `${this.name} proposer`,
      ...(o.direction ? { direction: o.direction } : {}),
    });
    this.scope = {
      worktree: o.worktree,
      projectDir: o.contract.projectDir,
      surface: o.contract.surface,
      locked: new Set(Object.keys(readLock(o.contract.projectDir).contract)),
    };
  }

  private save(messages: ChatMessage[], kind: string): void {
    try {
      writeFileSync(
        `${this.o.stateDir}/transcript-${String(++this.transcripts).padStart(4, '0')}-${kind}.json`,
        `${JSON.stringify(messages, null, 2)}\n`,
      );
    } catch {
      // transcripts are a convenience
    }
  }

  /**
   * Record a refused tool call as a journal event (`agent.refused`, with the guardrail, the tool and the path):
   * through the loop, tied to the experiment being proposed, or straight into the journal without one.
   */
  private recordToolRefusal(ctx: ProposeContext, r: ToolRefusal): void {
    const ev = refusalEvent(r, this.rules.source);
    if (ctx.onEvent) ctx.onEvent(ev);
    else
      this.rules.journal.addEvent({
        ...ev,
        ts: new Date().toISOString(),
        runId: this.rules.runId,
        experimentId: null,
      });
  }

  /** One completion, counted against the caps; stops the run at the cap. */
  private async complete(messages: ChatMessage[], tools: ReturnType<typeof proposeTools> | undefined) {
    const cap = this.rules.capTrip();
    if (cap) {
      this.rules.refuse(cap);
      await resetHard(this.o.worktree, 'HEAD');
      await stopRun(this.o.contract.projectDir, this.signal, cap.message);
    }
    const c = await this.client.complete(messages, tools, this.signal);
    this.rules.addUsage(c.usage);
    return c;
  }

  /**
   * Converse with the model until it finishes with an accepted hypothesis.
   * @throws Error when the model does not finish within `agent.openai.max_turns`, or its `agent.attempts`-th
   *   finish is still refused; stops the run when the token or cost cap is used
   */
  async propose(ctx: ProposeContext): Promise<Proposal> {
    if (this.closed) throw new Error(`the ${this.name} proposer is closed`);
    this.signal = ctx.signal;
    this.tookSuggestion = false;
    const rules = this.rules;
    const settings = rules.settings;
    let pending = rules.pending();
    const brief = await rules.briefInput(
      'propose',
      'tools',
      this.suggestion ? { suggestion: this.suggestion } : {},
    );
    const messages: ChatMessage[] = [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: composeBrief(brief) },
    ];
    let refused = 0;
    let toolRefusals = 0;
    try {
      for (let turn = 0; turn < settings.openai!.max_turns; turn++) {
        if (ctx.signal.aborted) throw abortError(`the ${this.name} proposer`);
        const tools = proposeTools({
          pendingConclusion: pending !== null,
          suggestion: this.suggestion !== null,
        });
        const { message } = await this.complete(messages, tools);
        messages.push(message);
        if (!message.tool_calls?.length) {
          messages.push({
            role: 'user',
            content: 'Act through the tools. When your change is in place, call finish with your hypothesis.',
          });
          continue;
        }
        for (const call of message.tool_calls) {
          let args: Record<string, unknown> = {};
          try {
            args = JSON.parse(call.function.arguments || '{}') as Record<string, unknown>;
          } catch {
            messages.push({
              role: 'tool',
              tool_call_id: call.id,
              content: JSON.stringify({ error: 'arguments are not valid JSON' }),
            });
            continue;
          }
          const name = call.function.name;
          let result: unknown;
          if (name === 'finish') {
            const hypothesis = typeof args['hypothesis'] === 'string' ? args['hypothesis'] : '';
            const refusals: Refusal[] = [];
            if (pending) refusals.push(conclusionRefusal(pending));
            refusals.push(...(await rules.check(this.o.worktree, hypothesis)));
            if (refusals.length === 0) {
              const params = paramsOf(this.o.contract, this.o.worktree);
              return {
                hypothesis: hypothesis.trim(),
                ...(params ? { params } : {}),
                meta: {
                  agent: {
                    proposer: this.name,
                    model: settings.openai!.model,
                    turns: turn + 1,
                    refused,
                    tool_refusals: toolRefusals,
                    run_usage: usageJson(rules.ledger.usage),
                  },
                },
              };
            }
            refused++;
            for (const r of refusals) rules.refuse(r, { attempt: refused, of: settings.attempts });
            if (refused >= settings.attempts) {
              throw new Error(
                `refused after ${refused} attempt(s): ${refusals.map((r) => `${r.guardrail}: ${r.message}`).join('; ')}`,
              );
            }
            result = {
              refused: refusals.map((r) => ({
                guardrail: r.guardrail,
                message: r.message,
                ...(r.earlier ? { earlier: r.earlier } : {}),
              })),
              note: `fix this and call finish again (${settings.attempts - refused} attempt(s) left)`,
            };
          } else if (name === 'conclude_previous' && pending) {
            const text = typeof args['conclusion'] === 'string' ? args['conclusion'].trim() : '';
            if (text.length === 0) result = { error: 'give the conclusion' };
            else {
              rules.conclude(pending.id, text);
              result = { ok: true, experiment: pending.id };
              pending = null;
            }
          } else if (name === 'take_suggestion' && this.suggestion) {
            const r = surfacePath(this.scope, this.suggestion.file, true);
            if ('error' in r) result = r;
            else {
              writeFileNoFollow(this.scope.worktree, r.rel, this.suggestion.content);
              this.tookSuggestion = true;
              result = { ok: true, path: r.rel };
            }
          } else {
            result = await runFileTool(this.scope, name, args, ctx.signal);
          }
          const refusal = pathRefusal(result);
          if (refusal) {
            toolRefusals++;
            const path =
              name === 'take_suggestion' ? (this.suggestion?.file ?? null) : (args['path'] ?? null);
            this.recordToolRefusal(ctx, {
              guardrail: refusal.guardrail,
              tool: name,
              path: path === null ? null : String(path),
              message: refusal.error,
            });
          }
          messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
        }
      }
      throw new Error(
        `the model did not finish within ${settings.openai!.max_turns} turns (agent.openai.max_turns)`,
      );
    } finally {
      this.save(messages, 'propose');
    }
  }

  /** Nothing to learn here: the model reads the history in its next brief. */
  async observe(_outcome: Outcome): Promise<void> {}

  /**
   * Ask the model what the experiment taught (one completion, no tools).
   * @returns the conclusion, or null when it gave none (then the next PROPOSE requires it)
   */
  async conclude(outcome: Outcome & { hypothesis: string; reason: string }): Promise<string | null> {
    if (this.closed || this.signal.aborted) return null;
    const rules = this.rules;
    const rec = rules.records().run.find((e) => e.seq === outcome.seq);
    if (!rec || rules.capTrip()) return null;
    const brief = await rules.briefInput('conclude', 'tools', {
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
    const messages: ChatMessage[] = [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: composeBrief(brief) },
    ];
    let text = '';
    try {
      const c = await this.client.complete(messages, undefined, this.signal);
      rules.addUsage(c.usage);
      messages.push(c.message);
      text = (c.message.content ?? '').trim();
    } catch {
      text = '';
    } finally {
      this.save(messages, 'conclude');
    }
    if (text) {
      rules.conclude(rec.id, text);
      return text;
    }
    if (rules.settings.discipline.require_conclusion && rec.decision !== 'rejected') {
      rules.refuse({
        ...conclusionRefusal(rec),
        message: `the model gave no conclusion for experiment #${rec.id}`,
      });
    }
    return null;
  }

  /** Close the journal connection. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.rules.close();
  }

  /** The current content of a worktree file (for the hybrid's did-it-take-the-suggestion check). */
  read(rel: string): string | null {
    const r = surfacePath(this.scope, rel, false);
    if ('error' in r) return null;
    return readFileNoFollow(this.scope.worktree, r.rel);
  }
}

/** A tool result that is a path refused by a guardrail (not a malformed call), or null. */
function pathRefusal(result: unknown): (PathRefusal & { guardrail: string }) | null {
  if (result === null || typeof result !== 'object') return null;
  const r = result as Partial<PathRefusal>;
  return typeof r.error === 'string' && typeof r.guardrail === 'string'
    ? { error: r.error, guardrail: r.guardrail }
    : null;
}

/**
 * Build the `openai` proposer.
 * @throws RatchetError when the contract has no `agent.openai`, or a cost cap without prices
 */
export function createOpenAIProposer(o: OpenAIProposerOptions): OpenAIProposer {
  return new OpenAIProposer(o);
}

/**
 * A minimal client of the OpenAI-compatible chat completions API (`POST <base_url>/chat/completions`): hosted
 * endpoints, or local ones through Ollama or vLLM. Tool calls, usage, retries on 429/5xx, a timeout per request
 * and the run's kill switch. No SDK: Node's fetch is enough.
 */

import type { Usage } from '../../agents/usage.js';
import type { OpenAIConfig } from '../../contract/agent.js';

/** A function the model may call. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One chat message. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/** A tool offered to the model (JSON Schema parameters). */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** What one completion returned. */
export interface Completion {
  message: ChatMessage;
  finishReason: string | null;
  /** Tokens of this request (and its cost at the contract's prices). */
  usage: Usage;
}

const RETRY_STATUS = new Set([408, 409, 429, 500, 502, 503, 504]);
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((res) => {
    const t = setTimeout(res, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        res();
      },
      { once: true },
    );
  });

/** A chat client for one endpoint and model. */
export class ChatClient {
  readonly url: string;

  /**
   * @param cfg the contract's `agent.openai`
   * @param timeoutMs longest wait for one completion
   * @param apiKey the key (from the environment variable the contract names); none for local endpoints
   */
  constructor(
    readonly cfg: OpenAIConfig,
    readonly timeoutMs: number,
    private readonly apiKey: string | undefined,
    private readonly retries = 2,
  ) {
    this.url = `${cfg.base_url.replace(/\/+$/, '')}/chat/completions`;
  }

  /** The cost of some tokens at the contract's prices (0 without prices). */
  cost(prompt: number, completion: number): number {
    const p = this.cfg.price;
    return p ? (prompt * p.input_per_mtok + completion * p.output_per_mtok) / 1e6 : 0;
  }

  /**
   * Ask for one completion.
   * @throws Error naming the endpoint and status for an HTTP error (after retries on 429/5xx), a timeout, or a
   *   reply that is not a chat completion; an AbortError when `signal` fires
   */
  async complete(
    messages: ChatMessage[],
    tools: ToolSpec[] | undefined,
    signal: AbortSignal,
  ): Promise<Completion> {
    const body: Record<string, unknown> = { model: this.cfg.model, messages };
    if (tools?.length) {
      body['tools'] = tools;
      body['tool_choice'] = 'auto';
    }
    if (this.cfg.temperature !== undefined) body['temperature'] = this.cfg.temperature;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.apiKey) headers['authorization'] = `Bearer ${this.apiKey}`;
    let last = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (signal.aborted)
        throw Object.assign(new Error('the chat request was abandoned: the run is stopping'), {
          name: 'AbortError',
        });
      let res: Response;
      try {
        res = await fetch(this.url, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
        });
      } catch (e) {
        if (signal.aborted)
          throw Object.assign(new Error('the chat request was abandoned: the run is stopping'), {
            name: 'AbortError',
          });
        last =
          (e as Error).name === 'TimeoutError'
            ? `no answer within ${this.timeoutMs / 1000} s`
            : (e as Error).message;
        if (attempt < this.retries) {
          await sleep(1000 * 2 ** attempt, signal);
          continue;
        }
        throw new Error(`the chat endpoint ${this.url} failed: ${last} (agent.openai.base_url)`);
      }
      const text = await res.text();
      if (!res.ok) {
        last = `${res.status} ${res.statusText}: ${text.slice(0, 300)}`;
        if (RETRY_STATUS.has(res.status) && attempt < this.retries) {
          const after = Number(res.headers.get('retry-after'));
          await sleep(
            Number.isFinite(after) && after > 0 ? Math.min(after, 10) * 1000 : 1000 * 2 ** attempt,
            signal,
          );
          continue;
        }
        const hint =
          res.status === 401 || res.status === 403
            ? ` (check the key in $${this.cfg.api_key_env}, named by agent.openai.api_key_env)`
            : res.status === 404
              ? ' (check agent.openai.base_url and agent.openai.model)'
              : '';
        throw new Error(`the chat endpoint ${this.url} answered ${last}${hint}`);
      }
      let json: {
        choices?: { message?: ChatMessage; finish_reason?: string | null }[];
        usage?: { prompt_tokens?: number; completion_tokens?: number };
      };
      try {
        json = JSON.parse(text);
      } catch {
        throw new Error(`the chat endpoint ${this.url} did not answer JSON: ${text.slice(0, 200)}`);
      }
      const choice = json.choices?.[0];
      if (!choice?.message)
        throw new Error(`the chat endpoint ${this.url} answered without a message: ${text.slice(0, 200)}`);
      const m = choice.message;
      const prompt = Number(json.usage?.prompt_tokens ?? 0) || 0;
      const completion = Number(json.usage?.completion_tokens ?? 0) || 0;
      const message: ChatMessage = {
        role: 'assistant',
        content: typeof m.content === 'string' ? m.content : null,
      };
      if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
        // Local servers differ in the details: a missing id, or arguments as an object instead of a JSON string.
        message.tool_calls = m.tool_calls.map((c, i) => {
          const args = (c.function as { arguments?: unknown })?.arguments;
          return {
            id: typeof c.id === 'string' && c.id ? c.id : `call_${Date.now()}_${i}`,
            type: 'function' as const,
            function: {
              name: String(c.function?.name ?? ''),
              arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
            },
          };
        });
      }
      return {
        message,
        finishReason: choice.finish_reason ?? null,
        usage: {
          inputTokens: prompt,
          outputTokens: completion,
          costUsd: this.cost(prompt, completion),
          calls: 1,
        },
      };
    }
    throw new Error(`the chat endpoint ${this.url} failed: ${last}`);
  }
}

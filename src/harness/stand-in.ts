/**
 * The stand-in model: a scripted OpenAI-compatible chat server that takes the place of a hosted LLM where there is
 * none (tests, the `harness-qa` example, a demo without an API key). It is NOT a language model: its answers follow
 * the fixed rules of `src/harness/stand-in-rules.ts`, so a harness change has a deterministic effect on the score
 * and the tokens. It speaks the part of the OpenAI API a harness uses:
 *
 * - `POST /v1/chat/completions` → a `chat.completion` object with `choices[0].message.content` and `usage`;
 * - `GET /v1/models` → a list with its one model;
 * - anything else → 404 with an OpenAI-style error (`{"error": {"message", "type", "param", "code"}}`).
 *
 * Every request needs `Authorization: Bearer <key>` equal to the configured key (401 otherwise), so a test can
 * prove that a proxy in front of it injected the key. The header `X-Ratchet-Task` is recorded with each call.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RatchetError } from '../util/errors.js';
import { type Family, type StandInMessage, standInReply } from './stand-in-rules.js';

/** The model name the stand-in answers to unless told otherwise. */
export const STAND_IN_MODEL = 'ratchet-stand-in';

/** The largest request body accepted (413 above). */
const MAX_BODY_BYTES = 1 << 20;

/** Options of {@link startStandIn}. */
export interface StandInOptions {
  /** TCP port; 0 (the default) takes any free one. */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** The API key every request must carry as `Authorization: Bearer <key>`. */
  key: string;
  /** The one model it serves (default {@link STAND_IN_MODEL}); a request naming another gets 404. */
  model?: string;
}

/** One chat completion the stand-in served. */
export interface StandInCall {
  /** The request's `X-Ratchet-Task` header, or null. */
  task: string | null;
  promptTokens: number;
  completionTokens: number;
  /** The family of the question answered, or null when there was none. */
  family: Family | null;
  /** Whether the reply's result was the correct one (before any cut by `max_tokens`). */
  correct: boolean;
  finishReason: 'stop' | 'length';
}

/** A running stand-in model. */
export interface StandIn {
  /** Base URL ending in `/v1` (give it to a client as `OPENAI_BASE_URL`). */
  url: string;
  host: string;
  port: number;
  model: string;
  /** HTTP requests received so far, whatever their outcome. */
  readonly requests: number;
  /** The chat completions served so far, in order (a live view). */
  readonly calls: readonly StandInCall[];
  /** Stop listening and drop open connections. */
  close(): Promise<void>;
}

/** An error answered in OpenAI's shape. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const invalid = (message: string, param: string | null = null) =>
  new ApiError(400, message, 'invalid_request_error', param);

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError): void {
  send(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } });
}

/** Whether the request carries `Authorization: Bearer <key>` (compared in constant time). */
function authorized(req: IncomingMessage, key: string): boolean {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!.trim());
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`, 'invalid_request_error');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The text of a message's content: a string, null (an assistant turn with none) or an array of text parts. */
function contentText(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (content === null) return '';
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        const p = part as { type?: unknown; text?: unknown } | null;
        if (p && typeof p === 'object' && p.type === 'text' && typeof p.text === 'string') return p.text;
        throw invalid(
          `the stand-in reads only text parts; messages[${i}].content[${j}] is not one`,
          `messages.[${i}].content`,
        );
      })
      .join('\n');
  }
  throw invalid(
    `messages[${i}].content must be a string or an array of text parts`,
    `messages.[${i}].content`,
  );
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** Validate a chat completion request as OpenAI would (the parts the stand-in uses). */
function parseRequest(
  text: string,
  model: string,
): { messages: StandInMessage[]; maxTokens: number | undefined } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    );
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw invalid('the request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '')
    throw invalid('you must provide a model parameter', 'model');
  if (b.model !== model)
    throw new ApiError(
      404,
      `The model \`${b.model}\` does not exist or you do not have access to it. This stand-in serves only \`${model}\`.`,
      'invalid_request_error',
      'model',
      'model_not_found',
    );
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    throw invalid('messages must be a non-empty array', 'messages');
  const messages = b.messages.map((raw, i): StandInMessage => {
    const m = raw as { role?: unknown; content?: unknown } | null;
    if (!m || typeof m !== 'object' || Array.isArray(m))
      throw invalid(`messages[${i}] must be an object`, 'messages');
    if (typeof m.role !== 'string' || !ROLES.has(m.role))
      throw invalid(`messages[${i}].role must be one of ${[...ROLES].join(', ')}`, `messages.[${i}].role`);
    return { role: m.role, content: contentText(m.content, i) };
  });
  if (b.stream === true) throw invalid('the stand-in model does not stream; send stream: false', 'stream');
  if (b.n !== undefined && b.n !== null && b.n !== 1)
    throw invalid('the stand-in model returns one choice (n = 1)', 'n');
  if (b.temperature !== undefined && b.temperature !== null) {
    if (typeof b.temperature !== 'number' || !(b.temperature >= 0 && b.temperature <= 2))
      throw invalid('temperature must be a number between 0 and 2', 'temperature');
  }
  const rawMax = b.max_completion_tokens ?? b.max_tokens;
  let maxTokens: number | undefined;
  if (rawMax !== undefined && rawMax !== null) {
    if (typeof rawMax !== 'number' || !Number.isInteger(rawMax) || rawMax < 1)
      throw invalid('max_tokens must be an integer of at least 1', 'max_tokens');
    maxTokens = rawMax;
  }
  return { messages, maxTokens };
}

/**
 * Start the stand-in model (a scripted OpenAI-compatible server, not an LLM; see the module comment).
 * @returns its base URL (ending in `/v1`), a live request counter and call log, and `close()`
 * @throws RatchetError when the address cannot be bound
 */
export async function startStandIn(opts: StandInOptions): Promise<StandIn> {
  const host = opts.host ?? '127.0.0.1';
  const model = opts.model ?? STAND_IN_MODEL;
  if (opts.key === '') throw new RatchetError('the stand-in model needs a non-empty key', { field: '--key' });
  const calls: StandInCall[] = [];
  let requests = 0;
  let nextId = 0;
  const created = Math.floor(Date.now() / 1000);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const path = (req.url ?? '/').split('?')[0]!;
    if (!authorized(req, opts.key))
      throw new ApiError(
        401,
        'Incorrect API key provided. The stand-in model needs Authorization: Bearer <its key>.',
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
    if (req.method === 'GET' && path === '/v1/models') {
      send(res, 200, {
        object: 'list',
        data: [{ id: model, object: 'model', created, owned_by: 'ratchet' }],
      });
      return;
    }
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      const { messages, maxTokens } = parseRequest(await readBody(req), model);
      const reply = standInReply(messages, maxTokens);
      const taskHeader = req.headers['x-ratchet-task'];
      calls.push({
        task: typeof taskHeader === 'string' ? taskHeader : null,
        promptTokens: reply.promptTokens,
        completionTokens: reply.completionTokens,
        family: reply.family,
        correct: reply.correct,
        finishReason: reply.finishReason,
      });
      send(res, 200, {
        id: `chatcmpl-standin-${++nextId}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: reply.content },
            finish_reason: reply.finishReason,
          },
        ],
        usage: {
          prompt_tokens: reply.promptTokens,
          completion_tokens: reply.completionTokens,
          total_tokens: reply.promptTokens + reply.completionTokens,
        },
      });
      return;
    }
    throw new ApiError(404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (e instanceof ApiError) sendError(res, e);
      else sendError(res, new ApiError(500, (e as Error).message ?? String(e), 'server_error'));
      // An unread body (an early 401/404/413) must not hold the connection.
      req.resume();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new RatchetError(`cannot listen on ${host}:${opts.port ?? 0}: ${e.code ?? e.message}`, {
          field: e.code === 'EADDRINUSE' ? '--port' : '--host',
          hint:
            e.code === 'EADDRINUSE' ? 'pick another port (--port 0 takes any free one)' : 'check the address',
        }),
      ),
    );
    server.listen(opts.port ?? 0, host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/v1`,
    host,
    port,
    model,
    get requests() {
      return requests;
    },
    calls,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}

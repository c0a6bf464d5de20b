/**
 * The model proxy of a harness task (docs/ARCHITECTURE.md, "Harness tasks"): the only way a sandboxed harness
 * reaches its language model. It is an HTTP server on a Unix socket in the experiment's run folder, bound into the
 * sandbox (which has no network) and reached there through a forwarder on the sandbox's own loopback
 * (python/model_shim.py, `OPENAI_BASE_URL=http://127.0.0.1:<port>/v1`). For every request it:
 * - accepts only `POST …/chat/completions` (and answers `GET …/models` itself), JSON bodies of at most 1 MiB,
 *   without streaming;
 * - attributes the request to the task named by the `X-Ratchet-Task` header (else "unattributed") and refuses it
 *   with a 429 once the task's or the experiment's token cap, or the task's request cap, is reached;
 * - sets the contract's model, adds the API key from the host's environment (it never enters the sandbox) and
 *   forwards to the configured endpoint, with a timeout;
 * - counts tokens and cost from the RESPONSE's `usage` (the ground truth, never what the harness claims), and
 *   replays identical requests from a cache keyed by the SHA-256 of the canonical request when enabled (a replayed
 *   response's tokens still count: the objective must not depend on the cache);
 * - appends the request and the response to the experiment's raw trace (`model_trace.jsonl`, searchable with
 *   `traces grep/sql`).
 * Everything the harness sends is data: it never becomes a URL, a header name or a file path on the host (the
 * cache file name is a hash), and no request can stall the orchestrator (size limits, timeouts, a cap on requests
 * in flight).
 */

import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

/** Largest request body accepted, bytes. */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Largest upstream response read, bytes. */
export const MAX_RESPONSE_BYTES = 4 << 20;
/** Requests handled at once; more get a 429. */
export const MAX_IN_FLIGHT = 16;
/** Task id recorded for requests without a (valid) `X-Ratchet-Task` header. */
export const UNATTRIBUTED = '';

/** Settings of one proxy (one experiment). */
export interface ProxyOptions {
  /** Host path of the Unix socket to listen on (created; removed at close). */
  socketPath: string;
  /** Upstream base URL, e.g. `http://127.0.0.1:8400/v1`. */
  endpoint: string;
  model: string;
  /** The API key (from the host environment), or null for an endpoint without auth. */
  apiKey: string | null;
  prices: { input_per_mtok: number; output_per_mtok: number };
  caps: { tokens_per_task: number; tokens_per_experiment: number; requests_per_task: number };
  /** Folder of the response cache (shared by the project's experiments), or null for no cache. */
  cacheDir: string | null;
  /** Answer from the cache (default true); false still writes every answer into it (noise runs). */
  cacheRead?: boolean;
  timeoutMs: number;
  /** Host file the raw trace is appended to (JSON lines). */
  tracePath: string;
}

/** Usage of one task (or of the whole experiment). */
export interface TaskUsage {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** prompt + completion tokens. */
  tokens: number;
  costUsd: number;
  /** Requests answered from the cache. */
  cached: number;
  /** Requests refused by a cap. */
  refused: number;
  /** Responses without a usable `usage` (counted as 0 tokens). */
  usageMissing: number;
}

/** What the proxy counted, per task id and in total. */
export interface Ledger {
  tasks: Record<string, TaskUsage>;
  total: TaskUsage;
}

/** A running proxy. */
export interface ModelProxy {
  /** The counts so far. */
  ledger(): Ledger;
  /** Stop listening, remove the socket, and return the final counts. */
  close(): Promise<Ledger>;
}

function emptyUsage(): TaskUsage {
  return {
    requests: 0,
    promptTokens: 0,
    completionTokens: 0,
    tokens: 0,
    costUsd: 0,
    cached: 0,
    refused: 0,
    usageMissing: 0,
  };
}

/** JSON with object keys sorted at every level (a request's identity for the cache). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** A task id from the header: at most 200 printable characters, else unattributed. */
function taskOf(req: IncomingMessage): string {
  const h = req.headers['x-ratchet-task'];
  const v = Array.isArray(h) ? h[0] : h;
  return v && v.length <= 200 && /^[\x20-\x7e]+$/.test(v) ? v : UNATTRIBUTED;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function openAiError(res: ServerResponse, status: number, message: string, code: string): void {
  sendJson(res, status, {
    error: { message: `ratchet proxy: ${message}`, type: 'invalid_request_error', code },
  });
}

/** The token counts of a response's `usage`, or null when absent or not non-negative integers. */
function usageOf(body: unknown): { prompt: number; completion: number } | null {
  const u = (body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  return u && ok(u.prompt_tokens) && ok(u.completion_tokens)
    ? { prompt: u.prompt_tokens, completion: u.completion_tokens }
    : null;
}

/**
 * The request body, or null when it is over `limit` bytes: the rest is then read and dropped (nothing kept), so the
 * client gets its 413 instead of a broken pipe; the server's request timeout bounds a body that never ends.
 */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? null : Buffer.concat(chunks);
}

/**
 * Start the proxy of one experiment.
 * @throws Error when the socket cannot be created
 */
export async function startProxy(opts: ProxyOptions): Promise<ModelProxy> {
  const tasks = new Map<string, TaskUsage>();
  const total = emptyUsage();
  let inFlight = 0;
  const usageFor = (task: string) => {
    let u = tasks.get(task);
    if (!u) {
      u = emptyUsage();
      tasks.set(task, u);
    }
    return u;
  };
  const count = (task: string, f: (u: TaskUsage) => void) => {
    f(usageFor(task));
    f(total);
  };
  const trace = (entry: Record<string, unknown>) => {
    try {
      appendFileSync(opts.tracePath, `${JSON.stringify({ ts: new Date().toISOString(), ...entry })}\n`);
    } catch {
      // the trace is evidence, not control: a failed write never fails the request
    }
  };
  if (opts.cacheDir) mkdirSync(opts.cacheDir, { recursive: true });
  const base = opts.endpoint.replace(/\/+$/, '');

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method === 'GET' && /(^|\/)models$/.test(path)) {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: opts.model, object: 'model', owned_by: 'ratchet' }],
      });
      return;
    }
    if (req.method !== 'POST' || !/(^|\/)chat\/completions$/.test(path)) {
      req.resume(); // the body is dropped, not left unread (the client would see a broken pipe)
      openAiError(res, 404, 'only POST /v1/chat/completions is served', 'not_found');
      return;
    }
    const task = taskOf(req);
    const raw = await readBody(req, MAX_REQUEST_BYTES);
    if (raw === null) {
      openAiError(res, 413, `the request is larger than ${MAX_REQUEST_BYTES} bytes`, 'too_large');
      return;
    }
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(raw.toString('utf8')) as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      openAiError(res, 400, 'the body is not a JSON object', 'invalid_json');
      return;
    }
    if (body['stream'] === true) {
      openAiError(res, 400, 'streaming is not supported: send stream: false', 'stream_unsupported');
      return;
    }
    const mine = usageFor(task);
    const capped =
      mine.tokens >= opts.caps.tokens_per_task
        ? `task ${JSON.stringify(task)} used its ${opts.caps.tokens_per_task} tokens`
        : mine.requests >= opts.caps.requests_per_task
          ? `task ${JSON.stringify(task)} made its ${opts.caps.requests_per_task} requests`
          : total.tokens >= opts.caps.tokens_per_experiment
            ? `the experiment used its ${opts.caps.tokens_per_experiment} tokens`
            : null;
    if (capped) {
      count(task, (u) => {
        u.refused += 1;
      });
      trace({ task, status: 429, refused: capped });
      openAiError(res, 429, `cap reached: ${capped}`, 'ratchet_cap');
      return;
    }
    const request = { ...body, model: opts.model, stream: false };
    const key = createHash('sha256').update(canonicalJson(request)).digest('hex');
    const cacheFile = opts.cacheDir ? join(opts.cacheDir, `${key}.json`) : null;
    let status = 200;
    let text: string | null = null;
    let cached = false;
    if (cacheFile && opts.cacheRead !== false && existsSync(cacheFile)) {
      text = readFileSync(cacheFile, 'utf8');
      cached = true;
    } else {
      try {
        const r = await fetch(`${base}/chat/completions`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
          },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(opts.timeoutMs),
          redirect: 'error',
        });
        status = r.status;
        const buf = Buffer.from(await r.arrayBuffer());
        if (buf.length > MAX_RESPONSE_BYTES)
          throw new Error(`the response is larger than ${MAX_RESPONSE_BYTES} bytes`);
        text = buf.toString('utf8');
      } catch (e) {
        count(task, (u) => {
          u.requests += 1;
        });
        trace({ task, status: 502, request, error: (e as Error).message });
        openAiError(res, 502, `the model endpoint failed: ${(e as Error).message}`, 'upstream_error');
        return;
      }
    }
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const usage = usageOf(parsed);
    const cost = usage
      ? (usage.prompt * opts.prices.input_per_mtok + usage.completion * opts.prices.output_per_mtok) / 1e6
      : 0;
    count(task, (u) => {
      u.requests += 1;
      if (cached) u.cached += 1;
      if (usage) {
        u.promptTokens += usage.prompt;
        u.completionTokens += usage.completion;
        u.tokens += usage.prompt + usage.completion;
        u.costUsd += cost;
      } else u.usageMissing += 1;
    });
    trace({ task, status, cached, request, response: parsed ?? text.slice(0, 10_000) });
    if (cacheFile && !cached && status === 200 && usage) writeFileAtomic(cacheFile, text);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = createServer((req, res) => {
    if (inFlight >= MAX_IN_FLIGHT) {
      openAiError(res, 429, `more than ${MAX_IN_FLIGHT} requests at once`, 'too_many_requests');
      return;
    }
    inFlight += 1;
    handle(req, res)
      .catch((e: unknown) => {
        if (!res.headersSent) openAiError(res, 500, (e as Error).message, 'internal');
        else res.destroy();
      })
      .finally(() => {
        inFlight -= 1;
      });
  });
  server.requestTimeout = opts.timeoutMs + 5000;
  server.headersTimeout = 10_000;
  rmSync(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  const ledger = (): Ledger => ({
    tasks: Object.fromEntries([...tasks].map(([k, v]) => [k, { ...v }])),
    total: { ...total },
  });
  return {
    ledger,
    close: () =>
      new Promise<Ledger>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(opts.socketPath, { force: true });
          resolve(ledger());
        });
      }),
  };
}

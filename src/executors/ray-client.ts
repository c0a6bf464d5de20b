/**
 * A small client of the Ray Jobs REST API (the dashboard's `/api/...` routes; docs/ARCHITECTURE.md, "Ray
 * executor"), on Node's own HTTP client. Every request has a deadline, every body read is capped, and every
 * answer is validated with zod: nothing the cluster sends can stall or flood the orchestrator.
 *
 * Why not the global `fetch`: Node's fetch (undici) always sends `Sec-Fetch-Mode: cors`, and Ray's dashboard
 * takes any request with a `Sec-Fetch-*` header for a browser's and refuses its PUT and POST with 405 ("method
 * not allowed for browser traffic", its DNS-rebinding and CSRF guard), so a package upload or a job submission
 * through fetch never works. `node:http` sends only the headers given here.
 */

import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';

/** Default timeout of one request, ms. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Largest JSON answer read for a status, a version or a submit, bytes. */
const SMALL_BODY_BYTES = 1024 * 1024;
/** Largest token file read, bytes. */
const MAX_TOKEN_BYTES = 4096;

/** A job's status as Ray reports it. STOPPED, SUCCEEDED and FAILED are terminal. */
export const JobStatusSchema = z.enum(['PENDING', 'RUNNING', 'STOPPED', 'SUCCEEDED', 'FAILED']);
/** One of Ray's job statuses. */
export type JobStatus = z.infer<typeof JobStatusSchema>;
/** Statuses after which a job never changes again. */
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['STOPPED', 'SUCCEEDED', 'FAILED']);

const VersionSchema = z.looseObject({ version: z.string(), ray_version: z.string() });
const JobDetailsSchema = z.looseObject({
  submission_id: z.string().nullish(),
  status: JobStatusSchema,
  message: z.string().nullish(),
  start_time: z.number().nullish(),
  end_time: z.number().nullish(),
  driver_exit_code: z.number().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});
const SubmitAnswerSchema = z.looseObject({ submission_id: z.string() });
const LogsSchema = z.looseObject({ logs: z.string() });
const StopSchema = z.looseObject({ stopped: z.boolean() });

/** What `GET /api/version` says. */
export type RayVersion = z.infer<typeof VersionSchema>;
/** What `GET /api/jobs/<id>` says (the fields Ratchet reads). */
export type JobDetails = z.infer<typeof JobDetailsSchema>;

/** The body of `POST /api/jobs/`. */
export interface SubmitRequest {
  /** Shell command run by the job's driver on a worker, in the working folder. */
  entrypoint: string;
  /** Idempotency key: a retried submit cannot start a second job. */
  submission_id: string;
  /**
   * The tree package (`working_dir`) and the data package (`py_modules`: unpacked and put on PYTHONPATH); the
   * executor always sends a working folder (bench/ray.ts times a bare job without one).
   */
  runtime_env: { working_dir?: string; py_modules?: string[]; env_vars: Record<string, string> };
  /** CPUs the driver reserves. */
  entrypoint_num_cpus: number;
  /** GPUs the driver reserves (the contract's `resources.gpus`; Ray sets CUDA_VISIBLE_DEVICES on the worker). */
  entrypoint_num_gpus?: number;
  metadata: Record<string, string>;
}

/** A request to the cluster that failed: no answer, a timeout, an error status or an answer of the wrong shape. */
export class RayApiError extends Error {
  /** HTTP status (null when there was no answer). */
  readonly status: number | null;
  constructor(message: string, status: number | null) {
    super(message);
    this.name = 'RayApiError';
    this.status = status;
  }
}

/**
 * The Ray auth token to send, or null: the environment variable `tokenEnv`, else the file named by
 * `RAY_AUTH_TOKEN_PATH`, else `~/.ray/auth_token` (Ray's own lookup order). Files are read only when they are
 * regular files (no FIFO can block), at most 4 KiB.
 * @param env the environment to read (default: this process's)
 */
export function rayToken(tokenEnv: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const given = env[tokenEnv]?.trim();
  if (given) return given;
  const files = [env['RAY_AUTH_TOKEN_PATH'], join(env['HOME'] ?? homedir(), '.ray', 'auth_token')];
  for (const f of files) {
    if (!f || !existsSync(f)) continue;
    try {
      const st = lstatSync(f);
      if (!st.isFile() || st.size > MAX_TOKEN_BYTES) continue;
      const t = readFileSync(f, 'utf8').trim();
      if (t) return t;
    } catch {
      // unreadable: no token from it
    }
  }
  return null;
}

/** An HTTP answer: its status and its body as text (read up to a cap). */
interface Answer {
  status: number;
  ok: boolean;
  text: string;
}

/**
 * One HTTP request with a deadline over the whole exchange (connect, send, answer, body) and a cap on the body.
 * @throws RayApiError for no answer in time, a network error, or a body larger than `maxBytes` (status set)
 */
function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  timeoutMs: number,
  maxBytes: number,
): Promise<Answer> {
  const what = `${method} ${url.pathname}`;
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (err: RayApiError | null, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const timer = setTimeout(
      () => finish(new RayApiError(`${what} at ${url.origin}: no answer within ${timeoutMs / 1000} s`, null)),
      timeoutMs,
    );
    const req = request(
      url,
      {
        method,
        headers: {
          ...headers,
          'User-Agent': 'ratchet',
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}),
        },
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length'] ?? Number.NaN);
        if (Number.isFinite(declared) && declared > maxBytes) {
          return finish(
            new RayApiError(
              `${what}: the answer (${declared} bytes) is larger than ${maxBytes} bytes`,
              status,
            ),
          );
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          total += c.length;
          if (total > maxBytes) {
            finish(new RayApiError(`${what}: the answer is larger than ${maxBytes} bytes`, status));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () =>
          finish(null, {
            status,
            ok: status >= 200 && status < 300,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (e) => finish(new RayApiError(`${what} at ${url.origin}: ${e.message}`, null)));
      },
    );
    req.on('error', (e) => finish(new RayApiError(`${what} at ${url.origin}: ${e.message}`, null)));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** Options of {@link RayJobsClient}. */
export interface RayClientOptions {
  /** The dashboard's address, e.g. `http://127.0.0.1:8265`. */
  address: string;
  /** Sent as `Authorization: Bearer <token>` when not null. */
  token: string | null;
  /** Timeout of one request, ms (default 15 s; uploads get more, by size). */
  requestTimeoutMs?: number;
}

/**
 * The Jobs REST API of one Ray cluster. Methods throw {@link RayApiError} (never hang: every request has a
 * timeout); GETs and stops are retried twice on a network error or a 5xx answer.
 */
export class RayJobsClient {
  /** The dashboard's address without a trailing slash. */
  readonly address: string;
  private readonly token: string | null;
  private readonly timeoutMs: number;

  constructor(opts: RayClientOptions) {
    this.address = opts.address.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  /**
   * One request; resolves with the answer (any status) or throws RayApiError for no answer within the timeout.
   */
  private request(
    method: string,
    path: string,
    body?: { json?: unknown; bytes?: Uint8Array },
    timeoutMs = this.timeoutMs,
    maxBytes = SMALL_BODY_BYTES,
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (this.token) headers['Authorization'] = `Bearer ${this.token}`;
    let payload: string | Uint8Array | undefined;
    if (body?.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body?.bytes) {
      headers['Content-Type'] = 'application/zip';
      payload = body.bytes;
    }
    return send(method, new URL(`${this.address}${path}`), headers, payload, timeoutMs, maxBytes);
  }

  /** A request whose answer is JSON of `schema`, retried on network errors and 5xx when `retry`. */
  private async json<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    opts: { json?: unknown; retry?: boolean; maxBytes?: number; timeoutMs?: number } = {},
  ): Promise<T> {
    const attempts = opts.retry ? 3 : 1;
    let last: RayApiError | null = null;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 300 * 2 ** i));
      let res: Answer;
      try {
        res = await this.request(
          method,
          path,
          opts.json !== undefined ? { json: opts.json } : undefined,
          opts.timeoutMs,
          opts.maxBytes,
        );
      } catch (e) {
        last = e as RayApiError;
        if (last.status !== null) throw last; // an answer too large: asking again gives the same
        continue;
      }
      const text = res.text;
      if (!res.ok) {
        last = new RayApiError(
          `${method} ${path} at ${this.address}: HTTP ${res.status}${authHint(res.status)}: ${text.trim().split('\n').pop()?.slice(0, 300) ?? ''}`,
          res.status,
        );
        if (res.status >= 500 && !/already exists/.test(text)) continue;
        throw last;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new RayApiError(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, res.status);
      }
      const r = schema.safeParse(parsed);
      if (!r.success) {
        throw new RayApiError(
          `${method} ${path}: unexpected answer (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`,
          res.status,
        );
      }
      return r.data;
    }
    throw last!;
  }

  /**
   * `GET /api/version`: the cluster answers and accepts our credentials.
   * @throws RayApiError (status 401/403 when the token is missing or wrong)
   */
  version(): Promise<RayVersion> {
    return this.json('GET', '/api/version', VersionSchema, { retry: true });
  }

  /**
   * `GET /api/packages/gcs/<name>`: is the package in the cluster's store? (also pins it there for a while)
   * @param name e.g. `_ray_pkg_<sha256>.zip`
   */
  async hasPackage(name: string): Promise<boolean> {
    const res = await this.request('GET', `/api/packages/gcs/${encodeURIComponent(name)}`);
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw new RayApiError(
      `GET /api/packages/gcs/${name}: HTTP ${res.status}${authHint(res.status)}`,
      res.status,
    );
  }

  /**
   * `PUT /api/packages/gcs/<name>` with the zip's bytes. The timeout grows with the size (15 s + 1 s per MiB).
   * @throws RayApiError when the cluster refuses it (e.g. over its size limit)
   */
  async uploadPackage(name: string, zip: Uint8Array): Promise<void> {
    const timeout = this.timeoutMs + Math.ceil(zip.length / (1024 * 1024)) * 1000;
    const res = await this.request(
      'PUT',
      `/api/packages/gcs/${encodeURIComponent(name)}`,
      { bytes: zip },
      timeout,
    );
    const text = res.text;
    if (!res.ok) {
      throw new RayApiError(
        `PUT /api/packages/gcs/${name} (${zip.length} bytes): HTTP ${res.status}${authHint(res.status)}: ${text.trim().split('\n').pop()?.slice(0, 300) ?? ''}`,
        res.status,
      );
    }
  }

  /**
   * `POST /api/jobs/`. A retry after a lost answer finds the job under its `submission_id` instead of starting a
   * second one (Ray refuses a known submission id).
   * @returns the submission id
   */
  async submit(req: SubmitRequest): Promise<string> {
    for (let i = 0; ; i++) {
      try {
        return (await this.json('POST', '/api/jobs/', SubmitAnswerSchema, { json: req })).submission_id;
      } catch (e) {
        const err = e as RayApiError;
        const lost = err.status === null || /already exists/.test(err.message);
        if (!lost || i >= 2) throw err;
        // The first attempt may have reached the cluster: the job is there, or the submit is retried.
        const known = await this.job(req.submission_id).catch(() => null);
        if (known) return req.submission_id;
        await new Promise((r) => setTimeout(r, 500 * 2 ** i));
      }
    }
  }

  /** `GET /api/jobs/<id>`: the job's status and details. @throws RayApiError (404: no such job) */
  job(id: string): Promise<JobDetails> {
    return this.json('GET', `/api/jobs/${encodeURIComponent(id)}`, JobDetailsSchema, { retry: true });
  }

  /**
   * `GET /api/jobs/<id>/logs`: the job's whole log so far.
   * @param maxBytes the answer's cap (the JSON around the text included)
   * @throws RayApiError when the log is larger than the cap
   */
  async logs(id: string, maxBytes: number): Promise<string> {
    return (
      await this.json('GET', `/api/jobs/${encodeURIComponent(id)}/logs`, LogsSchema, {
        retry: true,
        maxBytes,
        timeoutMs: this.timeoutMs + Math.ceil(maxBytes / (4 * 1024 * 1024)) * 1000,
      })
    ).logs;
  }

  /** `POST /api/jobs/<id>/stop` (asynchronous: poll {@link job} until the status is terminal). */
  async stop(id: string): Promise<boolean> {
    return (await this.json('POST', `/api/jobs/${encodeURIComponent(id)}/stop`, StopSchema, { retry: true }))
      .stopped;
  }
}

function authHint(status: number): string {
  return status === 401 || status === 403
    ? ' (the cluster wants a token: set the variable named by executor.token_env, or ~/.ray/auth_token)'
    : '';
}

import { z } from 'zod';

/**
 * A small typed client of the MLflow tracking server's REST API (MLflow 2.x/3.x, `/api/2.0/mlflow/...`),
 * on Node's global fetch. Responses are validated with zod; every request has a timeout. Only what Ratchet
 * needs: get-or-create an experiment, create/search/get/update runs, log-batch chunked to the server's
 * limits, and artifact upload through the server's artifact proxy (`mlflow server --serve-artifacts`).
 */

/** logBatch limits (mlflow/utils/validation.py, MLflow 3.x). */
export const LIMITS = {
  metricsPerBatch: 1000,
  paramsTagsPerBatch: 100,
  entitiesPerBatch: 1000,
  /** Request body, bytes (the server's limit is 1 MB; leave room for the envelope). */
  batchBytes: 900_000,
  keyChars: 250,
  paramValueChars: 6000,
  /** The server accepts 8000 in 3.x; older servers 5000. */
  tagValueChars: 5000,
} as const;

/** An MLflow REST error: HTTP status, MLflow error code and message. */
export class MlflowError extends Error {
  /** HTTP status (0 = no response: network error or timeout). */
  readonly status: number;
  /** MLflow's `error_code` (e.g. RESOURCE_DOES_NOT_EXIST), or NETWORK_ERROR / BAD_RESPONSE. */
  readonly code: string;
  constructor(message: string, status: number, code: string) {
    super(message);
    this.name = 'MlflowError';
    this.status = status;
    this.code = code;
  }
  /** True when trying again later may succeed (no response, 408, 429, 5xx, 401/403 until credentials are fixed). */
  get retryable(): boolean {
    return (
      this.status === 0 ||
      this.status === 408 ||
      this.status === 429 ||
      this.status >= 500 ||
      this.status === 401 ||
      this.status === 403
    );
  }
}

const Tag = z.object({ key: z.string(), value: z.string().optional().default('') });
const Experiment = z.object({
  experiment_id: z.string(),
  name: z.string(),
  artifact_location: z.string().optional(),
  lifecycle_stage: z.string().optional(),
});
const RunInfo = z.object({
  run_id: z.string(),
  experiment_id: z.string(),
  run_name: z.string().optional(),
  status: z.string().optional(),
  start_time: z.coerce.number().optional(),
  end_time: z.coerce.number().optional(),
  artifact_uri: z.string().optional().default(''),
  lifecycle_stage: z.string().optional(),
});
const Metric = z.object({
  key: z.string(),
  value: z.union([z.number(), z.string()]),
  timestamp: z.coerce.number().optional(),
  step: z.coerce.number().optional(),
});
const DatasetInputSchema = z.object({
  dataset: z.object({
    name: z.string(),
    digest: z.string(),
    source_type: z.string().optional().default(''),
    source: z.string().optional().default(''),
    schema: z.string().optional(),
    profile: z.string().optional(),
  }),
  tags: z.array(Tag).optional().default([]),
});
const Run = z.object({
  info: RunInfo,
  inputs: z
    .object({ dataset_inputs: z.array(DatasetInputSchema).optional().default([]) })
    .optional()
    .default({ dataset_inputs: [] }),
  data: z
    .object({
      metrics: z.array(Metric).optional().default([]),
      params: z.array(Tag).optional().default([]),
      tags: z.array(Tag).optional().default([]),
    })
    .optional()
    .default({ metrics: [], params: [], tags: [] }),
});
const ArtifactList = z.object({
  root_uri: z.string().optional(),
  files: z
    .array(
      z.object({
        path: z.string(),
        is_dir: z.boolean().optional().default(false),
        file_size: z.coerce.number().optional(),
      }),
    )
    .optional()
    .default([]),
});

/** An MLflow experiment. */
export type MlflowExperiment = z.infer<typeof Experiment>;
/** An MLflow run (info and data). */
export type MlflowRun = z.infer<typeof Run>;
/** A file or folder in a run's artifacts. */
export type MlflowArtifact = z.infer<typeof ArtifactList>['files'][number];
/** A dataset input of a run, as runs/get returns it. */
export type MlflowDatasetInput = z.infer<typeof DatasetInputSchema>;
/** A key/value pair (param or tag). */
export interface KeyValue {
  key: string;
  value: string;
}
/** A metric value at a time (ms since the epoch) and step. */
export interface MetricValue {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** Options of {@link MlflowClient}. */
export interface ClientOptions {
  /** Per-request timeout, ms (default 10 000). */
  timeoutMs?: number;
  /** Extra headers (e.g. Authorization). Default: from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD. */
  headers?: Record<string, string>;
  /** Aborts every request of this client (e.g. when the run ends). */
  signal?: AbortSignal;
}

/**
 * Make a string a valid MLflow key: at most 250 characters of `[A-Za-z0-9_\-. /:]`, `@` spelled `_at_`,
 * anything else `_`, no leading `/`, no `..` (the server refuses keys that are not clean relative paths).
 */
export function mlflowKey(s: string): string {
  let k = s
    .replaceAll('@', '_at_')
    .replace(/[^\w\-. /:]/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[/ ]+/, '')
    .replace(/\/{2,}/g, '/');
  if (!k) k = '_';
  return k.slice(0, LIMITS.keyChars);
}

/** Cut a value to `max` characters, marking the cut. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 15)}… [truncated]`;
}

/** Auth headers from the MLflow client's environment variables (token, or basic username/password). */
export function authHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const token = env['MLFLOW_TRACKING_TOKEN'];
  if (token) return { authorization: `Bearer ${token}` };
  const user = env['MLFLOW_TRACKING_USERNAME'];
  const pass = env['MLFLOW_TRACKING_PASSWORD'];
  if (user && pass) return { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
  return {};
}

/** A JSON-serialisable metric value: finite numbers as is, NaN and ±Infinity in proto-JSON's string form. */
function metricJson(v: number): number | string {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Split one run's params, tags and metrics into log-batch requests that respect MLflow's limits: ≤ 100
 * params+tags, ≤ 1000 metrics, ≤ 1000 entities, < 1 MB of JSON per request. Keys are sanitised with
 * {@link mlflowKey}, values clipped; duplicate param keys keep the first value.
 */
export function batches(
  params: KeyValue[],
  tags: KeyValue[],
  metrics: MetricValue[],
): { params: KeyValue[]; tags: KeyValue[]; metrics: MetricValue[] }[] {
  const seen = new Set<string>();
  const p = params
    .map((x) => ({ key: mlflowKey(x.key), value: clip(x.value, LIMITS.paramValueChars) }))
    .filter((x) => {
      if (seen.has(x.key)) return false;
      seen.add(x.key);
      return true;
    });
  const t = tags.map((x) => ({ key: mlflowKey(x.key), value: clip(x.value, LIMITS.tagValueChars) }));
  const m = metrics.map((x) => ({ ...x, key: mlflowKey(x.key) }));
  const out: { params: KeyValue[]; tags: KeyValue[]; metrics: MetricValue[] }[] = [];
  let cur = { params: [] as KeyValue[], tags: [] as KeyValue[], metrics: [] as MetricValue[] };
  let bytes = 0;
  const size = (x: unknown) => Buffer.byteLength(JSON.stringify(x)) + 1;
  const flush = () => {
    if (cur.params.length + cur.tags.length + cur.metrics.length > 0) out.push(cur);
    cur = { params: [], tags: [], metrics: [] };
    bytes = 0;
  };
  const room = (kind: 'pt' | 'm', b: number) => {
    const pt = cur.params.length + cur.tags.length;
    const n = pt + cur.metrics.length;
    if (n + 1 > LIMITS.entitiesPerBatch || bytes + b > LIMITS.batchBytes) return false;
    return kind === 'pt'
      ? pt + 1 <= LIMITS.paramsTagsPerBatch
      : cur.metrics.length + 1 <= LIMITS.metricsPerBatch;
  };
  for (const x of p) {
    const b = size(x);
    if (!room('pt', b)) flush();
    cur.params.push(x);
    bytes += b;
  }
  for (const x of t) {
    const b = size(x);
    if (!room('pt', b)) flush();
    cur.tags.push(x);
    bytes += b;
  }
  for (const x of m) {
    const b = size(x);
    if (!room('m', b)) flush();
    cur.metrics.push(x);
    bytes += b;
  }
  flush();
  return out;
}

/** The MLflow tracking REST client. */
export class MlflowClient {
  /** Tracking URI without a trailing slash, e.g. `http://127.0.0.1:5000`. */
  readonly uri: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly signal: AbortSignal | undefined;

  /**
   * @param uri the tracking server, http(s)://host:port[/prefix]
   * @throws Error when `uri` is not an http(s) URL
   */
  constructor(uri: string, opts: ClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      throw new Error(`"${uri}" is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new Error(
        `"${uri}" is not an http(s) URL (Ratchet talks to an MLflow tracking server over REST)`,
      );
    this.uri = uri.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.headers = opts.headers ?? authHeaders();
    this.signal = opts.signal;
  }

  /**
   * One request. JSON in and out for the tracking API; raw bytes for artifact uploads.
   * @throws MlflowError with the HTTP status and MLflow error code (status 0: no response)
   */
  async request(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    opts: { raw?: boolean; contentType?: string } = {},
  ): Promise<unknown> {
    const headers: Record<string, string> = { ...this.headers };
    let payload: Buffer | string | undefined;
    if (body !== undefined) {
      if (opts.raw) {
        payload = body as Buffer;
        headers['content-type'] = opts.contentType ?? 'application/octet-stream';
      } else {
        payload = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
    }
    let res: Response;
    const call = () =>
      fetch(`${this.uri}${path}`, {
        method,
        headers,
        // A Buffer is a Uint8Array; the cast only bridges Node's and the DOM's typings of `BodyInit` (the tests'
        // type check has both).
        ...(payload === undefined ? {} : { body: payload as string | Uint8Array<ArrayBuffer> }),
        signal: this.requestSignal(),
      });
    try {
      try {
        res = await call();
      } catch (e) {
        // A pooled keep-alive connection the server had already closed: try once more on a fresh one.
        const code = (e as { cause?: { code?: string } }).cause?.code;
        if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') throw e;
        res = await call();
      }
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : err.name === 'AbortError'
            ? 'aborted'
            : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new MlflowError(`${method} ${this.uri}${path}: ${why}`, 0, 'NETWORK_ERROR');
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      let code = `HTTP_${res.status}`;
      let message = text.slice(0, 500);
      try {
        const j = JSON.parse(text) as { error_code?: string; message?: string };
        if (j.error_code) code = j.error_code;
        if (j.message) message = j.message.split('\n')[0]!.slice(0, 500);
      } catch {
        // not JSON: keep the text
      }
      throw new MlflowError(`${method} ${path}: ${res.status} ${code}: ${message}`, res.status, code);
    }
    if (!text.trim()) return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new MlflowError(
        `${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`,
        res.status,
        'BAD_RESPONSE',
      );
    }
  }

  private requestSignal(): AbortSignal {
    const t = AbortSignal.timeout(this.timeoutMs);
    return this.signal ? AbortSignal.any([t, this.signal]) : t;
  }

  private parse<T extends z.ZodType>(schema: T, v: unknown, what: string): z.infer<T> {
    const r = schema.safeParse(v);
    if (!r.success)
      throw new MlflowError(
        `unexpected ${what} from ${this.uri}: ${r.error.issues[0]?.message ?? 'bad shape'}`,
        200,
        'BAD_RESPONSE',
      );
    return r.data;
  }

  /** The experiment with this name, or null (a deleted one counts as missing). */
  async getExperimentByName(name: string): Promise<MlflowExperiment | null> {
    try {
      const r = await this.request(
        'GET',
        `/api/2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`,
      );
      const e = this.parse(z.object({ experiment: Experiment }), r, 'experiment').experiment;
      return e.lifecycle_stage === 'deleted' ? null : e;
    } catch (e) {
      if (e instanceof MlflowError && e.code === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw e;
    }
  }

  /**
   * The id of the experiment named `name`, created when missing (a concurrent creation is tolerated).
   * @throws MlflowError, e.g. when only a deleted experiment of that name exists (restore or purge it)
   */
  async getOrCreateExperiment(name: string, tags: KeyValue[] = []): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return found.experiment_id;
    try {
      const r = await this.request('POST', '/api/2.0/mlflow/experiments/create', {
        name,
        tags: tags.map((t) => ({ key: mlflowKey(t.key), value: clip(t.value, LIMITS.tagValueChars) })),
      });
      return this.parse(z.object({ experiment_id: z.string() }), r, 'experiment id').experiment_id;
    } catch (e) {
      if (e instanceof MlflowError && e.code === 'RESOURCE_ALREADY_EXISTS') {
        const again = await this.getExperimentByName(name);
        if (again) return again.experiment_id;
        throw new MlflowError(
          `experiment "${name}" exists but is deleted: restore it in MLflow or purge it (mlflow gc)`,
          e.status,
          e.code,
        );
      }
      throw e;
    }
  }

  /** Create a run (status RUNNING). `startTime` in ms since the epoch. */
  async createRun(
    experimentId: string,
    runName: string,
    startTime: number,
    tags: KeyValue[] = [],
  ): Promise<MlflowRun['info']> {
    const r = await this.request('POST', '/api/2.0/mlflow/runs/create', {
      experiment_id: experimentId,
      run_name: runName,
      start_time: Math.round(startTime),
      tags: tags.map((t) => ({ key: mlflowKey(t.key), value: clip(t.value, LIMITS.tagValueChars) })),
    });
    return this.parse(z.object({ run: Run }), r, 'run').run.info;
  }

  /** One run with its data. @throws MlflowError RESOURCE_DOES_NOT_EXIST for an unknown id */
  async getRun(runId: string): Promise<MlflowRun> {
    const r = await this.request('GET', `/api/2.0/mlflow/runs/get?run_id=${encodeURIComponent(runId)}`);
    return this.parse(z.object({ run: Run }), r, 'run').run;
  }

  /**
   * Runs of experiments matching an MLflow filter (e.g. ``tags.`ratchet.experiment` = '7'``), newest first.
   * Follows page tokens up to `max` runs.
   */
  async searchRuns(experimentIds: string[], filter = '', max = 1000): Promise<MlflowRun[]> {
    const out: MlflowRun[] = [];
    let token: string | undefined;
    do {
      const r = await this.request('POST', '/api/2.0/mlflow/runs/search', {
        experiment_ids: experimentIds,
        filter,
        max_results: Math.min(1000, max - out.length),
        ...(token ? { page_token: token } : {}),
      });
      const page = this.parse(
        z.object({ runs: z.array(Run).optional().default([]), next_page_token: z.string().optional() }),
        r,
        'run search',
      );
      out.push(...page.runs);
      token = page.next_page_token || undefined;
    } while (token && out.length < max);
    return out;
  }

  /**
   * Log params, tags and metrics in as many log-batch requests as the limits require (see {@link batches}).
   * Non-finite metric values are sent as "NaN"/"Infinity". Params are immutable in MLflow: re-logging the
   * same value is fine, a different value fails.
   * @returns the number of requests made
   */
  async logBatch(
    runId: string,
    data: { params?: KeyValue[]; tags?: KeyValue[]; metrics?: MetricValue[] },
  ): Promise<number> {
    const parts = batches(data.params ?? [], data.tags ?? [], data.metrics ?? []);
    for (const b of parts) {
      await this.request('POST', '/api/2.0/mlflow/runs/log-batch', {
        run_id: runId,
        params: b.params,
        tags: b.tags,
        metrics: b.metrics.map((m) => ({
          key: m.key,
          value: metricJson(m.value),
          timestamp: Math.round(m.timestamp),
          step: Math.round(m.step),
        })),
      });
    }
    return parts.length;
  }

  /**
   * Log dataset inputs of a run (`runs/log-inputs`): each a dataset (name, digest ≤ 36 characters, source
   * type, source, schema, profile) with input tags (e.g. `mlflow.data.context`). Logging the same dataset to
   * the same run again is harmless (the server keeps one input per dataset and run).
   * @throws MlflowError when the server refuses (e.g. a digest longer than 36 characters)
   */
  async logInputs(
    runId: string,
    datasets: {
      dataset: {
        name: string;
        digest: string;
        source_type: string;
        source: string;
        schema?: string;
        profile?: string;
      };
      tags: KeyValue[];
    }[],
  ): Promise<void> {
    if (datasets.length === 0) return;
    await this.request('POST', '/api/2.0/mlflow/runs/log-inputs', { run_id: runId, datasets });
  }

  /** End a run: status FINISHED | FAILED | KILLED and its end time (ms since the epoch). */
  async updateRun(
    runId: string,
    status: 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED',
    endTime?: number,
  ): Promise<void> {
    await this.request('POST', '/api/2.0/mlflow/runs/update', {
      run_id: runId,
      status,
      ...(endTime === undefined ? {} : { end_time: Math.round(endTime) }),
    });
  }

  /**
   * Where a run's artifacts are uploaded through the server's artifact proxy, or null when the run's
   * artifact_uri is not proxied (`file:`, `s3:`... : the server was started with a direct artifact root).
   */
  artifactBase(artifactUri: string): string | null {
    const proxied = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
    if (proxied) return `/api/2.0/mlflow-artifacts/artifacts/${proxied[1]!.replace(/^\/+/, '')}`;
    return null;
  }

  /**
   * Upload one artifact file of a run (PUT through the artifact proxy).
   * @param artifactUri the run's `artifact_uri`
   * @param path relative path inside the run's artifacts, e.g. `logs/stdout.log`
   * @throws MlflowError when the server refuses, or (code ARTIFACTS_NOT_PROXIED) when the run's artifacts are not proxied
   */
  async uploadArtifact(
    artifactUri: string,
    path: string,
    content: Buffer | string,
    contentType = 'text/plain; charset=utf-8',
  ): Promise<void> {
    const base = this.artifactBase(artifactUri);
    if (!base)
      throw new MlflowError(
        `the run's artifacts live at ${artifactUri}, which Ratchet cannot upload to over HTTP: start the server with --serve-artifacts (the default) and no --default-artifact-root`,
        0,
        'ARTIFACTS_NOT_PROXIED',
      );
    const rel = path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
    await this.request(
      'PUT',
      `${base}/${rel}`,
      typeof content === 'string' ? Buffer.from(content) : content,
      {
        raw: true,
        contentType,
      },
    );
  }

  /** List a run's artifacts under `path` (one level). */
  async listArtifacts(runId: string, path = ''): Promise<MlflowArtifact[]> {
    const q = `run_id=${encodeURIComponent(runId)}${path ? `&path=${encodeURIComponent(path)}` : ''}`;
    const r = await this.request('GET', `/api/2.0/mlflow/artifacts/list?${q}`);
    return this.parse(ArtifactList, r, 'artifact list').files;
  }

  /** Download one artifact of a run as text (through the artifact proxy). */
  async downloadArtifact(artifactUri: string, path: string): Promise<string> {
    const base = this.artifactBase(artifactUri);
    if (!base)
      throw new MlflowError(`artifacts at ${artifactUri} are not proxied`, 0, 'ARTIFACTS_NOT_PROXIED');
    const rel = path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
    let res: Response;
    try {
      res = await fetch(`${this.uri}${base}/${rel}`, { headers: this.headers, signal: this.requestSignal() });
    } catch (e) {
      throw new MlflowError(`GET ${base}/${rel}: ${(e as Error).message}`, 0, 'NETWORK_ERROR');
    }
    if (!res.ok) throw new MlflowError(`GET ${base}/${rel}: ${res.status}`, res.status, `HTTP_${res.status}`);
    return res.text();
  }
}

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentRecord, Journal } from '../journal/store.js';
import { experimentDir } from '../loop/experiment.js';
import type { ExperimentObserver, RunSession, RunSummary } from '../loop/session.js';
import { RatchetError } from '../util/errors.js';
import { ensureDir } from '../util/fs.js';
import { type KeyValue, type MetricValue, MlflowClient, MlflowError } from './client.js';

/**
 * Ratchet → MLflow: every recorded experiment becomes an MLflow run (params, metrics, tags, the patch and
 * logs as artifacts) in an MLflow experiment named after the Ratchet run. The orchestrator posts it, never
 * the sandbox. Work is queued and sent in the background with retries: RECORD never waits for MLflow, and
 * MLflow being down never stops the loop. Failures become `mlflow.error` journal events; unsent work
 * persists in `.ratchet/mlflow-queue.jsonl` and is retried at the next run start and by `ratchet mlflow sync`.
 */

/** The environment variable that turns MLflow tracking on (as for MLflow's own client). */
export const TRACKING_ENV = 'MLFLOW_TRACKING_URI';
/** Project-relative path of the persistent queue of experiments not yet in MLflow. */
export const QUEUE_FILE = '.ratchet/mlflow-queue.jsonl';
/** Largest artifact uploaded, bytes (longer logs keep their tail, a longer patch its head). */
export const MAX_ARTIFACT_BYTES = 5 * 1024 * 1024;

/** One experiment waiting to be sent. */
export interface QueueJob {
  runId: string;
  experimentId: number;
  /** Failed attempts so far. */
  attempts: number;
  /** When it was queued (ISO 8601). */
  queuedAt: string;
  /** The MLflow run once created (so a retry continues it instead of creating another). */
  mlflowRunId?: string;
  lastError?: string;
}

/** What the tracker reads and writes: the journal and the project's name. */
export interface TrackerContext {
  projectDir: string;
  projectName: string;
  journal: Journal;
}

/** Options of {@link MlflowTracker}. */
export interface TrackerOptions {
  projectDir: string;
  /** Tracking server, http(s)://host:port. */
  uri: string;
  /** Longest wait for the queue to drain when a run ends, ms (default 15 000; 500 for a stopped run). */
  flushMs?: number;
  /** First retry delay after a failure, ms (doubles up to `maxBackoffMs`; default 1000). */
  backoffMs?: number;
  /** Longest retry delay, ms (default 60 000). */
  maxBackoffMs?: number;
  /** Per-request timeout, ms (default 10 000). */
  timeoutMs?: number;
}

/** The MLflow experiment of a Ratchet run: `ratchet/<project>/<run id>`. */
export function mlflowExperimentName(projectName: string, runId: string): string {
  return `ratchet/${projectName}/${runId}`;
}

/**
 * Read the persistent queue (missing file = empty). Unreadable lines are skipped.
 * @returns jobs in the order they were queued
 */
export function readQueue(projectDir: string): QueueJob[] {
  const path = join(projectDir, QUEUE_FILE);
  if (!existsSync(path)) return [];
  const out: QueueJob[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as QueueJob;
      if (typeof j.runId === 'string' && Number.isInteger(j.experimentId)) out.push(j);
    } catch {
      // a torn line from a crash: skip it
    }
  }
  return out;
}

/** Replace the persistent queue atomically (write + rename); an empty queue leaves an empty file. */
export function writeQueue(projectDir: string, jobs: QueueJob[]): void {
  const path = join(projectDir, QUEUE_FILE);
  ensureDir(join(projectDir, '.ratchet'));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, jobs.map((j) => `${JSON.stringify(j)}\n`).join(''));
  renameSync(tmp, path);
}

/**
 * Flatten nested params to dotted keys with string values (arrays and deep objects as JSON).
 * `{model: {family: 'lgbm', lr: 0.1}}` → `model.family=lgbm`, `model.lr=0.1`.
 */
export function flattenParams(params: Record<string, unknown> | null, prefix = '', depth = 0): KeyValue[] {
  if (!params) return [];
  const out: KeyValue[] = [];
  for (const [k, v] of Object.entries(params)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
      out.push(...flattenParams(v as Record<string, unknown>, key, depth + 1));
    } else {
      out.push({ key, value: typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null') });
    }
  }
  return out;
}

/** MLflow run status for a Ratchet decision: kept and reverted finished, every other decision failed. */
export function mlflowStatus(decision: string): 'FINISHED' | 'FAILED' {
  return decision === 'kept' || decision === 'reverted' ? 'FINISHED' : 'FAILED';
}

/** Everything one experiment sends: params, metrics, tags (built from the journal record). */
export function experimentPayload(
  rec: ExperimentRecord,
  run: { branch: string; proposer: string } | null,
  privateMetrics: Record<string, number> = {},
): { params: KeyValue[]; metrics: MetricValue[]; tags: KeyValue[] } {
  const ts = Date.parse(rec.endedAt);
  const metric = (key: string, value: number | null): MetricValue[] =>
    value === null || value === undefined ? [] : [{ key, value, timestamp: ts, step: rec.seq }];
  const metrics: MetricValue[] = [
    ...Object.entries(rec.metrics).flatMap(([k, v]) => metric(k, v)),
    ...Object.entries(privateMetrics).flatMap(([k, v]) => metric(`private.${k}`, v)),
    ...metric('ratchet.delta', rec.delta),
    ...metric('ratchet.best_before', rec.bestBefore),
    ...metric('ratchet.ci_low', rec.ciLow),
    ...metric('ratchet.ci_high', rec.ciHigh),
    ...metric('ratchet.prob_improvement', rec.probImprovement),
    ...metric('ratchet.duration_s', rec.durationMs / 1000),
    ...metric('ratchet.execute_s', rec.executeMs === null ? null : rec.executeMs / 1000),
  ];
  const note = [
    `**${rec.decision}**: ${rec.reason}`,
    '',
    `Hypothesis: ${rec.hypothesis}`,
    rec.conclusion ? `\nConclusion: ${rec.conclusion}` : '',
  ].join('\n');
  const tags: KeyValue[] = [
    { key: 'ratchet.run', value: rec.runId },
    { key: 'ratchet.experiment', value: String(rec.id) },
    { key: 'ratchet.seq', value: String(rec.seq) },
    { key: 'ratchet.hypothesis', value: rec.hypothesis },
    { key: 'ratchet.conclusion', value: rec.conclusion ?? '' },
    { key: 'ratchet.decision', value: rec.decision },
    { key: 'ratchet.reason', value: rec.reason },
    { key: 'ratchet.git_sha', value: rec.commitSha ?? '' },
    { key: 'ratchet.parent_sha', value: rec.parentSha },
    { key: 'ratchet.direction', value: run?.branch ?? `ratchet/${rec.runId}` },
    { key: 'ratchet.proposer', value: rec.proposer },
    { key: 'ratchet.sandboxed', value: String(rec.sandboxed) },
    { key: 'ratchet.files', value: rec.files.join(', ') },
    { key: 'mlflow.source.git.commit', value: rec.commitSha ?? rec.parentSha },
    { key: 'mlflow.source.name', value: 'ratchet' },
    { key: 'mlflow.source.type', value: 'LOCAL' },
    { key: 'mlflow.user', value: 'ratchet' },
    { key: 'mlflow.note.content', value: note },
  ];
  return { params: flattenParams(rec.params), metrics, tags };
}

/** Read an artifact from the trace folder, capped at {@link MAX_ARTIFACT_BYTES} (null when missing). */
async function readCapped(path: string, keep: 'head' | 'tail'): Promise<Buffer | null> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    return null;
  }
  if (buf.length <= MAX_ARTIFACT_BYTES) return buf;
  const note = Buffer.from(
    `\n… [${buf.length - MAX_ARTIFACT_BYTES} bytes cut by Ratchet; full file in ${path}]\n`,
  );
  return keep === 'head'
    ? Buffer.concat([buf.subarray(0, MAX_ARTIFACT_BYTES), note])
    : Buffer.concat([note, buf.subarray(buf.length - MAX_ARTIFACT_BYTES)]);
}

/**
 * The MLflow observer of a run (see `ExperimentObserver` in src/loop/session.ts). Also used without a run
 * by `ratchet mlflow sync` ({@link MlflowTracker.attach} + {@link MlflowTracker.drainAll}).
 */
export class MlflowTracker implements ExperimentObserver {
  readonly name = 'mlflow';
  readonly client: MlflowClient;
  private readonly opts: Required<Omit<TrackerOptions, 'uri' | 'projectDir'>> & { projectDir: string };
  private readonly abort = new AbortController();
  private ctx: TrackerContext | null = null;
  private queue: QueueJob[] = [];
  private draining: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failStreak = 0;
  private closed = false;
  private readonly experiments = new Map<string, string>();
  private artifactsWarned = false;
  /** Experiments sent since the tracker started. */
  sent = 0;
  /** The last error, while MLflow is failing (null when the last attempt worked). */
  lastError: MlflowError | null = null;

  /** @throws Error when the URI is not http(s) */
  constructor(opts: TrackerOptions) {
    this.opts = {
      projectDir: opts.projectDir,
      flushMs: opts.flushMs ?? 15_000,
      backoffMs: opts.backoffMs ?? 1000,
      maxBackoffMs: opts.maxBackoffMs ?? 60_000,
      timeoutMs: opts.timeoutMs ?? 10_000,
    };
    this.client = new MlflowClient(opts.uri, { timeoutMs: this.opts.timeoutMs, signal: this.abort.signal });
  }

  /** Jobs not yet sent (a copy). */
  pending(): QueueJob[] {
    return this.queue.map((j) => ({ ...j }));
  }

  /** Start with a journal: load the persistent queue and start sending it in the background. */
  attach(ctx: TrackerContext): void {
    this.ctx = ctx;
    const known = new Set(this.queue.map((j) => `${j.runId}/${j.experimentId}`));
    for (const j of readQueue(ctx.projectDir))
      if (!known.has(`${j.runId}/${j.experimentId}`)) this.queue.push(j);
    this.kick();
  }

  /** Queue one experiment (persisted at once) and kick the sender; returns immediately. */
  enqueue(runId: string, experimentId: number): void {
    if (this.queue.some((j) => j.runId === runId && j.experimentId === experimentId)) return;
    this.queue.push({ runId, experimentId, attempts: 0, queuedAt: new Date().toISOString() });
    this.persist();
    this.kick();
  }

  /** ExperimentObserver: the run starts; earlier unsent work is retried. */
  onRunStart(session: RunSession): void {
    this.attach({
      projectDir: session.projectDir,
      projectName: session.contract.name,
      journal: session.journal,
    });
  }

  /** ExperimentObserver: queue the recorded experiment (never waits for the network). */
  onExperiment(record: ExperimentRecord): void {
    this.enqueue(record.runId, record.id);
  }

  /**
   * ExperimentObserver: the run ends. Waits (bounded: `flushMs`, 500 ms for a stopped run, not at all while
   * MLflow is failing, 3 s at most without progress) for the queue to drain, then stops; what is left stays
   * in the queue file.
   */
  async onRunEnd(summary: RunSummary): Promise<void> {
    const bound = this.lastError
      ? 0
      : summary.status === 'stopped'
        ? Math.min(500, this.opts.flushMs)
        : this.opts.flushMs;
    await this.flush(bound);
    const left = this.queue.length;
    if (left > 0) {
      this.event(
        'warning',
        `${left} experiment${left === 1 ? '' : 's'} not yet in MLflow${this.lastError ? ` (${this.lastError.message})` : ''}: kept in ${QUEUE_FILE}, sent at the next run start or by \`ratchet mlflow sync\``,
        { pending: left },
        summary.runId,
      );
    }
    this.close();
  }

  /**
   * Wait until the queue is empty, `ms` passed, MLflow failed, or no experiment was sent for `stallMs`
   * (a hanging server), whichever comes first. @returns true when everything was sent
   */
  async flush(ms: number, stallMs = 3000): Promise<boolean> {
    const deadline = Date.now() + Math.max(0, ms);
    let sent = this.sent;
    let progressAt = Date.now();
    while (this.queue.length > 0 && Date.now() < deadline) {
      if (this.lastError && !this.draining) break; // failing: the queue file keeps the work
      this.kick();
      if (!this.draining) break;
      if (this.sent !== sent) {
        sent = this.sent;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > stallMs) break; // a hanging server: do not hold the run's end
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.queue.length === 0;
  }

  /**
   * Send the whole queue now, without time bound, stopping at the first retryable failure
   * (`ratchet mlflow sync`). @returns how many were sent, how many are left and the error that stopped it
   */
  async drainAll(): Promise<{ sent: number; left: number; error: string | null }> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failStreak = 0;
    this.lastError = null;
    const before = this.sent;
    if (this.draining) await this.draining;
    this.kick();
    if (this.draining) await this.draining;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const err = this.lastError as MlflowError | null;
    return { sent: this.sent - before, left: this.queue.length, error: err?.message ?? null };
  }

  /** Stop sending: cancel retries and in-flight requests, persist what is left. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.abort.abort(new Error('the run ended'));
    this.persist();
    this.ctx = null;
  }

  private persist(): void {
    try {
      writeQueue(this.opts.projectDir, this.queue);
    } catch {
      // a full disk must not stop the loop; the journal keeps the experiments themselves
    }
  }

  private kick(): void {
    if (this.closed || this.draining || this.retryTimer || !this.ctx || this.queue.length === 0) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
    });
  }

  private async drain(): Promise<void> {
    while (!this.closed && this.queue.length > 0) {
      const job = this.queue[0]!;
      try {
        await this.send(job);
        this.queue.shift();
        this.sent++;
        this.failStreak = 0;
        this.lastError = null;
        this.persist();
      } catch (e) {
        if (this.closed) return;
        const err =
          e instanceof MlflowError
            ? e
            : new MlflowError((e as Error).message ?? String(e), 0, 'CLIENT_ERROR');
        job.attempts++;
        job.lastError = err.message;
        if (!err.retryable) {
          // The server refuses this experiment's data: retrying will not help. Drop it, loudly.
          this.queue.shift();
          this.persist();
          this.event(
            'error',
            `MLflow refused experiment ${job.experimentId}: ${err.message}; it will not be retried`,
            { experiment: job.experimentId, code: err.code, status: err.status },
            job.runId,
            job.experimentId,
          );
          continue;
        }
        this.failStreak++;
        this.lastError = err;
        this.persist();
        if (this.failStreak === 1) {
          this.event(
            'warning',
            `cannot reach MLflow at ${this.client.uri}: ${err.message}; experiments are queued and retried in the background`,
            { experiment: job.experimentId, code: err.code, status: err.status, pending: this.queue.length },
            job.runId,
            job.experimentId,
          );
        }
        const delay = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** (this.failStreak - 1));
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, delay);
        this.retryTimer.unref();
        return;
      }
    }
  }

  /** Append an `mlflow.error` event (only while attached to an open journal). */
  private event(
    severity: 'warning' | 'error',
    message: string,
    data: Record<string, unknown>,
    runId: string,
    experimentId: number | null = null,
  ): void {
    if (!this.ctx) return;
    try {
      this.ctx.journal.addEvent({
        ts: new Date().toISOString(),
        runId,
        experimentId,
        kind: 'mlflow.error',
        severity,
        guardrail: null,
        message,
        data,
      });
    } catch {
      // the journal is closing: the queue file still holds the work
    }
  }

  private async experimentId(runId: string): Promise<string> {
    const cached = this.experiments.get(runId);
    if (cached) return cached;
    const ctx = this.ctx!;
    const run = ctx.journal.getRun(runId);
    const id = await this.client.getOrCreateExperiment(mlflowExperimentName(ctx.projectName, runId), [
      { key: 'ratchet.project', value: ctx.projectName },
      { key: 'ratchet.run', value: runId },
      { key: 'ratchet.branch', value: run?.branch ?? `ratchet/${runId}` },
      {
        key: 'mlflow.note.content',
        value: `Ratchet run ${runId} of ${ctx.projectName}: one MLflow run per experiment.`,
      },
    ]);
    this.experiments.set(runId, id);
    return id;
  }

  /** Send one experiment: find or create its MLflow run, log params/metrics/tags, upload artifacts, end it. */
  private async send(job: QueueJob): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) throw new MlflowError('the tracker is not attached to a journal', 0, 'CLIENT_ERROR');
    // Read everything from the journal first (synchronously), then only network.
    const rec = ctx.journal.getExperiment(job.experimentId);
    if (!rec || rec.runId !== job.runId) {
      throw new MlflowError(
        `experiment ${job.experimentId} of run ${job.runId} is not in the journal`,
        400,
        'NOT_IN_JOURNAL',
      );
    }
    const run = ctx.journal.getRun(rec.runId);
    const sub = ctx.journal
      .listSubmissions(rec.runId)
      .filter((s) => s.experimentId === rec.id)
      .pop();
    const payload = experimentPayload(rec, run, sub?.metrics ?? {});
    const dir = experimentDir(ctx.projectDir, rec.id);
    const expId = await this.experimentId(rec.runId);
    let info: { run_id: string; artifact_uri: string } | null = null;
    if (job.mlflowRunId) {
      try {
        info = (await this.client.getRun(job.mlflowRunId)).info;
      } catch (e) {
        if (!(e instanceof MlflowError && e.code === 'RESOURCE_DOES_NOT_EXIST')) throw e;
      }
    }
    if (!info) {
      const existing = await this.client.searchRuns([expId], `tags.\`ratchet.experiment\` = '${rec.id}'`, 1);
      info = existing[0]?.info ?? null;
    }
    if (!info) {
      info = await this.client.createRun(expId, `#${rec.id} ${rec.decision}`, Date.parse(rec.startedAt), [
        { key: 'ratchet.experiment', value: String(rec.id) },
        { key: 'ratchet.run', value: rec.runId },
      ]);
    }
    if (job.mlflowRunId !== info.run_id) {
      job.mlflowRunId = info.run_id;
      this.persist();
    }
    await this.client.logBatch(info.run_id, payload);
    const artifacts: [string, string, 'head' | 'tail', string][] = [
      ['patch.diff', 'patch.diff', 'head', 'text/x-diff; charset=utf-8'],
      ['stdout.log', 'logs/stdout.log', 'tail', 'text/plain; charset=utf-8'],
      ['stderr.log', 'logs/stderr.log', 'tail', 'text/plain; charset=utf-8'],
      ['experiment.json', 'experiment.json', 'head', 'application/json'],
    ];
    for (const [file, dest, keep, type] of artifacts) {
      const body = await readCapped(join(dir, file), keep);
      if (!body) continue;
      try {
        await this.client.uploadArtifact(info.artifact_uri, dest, body, type);
      } catch (e) {
        if (e instanceof MlflowError && e.code === 'ARTIFACTS_NOT_PROXIED') {
          if (!this.artifactsWarned) {
            this.artifactsWarned = true;
            this.event('warning', e.message, { artifact_uri: info.artifact_uri }, rec.runId, rec.id);
          }
          break;
        }
        throw e;
      }
    }
    await this.client.updateRun(info.run_id, mlflowStatus(rec.decision), Date.parse(rec.endedAt));
  }
}

/**
 * The MLflow observers for a run: one tracker when `MLFLOW_TRACKING_URI` is set, none otherwise.
 * @throws RatchetError naming MLFLOW_TRACKING_URI when it is set but not an http(s) URL
 */
export function trackersFromEnv(
  projectDir: string,
  env: NodeJS.ProcessEnv = process.env,
): ExperimentObserver[] {
  const uri = env[TRACKING_ENV]?.trim();
  if (!uri) return [];
  return [trackerFor(projectDir, uri)];
}

/**
 * A tracker for `uri`.
 * @throws RatchetError naming MLFLOW_TRACKING_URI when `uri` is not an http(s) URL
 */
export function trackerFor(projectDir: string, uri: string): MlflowTracker {
  try {
    return new MlflowTracker({ projectDir, uri });
  } catch (e) {
    throw new RatchetError(`${TRACKING_ENV}=${uri}: ${(e as Error).message}`, {
      field: TRACKING_ENV,
      hint: 'set it to the tracking server, e.g. http://127.0.0.1:5000 (mlflow server), or unset it to run without MLflow',
    });
  }
}

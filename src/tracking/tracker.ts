import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { git } from '../git/git.js';
import { latestReviews } from '../journal/reviews.js';
import type { ExperimentRecord, Journal } from '../journal/store.js';
import { experimentDir } from '../loop/paths.js';
import type { ExperimentObserver, RunSession, RunSummary } from '../loop/session.js';
import { RatchetError } from '../util/errors.js';
import { ensureDir } from '../util/fs.js';
import { MlflowClient, MlflowError } from './client.js';
import { type DatasetInput, projectDatasets } from './dataset.js';
import { ERROR_EVENT, mlflowHealth, RECOVERED_EVENT } from './health.js';
import { experimentPayload, mlflowStatus, type TierRecords, tierPayload } from './payload.js';

export { experimentPayload, flattenParams, mlflowStatus } from './payload.js';

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

/**
 * What a queued job sends: the whole experiment (after RECORD), or what tier 2 added to it later (the private
 * score from `ratchet submit`, the decision and note of `ratchet review`) on the experiment's existing run.
 */
export type JobKind = 'experiment' | 'submission' | 'review';

/** One experiment waiting to be sent. */
export interface QueueJob {
  runId: string;
  experimentId: number;
  /** Default `experiment` (queues written before tier jobs existed have none). */
  kind?: JobKind;
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
  /**
   * The params file (the contract's `search.params_file`, default `params.yaml`): the baseline, which proposes
   * nothing, logs its contents at the baseline's commit as its params.
   */
  paramsFile?: string;
  /** The run this tracker observes (outage and recovery events are recorded on it), if any. */
  runId?: string;
}

/** Progress of {@link MlflowTracker.drainAll}: one call per job sent or refused. */
export interface DrainProgress {
  /** Jobs done so far (sent or refused) out of `total`. */
  done: number;
  total: number;
  job: QueueJob;
  /** sent, or refused by the server (dropped: retrying would not help). */
  outcome: 'sent' | 'refused';
  /** The server's refusal. */
  error?: string;
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
  /**
   * A line for the person watching (the terminal of `ratchet run`): called once when MLflow becomes
   * unreachable, once when it answers again, and once at the end when work is left in the queue; never per retry.
   */
  onNotice?: (line: string) => void;
}

/** The identity of a queued job: run, experiment, kind and when it was queued. */
export function jobKey(j: QueueJob): string {
  return `${j.runId}/${j.experimentId}/${j.kind ?? 'experiment'}@${j.queuedAt}`;
}

function sameWork(a: QueueJob, b: QueueJob): boolean {
  return (
    a.runId === b.runId &&
    a.experimentId === b.experimentId &&
    (a.kind ?? 'experiment') === (b.kind ?? 'experiment')
  );
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

/**
 * Add one job to the persistent queue file (read, append, atomic replace), e.g. from `ratchet submit` while a
 * run's tracker owns the queue: that tracker adopts it at its next write. Never deduplicated against the file:
 * an equal job there may be in flight in another process with an older view of the journal.
 */
export function appendQueue(projectDir: string, job: QueueJob): void {
  writeQueue(projectDir, [...readQueue(projectDir), job]);
}

/** Replace the persistent queue atomically (write + rename); an empty queue leaves an empty file. */
export function writeQueue(projectDir: string, jobs: QueueJob[]): void {
  const path = join(projectDir, QUEUE_FILE);
  ensureDir(join(projectDir, '.ratchet'));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, jobs.map((j) => `${JSON.stringify(j)}\n`).join(''));
  renameSync(tmp, path);
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
 * by `ratchet mlflow sync` ({@link MlflowTracker.attach} + {@link MlflowTracker.drainAll}) and by
 * `ratchet submit` / `ratchet review` (see src/tracking/notify.ts).
 */
export class MlflowTracker implements ExperimentObserver {
  readonly name = 'mlflow';
  readonly client: MlflowClient;
  private readonly opts: Required<Omit<TrackerOptions, 'uri' | 'projectDir' | 'onNotice'>> & {
    projectDir: string;
  };
  private readonly notice: (line: string) => void;
  private readonly abort = new AbortController();
  private ctx: TrackerContext | null = null;
  private queue: QueueJob[] = [];
  /** Jobs this tracker sent or dropped (their keys), so that merging the queue file never brings them back. */
  private readonly done = new Set<string>();
  private draining: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failStreak = 0;
  private closed = false;
  private readonly experiments = new Map<string, string>();
  private artifactsWarned = false;
  private datasets: DatasetInput[] | null = null;
  private datasetsWarned = false;
  /** True after this tracker told the person MLflow is unreachable (so it also tells them it recovered). */
  private noticedDown = false;
  private progress: ((p: { outcome: 'sent' | 'refused'; job: QueueJob; error?: string }) => void) | null =
    null;
  /** Experiments sent since the tracker started. */
  sent = 0;
  /** The last error, while MLflow is failing (null when the last attempt worked). */
  lastError: MlflowError | null = null;
  /** True while the server is known to be unreachable (since the last failure, until the next success). */
  unreachable = false;
  /** The journal's last word is an outage of another server: the first success here ends it (for the Studio). */
  private otherDown = false;

  /** @throws Error when the URI is not http(s) */
  constructor(opts: TrackerOptions) {
    this.opts = {
      projectDir: opts.projectDir,
      flushMs: opts.flushMs ?? 15_000,
      backoffMs: opts.backoffMs ?? 1000,
      maxBackoffMs: opts.maxBackoffMs ?? 60_000,
      timeoutMs: opts.timeoutMs ?? 10_000,
    };
    this.notice = opts.onNotice ?? (() => {});
    this.client = new MlflowClient(opts.uri, { timeoutMs: this.opts.timeoutMs, signal: this.abort.signal });
  }

  /** Jobs not yet sent (a copy). */
  pending(): QueueJob[] {
    return this.queue.map((j) => ({ ...j }));
  }

  /**
   * Start with a journal: load the persistent queue and start sending it in the background. The last known
   * reachability comes from the journal (an outage seen by an earlier process ends with a recovery event).
   */
  attach(ctx: TrackerContext): void {
    this.ctx = ctx;
    this.adopt();
    try {
      const h = mlflowHealth(ctx.journal);
      // An outage of this server (another one's says nothing about it).
      if (h && !h.reachable) {
        if (h.uri === this.client.uri) this.unreachable = true;
        else this.otherDown = true;
      }
    } catch {
      // an old journal: no events table yet
    }
    this.kick();
  }

  /**
   * Queue one job (persisted at once) and kick the sender; returns immediately. The same work already waiting
   * (not in flight) is not queued twice: it reads the journal when it is sent.
   */
  enqueue(runId: string, experimentId: number, kind: JobKind = 'experiment'): void {
    const job: QueueJob = { runId, experimentId, attempts: 0, queuedAt: new Date().toISOString() };
    if (kind !== 'experiment') job.kind = kind;
    const inFlight = this.draining ? this.queue[0] : undefined;
    if (this.queue.some((j) => j !== inFlight && sameWork(j, job))) return;
    this.queue.push(job);
    this.persist();
    this.kick();
  }

  /** ExperimentObserver: the run starts; earlier unsent work is retried. */
  onRunStart(session: RunSession): void {
    this.attach({
      projectDir: session.projectDir,
      projectName: session.contract.name,
      journal: session.journal,
      paramsFile: session.contract.search?.params_file ?? 'params.yaml',
      runId: session.runId,
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
    this.adopt();
    const left = this.queue.length;
    if (left > 0) {
      const msg = `${left} experiment${left === 1 ? '' : 's'} not yet in MLflow${this.lastError ? ` (${this.lastError.message})` : ''}: kept in ${QUEUE_FILE}, sent at the next run start or by \`ratchet mlflow sync\``;
      this.event('warning', msg, { pending: left }, summary.runId);
      this.notice(`MLflow: ${msg}`);
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
   * (`ratchet mlflow sync`).
   * @param onProgress called after each job sent or refused, with the count done and the total
   * @returns how many were sent, refused (dropped) and left, the total, and the error that stopped it
   */
  async drainAll(
    onProgress?: (p: DrainProgress) => void,
  ): Promise<{ sent: number; refused: number; left: number; total: number; error: string | null }> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failStreak = 0;
    this.lastError = null;
    const total = this.queue.length; // the job in flight, if any, included
    let done = 0;
    let sent = 0;
    let refused = 0;
    this.progress = (p) => {
      done++;
      if (p.outcome === 'sent') sent++;
      else refused++;
      onProgress?.({ done, total: Math.max(total, done), ...p });
    };
    try {
      if (this.draining) await this.draining;
      this.kick();
      if (this.draining) await this.draining;
    } finally {
      this.progress = null;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const err = this.lastError as MlflowError | null;
    return { sent, refused, left: this.queue.length, total, error: err?.message ?? null };
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

  /** Take in jobs another process added to the queue file (e.g. `ratchet submit` during a run). */
  private adopt(): void {
    let onDisk: QueueJob[];
    try {
      onDisk = readQueue(this.opts.projectDir);
    } catch {
      return;
    }
    const mine = new Set(this.queue.map(jobKey));
    for (const j of onDisk) {
      const k = jobKey(j);
      if (!mine.has(k) && !this.done.has(k)) {
        this.queue.push(j);
        mine.add(k);
      }
    }
  }

  /** Write the queue file: this tracker's queue plus what other processes added meanwhile. */
  private persist(): void {
    try {
      this.adopt();
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

  /** The server answered: record the recovery once when it had been unreachable. */
  private reachable(job: QueueJob): void {
    if (!this.unreachable && !this.otherDown) return;
    this.unreachable = false;
    this.otherDown = false;
    const msg = `MLflow at ${this.client.uri} answers again: sending the ${this.queue.length} queued job${this.queue.length === 1 ? '' : 's'}`;
    this.event(
      'info',
      msg,
      { reachable: true, uri: this.client.uri, pending: this.queue.length },
      this.ctx?.runId ?? job.runId,
      null,
      RECOVERED_EVENT,
    );
    if (this.noticedDown) {
      this.noticedDown = false;
      this.notice(msg);
    }
  }

  /** The server did not answer: record the outage once (not per retry). */
  private down(job: QueueJob, err: MlflowError): void {
    if (this.unreachable && this.failStreak > 1) return;
    const first = !this.unreachable;
    this.unreachable = true;
    const msg = `cannot reach MLflow at ${this.client.uri}: ${err.message}; experiments are queued in ${QUEUE_FILE} and retried in the background (the run goes on)`;
    if (first)
      this.event(
        'warning',
        msg,
        {
          reachable: false,
          uri: this.client.uri,
          experiment: job.experimentId,
          code: err.code,
          status: err.status,
          pending: this.queue.length,
        },
        this.ctx?.runId ?? job.runId,
        this.ctx?.runId && this.ctx.runId !== job.runId ? null : job.experimentId,
      );
    if (!this.noticedDown) {
      this.noticedDown = true;
      this.notice(`warning: ${msg}`);
    }
  }

  private async drain(): Promise<void> {
    while (!this.closed && this.queue.length > 0) {
      const job = this.queue[0]!;
      try {
        await this.send(job);
        this.queue.shift();
        this.done.add(jobKey(job));
        this.sent++;
        this.failStreak = 0;
        this.lastError = null;
        this.reachable(job);
        this.persist();
        this.progress?.({ outcome: 'sent', job });
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
          this.done.add(jobKey(job));
          this.persist();
          if (err.status > 0) this.reachable(job);
          this.event(
            'error',
            `MLflow refused experiment ${job.experimentId}${job.kind && job.kind !== 'experiment' ? ` (${job.kind})` : ''}: ${err.message}; it will not be retried`,
            { experiment: job.experimentId, code: err.code, status: err.status },
            job.runId,
            job.experimentId,
          );
          this.progress?.({ outcome: 'refused', job, error: err.message });
          continue;
        }
        this.failStreak++;
        this.lastError = err;
        this.persist();
        this.down(job, err);
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

  /** Append an `mlflow.error` event, or another MLflow kind (only while attached to an open journal). */
  private event(
    severity: 'info' | 'warning' | 'error',
    message: string,
    data: Record<string, unknown>,
    runId: string,
    experimentId: number | null = null,
    kind: string = ERROR_EVENT,
  ): void {
    if (!this.ctx) return;
    try {
      this.ctx.journal.addEvent({
        ts: new Date().toISOString(),
        runId,
        experimentId,
        kind,
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

  /** The project's datasets (once per tracker); none, with one warning event, when the lock cannot be read. */
  private projectDatasets(rec: ExperimentRecord): DatasetInput[] {
    if (this.datasets) return this.datasets;
    const ctx = this.ctx!;
    try {
      this.datasets = projectDatasets(ctx.projectDir, ctx.projectName);
    } catch (e) {
      if (!this.datasetsWarned) {
        this.datasetsWarned = true;
        this.event(
          'warning',
          `no dataset inputs in MLflow: ${(e as Error).message}`,
          { file: 'ratchet.lock' },
          rec.runId,
          rec.id,
        );
      }
      return [];
    }
    return this.datasets;
  }

  /**
   * The params an experiment ran with: its proposal's, or for the baseline (which proposes nothing) the params
   * file as committed at the baseline (null when the project has none or it is not a YAML/JSON mapping).
   */
  private async paramsOf(rec: ExperimentRecord): Promise<Record<string, unknown> | null> {
    const ctx = this.ctx!;
    if (rec.params !== null || rec.proposer !== 'baseline' || !ctx.paramsFile) return rec.params;
    try {
      const text = await git(ctx.projectDir, ['show', `${rec.commitSha ?? rec.parentSha}:${ctx.paramsFile}`]);
      const doc = parseYaml(text) as unknown;
      return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : null;
    } catch {
      return null; // no params file in this project
    }
  }

  /** The experiment's submission and standing review (tier 2), from the journal. */
  private tierOf(rec: ExperimentRecord): TierRecords {
    const j = this.ctx!.journal;
    const submission =
      j
        .listSubmissions(rec.runId)
        .filter((s) => s.experimentId === rec.id)
        .pop() ?? null;
    let review = null;
    try {
      review = latestReviews(j.listReviews(rec.runId)).get(rec.id) ?? null;
    } catch {
      // no reviews table
    }
    return { submission, review };
  }

  /** The MLflow run of an experiment: the one this job created before, or the one tagged with its id. */
  private async findRun(
    job: QueueJob,
    expId: string,
    rec: ExperimentRecord,
  ): Promise<{ run_id: string; artifact_uri: string } | null> {
    if (job.mlflowRunId) {
      try {
        return (await this.client.getRun(job.mlflowRunId)).info;
      } catch (e) {
        if (!(e instanceof MlflowError && e.code === 'RESOURCE_DOES_NOT_EXIST')) throw e;
      }
    }
    const existing = await this.client.searchRuns([expId], `tags.\`ratchet.experiment\` = '${rec.id}'`, 1);
    return existing[0]?.info ?? null;
  }

  /**
   * Send one job. An experiment: find or create its MLflow run, log params/metrics/tags and the dataset
   * inputs, upload artifacts, end it. A submission or review: log what tier 2 added on the experiment's run
   * (the whole experiment when it is not in MLflow yet).
   */
  private async send(job: QueueJob): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) throw new MlflowError('the tracker is not attached to a journal', 0, 'CLIENT_ERROR');
    // Read everything local first (journal, lock, git), then only network.
    const rec = ctx.journal.getExperiment(job.experimentId);
    if (!rec || rec.runId !== job.runId) {
      throw new MlflowError(
        `experiment ${job.experimentId} of run ${job.runId} is not in the journal`,
        400,
        'NOT_IN_JOURNAL',
      );
    }
    const run = ctx.journal.getRun(rec.runId);
    const tier = this.tierOf(rec);
    const expId = await this.experimentId(rec.runId);
    let info = await this.findRun(job, expId, rec);
    if (info && job.kind && job.kind !== 'experiment') {
      if (job.mlflowRunId !== info.run_id) {
        job.mlflowRunId = info.run_id;
        this.persist();
      }
      await this.client.logBatch(info.run_id, tierPayload(rec, tier));
      return;
    }
    const payload = experimentPayload(rec, run, tier, await this.paramsOf(rec));
    const datasets = this.projectDatasets(rec);
    const dir = experimentDir(ctx.projectDir, rec.id);
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
    await this.client.logInputs(info.run_id, datasets);
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
 * @param onNotice where the tracker's few lines for the person go (outage, recovery, work left at the end)
 * @throws RatchetError naming MLFLOW_TRACKING_URI when it is set but not an http(s) URL
 */
export function trackersFromEnv(
  projectDir: string,
  env: NodeJS.ProcessEnv = process.env,
  onNotice?: (line: string) => void,
): ExperimentObserver[] {
  const uri = env[TRACKING_ENV]?.trim();
  if (!uri) return [];
  return [trackerFor(projectDir, uri, onNotice ? { onNotice } : {})];
}

/**
 * A tracker for `uri`.
 * @throws RatchetError naming MLFLOW_TRACKING_URI when `uri` is not an http(s) URL
 */
export function trackerFor(
  projectDir: string,
  uri: string,
  opts: Omit<TrackerOptions, 'projectDir' | 'uri'> = {},
): MlflowTracker {
  try {
    return new MlflowTracker({ projectDir, uri, ...opts });
  } catch (e) {
    throw new RatchetError(`${TRACKING_ENV}=${uri}: ${(e as Error).message}`, {
      field: TRACKING_ENV,
      hint: 'set it to the tracking server, e.g. http://127.0.0.1:5000 (mlflow server), or unset it to run without MLflow',
    });
  }
}

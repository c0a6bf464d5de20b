import { loadContract } from '../contract/load.js';
import { Journal } from '../journal/store.js';
import { activeRun } from '../loop/control.js';
import { appendQueue, type JobKind, MlflowTracker, TRACKING_ENV } from './tracker.js';

/**
 * Tier 2 → MLflow: `ratchet submit` (the private score) and `ratchet review` (the decision and note) land on
 * the submitted experiment's MLflow run, queued like experiments: the job is written to the queue file first
 * (nothing is lost), then sent in the background with a bounded wait; whatever is not sent stays queued for
 * the next run or `ratchet mlflow sync`. While a run is active, its tracker owns the queue and adopts the job.
 */

/** Longest wait for the job to be sent, ms, before the process may go on (the queue keeps it). */
export const TIER_FLUSH_MS = 8000;

/**
 * Queue what tier 2 added to an experiment for MLflow and start sending it. Never throws and never blocks the
 * caller: the returned promise (which callers may ignore) settles once the job was sent, or left in the queue
 * after at most about {@link TIER_FLUSH_MS} (plus 3 s of a hanging server). Does nothing without
 * `MLFLOW_TRACKING_URI`.
 * @returns the send in progress, or null when MLflow tracking is off or the job could only be queued
 */
export function trackTier(
  projectDir: string,
  runId: string,
  experimentId: number,
  kind: Exclude<JobKind, 'experiment'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> | null {
  const uri = env[TRACKING_ENV]?.trim();
  if (!uri) return null;
  try {
    if (activeRun(projectDir)) {
      // The run's tracker sends its queue; it takes this job in at its next write.
      appendQueue(projectDir, { runId, experimentId, kind, attempts: 0, queuedAt: new Date().toISOString() });
      return null;
    }
    const contract = loadContract(projectDir);
    const tracker = new MlflowTracker({ projectDir, uri, timeoutMs: 5000 });
    const journal = Journal.open(projectDir);
    tracker.attach({
      projectDir,
      projectName: contract.name,
      journal,
      paramsFile: contract.search?.params_file ?? 'params.yaml',
    });
    tracker.enqueue(runId, experimentId, kind);
    return tracker
      .flush(TIER_FLUSH_MS)
      .catch(() => false)
      .then(() => {
        tracker.close();
        journal.close();
      })
      .catch(() => undefined);
  } catch {
    // A bad URI or an unreadable project: tracking must never break submit/review. Keep the job if we can.
    try {
      appendQueue(projectDir, { runId, experimentId, kind, attempts: 0, queuedAt: new Date().toISOString() });
    } catch {
      // nothing more to do
    }
    return null;
  }
}

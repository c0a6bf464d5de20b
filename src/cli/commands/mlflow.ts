import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadContract } from '../../contract/load.js';
import { Journal } from '../../journal/store.js';
import { activeRun } from '../../loop/control.js';
import {
  type DrainProgress,
  QUEUE_FILE,
  readQueue,
  TRACKING_ENV,
  trackerFor,
} from '../../tracking/tracker.js';
import { RatchetError } from '../../util/errors.js';
import { bold } from '../format.js';
import { action, printJson, progressWriter } from '../output.js';

/** Options of `ratchet mlflow sync`. */
interface SyncOptions {
  dir: string;
  run?: string;
  all?: boolean;
  uri?: string;
  json?: boolean;
}

/** The result of `ratchet mlflow sync` (its `--json` output). */
export interface SyncResult {
  /** Jobs sent. */
  sent: number;
  /** Jobs the server refused (dropped: retrying would not help; see the `mlflow.error` events). */
  refused: number;
  /** Jobs left in the queue (the server stopped answering). */
  left: number;
  /** Jobs there were to send. */
  total: number;
  /** What stopped the sync, or null. */
  error: string | null;
  uri: string;
}

/** One progress line of `ratchet mlflow sync`: `sent 12/40: experiment #12 of run r1`. */
export function progressLine(p: DrainProgress): string {
  const what = `${p.job.kind && p.job.kind !== 'experiment' ? `${p.job.kind} of experiment` : 'experiment'} #${p.job.experimentId} of run ${p.job.runId}`;
  return p.outcome === 'sent'
    ? `sent ${p.done}/${p.total}: ${what}`
    : `refused ${p.done}/${p.total}: ${what}: ${p.error ?? ''}`;
}

/**
 * Send what MLflow is missing: the persistent queue (experiments a run could not send), plus every experiment
 * of `--run <id>` or `--all` runs (experiments already in MLflow are found by their `ratchet.experiment` tag
 * and completed, never duplicated).
 * @param onProgress called after each job sent or refused
 * @throws RatchetError without a tracking URI, while a run is active, or for an unknown run
 */
export async function syncMlflow(
  o: SyncOptions,
  onProgress?: (p: DrainProgress) => void,
): Promise<SyncResult> {
  const dir = resolve(o.dir);
  const uri = (o.uri ?? process.env[TRACKING_ENV] ?? '').trim();
  if (!uri)
    throw new RatchetError(`no MLflow tracking server: ${TRACKING_ENV} is not set`, {
      field: TRACKING_ENV,
      hint: `export ${TRACKING_ENV}=http://127.0.0.1:5000 (or pass --uri)`,
    });
  const live = activeRun(dir);
  if (live)
    throw new RatchetError(`run ${live.runId} is active (pid ${live.pid}): it sends its own MLflow queue`, {
      file: QUEUE_FILE,
      hint: 'wait until it ends (or `ratchet stop` it), then sync',
    });
  const contract = loadContract(dir);
  const tracker = trackerFor(dir, uri);
  let journal: Journal;
  try {
    journal = Journal.open(dir);
  } catch (e) {
    throw new RatchetError(`cannot open the journal: ${(e as Error).message}`, {
      file: '.ratchet/ratchet.db',
    });
  }
  try {
    tracker.attach({
      projectDir: dir,
      projectName: contract.name,
      journal,
      paramsFile: contract.search?.params_file ?? 'params.yaml',
    });
    const runs = o.all ? journal.listRuns() : o.run ? [journal.getRun(o.run)] : [];
    if (o.run && !runs[0])
      throw new RatchetError(`no run ${o.run}`, { field: '--run', hint: 'see `ratchet status`' });
    for (const r of runs) for (const e of journal.listExperiments(r!.id)) tracker.enqueue(e.runId, e.id);
    const res = await tracker.drainAll(onProgress);
    return { ...res, uri };
  } finally {
    tracker.close();
    journal.close();
  }
}

/** Register `ratchet mlflow sync` and `ratchet mlflow status`. */
export function registerMlflow(program: Command): void {
  const mlflow = program
    .command('mlflow')
    .description(`MLflow tracking (on when ${TRACKING_ENV} is set): each experiment is an MLflow run`);

  mlflow
    .command('sync')
    .description(
      `send experiments MLflow is missing (the queue in ${QUEUE_FILE}; with --run/--all, whole runs)`,
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'also (re)send every experiment of this run')
    .option('--all', 'also (re)send every experiment of every run')
    .option('--uri <url>', `tracking server (default: $${TRACKING_ENV})`)
    .option('--json', 'print the result as JSON')
    .action(
      action(async (o: SyncOptions) => {
        // Progress: a line per job (on stderr with --json, whose stdout is the final summary).
        const say = progressWriter(Boolean(o.json));
        const r = await syncMlflow(o, (p) => say(progressLine(p)));
        if (o.json) printJson(r);
        else
          process.stdout.write(
            `${bold(`sent ${r.sent} of ${r.total} to ${r.uri}`)}${r.refused ? `; ${r.refused} refused by the server (see \`ratchet log\` events)` : ''}${r.left ? `; ${r.left} left in ${QUEUE_FILE}${r.error ? ` (${r.error})` : ''}` : ''}\n`,
          );
        if (r.left > 0) process.exitCode = 1;
      }),
    );

  mlflow
    .command('status')
    .description('the tracking URI and the experiments waiting to be sent')
    .option('--dir <dir>', 'project folder', '.')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; json?: boolean }) => {
        const dir = resolve(o.dir);
        const queue = readQueue(dir);
        const uri = process.env[TRACKING_ENV]?.trim() || null;
        if (o.json) return printJson({ uri, pending: queue });
        const lines = [
          uri ? `${TRACKING_ENV}=${uri}` : `${TRACKING_ENV} is not set: runs are not tracked in MLflow`,
          queue.length
            ? `${queue.length} experiment${queue.length === 1 ? '' : 's'} waiting in ${QUEUE_FILE}:`
            : 'nothing waiting',
          ...queue.map(
            (j) =>
              `  #${j.experimentId}${j.kind && j.kind !== 'experiment' ? ` ${j.kind}` : ''} (run ${j.runId}), ${j.attempts} failed attempt${j.attempts === 1 ? '' : 's'}${j.lastError ? `: ${j.lastError}` : ''}`,
          ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}

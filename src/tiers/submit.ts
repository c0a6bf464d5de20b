import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { assertNotEscalated, projectEscalation } from '../agents/limits.js';
import { type Contract, loadContract } from '../contract/load.js';
import { LOCK_FILE, readLock, verifyLock } from '../contract/lock.js';
import { currentSplitVersion, runSplitVersion, SPLITS_DIR, splitVersionDir } from '../contract/splits.js';
import { readManifest } from '../data/ingest.js';
import { predictionsFile, scorePrivate } from '../evaluator/evaluate.js';
import { type ExperimentRecord, Journal, type RunRecord, type SubmissionRecord } from '../journal/store.js';
import { experimentDir } from '../loop/paths.js';
import { gapText } from '../report/words.js';
import { resolvePython } from '../sandbox/index.js';
import { trackTier } from '../tracking/notify.js';
import { RatchetError } from '../util/errors.js';
import { sha256File } from '../util/fs.js';
import { packageDir } from '../util/paths.js';

/** Result of {@link submit}. */
export interface SubmitResult {
  submission: SubmissionRecord;
  experiment: ExperimentRecord;
  /** False when the run had already been submitted: the earlier submission is returned, nothing is rescored. */
  fresh: boolean;
  /** Why the submission needs a person (the gap is over the contract's limit), or null. */
  escalation: string | null;
  /** The project's open plateau escalation (the search stalled; a person clears it before the next run), or null. */
  plateau: string | null;
}

/**
 * The folder holding the split a run ran on: the project for the current version, else the version's kept copy
 * (checked against its own lock).
 * @throws RatchetError when the version's copy is missing or altered, or a custom evaluator would need it
 */
async function splitRootOf(
  projectDir: string,
  run: RunRecord,
  current: number,
  contract: Contract,
): Promise<string> {
  const v = runSplitVersion(run);
  if (v === current) return projectDir;
  const root = splitVersionDir(projectDir, v);
  if (!existsSync(join(root, LOCK_FILE))) {
    throw new RatchetError(
      `run ${run.id} ran on split version ${v}, whose copy is missing (${SPLITS_DIR}/v${v})`,
      {
        hint: `the project is on split version ${current}; that run cannot be scored on the holdouts it ran on`,
        exitCode: 3,
      },
    );
  }
  if (contract.evaluator) {
    throw new RatchetError(
      `run ${run.id} ran on split version ${v}; a custom evaluator scores only the current split (${current})`,
      {
        hint: 'submit runs of the current split',
      },
    );
  }
  await verifyLock({ ...readLock(root), contract: {} }, root, root);
  return root;
}

/** The best kept experiment of a run (the last kept one: each kept experiment beat the one before). */
export function bestKept(experiments: ExperimentRecord[]): ExperimentRecord | null {
  return [...experiments].reverse().find((e) => e.decision === 'kept') ?? null;
}

/**
 * Tier 2: score the best kept experiment of a run on the private holdout, once per run, and record
 * public, private and the gap (public − private in the metric's direction; positive = the public holdout
 * flattered the model). The private predictions must be byte-identical to what the experiment wrote
 * (SHA-256 recorded at EVALUATE).
 * @param runId the run (default: the latest)
 * @throws RatchetError when there is no run, no kept experiment, or the predictions were altered
 */
export async function submit(projectDir: string, runId?: string): Promise<SubmitResult> {
  const current = loadContract(projectDir);
  await verifyLock(readLock(projectDir), projectDir, projectDir);
  const journal = Journal.open(projectDir);
  try {
    const run = journal.getRun(runId);
    if (!run)
      throw new RatchetError(runId ? `no run ${runId}` : 'no run yet', {
        hint: 'start one with `ratchet run`',
      });
    // A plateau asks a person to look at a stalled search; it does not make the kept experiments suspect, and
    // submit is a person's command: it goes on and says so. Any other escalation refuses until cleared.
    const open = projectEscalation(journal);
    if (open?.cause !== 'plateau') assertNotEscalated(journal, 'submit');
    const plateau = open?.cause === 'plateau' ? open.message : null;
    // A run is scored on the split it ran on: an earlier version's kept copy after a forced re-split.
    const splitRoot = await splitRootOf(projectDir, run, currentSplitVersion(journal), current);
    const contract = splitRoot === projectDir ? current : { ...current, projectDir: splitRoot };
    const manifest = readManifest(splitRoot);
    const best = bestKept(journal.listExperiments(run.id));
    if (!best || best.score === null) {
      throw new RatchetError(`run ${run.id} has no kept experiment to submit`, {
        hint: 'run the loop until the baseline is recorded',
      });
    }
    const earlier = journal.listSubmissions(run.id).find((s) => s.experimentId === best.id);
    const gapLimit = contract.suspicion.max_gap;
    const escalationOf = (gap: number) =>
      gapLimit !== undefined && gap > gapLimit
        ? `public-private gap ${gap.toFixed(6)} exceeds the limit ${gapLimit}`
        : null;
    if (earlier)
      return {
        submission: earlier,
        experiment: best,
        fresh: false,
        escalation: escalationOf(earlier.gap),
        plateau,
      };
    const out = join(experimentDir(projectDir, best.id), 'output');
    const resolved = predictionsFile(out, 'private');
    const file = typeof resolved === 'string' ? resolved : join(out, 'private.csv');
    const recorded = (best.meta?.['predictions'] as Record<string, string> | undefined)?.[basename(file)];
    if (!existsSync(file) || !recorded || (await sha256File(file)) !== recorded) {
      throw new RatchetError(
        `the private predictions of experiment ${best.id} are missing or were altered after EVALUATE`,
        {
          file,
          hint: 'nothing may write into .ratchet/runs; re-run the experiment',
          exitCode: 3,
        },
      );
    }
    const python = await resolvePython({
      explicit: contract.run.python,
      projectDir,
      installDir: packageDir(),
    }).catch(() => null);
    const scored = await scorePrivate(contract, manifest, out, python?.binDir);
    if (!scored.ok)
      throw new RatchetError(`cannot score the private predictions: ${scored.reason}`, { file });
    const priv = scored.metrics[contract.metric.primary]!;
    const sign = contract.direction === 'maximize' ? 1 : -1;
    const s: Omit<SubmissionRecord, 'id'> = {
      ts: new Date().toISOString(),
      runId: run.id,
      experimentId: best.id,
      commitSha: best.commitSha,
      public: best.score as number,
      private: priv,
      gap: sign * (best.score - priv),
      metrics: scored.metrics,
    };
    const id = journal.transaction(() => {
      const sid = journal.addSubmission(s);
      journal.addEvent({
        ts: s.ts,
        runId: run.id,
        experimentId: best.id,
        kind: 'submission',
        severity: 'info',
        guardrail: null,
        message: `private ${contract.metric.primary} ${priv.toFixed(6)} (public ${s.public.toFixed(6)}: ${gapText(s.gap, 6)})`,
        data: { public: s.public, private: s.private, gap: s.gap },
      });
      const limit = contract.suspicion.max_gap;
      if (limit !== undefined && s.gap > limit) {
        journal.addEvent({
          ts: s.ts,
          runId: run.id,
          experimentId: best.id,
          kind: 'escalation',
          severity: 'error',
          guardrail: null,
          message: `public-private gap ${s.gap.toFixed(6)} exceeds the contract's limit ${limit}: the public holdout flattered this model; review before promoting`,
          data: { gap: s.gap, limit },
        });
      }
      return sid;
    });
    // MLflow (when MLFLOW_TRACKING_URI is set): private_<metric> on the experiment's run, queued, never awaited.
    void trackTier(projectDir, run.id, best.id, 'submission');
    return {
      submission: { ...s, id },
      experiment: best,
      fresh: true,
      escalation: escalationOf(s.gap),
      plateau,
    };
  } finally {
    journal.close();
  }
}

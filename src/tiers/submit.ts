import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { assertNotEscalated, projectEscalation } from '../agents/limits.js';
import { type Contract, loadContract } from '../contract/load.js';
import { LOCK_FILE, readLock, verifyLock } from '../contract/lock.js';
import { currentSplitVersion, runSplitVersion, SPLITS_DIR, splitVersionDir } from '../contract/splits.js';
import { readManifest, type SplitManifest } from '../data/ingest.js';
import { predictionsFile, scorePrivate } from '../evaluator/evaluate.js';
import { adoptionsOf } from '../journal/directions.js';
import { type ExperimentRecord, Journal, type RunRecord, type SubmissionRecord } from '../journal/store.js';
import { experimentDir } from '../loop/paths.js';
import { gapText } from '../report/words.js';
import { resolvePython } from '../sandbox/index.js';
import { trackTier } from '../tracking/notify.js';
import { RatchetError } from '../util/errors.js';
import { sha256File } from '../util/fs.js';
import { packageDir } from '../util/paths.js';
import { bestKept, compareDirections, type DirectionComparison } from './directions.js';
import { evidenceOf, type Tier2Evidence, tier2Evidence } from './tier2.js';

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
  /** With several directions: their bests compared on the public holdout (the winner is `experiment`), else null. */
  directions: DirectionComparison | null;
  /** Other directions' bests scored privately too (only with `allDirections`). */
  others: SubmissionRecord[];
  /** Private scores the run has taken so far, this submission included (each one is a look at the private holdout). */
  privateLooks: number;
  /** A bandit task: the tier-2 evidence of the submitted policy (estimators, intervals, production, trust), else null. */
  tier2: Tier2Evidence | null;
}

/** Options of {@link submit}. */
export interface SubmitOptions {
  /**
   * Score every direction's best on the private holdout, not only the public winner: each is one more look at the
   * private holdout (counted and reported), which weakens it as an unbiased estimate.
   */
  allDirections?: boolean;
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

export { bestKept } from './directions.js';

/**
 * Tier 2: score the best kept experiment of a run on the private holdout, once per run, and record
 * public, private and the gap (public − private in the metric's direction; positive = the public holdout
 * flattered the model). The private predictions must be byte-identical to what the experiment wrote
 * (SHA-256 recorded at EVALUATE).
 * With several directions, their bests are compared on the public holdout first ({@link compareDirections}) and
 * only the winner is scored privately, unless `opts.allDirections`.
 * @param runId the run (default: the latest)
 * @throws RatchetError when there is no run, no kept experiment, or the predictions were altered
 */
export async function submit(
  projectDir: string,
  runId?: string,
  opts: SubmitOptions = {},
): Promise<SubmitResult> {
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
    const experiments = journal.listExperiments(run.id);
    const best = bestKept(experiments, contract.direction);
    if (!best || best.score === null) {
      throw new RatchetError(`run ${run.id} has no kept experiment to submit`, {
        hint: 'run the loop until the baseline is recorded',
      });
    }
    const directions =
      ((run.config as { directions?: number }).directions ?? 1) > 1
        ? await compareDirections(
            projectDir,
            contract,
            manifest,
            experiments,
            journal.latestNoise(contract.metric.primary, 'varied-seed') ??
              journal.latestNoise(contract.metric.primary, 'same-seed'),
            adoptionsOf(journal.listEvents({ runId: run.id, kinds: ['direction.adopted'] })),
          )
        : null;
    const gapLimit = contract.suspicion.max_gap;
    const escalationOf = (gap: number) =>
      gapLimit !== undefined && gap > gapLimit
        ? `public-private gap ${gap.toFixed(6)} exceeds the limit ${gapLimit}`
        : null;
    const one = (e: ExperimentRecord) => submitOne(journal, projectDir, run, contract, manifest, e);
    const main = await one(best);
    const others: SubmissionRecord[] = [];
    if (opts.allDirections && directions) {
      for (const d of directions.standings)
        if (d.experiment.id !== best.id) others.push((await one(d.experiment)).submission);
    }
    if (main.fresh)
      // MLflow (when MLFLOW_TRACKING_URI is set): private_<metric> on the experiment's run, queued, never awaited.
      void trackTier(projectDir, run.id, best.id, 'submission');
    return {
      submission: main.submission,
      experiment: best,
      fresh: main.fresh,
      escalation: escalationOf(main.submission.gap),
      plateau,
      directions,
      others,
      privateLooks: journal.listSubmissions(run.id).length,
      tier2: evidenceOf(journal.listEvents({ runId: run.id, kinds: ['tier2'] }), best.id),
    };
  } finally {
    journal.close();
  }
}

/**
 * Score one kept experiment on the private holdout and record the submission (once: an earlier submission of the
 * same experiment is returned as it is).
 * @throws RatchetError when its private predictions are missing or were altered after EVALUATE, or cannot be scored
 */
async function submitOne(
  journal: Journal,
  projectDir: string,
  run: RunRecord,
  contract: Contract,
  manifest: SplitManifest,
  best: ExperimentRecord,
): Promise<{ submission: SubmissionRecord; fresh: boolean }> {
  {
    const earlier = journal.listSubmissions(run.id).find((s) => s.experimentId === best.id);
    if (earlier) return { submission: earlier, fresh: false };
    if (best.score === null) throw new RangeError(`experiment ${best.id} has no public score`);
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
    // A bandit policy's tier-2 evidence: every estimator with its interval on the private logs, against production.
    const evidence =
      contract.task === 'bandit' && scored.input?.task === 'bandit'
        ? tier2Evidence(contract, scored.input)
        : null;
    const id = journal.transaction(() => {
      const sid = journal.addSubmission(s);
      if (evidence)
        journal.addEvent({
          ts: s.ts,
          runId: run.id,
          experimentId: best.id,
          kind: 'tier2',
          severity: evidence.candidate ? 'info' : 'warning',
          guardrail: evidence.untrusted.length > 0 ? 'ope-trust' : null,
          message: evidence.verdict,
          data: evidence as unknown as Record<string, unknown>,
        });
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
    return { submission: { ...s, id }, fresh: true };
  }
}

import { userInfo } from 'node:os';
import { REVIEW_DECISIONS, type ReviewDecision, type ReviewRecord } from '../journal/reviews.js';
import { Journal, type JournalReader, type SubmissionRecord } from '../journal/store.js';
import { trackTier } from '../tracking/notify.js';
import { RatchetError } from '../util/errors.js';
import { evidenceOf } from './tier2.js';

/**
 * Tier 2's human gate (docs/glossary.md, "tier 1 / 2 / 3"): after `ratchet submit` scored a run's best kept
 * experiment on the private holdout, a person promotes or rejects it, with a note saying why. Reviews live in
 * their own journal table `reviews` (created on first use, see journal/reviews.ts) and each one is also a
 * `review` event, so the Studio, the report and `ratchet review` all see the same record. A later review of
 * the same experiment supersedes an earlier one (both are kept: the history of a decision is evidence too).
 */

export {
  latestReviews,
  REVIEW_DECISIONS,
  type ReviewDecision,
  type ReviewRecord,
} from '../journal/reviews.js';

/** Longest note accepted, in characters. */
export const MAX_NOTE_CHARS = 10_000;

/** Input of {@link recordReview}. */
export interface ReviewInput {
  /** Journal id of the submitted experiment. */
  experimentId: number;
  decision: ReviewDecision;
  note: string;
  /** Default: `$RATCHET_REVIEWER`, else the OS user name. */
  reviewer?: string;
}

/** The default reviewer name: `$RATCHET_REVIEWER`, else the OS user, else "unknown". */
export function defaultReviewer(): string {
  const env = process.env['RATCHET_REVIEWER']?.trim();
  if (env) return env;
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Check a review's fields before anything is written.
 * @returns the cleaned input (note and reviewer trimmed)
 * @throws RatchetError naming the bad field and the fix
 */
export function validateReview(input: ReviewInput): Required<ReviewInput> {
  if (!Number.isInteger(input.experimentId) || input.experimentId <= 0) {
    throw new RatchetError(`"${input.experimentId}" is not an experiment id`, {
      field: 'experiment',
      hint: 'give the id of a submitted experiment (see `ratchet review` or `ratchet status`)',
    });
  }
  if (!(REVIEW_DECISIONS as readonly string[]).includes(input.decision)) {
    throw new RatchetError(`decision must be promote or reject, got "${String(input.decision)}"`, {
      field: 'decision',
      hint: 'use --promote or --reject',
    });
  }
  const note = typeof input.note === 'string' ? input.note.trim() : '';
  if (!note) {
    throw new RatchetError('a review needs a note saying why', {
      field: 'note',
      hint: 'add --note "what you checked and why you decided so"',
    });
  }
  if (note.length > MAX_NOTE_CHARS) {
    throw new RatchetError(`the note has ${note.length} characters; at most ${MAX_NOTE_CHARS} are kept`, {
      field: 'note',
      hint: 'shorten it, and link to a longer write-up instead',
    });
  }
  const reviewer = (input.reviewer ?? '').trim() || defaultReviewer();
  if (reviewer.length > 200) {
    throw new RatchetError('the reviewer name is longer than 200 characters', { field: 'reviewer' });
  }
  return { experimentId: input.experimentId, decision: input.decision, note, reviewer };
}

/**
 * Record a reviewer's decision on a submitted experiment: a row in `reviews` and a `review` event, in one
 * transaction. Safe while a run writes the journal (SQLite WAL; the write waits for the run's lock).
 * @param projectDir the project folder (holds `.ratchet/ratchet.db`)
 * @returns the stored review
 * @throws RatchetError for bad input (see {@link validateReview}), an unknown experiment, or an experiment
 *   that was never submitted (only private-holdout-scored candidates are reviewed)
 */
export function recordReview(projectDir: string, input: ReviewInput): ReviewRecord {
  const v = validateReview(input);
  let journal: Journal;
  try {
    journal = Journal.open(projectDir, { readonly: false });
  } catch (e) {
    throw new RatchetError(`cannot open the journal: ${(e as Error).message}`, {
      file: '.ratchet/ratchet.db',
      hint: 'run `ratchet run` and `ratchet submit` first',
    });
  }
  try {
    const exp = journal.getExperiment(v.experimentId);
    if (!exp) {
      throw new RatchetError(`no experiment ${v.experimentId}`, {
        field: 'experiment',
        hint: 'see `ratchet log` for experiment ids',
      });
    }
    const sub = latestSubmissionOf(journal.listSubmissions(exp.runId), exp.id);
    if (!sub) {
      throw new RatchetError(
        `experiment ${exp.id} has not been submitted: only a private-holdout-scored candidate is reviewed`,
        {
          field: 'experiment',
          hint: `run \`ratchet submit --run ${exp.runId}\` (it scores the run's best kept experiment), then review it`,
        },
      );
    }
    // Tier 2 of a bandit task: only a candidate (its estimate's lower bound beat production, trusted) is promoted.
    const evidence = evidenceOf(journal.listEvents({ runId: exp.runId, kinds: ['tier2'] }), exp.id);
    if (evidence && v.decision === 'promote' && !evidence.candidate) {
      throw new RatchetError(`experiment ${exp.id} is not a tier-2 candidate: ${evidence.verdict}`, {
        field: 'decision',
        hint: 'reject it with a note, or run more experiments: only a policy whose lower bound beats the logging policy, with a trusted estimate, can be promoted',
      });
    }
    const review = {
      ts: new Date().toISOString(),
      runId: exp.runId,
      experimentId: exp.id,
      submissionId: sub.id,
      decision: v.decision,
      note: v.note,
      reviewer: v.reviewer,
    };
    const id = journal.transaction(() => {
      const reviewId = journal.addReview(review);
      journal.addEvent({
        ts: review.ts,
        runId: exp.runId,
        experimentId: exp.id,
        kind: 'review',
        severity: 'info',
        guardrail: null,
        message: `${v.reviewer} ${v.decision === 'promote' ? 'promoted' : 'rejected'} experiment ${exp.id}: ${v.note}`,
        data: { decision: v.decision, reviewer: v.reviewer, submission: sub.id, note: v.note },
      });
      return reviewId;
    });
    // MLflow (when MLFLOW_TRACKING_URI is set): the decision and note as tags of the run, queued, never awaited.
    void trackTier(projectDir, exp.runId, exp.id, 'review');
    return { id, ...review };
  } finally {
    journal.close();
  }
}

function latestSubmissionOf(subs: SubmissionRecord[], experimentId: number): SubmissionRecord | null {
  const mine = subs.filter((s) => s.experimentId === experimentId);
  return mine[mine.length - 1] ?? null;
}

/**
 * Reviews in the journal, oldest first; of one run when `runId` is given. Works on a read-only journal
 * (an empty list when no review was ever recorded, i.e. the table does not exist yet).
 * Same as `journal.listReviews(runId)`.
 */
export function listReviews(journal: JournalReader, runId?: string): ReviewRecord[] {
  return journal.listReviews(runId);
}

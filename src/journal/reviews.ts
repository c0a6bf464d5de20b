import type Database from 'better-sqlite3';

/**
 * Tier 2's reviews in the journal (docs/glossary.md, "tier 1 / 2 / 3"): the record of a person promoting or
 * rejecting a submitted experiment, its table `reviews` (created on first write, so a journal that never had
 * a review has no such table) and its queries. Only the journal module runs them: outside src/journal, reviews
 * are written with `Journal.addReview` and read with `Journal.listReviews`. The checks a review passes before
 * it is written live in tiers/review.ts.
 */

/** What a reviewer can decide about a submitted candidate. */
export const REVIEW_DECISIONS = ['promote', 'reject'] as const;
/** A reviewer's decision. */
export type ReviewDecision = (typeof REVIEW_DECISIONS)[number];

/** One recorded review. */
export interface ReviewRecord {
  id: number;
  /** ISO 8601 time of the decision. */
  ts: string;
  runId: string;
  experimentId: number;
  /** The submission (private-holdout score) the reviewer looked at. */
  submissionId: number;
  decision: ReviewDecision;
  /** Why, in the reviewer's words (required, non-empty). */
  note: string;
  /** Who decided (a name; the OS user by default). */
  reviewer: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reviews (
  id INTEGER PRIMARY KEY, ts TEXT NOT NULL, run_id TEXT NOT NULL, experiment_id INTEGER NOT NULL,
  submission_id INTEGER NOT NULL, decision TEXT NOT NULL CHECK (decision IN ('promote','reject')),
  note TEXT NOT NULL CHECK (length(trim(note)) > 0), reviewer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_experiment ON reviews(experiment_id, id);
`;

/**
 * Insert a review, creating the `reviews` table first if it is missing. Internal to the journal module
 * (called by `Journal.addReview`, which owns the database).
 * @param db the journal's writable database
 * @param r the review without its id
 * @returns the new review's id
 * @throws SqliteError when the row breaks the table's checks (an empty note, an unknown decision) or the
 *   database is read-only
 */
export function insertReview(db: Database.Database, r: Omit<ReviewRecord, 'id'>): number {
  db.exec(SCHEMA);
  const info = db
    .prepare(
      `INSERT INTO reviews (ts, run_id, experiment_id, submission_id, decision, note, reviewer)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(r.ts, r.runId, r.experimentId, r.submissionId, r.decision, r.note, r.reviewer);
  return Number(info.lastInsertRowid);
}

/**
 * Reviews in the journal, oldest first; of one run when `runId` is given. Internal to the journal module
 * (called by `Journal.listReviews`). Works on a read-only database.
 * @param db the journal's database
 * @returns the reviews (empty when no review was ever recorded, i.e. the table does not exist yet)
 */
export function selectReviews(db: Database.Database, runId?: string): ReviewRecord[] {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reviews'").get();
  if (!exists) return [];
  const rows = (
    runId
      ? db.prepare('SELECT * FROM reviews WHERE run_id = ? ORDER BY id').all(runId)
      : db.prepare('SELECT * FROM reviews ORDER BY id').all()
  ) as Record<string, unknown>[];
  return rows.map((r) => ({
    id: Number(r['id']),
    ts: String(r['ts']),
    runId: String(r['run_id']),
    experimentId: Number(r['experiment_id']),
    submissionId: Number(r['submission_id']),
    decision: r['decision'] as ReviewDecision,
    note: String(r['note']),
    reviewer: String(r['reviewer']),
  }));
}

/**
 * The standing decision on each reviewed experiment (the latest review wins).
 * @param reviews reviews oldest first (as `Journal.listReviews` returns them)
 * @returns experiment id → its latest review
 */
export function latestReviews(reviews: ReviewRecord[]): Map<number, ReviewRecord> {
  const out = new Map<number, ReviewRecord>();
  for (const r of reviews) out.set(r.experimentId, r);
  return out;
}

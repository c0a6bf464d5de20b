import type Database from 'better-sqlite3';
import type { AbEffect, ArmStats } from '../tiers/ab-stats.js';

/**
 * Tier 3's imported A/B tests in the journal (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): the table
 * `ab_tests` (created on first write, so a journal that never imported a test has no such table), one row per test
 * id, and its queries. Only the journal module runs them: outside src/journal, tests are written with
 * `Journal.putAbTest` and read with `Journal.listAbTests`. What is checked before a test is written lives in
 * tiers/ab-read.ts and tiers/ab-import.ts.
 */

/** One imported A/B test: its arms as the effect used them, and the effect. */
export interface AbTestRecord {
  /** The test's id in the imported file (unique in the journal: a re-import replaces it). */
  testId: string;
  /** ISO 8601 time of the import. */
  importedAt: string;
  /** The imported file (absolute path). */
  source: string;
  /** The file's shape: per-unit rows or per-arm summaries. */
  shape: 'units' | 'arms';
  /** A plain mean or a ratio metric (Σnumerator / Σdenominator). */
  metric: 'mean' | 'ratio';
  /** The Ratchet experiment the treatment shipped (an experiment id or a commit sha prefix), or null. */
  experiment: string | null;
  control: ArmStats;
  treatment: ArmStats;
  effect: AbEffect;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ab_tests (
  test_id TEXT PRIMARY KEY, imported_at TEXT NOT NULL, source TEXT NOT NULL,
  shape TEXT NOT NULL CHECK (shape IN ('units','arms')), metric TEXT NOT NULL CHECK (metric IN ('mean','ratio')),
  experiment TEXT, control TEXT NOT NULL, treatment TEXT NOT NULL, effect TEXT NOT NULL
);
`;

const exists = (db: Database.Database) =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ab_tests'").get() !== undefined;

/**
 * Insert an A/B test or replace the one with the same id, creating the table first if it is missing. Internal to
 * the journal module (called by `Journal.putAbTest`).
 * @returns the test it replaced, or null when the id was new
 */
export function upsertAbTest(db: Database.Database, r: AbTestRecord): AbTestRecord | null {
  db.exec(SCHEMA);
  const before = db.prepare('SELECT * FROM ab_tests WHERE test_id = ?').get(r.testId) as
    | Record<string, unknown>
    | undefined;
  db.prepare(
    `INSERT OR REPLACE INTO ab_tests (test_id, imported_at, source, shape, metric, experiment, control, treatment, effect)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    r.testId,
    r.importedAt,
    r.source,
    r.shape,
    r.metric,
    r.experiment,
    JSON.stringify(r.control),
    JSON.stringify(r.treatment),
    JSON.stringify(r.effect),
  );
  return before ? toAbTest(before) : null;
}

/**
 * Every imported A/B test, by test id. Internal to the journal module (called by `Journal.listAbTests`). Works on
 * a read-only database.
 * @returns the tests (empty when none was ever imported, i.e. the table does not exist yet)
 */
export function selectAbTests(db: Database.Database): AbTestRecord[] {
  if (!exists(db)) return [];
  return (db.prepare('SELECT * FROM ab_tests ORDER BY test_id').all() as Record<string, unknown>[]).map(
    toAbTest,
  );
}

/**
 * A cheap fingerprint of the imported tests: it changes when a test is imported or re-imported (a replacement is a
 * new row). Internal to the journal module (called by `Journal.alignmentStamp`).
 */
export function abTestsStamp(db: Database.Database): string {
  if (!exists(db)) return 'none';
  const r = db
    .prepare(
      "SELECT count(*) AS n, coalesce(max(rowid), 0) AS r, coalesce(max(imported_at), '') AS t FROM ab_tests",
    )
    .get() as Record<string, unknown>;
  return `${r['n']}:${r['r']}:${r['t']}`;
}

function toAbTest(r: Record<string, unknown>): AbTestRecord {
  return {
    testId: String(r['test_id']),
    importedAt: String(r['imported_at']),
    source: String(r['source']),
    shape: r['shape'] as AbTestRecord['shape'],
    metric: r['metric'] as AbTestRecord['metric'],
    experiment: (r['experiment'] as string | null) ?? null,
    control: JSON.parse(String(r['control'])) as ArmStats,
    treatment: JSON.parse(String(r['treatment'])) as ArmStats,
    effect: JSON.parse(String(r['effect'])) as AbEffect,
  };
}

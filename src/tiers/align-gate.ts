/**
 * The alignment gate (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): the seed's test ("if offline wins
 * rarely translate into online wins, your metric is not ready for agentic optimization") applied where it matters:
 * `ratchet check` says what it finds, and a contract with `alignment.required: true` makes a run refuse to start until
 * the imported A/B history says the offline metric predicts online wins.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { JOURNAL_FILE, Journal } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { type AlignReport, alignReport } from './align.js';
import { collectPairs } from './align-pairs.js';

/** What the gate found. */
export interface AlignmentStatus {
  /** Imported A/B tests (paired with an experiment or not). */
  tests: number;
  /** The alignment over the paired tests, or null when no test was imported. */
  report: AlignReport | null;
  /** One sentence for a person. */
  message: string;
}

/**
 * Alignment of the project's imported A/B tests with their experiments' offline gains, as `ratchet align` computes
 * it with the contract's `alignment` settings (precision, win rule).
 * @returns the status (no tests: `report` null)
 */
export function alignmentStatus(contract: Contract): AlignmentStatus {
  const file = join(contract.projectDir, JOURNAL_FILE);
  if (!existsSync(file))
    return { tests: 0, report: null, message: 'no A/B tests imported (ratchet ab import <file>)' };
  const journal = Journal.open(contract.projectDir, { readonly: true });
  try {
    const tests = journal.listAbTests().length;
    if (tests === 0)
      return { tests, report: null, message: 'no A/B tests imported (ratchet ab import <file>)' };
    const { pairs } = collectPairs(journal);
    const report = alignReport(pairs, {
      precision: contract.alignment.precision,
      win: contract.alignment.win,
    });
    return {
      tests,
      report,
      message: `alignment over ${pairs.length} of ${tests} A/B tests: ${report.verdict}`,
    };
  } finally {
    journal.close();
  }
}

/**
 * Refuse a run when the contract requires alignment and the A/B history does not show it (too few paired tests
 * count as not shown).
 * @throws RatchetError (exit 3) with the numbers and what a person can do
 */
export function requireAlignment(contract: Contract): void {
  if (!contract.alignment.required) return;
  const s = alignmentStatus(contract);
  if (s.report?.ready === true) return;
  throw new RatchetError(`the contract requires offline–online alignment, and ${s.message}`, {
    field: 'alignment.required',
    hint: 'import more A/B tests (ratchet ab import), look at `ratchet align`, change the metric (a new contract version), or set alignment.required: false',
    exitCode: 3,
  });
}

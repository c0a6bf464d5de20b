import { resolve } from 'node:path';
import type { AbTestRecord } from '../journal/ab.js';
import { Journal } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { type AbReadOptions, readAbFile } from './ab-read.js';

/**
 * `ratchet ab import` (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): read and check a results file
 * (tiers/ab-read.ts), then store every test in the journal's `ab_tests` table in one transaction. A test id already
 * in the journal is replaced; each test is an `ab.imported` event, or `ab.replaced` with the effect it replaced.
 */

export type { AbTestRecord } from '../journal/ab.js';

/** One stored test, and whether it replaced an earlier import of the same id. */
export interface ImportedAbTest extends AbTestRecord {
  replaced: boolean;
}

/**
 * Import an A/B results file into a project's journal.
 * @param projectDir the project folder (holds `.ratchet/ratchet.db`)
 * @param file the results file (relative to the current folder, or absolute)
 * @returns the stored tests, in file order
 * @throws RatchetError for a bad file (see readAbFile) or a journal that cannot be opened
 */
export async function importAbFile(
  projectDir: string,
  file: string,
  opts: AbReadOptions = {},
): Promise<ImportedAbTest[]> {
  const source = resolve(file);
  const tests = await readAbFile(source, opts);
  let journal: Journal;
  try {
    journal = Journal.open(projectDir);
  } catch (e) {
    throw new RatchetError(`cannot open the journal: ${(e as Error).message}`, {
      file: '.ratchet/ratchet.db',
      hint: 'run `ratchet init` first',
    });
  }
  try {
    const importedAt = new Date().toISOString();
    return journal.transaction(() =>
      tests.map((t) => {
        const record: AbTestRecord = { ...t, importedAt, source };
        const before = journal.putAbTest(record);
        const e = t.effect;
        journal.addEvent({
          ts: importedAt,
          runId: null,
          experimentId: null,
          kind: before ? 'ab.replaced' : 'ab.imported',
          severity: 'info',
          guardrail: null,
          message: `A/B test ${t.testId} ${before ? 're-imported (replaced the earlier import)' : 'imported'}: ${t.treatment.variant} − ${t.control.variant} = ${e.diff} [${e.ciLow}, ${e.ciHigh}]`,
          data: {
            test: t.testId,
            source,
            experiment: t.experiment,
            effect: { diff: e.diff, ciLow: e.ciLow, ciHigh: e.ciHigh, method: e.method },
            ...(before
              ? {
                  replaced: {
                    source: before.source,
                    importedAt: before.importedAt,
                    experiment: before.experiment,
                    effect: {
                      diff: before.effect.diff,
                      ciLow: before.effect.ciLow,
                      ciHigh: before.effect.ciHigh,
                    },
                  },
                }
              : {}),
          },
        });
        return { ...record, replaced: before !== null };
      }),
    );
  } finally {
    journal.close();
  }
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { exportCandidate } from '../../tiers/export.js';
import { RatchetError } from '../../util/errors.js';
import { bold } from '../format.js';
import { action, printJson } from '../output.js';

/** Options of `ratchet export`. */
interface ExportCliOptions {
  dir: string;
  out?: string;
  json?: boolean;
}

/** Register `ratchet export`: a promoted candidate, handed to an A/B test (tier 2 → tier 3). */
export function registerExport(program: Command): void {
  program
    .command('export <experiment>')
    .description(
      'tier 3: hand a promoted experiment to an A/B test: its patch from the base commit, its evidence, and how to import the results (refused unless promoted at review)',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--out <folder>', 'a new or empty folder to write into (default: ab-<experiment>)')
    .option('--json', 'print as JSON')
    .action(
      action(async (idText: string, o: ExportCliOptions) => {
        const id = Number(idText.replace(/^#/, ''));
        if (!Number.isInteger(id) || id <= 0)
          throw new RatchetError(`"${idText}" is not an experiment id`, {
            field: 'experiment',
            hint: 'ratchet export 12 --out ab-12',
          });
        const r = await exportCandidate(resolve(o.dir), id, resolve(o.out ?? `ab-${id}`));
        if (o.json) return printJson(r);
        process.stdout.write(
          `${bold(`exported experiment #${r.experimentId} (${r.commitSha.slice(0, 12)}) for an A/B test`)} to ${r.dir}: ${r.files.join(', ')}\nafter the test: ratchet ab import <results> (experiment column ${r.experimentId}), then ratchet align\n`,
        );
      }),
    );
}

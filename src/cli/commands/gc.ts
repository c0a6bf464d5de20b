import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadContract } from '../../contract/load.js';
import { JOURNAL_FILE, Journal } from '../../journal/store.js';
import { applyRetention, retentionEvent, retentionPlan } from '../../loop/tidy.js';
import { RatchetError } from '../../util/errors.js';
import { bold } from '../format.js';
import { action, printJson } from '../output.js';

/** Parse `--keep-last`: a whole number ≥ 0. @throws RatchetError naming the flag and the fix */
function keepLastOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new RatchetError(`--keep-last must be a whole number ≥ 0, not "${text}"`, {
      hint: 'e.g. ratchet gc --keep-last 20',
    });
  return n;
}

/** Register `ratchet gc`: apply retention now (docs/ARCHITECTURE.md, "Retention"). */
export function registerGc(program: Command): void {
  program
    .command('gc')
    .description(
      'delete the outputs (predictions) of old experiments that were not kept, and of older check measurements',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option(
      '--keep-last <n>',
      'outputs kept for the newest N experiments that were not kept (default: retention.keep_last)',
    )
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; keepLast?: string; dryRun?: boolean; json?: boolean }) => {
        const dir = resolve(o.dir);
        const contract = loadContract(dir);
        const keepLast = keepLastOf(o.keepLast, contract.retention.keep_last);
        if (!existsSync(join(dir, JOURNAL_FILE)))
          throw new RatchetError('no journal yet: there is nothing to collect', {
            file: JOURNAL_FILE,
            hint: 'run `ratchet init` and `ratchet run` first',
          });
        const journal = Journal.open(dir);
        try {
          const plan = retentionPlan(dir, journal.listExperiments(), keepLast);
          const done = o.dryRun ? plan : applyRetention(plan);
          if (!o.dryRun && done.length > 0) journal.addEvent(retentionEvent(null, done));
          const bytes = done.reduce((a, p) => a + p.bytes, 0);
          if (o.json) {
            printJson({
              dry_run: Boolean(o.dryRun),
              keep_last: keepLast,
              removed: done.map((p) => ({
                kind: p.kind,
                id: p.id,
                path: relative(dir, p.dir),
                bytes: p.bytes,
                why: p.why,
              })),
              bytes_freed: o.dryRun ? 0 : bytes,
              bytes_would_free: o.dryRun ? bytes : 0,
            });
            return;
          }
          const verb = o.dryRun ? 'would remove' : 'removed';
          const lines = done.map(
            (p) =>
              `${verb} ${p.kind === 'experiment' ? `#${p.id}` : 'check'} outputs in ${relative(dir, p.dir)} (${mib(p.bytes)}): ${p.why}`,
          );
          lines.push(
            bold(
              done.length === 0
                ? `nothing to remove (keeping kept experiments and the last ${keepLast} others)`
                : `${o.dryRun ? 'would free' : 'freed'} ${mib(bytes)} (${bytes} bytes) in ${done.length} folder(s)${o.dryRun ? '; nothing was deleted (--dry-run)' : ''}`,
            ),
          );
          process.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          journal.close();
        }
      }),
    );
}

/** Bytes as MiB with one decimal. */
function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Journal } from '../../journal/store.js';
import { latestReviews, listReviews, recordReview } from '../../tiers/review.js';
import { evidenceLines, evidenceOf } from '../../tiers/tier2.js';
import { RatchetError } from '../../util/errors.js';
import { bold, num, signed, table } from '../format.js';
import { action, printJson } from '../output.js';

/** Options of `ratchet review`. */
interface ReviewCliOptions {
  dir: string;
  promote?: boolean;
  reject?: boolean;
  note?: string;
  reviewer?: string;
  json?: boolean;
}

/** Register `ratchet review`: the tier-2 gate (promote or reject a submitted experiment, with a note). */
export function registerReview(program: Command): void {
  program
    .command('review [experiment]')
    .description(
      'tier 2: promote or reject a submitted experiment with a note (recorded in the journal); without arguments, list submissions and their reviews',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--promote', 'promote the experiment')
    .option('--reject', 'reject the experiment')
    .option('--note <text>', 'why (required)')
    .option('--reviewer <name>', 'who decides (default: $RATCHET_REVIEWER or the OS user)')
    .option('--json', 'print as JSON')
    .action(
      action(async (idText: string | undefined, o: ReviewCliOptions) => {
        const dir = resolve(o.dir);
        if (idText === undefined) {
          if (o.promote || o.reject || o.note)
            throw new RatchetError('which experiment?', {
              hint: 'ratchet review <experiment> --promote --note "..."',
            });
          return list(dir, Boolean(o.json));
        }
        const id = Number(idText);
        if (!Number.isInteger(id) || id <= 0)
          throw new RatchetError(`"${idText}" is not an experiment id`, {
            hint: 'see `ratchet review` for submitted experiments',
          });
        if (Boolean(o.promote) === Boolean(o.reject))
          throw new RatchetError('say either --promote or --reject', {
            hint: `ratchet review ${id} --promote --note "why"`,
          });
        const r = recordReview(dir, {
          experimentId: id,
          decision: o.promote ? 'promote' : 'reject',
          note: o.note ?? '',
          ...(o.reviewer ? { reviewer: o.reviewer } : {}),
        });
        if (o.json) return printJson(r);
        process.stdout.write(
          `${bold(`${r.reviewer} ${r.decision === 'promote' ? 'promoted' : 'rejected'} experiment #${r.experimentId} of run ${r.runId}`)}: ${r.note}\n`,
        );
      }),
    );
}

function list(dir: string, json: boolean): void {
  let journal: Journal;
  try {
    journal = Journal.open(dir, { readonly: true });
  } catch {
    throw new RatchetError('no journal yet', {
      file: '.ratchet/ratchet.db',
      hint: 'run `ratchet run` first',
    });
  }
  try {
    const subs = journal.listSubmissions();
    const reviews = listReviews(journal);
    const tier2 = journal.listEvents({ kinds: ['tier2'] });
    const evidence = subs
      .map((s) => ({ experimentId: s.experimentId, evidence: evidenceOf(tier2, s.experimentId) }))
      .filter((e) => e.evidence !== null);
    if (json) {
      printJson({ submissions: subs, reviews, tier2: evidence });
      return;
    }
    if (subs.length === 0) {
      process.stdout.write(
        'nothing submitted yet: ratchet submit, then ratchet review <experiment> --promote|--reject --note "..."\n',
      );
      return;
    }
    const standing = latestReviews(reviews);
    process.stdout.write(
      `${table([
        ['experiment', 'run', 'public', 'private', 'gap', 'review'],
        ...subs.map((s) => {
          const r = standing.get(s.experimentId);
          return [
            `#${s.experimentId}`,
            s.runId,
            num(s.public),
            num(s.private),
            signed(s.gap),
            r ? `${r.decision} by ${r.reviewer}: ${r.note}` : 'not reviewed',
          ];
        }),
      ])}\n`,
    );
    for (const e of evidence)
      process.stdout.write(`\nexperiment #${e.experimentId}: ${evidenceLines(e.evidence!).join('\n')}\n`);
  } finally {
    journal.close();
  }
}

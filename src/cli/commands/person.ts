import { resolve } from 'node:path';
import type { Command } from 'commander';
import { clearEscalation, projectEscalation, resetAgentBudget } from '../../agents/limits.js';
import { loadContract } from '../../contract/load.js';
import { Journal } from '../../journal/store.js';
import { RatchetError } from '../../util/errors.js';
import { action, printJson } from '../output.js';

/** Open the project's journal for a person's decision, or explain that nothing has run yet. */
function openWritable(dir: string): Journal {
  loadContract(dir); // a broken or missing contract is named first
  try {
    return Journal.open(dir);
  } catch (e) {
    throw new RatchetError(`cannot open the journal: ${(e as Error).message}`, {
      file: '.ratchet/ratchet.db',
      hint: 'run ratchet init and ratchet run first',
    });
  }
}

/** Register the person's commands: `ratchet clear` (an escalation) and `ratchet budget reset` (the agents' budget). */
export function registerPerson(program: Command): void {
  program
    .command('clear')
    .description(
      'a person clears the project’s escalation (after reviewing it) so runs, agents and submit may go on; journaled with the note',
    )
    .requiredOption('--note <why>', 'what you checked and why work may go on (recorded in the journal)')
    .option('--dir <dir>', 'project folder', '.')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; note: string; json?: boolean }) => {
        const journal = openWritable(resolve(o.dir));
        try {
          const e = clearEscalation(journal, o.note, 'ratchet clear');
          const out = {
            cleared: true,
            escalation: { at: e.at, run: e.runId, message: e.message },
            note: o.note.trim(),
          };
          if (o.json) return printJson(out);
          process.stdout.write(
            `cleared the escalation of ${e.at}${e.runId ? ` (run ${e.runId})` : ''}: ${e.message}\n`,
          );
        } finally {
          journal.close();
        }
      }),
    );

  const budget = program.command('budget').description("the agents' token and cost budget of the project");
  budget
    .command('reset')
    .description(
      "a person opens a new agent budget period: the agents' token and cost usage starts again at zero (journaled with the note)",
    )
    .requiredOption('--note <why>', 'why the agents may spend again (recorded in the journal)')
    .option('--dir <dir>', 'project folder', '.')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; note: string; json?: boolean }) => {
        const journal = openWritable(resolve(o.dir));
        try {
          const { ended, opened } = resetAgentBudget(journal, o.note);
          const out = {
            period: opened.period,
            ended: {
              period: ended.period,
              tokens: ended.inputTokens + ended.outputTokens,
              cost_usd: ended.costUsd,
              calls: ended.calls,
            },
            note: opened.note,
            escalated: projectEscalation(journal) !== null,
          };
          if (o.json) return printJson(out);
          process.stdout.write(
            `agent budget period ${opened.period} opened (period ${ended.period} used ${out.ended.tokens} tokens, $${ended.costUsd.toFixed(4)})\n`,
          );
        } finally {
          journal.close();
        }
      }),
    );
}

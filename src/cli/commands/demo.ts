import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CLEAR_COMMAND } from '../../agents/limits.js';
import { copyExample, initProject } from '../../contract/init.js';
import { Journal } from '../../journal/store.js';
import { logEntry } from '../../journal/views.js';
import { submit } from '../../tiers/submit.js';
import { RatchetError } from '../../util/errors.js';
import { bold, decisionColour, gapText, num, signed, table } from '../format.js';
import { action, intOption, progressWriter } from '../output.js';
import { checkFromCli, runFromCli } from './run.js';

/** Name of the example `ratchet demo` uses. */
export const DEMO_EXAMPLE = 'gsoep-outwork';

/** Register `ratchet demo`. */
export function registerDemo(program: Command): void {
  program
    .command('demo [dir]')
    .description(
      'init the bundled example in dir (default ./ratchet-demo), check it, run the loop and submit, in one command',
    )
    .option('--experiments <n>', 'experiments in the run, baseline included', '24')
    .option('--timeout <duration>', 'per-experiment wall clock', '120s')
    .option('--example <name>', 'bundled example', DEMO_EXAMPLE)
    .option('--unsafe-no-sandbox', 'run without bubblewrap')
    .action(
      action(
        async (
          dirArg: string | undefined,
          o: { experiments: string; timeout: string; example: string; unsafeNoSandbox?: boolean },
        ) => {
          const dir = resolve(dirArg ?? 'ratchet-demo');
          const say = progressWriter(false);
          intOption('--experiments', o.experiments);
          if (existsSync(dir) && readdirSync(dir).length > 0) {
            throw new RatchetError(`${dir} is not empty`, {
              hint: 'give an empty or new folder: ratchet demo <dir>',
            });
          }
          mkdirSync(dir, { recursive: true });
          say(bold(`1/4 init: the ${o.example} example in ${dir}`));
          copyExample(o.example, dir);
          // The demo always owns its repository, even in a folder inside another one (e.g. a clone of Ratchet).
          await initProject(dir, (l) => say(`  ${l}`), { ownRepo: true });
          say(bold('2/4 check: baseline and run-to-run noise'));
          // 2 runs with the same seed (nondeterminism) + 2 with varied seeds (seed noise): the keep rule gets σ.
          const { est, rule } = await checkFromCli({
            dir,
            runs: '2',
            seeds: 'both',
            unsafeNoSandbox: o.unsafeNoSandbox,
          });
          say(
            `  baseline ${est.metric} ${est.mean.toFixed(6)} (sd ${est.sd.toExponential(2)} over ${est.runs.length} ${est.kind} runs); keep ${rule}`,
          );
          say(bold(`3/4 run: search proposer, ${o.experiments} experiments`));
          const summary = await runFromCli({
            dir,
            proposer: 'search',
            experiments: o.experiments,
            timeout: o.timeout,
            unsafeNoSandbox: o.unsafeNoSandbox,
          });
          say(bold('4/4 submit: the best kept experiment on the private holdout'));
          const sub = await submit(dir, summary.runId);
          const journal = Journal.open(dir, { readonly: true });
          try {
            const entries = journal.listExperiments(summary.runId).map(logEntry);
            say(
              table(
                [
                  ['id', 'decision', 'score', 'gain', 'hypothesis'],
                  ...entries.map((e) => [
                    String(e.id),
                    decisionColour(e.decision),
                    num(e.score),
                    signed(e.delta),
                    e.hypothesis,
                  ]),
                ],
                90,
              ),
            );
          } finally {
            journal.close();
          }
          const s = sub.submission;
          say(
            bold(
              `private ${est.metric}: ${num(s.private, 6)} (public ${num(s.public, 6)}: ${gapText(s.gap, 6)}); baseline public ${num(summary.baselineScore, 6)}`,
            ),
          );
          if (sub.plateau)
            say(
              `the run escalated (${sub.plateau}): a person looks, then clears it before the next run: ${CLEAR_COMMAND}`,
            );
          say(
            `explore: cd ${dir} && ratchet log | ratchet status | ratchet show ${s.experimentId} | git log ${summary.branch}`,
          );
        },
      ),
    );
}

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CLEAR_COMMAND } from '../../agents/limits.js';
import { copyExample, initProject } from '../../contract/init.js';
import { Journal } from '../../journal/store.js';
import { logEntry } from '../../journal/views.js';
import { submit } from '../../tiers/submit.js';
import { evidenceLines } from '../../tiers/tier2.js';
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
    .option(
      '--directions <n>',
      'directions explored at once (each on its own branch ratchet/<run>/d<k>, sharing the budget)',
      '2',
    )
    .option('--example <name>', 'bundled example', DEMO_EXAMPLE)
    .option('--unsafe-no-sandbox', 'run without bubblewrap')
    .action(
      action(
        async (
          dirArg: string | undefined,
          o: {
            experiments: string;
            timeout: string;
            example: string;
            directions: string;
            unsafeNoSandbox?: boolean;
          },
        ) => {
          const dir = resolve(dirArg ?? 'ratchet-demo');
          const say = progressWriter(false);
          intOption('--experiments', o.experiments);
          const directions = intOption('--directions', o.directions) ?? 1;
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
            // The noise is measured under the load the run will have (its directions side by side).
            concurrent: String(directions),
          });
          say(
            `  baseline ${est.metric} ${est.mean.toFixed(6)} (sd ${est.sd.toExponential(2)} over ${est.runs.length} ${est.kind} runs); keep ${rule}`,
          );
          say(
            bold(
              `3/4 run: search proposer, ${o.experiments} experiments${directions > 1 ? ` in ${directions} directions at once (one shared Optuna study)` : ''}`,
            ),
          );
          const summary = await runFromCli({
            dir,
            proposer: 'search',
            experiments: o.experiments,
            directions: String(directions),
            timeout: o.timeout,
            unsafeNoSandbox: o.unsafeNoSandbox,
          });
          say(
            bold(
              directions > 1
                ? "4/4 submit: the directions' bests compared on the public holdout, the winner alone on the private one"
                : '4/4 submit: the best kept experiment on the private holdout',
            ),
          );
          const sub = await submit(dir, summary.runId);
          for (const d of sub.directions?.standings ?? [])
            say(
              `  d${d.direction} best #${d.experiment.id}: public ${num(d.score, 6)}${d.versusWinner ? `; the winner leads by ${num(d.versusWinner.gain, 6)}, ${d.versusWinner.significant ? 'significant' : 'not significant'}` : d.adopted ? ' (the winner, adopted)' : ' (winner)'}`,
            );
          const journal = Journal.open(dir, { readonly: true });
          try {
            const entries = journal.listExperiments(summary.runId).map(logEntry);
            say(
              table(
                [
                  ['id', ...(directions > 1 ? ['dir'] : []), 'decision', 'score', 'gain', 'hypothesis'],
                  ...entries.map((e) => [
                    String(e.id),
                    ...(directions > 1 ? [e.direction === null ? '' : `d${e.direction}`] : []),
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
          if (sub.tier2) for (const line of evidenceLines(sub.tier2)) say(line);
          if (sub.plateau)
            say(
              `the run escalated (${sub.plateau}): a person looks, then clears it before the next run: ${CLEAR_COMMAND}`,
            );
          say(
            `explore: cd ${dir} && ratchet log | ratchet status | ratchet show ${s.experimentId} | git log ${summary.branch.split(', ')[0]}`,
          );
        },
      ),
    );
}

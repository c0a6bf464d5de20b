import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CLEAR_COMMAND } from '../../agents/limits.js';
import { loadContract } from '../../contract/load.js';
import { submit } from '../../tiers/submit.js';
import { bold, gapText, num } from '../format.js';
import { action, printJson } from '../output.js';

/** Register `ratchet submit`. */
export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description(
      "score the run's best kept experiment on the private holdout, once, and report the public-private gap",
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'a specific run (default: the latest)')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; run?: string; json?: boolean }) => {
        const dir = resolve(o.dir);
        const contract = loadContract(dir);
        const r = await submit(dir, o.run);
        const s = r.submission;
        if (o.json) {
          printJson({
            run: s.runId,
            experiment: s.experimentId,
            commit: s.commitSha,
            metric: contract.metric.primary,
            public: s.public,
            private: s.private,
            gap: s.gap,
            gap_text: gapText(s.gap, 6),
            metrics: s.metrics,
            fresh: r.fresh,
            escalation: r.escalation,
            plateau: r.plateau,
          });
          return;
        }
        process.stdout.write(
          [
            bold(
              `${r.fresh ? 'submitted' : 'already submitted'} experiment #${s.experimentId} of run ${s.runId}: ${r.experiment.hypothesis}`,
            ),
            `  ${contract.metric.primary} (${contract.direction}): public ${num(s.public, 6)}  private ${num(s.private, 6)}: ${gapText(s.gap, 6)}${s.gap > 0 ? ' (the public holdout flattered it)' : ''}`,
            ...(r.escalation ? [`  ESCALATED: ${r.escalation}; review before promoting`] : []),
            ...(r.plateau
              ? [
                  `  note: the run escalated (${r.plateau}); the next run waits until a person clears it: ${CLEAR_COMMAND}`,
                ]
              : []),
            `  private metrics: ${Object.entries(s.metrics)
              .map(([k, v]) => `${k}=${v.toFixed(4)}`)
              .join('  ')}`,
          ].join('\n') + '\n',
        );
      }),
    );
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CLEAR_COMMAND } from '../../agents/limits.js';
import { loadContract } from '../../contract/load.js';
import { submit } from '../../tiers/submit.js';
import { evidenceLines } from '../../tiers/tier2.js';
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
    .option(
      '--all-directions',
      "score every direction's best privately, not only the public winner (each is one more private look, reported)",
    )
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; run?: string; json?: boolean; allDirections?: boolean }) => {
        const dir = resolve(o.dir);
        const contract = loadContract(dir);
        const r = await submit(dir, o.run, { allDirections: Boolean(o.allDirections) });
        const s = r.submission;
        const standings = r.directions?.standings.map((d) => ({
          direction: d.direction,
          experiment: d.experiment.id,
          public: d.score,
          winner: d.versusWinner === null,
          adopted: d.adopted,
          lead_significant: d.versusWinner?.significant ?? null,
          lead: d.versusWinner?.gain ?? null,
          test: d.versusWinner?.test ?? null,
          p_better: d.versusWinner?.probImprovement ?? null,
          private: [s, ...r.others].find((x) => x.experimentId === d.experiment.id)?.private ?? null,
        }));
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
            directions: standings ?? null,
            private_looks: r.privateLooks,
            tier2: r.tier2,
          });
          return;
        }
        const m = contract.metric.primary;
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
            ...(standings
              ? [
                  `  directions compared on the public holdout (${m}); the winner alone is scored privately unless --all-directions:`,
                  ...standings.map(
                    (d) =>
                      `    d${d.direction} #${d.experiment}  public ${num(d.public, 6)}${d.private === null ? '' : `  private ${num(d.private, 6)}`}  ${
                        d.winner
                          ? `winner${d.adopted ? ' (adopted)' : ''}`
                          : `winner leads by ${num(d.lead ?? Number.NaN, 6)}: ${d.lead_significant ? 'significant' : 'not significant'} (${d.test}${d.p_better === null ? '' : `, P(better) ${d.p_better.toFixed(3)}`})`
                      }`,
                  ),
                ]
              : []),
            `  private looks at this run's holdout: ${r.privateLooks}`,
            ...(r.tier2 ? evidenceLines(r.tier2).map((l) => `  ${l}`) : []),
            `  private metrics: ${Object.entries(s.metrics)
              .map(([k, v]) => `${k}=${v.toFixed(4)}`)
              .join('  ')}`,
          ].join('\n') + '\n',
        );
      }),
    );
}

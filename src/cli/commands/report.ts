import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeReport } from '../../report/index.js';
import { bold } from '../format.js';
import { action, printJson } from '../output.js';

/** Register `ratchet report`: the morning summary, written as report.md and report.html. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'the morning report of a run: what ran, what was kept and why, progression, wins, failures, guardrails, noise, public-private gap, recommendation (writes report.md, report.html and the charts report-progress.svg, report-winner.svg; with A/B tests report-alignment.svg, with tier-2 evidence report-tier2-<id>.svg)',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'a specific run (default: the latest)')
    .option('--out <dir>', 'write the two files here instead of the project folder')
    .option('--json', 'print the report data as JSON on stdout (the files are written too)')
    .action(
      action(async (o: { dir: string; run?: string; out?: string; json?: boolean }) => {
        const dir = resolve(o.dir);
        const r = await writeReport(dir, {
          ...(o.run ? { runId: o.run } : {}),
          ...(o.out ? { outDir: resolve(o.out) } : {}),
        });
        if (o.json)
          return printJson({
            ...r.data,
            // the SVG is in report-winner.svg; the JSON keeps the facts
            winner: r.data.winner?.status === 'ok' ? { ...r.data.winner, svg: undefined } : r.data.winner,
            files: { markdown: r.markdown, html: r.html, charts: r.charts },
          });
        const rec = r.data.recommendation;
        process.stdout.write(
          `${[
            bold(`report of run ${r.data.run.id} (${r.data.run.status}): ${rec.headline}`),
            ...rec.reasons.map((x) => `  ${x}`),
            ...rec.next.map((x) => `  next: ${x}`),
            `wrote ${r.markdown}`,
            `wrote ${r.html}`,
            ...r.charts.map((c) => `wrote ${c}`),
          ].join('\n')}\n`,
        );
      }),
    );
}

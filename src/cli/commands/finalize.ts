import { resolve } from 'node:path';
import type { Command } from 'commander';
import { finalizeRun } from '../../tiers/finalize.js';
import { bold, green, num, signed, yellow } from '../format.js';
import { action, printJson, progressWriter } from '../output.js';

/** Options of `ratchet finalize`. */
interface FinalizeCliOptions {
  dir: string;
  run?: string;
  json?: boolean;
  unsafeNoSandbox?: boolean;
}

/** Register `ratchet finalize`: a run's kept experiments as reviewable branches, each re-verified alone. */
export function registerFinalize(program: Command): void {
  program
    .command('finalize')
    .description(
      "turn a run's kept experiments into reviewable branches off its base commit (independent changes apart, dependent ones stacked), each re-run and re-scored by itself, with a PR.md beside it",
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'a specific run (default: the latest)')
    .option('--unsafe-no-sandbox', 're-run the branches without bubblewrap')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: FinalizeCliOptions) => {
        const dir = resolve(o.dir);
        const say = progressWriter(Boolean(o.json));
        // Ctrl-C stops the re-runs; nothing is replaced and every temporary worktree is removed.
        const stop = new AbortController();
        const onSignal = () => stop.abort(new Error('interrupted'));
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const r = await finalizeRun(dir, {
            ...(o.run ? { runId: o.run } : {}),
            unsafeNoSandbox: Boolean(o.unsafeNoSandbox),
            signal: stop.signal,
            onProgress: say,
          });
          if (o.json) return printJson(r);
          const m = r.metric;
          const lines = [
            bold(
              `finalized run ${r.run}: ${r.branches.length} branch${r.branches.length === 1 ? '' : 'es'} off ${r.base.slice(0, 12)} (baseline #${r.baseline.experiment} ${m} ${num(r.baseline.score, 6)}; ${r.noise})`,
            ),
            ...(r.replaced.length ? [`  replaced the earlier finalize: ${r.replaced.join(', ')}`] : []),
            ...r.branches.flatMap((b) => [
              `  ${b.branch}  ${b.experiments.map((id) => `#${id}`).join(', ')}  ${b.holds ? green(b.verdict) : yellow(b.verdict)}: ${m} ${num(b.score, 6)} (${signed(b.gain, 6)} over the baseline, re-run alone)`,
              `    ${b.reason}`,
              `    PR.md: ${b.pr}`,
            ]),
            ...r.skipped.map((s) => `  left out #${s.experiment}: ${s.why}`),
            `review: git log -p ${r.base.slice(0, 12)}..<branch>, read its PR.md, then promote one in the Studio (tier 2)`,
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { auditNoise } from '../../audit/noise.js';
import { bold, table } from '../format.js';
import { action, intOption, printJson, progressWriter } from '../output.js';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ci = (c: [number, number]) => `[${pct(c[0])}, ${pct(c[1])}]`;

/** Register `ratchet audit noise`. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description("Ratchet's self-audits");
  audit
    .command('noise')
    .description(
      'false-keep rate and power of the keep rule on your own code, next to a naive "keep if better" rule',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--pool <n>', 'seeds the audited code is trained with', '20')
    .option('--trials <n>', 'trials of each kind (no-op and planted)', '600')
    .option('--effect <sigmas>', 'planted improvement, in units of the run-to-run σ', '2')
    .option('--ref <rev>', 'git revision to audit (default: the latest run’s best kept commit, else HEAD)')
    .option('--unsafe-no-sandbox', 'run without bubblewrap')
    .option('--json', 'print {"ratchet": {false_keep_rate, power}, "naive": {...}, ...} on stdout')
    .action(
      action(
        async (o: {
          dir: string;
          pool: string;
          trials: string;
          effect: string;
          ref?: string;
          unsafeNoSandbox?: boolean;
          json?: boolean;
        }) => {
          const say = progressWriter(Boolean(o.json));
          const effect = Number(o.effect);
          const r = await auditNoise({
            projectDir: resolve(o.dir),
            pool: intOption('--pool', o.pool)!,
            trials: intOption('--trials', o.trials)!,
            effect: Number.isFinite(effect) && effect > 0 ? effect : 2,
            ...(o.ref ? { ref: o.ref } : {}),
            unsafeNoSandbox: Boolean(o.unsafeNoSandbox),
            onProgress: (m) => say(`  ${m}`),
          });
          if (o.json) return printJson(r);
          say(
            bold(
              `noise audit of ${r.ref.slice(0, 12)}: ${r.metric}, σ ${r.sigma.toExponential(3)} over ${r.pool_scores.length} seeds, ${r.trials} trials of each kind`,
            ),
          );
          say(
            table([
              [
                'rule',
                'false keeps (no-op changes)',
                `power (planted +${r.effect_sigma || ''}${r.effect_sigma ? 'σ' : 'min delta×2'} = ${r.planted_gain.toExponential(2)})`,
              ],
              [
                'ratchet',
                `${pct(r.ratchet.false_keep_rate)} ${ci(r.ratchet.false_keep_ci)}`,
                `${pct(r.ratchet.power)} ${ci(r.ratchet.power_ci)}`,
              ],
              [
                'naive (strictly better)',
                `${pct(r.naive.false_keep_rate)} ${ci(r.naive.false_keep_ci)}`,
                `${pct(r.naive.power)} ${ci(r.naive.power_ci)}`,
              ],
            ]),
          );
          const used = Object.entries(r.ratchet.tests ?? {})
            .filter(([, k]) => k > 0)
            .map(([t, k]) => `${t} ${k}`)
            .join(', ');
          say(`significance tests used (decisions per test): ${used || '—'}`);
          say(
            `keep rule: min_delta ${r.rule.min_delta}, bootstrap confidence ${r.rule.confidence}, noise z ${r.rule.noise_z}, confirm runs ${r.rule.confirm_runs}; ${r.seconds.toFixed(0)} s`,
          );
        },
      ),
    );
}

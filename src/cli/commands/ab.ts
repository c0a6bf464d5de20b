import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { importAbFile } from '../../tiers/ab-import.js';
import { armsCsv, simulateAb, truthOf, unitsCsv } from '../../tiers/ab-simulate.js';
import { RatchetError } from '../../util/errors.js';
import { bold, num, signed, table } from '../format.js';
import { action, printJson } from '../output.js';

/** Options of `ratchet ab import`. */
interface ImportOptions {
  dir: string;
  control?: string;
  json?: boolean;
}

/** Options of `ratchet ab simulate`. */
interface SimulateCliOptions {
  tests: string;
  alignment: string;
  seed: string;
  out: string;
  shape: string;
  units: string;
  preBeta: string;
  firstExperiment: string;
  truth?: string;
  json?: boolean;
}

/** A number option, checked. @throws RatchetError naming the flag and the fix */
export function numberOption(
  flag: string,
  text: string,
  check: (v: number) => boolean,
  what: string,
  example: string,
): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !check(v))
    throw new RatchetError(`${flag} must be ${what}, not "${text}"`, {
      field: flag,
      hint: `e.g. ${example}`,
    });
  return v;
}

/** Register `ratchet ab import` and `ratchet ab simulate` (tier 3). */
export function registerAb(program: Command): void {
  const ab = program.command('ab').description('tier 3: A/B test results (import, simulate)');
  ab.command('import <file>')
    .description(
      'import A/B results (CSV or Parquet; per-unit rows or per-arm summaries) into the journal and print each test’s online effect',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--control <name>', 'the control arm’s variant name', 'control')
    .option('--json', 'print as JSON')
    .action(
      action(async (file: string, o: ImportOptions) => {
        const tests = await importAbFile(resolve(o.dir), file, o.control ? { control: o.control } : {});
        if (o.json) return printJson({ file: resolve(file), tests });
        const pct = (v: number | null) => (v === null ? '—' : `${signed(v * 100, 2)}%`);
        process.stdout.write(
          `${table([
            [
              'test',
              'experiment',
              'method',
              'control (n)',
              'treatment (n)',
              'effect [95% CI]',
              'lift [95% CI]',
              'p',
            ],
            ...tests.map((t) => {
              const e = t.effect;
              return [
                `${t.testId}${t.replaced ? ' (replaced)' : ''}`,
                t.experiment ?? '—',
                e.method === 'cuped' ? `cuped θ=${num(e.theta ?? null, 3)}` : e.method,
                `${num(t.control.mean)} (${t.control.n})`,
                `${num(t.treatment.mean)} (${t.treatment.n})`,
                `${signed(e.diff)} [${signed(e.ciLow)}, ${signed(e.ciHigh)}]`,
                `${pct(e.lift)} [${pct(e.liftLow)}, ${pct(e.liftHigh)}]`,
                num(e.p, 4),
              ];
            }),
          ])}\n`,
        );
        const replaced = tests.filter((t) => t.replaced).length;
        process.stdout.write(
          `${bold(`${tests.length} A/B test${tests.length === 1 ? '' : 's'} imported`)}${replaced ? ` (${replaced} replaced an earlier import)` : ''}; effects are treatment − control, Welch intervals. Next: ratchet align\n`,
        );
      }),
    );
  ab.command('simulate')
    .description(
      'write a simulated A/B history with known offline–online alignment (a file `ab import` reads)',
    )
    .requiredOption('--out <file>', 'CSV file to write')
    .option('--tests <n>', 'number of A/B tests', '12')
    .option('--alignment <rho>', 'correlation of offline deltas and true online effects, in [-1, 1]', '0.8')
    .option('--seed <s>', 'random seed', '1')
    .option('--shape <shape>', 'units (per-unit rows) or arms (per-arm summaries)', 'units')
    .option('--units <n>', 'units per arm', '2000')
    .option('--pre-beta <b>', 'coefficient of a pre-period covariate (0: no pre column)', '0')
    .option('--first-experiment <id>', 'experiment id of the first test (the next tests count up)', '2')
    .option('--truth <file>', 'also write the truth (offline deltas, true effects) as JSON')
    .option('--json', 'print the truth as JSON')
    .action(
      action(async (o: SimulateCliOptions) => {
        const tests = numberOption(
          '--tests',
          o.tests,
          (v) => Number.isInteger(v) && v >= 1,
          'a whole number >= 1',
          '--tests 12',
        );
        const alignment = numberOption(
          '--alignment',
          o.alignment,
          (v) => v >= -1 && v <= 1,
          'a number in [-1, 1]',
          '--alignment 0.8',
        );
        const seed = numberOption(
          '--seed',
          o.seed,
          (v) => Number.isSafeInteger(v) && v >= 0,
          'a whole number >= 0',
          '--seed 7',
        );
        const units = numberOption(
          '--units',
          o.units,
          (v) => Number.isInteger(v) && v >= 2,
          'a whole number >= 2',
          '--units 2000',
        );
        const preBeta = numberOption('--pre-beta', o.preBeta, () => true, 'a number', '--pre-beta 0.8');
        const firstExperiment = numberOption(
          '--first-experiment',
          o.firstExperiment,
          (v) => Number.isInteger(v) && v >= 1,
          'a whole number >= 1',
          '--first-experiment 2',
        );
        if (o.shape !== 'units' && o.shape !== 'arms')
          throw new RatchetError(`--shape must be units or arms, not "${o.shape}"`, {
            field: '--shape',
            hint: '--shape arms',
          });
        if (o.shape === 'arms' && preBeta !== 0)
          throw new RatchetError('--pre-beta needs per-unit rows (CUPED adjusts units)', {
            field: '--pre-beta',
            hint: 'use --shape units',
          });
        const sim = simulateAb({ tests, alignment, seed, unitsPerArm: units, preBeta, firstExperiment });
        const out = resolve(o.out);
        writeFileSync(out, o.shape === 'arms' ? armsCsv(sim) : unitsCsv(sim));
        const truth = { out, shape: o.shape, alignment, seed, unitsPerArm: units, tests: truthOf(sim) };
        if (o.truth) writeFileSync(resolve(o.truth), `${JSON.stringify(truth, null, 2)}\n`);
        if (o.json) return printJson(truth);
        process.stdout.write(
          `wrote ${out}: ${tests} simulated A/B tests (${o.shape === 'arms' ? 'per-arm summaries' : `${units} units per arm`}), offline–online correlation ${alignment}, seed ${seed}\n`,
        );
      }),
    );
}

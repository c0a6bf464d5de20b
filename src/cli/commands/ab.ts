import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { importAbFile } from '../../tiers/ab-import.js';
import { armsCsv, simulateAb, truthOf, unitsCsv } from '../../tiers/ab-simulate.js';
import { banditTruth, simulateBanditEnv } from '../../tiers/bandit-env.js';
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
  env: string;
  tests: string;
  alignment?: string;
  positionBias?: string;
  novelty?: string;
  shift?: string;
  logged?: string;
  tradeoff?: string;
  estimator?: string;
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
      'write a simulated A/B history with known offline–online alignment (a file `ab import` reads): --env normal ' +
        'draws offline deltas and true effects with a chosen correlation; --env bandit simulates a ranking bandit ' +
        '(offline deltas from off-policy estimates on logged data, online A/B tests of the candidate policies) ' +
        'where position bias, novelty and distribution shift can be switched on',
    )
    .requiredOption('--out <file>', 'CSV file to write')
    .option('--env <env>', 'normal (correlated deltas) or bandit (the bandit environment)', 'normal')
    .option('--tests <n>', 'number of A/B tests', '12')
    .option(
      '--alignment <rho>',
      'correlation of offline deltas and true online effects, in [-1, 1] (default 0.8; --env normal)',
    )
    .option('--seed <s>', 'random seed', '1')
    .option('--shape <shape>', 'units (per-unit rows) or arms (per-arm summaries)', 'units')
    .option('--units <n>', 'units (users) per arm', '2000')
    .option('--pre-beta <b>', 'coefficient of a pre-period covariate (0: no pre column; --env normal)', '0')
    .option('--first-experiment <id>', 'experiment id of the first test (the next tests count up)', '2')
    .option(
      '--position-bias <eta>',
      'bandit: examination 1/(position)^eta of the position-based click model; the offline estimator is ' +
        'position-blind (default 0: no position bias)',
    )
    .option(
      '--novelty <nu>',
      'bandit: the treatment’s clicks are multiplied by 1 + nu during the test, a bump that fades after it ' +
        '(default 0)',
    )
    .option(
      '--shift <s>',
      'bandit: mean shift of every context feature in deployment vs the logs (default 0)',
    )
    .option('--logged <n>', 'bandit: rows logged by the uniform-random logging policy (default 5000)')
    .option(
      '--tradeoff <c>',
      'bandit: correlation in [-1, 1] of a candidate’s moves at the top and at the lower positions ' +
        '(negative: candidates trade the top for the lower positions; default 0)',
    )
    .option(
      '--estimator <name>',
      'bandit: the off-policy estimator of the offline deltas, snips or dr (default snips)',
    )
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
        if (o.env !== 'normal' && o.env !== 'bandit')
          throw new RatchetError(`--env must be normal or bandit, not "${o.env}"`, {
            field: '--env',
            hint: '--env bandit',
          });
        const alignment = numberOption(
          '--alignment',
          o.alignment ?? '0.8',
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
        if (o.env === 'bandit')
          return simulateBandit(o, { tests, seed, units, preBeta, firstExperiment, alignment: o.alignment });
        for (const flag of BANDIT_FLAGS)
          if (o[flag.key] !== undefined)
            throw new RatchetError(`${flag.name} needs --env bandit`, {
              field: flag.name,
              hint: `ratchet ab simulate --env bandit ${flag.name} …`,
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

/** The options only `--env bandit` reads. */
const BANDIT_FLAGS = [
  { key: 'positionBias', name: '--position-bias' },
  { key: 'novelty', name: '--novelty' },
  { key: 'shift', name: '--shift' },
  { key: 'logged', name: '--logged' },
  { key: 'tradeoff', name: '--tradeoff' },
  { key: 'estimator', name: '--estimator' },
] as const;

/** `ratchet ab simulate --env bandit`: the bandit environment (src/tiers/bandit-env.ts). */
function simulateBandit(
  o: SimulateCliOptions,
  common: {
    tests: number;
    seed: number;
    units: number;
    preBeta: number;
    firstExperiment: number;
    alignment: string | undefined;
  },
): void {
  if (common.alignment !== undefined)
    throw new RatchetError(
      '--alignment is for --env normal: the bandit environment’s alignment is an outcome',
      {
        field: '--alignment',
        hint: 'drop --alignment, or use --position-bias, --novelty, --shift or --tradeoff',
      },
    );
  if (common.preBeta !== 0)
    throw new RatchetError('--pre-beta is for --env normal', {
      field: '--pre-beta',
      hint: 'drop --pre-beta',
    });
  const positionBias = numberOption(
    '--position-bias',
    o.positionBias ?? '0',
    (v) => v >= 0,
    'a number >= 0',
    '--position-bias 1',
  );
  const novelty = numberOption(
    '--novelty',
    o.novelty ?? '0',
    (v) => v >= 0,
    'a number >= 0',
    '--novelty 0.1',
  );
  const shift = numberOption('--shift', o.shift ?? '0', () => true, 'a number', '--shift 1');
  const logged = numberOption(
    '--logged',
    o.logged ?? '5000',
    (v) => Number.isInteger(v) && v >= 4,
    'a whole number >= 4',
    '--logged 5000',
  );
  const tradeoff = numberOption(
    '--tradeoff',
    o.tradeoff ?? '0',
    (v) => v >= -1 && v <= 1,
    'a number in [-1, 1]',
    '--tradeoff -0.8',
  );
  const estimator = o.estimator ?? 'snips';
  if (estimator !== 'snips' && estimator !== 'dr')
    throw new RatchetError(`--estimator must be snips or dr, not "${estimator}"`, {
      field: '--estimator',
      hint: '--estimator dr',
    });
  const sim = simulateBanditEnv({
    tests: common.tests,
    seed: common.seed,
    usersPerArm: common.units,
    firstExperiment: common.firstExperiment,
    positionBias,
    novelty,
    shift,
    logged,
    tradeoff,
    estimator,
  });
  const out = resolve(o.out);
  writeFileSync(out, o.shape === 'arms' ? armsCsv(sim.tests) : unitsCsv(sim.tests));
  const truth = { out, shape: o.shape, ...banditTruth(sim) };
  if (o.truth) writeFileSync(resolve(o.truth), `${JSON.stringify(truth, null, 2)}\n`);
  if (o.json) {
    printJson(truth);
    return;
  }
  process.stdout.write(
    `wrote ${out}: ${common.tests} A/B tests of the bandit environment (${o.shape === 'arms' ? 'per-arm summaries' : `${common.units} users per arm`}; position bias ${positionBias}, novelty ${novelty}, shift ${shift}, tradeoff ${tradeoff}; offline deltas by ${estimator} on ${logged} logged rows), seed ${common.seed}\n`,
  );
}

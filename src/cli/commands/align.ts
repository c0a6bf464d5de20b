import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadContract } from '../../contract/load.js';
import { JOURNAL_FILE, Journal } from '../../journal/store.js';
import { parseComposite } from '../../metrics/index.js';
import { alignReport, isWin, partAssociations, type WinRule } from '../../tiers/align.js';
import { fitComposite } from '../../tiers/align-fit.js';
import { collectPairs } from '../../tiers/align-pairs.js';
import { asciiScatter } from '../../tiers/scatter.js';
import { RatchetError } from '../../util/errors.js';
import { bold, num, signed, table } from '../format.js';
import { action, printJson } from '../output.js';
import { numberOption } from './ab.js';

/** Options of `ratchet align`. */
interface AlignCliOptions {
  dir: string;
  resamples: string;
  precision: string;
  seed: string;
  win: string;
  online: string;
  onlineDirection: string;
  fit?: boolean;
  parts?: string;
  json?: boolean;
}

const oneOf = (flag: string, v: string, allowed: string[]) => {
  if (!allowed.includes(v))
    throw new RatchetError(`${flag} must be ${allowed.join(' or ')}, not "${v}"`, {
      field: flag,
      hint: `${flag} ${allowed[0]}`,
    });
  return v;
};

/** The parts `--fit` weighs: `--parts`, else the contract composite's variables, else undefined (every common one). */
function fitParts(dir: string, flag: string | undefined): string[] | undefined {
  if (flag !== undefined) {
    const names = flag
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (names.length === 0)
      throw new RatchetError('--parts names no metric', { field: '--parts', hint: '--parts auroc,profit' });
    return names;
  }
  try {
    const c = loadContract(dir);
    return c.metric.composite ? parseComposite(c.metric.composite).variables : undefined;
  } catch {
    return undefined;
  }
}

/** Register `ratchet align`: offline–online alignment of the imported A/B tests (tier 3). */
export function registerAlign(program: Command): void {
  program
    .command('align')
    .description(
      'tier 3: do offline gains translate into online wins? Pairs imported A/B tests with their experiments and judges the metric',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--resamples <n>', 'bootstrap resamples for the τ and ρ intervals', '2000')
    .option('--precision <p>', 'share of online wins required above the promotion threshold', '0.8')
    .option('--seed <s>', 'bootstrap seed', '1')
    .option(
      '--win <rule>',
      'an online win: significant (interval above 0) or positive (effect above 0)',
      'significant',
    )
    .option('--online <what>', 'online delta: diff (treatment − control) or lift (relative)', 'diff')
    .option(
      '--online-direction <d>',
      'maximize, or minimize when a lower online metric is better',
      'maximize',
    )
    .option(
      '--fit',
      'propose composite weights fitted to the A/B history (leave-one-out τ beside the current metric’s); a person accepts them into the contract',
    )
    .option(
      '--parts <names>',
      "with --fit: the metrics and proxies to weigh, comma-separated (default: the contract composite's variables, else every metric all paired experiments recorded)",
    )
    .option('--json', 'print as JSON')
    .action(
      action(async (o: AlignCliOptions) => {
        const dir = resolve(o.dir);
        const resamples = numberOption(
          '--resamples',
          o.resamples,
          (v) => Number.isInteger(v) && v >= 100,
          'a whole number >= 100',
          '--resamples 2000',
        );
        const precision = numberOption(
          '--precision',
          o.precision,
          (v) => v > 0 && v <= 1,
          'a number in (0, 1]',
          '--precision 0.8',
        );
        const seed = numberOption(
          '--seed',
          o.seed,
          (v) => Number.isSafeInteger(v) && v >= 0,
          'a whole number >= 0',
          '--seed 1',
        );
        const win = oneOf('--win', o.win, ['significant', 'positive']) as WinRule;
        const online = oneOf('--online', o.online, ['diff', 'lift']) as 'diff' | 'lift';
        const onlineDirection = oneOf('--online-direction', o.onlineDirection, ['maximize', 'minimize']) as
          | 'maximize'
          | 'minimize';
        if (!existsSync(join(dir, JOURNAL_FILE)))
          throw new RatchetError('no journal yet', {
            file: JOURNAL_FILE,
            hint: 'run `ratchet run`, then `ratchet ab import <file>`',
          });
        const journal = Journal.open(dir, { readonly: true });
        let collected: ReturnType<typeof collectPairs>;
        try {
          if (journal.listAbTests().length === 0)
            throw new RatchetError('no A/B tests imported yet', {
              file: JOURNAL_FILE,
              hint: 'ratchet ab import <file> (CSV or Parquet with test_id, variant and value, or n, mean and sd)',
            });
          collected = collectPairs(journal, { online, onlineDirection });
        } finally {
          journal.close();
        }
        const { pairs, unpaired } = collected;
        const opts = { resamples, precision, seed, win };
        const report = alignReport(pairs, opts);
        const parts = partAssociations(pairs, opts);
        const fit = o.fit ? fitComposite(pairs, fitParts(dir, o.parts)) : null;
        if (o.json)
          return printJson({
            ...report,
            options: { ...opts, online, onlineDirection },
            points: pairs.map((p) => ({ ...p, win: isWin(p, win) })),
            unpaired,
            parts,
            ...(fit ? { fit } : {}),
          });
        const w = (s: string) => process.stdout.write(`${s}\n`);
        w(bold(report.verdict));
        if (report.n > 0) {
          w('');
          const s = report.slope;
          w(
            `calibration slope (OLS of online on offline): ${s ? `${num(s.slope, 3)} [${num(s.slopeLow, 3)}, ${num(s.slopeHigh, 3)}] online per unit of offline` : 'undefined (fewer than 3 pairs or every offline delta equal)'}`,
          );
          const t = report.threshold;
          w(
            `promotion threshold (≥ ${Math.round(t.precision * 100)}% online wins, win = ${win === 'significant' ? 'interval above 0' : 'effect above 0'}): ${t.value === null ? 'none: no offline gain reaches that share' : `offline gain ≥ ${signed(t.value)} (${t.wins} of ${t.support} tests won)`}`,
          );
          w('');
          w(
            asciiScatter(
              pairs.map((p) => ({ x: p.offline, y: p.online, win: isWin(p, win) })),
              { x: 'offline delta (tier 1)', y: `online ${online === 'lift' ? 'lift' : 'delta'} (A/B)` },
            ),
          );
          w('');
          w(
            table([
              ['test', 'experiment', 'offline', 'online [95% CI]', 'win'],
              ...pairs.map((p) => [
                p.testId,
                `#${p.experimentId}`,
                signed(p.offline),
                `${signed(p.online)} [${signed(p.onlineLow)}, ${signed(p.onlineHigh)}]`,
                isWin(p, win) ? 'yes' : 'no',
              ]),
            ]),
          );
        }
        const names = Object.keys(parts);
        if (names.length > 1) {
          w('');
          w('per public metric (raw experiment − parent, not direction-adjusted):');
          for (const n of names)
            w(
              `  ${n}: τ = ${num(parts[n]!.kendallTau.value, 2)}, ρ = ${num(parts[n]!.spearmanRho.value, 2)} (${parts[n]!.n} pairs)`,
            );
        }
        if (fit) {
          w('');
          if ('reason' in fit) w(`--fit: no proposal: ${fit.reason}`);
          else {
            w(
              bold(
                `proposed composite (least squares of online on ${fit.parts.join(', ')} over ${fit.n} tests):`,
              ),
            );
            w(`  metric: { primary: composite, composite: "${fit.expression}" }`);
            w(
              `  Kendall τ with the online deltas: leave-one-out ${num(fit.tauLeaveOneOut, 2)} (in sample ${num(fit.tauInSample, 2)}), the current metric ${num(fit.tauCurrent, 2)}`,
            );
            w(
              '  to accept it, a person edits ratchet.yaml and runs `ratchet init --force` (a new contract version); nothing was changed',
            );
          }
        }
        if (unpaired.length) {
          w('');
          w(`${unpaired.length} test${unpaired.length === 1 ? '' : 's'} not paired:`);
          for (const u of unpaired) w(`  ${u.testId}: ${u.reason}`);
        }
      }),
    );
}

/**
 * The report's blocks for tiers 2 and 3: each submitted bandit policy's tier-2 evidence (in the "Public vs private
 * holdout" section) and the offline–online alignment of the imported A/B tests (its own section). The numbers are
 * those of tiers/tier2.ts and tiers/align.ts as recorded or computed in data.ts; the charts come from
 * tier-charts.ts.
 */
import type { Block, Section } from './blocks.js';
import type { ReportData } from './data.js';
import { alignmentChart, evidenceChart } from './tier-charts.js';
import { alignmentFacts, sig4, signedFixed, type Tier2Item } from './tiers.js';

/** File name of the alignment chart beside report.md. */
export const REPORT_ALIGNMENT_SVG = 'report-alignment.svg';
/** File name of an experiment's tier-2 evidence chart beside report.md. */
export const tier2ChartFile = (experimentId: number) => `report-tier2-${experimentId}.svg`;

/** Where an estimator's interval lies against the logging policy's value. */
export function againstProduction(low: number, high: number, production: number): string {
  if (low > production) return 'above the logging policy';
  if (high < production) return 'below the logging policy';
  return 'overlaps the logging policy';
}

/** The blocks of one experiment's tier-2 evidence. */
export function tier2Blocks(item: Tier2Item): Block[] {
  const ev = item.evidence;
  const pct = `${Math.round(ev.confidence * 100)}%`;
  return [
    {
      kind: 'p',
      text: `Tier-2 evidence of #${item.experimentId} (a bandit policy), recorded by submit at ${item.at}: every estimator on the private logs (${ev.rows} rows) with a ${pct} percentile bootstrap interval (${ev.resamples} resamples), against the logging policy in production.`,
    },
    {
      kind: 'chart',
      svg: evidenceChart(ev),
      file: tier2ChartFile(item.experimentId),
      alt: `#${item.experimentId}: off-policy estimates with ${pct} intervals against the logging policy`,
    },
    {
      kind: 'table',
      head: ['estimator', 'estimate', `${pct} interval`, 'interval vs production'],
      rows: [
        ...ev.estimates.map((e) => [
          `${e.name}${e.name === ev.primary ? ' (primary)' : ''}`,
          sig4(e.value),
          `[${sig4(e.low)}, ${sig4(e.high)}]`,
          againstProduction(e.low, e.high, ev.production),
        ]),
        ['logging policy (production)', sig4(ev.production), '—', 'its mean logged reward'],
      ],
    },
    {
      kind: 'list',
      items: [
        `trust: effective sample size ${ev.ess.toFixed(0)} (${((ev.ess / Math.max(1, ev.rows)) * 100).toFixed(1)}% of the rows), largest importance weight ${sig4(ev.maxWeight)}, mass on actions the logs never took ${sig4(ev.unsupportedMass)}, estimator spread ${sig4(ev.disagreement)}`,
        ev.untrusted.length
          ? `not trusted: ${ev.untrusted.join('; ')}`
          : 'trusted: every diagnostic within the contract’s ope.trust thresholds',
      ],
    },
    { kind: 'p', text: ev.candidate ? ev.verdict : `WARNING ${ev.verdict}`, strong: true },
  ];
}

/** Every tier-2 evidence of the run, after the public–private table (nothing for a task that is not a bandit). */
export function tier2Section(d: ReportData): Block[] {
  return d.tier2.flatMap(tier2Blocks);
}

/** The "Offline vs online (tier 3)" section, or null when no A/B test was imported. */
export function alignmentSection(d: ReportData): Section | null {
  const a = d.alignment;
  if (!a) return null;
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `Do offline wins translate into online wins? The project's ${a.tests} imported A/B test${a.tests === 1 ? '' : 's'}, each paired with the experiment it shipped (any run): the offline delta is the experiment's tier-1 gain over its parent, the online delta the A/B effect (treatment − control) with its interval. As \`ratchet align\` reports it.`,
    },
    { kind: 'p', text: a.ready === false ? `WARNING ${a.verdict}` : a.verdict, strong: true },
    { kind: 'list', items: alignmentFacts(a).map((f) => `${f.label}: ${f.value}`) },
  ];
  if (a.points.length)
    blocks.push(
      {
        kind: 'chart',
        svg: alignmentChart(a),
        file: REPORT_ALIGNMENT_SVG,
        alt: `offline delta against online delta of ${a.points.length} A/B tests`,
      },
      {
        kind: 'table',
        head: ['A/B test', 'experiment', 'offline delta', 'online delta [interval]', 'online win'],
        rows: a.points.map((p) => [
          p.testId,
          `#${p.experimentId}`,
          signedFixed(p.offline, 6),
          `${sig4(p.online)} [${sig4(p.onlineLow)}, ${sig4(p.onlineHigh)}]`,
          p.win ? 'yes' : 'no',
        ]),
      },
    );
  if (a.unpaired.length)
    blocks.push(
      { kind: 'p', text: `Not paired (${a.unpaired.length}):` },
      { kind: 'list', items: a.unpaired.map((u) => `${u.testId}: ${u.reason}`) },
    );
  return { title: 'Offline vs online (tier 3)', blocks };
}

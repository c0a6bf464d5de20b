/**
 * The report's detail sections: the data and its splits, the winner against the baseline on every public
 * metric, the winner's plot on the public holdout, the best score per model family, parameter importance,
 * and what to try next after a plateau. Blocks are rendered by render.ts into Markdown and HTML alike.
 */
import type { Block, Section } from './blocks.js';
import type { ReportData } from './data.js';

const f = (v: number | null | undefined, d = 6) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d);
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const int = (v: number) => v.toLocaleString('en-US');

/** Blocks of the "Data and splits" section (the private holdout by its size only). */
export function dataBlocks(d: ReportData): Block[] {
  const x = d.dataset;
  if (!x) return [{ kind: 'p', text: 'The data is not described: the split manifest could not be read.' }];
  const c = x.split.counts;
  const total = c.train + c.public + c.private;
  const blocks: Block[] = [
    {
      kind: 'list',
      items: [
        `data file ${x.source}: ${int(x.rows)} rows${x.droppedNullTarget ? ` (${int(x.droppedNullTarget)} more dropped for an empty target)` : ''}, ${x.columns} feature columns (id ${x.idColumn} included, target excluded)`,
        `${x.task} task, target ${x.target}${x.positiveClass !== null ? ` (positive class ${x.positiveClass})` : ''}`,
        `split ${x.split.strategy}${x.split.column ? ` by ${x.split.column}` : ''}, seed ${x.split.seed}, fractions ${x.split.fractions.train} / ${x.split.fractions.public} / ${x.split.fractions.private}`,
        ...(x.roles
          ? [
              `column roles in the baseline's params: dates as calendar features: ${x.roles.date.join(', ') || 'none'}; high-cardinality categoricals (no one-hot): ${x.roles.highCardinality.join(', ') || 'none'}; left out: ${x.roles.drop.join(', ') || 'none'}`,
            ]
          : []),
      ],
    },
    {
      kind: 'table',
      head: ['split', 'rows', 'share', 'labels'],
      rows: [
        ['train', int(c.train), pct(c.train / total), 'in .ratchet/data/train.csv (seen by experiments)'],
        ['public holdout', int(c.public), pct(c.public / total), 'vault; scores every experiment'],
        [
          'private holdout',
          int(c.private),
          pct(c.private / total),
          'vault; scored only at submit (size only here)',
        ],
      ],
    },
  ];
  if (x.classes) {
    const labels = x.classes.train.map((r) => r.label);
    for (const r of x.classes.public) if (!labels.includes(r.label)) labels.push(r.label);
    const get = (rows: { label: string; count: number; share: number }[], l: string) => {
      const r = rows.find((y) => y.label === l);
      return r ? `${int(r.count)} (${pct(r.share)})` : '0 (0.0%)';
    };
    blocks.push({
      kind: 'table',
      head: ['class', 'train', 'public holdout'],
      rows: labels.map((l) => [
        `${l}${l === x.positiveClass ? ' (positive)' : ''}`,
        get(x.classes!.train, l),
        get(x.classes!.public, l),
      ]),
    });
  }
  if (x.target_summary) {
    const t = x.target_summary;
    blocks.push({
      kind: 'table',
      head: ['target', 'rows', 'mean', 'sd', 'min', 'q25', 'median', 'q75', 'max'],
      rows: (['train', 'public'] as const).map((k) => [
        k === 'train' ? 'train' : 'public holdout',
        int(t[k].rows),
        ...[t[k].mean, t[k].sd, t[k].min, t[k].q25, t[k].median, t[k].q75, t[k].max].map((v) => f(v, 4)),
      ]),
    });
  }
  if (x.note) blocks.push({ kind: 'p', text: x.note });
  return blocks;
}

/** The detail sections after the score progression. */
export function detailSections(d: ReportData): Section[] {
  const s: Section[] = [];
  const best = d.best;
  s.push({
    title: 'Winner vs baseline',
    blocks:
      d.secondary.length && best
        ? [
            {
              kind: 'p',
              text: `Best kept #${best.id} against the baseline on the public holdout, every metric; "change" is in each metric's direction (+ = better).`,
            },
            {
              kind: 'table',
              head: ['metric', 'direction', 'baseline', 'best', 'change'],
              rows: d.secondary.map((m) => [
                m.metric,
                m.direction === null
                  ? '?'
                  : m.direction === 'maximize'
                    ? 'higher is better'
                    : 'lower is better',
                f(m.baseline),
                f(m.best),
                m.gain === null
                  ? m.change === null
                    ? m.undefinedReason
                      ? `undefined: ${m.undefinedReason}`
                      : '—'
                    : `${m.change >= 0 ? '+' : ''}${m.change.toFixed(6)} (raw)`
                  : `${m.gain >= 0 ? '+' : ''}${m.gain.toFixed(6)} ${m.gain > 0 ? 'better' : m.gain < 0 ? 'worse' : 'same'}`,
              ]),
            },
          ]
        : [{ kind: 'p', text: 'No kept baseline and best to compare.' }],
  });
  const w = d.winner;
  const winnerBlocks: Block[] = [];
  if (w?.status === 'ok') {
    winnerBlocks.push(
      {
        kind: 'chart',
        svg: w.svg,
        file: 'report-winner.svg',
        alt: `#${w.experimentId} on the public holdout`,
      },
      { kind: 'list', items: w.summary },
    );
    if (w.confusion)
      winnerBlocks.push(
        { kind: 'p', text: 'Confusion matrix (rows: true class, columns: predicted):' },
        {
          kind: 'table',
          head: ['true \\ predicted', ...w.confusion.labels],
          rows: w.confusion.matrix.map((r, i) => [w.confusion!.labels[i]!, ...r.map(String)]),
        },
      );
  } else winnerBlocks.push({ kind: 'p', text: `No winner plot: ${w?.reason ?? 'not computed'}.` });
  s.push({ title: 'Winner on the public holdout', blocks: winnerBlocks });
  if (d.families)
    s.push({
      title: 'Model families',
      blocks: [
        {
          kind: 'table',
          head: [d.families.param, 'experiments', 'kept', 'scored', `best public ${d.project.metric}`],
          rows: d.families.rows.map((r) => [
            r.family,
            String(r.experiments),
            String(r.kept),
            String(r.scored),
            r.best === null ? '—' : `${f(r.best)} (#${r.bestId})`,
          ]),
        },
      ],
    });
  const imp = d.importance;
  const impBlocks: Block[] = [];
  if (!imp || imp.status === 'unavailable') {
    impBlocks.push({
      kind: 'p',
      text: `parameter importance: not available (${imp?.reason ?? 'not computed'})`,
    });
  } else {
    impBlocks.push({
      kind: 'p',
      text: `fANOVA (Optuna's FanovaImportanceEvaluator) over ${imp.trials} scored trials: the share of the score's variance each parameter explains, per group of trials (the family's own parameters exist only in its trials).`,
    });
    for (const g of imp.groups)
      impBlocks.push({
        kind: 'table',
        head: [`${g.name} (${g.trials} trials)`, 'importance'],
        rows: Object.entries(g.importances).map(([k, v]) => [k, v.toFixed(3)]),
      });
    if (imp.groups.length === 0) impBlocks.push({ kind: 'p', text: 'No group had enough varied trials.' });
    if (imp.skipped.length)
      impBlocks.push({
        kind: 'list',
        items: imp.skipped.map((x) => `${x.name}: not computed, ${x.reason}`),
      });
  }
  s.push({ title: 'Parameter importance', blocks: impBlocks });
  if (d.nextSteps.trigger)
    s.push({
      title: 'What to try next',
      blocks: [
        { kind: 'p', text: `The search stalled (${d.nextSteps.trigger}). Suggestions from this run's data:` },
        { kind: 'list', items: d.nextSteps.items },
      ],
    });
  return s;
}

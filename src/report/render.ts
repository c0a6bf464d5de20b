import { formatDuration } from '../util/units.js';
import type { Block, Section } from './blocks.js';
import { DECISION_STYLE, escapeXml, scoreChart, sparkline } from './chart.js';
import type { ReportData, ReportExperiment } from './data.js';
import { harnessSection } from './harness-chart.js';
import { dataBlocks, detailSections } from './sections.js';
import { alignmentSection, tier2Section } from './tier-sections.js';
import { gapText, keptText, reasonAfter } from './words.js';

/**
 * Renderings of the morning report: Markdown (`report.md`) and one self-contained HTML page (`report.html`,
 * styles and the SVG chart inline, no script, no external reference). Both come from the same list of
 * sections so they always say the same thing.
 */

const f = (v: number | null | undefined, d = 6) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d);
const sf = (v: number | null | undefined, d = 6) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(d)}`;
const one = (s: string | null | undefined, n = 200) => {
  const t = (s ?? '').replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};
const ids = (xs: number[]) => xs.map((x) => `#${x}`).join(' ');
const ci = (e: ReportExperiment) =>
  e.ciLow === null || e.ciHigh === null ? '—' : `${sf(e.ciLow, 5)} .. ${sf(e.ciHigh, 5)}`;

/** The report's sections, in reading order. */
export function reportSections(d: ReportData): Section[] {
  const m = d.project.metric;
  const s: Section[] = [];
  const rec = d.recommendation;
  s.push({
    title: 'Recommendation',
    blocks: [
      { kind: 'p', text: rec.headline, strong: true },
      { kind: 'list', items: rec.reasons },
      ...(rec.next.length ? [{ kind: 'code' as const, text: rec.next.join('\n') }] : []),
    ],
  });
  const c = d.counts;
  const cfg = d.run.config as { maxExperiments?: number; maxWallClockMs?: number };
  s.push({
    title: 'What ran',
    blocks: [
      {
        kind: 'list',
        items: [
          `${c.total} experiments${cfg.maxExperiments ? ` of a budget of ${cfg.maxExperiments}` : ''} in ${formatDuration(d.run.seconds * 1000)}${cfg.maxWallClockMs ? ` (wall-clock budget ${formatDuration(cfg.maxWallClockMs)})` : ''}: ${[keptText(c.kept, (c.baseline ?? 0) > 0), ...(['reverted', 'crashed', 'timeout', 'invalid', 'rejected'] as const).map((k) => `${c[k]} ${k}`)].join(', ')}`,
          `run ${d.run.id} ${d.run.status}${d.run.reason ? `: ${reasonAfter(d.run.status, d.run.reason)}` : ''}`,
          `proposer ${d.run.proposer}, branch ${d.run.branch}, ${d.run.unsafe ? 'NOT sandboxed (--unsafe-no-sandbox)' : 'every experiment sandboxed'}`,
          `${m} (${d.project.direction}): baseline ${f(d.baseline)} → best ${f(d.best?.score)}${d.best ? ` (#${d.best.id})` : ''}, gain ${sf(d.gain)}${d.noise.gainInNoiseSd === null ? '' : ` = ${d.noise.gainInNoiseSd.toFixed(1)}× the noise sd`}`,
          d.features.checked + d.features.notChecked.length === 0
            ? 'features check: no scored experiment'
            : `features check: ${d.features.notChecked.length} of ${d.features.checked + d.features.notChecked.length} experiments not checked${d.features.notChecked.length ? ` (${d.features.notChecked.map((x) => `#${x.id}: ${one(x.reason, 100)}`).join('; ')})` : ''}`,
          d.timing.meanExperimentSeconds === null
            ? 'no experiment recorded'
            : `an experiment took ${d.timing.meanExperimentSeconds.toFixed(1)} s on average, ${Math.round((d.timing.executeShare ?? 0) * 100)}% of it in the sandboxed command`,
        ],
      },
    ],
  });
  s.push({ title: 'Data and splits', blocks: dataBlocks(d) });
  const privateScores: Record<number, number> = {};
  for (const sub of d.submissions) privateScores[sub.experimentId] = sub.private;
  const bestSeries = d.progression.map((p) => p.runningBest).filter((v): v is number => v !== null);
  s.push({
    title: 'Score progression',
    blocks: [
      {
        kind: 'chart',
        alt: `${m} over experiments`,
        file: 'report-progress.svg',
        svg: scoreChart({
          points: d.progression.map((p) => ({
            id: p.id,
            seq: p.seq,
            decision: p.decision,
            score: p.score,
            hypothesis: one(p.hypothesis, 160),
            direction: p.direction,
          })),
          metric: m,
          direction: d.project.direction,
          private: privateScores,
        }),
      },
      {
        kind: 'p',
        text: bestSeries.length
          ? `running best: ${sparkline(bestSeries)} (${f(bestSeries[0])} → ${f(bestSeries[bestSeries.length - 1])})`
          : 'no scored experiment yet',
      },
    ],
  });
  if (d.directions)
    s.push({
      title: 'Directions',
      blocks: [
        {
          kind: 'p',
          text: `${d.directions.length} directions ran at once, each on its own branch from the baseline, sharing the budgets; submit scores only the public winner privately.`,
        },
        {
          kind: 'table',
          head: ['direction', 'branch', 'experiments', 'kept changes', `best ${m}`],
          rows: d.directions.map((x) => [
            `d${x.direction}`,
            x.branch,
            String(x.experiments),
            String(x.kept),
            x.best ? `${f(x.best.score)} (#${x.best.id})` : '—',
          ]),
        },
      ],
    });
  const harness = harnessSection(d.harness);
  if (harness) s.push(harness);
  s.push(...detailSections(d));
  s.push({
    title: 'What was kept and why',
    blocks: d.kept.length
      ? [
          {
            kind: 'table',
            head: ['#', 'seq', m, 'gain', '95% CI', 'P(better)', 'hypothesis', 'why kept', 'commit'],
            rows: d.kept.map((e) => [
              `#${e.id}`,
              String(e.seq),
              f(e.score),
              sf(e.delta),
              ci(e),
              f(e.probImprovement, 3),
              one(e.hypothesis, 140),
              one(e.reason, 140),
              e.commit?.slice(0, 12) ?? '—',
            ]),
          },
        ]
      : [{ kind: 'p', text: 'Nothing was kept after the baseline.' }],
  });
  s.push({
    title: 'Biggest wins',
    blocks: d.wins.length
      ? [
          {
            kind: 'list',
            ordered: true,
            items: d.wins.map(
              (e) =>
                `#${e.id} ${sf(e.delta)} → ${f(e.score)}: ${one(e.hypothesis, 240)}${e.conclusion ? ` — learned: ${one(e.conclusion, 200)}` : ''}`,
            ),
          },
          ...(d.nearMisses.length
            ? [
                { kind: 'p' as const, text: 'Near misses (better, but not significantly; reverted):' },
                {
                  kind: 'list' as const,
                  items: d.nearMisses.map(
                    (e) => `#${e.id} ${sf(e.delta)}: ${one(e.hypothesis, 160)} (${one(e.reason, 140)})`,
                  ),
                },
              ]
            : []),
        ]
      : [{ kind: 'p', text: 'No win: no change beat the baseline significantly.' }],
  });
  s.push({
    title: 'Failure patterns',
    blocks: d.failures.length
      ? [
          {
            kind: 'table',
            head: ['decision', 'count', 'pattern', 'experiments'],
            rows: d.failures.map((p) => [p.decision, String(p.count), p.pattern, ids(p.experiments)]),
          },
        ]
      : [{ kind: 'p', text: 'No experiment crashed, timed out, was invalid or was rejected.' }],
  });
  const guard: Block[] = d.guardrails.length
    ? [
        {
          kind: 'table',
          head: ['guardrail', 'trips', 'overridable', 'experiments', 'latest message'],
          rows: d.guardrails.map((g) => [
            g.guardrail,
            String(g.count),
            g.overridable === null ? '?' : g.overridable ? 'yes' : 'never',
            ids(g.experiments) || 'run-level',
            one(g.example, 160),
          ]),
        },
      ]
    : [{ kind: 'p', text: 'No guardrail tripped.' }];
  if (d.escalations.length)
    guard.push(
      { kind: 'p', text: 'Escalations (the run handed over to a person):', strong: true },
      { kind: 'list', items: d.escalations.map((e) => `${e.at}: ${e.message}`) },
    );
  if (d.warnings.length)
    guard.push(
      { kind: 'p', text: 'Other warnings:' },
      { kind: 'list', items: d.warnings.map((w) => `${w.kind} ×${w.count}: ${one(w.example, 200)}`) },
    );
  s.push({ title: 'Guardrail events', blocks: guard });
  s.push({
    title: 'Public vs private holdout',
    blocks: d.submissions.length
      ? [
          {
            kind: 'table',
            head: [
              '#',
              'public',
              'private',
              `private vs public (${d.project.direction})`,
              'gap / noise sd',
              'review',
            ],
            rows: d.submissions.map((x) => [
              `#${x.experimentId}`,
              f(x.public),
              f(x.private),
              gapText(x.gap, 6),
              x.gapInNoiseSd === null ? '—' : `${x.gapInNoiseSd.toFixed(1)}×`,
              x.review
                ? `${x.review.decision} (${x.review.reviewer}): ${one(x.review.note, 120)}`
                : 'not reviewed',
            ]),
          },
          {
            kind: 'p',
            text: 'Private worse than public means the public holdout flattered the model; the private holdout is scored once per experiment, never shown to a proposer.',
          },
          ...tier2Section(d),
        ]
      : [
          {
            kind: 'p',
            text: `Not submitted: run \`ratchet submit --run ${d.run.id}\` to score the best kept experiment on the private holdout.`,
          },
          ...tier2Section(d),
        ],
  });
  const tier3 = alignmentSection(d);
  if (tier3) s.push(tier3);
  s.push({
    title: 'Noise',
    blocks: [
      d.noise.measurements.length
        ? {
            kind: 'table',
            head: ['kind', 'sd', 'mean', 'runs', 'commit', 'measured'],
            rows: d.noise.measurements.map((n) => [
              n.kind,
              n.sd.toExponential(2),
              f(n.mean),
              String(n.runs),
              n.commit.slice(0, 12),
              n.at,
            ]),
          }
        : { kind: 'p', text: 'No noise measurement: run `ratchet check` before a run.' },
      ...(d.noise.note?.measured === false
        ? [{ kind: 'p' as const, text: `WARNING ${d.noise.note.text}.`, strong: true }]
        : []),
      {
        kind: 'p',
        text: `Keep rule: the gain must exceed min_delta ${d.noise.minDelta}${d.noise.noiseZ === null ? '' : ` and ${d.noise.noiseZ}× the noise`}, and the paired bootstrap on the public holdout must say it is real.`,
      },
    ],
  });
  if (d.reviews.length)
    s.push({
      title: 'Reviews',
      blocks: [
        {
          kind: 'table',
          head: ['when', '#', 'decision', 'reviewer', 'note'],
          rows: d.reviews.map((r) => [r.ts, `#${r.experimentId}`, r.decision, r.reviewer, one(r.note, 300)]),
        },
      ],
    });
  s.push({
    title: 'All experiments',
    blocks: [
      {
        kind: 'table',
        head: ['#', 'seq', 'decision', m, 'gain', 'time', 'hypothesis'],
        rows: d.progression.map((e) => [
          `#${e.id}`,
          String(e.seq),
          e.decision,
          f(e.score),
          sf(e.delta),
          `${e.seconds.toFixed(1)}s`,
          one(e.hypothesis, 160),
        ]),
      },
    ],
  });
  return s;
}

/**
 * Text as Markdown that shows it literally, never as markup: the report's blocks mix Ratchet's words with what a
 * proposer wrote (hypotheses, conclusions, crash messages), which is data (docs/ARCHITECTURE.md, "Guardrails").
 * Whitespace runs become one space (agent text cannot start a line of its own); the backslash is escaped (so text
 * cannot undo an escape), and so is what would open markup under CommonMark: the `(` of an inline link or image
 * (`](`), a `<` before a letter, `/`, `!` or `?` (raw HTML, autolinks), and a first character that would open a
 * heading, quote, list item or thematic break. Intervals (`[0.1, 0.2]`) and comparisons (`p < 0.05`) stay as they
 * read. The HTML report escapes the same text as XML.
 */
export function mdText(t: string): string {
  const s = t
    .replace(/\s+/g, ' ')
    .trim()
    .replaceAll('\\', '\\\\')
    .replaceAll('](', ']\\(')
    .replace(/<(?=[A-Za-z/!?])/g, '\\<');
  const opensBlock =
    /^(?:[-+*](?: |$)|#{1,6}(?: |$)|>|\d{1,9}[.)](?: |$))/.test(s) || /^(?:[-*_=] ?){3,}$/.test(s);
  return opensBlock ? s.replace(/^(\d*)(.)/, '$1\\$2') : s;
}
const mdCell = (t: string) => mdText(t).replaceAll('|', '\\|');
/** A code fence longer than any run of backticks in `text` (so the text cannot close it). */
const fence = (text: string) =>
  '`'.repeat(Math.max(3, ...(text.match(/`+/g) ?? []).map((r) => r.length + 1)));

/** The charts of the report (SVG and the file name report.md links to), in reading order. */
export function reportCharts(d: ReportData): { file: string; svg: string; alt: string }[] {
  return reportSections(d).flatMap((sec) =>
    sec.blocks.flatMap((b) => (b.kind === 'chart' ? [{ file: b.file, svg: b.svg, alt: b.alt }] : [])),
  );
}

/**
 * Render the report as Markdown, text first: every chart is a relative image link to its SVG file beside
 * report.md (written by `writeReport`), never inline data.
 */
export function renderMarkdown(d: ReportData): string {
  const out: string[] = [
    `# Ratchet report: ${d.project.name}, run ${d.run.id}`,
    '',
    `_${d.run.status}${d.run.reason ? `: ${mdText(reasonAfter(d.run.status, d.run.reason))}` : ''}. ${d.project.task} task, ${d.project.metric} (${d.project.direction}). Generated ${d.generatedAt}._`,
    '',
  ];
  for (const sec of reportSections(d)) {
    out.push(`## ${sec.title}`, '');
    for (const b of sec.blocks) {
      switch (b.kind) {
        case 'p':
          out.push(b.strong ? `**${mdText(b.text)}**` : mdText(b.text), '');
          break;
        case 'list':
          out.push(...b.items.map((it, i) => `${b.ordered ? `${i + 1}.` : '-'} ${mdText(it)}`), '');
          break;
        case 'table':
          out.push(
            `| ${b.head.map(mdCell).join(' | ')} |`,
            `|${b.head.map(() => '---').join('|')}|`,
            ...b.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
            '',
          );
          break;
        case 'chart':
          // The alt text sits inside `![…]`: its brackets are escaped too.
          out.push(`![${mdText(b.alt).replace(/[[\]]/g, '\\$&')}](${b.file})`, '');
          break;
        case 'code':
          out.push(fence(b.text), b.text, fence(b.text), '');
          break;
      }
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

const CSS = `
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;border-bottom:1px solid #d1d9e0;padding-bottom:4px;margin-top:28px}
.sub{color:#59636e;margin:0 0 16px}table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border:1px solid #d1d9e0;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
tr:nth-child(even) td{background:#fbfcfd}pre{background:#f6f8fa;padding:8px 12px;border-radius:6px;overflow:auto}
.rec{border-left:4px solid #0969da;background:#ddf4ff;padding:8px 14px;border-radius:4px}
.d-kept{color:${DECISION_STYLE['kept']!.colour};font-weight:600}.d-reverted{color:${DECISION_STYLE['reverted']!.colour}}
.d-crashed,.d-timeout{color:${DECISION_STYLE['crashed']!.colour}}.d-invalid{color:${DECISION_STYLE['invalid']!.colour}}
.d-rejected{color:${DECISION_STYLE['rejected']!.colour}}svg{max-width:100%;height:auto}
.warn{border-left:4px solid #bc4c00;background:#fff1e5;padding:6px 12px;border-radius:4px}
`;

/** Render the report as one self-contained HTML page (inline CSS and SVG; no script, no external URL). */
export function renderHtml(d: ReportData): string {
  const e = escapeXml;
  const body: string[] = [
    `<h1>Ratchet report: ${e(d.project.name)}, run ${e(d.run.id)}</h1>`,
    `<p class="sub">${e(d.run.status)}${d.run.reason ? `: ${e(reasonAfter(d.run.status, d.run.reason))}` : ''}. ${e(d.project.task)} task, ${e(d.project.metric)} (${e(d.project.direction)}). Generated ${e(d.generatedAt)}.</p>`,
  ];
  for (const sec of reportSections(d)) {
    const id = sec.title.toLowerCase().replace(/[^a-z]+/g, '-');
    const inner: string[] = [];
    for (const b of sec.blocks) {
      switch (b.kind) {
        case 'p':
          inner.push(
            b.strong
              ? `<p${b.text.startsWith('WARNING ') ? ' class="warn"' : ''}><strong>${e(b.text)}</strong></p>`
              : `<p>${e(b.text)}</p>`,
          );
          break;
        case 'list': {
          const tag = b.ordered ? 'ol' : 'ul';
          inner.push(`<${tag}>${b.items.map((it) => `<li>${e(it)}</li>`).join('')}</${tag}>`);
          break;
        }
        case 'table': {
          const di = b.head.indexOf('decision');
          inner.push(
            `<table><thead><tr>${b.head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${b.rows
              .map(
                (r) =>
                  `<tr>${r.map((cell, i) => (i === di ? `<td class="d-${e(cell)}">${e(cell)}</td>` : `<td>${e(cell)}</td>`)).join('')}</tr>`,
              )
              .join('')}</tbody></table>`,
          );
          break;
        }
        case 'chart':
          inner.push(`<figure>${b.svg}<figcaption>${e(b.alt)}</figcaption></figure>`);
          break;
        case 'code':
          inner.push(`<pre>${e(b.text)}</pre>`);
          break;
      }
    }
    body.push(
      `<section id="${id}"${sec.title === 'Recommendation' ? ' class="rec"' : ''}><h2>${e(sec.title)}</h2>${inner.join('\n')}</section>`,
    );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ratchet report: ${e(d.project.name)} ${e(d.run.id)}</title>
<style>${CSS}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

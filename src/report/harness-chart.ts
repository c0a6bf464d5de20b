/**
 * The score–cost scatter of a harness run as a self-contained SVG string, like chart.ts's (the report inlines it and
 * writes it beside report.md; the Studio sends it in its snapshot), and the report's "Score and cost (harness)"
 * section around it.
 */
import type { Block, Section } from './blocks.js';
import {
  AXIS_COLOUR,
  DECISION_STYLE,
  decisionShape,
  escapeXml,
  scatterGrid,
  svgNum,
  svgOpen,
} from './chart.js';
import { costText, type HarnessFront } from './harness-front.js';

/** File name of the chart beside report.md. */
export const REPORT_HARNESS_SVG = 'report-harness.svg';

const AXIS = AXIS_COLOUR;
const FRONT_COLOUR = '#1a7f37';
const BEST_COLOUR = '#0969da';
const CEILING_COLOUR = '#cf222e';

const fmt = svgNum;

/** [lo, hi] over the values, padded by 8% (or by a little around a single value). */
function span(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (!(hi - lo > 0)) {
    const pad = Math.max(Math.abs(hi) * 0.1, 1e-3);
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

const cut = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Options of {@link harnessChart}. */
export interface HarnessChartOptions {
  /** Pixels (default 760 × 420). */
  width?: number;
  height?: number;
  /** Keyboard and screen-reader use (the Studio): every mark a focusable button (see chart.ts). */
  interactive?: boolean;
}

/**
 * The scatter: x the cost metric, y task_score, each scored experiment a mark by decision (chart.ts's shapes), the
 * Pareto front as a step line (from the cheapest front point up to each next one, then on to the right edge: what
 * lies below and right of it is dominated), the current best ringed, and the cost ceiling as a dashed vertical line
 * when the contract sets one. Every mark is a `<g class="hpt" data-id=… data-decision=… data-front=…>` with a
 * `<title>` holding the escaped hypothesis.
 */
export function harnessChart(f: HarnessFront, opts: HarnessChartOptions = {}): string {
  const W = opts.width ?? 760;
  const H = opts.height ?? 420;
  const decisions = Object.keys(DECISION_STYLE).filter((k) => f.points.some((p) => p.decision === k));
  for (const p of f.points) if (!decisions.includes(p.decision)) decisions.push(p.decision);
  const legend = [
    ...decisions.map((k) => ({ key: k, text: DECISION_STYLE[k]?.label ?? k })),
    { key: 'front', text: 'Pareto front' },
    { key: 'best', text: 'current best' },
    ...(f.ceiling === null ? [] : [{ key: 'ceiling', text: 'cost ceiling' }]),
  ];
  const rows: { key: string; text: string; x: number; row: number }[] = [];
  {
    let lx = 72;
    let row = 0;
    for (const it of legend) {
      const w = 20 + it.text.length * 6.8 + 14;
      if (lx + w > W - 20 && lx > 72) {
        row++;
        lx = 72;
      }
      rows.push({ ...it, x: lx, row });
      lx += w;
    }
  }
  const m = { left: 72, right: 20, top: 24 + 16 * ((rows[rows.length - 1]?.row ?? 0) + 1), bottom: 50 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const [x0, x1] = span([...f.points.map((p) => p.cost), ...(f.ceiling === null ? [] : [f.ceiling])]);
  const [y0, y1] = span(f.points.map((p) => p.score));
  const x = (v: number) => m.left + ((v - x0) / (x1 - x0)) * plotW;
  const y = (v: number) => m.top + (1 - (v - y0) / (y1 - y0)) * plotH;
  const out: string[] = [
    svgOpen(
      W,
      H,
      `${f.score} against ${f.cost} of ${f.points.length} experiments, ${f.front.length} on the Pareto front`,
      {
        role: opts.interactive ? 'group' : 'img',
        cls: 'harness-chart',
      },
    ),
  ];
  out.push(
    ...scatterGrid({
      x,
      y,
      x0,
      x1,
      y0,
      y1,
      left: m.left,
      right: W - m.right,
      top: m.top,
      bottom: m.top + plotH,
    }),
  );
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#8c959f"/>`,
    `<text x="${m.left + plotW / 2}" y="${H - 10}" text-anchor="middle" fill="${AXIS}">${escapeXml(`${f.cost} on the public holdout (lower is better)`)}</text>`,
    `<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${AXIS}">${escapeXml(`${f.score} on the public holdout (higher is better)`)}</text>`,
  );
  if (f.ceiling !== null) {
    const cx = fmt(x(f.ceiling));
    out.push(
      `<g class="ceiling" data-value="${f.ceiling}"><title>${escapeXml(`cost ceiling: a score gain is kept only while ${f.cost} ≤ ${costText(f.ceiling, f.cost)}`)}</title><line x1="${cx}" x2="${cx}" y1="${m.top}" y2="${m.top + plotH}" stroke="${CEILING_COLOUR}" stroke-width="1.5" stroke-dasharray="6 3"/></g>`,
    );
  }
  const byId = new Map(f.points.map((p) => [p.id, p]));
  const front = f.front.map((id) => byId.get(id)).filter((p) => p !== undefined);
  if (front.length) {
    let d = `M${fmt(x(front[0]!.cost))} ${fmt(m.top + plotH)} V${fmt(y(front[0]!.score))}`;
    for (const p of front.slice(1)) d += ` H${fmt(x(p.cost))} V${fmt(y(p.score))}`;
    d += ` H${fmt(W - m.right)}`;
    out.push(
      `<path class="front-line" d="${d}" fill="none" stroke="${FRONT_COLOUR}" stroke-width="2" stroke-opacity="0.55"/>`,
    );
  }
  // The front's marks last, so they sit on top of the others.
  const order = [...f.points].sort((a, b) => Number(a.front) - Number(b.front) || a.seq - b.seq);
  for (const p of order) {
    const X = x(p.cost);
    const Y = y(p.score);
    const tags = [p.front ? 'on the Pareto front' : '', p.best ? 'current best' : ''].filter(Boolean);
    const tip = `#${p.id} (seq ${p.seq}) ${p.decision}: ${f.score} ${p.score.toFixed(4)}, ${f.cost} ${costText(p.cost, f.cost)}${tags.length ? ` (${tags.join(', ')})` : ''}: ${cut(p.hypothesis)}`;
    const name = `#${p.id} ${p.decision} ${f.score} ${p.score.toFixed(4)} ${f.cost} ${costText(p.cost, f.cost)}${tags.length ? `, ${tags.join(', ')}` : ''}`;
    const a11y = opts.interactive
      ? ` tabindex="0" role="button" aria-label="${escapeXml(name)}" style="cursor:pointer"`
      : '';
    const ring = p.best
      ? `<circle class="best-ring" cx="${fmt(X)}" cy="${fmt(Y)}" r="9" fill="none" stroke="${BEST_COLOUR}" stroke-width="2"/>`
      : '';
    out.push(
      `<g class="hpt" data-id="${p.id}" data-seq="${p.seq}" data-decision="${escapeXml(p.decision)}" data-front="${p.front}"${p.best ? ' data-best="true"' : ''}${a11y}><title>${escapeXml(tip)}</title><circle cx="${fmt(X)}" cy="${fmt(Y)}" r="10" fill="transparent"/>${ring}${decisionShape(p.decision, X, Y)}</g>`,
    );
  }
  for (const it of rows) {
    const cy = 12 + it.row * 16;
    const lx = it.x;
    const mark =
      it.key === 'front'
        ? `<path d="M${lx} ${cy + 5} V${cy - 1} H${lx + 7} V${cy - 5} H${lx + 14}" fill="none" stroke="${FRONT_COLOUR}" stroke-width="2" stroke-opacity="0.55"/>`
        : it.key === 'best'
          ? `<circle cx="${lx + 7}" cy="${cy}" r="6" fill="none" stroke="${BEST_COLOUR}" stroke-width="2"/>`
          : it.key === 'ceiling'
            ? `<line x1="${lx + 7}" x2="${lx + 7}" y1="${cy - 7}" y2="${cy + 7}" stroke="${CEILING_COLOUR}" stroke-width="1.5" stroke-dasharray="3 2"/>`
            : decisionShape(it.key, lx + 7, cy);
    out.push(
      `<g class="legend" data-key="${escapeXml(it.key)}">${mark}<text x="${lx + 20}" y="${cy}" dominant-baseline="middle" fill="#24292f">${escapeXml(it.text)}</text></g>`,
    );
  }
  out.push('</svg>');
  return out.join('');
}

/** The "Score and cost (harness)" section, or null for a task that is not a harness. */
export function harnessSection(f: HarnessFront | null): Section | null {
  if (!f) return null;
  const best = f.best === null ? null : (f.points.find((p) => p.id === f.best) ?? null);
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `Each scored experiment of the run at its public-holdout ${f.score} (higher is better) and ${f.cost} (lower is better). The Pareto front is the experiments no other one beats on both, at least as good on each and better on one: ${f.front.length} of the ${f.points.length} scored. A rejected experiment is drawn but never on the front (a guardrail refused it).${f.unscored ? ` ${f.unscored} experiment${f.unscored === 1 ? '' : 's'} without a score ${f.unscored === 1 ? 'is' : 'are'} not drawn.` : ''}`,
    },
  ];
  const facts: string[] = [];
  if (best)
    facts.push(
      `current best #${best.id}: ${f.score} ${best.score.toFixed(4)}, ${f.cost} ${costText(best.cost, f.cost)}${best.front ? ', on the front' : ', not on the front'}`,
    );
  if (f.ceiling !== null)
    facts.push(
      `cost ceiling ${costText(f.ceiling, f.cost)} (harness.keep.cost_ceiling): a score gain above it is not kept`,
    );
  if (facts.length) blocks.push({ kind: 'list', items: facts });
  if (!f.points.length) {
    blocks.push({ kind: 'p', text: 'No scored experiment yet.' });
    return { title: 'Score and cost (harness)', blocks };
  }
  const byId = new Map(f.points.map((p) => [p.id, p]));
  blocks.push(
    {
      kind: 'chart',
      svg: harnessChart(f),
      file: REPORT_HARNESS_SVG,
      alt: `${f.score} against ${f.cost} of ${f.points.length} experiments, ${f.front.length} on the Pareto front`,
    },
    {
      kind: 'table',
      head: ['experiment', 'decision', f.score, f.cost, 'hypothesis'],
      rows: f.front.map((id) => {
        const p = byId.get(id)!;
        return [
          `#${p.id}${p.best ? ' (best)' : ''}`,
          p.decision,
          p.score.toFixed(4),
          costText(p.cost, f.cost),
          cut(p.hypothesis.replace(/\s+/g, ' ').trim()),
        ];
      }),
    },
  );
  return { title: 'Score and cost (harness)', blocks };
}

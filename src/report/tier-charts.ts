import type { Tier2Evidence } from '../tiers/tier2.js';
import {
  AXIS_COLOUR,
  escapeXml,
  GRID_COLOUR,
  gridTickLabel,
  niceStep,
  scatterGrid,
  svgNum,
  svgOpen,
} from './chart.js';
import { type AlignmentSummary, sig4, signedFixed } from './tiers.js';

/**
 * The charts of tiers 2 and 3, as self-contained SVG strings like chart.ts's (the report inlines them and writes
 * them beside report.md; the Studio sends them in its snapshot): the offline–online scatter of the A/B tests and
 * the tier-2 evidence's estimator intervals against the logging policy.
 */

/** Colour of an online win (and a tier-2 candidate's primary estimate). */
export const WIN_COLOUR = '#1a7f37';
/** Colour of a test that is not an online win. */
export const LOSS_COLOUR = '#57606a';
const AXIS = AXIS_COLOUR;
const GRID = GRID_COLOUR;
const ZERO = '#8c959f';
const THRESHOLD_COLOUR = '#8250df';
const FIT_COLOUR = '#0969da';

const fmt = svgNum;
const tick = gridTickLabel;

/** [lo, hi] over values and 0, padded by 8% (or ±1 when every value is 0). */
function span(values: number[]): [number, number] {
  let lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (!(hi - lo > 0)) {
    const pad = Math.max(Math.abs(hi) * 0.1, 1);
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

/** Options of the charts. */
export interface TierChartOptions {
  /** Pixels (the scatter's default is 760 × 420, the evidence chart's 640 wide). */
  width?: number;
  height?: number;
}

/**
 * The offline–online scatter: each paired A/B test a point at (offline delta, online delta) with the online
 * interval as a vertical error bar; an online win a filled green circle, any other test an open grey square (shape
 * and colour both differ); the zero lines, the OLS calibration line and the promotion threshold (when there is one)
 * dashed. Every point is a `<g class="ab-pt" data-test=… data-win=…>` with a `<title>`.
 */
export function alignmentChart(a: AlignmentSummary, opts: TierChartOptions = {}): string {
  const W = opts.width ?? 760;
  const H = opts.height ?? 420;
  const m = { left: 72, right: 20, top: 40, bottom: 50 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const pts = a.points;
  const [x0, x1] = span([
    ...pts.map((p) => p.offline),
    ...(a.threshold.value === null ? [] : [a.threshold.value]),
  ]);
  const [y0, y1] = span(pts.flatMap((p) => [p.online, p.onlineLow, p.onlineHigh]));
  const x = (v: number) => m.left + ((v - x0) / (x1 - x0)) * plotW;
  const y = (v: number) => m.top + (1 - (v - y0) / (y1 - y0)) * plotH;
  const onlineName = a.options.online === 'lift' ? 'online lift' : 'online delta';
  const out: string[] = [
    svgOpen(W, H, `offline delta against ${onlineName} of ${pts.length} A/B tests`, {
      cls: 'alignment-chart',
    }),
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
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="${ZERO}"/>`,
    `<line class="zero" x1="${fmt(x(0))}" x2="${fmt(x(0))}" y1="${m.top}" y2="${m.top + plotH}" stroke="${ZERO}" stroke-width="1.2" stroke-dasharray="5 3"/>`,
    `<line class="zero" x1="${m.left}" x2="${W - m.right}" y1="${fmt(y(0))}" y2="${fmt(y(0))}" stroke="${ZERO}" stroke-width="1.2" stroke-dasharray="5 3"/>`,
    `<text x="${m.left + plotW / 2}" y="${H - 10}" text-anchor="middle" fill="${AXIS}">offline delta (tier-1 gain over the parent, + = better)</text>`,
    `<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${AXIS}">${escapeXml(`${onlineName} (A/B treatment − control) with its interval`)}</text>`,
  );
  if (a.slope) {
    const s = a.slope;
    // The line over the plot's x range, cut where it leaves the y range (no clip path: no url() in the SVG).
    let xa = x0;
    let xb = x1;
    if (s.slope !== 0) {
      const at = (v: number) => (v - s.intercept) / s.slope;
      const [ea, eb] = [at(y0), at(y1)].sort((p, q) => p - q) as [number, number];
      xa = Math.max(xa, ea);
      xb = Math.min(xb, eb);
    }
    if (xb > xa)
      out.push(
        `<g class="fit"><title>${escapeXml(`calibration (OLS): online = ${sig4(s.intercept)} + ${sig4(s.slope)} × offline`)}</title><line x1="${fmt(x(xa))}" x2="${fmt(x(xb))}" y1="${fmt(y(s.intercept + s.slope * xa))}" y2="${fmt(y(s.intercept + s.slope * xb))}" stroke="${FIT_COLOUR}" stroke-width="1.5" stroke-opacity="0.7" stroke-dasharray="8 4"/></g>`,
      );
  }
  if (a.threshold.value !== null) {
    const tx = fmt(x(a.threshold.value));
    out.push(
      `<g class="threshold" data-value="${a.threshold.value}"><title>${escapeXml(`promotion threshold: offline gain ≥ ${signedFixed(a.threshold.value, 4)} (${a.threshold.wins} of ${a.threshold.support} tests won)`)}</title><line x1="${tx}" x2="${tx}" y1="${m.top}" y2="${m.top + plotH}" stroke="${THRESHOLD_COLOUR}" stroke-width="1.5" stroke-dasharray="2 3"/></g>`,
    );
  }
  for (const p of pts) {
    const X = x(p.offline);
    const Y = y(p.online);
    const lo = fmt(y(p.onlineLow));
    const hi = fmt(y(p.onlineHigh));
    const colour = p.win ? WIN_COLOUR : LOSS_COLOUR;
    const mark = p.win
      ? `<circle cx="${fmt(X)}" cy="${fmt(Y)}" r="5" fill="${colour}"/>`
      : `<rect x="${fmt(X - 4)}" y="${fmt(Y - 4)}" width="8" height="8" fill="#ffffff" stroke="${colour}" stroke-width="1.5"/>`;
    const tip = `test ${p.testId} · experiment #${p.experimentId}: offline ${signedFixed(p.offline, 5)}, online ${sig4(p.online)} [${sig4(p.onlineLow)}, ${sig4(p.onlineHigh)}]${p.win ? ' (online win)' : ' (not an online win)'}`;
    out.push(
      `<g class="ab-pt" data-test="${escapeXml(p.testId)}" data-experiment="${p.experimentId}" data-win="${p.win}"><title>${escapeXml(tip)}</title><line x1="${fmt(X)}" x2="${fmt(X)}" y1="${lo}" y2="${hi}" stroke="${colour}" stroke-width="1.5"/><line x1="${fmt(X - 4)}" x2="${fmt(X + 4)}" y1="${lo}" y2="${lo}" stroke="${colour}" stroke-width="1.5"/><line x1="${fmt(X - 4)}" x2="${fmt(X + 4)}" y1="${hi}" y2="${hi}" stroke="${colour}" stroke-width="1.5"/>${mark}</g>`,
    );
  }
  // legend
  const win =
    a.options.win === 'significant' ? 'online win (interval above 0)' : 'online win (effect above 0)';
  const items: { key: string; text: string; mark: (lx: number, cy: number) => string }[] = [
    {
      key: 'win',
      text: win,
      mark: (lx, cy) => `<circle cx="${lx + 7}" cy="${cy}" r="5" fill="${WIN_COLOUR}"/>`,
    },
    {
      key: 'loss',
      text: 'not a win',
      mark: (lx, cy) =>
        `<rect x="${lx + 3}" y="${cy - 4}" width="8" height="8" fill="#ffffff" stroke="${LOSS_COLOUR}" stroke-width="1.5"/>`,
    },
    {
      key: 'fit',
      text: 'calibration (OLS)',
      mark: (lx, cy) =>
        `<line x1="${lx}" x2="${lx + 14}" y1="${cy}" y2="${cy}" stroke="${FIT_COLOUR}" stroke-width="1.5" stroke-dasharray="5 2"/>`,
    },
    {
      key: 'threshold',
      text: 'promotion threshold',
      mark: (lx, cy) =>
        `<line x1="${lx + 7}" x2="${lx + 7}" y1="${cy - 7}" y2="${cy + 7}" stroke="${THRESHOLD_COLOUR}" stroke-width="1.5" stroke-dasharray="2 2"/>`,
    },
  ];
  let lx = m.left;
  for (const it of items) {
    if ((it.key === 'fit' && !a.slope) || (it.key === 'threshold' && a.threshold.value === null)) continue;
    out.push(
      `<g class="legend" data-key="${it.key}">${it.mark(lx, 16)}<text x="${lx + 20}" y="16" dominant-baseline="middle" fill="#24292f">${escapeXml(it.text)}</text></g>`,
    );
    lx += 20 + it.text.length * 6.8 + 18;
  }
  out.push('</svg>');
  return out.join('');
}

/**
 * The tier-2 evidence as a horizontal interval chart: one row per estimator (the primary first and bold), its
 * bootstrap interval as a bar and its value as a dot, against a dashed vertical line at the logging (production)
 * policy's value. Each row is a `<g class="est" data-name=…>` with a `<title>`.
 */
export function evidenceChart(ev: Tier2Evidence, opts: TierChartOptions = {}): string {
  const W = opts.width ?? 640;
  const rowH = 26;
  const m = { left: 110, right: 24, top: 34, bottom: 36 };
  const H = opts.height ?? m.top + m.bottom + rowH * Math.max(1, ev.estimates.length);
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const values = [ev.production, ...ev.estimates.flatMap((e) => [e.value, e.low, e.high])].filter((v) =>
    Number.isFinite(v),
  );
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!(hi - lo > 0)) {
    const pad = Math.max(Math.abs(hi) * 0.1, 1e-3);
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
  }
  const x = (v: number) => m.left + ((v - lo) / (hi - lo)) * plotW;
  const pct = `${Math.round(ev.confidence * 100)}%`;
  const out: string[] = [
    svgOpen(W, H, `off-policy estimates with ${pct} intervals against the logging policy`, {
      cls: 'tier2-chart',
    }),
  ];
  const step = niceStep(hi - lo, 5);
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    const xx = fmt(x(v));
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${m.top - 4}" y2="${m.top + plotH}" stroke="${GRID}"/>`,
      `<text x="${xx}" y="${m.top + plotH + 16}" text-anchor="middle" fill="${AXIS}">${tick(v, step)}</text>`,
    );
  }
  const px = fmt(x(ev.production));
  out.push(
    `<text x="${m.left + plotW / 2}" y="${H - 4}" text-anchor="middle" fill="${AXIS}">${escapeXml(`estimated policy value on the private logs (${ev.rows} rows), ${pct} bootstrap intervals`)}</text>`,
    `<g class="production" data-value="${ev.production}"><title>${escapeXml(`logging policy (production): ${sig4(ev.production)}, its mean logged reward`)}</title><line x1="${px}" x2="${px}" y1="${m.top - 8}" y2="${m.top + plotH}" stroke="#cf222e" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${px}" y="${m.top - 12}" text-anchor="middle" fill="#cf222e">${escapeXml(`logging ${sig4(ev.production)}`)}</text></g>`,
  );
  ev.estimates.forEach((e, i) => {
    const cy = m.top + rowH * i + rowH / 2;
    const primary = e.name === ev.primary;
    const colour = primary ? (ev.candidate ? WIN_COLOUR : '#9a6700') : '#24292f';
    const tip = `${e.name}${primary ? ' (primary)' : ''}: ${sig4(e.value)} [${sig4(e.low)}, ${sig4(e.high)}]`;
    out.push(
      `<g class="est" data-name="${escapeXml(e.name)}"${primary ? ' data-primary="true"' : ''}><title>${escapeXml(tip)}</title><text x="${m.left - 8}" y="${fmt(cy)}" text-anchor="end" dominant-baseline="middle" fill="#24292f"${primary ? ' font-weight="700"' : ''}>${escapeXml(e.name)}</text><line x1="${fmt(x(e.low))}" x2="${fmt(x(e.high))}" y1="${fmt(cy)}" y2="${fmt(cy)}" stroke="${colour}" stroke-width="${primary ? 4 : 2.5}" stroke-linecap="round" stroke-opacity="0.75"/><circle cx="${fmt(x(e.value))}" cy="${fmt(cy)}" r="${primary ? 5 : 4}" fill="${colour}"/></g>`,
    );
  });
  out.push('</svg>');
  return out.join('');
}

/**
 * The score-over-experiments chart, as a self-contained SVG string: the Studio sends it to the page with every
 * live update and the report inlines it, so both show exactly the same picture.
 */

/** One experiment as the chart draws it. */
export interface ChartPoint {
  /** Journal id (carried as `data-id` so a click can open the experiment). */
  id: number;
  /** 1-based position within the run (the x axis). */
  seq: number;
  /** kept | reverted | crashed | timeout | invalid | rejected */
  decision: string;
  /** Public primary metric, null when the experiment produced no valid score. */
  score: number | null;
  hypothesis: string;
  /** The direction (1-based) in a run with several (docs/ARCHITECTURE.md, "Parallel directions"); absent or null with one. */
  direction?: number | null;
}

/** Input of {@link scoreChart}. */
export interface ChartInput {
  points: ChartPoint[];
  /** Name of the primary metric (y-axis label). */
  metric: string;
  direction: 'maximize' | 'minimize';
  /** Private-holdout scores of submitted experiments (journal id → score). */
  private?: Map<number, number> | Record<number, number>;
  /** Seq of the experiment running now (a dashed marker), when there is one. */
  runningSeq?: number | null;
  /** Budget of experiments: the x axis extends to it when known (so progress is visible). */
  maxSeq?: number | null;
  /**
   * Keyboard and screen-reader use (the Studio): the svg is a group and every mark a focusable button named
   * e.g. "#7 kept 0.8956". The report's static chart leaves it off (one image).
   */
  interactive?: boolean;
  /** Pixels (default 760 × 300). */
  width?: number;
  height?: number;
  /**
   * A cache the caller keeps between renders of the same run (the Studio redraws on every change): each mark's
   * scale-free part (its group, data attributes, tooltip and name) is kept by experiment id and reused while the
   * point is the same, so a redraw only places the marks. The picture is the same with or without it.
   */
  marks?: ChartMarkCache;
  /**
   * Draw the marks of experiments with an id below this one compact (the Studio: those older than the rows its
   * snapshot carries, so a run of 5,000 experiments does not make a chart of several MB): the same shape, place,
   * data attributes and click target (`data-id`), with a tooltip of the id, seq, direction, decision and score but
   * not the hypothesis, not focusable (no tabindex, role or accessible name; the table reaches them) and without the
   * wider invisible hit circle. Undefined or null: every mark in full.
   */
  compactBefore?: number | null;
}

/**
 * See {@link ChartInput.marks}: experiment id → the point it was made for, the mark's opening markup and, once
 * drawn, the whole mark as placed in the frame (`frame`: the plot's size and axes' extents as a key) it was drawn in.
 */
export type ChartMarkCache = Map<number, ChartMark>;

/** One entry of a {@link ChartMarkCache}. */
export interface ChartMark {
  point: ChartPoint;
  lanes: boolean;
  interactive: boolean;
  compact: boolean;
  head: string;
  placed?: { frame: string; markup: string };
}

/**
 * The opening of a mark up to its shapes: the group with its data attributes, tooltip and accessible name (a compact
 * mark: its data attributes and a tooltip without the hypothesis, see {@link ChartInput.compactBefore}).
 */
function markHead(p: ChartPoint, lanes: boolean, interactive: boolean, compact = false): string {
  const hasScore = p.score !== null && Number.isFinite(p.score);
  const facts = `#${p.id} (seq ${p.seq}${p.direction && lanes ? `, d${p.direction}` : ''}) ${p.decision}${hasScore ? ` ${(p.score as number).toFixed(5)}` : ''}`;
  const data = `class="pt" data-id="${p.id}" data-seq="${p.seq}"${p.direction && lanes ? ` data-direction="${p.direction}"` : ''} data-decision="${escapeXml(p.decision)}"`;
  if (compact) return `<g ${data}><title>${escapeXml(facts)}</title>`;
  const tip = `${facts}: ${p.hypothesis}`;
  const name = `#${p.id} ${p.decision}${hasScore ? ` ${(p.score as number).toFixed(4)}` : ' no score'}`;
  const a11y = interactive ? ` tabindex="0" role="button" aria-label="${escapeXml(name)}"` : '';
  return `<g ${data}${a11y} style="cursor:pointer"><title>${escapeXml(tip)}</title>`;
}

/**
 * The cache entry of a point drawn the same way before ({@link markHead}'s inputs unchanged), else a new entry
 * (stored when there is a cache).
 */
function cachedEntry(
  p: ChartPoint,
  lanes: boolean,
  interactive: boolean,
  compact: boolean,
  cache?: ChartMarkCache,
): ChartMark {
  const hit = cache?.get(p.id);
  const q = hit?.point;
  if (
    hit &&
    q &&
    hit.lanes === lanes &&
    hit.interactive === interactive &&
    hit.compact === compact &&
    q.seq === p.seq &&
    q.decision === p.decision &&
    q.score === p.score &&
    (q.direction ?? null) === (p.direction ?? null) &&
    q.hypothesis === p.hypothesis
  )
    return hit;
  const entry: ChartMark = {
    point: { ...p },
    lanes,
    interactive,
    compact,
    head: markHead(p, lanes, interactive, compact),
  };
  cache?.set(p.id, entry);
  return entry;
}

/** Colours and shapes of each decision (shared by the legend, the Studio table and the report). */
export const DECISION_STYLE: Record<string, { colour: string; label: string }> = {
  kept: { colour: '#1a7f37', label: 'kept' },
  reverted: { colour: '#6e7781', label: 'reverted' },
  crashed: { colour: '#cf222e', label: 'crashed' },
  timeout: { colour: '#bc4c00', label: 'timeout' },
  invalid: { colour: '#8250df', label: 'invalid' },
  rejected: { colour: '#9a6700', label: 'rejected' },
};
/** Colour of private-holdout scores. */
export const PRIVATE_COLOUR = '#0969da';
/** Colours of the directions' running-best lanes (direction k takes colour k − 1, cycling). */
export const LANE_COLOURS = [
  '#1a7f37',
  '#0550ae',
  '#bf3989',
  '#953800',
  '#116329',
  '#8250df',
  '#0a3069',
  '#6639ba',
];

/** The directions drawn as lanes: the distinct directions of the points when more than one (else none). */
export function chartLanes(points: ChartPoint[]): number[] {
  const ds = [...new Set(points.map((p) => p.direction).filter((d): d is number => typeof d === 'number'))];
  return ds.length > 1 ? ds.sort((a, b) => a - b) : [];
}

/** Escape text for XML/HTML content and attribute values. */
export function escapeXml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * The opening of a report chart: the `<svg>` tag (size in px, the system font, an accessible label) and its white
 * background, as one string. Close it with `</svg>`.
 * @param w width, px; @param h height, px; @param label the aria-label (escaped here)
 * @param opts `role` (`group` when the chart holds focusable points, default `img`), `fontSize` (px, default 12),
 *   `cls` (a class for the page's CSS and tests)
 */
export function svgOpen(
  w: number,
  h: number,
  label: string,
  opts: { role?: 'img' | 'group'; fontSize?: number; cls?: string } = {},
): string {
  const cls = opts.cls ? ` class="${opts.cls}"` : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="${opts.role ?? 'img'}" aria-label="${escapeXml(label)}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="${opts.fontSize ?? 12}"${cls}>` +
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>`
  );
}

/** Round to a readable number of significant digits for tick labels. */
function tickLabel(v: number, step: number): string {
  const digits = Math.max(0, Math.min(8, -Math.floor(Math.log10(step)) + 1));
  return v.toFixed(digits);
}

/** "Nice" tick step (1, 2 or 5 × 10^k) for a span divided into about `n` parts. */
export function niceStep(span: number, n: number): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/**
 * The running best: for each seq, the best kept score so far (null before the first kept experiment).
 * @returns an array indexed like `points` (sorted by seq)
 */
export function runningBest(points: ChartPoint[], direction: 'maximize' | 'minimize'): (number | null)[] {
  let best: number | null = null;
  return [...points]
    .sort((a, b) => a.seq - b.seq)
    .map((p) => {
      if (p.decision === 'kept' && p.score !== null) {
        if (best === null || (direction === 'maximize' ? p.score > best : p.score < best)) best = p.score;
      }
      return best;
    });
}

const fmt = (v: number) => svgNum(v);

/**
 * The mark of a decision at (x, y): a distinct shape per decision, so colour is never the only difference
 * (kept ● filled circle, reverted ○ open circle, crashed ✕, timeout ▼, invalid ▲, rejected ■).
 */
export function decisionShape(decision: string, xx: number, yy: number): string {
  const colour = (DECISION_STYLE[decision] ?? { colour: '#24292f' }).colour;
  const X = fmt(xx);
  const Y = fmt(yy);
  switch (decision) {
    case 'kept':
      return `<circle cx="${X}" cy="${Y}" r="5" fill="${colour}"/>`;
    case 'reverted':
      return `<circle cx="${X}" cy="${Y}" r="4" fill="#ffffff" stroke="${colour}" stroke-width="1.5"/>`;
    case 'invalid':
      return `<path d="M${X} ${fmt(yy - 5)} L${fmt(xx + 5)} ${fmt(yy + 4)} L${fmt(xx - 5)} ${fmt(yy + 4)} Z" fill="${colour}"/>`;
    case 'timeout':
      return `<path d="M${X} ${fmt(yy + 5)} L${fmt(xx + 5)} ${fmt(yy - 4)} L${fmt(xx - 5)} ${fmt(yy - 4)} Z" fill="${colour}"/>`;
    case 'rejected':
      return `<rect x="${fmt(xx - 4)}" y="${fmt(yy - 4)}" width="8" height="8" fill="${colour}"/>`;
    default: // crashed (and anything unknown)
      return `<path d="M${fmt(xx - 4)} ${fmt(yy - 4)} L${fmt(xx + 4)} ${fmt(yy + 4)} M${fmt(xx + 4)} ${fmt(yy - 4)} L${fmt(xx - 4)} ${fmt(yy + 4)}" stroke="${colour}" stroke-width="2.2"/>`;
  }
}

/**
 * Render the chart: each experiment a mark by decision (experiments without a score sit in a band under the
 * axis), the running best kept score as a step line, private-holdout scores as blue diamonds, and the
 * running experiment as a dashed marker. Every mark is a `<g class="pt" data-id=… data-decision=…>` with a
 * `<title>` tooltip.
 * @returns an `<svg>` element as a string (no external references)
 */
export function scoreChart(input: ChartInput): string {
  const W = input.width ?? 760;
  const H = input.height ?? 300;
  // Legend entries and their rows (wrapped to the width), measured before the plot so it sits below them.
  // Parallel directions: one running-best lane per direction instead of the run's single line.
  const lanes = chartLanes(input.points);
  const laneColour = (d: number) => LANE_COLOURS[(d - 1) % LANE_COLOURS.length]!;
  const legendItems = [
    ...Object.keys(DECISION_STYLE).map((k) => ({ key: k, text: DECISION_STYLE[k]!.label })),
    { key: 'running', text: 'running now' },
    { key: 'private', text: 'private holdout' },
    ...(lanes.length > 0
      ? lanes.map((d) => ({ key: `lane-${d}`, text: `d${d} best` }))
      : [{ key: 'best', text: 'running best' }]),
  ];
  const legendRows: { key: string; text: string; x: number; row: number }[] = [];
  {
    let lx = 64;
    let row = 0;
    for (const it of legendItems) {
      const w = 20 + it.text.length * 6.8 + 14;
      if (lx + w > W - 18 && lx > 64) {
        row++;
        lx = 64;
      }
      legendRows.push({ ...it, x: lx, row });
      lx += w;
    }
  }
  const legendH = 16 * ((legendRows[legendRows.length - 1]?.row ?? 0) + 1);
  const m = { left: 64, right: 18, top: 18 + legendH, bottom: 54 };
  const band = 18; // the no-score band under the plot
  const plotH = H - m.top - m.bottom - band;
  const plotW = W - m.left - m.right;
  const pts = [...input.points].sort((a, b) => a.seq - b.seq);
  const priv = new Map<number, number>(
    input.private instanceof Map
      ? input.private
      : Object.entries(input.private ?? {}).map(([k, v]) => [Number(k), v] as [number, number]),
  );
  // The x axis runs to the budget when known, else to the last experiment rounded up to its tick step (so it, too,
  // stays put while a run without a budget goes on).
  const lastSeq = Math.max(2, pts[pts.length - 1]?.seq ?? 1, input.runningSeq ?? 1);
  const seqStep = Math.max(1, Math.round(niceStep(lastSeq - 1, 10)));
  const maxSeq =
    input.maxSeq && input.maxSeq >= lastSeq ? input.maxSeq : 1 + Math.ceil((lastSeq - 1) / seqStep) * seqStep;
  const scores = [
    ...pts.map((p) => p.score).filter((s): s is number => s !== null && Number.isFinite(s)),
    ...[...priv.values()].filter((s) => Number.isFinite(s)),
  ];
  let lo = Math.min(...scores);
  let hi = Math.max(...scores);
  if (scores.length === 0) {
    lo = 0;
    hi = 1;
  } else if (hi - lo < 1e-12) {
    const pad = Math.max(Math.abs(hi) * 0.01, 1e-3);
    lo -= pad;
    hi += pad;
  } else {
    // 8 % headroom, then out to the grid's next line: the extent (and so every mark's place) stays put while new
    // scores fall inside it, which lets a redraw reuse the placed marks (ChartInput.marks).
    const pad = (hi - lo) * 0.08;
    const grid = niceStep(hi - lo + 2 * pad, 10);
    lo = Math.floor((lo - pad) / grid) * grid;
    hi = Math.ceil((hi + pad) / grid) * grid;
  }
  const x = (seq: number) => m.left + ((seq - 1) / (maxSeq - 1)) * plotW;
  const y = (v: number) => m.top + (1 - (v - lo) / (hi - lo)) * plotH;
  const bandY = m.top + plotH + band / 2 + 4;
  const out: string[] = [];
  out.push(svgOpen(W, H, `${input.metric} over experiments`, { role: input.interactive ? 'group' : 'img' }));
  // y grid and labels
  const step = niceStep(hi - lo, 5);
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    const yy = fmt(y(v));
    out.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${yy}" y2="${yy}" stroke="#eaeef2"/>`,
      `<text x="${m.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#57606a">${tickLabel(v, step)}</text>`,
    );
  }
  // x ticks
  const xStep = Math.max(1, Math.round(niceStep(maxSeq - 1, 10)));
  for (let s = 1; s <= maxSeq; s += xStep) {
    const xx = fmt(x(s));
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${m.top + plotH}" y2="${m.top + plotH + 4}" stroke="#8c959f"/>`,
      `<text x="${xx}" y="${H - m.bottom + 16}" text-anchor="middle" fill="#57606a">${s}</text>`,
    );
  }
  out.push(
    `<line x1="${m.left}" x2="${W - m.right}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#8c959f"/>`,
    `<rect x="${m.left}" y="${m.top + plotH + 2}" width="${plotW}" height="${band}" fill="#f6f8fa"/>`,
    `<text x="${m.left - 6}" y="${fmt(bandY)}" text-anchor="end" dominant-baseline="middle" fill="#57606a">no score</text>`,
    `<text x="${m.left + plotW / 2}" y="${H - 8}" text-anchor="middle" fill="#57606a">experiment (seq in run)</text>`,
    `<text transform="translate(14 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#57606a">${escapeXml(`${input.metric} (${input.direction === 'maximize' ? 'higher' : 'lower'} is better)`)}</text>`,
  );
  // running best (step line): the run's, or one lane per direction (each starts at the baseline, seq 1)
  const series =
    lanes.length > 0
      ? lanes.map((dir) => ({
          dir,
          pts: pts.filter((p) => p.seq === 1 || p.direction === dir),
          colour: laneColour(dir),
        }))
      : [{ dir: null as number | null, pts, colour: DECISION_STYLE['kept']!.colour }];
  for (const ser of series) {
    const best = runningBest(ser.pts, input.direction);
    let d = '';
    let last: number | null = null;
    ser.pts.forEach((p, i) => {
      const b = best[i] ?? null;
      if (b === null) return;
      if (last === null) d += `M${fmt(x(p.seq))} ${fmt(y(b))}`;
      else if (b !== last) d += ` H${fmt(x(p.seq))} V${fmt(y(b))}`;
      last = b;
    });
    if (last === null) continue;
    const end = Math.max(pts[pts.length - 1]?.seq ?? 1, input.runningSeq ?? 1);
    d += ` H${fmt(x(end))}`;
    const lane = ser.dir === null ? '' : ` data-direction="${ser.dir}"`;
    out.push(
      `<path class="best-line"${lane} d="${d}" fill="none" stroke="${ser.colour}" stroke-width="2" stroke-opacity="0.55"/>`,
    );
  }
  // marks
  if (input.marks && input.marks.size > pts.length) {
    // Points that left the chart (another run shown with the same cache) leave the cache.
    const ids = new Set(pts.map((p) => p.id));
    for (const id of input.marks.keys()) if (!ids.has(id)) input.marks.delete(id);
  }
  const lanesOn = lanes.length > 0;
  const compactBefore = input.compactBefore ?? Number.NEGATIVE_INFINITY;
  // A mark's placed markup depends on the point and on the frame alone: while neither changed (the axes' extents
  // are snapped to their grid, so they stay put as scores arrive), a redraw reuses it.
  const frame = `${W}|${H}|${m.top}|${maxSeq}|${lo}|${hi}`;
  for (const p of pts) {
    const entry = cachedEntry(p, lanesOn, input.interactive === true, p.id < compactBefore, input.marks);
    const hasScore = p.score !== null && Number.isFinite(p.score);
    const yy = hasScore ? y(p.score as number) : bandY;
    if (entry.placed?.frame !== frame) {
      const xx = x(p.seq);
      const shape = decisionShape(p.decision, xx, yy);
      entry.placed = {
        frame,
        markup: entry.compact
          ? `${entry.head}${shape}</g>`
          : `${entry.head}<circle cx="${fmt(xx)}" cy="${fmt(yy)}" r="9" fill="transparent"/>${shape}</g>`,
      };
    }
    out.push(entry.placed.markup);
    const pv = priv.get(p.id);
    if (pv !== undefined && Number.isFinite(pv)) {
      const xx = x(p.seq);
      const X = fmt(xx);
      const py = y(pv);
      out.push(
        `<g class="pt private" data-id="${p.id}" data-private="${pv}"><title>${escapeXml(`#${p.id} private holdout ${pv.toFixed(5)}`)}</title><line x1="${X}" x2="${X}" y1="${fmt(yy)}" y2="${fmt(py)}" stroke="${PRIVATE_COLOUR}" stroke-dasharray="2 2"/><path d="M${X} ${fmt(py - 6)} L${fmt(xx + 6)} ${fmt(py)} L${X} ${fmt(py + 6)} L${fmt(xx - 6)} ${fmt(py)} Z" fill="${PRIVATE_COLOUR}"/></g>`,
      );
    }
  }
  if (input.runningSeq) {
    const xx = fmt(x(input.runningSeq));
    out.push(
      `<g class="running" data-seq="${input.runningSeq}"><title>running now (seq ${input.runningSeq})</title><line x1="${xx}" x2="${xx}" y1="${m.top}" y2="${m.top + plotH}" stroke="#0969da" stroke-dasharray="4 3"/><circle cx="${xx}" cy="${fmt(bandY)}" r="4" fill="none" stroke="#0969da" stroke-width="1.5"/></g>`,
    );
  }
  // legend: every mark the chart can show, each with its own shape
  for (const it of legendRows) {
    const cy = 12 + it.row * 16;
    const lx = it.x;
    const mark =
      it.key === 'best' || it.key.startsWith('lane-')
        ? `<line x1="${lx}" x2="${lx + 14}" y1="${cy}" y2="${cy}" stroke="${it.key === 'best' ? DECISION_STYLE['kept']!.colour : laneColour(Number(it.key.slice(5)))}" stroke-width="2" stroke-opacity="0.55"/>`
        : it.key === 'running'
          ? `<line x1="${lx + 7}" x2="${lx + 7}" y1="${cy - 7}" y2="${cy + 7}" stroke="#0969da" stroke-dasharray="3 2"/><circle cx="${lx + 7}" cy="${cy}" r="4" fill="#ffffff" stroke="#0969da" stroke-width="1.5"/>`
          : it.key === 'private'
            ? `<path d="M${lx + 7} ${cy - 6} L${lx + 13} ${cy} L${lx + 7} ${cy + 6} L${lx + 1} ${cy} Z" fill="${PRIVATE_COLOUR}"/>`
            : decisionShape(it.key, lx + 7, cy);
    out.push(
      `<g class="legend" data-key="${it.key}">${mark}<text x="${lx + 20}" y="${cy}" dominant-baseline="middle" fill="#24292f">${escapeXml(it.text)}</text></g>`,
    );
  }
  out.push('</svg>');
  return out.join('');
}

/** A one-line Unicode sparkline of a series (for Markdown and terminals); '' for an empty series. */
export function sparkline(values: number[]): string {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return '';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const bars = '▁▂▃▄▅▆▇█';
  return v.map((x) => bars[hi === lo ? 3 : Math.round(((x - lo) / (hi - lo)) * 7)]).join('');
}

/** A coordinate for SVG text: two decimals at most, 0 for a non-finite value. */
export function svgNum(v: number): string {
  return Number.isFinite(v) ? (Math.round(v * 100) / 100).toString() : '0';
}

/** A tick label for v on a grid of `step` (enough decimals to tell ticks apart, exponents for tiny steps). */
export function gridTickLabel(v: number, step: number): string {
  if (Math.abs(v) < step * 1e-9) return '0';
  const digits = -Math.floor(Math.log10(step));
  if (digits > 6) return v.toExponential(1);
  return v.toFixed(Math.max(0, digits));
}

/** Where a scatter's plot sits and how values map onto it (the grid of {@link scatterGrid}). */
export interface ScatterFrame {
  x: (v: number) => number;
  y: (v: number) => number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Pixel edges of the plot area. */
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/**
 * The grid of a scatter: about 6 horizontal and 8 vertical lines on "nice" steps ({@link niceStep}), each with its
 * tick label ({@link gridTickLabel}). SVG elements, in drawing order.
 */
export function scatterGrid(f: ScatterFrame): string[] {
  const out: string[] = [];
  const ys = niceStep(f.y1 - f.y0, 6);
  for (let v = Math.ceil(f.y0 / ys) * ys; v <= f.y1 + ys * 1e-9; v += ys) {
    const yy = svgNum(f.y(v));
    out.push(
      `<line x1="${f.left}" x2="${f.right}" y1="${yy}" y2="${yy}" stroke="${GRID_COLOUR}"/>`,
      `<text x="${f.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="${AXIS_COLOUR}">${gridTickLabel(v, ys)}</text>`,
    );
  }
  const xs = niceStep(f.x1 - f.x0, 8);
  for (let v = Math.ceil(f.x0 / xs) * xs; v <= f.x1 + xs * 1e-9; v += xs) {
    const xx = svgNum(f.x(v));
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${f.top}" y2="${f.bottom}" stroke="${GRID_COLOUR}"/>`,
      `<text x="${xx}" y="${f.bottom + 16}" text-anchor="middle" fill="${AXIS_COLOUR}">${gridTickLabel(v, xs)}</text>`,
    );
  }
  return out;
}

/** Colours of a chart's axes and grid lines. */
export const AXIS_COLOUR = '#57606a';
export const GRID_COLOUR = '#eaeef2';

/**
 * The winner plot of the report: how the best kept experiment's public predictions look against the public
 * holdout's labels. Binary: ROC and precision-recall curves; multiclass: one-vs-rest ROC curves and a
 * confusion matrix; regression: predicted vs actual and residuals. Drawn as one self-contained SVG.
 *
 * The predictions are read and aligned with the labels by the evaluator's own code (`alignPredictions`, the
 * public vault file only): the host reads public labels exactly as EVALUATE did. Private labels are never read.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { SplitManifest } from '../data/ingest.js';
import { VAULT_DIR } from '../data/ingest.js';
import { predictionsFile } from '../evaluator/evaluate.js';
import { alignPredictions } from '../evaluator/predictions.js';
import { PRUNED_NOTE } from '../loop/tidy.js';
import type { MetricInput } from '../metrics/types.js';
import { escapeXml, niceStep, svgOpen } from './chart.js';
import { confusionMatrix, ovrRocCurves, prCurve, rocCurve, trapezoid } from './curves.js';

/** The winner plot, or why there is none. */
export type WinnerPlot =
  | {
      status: 'ok';
      experimentId: number;
      task: 'binary' | 'multiclass' | 'regression';
      /** Public holdout rows plotted (all of them; the regression scatter draws at most 1500). */
      rows: number;
      /** The figure, an `<svg>` element without external references. */
      svg: string;
      /** One fact per line, e.g. "ROC AUC 0.812345 (trapezoid of the curve)". */
      summary: string[];
      /** Binary: area under the ROC curve drawn (trapezoid); equals the stored auroc. */
      auc: number | null;
      /** Multiclass: confusion matrix, rows = true class, columns = predicted class (labels in `labels`). */
      confusion: { labels: string[]; matrix: number[][] } | null;
    }
  | { status: 'unavailable'; reason: string };

const W = 760;
const H = 360;
const COLOURS = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#9a6700', '#1b7c83', '#6e7781'];

const fx = (v: number) => (Number.isFinite(v) ? (Math.round(v * 100) / 100).toString() : '0');

/** Keep at most `max` points of a polyline (evenly spaced indices, both ends kept). */
function thin(xs: number[], ys: number[], max = 600): [number, number][] {
  const n = xs.length;
  const step = Math.max(1, Math.ceil(n / max));
  const out: [number, number][] = [];
  for (let i = 0; i < n; i += step) out.push([xs[i]!, ys[i]!]);
  if ((n - 1) % step !== 0 && n > 0) out.push([xs[n - 1]!, ys[n - 1]!]);
  return out;
}

interface Series {
  points: [number, number][];
  colour: string;
  label: string;
  kind: 'line' | 'step' | 'dots' | 'dashed';
}

/** One plot panel with axes, ticks, labels and series, placed at (x0, y0). */
function panel(o: {
  x0: number;
  y0: number;
  w: number;
  h: number;
  title: string;
  xlabel: string;
  ylabel: string;
  xr: [number, number];
  yr: [number, number];
  series: Series[];
  /** Where the legend goes (inside the plot, right-aligned): where the curves usually are not. */
  legend?: 'top' | 'bottom';
}): string {
  const m = { left: 52, right: 10, top: 24, bottom: 40 };
  const pw = o.w - m.left - m.right;
  const ph = o.h - m.top - m.bottom;
  const X = (v: number) => o.x0 + m.left + ((v - o.xr[0]) / (o.xr[1] - o.xr[0] || 1)) * pw;
  const Y = (v: number) => o.y0 + m.top + (1 - (v - o.yr[0]) / (o.yr[1] - o.yr[0] || 1)) * ph;
  const out: string[] = [];
  out.push(
    `<text x="${fx(o.x0 + m.left + pw / 2)}" y="${fx(o.y0 + 14)}" text-anchor="middle" font-weight="600" fill="#24292f">${escapeXml(o.title)}</text>`,
    `<rect x="${fx(o.x0 + m.left)}" y="${fx(o.y0 + m.top)}" width="${fx(pw)}" height="${fx(ph)}" fill="none" stroke="#8c959f"/>`,
  );
  for (const axis of ['x', 'y'] as const) {
    const [lo, hi] = axis === 'x' ? o.xr : o.yr;
    const step = niceStep(hi - lo, 5);
    const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step))));
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      if (axis === 'x') {
        out.push(
          `<line x1="${fx(X(v))}" x2="${fx(X(v))}" y1="${fx(o.y0 + m.top)}" y2="${fx(o.y0 + m.top + ph)}" stroke="#eaeef2"/>`,
          `<text x="${fx(X(v))}" y="${fx(o.y0 + m.top + ph + 14)}" text-anchor="middle" fill="#57606a">${v.toFixed(digits)}</text>`,
        );
      } else {
        out.push(
          `<line x1="${fx(o.x0 + m.left)}" x2="${fx(o.x0 + m.left + pw)}" y1="${fx(Y(v))}" y2="${fx(Y(v))}" stroke="#eaeef2"/>`,
          `<text x="${fx(o.x0 + m.left - 5)}" y="${fx(Y(v))}" text-anchor="end" dominant-baseline="middle" fill="#57606a">${v.toFixed(digits)}</text>`,
        );
      }
    }
  }
  out.push(
    `<text x="${fx(o.x0 + m.left + pw / 2)}" y="${fx(o.y0 + o.h - 6)}" text-anchor="middle" fill="#57606a">${escapeXml(o.xlabel)}</text>`,
    `<text transform="translate(${fx(o.x0 + 12)} ${fx(o.y0 + m.top + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#57606a">${escapeXml(o.ylabel)}</text>`,
  );
  const labelled = o.series.filter((x) => x.label).length;
  let ly = o.legend === 'bottom' ? o.y0 + m.top + ph - 8 - 14 * (labelled - 1) : o.y0 + m.top + 12;
  for (const s of o.series) {
    if (s.kind === 'dots') {
      out.push(
        `<g fill="${s.colour}" fill-opacity="0.45">${s.points.map(([a, b]) => `<circle cx="${fx(X(a))}" cy="${fx(Y(b))}" r="1.8"/>`).join('')}</g>`,
      );
    } else {
      const d = s.points
        .map(([a, b], i) => {
          if (i === 0 || s.kind !== 'step') return `${i === 0 ? 'M' : 'L'}${fx(X(a))} ${fx(Y(b))}`;
          return `H${fx(X(a))} V${fx(Y(b))}`;
        })
        .join(' ');
      out.push(
        `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="${s.kind === 'dashed' ? 1 : 1.8}"${s.kind === 'dashed' ? ' stroke-dasharray="4 3"' : ''}/>`,
      );
    }
    if (s.label) {
      out.push(
        `<rect x="${fx(o.x0 + o.w - m.right - 150)}" y="${fx(ly - 5)}" width="8" height="8" fill="${s.colour}"/>`,
        `<text x="${fx(o.x0 + o.w - m.right - 138)}" y="${fx(ly)}" dominant-baseline="middle" fill="#24292f">${escapeXml(s.label)}</text>`,
      );
      ly += 14;
    }
  }
  return out.join('');
}

function svgOf(label: string, body: string): string {
  return `${svgOpen(W, H, label, { fontSize: 11 })}${body}</svg>`;
}

/**
 * Draw the winner plot of aligned public predictions.
 * @param input the metric input the evaluator built (labels and predictions in vault order)
 * @param classes the manifest's class labels (multiclass index c is `classes[c]`)
 * @returns the plot, or `unavailable` for a task without one (ranking) or a holdout with one class
 */
export function plotWinner(input: MetricInput, experimentId: number, classes: string[] | null): WinnerPlot {
  const half = W / 2;
  if (input.task === 'binary') {
    let roc: ReturnType<typeof rocCurve>;
    let pr: ReturnType<typeof prCurve>;
    try {
      roc = rocCurve(input.p, input.y);
      pr = prCurve(input.p, input.y);
    } catch (e) {
      return { status: 'unavailable', reason: (e as Error).message };
    }
    const auc = trapezoid(roc.fpr, roc.tpr);
    const n = input.y.length;
    let P = 0;
    for (let i = 0; i < n; i++) P += input.y[i]!;
    const body =
      panel({
        x0: 0,
        y0: 0,
        w: half,
        h: H,
        title: `ROC curve (AUC ${auc.toFixed(4)})`,
        legend: 'bottom',
        xlabel: 'false positive rate',
        ylabel: 'true positive rate',
        xr: [0, 1],
        yr: [0, 1],
        series: [
          {
            points: [
              [0, 0],
              [1, 1],
            ],
            colour: '#8c959f',
            label: 'chance',
            kind: 'dashed',
          },
          { points: thin(roc.fpr, roc.tpr), colour: COLOURS[0]!, label: `#${experimentId}`, kind: 'line' },
        ],
      }) +
      panel({
        x0: half,
        y0: 0,
        w: half,
        h: H,
        title: `Precision-recall (prevalence ${(P / n).toFixed(3)})`,
        xlabel: 'recall',
        ylabel: 'precision',
        xr: [0, 1],
        yr: [0, 1],
        series: [
          {
            points: [
              [0, P / n],
              [1, P / n],
            ],
            colour: '#8c959f',
            label: 'no skill',
            kind: 'dashed',
          },
          {
            points: thin(pr.recall, pr.precision),
            colour: COLOURS[1]!,
            label: `#${experimentId}`,
            kind: 'step',
          },
        ],
      });
    return {
      status: 'ok',
      experimentId,
      task: 'binary',
      rows: n,
      svg: svgOf(`ROC and precision-recall curves of #${experimentId} on the public holdout`, body),
      summary: [
        `ROC AUC ${auc.toFixed(6)} (trapezoid of the curve drawn; equals the evaluator's auroc)`,
        `${n} public rows, ${P} positive (${((100 * P) / n).toFixed(1)}%)`,
      ],
      auc,
      confusion: null,
    };
  }
  if (input.task === 'multiclass') {
    const labels = Array.from({ length: input.k }, (_, c) => classes?.[c] ?? String(c));
    const matrix = confusionMatrix(input.y, input.pred, input.k);
    const summary = [`${input.y.length} public rows, ${input.k} classes`];
    let body: string;
    if (input.proba) {
      const curves = ovrRocCurves(input.y, input.proba, input.k);
      const shown = curves.slice(0, COLOURS.length);
      body = panel({
        x0: 0,
        y0: 0,
        w: W,
        h: H,
        title: 'One-vs-rest ROC curves per class',
        legend: 'bottom',
        xlabel: 'false positive rate',
        ylabel: 'true positive rate',
        xr: [0, 1],
        yr: [0, 1],
        series: [
          {
            points: [
              [0, 0],
              [1, 1],
            ],
            colour: '#8c959f',
            label: '',
            kind: 'dashed',
          },
          ...shown.map((c, i) => ({
            points: thin(c.curve.fpr, c.curve.tpr),
            colour: COLOURS[i]!,
            label: `${labels[c.cls]} (AUC ${c.auc.toFixed(3)})`,
            kind: 'line' as const,
          })),
        ],
      });
      summary.push(...curves.map((c) => `class ${labels[c.cls]}: one-vs-rest ROC AUC ${c.auc.toFixed(6)}`));
      if (curves.length > shown.length) summary.push(`only the first ${shown.length} classes are drawn`);
    } else {
      body = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#57606a">no class probabilities (proba_*) in the predictions: see the confusion matrix</text>`;
      summary.push('no class probabilities: no ROC curve');
    }
    return {
      status: 'ok',
      experimentId,
      task: 'multiclass',
      rows: input.y.length,
      svg: svgOf(`ROC curves of #${experimentId} on the public holdout`, body),
      summary,
      auc: null,
      confusion: { labels, matrix },
    };
  }
  if (input.task === 'regression') {
    const n = input.y.length;
    const step = Math.max(1, Math.ceil(n / 1500));
    const pts: [number, number][] = [];
    const res: [number, number][] = [];
    let sse = 0;
    for (let i = 0; i < n; i++) {
      const r = input.y[i]! - input.p[i]!;
      sse += r * r;
      if (i % step === 0) {
        pts.push([input.y[i]!, input.p[i]!]);
        res.push([input.p[i]!, r]);
      }
    }
    const all = [...pts.flat()];
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    const pad = (hi - lo) * 0.04 || 1;
    const rr = Math.max(...res.map((r) => Math.abs(r[1]))) * 1.05 || 1;
    const pr: [number, number] = [Math.min(...res.map((r) => r[0])), Math.max(...res.map((r) => r[0]))];
    const body =
      panel({
        x0: 0,
        y0: 0,
        w: half,
        h: H,
        title: 'Predicted vs actual',
        xlabel: 'actual',
        ylabel: 'predicted',
        xr: [lo - pad, hi + pad],
        yr: [lo - pad, hi + pad],
        series: [
          {
            points: [
              [lo - pad, lo - pad],
              [hi + pad, hi + pad],
            ],
            colour: '#8c959f',
            label: 'y = x',
            kind: 'dashed',
          },
          { points: pts, colour: COLOURS[0]!, label: '', kind: 'dots' },
        ],
      }) +
      panel({
        x0: half,
        y0: 0,
        w: half,
        h: H,
        title: 'Residuals (actual − predicted)',
        xlabel: 'predicted',
        ylabel: 'residual',
        xr: [pr[0] - pad, pr[1] + pad],
        yr: [-rr, rr],
        series: [
          {
            points: [
              [pr[0] - pad, 0],
              [pr[1] + pad, 0],
            ],
            colour: '#8c959f',
            label: '',
            kind: 'dashed',
          },
          { points: res, colour: COLOURS[1]!, label: '', kind: 'dots' },
        ],
      });
    return {
      status: 'ok',
      experimentId,
      task: 'regression',
      rows: n,
      svg: svgOf(`Predicted vs actual of #${experimentId} on the public holdout`, body),
      summary: [
        `${n} public rows${step > 1 ? ` (every ${step}th drawn)` : ''}, RMSE ${Math.sqrt(sse / n).toFixed(6)}`,
      ],
      auc: null,
      confusion: null,
    };
  }
  return { status: 'unavailable', reason: `no winner plot for a ${input.task} task` };
}

/**
 * Read the winner's public predictions (`<outputDir>/public.csv`) against the public vault labels with the
 * evaluator's alignment code, and plot them.
 * @param splitRoot the project root, or the kept copy of the split the run ran on (`.ratchet/splits/v<k>`)
 * @returns `unavailable` with the reason when the file is gone, cannot be aligned, or the task has no plot
 */
export async function winnerPlot(
  splitRoot: string,
  manifest: SplitManifest,
  outputDir: string,
  experimentId: number,
  customEvaluator: boolean,
): Promise<WinnerPlot> {
  const resolved = predictionsFile(outputDir, 'public');
  if (typeof resolved !== 'string') return { status: 'unavailable', reason: resolved.conflict };
  const predictionsPath = resolved;
  if (customEvaluator)
    return {
      status: 'unavailable',
      reason: 'the contract scores with a custom evaluator (no per-row labels)',
    };
  if (!existsSync(predictionsPath))
    return {
      status: 'unavailable',
      reason: existsSync(join(outputDir, '..', PRUNED_NOTE))
        ? `#${experimentId}'s predictions pruned by retention`
        : `#${experimentId}'s ${basename(predictionsPath)} is no longer on disk`,
    };
  const aligned = await alignPredictions({
    predictionsPath,
    labelsPath: join(splitRoot, VAULT_DIR, 'public.parquet'),
    manifest,
  });
  if (!aligned.ok) return { status: 'unavailable', reason: aligned.reason };
  return plotWinner(aligned.input, experimentId, manifest.classes);
}

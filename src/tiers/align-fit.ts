/**
 * `ratchet align --fit` (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): composite weights fitted to the
 * imported A/B history. The online delta of each paired test is regressed on the offline deltas of the parts (the
 * metrics and business proxies each experiment recorded, experiment minus parent) by least squares without an
 * intercept (a change that moves no part should move nothing online); the coefficients, scaled so their absolute
 * values sum to 1, are the proposed composite `Σ w_j · part_j`. Its alignment is judged out of sample: each test's
 * composite delta is predicted by a fit on the other tests (leave-one-out) and Kendall's τ-b of those predictions
 * against the online deltas is compared with the current metric's τ. A person accepts the proposal into the contract
 * (a new contract version, `ratchet init --force`); nothing here edits the locked contract.
 */

import type { AlignPair } from './align-pairs.js';
import { kendallTauB } from './align-stats.js';

/** The proposal. */
export interface CompositeFit {
  /** The parts fitted (present in every pair used). */
  parts: string[];
  /** Pairs used (those that recorded every part). */
  n: number;
  /** Weight per part (absolute values sum to 1). */
  weights: Record<string, number>;
  /** The composite as a contract expression, e.g. `0.62*auroc - 0.38*log_loss`. */
  expression: string;
  /** Kendall's τ-b of the fitted composite's deltas and the online deltas, in sample (optimistic). */
  tauInSample: number | null;
  /** The same with each test predicted by a fit without it (the figure to trust). */
  tauLeaveOneOut: number | null;
  /** The current metric's τ-b (the journal's deltas) on the same pairs. */
  tauCurrent: number | null;
}

/** Why no fit was made. */
export interface NoFit {
  reason: string;
}

/**
 * Least squares without intercept, by Gaussian elimination with partial pivoting on the normal equations (p is a
 * handful of parts), each diagonal raised by 1e-12 of itself (1e-12 when 0) so a constant or duplicated part stays
 * solvable.
 * @param x n rows of p values; y n values
 * @returns p coefficients
 */
export function leastSquares(x: number[][], y: number[]): number[] {
  const p = x[0]?.length ?? 0;
  const a = Array.from({ length: p }, () => new Array<number>(p + 1).fill(0));
  for (let i = 0; i < x.length; i++)
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < p; k++) a[j]![k]! += x[i]![j]! * x[i]![k]!;
      a[j]![p]! += x[i]![j]! * y[i]!;
    }
  // A relative ridge of 1e-12 on each diagonal keeps a constant or duplicated part solvable without moving the answer.
  for (let j = 0; j < p; j++) a[j]![j]! += 1e-12 * a[j]![j]! || 1e-12;
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[piv]![c]!)) piv = r;
    [a[c], a[piv]] = [a[piv]!, a[c]!];
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k <= p; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((row, j) => row[p]! / row[j]!);
}

function expressionOf(parts: string[], weights: number[]): string {
  return parts
    .map((name, j) => ({ name, w: weights[j]! }))
    .filter((t) => t.w !== 0)
    .map((t, i) => {
      const mag = Math.abs(t.w)
        .toPrecision(3)
        .replace(/\.?0+$/, '');
      return i === 0 ? `${t.w < 0 ? '-' : ''}${mag}*${t.name}` : `${t.w < 0 ? '-' : '+'} ${mag}*${t.name}`;
    })
    .join(' ');
}

/**
 * Fit composite weights to the paired A/B tests.
 * @param parts the parts to weigh (e.g. the contract composite's variables); default: every part all pairs recorded
 * @returns the proposal, or why none can be made (fewer than max(5, 2 × parts) pairs with every part, or no part)
 */
export function fitComposite(pairs: AlignPair[], parts?: string[]): CompositeFit | NoFit {
  const names =
    parts ??
    [...new Set(pairs.flatMap((p) => Object.keys(p.parts)))]
      .filter((n) => pairs.every((p) => p.parts[n] !== undefined))
      .sort();
  if (names.length === 0) return { reason: 'the paired experiments recorded no common metric to weigh' };
  const used = pairs.filter((p) => names.every((n) => Number.isFinite(p.parts[n])));
  const need = Math.max(5, 2 * names.length);
  if (used.length < need)
    return {
      reason: `${used.length} paired tests recorded ${names.join(', ')}; a fit of ${names.length} weights needs at least ${need}`,
    };
  // Standardize each part (deltas of different metrics have different scales), fit, and map back.
  const scale = names.map((n) => {
    const v = used.map((p) => p.parts[n]!);
    return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length) || 1;
  });
  const rows = used.map((p) => names.map((n, j) => p.parts[n]! / scale[j]!));
  const y = used.map((p) => p.online);
  const raw = (coef: number[]) => coef.map((c, j) => c / scale[j]!);
  const full = raw(leastSquares(rows, y));
  const total = full.reduce((s, c) => s + Math.abs(c), 0) || 1;
  const w = full.map((c) => c / total);
  const predict = (coef: number[], p: AlignPair) => names.reduce((s, n, j) => s + coef[j]! * p.parts[n]!, 0);
  const online = Float64Array.from(y);
  const inSample = Float64Array.from(used, (p) => predict(w, p));
  const loo = Float64Array.from(used, (_, i) =>
    predict(
      raw(
        leastSquares(
          rows.filter((_, k) => k !== i),
          y.filter((_, k) => k !== i),
        ),
      ),
      used[i]!,
    ),
  );
  const tau = (x: Float64Array) => {
    const v = kendallTauB(x, online);
    return Number.isFinite(v) ? v : null;
  };
  return {
    parts: names,
    n: used.length,
    weights: Object.fromEntries(names.map((n, j) => [n, w[j]!])),
    expression: expressionOf(names, w),
    tauInSample: tau(inSample),
    tauLeaveOneOut: tau(loo),
    tauCurrent: tau(Float64Array.from(used, (p) => p.offline)),
  };
}

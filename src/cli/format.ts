/** Terminal formatting helpers for the CLI (plain text; no colour when not a TTY). */

const useColour = process.stdout.isTTY === true && !process.env['NO_COLOR'];
const wrap = (code: string) => (s: string) => (useColour ? `\u001b[${code}m${s}\u001b[0m` : s);
export const bold = wrap('1');
export const dim = wrap('2');
export const green = wrap('32');
export const red = wrap('31');
export const yellow = wrap('33');

/** Colour a decision word by its kind. */
export function decisionColour(decision: string): string {
  if (decision === 'kept') return green(decision);
  if (decision === 'reverted') return dim(decision);
  if (decision === 'rejected') return yellow(decision);
  return red(decision);
}

/** Format a metric value with a fixed number of decimals, or '—' for null. */
export function num(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** Format a signed delta ('+0.0123'), or '' for null. */
export function signed(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined ? '' : `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
}

/** Visible width of a string without ANSI colour codes. */
function width(s: string): number {
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/**
 * Render rows as an aligned text table.
 * @param rows arrays of cells, the first row being the header
 * @param maxLast truncate the last column to this many characters
 */
export function table(rows: string[][], maxLast = 80): string {
  const cut = rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 && width(c) > maxLast ? `${c.slice(0, maxLast - 1)}…` : c)),
  );
  const widths: number[] = [];
  for (const r of cut) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, width(c));
    });
  }
  return cut
    .map((r, ri) => {
      const line = r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
        .join('  ');
      return ri === 0 ? bold(line) : line;
    })
    .join('\n');
}

export { gapText, keptText, reasonAfter } from '../report/words.js';

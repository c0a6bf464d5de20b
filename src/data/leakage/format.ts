/** Number formatting for the scanner's messages. */

/** A count with thousands separators: 11,765. */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A share as a percentage: 0.1234 → 12.3%; tiny non-zero shares keep two significant digits. */
export function pct(share: number): string {
  const p = share * 100;
  if (p > 0 && p < 0.1) return `${p.toPrecision(2)}%`;
  return `${p.toFixed(1)}%`;
}

/** A statistic with `digits` decimals, never rounded up across a threshold it missed (truncated, not rounded). */
export function stat(x: number, digits = 4): string {
  const f = 10 ** digits;
  return (Math.floor(x * f + 1e-9) / f).toFixed(digits);
}

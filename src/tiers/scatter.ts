/**
 * A small ASCII scatter plot for the terminal (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): offline
 * deltas across, online deltas up, the zero lines drawn when in range, `o` an online win, `x` not, a digit (or `+`
 * for more than 9) where several points share a cell.
 */

/** One point: x, y, and whether it is drawn as a win. */
export interface ScatterPoint {
  x: number;
  y: number;
  win: boolean;
}

const short = (v: number) => {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
};

/**
 * Render points as text.
 * @param width plot columns (default 48)
 * @param height plot rows (default 12)
 * @returns the lines, without a trailing newline ('' for no points)
 */
export function asciiScatter(
  points: ScatterPoint[],
  labels: { x: string; y: string },
  width = 48,
  height = 12,
): string {
  if (points.length === 0) return '';
  const span = (vs: number[]) => {
    let lo = Math.min(...vs, 0);
    let hi = Math.max(...vs, 0);
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }
    return [lo, hi] as const;
  };
  const [x0, x1] = span(points.map((p) => p.x));
  const [y0, y1] = span(points.map((p) => p.y));
  const col = (x: number) => Math.min(width - 1, Math.round(((x - x0) / (x1 - x0)) * (width - 1)));
  const row = (y: number) => Math.min(height - 1, Math.round(((y1 - y) / (y1 - y0)) * (height - 1)));
  const grid = Array.from({ length: height }, () => Array.from({ length: width }, () => ' '));
  const zc = col(0);
  const zr = row(0);
  for (let r = 0; r < height; r++) grid[r]![zc] = '|';
  for (let c = 0; c < width; c++) grid[zr]![c] = grid[zr]![c] === '|' ? '+' : '-';
  const counts = new Map<string, { k: number; win: boolean }>();
  for (const p of points) {
    const key = `${row(p.y)},${col(p.x)}`;
    const cell = counts.get(key) ?? { k: 0, win: true };
    counts.set(key, { k: cell.k + 1, win: cell.win && p.win });
  }
  for (const [key, { k, win }] of counts) {
    const [r, c] = key.split(',').map(Number) as [number, number];
    grid[r]![c] = k === 1 ? (win ? 'o' : 'x') : k <= 9 ? String(k) : '+';
  }
  const top = short(y1);
  const bottom = short(y0);
  const pad = Math.max(top.length, bottom.length);
  const lines = grid.map((cells, r) => {
    const label = r === 0 ? top : r === height - 1 ? bottom : r === zr ? '0' : '';
    return `${label.padStart(pad)} ${cells.join('')}`;
  });
  const xl = short(x0);
  const xr = short(x1);
  lines.push(`${' '.repeat(pad)} ${xl}${' '.repeat(Math.max(1, width - xl.length - xr.length))}${xr}`);
  lines.unshift(`${labels.y} ↑   (o online win, x not, digits: several tests)`);
  lines.push(`${' '.repeat(pad)} ${labels.x} →`);
  return lines.join('\n');
}

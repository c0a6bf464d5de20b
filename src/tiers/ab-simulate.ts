import { normalQuantile } from '../metrics/normal.js';
import { Xoshiro128 } from '../metrics/random.js';

/**
 * An A/B history with known truth (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"), for checking tier 3
 * statistically and for the shipped example. Each test i draws (offline delta, true online effect) from a bivariate
 * normal with correlation `alignment`; then `unitsPerArm` units per arm, control Y ~ N(base, σ²) and treatment
 * Y ~ N(base + effect, σ²), optionally Y = base + β·pre + ε with a pre-period covariate pre ~ N(0, σ²) (so CUPED has
 * something to remove). Output is per-unit rows or per-arm summaries (n, mean, sd of the simulated units), both
 * shapes `ratchet ab import` reads. Seeded xoshiro128**: the same options always give the same file.
 */

/** Options of {@link simulateAb}. */
export interface SimulateOptions {
  tests: number;
  /** Correlation of the offline deltas and the true online effects, in [−1, 1]. */
  alignment: number;
  seed: number;
  /** Units per arm (default 2000). */
  unitsPerArm?: number;
  /** sd of the offline deltas (default 0.01, e.g. AUROC points) and their mean (default 0). */
  offlineSd?: number;
  offlineMean?: number;
  /** sd of the true online effects (default 1) and their mean (default 0). */
  effectSd?: number;
  effectMean?: number;
  /** Control mean (default 100) and unit noise sd (default 10). */
  base?: number;
  noiseSd?: number;
  /** Coefficient of the pre-period covariate (default 0: no pre column). */
  preBeta?: number;
  /** Experiment ids written in the `experiment` column: firstExperiment, firstExperiment + 1, … (default 2). */
  firstExperiment?: number;
}

/** One simulated test: its truth and its units. */
export interface SimulatedTest {
  testId: string;
  experiment: string;
  offline: number;
  trueEffect: number;
  control: Float64Array;
  treatment: Float64Array;
  /** Pre-period covariates of the units (when preBeta ≠ 0). */
  controlPre?: Float64Array;
  treatmentPre?: Float64Array;
}

/** A standard normal draw by inversion (one uniform per draw, so streams stay aligned across options). */
export function standardNormal(rng: Xoshiro128): number {
  let u = rng.nextFloat();
  while (u === 0) u = rng.nextFloat();
  return normalQuantile(u);
}

/**
 * Simulate an A/B history.
 * @throws RangeError for tests < 1, alignment outside [−1, 1] or unitsPerArm < 2
 */
export function simulateAb(opts: SimulateOptions): SimulatedTest[] {
  const rho = opts.alignment;
  if (!Number.isInteger(opts.tests) || opts.tests < 1)
    throw new RangeError(`tests must be a whole number >= 1, got ${opts.tests}`);
  if (!(rho >= -1 && rho <= 1)) throw new RangeError(`alignment must be in [-1, 1], got ${rho}`);
  const units = opts.unitsPerArm ?? 2000;
  if (!Number.isInteger(units) || units < 2)
    throw new RangeError(`unitsPerArm must be a whole number >= 2, got ${units}`);
  const rng = new Xoshiro128(opts.seed);
  const offSd = opts.offlineSd ?? 0.01;
  const effSd = opts.effectSd ?? 1;
  const base = opts.base ?? 100;
  const sigma = opts.noiseSd ?? 10;
  const beta = opts.preBeta ?? 0;
  const first = opts.firstExperiment ?? 2;
  const out: SimulatedTest[] = [];
  for (let i = 0; i < opts.tests; i++) {
    const z1 = standardNormal(rng);
    const z2 = standardNormal(rng);
    const offline = (opts.offlineMean ?? 0) + offSd * z1;
    const trueEffect = (opts.effectMean ?? 0) + effSd * (rho * z1 + Math.sqrt(1 - rho * rho) * z2);
    const arm = (shift: number) => {
      const y = new Float64Array(units);
      const pre = beta !== 0 ? new Float64Array(units) : undefined;
      for (let u = 0; u < units; u++) {
        const x = beta !== 0 ? sigma * standardNormal(rng) : 0;
        if (pre) pre[u] = x;
        y[u] = base + shift + beta * x + sigma * standardNormal(rng);
      }
      return { y, pre };
    };
    const c = arm(0);
    const t = arm(trueEffect);
    out.push({
      testId: `t${String(i + 1).padStart(2, '0')}`,
      experiment: String(first + i),
      offline,
      trueEffect,
      control: c.y,
      treatment: t.y,
      ...(c.pre && t.pre ? { controlPre: c.pre, treatmentPre: t.pre } : {}),
    });
  }
  return out;
}

const num = (v: number) => Number(v.toPrecision(10)).toString();

/** Per-unit rows as CSV: test_id, variant, value[, pre], experiment. */
export function unitsCsv(tests: SimulatedTest[]): string {
  const pre = tests.some((t) => t.controlPre);
  const lines = [`test_id,variant,value,${pre ? 'pre,' : ''}experiment`];
  for (const t of tests)
    for (const [variant, y, x] of [
      ['control', t.control, t.controlPre],
      ['treatment', t.treatment, t.treatmentPre],
    ] as const)
      for (let u = 0; u < y.length; u++)
        lines.push(`${t.testId},${variant},${num(y[u]!)},${pre ? `${num(x![u]!)},` : ''}${t.experiment}`);
  return `${lines.join('\n')}\n`;
}

/** Per-arm summaries as CSV: test_id, variant, n, mean, sd, experiment (mean and sd of the simulated units). */
export function armsCsv(tests: SimulatedTest[]): string {
  const lines = ['test_id,variant,n,mean,sd,experiment'];
  for (const t of tests)
    for (const [variant, y] of [
      ['control', t.control],
      ['treatment', t.treatment],
    ] as const) {
      const n = y.length;
      const mean = y.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(y.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
      lines.push(`${t.testId},${variant},${n},${num(mean)},${num(sd)},${t.experiment}`);
    }
  return `${lines.join('\n')}\n`;
}

/** The truth of a simulation (no units): what tests compare estimates against. */
export function truthOf(
  tests: SimulatedTest[],
): { testId: string; experiment: string; offline: number; trueEffect: number }[] {
  return tests.map((t) => ({
    testId: t.testId,
    experiment: t.experiment,
    offline: t.offline,
    trueEffect: t.trueEffect,
  }));
}

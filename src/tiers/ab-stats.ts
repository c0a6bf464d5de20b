import { studentTCdf, studentTQuantile } from './distributions.js';

/**
 * The online effect of one A/B test (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): pure functions of
 * each arm's sufficient statistics. Every method ends in {@link welchEffect}: an estimate per arm, the variance of
 * that estimate, and the arm's n for the Welch–Satterthwaite degrees of freedom.
 */

/** One arm as the effect sees it: the arm's estimate and its spread, so that sd² / n is the estimate's variance. */
export interface ArmStats {
  variant: string;
  n: number;
  /** The arm's estimate: the mean, the ratio Σnum/Σden (delta method), or the CUPED-adjusted mean. */
  mean: number;
  /** sd such that sd² / n is the variance of `mean` (the sample sd for a plain mean). */
  sd: number;
  /** The unadjusted mean and sd, when `mean` is CUPED-adjusted. */
  rawMean?: number;
  rawSd?: number;
}

/** How an effect was estimated. */
export type EffectMethod = 'welch' | 'delta' | 'cuped';

/** Treatment − control, with its Welch interval and the relative lift. */
export interface AbEffect {
  method: EffectMethod;
  /** Treatment − control. */
  diff: number;
  se: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  t: number;
  /** Two-sided p-value of diff = 0 (Welch's t). */
  p: number;
  level: number;
  ciLow: number;
  ciHigh: number;
  /** Relative lift treatment / control − 1, its delta-method interval; null when the control's mean is 0. */
  lift: number | null;
  liftLow: number | null;
  liftHigh: number | null;
  /** CUPED only: θ = cov(Y, X) / var(X) pooled over both arms, and the share of variance it removed. */
  theta?: number;
  varianceReduction?: number;
}

/** n, mean and sample sd (n − 1 denominator) of values; two-pass for accuracy. */
export function summarize(values: ArrayLike<number>): { n: number; mean: number; sd: number } {
  const n = values.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i]!;
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return { n, mean, sd: n > 1 ? Math.sqrt(ss / (n - 1)) : Number.NaN };
}

/**
 * Welch's unequal-variance t interval for treatment − control (Welch 1947, "The generalization of Student's
 * problem…"): v_i = sd_i² / n_i, se = √(v_t + v_c), df = (v_t + v_c)² / (v_t² / (n_t − 1) + v_c² / (n_c − 1))
 * (Welch–Satterthwaite), interval diff ± t_{df, (1+level)/2} · se. The relative lift r = m_t / m_c − 1 gets the
 * delta-method variance v_t / m_c² + m_t² v_c / m_c⁴ (Deng et al. 2018, "Applying the Delta Method in Metric
 * Analytics", §3.3, independent arms) and the same t quantile.
 * @param method recorded with the effect (the arms' estimates say which)
 * @throws RangeError for n < 2 in an arm, a negative sd or a level outside (0, 1)
 */
export function welchEffect(
  treatment: ArmStats,
  control: ArmStats,
  level = 0.95,
  method: EffectMethod = 'welch',
): AbEffect {
  for (const a of [treatment, control]) {
    if (!(a.n >= 2)) throw new RangeError(`arm ${a.variant}: n must be >= 2, got ${a.n}`);
    if (!(a.sd >= 0)) throw new RangeError(`arm ${a.variant}: sd must be >= 0, got ${a.sd}`);
  }
  if (!(level > 0 && level < 1)) throw new RangeError(`level must be in (0, 1), got ${level}`);
  const vt = treatment.sd ** 2 / treatment.n;
  const vc = control.sd ** 2 / control.n;
  const diff = treatment.mean - control.mean;
  const se = Math.sqrt(vt + vc);
  const denom = vt ** 2 / (treatment.n - 1) + vc ** 2 / (control.n - 1);
  // Both variances 0: no spread at all; the df is taken as n_t + n_c − 2 (the interval is then a point).
  const df = denom > 0 ? (vt + vc) ** 2 / denom : treatment.n + control.n - 2;
  const q = studentTQuantile((1 + level) / 2, df);
  const t = se > 0 ? diff / se : diff === 0 ? 0 : Math.sign(diff) * Number.POSITIVE_INFINITY;
  const p = se > 0 ? 2 * (1 - studentTCdf(Math.abs(t), df)) : diff === 0 ? 1 : 0;
  const mc = control.mean;
  let lift: number | null = null;
  let liftLow: number | null = null;
  let liftHigh: number | null = null;
  if (mc !== 0) {
    lift = treatment.mean / mc - 1;
    const lse = Math.sqrt(vt / mc ** 2 + (treatment.mean ** 2 * vc) / mc ** 4);
    liftLow = lift - q * lse;
    liftHigh = lift + q * lse;
  }
  return {
    method,
    diff,
    se,
    df,
    t,
    p: Math.min(1, Math.max(0, p)),
    level,
    ciLow: diff - q * se,
    ciHigh: diff + q * se,
    lift,
    liftLow,
    liftHigh,
  };
}

/** Per-arm moments of a ratio metric's units: numerator and denominator means, sample variances, covariance. */
export interface RatioMoments {
  variant: string;
  n: number;
  meanNum: number;
  meanDen: number;
  varNum: number;
  varDen: number;
  covNumDen: number;
}

/**
 * A ratio metric's arm (Σ numerator / Σ denominator over the arm's units, e.g. clicks per page view) by the delta
 * method (Deng et al. 2018, "Applying the Delta Method in Metric Analytics", §2.2, eq. 2): with μ_N, μ_D the unit
 * means, R = μ_N / μ_D and Var(R) ≈ (σ_N² − 2R σ_ND + R² σ_D²) / (n μ_D²). Returned as an {@link ArmStats} with
 * sd = √(n · Var(R)), so {@link welchEffect} applies unchanged.
 * @throws RangeError when the denominator's mean is not > 0
 */
export function ratioArm(m: RatioMoments): ArmStats {
  if (!(m.meanDen > 0)) throw new RangeError(`arm ${m.variant}: the mean denominator must be > 0`);
  const r = m.meanNum / m.meanDen;
  const unitVar = Math.max(0, (m.varNum - 2 * r * m.covNumDen + r * r * m.varDen) / m.meanDen ** 2);
  return { variant: m.variant, n: m.n, mean: r, sd: Math.sqrt(unitVar) };
}

/** Per-arm moments of a metric Y and its pre-period covariate X. */
export interface CupedMoments {
  variant: string;
  n: number;
  meanY: number;
  meanX: number;
  varY: number;
  varX: number;
  covYX: number;
}

/**
 * CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of Online Controlled Experiments by Utilizing
 * Pre-Experiment Data", §3.2): Y_cv = Y − θ (X − E X), θ = cov(Y, X) / var(X) computed once over the units of both
 * arms (the pooled moments in `pooled`), so the adjustment is the same for both arms and the difference stays
 * unbiased. Per arm: mean = Ȳ − θ (X̄ − X̄_pooled), variance = var(Y) − 2θ cov(Y, X) + θ² var(X).
 * @param pooled the moments of all units of the test (both arms together)
 * @returns both arms adjusted, θ, and the variance reduction 1 − Σ adjusted var / Σ raw var over the arms
 */
export function cupedArms(
  treatment: CupedMoments,
  control: CupedMoments,
  pooled: { meanX: number; varX: number; covYX: number },
): { treatment: ArmStats; control: ArmStats; theta: number; varianceReduction: number } {
  const theta = pooled.varX > 0 ? pooled.covYX / pooled.varX : 0;
  const adjust = (m: CupedMoments): ArmStats => {
    const v = Math.max(0, m.varY - 2 * theta * m.covYX + theta * theta * m.varX);
    return {
      variant: m.variant,
      n: m.n,
      mean: m.meanY - theta * (m.meanX - pooled.meanX),
      sd: Math.sqrt(v),
      rawMean: m.meanY,
      rawSd: Math.sqrt(m.varY),
    };
  };
  const t = adjust(treatment);
  const c = adjust(control);
  const raw = treatment.varY / treatment.n + control.varY / control.n;
  const adj = t.sd ** 2 / t.n + c.sd ** 2 / c.n;
  return { treatment: t, control: c, theta, varianceReduction: raw > 0 ? 1 - adj / raw : 0 };
}

/**
 * The effect of a CUPED-adjusted test: {@link welchEffect} on the adjusted arms, θ and the variance reduction
 * recorded with it.
 */
export function cupedEffect(
  treatment: CupedMoments,
  control: CupedMoments,
  pooled: { meanX: number; varX: number; covYX: number },
  level = 0.95,
): { treatment: ArmStats; control: ArmStats; effect: AbEffect } {
  const a = cupedArms(treatment, control, pooled);
  const effect = welchEffect(a.treatment, a.control, level, 'cuped');
  return {
    treatment: a.treatment,
    control: a.control,
    effect: { ...effect, theta: a.theta, varianceReduction: a.varianceReduction },
  };
}

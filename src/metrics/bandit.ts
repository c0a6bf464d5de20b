/**
 * Off-policy evaluation (OPE) of a candidate policy on logged contextual-bandit decisions: the
 * metrics of the `bandit` task, and the diagnostics that say when their estimates can be trusted.
 *
 * The logs hold, per row i, the action a_i a logging policy pi_b took, its propensity
 * pscore_i = pi_b(a_i | x_i) and the reward r_i observed (`BanditInput`); the candidate supplies its
 * action probabilities pi_e(a | x_i) (`policy`) and, for the model-based estimators, Ratchet supplies
 * a reward model q_hat(x_i, a) fitted on the training split (`qhat`). With the importance weight
 * rho_i = pi_e(a_i | x_i) / pscore_i, DM_i = sum_a pi_e(a | x_i) q_hat(x_i, a) / sum_a pi_e(a | x_i)
 * (the denominator is 1 up to the 1e-6 row-sum tolerance; obp's `np.average` divides by it) and
 * qf_i = q_hat(x_i, a_i), with per-row weights w_i (multiplicities: the bootstrap's resample counts):
 *
 * - ips       = sum w rho r / sum w                   (inverse propensity scoring, Horvitz–Thompson;
 *               Precup, Sutton & Singh 2000; Strehl, Langford, Li & Kakade 2010)
 * - snips     = sum w rho r / sum w rho               (Swaminathan & Joachims 2015, "The
 *               Self-Normalized Estimator for Counterfactual Learning", NeurIPS)
 * - dm        = sum w DM / sum w                       (direct method; Beygelzimer & Langford 2009)
 * - dr        = sum w (DM + rho (r - qf)) / sum w      (doubly robust; Dudík, Langford & Li 2011,
 *               "Doubly Robust Policy Evaluation and Learning", ICML)
 * - sndr      = sum w DM / sum w + sum w rho (r - qf) / sum w rho   (self-normalized DR)
 * - switch_dr@tau = sum w (DM + rho (r - qf) [rho <= tau]) / sum w  (Wang, Agarwal & Dudík 2017,
 *               "Optimal and Adaptive Off-policy Evaluation in Contextual Bandits", ICML);
 *               `switch_dr` alone means tau = 100.
 *
 * Each formula reproduces, unweighted, `estimate_policy_value` of the class of obp 0.4.1's
 * obp/ope/estimators.py (Saito, Aihara, Matsutani & Narita 2021, "Open Bandit Dataset and
 * Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation", NeurIPS Datasets and
 * Benchmarks) named in its spec, called with action_dist = policy as (n, k, 1),
 * estimated_rewards_by_reg_model = qhat as (n, k, 1) and position = None; with integer weights each
 * equals that value on the rows repeated by their weights (test/metrics/generate_bandit_fixtures.py
 * runs obp's own code to produce the fixtures).
 *
 * ips, dm, dr and switch_dr are means of per-row terms (built by `meanMetric`, so the paired z-test
 * applies); snips and sndr are ratio estimators and have no per-row decomposition.
 */

import type { MetricImpl } from './impl.js';
import { meanMetric } from './mean.js';
import { weightedMean } from './sum.js';
import type { BanditInput, MetricSpec } from './types.js';

/** The tau of plain `switch_dr`. */
export const DEFAULT_SWITCH_TAU = 100;

/** Tolerance on |sum_a policy[i, a] - 1|. */
export const POLICY_ROW_TOLERANCE = 1e-6;

function fail(metric: string, msg: string): never {
  throw new RangeError(`${metric}: ${msg}`);
}

/**
 * Checks a bandit input: y (rewards), action, pscore of one length n >= 1; k an integer >= 2;
 * policy of n*k values; every reward finite; every action in [0, k); every pscore finite and in
 * (0, 1]; every policy entry finite and >= 0, each row summing to 1 within 1e-6; and, when
 * `needsQhat` (or whenever qhat is given), qhat of n*k finite values.
 * @param metric the metric named in the messages.
 * @throws RangeError naming the problem, the first offending row and the fix.
 */
export function validateBandit(metric: string, input: BanditInput, needsQhat: boolean): void {
  const { y, action, pscore, k, policy, qhat } = input;
  if (
    !(y instanceof Float64Array) ||
    !(action instanceof Int32Array) ||
    !(pscore instanceof Float64Array) ||
    !(policy instanceof Float64Array)
  ) {
    fail(
      metric,
      'bandit input needs y: Float64Array, action: Int32Array, pscore: Float64Array and policy: Float64Array',
    );
  }
  if (!Number.isInteger(k) || k < 2)
    fail(metric, `k must be an integer >= 2 (the number of actions), got ${k}`);
  const n = y.length;
  if (n === 0) fail(metric, 'no rows');
  if (action.length !== n) fail(metric, `y has ${n} rows but action has ${action.length}`);
  if (pscore.length !== n) fail(metric, `y has ${n} rows but pscore has ${pscore.length}`);
  if (policy.length !== n * k) {
    fail(metric, `policy has ${policy.length} values, expected n*k = ${n}*${k} = ${n * k} (row-major)`);
  }
  for (let i = 0; i < n; i++) {
    const r = y[i]!;
    if (!Number.isFinite(r)) fail(metric, `y[${i}] = ${r}: a logged reward must be finite`);
    const a = action[i]!;
    if (!(a >= 0 && a < k)) fail(metric, `action[${i}] = ${a} is not an action index in [0, ${k})`);
    const ps = pscore[i]!;
    if (!(ps > 0 && ps <= 1)) {
      fail(metric, `pscore[${i}] = ${ps}: a logging propensity must be in (0, 1]`);
    }
  }
  for (let i = 0; i < n; i++) {
    let s = 0;
    const base = i * k;
    for (let a = 0; a < k; a++) {
      const v = policy[base + a]!;
      if (!(v >= 0 && v < Number.POSITIVE_INFINITY)) {
        fail(
          metric,
          `policy[${base + a}] (row ${i}, action ${a}) = ${v}: the policy's probabilities must be finite and >= 0`,
        );
      }
      s += v;
    }
    if (!(Math.abs(s - 1) <= POLICY_ROW_TOLERANCE)) {
      fail(
        metric,
        `the policy's probabilities of row ${i} sum to ${Number(s.toPrecision(12))}, not 1: normalize each row`,
      );
    }
  }
  if (qhat === undefined) {
    if (needsQhat) {
      fail(
        metric,
        `${metric} needs a reward model (qhat): n*k estimated rewards q_hat(x_i, a); use ips or snips without one`,
      );
    }
    return;
  }
  if (!(qhat instanceof Float64Array)) fail(metric, 'qhat must be a Float64Array');
  if (qhat.length !== n * k) {
    fail(metric, `qhat has ${qhat.length} values, expected n*k = ${n}*${k} = ${n * k} (row-major)`);
  }
  for (let j = 0; j < qhat.length; j++) {
    const v = qhat[j]!;
    if (!Number.isFinite(v)) {
      fail(
        metric,
        `qhat[${j}] (row ${Math.floor(j / k)}, action ${j % k}) = ${v}: a reward model's estimate must be finite`,
      );
    }
  }
}

/** Importance weight rho_i = policy[i, a_i] / pscore_i. */
function rho(input: BanditInput, i: number): number {
  return input.policy[i * input.k + input.action[i]!]! / input.pscore[i]!;
}

/**
 * DM_i = sum_a policy[i, a] q_hat[i, a] / sum_a policy[i, a]: obp's
 * `np.average(q_hat_at_position, weights=pi_e_at_position, axis=1)`.
 */
function directTerm(policy: Float64Array, qhat: Float64Array, k: number, i: number): number {
  const base = i * k;
  let s = 0;
  let sp = 0;
  for (let a = 0; a < k; a++) {
    const p = policy[base + a]!;
    s += p * qhat[base + a]!;
    sp += p;
  }
  return s / sp;
}

function spec(name: string, description: string): MetricSpec {
  return { name, task: 'bandit', direction: 'maximize', needsProba: true, description };
}

const rows = (input: BanditInput): number => input.y.length;
const check = (name: string, needsQhat: boolean) => (input: BanditInput) =>
  validateBandit(name, input, needsQhat);

const ips = meanMetric<BanditInput>(
  spec(
    'ips',
    'Inverse propensity scoring: mean of rho_i r_i with rho_i = policy[i, a_i] / pscore_i (Horvitz–' +
      'Thompson; Precup et al. 2000, Strehl et al. 2010); equals obp 0.4.1 ' +
      'obp.ope.InverseProbabilityWeighting().estimate_policy_value (obp/ope/estimators.py).',
  ),
  check('ips', false),
  rows,
  (input, start, end, out) => {
    const { y } = input;
    for (let i = start; i < end; i++) out[i - start] = y[i]! * rho(input, i);
  },
);

const dm = meanMetric<BanditInput>(
  spec(
    'dm',
    'Direct method: mean of DM_i = sum_a policy[i, a] qhat[i, a] (Beygelzimer & Langford 2009); equals ' +
      'obp 0.4.1 obp.ope.DirectMethod().estimate_policy_value (obp/ope/estimators.py). Needs qhat.',
  ),
  check('dm', true),
  rows,
  (input, start, end, out) => {
    const { policy, k } = input;
    const q = input.qhat!;
    for (let i = start; i < end; i++) out[i - start] = directTerm(policy, q, k, i);
  },
);

/** The (switch-)DR per-row term DM_i + rho_i (r_i - qf_i) [rho_i <= tau] (tau = Infinity: DR). */
function drFiller(tau: number) {
  return (input: BanditInput, start: number, end: number, out: Float64Array): void => {
    const { y, action, policy, k } = input;
    const q = input.qhat!;
    for (let i = start; i < end; i++) {
      const w = rho(input, i);
      const correction = w <= tau ? w * (y[i]! - q[i * k + action[i]!]!) : 0;
      out[i - start] = directTerm(policy, q, k, i) + correction;
    }
  };
}

const dr = meanMetric<BanditInput>(
  spec(
    'dr',
    'Doubly robust: mean of DM_i + rho_i (r_i - qhat[i, a_i]) (Dudík, Langford & Li 2011); equals obp ' +
      '0.4.1 obp.ope.DoublyRobust().estimate_policy_value (obp/ope/estimators.py). Needs qhat.',
  ),
  check('dr', true),
  rows,
  drFiller(Number.POSITIVE_INFINITY),
);

function switchDr(name: string, tau: number): MetricImpl<BanditInput> {
  return meanMetric<BanditInput>(
    spec(
      name,
      `Switch doubly robust with tau = ${tau}: mean of DM_i + rho_i (r_i - qhat[i, a_i]) [rho_i <= tau] ` +
        '(Wang, Agarwal & Dudík 2017): rows whose importance weight exceeds tau fall back to the direct ' +
        `method; equals obp 0.4.1 obp.ope.SwitchDoublyRobust(tau=${tau}).estimate_policy_value ` +
        '(obp/ope/estimators.py). Needs qhat.',
    ),
    check(name, true),
    rows,
    drFiller(tau),
  );
}

/** Weighted mean of the importance weights, or a RangeError naming `metric` when it is 0. */
function meanWeight(metric: string, weights: Float64Array | null, rhos: Float64Array): number {
  const m = weightedMean(rhos, weights);
  if (!(m > 0)) {
    throw new RangeError(
      `${metric} is undefined: the candidate's policy gives probability 0 to every logged action` +
        `${weights === null ? '' : ' of the resampled rows'} (the importance weights sum to 0)`,
    );
  }
  return m;
}

function rhoArray(input: BanditInput): Float64Array {
  const n = input.y.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rho(input, i);
  return out;
}

const snips: MetricImpl<BanditInput> = {
  spec: spec(
    'snips',
    'Self-normalized inverse propensity scoring: sum_i rho_i r_i / sum_i rho_i (Swaminathan & Joachims ' +
      '2015); equals obp 0.4.1 obp.ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value ' +
      '(obp/ope/estimators.py). Undefined (RangeError) when every rho_i is 0.',
  ),
  validate: check('snips', false),
  compute(input, weights) {
    return this.prepare(input)(weights);
  },
  prepare(input) {
    const rhos = rhoArray(input);
    const num = new Float64Array(rhos.length);
    for (let i = 0; i < rhos.length; i++) num[i] = rhos[i]! * input.y[i]!;
    return (weights) => {
      const m = meanWeight('snips', weights, rhos);
      return weightedMean(num, weights) / m;
    };
  },
};

const sndr: MetricImpl<BanditInput> = {
  spec: spec(
    'sndr',
    'Self-normalized doubly robust: mean of DM_i + rho_i (r_i - qhat[i, a_i]) / mean(rho) (Dudík et al. ' +
      '2011 with the self-normalized weights of Swaminathan & Joachims 2015); equals obp 0.4.1 ' +
      'obp.ope.SelfNormalizedDoublyRobust().estimate_policy_value (obp/ope/estimators.py). Needs qhat; ' +
      'undefined (RangeError) when every rho_i is 0.',
  ),
  validate: check('sndr', true),
  compute(input, weights) {
    return this.prepare(input)(weights);
  },
  prepare(input) {
    const { y, action, policy, k } = input;
    const q = input.qhat!;
    const n = y.length;
    const rhos = rhoArray(input);
    const direct = new Float64Array(n);
    const correction = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      direct[i] = directTerm(policy, q, k, i);
      correction[i] = rhos[i]! * (y[i]! - q[i * k + action[i]!]!);
    }
    return (weights) => {
      const m = meanWeight('sndr', weights, rhos);
      return weightedMean(direct, weights) + weightedMean(correction, weights) / m;
    };
  },
};

/** The bandit metrics `metricsForTask('bandit')` lists (any `switch_dr@<tau>` is also accepted). */
export const BANDIT_METRICS: ReadonlyArray<MetricImpl<BanditInput>> = [
  ips,
  snips,
  dm,
  dr,
  sndr,
  switchDr('switch_dr', DEFAULT_SWITCH_TAU),
];

const TAU_RE = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * The tau of a switch-DR metric name: `switch_dr` is 100, `switch_dr@<tau>` is tau written as a
 * plain decimal or in exponent notation (10, 2.5, 1e3).
 * @returns tau, or null when `name` is not a switch-DR name or tau is not a positive finite number.
 */
export function parseSwitchTau(name: string): number | null {
  if (name === 'switch_dr') return DEFAULT_SWITCH_TAU;
  if (!name.startsWith('switch_dr@')) return null;
  const text = name.slice('switch_dr@'.length);
  if (!TAU_RE.test(text)) return null;
  const tau = Number(text);
  return Number.isFinite(tau) && tau > 0 ? tau : null;
}

const cache = new Map<string, MetricImpl<BanditInput>>();

/**
 * The implementation of a bandit metric by name (ips, snips, dm, dr, sndr, switch_dr,
 * switch_dr@<tau>), or undefined when the name is not one.
 */
export function banditMetricImpl(name: string): MetricImpl<BanditInput> | undefined {
  const listed = BANDIT_METRICS.find((m) => m.spec.name === name);
  if (listed !== undefined) return listed;
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const tau = parseSwitchTau(name);
  if (tau === null) return undefined;
  const impl = switchDr(name, tau);
  if (cache.size < 4096) cache.set(name, impl);
  return impl;
}

/** The valid bandit metric names, for error messages. */
export const BANDIT_METRIC_NAMES =
  'ips, snips, dm, dr, sndr, switch_dr, switch_dr@tau (tau a positive finite number such as 10, 2.5 or ' +
  `1e3; plain switch_dr means tau = ${DEFAULT_SWITCH_TAU})`;

// ---------------------------------------------------------------------------------------------
// Trust diagnostics
// ---------------------------------------------------------------------------------------------

/** What `banditDiagnostics` measures about one candidate policy on the logs. */
export interface BanditDiagnostics {
  /** Number of logged rows n. */
  n: number;
  /**
   * Kish's effective sample size of the importance weights, (sum rho)^2 / sum rho^2 (Kish 1965,
   * "Survey Sampling"); n when the candidate's policy equals the logging policy, 0 when every rho is 0.
   */
  ess: number;
  /** ess / n, in [0, 1]. */
  essFraction: number;
  /** The largest importance weight max_i rho_i. */
  maxWeight: number;
  /**
   * Mean over rows of the candidate's probability on actions the logging policy never took in the
   * logged data (training and holdout): mass no estimator can check against a logged reward (IPS
   * cannot see it at all; DM only extrapolates the reward model there).
   */
  unsupportedMass: number;
  /** ips and snips (snips omitted when every rho is 0), and dm and dr when the input has qhat. */
  estimates: Record<string, number>;
  /**
   * Spread of the estimates: (max - min) / max(|reference|, 1e-12), the reference being dr when
   * present, else snips, else ips. Estimators with different biases (IPS unbiased but noisy, DM
   * biased by the reward model, DR and SNIPS in between) agree on well-supported logs; a spread of
   * the order of the estimate itself means at least one of them is far off.
   */
  disagreement: number;
}

/**
 * Trust diagnostics of a candidate policy on logged bandit data.
 * @param input the logs and the candidate's policy (and qhat, optional).
 * @param logged k flags, logged[a] = 1 when action a appears anywhere in the logged data (training
 *   and holdout); null when every action was logged. Every action of `input` must be flagged.
 * @throws RangeError for an invalid input (as the metrics' validation) or an invalid `logged`.
 */
export function banditDiagnostics(input: BanditInput, logged: Uint8Array | null): BanditDiagnostics {
  validateBandit('banditDiagnostics', input, false);
  const { y, action, policy, k } = input;
  const n = y.length;
  if (logged !== null) {
    if (!(logged instanceof Uint8Array) || logged.length !== k) {
      throw new RangeError(
        `banditDiagnostics: logged must be a Uint8Array of k = ${k} flags (1 = the action appears in the logs)`,
      );
    }
    for (let i = 0; i < n; i++) {
      if (logged[action[i]!] === 0) {
        throw new RangeError(
          `banditDiagnostics: logged[${action[i]}] = 0 but action ${action[i]} is logged at row ${i}: ` +
            'logged must flag every action of the training and holdout logs',
        );
      }
    }
  }
  const rhos = rhoArray(input);
  let sum = 0;
  let sumSq = 0;
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const w = rhos[i]!;
    sum += w;
    sumSq += w * w;
    if (w > maxWeight) maxWeight = w;
  }
  const ess = sumSq > 0 ? (sum * sum) / sumSq : 0;
  let unsupported = 0;
  if (logged !== null) {
    for (let i = 0; i < n; i++) {
      let m = 0;
      for (let a = 0; a < k; a++) if (logged[a] === 0) m += policy[i * k + a]!;
      unsupported += m;
    }
    unsupported /= n;
  }
  const estimates: Record<string, number> = { ips: ips.compute(input, null) };
  if (sum > 0) estimates.snips = snips.compute(input, null);
  if (input.qhat !== undefined) {
    estimates.dm = dm.compute(input, null);
    estimates.dr = dr.compute(input, null);
  }
  const values = Object.values(estimates);
  const reference = estimates.dr ?? estimates.snips ?? estimates.ips!;
  const disagreement = (Math.max(...values) - Math.min(...values)) / Math.max(Math.abs(reference), 1e-12);
  return { n, ess, essFraction: ess / n, maxWeight, unsupportedMass: unsupported, estimates, disagreement };
}

/** The thresholds `trustFindings` checks a candidate's diagnostics against. */
export interface TrustThresholds {
  /** Smallest acceptable ess / n. */
  min_ess_fraction: number;
  /** Largest acceptable importance weight. */
  max_weight: number;
  /** Largest acceptable mean probability on never-logged actions. */
  max_unsupported: number;
  /** Largest acceptable relative spread of the estimators (see `BanditDiagnostics.disagreement`). */
  max_disagreement: number;
}

/** Default trust thresholds: ESS >= 1% of the rows, weights <= 1000, <= 5% unsupported mass, spread <= 50%. */
export const DEFAULT_TRUST: Readonly<TrustThresholds> = Object.freeze({
  min_ess_fraction: 0.01,
  max_weight: 1000,
  max_unsupported: 0.05,
  max_disagreement: 0.5,
});

/** A number for a sentence: 3 significant digits, no trailing zeros. */
function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(3)));
}

/** A fraction as a percentage for a sentence (0.004 -> "0.4%"). */
function pct(x: number): string {
  return `${num(100 * x)}%`;
}

const NO_KEEP = 'its estimate cannot decide a keep';

/**
 * The trust thresholds a candidate's diagnostics break, as sentences for a report (empty when the
 * estimate can be trusted).
 * @param diag the output of `banditDiagnostics`.
 * @param thresholds the limits (see `DEFAULT_TRUST`), each finite and >= 0.
 * @returns one sentence per broken threshold, in the order ess, weight, unsupported, disagreement.
 * @throws RangeError for a threshold that is not a finite number >= 0.
 */
export function trustFindings(diag: BanditDiagnostics, thresholds: TrustThresholds): string[] {
  for (const key of ['min_ess_fraction', 'max_weight', 'max_unsupported', 'max_disagreement'] as const) {
    const v = thresholds[key];
    if (!(typeof v === 'number' && v >= 0 && v < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`trustFindings: threshold ${key} must be a finite number >= 0, got ${String(v)}`);
    }
  }
  const out: string[] = [];
  if (diag.essFraction < thresholds.min_ess_fraction) {
    out.push(
      `effective sample size ${num(diag.ess)} (${pct(diag.essFraction)} of ${diag.n} rows) is below the ` +
        `trust threshold min_ess_fraction ${pct(thresholds.min_ess_fraction)}: the candidate's policy moves ` +
        `far from the logging policy; ${NO_KEEP}`,
    );
  }
  if (diag.maxWeight > thresholds.max_weight) {
    out.push(
      `the largest importance weight ${num(diag.maxWeight)} exceeds the trust threshold max_weight ` +
        `${num(thresholds.max_weight)}: a few rows where the logging policy rarely took the candidate's ` +
        `action dominate the estimate; ${NO_KEEP}`,
    );
  }
  if (diag.unsupportedMass > thresholds.max_unsupported) {
    out.push(
      `the candidate's policy puts ${pct(diag.unsupportedMass)} of its probability on actions never ` +
        `logged, above the trust threshold max_unsupported ${pct(thresholds.max_unsupported)}: no logged ` +
        `reward says what those actions earn; ${NO_KEEP}`,
    );
  }
  if (diag.disagreement > thresholds.max_disagreement) {
    const listed = Object.entries(diag.estimates)
      .map(([name, v]) => `${name} ${num(v)}`)
      .join(', ');
    out.push(
      `the estimators disagree (${listed}): their spread is ${pct(diag.disagreement)} of the ` +
        `${diag.estimates.dr !== undefined ? 'dr' : diag.estimates.snips !== undefined ? 'snips' : 'ips'} ` +
        `estimate, above the trust threshold max_disagreement ${pct(thresholds.max_disagreement)}: the ` +
        `reward model or the importance weights are unreliable here; ${NO_KEEP}`,
    );
  }
  return out;
}

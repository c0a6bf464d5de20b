import { computeMetric } from '../metrics/index.js';
import { Xoshiro128 } from '../metrics/random.js';
import type { BanditInput } from '../metrics/types.js';
import { type SimulatedTest, standardNormal } from './ab-simulate.js';
import { summarize, welchEffect } from './ab-stats.js';
import type { AlignPair } from './align-pairs.js';

/**
 * A bandit environment with known truth (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"), for testing
 * `align` statistically: offline deltas come from Ratchet's own off-policy estimators on logs of a uniform-random
 * logging policy, online deltas from simulated A/B tests, and position bias, novelty and distribution shift can be
 * switched on to make the two disagree in known ways.
 *
 * - Contexts x ∈ R^d ~ N(μ, I); μ = 0 for the logs, μ = (s, …, s) in deployment (`shift` s).
 * - K actions, L positions. The click probability of action a at position l (0-based) in context x is
 *   examine(l) · rel(x, a) (the position-based model: Craswell, Zoeter, Taylor & Ramsey 2008, "An experimental
 *   comparison of click position-bias models", WSDM; Chuklin, Markov & de Rijke 2015, "Click Models for Web Search"),
 *   rel(x, a) = σ(b_a + θ_a·x) with random (b, θ), examine(l) = 1/(l + 1)^η (`positionBias` η; η = 0: no bias).
 * - A policy fills a slate of L positions: position 1 with its chosen action (a softmax over actions of a linear
 *   score of x, the "top" parameters), positions 2..L each with an independent draw from its "lower" softmax (a
 *   slate may repeat an action; this keeps a slate's value the sum of its positions'). A user's online value is
 *   the slate's click-through rate, clicks / L. The baseline uses one softmax for every position; candidate i moves
 *   the top and the lower parameters toward (or away from) the true relevance by separate random amounts, plus a
 *   random perturbation; `tradeoff` is the correlation of the two amounts (negative: a candidate that fills the
 *   lower positions better, a more diverse slate, gives up relevance at the top, and conversely).
 * - Offline: n logged rows (context, action uniform over K, position uniform over L, click, propensity 1/K). The
 *   estimator is position-blind: it scores a candidate by its per-action probability m(a | x), the mean over
 *   positions of its slate's probabilities, with `snips` (all rows) or `dr` (per-action mean reward fitted on the
 *   first half, estimated on the second), through `computeMetric`. It estimates ē · Σ_l V_l / L (ē the mean
 *   examination, V_l the relevance of position l's draws) while the online value is Σ_l examine(l) V_l / L: equal
 *   with η = 0, while with η > 0 the top position weighs more online than offline, so a candidate's top-versus-lower
 *   trade is mispredicted. (With a single chosen action at position 1 and positions logged at random, a
 *   position-blind estimate would be exactly ē times the online value: a constant factor that no sign or rank
 *   statistic can see.)
 * - Online: each candidate against the baseline, `usersPerArm` users per arm in the deployment distribution. With
 *   `novelty` ν the treatment's click probabilities are multiplied by 1 + ν (capped at 1) during the test window,
 *   a bump that fades after it: the window effect is recorded as `trueEffect`, the lasting one as `longRunEffect`.
 * - Truth: each value is an exact expectation over actions and clicks, averaged over `truthContexts` contexts drawn
 *   once and shared by every policy (so the deltas' Monte Carlo error is small).
 *
 * Seeded xoshiro128**; the environment, the candidates, the logs, the A/B users and the truth contexts use separate
 * streams, so switching a knob changes nothing else: runs with and without a knob are paired.
 */

/** Options of {@link simulateBanditEnv}. */
export interface BanditEnvOptions {
  /** Number of candidates, each one A/B test against the baseline. */
  tests: number;
  seed: number;
  /** Actions K (default 10), positions L (default 3), context features d (default 4). */
  actions?: number;
  positions?: number;
  features?: number;
  /** Logged rows n of the uniform-random logging policy (default 5000). */
  logged?: number;
  /** Users per arm of each A/B test (default 2000). */
  usersPerArm?: number;
  /** η of examine(l) = 1/(l + 1)^η (default 0: no position bias). */
  positionBias?: number;
  /** ν: the treatment's multiplicative click bump in the test window (default 0). */
  novelty?: number;
  /** Mean shift of every feature of the deployment contexts (default 0). */
  shift?: number;
  /** Correlation of a candidate's top and lower moves, in [−1, 1] (default 0). */
  tradeoff?: number;
  /** The off-policy estimator of the offline scores (default snips). */
  estimator?: 'snips' | 'dr';
  /** Contexts the truth is averaged over (default 10000). */
  truthContexts?: number;
  /** Experiment ids: firstExperiment, firstExperiment + 1, … (default 2). */
  firstExperiment?: number;
}

/** One A/B test of the environment: the simulator's test (units, offline delta, window effect) and its truth. */
export interface BanditTest extends SimulatedTest {
  /** The off-policy estimate's delta (candidate − baseline): the offline delta align sees. */
  offline: number;
  /** The true treatment − control effect in the test window (novelty included). */
  trueEffect: number;
  /** The true lasting effect (novelty faded). */
  longRunEffect: number;
  /** The true delta of what the offline estimator estimates (position-blind, logged contexts). */
  offlineTrue: number;
  /** The candidate's off-policy estimate, the value it estimates, and its true long-run online value. */
  offlineEstimate: number;
  offlineTrueValue: number;
  onlineValue: number;
}

/** What {@link simulateBanditEnv} returns. */
export interface BanditSimulation {
  options: Required<Omit<BanditEnvOptions, 'tests' | 'seed'>> & { tests: number; seed: number };
  /** examine(l) for l = 0..L − 1. */
  examine: number[];
  baseline: { offlineEstimate: number; offlineTrueValue: number; onlineValue: number };
  tests: BanditTest[];
}

/** Scale of the policies' scores (an inverse temperature): the baseline's softmax is fairly decisive. */
const BETA = 2;
/**
 * sd of a candidate's move toward the truth (in units of the baseline's distance to it), and of its random
 * perturbation (in units of the true parameters' spread).
 */
const MOVE_SD = 0.4;
const PERTURB_SD = 0.35;

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min)
    throw new RangeError(`${name} must be a whole number >= ${min}, got ${v}`);
  return v;
}

function finiteAtLeast(name: string, v: number, min: number): number {
  if (!(Number.isFinite(v) && v >= min))
    throw new RangeError(`${name} must be a finite number >= ${min}, got ${v}`);
  return v;
}

/** Linear scores into `out`: out[a] = p[a, 0] + Σ_j p[a, 1 + j] x_j. */
function scores(p: Float64Array, x: Float64Array, k: number, d: number, out: Float64Array): void {
  for (let a = 0; a < k; a++) {
    const o = a * (d + 1);
    let s = p[o]!;
    for (let j = 0; j < d; j++) s += p[o + 1 + j]! * x[j]!;
    out[a] = s;
  }
}

/** The softmax of the policy `p` at x, into `out`. */
function softmax(p: Float64Array, x: Float64Array, k: number, d: number, out: Float64Array): void {
  let max = Number.NEGATIVE_INFINITY;
  for (let a = 0, o = 0; a < k; a++, o += d + 1) {
    let v = p[o]!;
    for (let j = 0; j < d; j++) v += p[o + 1 + j]! * x[j]!;
    out[a] = v;
    if (v > max) max = v;
  }
  let s = 0;
  for (let a = 0; a < k; a++) {
    const e = Math.exp(out[a]! - max);
    out[a] = e;
    s += e;
  }
  const inv = 1 / s;
  for (let a = 0; a < k; a++) out[a]! *= inv;
}

/** rel(x, a) for every a, into `out`. */
function relevance(t: Float64Array, x: Float64Array, k: number, d: number, out: Float64Array): void {
  scores(t, x, k, d, out);
  for (let a = 0; a < k; a++) out[a] = 1 / (1 + Math.exp(-out[a]!));
}

/** An action drawn from probabilities `p` by inversion of one uniform. */
function draw(p: Float64Array, k: number, u: number): number {
  let c = 0;
  for (let a = 0; a < k - 1; a++) {
    c += p[a]!;
    if (u < c) return a;
  }
  return k - 1;
}

/**
 * Simulate `tests` candidates: offline deltas from logged data, online A/B units, and the truth.
 * @throws RangeError for an invalid option
 */
export function simulateBanditEnv(opts: BanditEnvOptions): BanditSimulation {
  const tests = positiveInt('tests', opts.tests, 1);
  const k = positiveInt('actions', opts.actions ?? 10, 2);
  const L = positiveInt('positions', opts.positions ?? 3, 1);
  const d = positiveInt('features', opts.features ?? 4, 1);
  const n = positiveInt('logged', opts.logged ?? 5000, 4);
  const m = positiveInt('usersPerArm', opts.usersPerArm ?? 2000, 2);
  const eta = finiteAtLeast('positionBias', opts.positionBias ?? 0, 0);
  const nu = finiteAtLeast('novelty', opts.novelty ?? 0, 0);
  const shift = opts.shift ?? 0;
  if (!Number.isFinite(shift)) throw new RangeError(`shift must be a finite number, got ${shift}`);
  const tradeoff = opts.tradeoff ?? 0;
  if (!(tradeoff >= -1 && tradeoff <= 1))
    throw new RangeError(`tradeoff must be in [-1, 1], got ${tradeoff}`);
  const estimator = opts.estimator ?? 'snips';
  if (estimator !== 'snips' && estimator !== 'dr')
    throw new RangeError(`estimator must be snips or dr, got ${String(estimator)}`);
  const nTruth = positiveInt('truthContexts', opts.truthContexts ?? 10000, 1);
  const first = positiveInt('firstExperiment', opts.firstExperiment ?? 2, 0);
  const master = new Xoshiro128(opts.seed);
  const envRng = new Xoshiro128(master.nextUint32());
  const logRng = new Xoshiro128(master.nextUint32());
  const abRng = new Xoshiro128(master.nextUint32());
  const truthRng = new Xoshiro128(master.nextUint32());
  const examine = Array.from({ length: L }, (_, l) => 1 / (l + 1) ** eta);
  const meanExamine = examine.reduce((a, b) => a + b, 0) / L;

  // The environment and the policies (parameters row-major K × (d + 1): intercept, then weights).
  const width = k * (d + 1);
  const params = (interceptMean: number, interceptSd: number, weightSd: number) => {
    const p = new Float64Array(width);
    for (let a = 0; a < k; a++) {
      p[a * (d + 1)] = interceptMean + interceptSd * standardNormal(envRng);
      for (let j = 0; j < d; j++) p[a * (d + 1) + 1 + j] = weightSd * standardNormal(envRng);
    }
    return p;
  };
  const truthParams = params(-1, 0.7, 1.2 / Math.sqrt(d));
  const noise = params(-1, 0.7, 1.2 / Math.sqrt(d));
  const base = new Float64Array(width);
  for (let j = 0; j < width; j++) base[j] = BETA * (0.5 * truthParams[j]! + 0.5 * noise[j]!);
  const candidate = (move: number) => {
    const r = params(0, 0.7 * PERTURB_SD, (1.2 / Math.sqrt(d)) * PERTURB_SD);
    const p = new Float64Array(width);
    for (let j = 0; j < width; j++)
      p[j] = base[j]! + move * (BETA * truthParams[j]! - base[j]!) + BETA * r[j]!;
    return p;
  };
  const cands: { top: Float64Array; low: Float64Array }[] = [];
  for (let i = 0; i < tests; i++) {
    const zTop = standardNormal(envRng);
    const zLow = standardNormal(envRng);
    const top = candidate(MOVE_SD * zTop);
    const low = candidate(MOVE_SD * (tradeoff * zTop + Math.sqrt(1 - tradeoff * tradeoff) * zLow));
    cands.push({ top, low: L > 1 ? low : top });
  }
  // Policy parameter sets: 0 the baseline, then top and lower of each candidate.
  const sets = [base, ...cands.flatMap((c) => [c.top, c.low])];

  // Truth: per parameter set, the mean over contexts of Σ_a π(a | x) rel(x, a) (and, with novelty, of
  // Σ_a π(a | x) min(1, (1 + ν) examine(l) rel(x, a)) at each position the set fills).
  const z = new Float64Array(nTruth * d);
  for (let j = 0; j < z.length; j++) z[j] = standardNormal(truthRng);
  const x = new Float64Array(d);
  const rel = new Float64Array(k);
  const prob = new Float64Array(k);
  const truth = (mu: number, windowed: boolean) => {
    const v = new Float64Array(sets.length);
    const w = new Float64Array(sets.length * L);
    for (let c = 0; c < nTruth; c++) {
      for (let j = 0; j < d; j++) x[j] = mu + z[c * d + j]!;
      relevance(truthParams, x, k, d, rel);
      for (let s = 0; s < sets.length; s++) {
        softmax(sets[s]!, x, k, d, prob);
        let acc = 0;
        for (let a = 0; a < k; a++) acc += prob[a]! * rel[a]!;
        v[s]! += acc;
        if (!windowed || s === 0) continue;
        // Odd sets are candidates' top parameters (position 0), even ones their lower ones (positions 1..L − 1).
        const top = s % 2 === 1;
        for (let l = top ? 0 : 1; l < (top ? 1 : L); l++) {
          const bump = (1 + nu) * examine[l]!;
          let accW = 0;
          for (let a = 0; a < k; a++) accW += prob[a]! * Math.min(1, bump * rel[a]!);
          w[s * L + l]! += accW;
        }
      }
    }
    for (let s = 0; s < v.length; s++) v[s]! /= nTruth;
    for (let s = 0; s < w.length; s++) w[s]! /= nTruth;
    return { v, w };
  };
  const atLogged = truth(0, shift === 0 && nu > 0);
  const logged = atLogged.v;
  const deployed = shift === 0 ? atLogged : truth(shift, nu > 0);
  const slate = (topValue: number, lowValue: number) => {
    let s = examine[0]! * topValue;
    for (let l = 1; l < L; l++) s += examine[l]! * lowValue;
    return s / L;
  };
  /** What the position-blind estimator estimates for the policy whose top and lower parameters are sets t and w. */
  const offlineTrueOf = (t: number, w: number) => (meanExamine * (logged[t]! + (L - 1) * logged[w]!)) / L;
  const baseOnline = slate(deployed.v[0]!, deployed.v[0]!);

  // Logs of the uniform-random logging policy, and the position-blind off-policy estimates.
  const lx = new Float64Array(n * d);
  const action = new Int32Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[j] = lx[i * d + j] = standardNormal(logRng);
    action[i] = logRng.nextInt(k);
    const l = logRng.nextInt(L);
    relevance(truthParams, x, k, d, rel);
    y[i] = logRng.nextFloat() < examine[l]! * rel[action[i]!]! ? 1 : 0;
  }
  const half = estimator === 'dr' ? Math.floor(n / 2) : 0;
  const q = new Float64Array(k);
  if (estimator === 'dr') {
    const count = new Float64Array(k);
    let all = 0;
    for (let i = 0; i < half; i++) {
      q[action[i]!]! += y[i]!;
      count[action[i]!]!++;
      all += y[i]!;
    }
    for (let a = 0; a < k; a++) q[a] = count[a]! > 0 ? q[a]! / count[a]! : all / half;
  }
  const rows = n - half;
  const input: BanditInput = {
    task: 'bandit',
    y: y.slice(half),
    action: action.slice(half),
    pscore: new Float64Array(rows).fill(1 / k),
    k,
    policy: new Float64Array(rows * k),
    ...(estimator === 'dr' ? { qhat: new Float64Array(rows * k).map((_, j) => q[j % k]!) } : {}),
  };
  const probLow = new Float64Array(k);
  const policy = input.policy;
  const estimate = (top: Float64Array, low: Float64Array) => {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < d; j++) x[j] = lx[(half + i) * d + j]!;
      softmax(top, x, k, d, prob);
      if (low === top) policy.set(prob, i * k);
      else {
        softmax(low, x, k, d, probLow);
        for (let a = 0; a < k; a++) policy[i * k + a] = (prob[a]! + (L - 1) * probLow[a]!) / L;
      }
    }
    return computeMetric(estimator, input);
  };
  const baseEstimate = estimate(base, base);

  // The A/B tests: per user, a context of the deployment distribution and a slate; the value is clicks / L.
  const probTop = new Float64Array(k);
  const user = (top: Float64Array, low: Float64Array, bump: number) => {
    for (let j = 0; j < d; j++) x[j] = shift + standardNormal(abRng);
    softmax(top, x, k, d, probTop);
    const lower = low === top ? probTop : probLow;
    if (L > 1 && low !== top) softmax(low, x, k, d, probLow);
    let clicks = 0;
    for (let l = 0; l < L; l++) {
      const a = draw(l === 0 ? probTop : lower, k, abRng.nextFloat());
      let score = truthParams[a * (d + 1)]!;
      for (let j = 0; j < d; j++) score += truthParams[a * (d + 1) + 1 + j]! * x[j]!;
      const p = Math.min(1, (bump * examine[l]!) / (1 + Math.exp(-score)));
      if (abRng.nextFloat() < p) clicks++;
    }
    return clicks / L;
  };
  const out: BanditTest[] = [];
  for (let i = 0; i < tests; i++) {
    const { top, low } = cands[i]!;
    const s = 1 + 2 * i;
    const control = new Float64Array(m);
    const treatment = new Float64Array(m);
    for (let u = 0; u < m; u++) control[u] = user(base, base, 1);
    for (let u = 0; u < m; u++) treatment[u] = user(top, low, 1 + nu);
    const offlineEstimate = estimate(top, low);
    const onlineValue = slate(deployed.v[s]!, deployed.v[s + 1]!);
    let windowValue = onlineValue;
    if (nu > 0) {
      windowValue = deployed.w[s * L]!;
      for (let l = 1; l < L; l++) windowValue += deployed.w[(s + 1) * L + l]!;
      windowValue /= L;
    }
    const offlineTrueValue = offlineTrueOf(s, s + 1);
    out.push({
      testId: `t${String(i + 1).padStart(2, '0')}`,
      experiment: String(first + i),
      offline: offlineEstimate - baseEstimate,
      trueEffect: windowValue - baseOnline,
      longRunEffect: onlineValue - baseOnline,
      offlineTrue: offlineTrueValue - offlineTrueOf(0, 0),
      offlineEstimate,
      offlineTrueValue,
      onlineValue,
      control,
      treatment,
    });
  }
  return {
    options: {
      tests,
      seed: opts.seed,
      actions: k,
      positions: L,
      features: d,
      logged: n,
      usersPerArm: m,
      positionBias: eta,
      novelty: nu,
      shift,
      tradeoff,
      estimator,
      truthContexts: nTruth,
      firstExperiment: first,
    },
    examine,
    baseline: {
      offlineEstimate: baseEstimate,
      offlineTrueValue: offlineTrueOf(0, 0),
      onlineValue: baseOnline,
    },
    tests: out,
  };
}

/**
 * The (offline delta, online effect) points of the simulated tests, shaped as `collectPairs` makes them from a
 * journal (experiment ids as written in the file; online = the A/B Welch effect), for direct use with `alignReport`.
 */
export function banditPairs(tests: BanditTest[]): AlignPair[] {
  return tests.map((t) => {
    const e = welchEffect(
      { variant: 'treatment', ...summarize(t.treatment) },
      { variant: 'control', ...summarize(t.control) },
    );
    return {
      testId: t.testId,
      experimentId: Number(t.experiment),
      commitSha: null,
      offline: t.offline,
      online: e.diff,
      onlineLow: e.ciLow,
      onlineHigh: e.ciHigh,
      parts: {},
    };
  });
}

/** The truth of a bandit simulation (no units), for `--truth`. */
export function banditTruth(sim: BanditSimulation) {
  const { tests: _count, ...options } = sim.options;
  return {
    env: 'bandit' as const,
    ...options,
    examine: sim.examine,
    baseline: sim.baseline,
    tests: sim.tests.map((t) => ({
      testId: t.testId,
      experiment: t.experiment,
      offline: t.offline,
      offlineTrue: t.offlineTrue,
      trueEffect: t.trueEffect,
      longRunEffect: t.longRunEffect,
      offlineEstimate: t.offlineEstimate,
      offlineTrueValue: t.offlineTrueValue,
      onlineValue: t.onlineValue,
    })),
  };
}

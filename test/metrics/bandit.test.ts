/**
 * The bandit task's off-policy estimators against obp 0.4.1 on the committed fixtures
 * (generate_bandit_fixtures.py runs obp's own estimators), their weights, validation, the trust
 * diagnostics, and the bootstraps on bandit inputs.
 */

import { describe, expect, it } from 'vitest';
import {
  type BanditInput,
  banditDiagnostics,
  bootstrapInterval,
  computeMetric,
  DEFAULT_TRUST,
  hasPairedZ,
  metricSpec,
  metricsForTask,
  pairedBootstrap,
  pairedBootstrapPrepared,
  pairedZTest,
  parseSwitchTau,
  prepareMetric,
  trustFindings,
  Xoshiro128,
} from '../../src/metrics/index.js';
import { close, loadFixtureFile, REL_TOL, repeatRows } from './helpers.js';

interface BanditCase {
  name: string;
  k: number;
  y: number[];
  action: number[];
  pscore: number[];
  policy: number[];
  qhat: number[] | null;
  weights: number[] | null;
  expected: Record<string, number | null>;
  undefined: Record<string, string>;
}

interface BanditFixture {
  obp_version: string;
  taus: string[];
  cases: BanditCase[];
}

const fixture = loadFixtureFile<BanditFixture>('bandit');

function caseInput(c: BanditCase): BanditInput {
  return {
    task: 'bandit',
    k: c.k,
    y: Float64Array.from(c.y),
    action: Int32Array.from(c.action),
    pscore: Float64Array.from(c.pscore),
    policy: Float64Array.from(c.policy),
    ...(c.qhat ? { qhat: Float64Array.from(c.qhat) } : {}),
  };
}

/** Random logs: a softmax logging policy, Dirichlet-like candidate rows, 0/1 rewards, random qhat. */
function randomInput(seed: number, n: number, k: number, withQhat = true): BanditInput {
  const rng = new Xoshiro128(seed);
  const action = new Int32Array(n);
  const pscore = new Float64Array(n);
  const y = new Float64Array(n);
  const policy = new Float64Array(n * k);
  const qhat = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const logit = Array.from({ length: k }, () => 2 * rng.nextFloat());
    const z = logit.reduce((s, v) => s + Math.exp(v), 0);
    const pb = logit.map((v) => Math.exp(v) / z);
    let u = rng.nextFloat();
    let a = 0;
    while (a < k - 1 && u >= pb[a]!) u -= pb[a++]!;
    action[i] = a;
    pscore[i] = pb[a]!;
    y[i] = rng.nextFloat() < 0.3 ? 1 : 0;
    const raw = Array.from({ length: k }, () => -Math.log(1 - rng.nextFloat()));
    const s = raw.reduce((t, v) => t + v, 0);
    for (let j = 0; j < k; j++) {
      policy[i * k + j] = raw[j]! / s;
      qhat[i * k + j] = rng.nextFloat();
    }
  }
  return { task: 'bandit', k, y, action, pscore, policy, ...(withQhat ? { qhat } : {}) };
}

const LISTED = ['ips', 'snips', 'dm', 'dr', 'sndr', 'switch_dr'];

describe(`bandit estimators vs obp ${fixture.obp_version}`, () => {
  const names = [...LISTED, ...fixture.taus.map((t) => `switch_dr@${t}`)];

  it('the fixtures cover every estimator, n = 1, k in {2, 5, 80}, weights and undefined cases', () => {
    expect(metricsForTask('bandit').map((m) => m.name)).toEqual(LISTED);
    for (const c of fixture.cases) expect(Object.keys(c.expected).sort()).toEqual([...names].sort());
    const ks = new Set(fixture.cases.map((c) => c.k));
    expect([...ks].sort((a, b) => a - b)).toEqual([2, 5, 80]);
    expect(fixture.cases.some((c) => c.y.length === 1)).toBe(true);
    expect(fixture.cases.some((c) => c.weights !== null)).toBe(true);
    expect(fixture.cases.some((c) => c.expected.snips === null && c.qhat !== null)).toBe(true);
    expect(fixture.cases.some((c) => c.qhat === null)).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`case ${c.name}`, () => {
      const input = caseInput(c);
      const weights = c.weights === null ? undefined : Float64Array.from(c.weights);
      for (const name of names) {
        const expected = c.expected[name];
        if (expected === null || expected === undefined) {
          expect(() => computeMetric(name, input, weights), `${c.name}/${name}`).toThrow(RangeError);
          continue;
        }
        const actual = computeMetric(name, input, weights);
        expect(
          close(actual, expected),
          `${c.name}/${name}: ${actual} vs obp ${expected} (rel tol ${REL_TOL})`,
        ).toBe(true);
        const prepared = prepareMetric(name, input)(weights ?? null);
        expect(close(prepared, actual, 1e-13), `${c.name}/${name} prepared ${prepared} vs ${actual}`).toBe(
          true,
        );
      }
    });
  }
});

describe('bandit metric names and specs', () => {
  it('switch_dr@<tau> parses positive finite tau; plain switch_dr is tau = 100', () => {
    expect(parseSwitchTau('switch_dr')).toBe(100);
    expect(parseSwitchTau('switch_dr@10')).toBe(10);
    expect(parseSwitchTau('switch_dr@2.5')).toBe(2.5);
    expect(parseSwitchTau('switch_dr@1e3')).toBe(1000);
    for (const bad of [
      'switch_dr@0',
      'switch_dr@-1',
      'switch_dr@inf',
      'switch_dr@',
      'switch_dr@x',
      'switch_dr@1e999',
    ]) {
      expect(parseSwitchTau(bad), bad).toBeNull();
      expect(() => metricSpec(bad, 'bandit'), bad).toThrow(/unknown metric .*switch_dr@tau/);
    }
    expect(() => metricSpec('ipw', 'bandit')).toThrow(/valid metrics: ips, snips, dm, dr, sndr/);
  });

  it('every bandit metric maximizes and reads the policy', () => {
    for (const name of [...LISTED, 'switch_dr@7']) {
      const s = metricSpec(name, 'bandit');
      expect(s).toMatchObject({ name, task: 'bandit', direction: 'maximize', needsProba: true });
      expect(s.description).toMatch(/obp 0\.4\.1/);
    }
  });

  it('ips, dm, dr and switch_dr are means of per-row terms (paired z-test); snips and sndr are not', () => {
    for (const name of ['ips', 'dm', 'dr', 'switch_dr', 'switch_dr@3'])
      expect(hasPairedZ(name, 'bandit')).toBe(true);
    for (const name of ['snips', 'sndr']) expect(hasPairedZ(name, 'bandit')).toBe(false);
    const a = randomInput(5, 200, 4);
    const b = { ...randomInput(6, 200, 4), y: a.y, action: a.action, pscore: a.pscore };
    const t = pairedZTest('dr', a, b, 0.95);
    expect(t.a).toBeCloseTo(computeMetric('dr', a), 12);
    expect(t.b).toBeCloseTo(computeMetric('dr', b), 12);
  });
});

describe('bandit estimators: properties', () => {
  it('integer weights equal the estimate on the rows repeated by their weights', () => {
    const input = randomInput(11, 60, 5);
    const rng = new Xoshiro128(12);
    const weights = Float64Array.from({ length: 60 }, () => rng.nextInt(4));
    weights[0] = 2;
    const repeated = repeatRows(input, weights) as BanditInput;
    expect(repeated.y.length).toBe(weights.reduce((s, w) => s + w, 0));
    for (const name of [...LISTED, 'switch_dr@1.5']) {
      const weighted = computeMetric(name, input, weights);
      const plain = computeMetric(name, repeated);
      expect(close(weighted, plain, 1e-12), `${name}: ${weighted} vs ${plain}`).toBe(true);
      expect(close(prepareMetric(name, input)(weights), plain, 1e-12), name).toBe(true);
    }
  });

  it('switch_dr with a huge tau equals dr, with a tiny tau equals dm', () => {
    const input = randomInput(21, 300, 6);
    expect(computeMetric('switch_dr@1e300', input)).toBe(computeMetric('dr', input));
    expect(computeMetric('switch_dr@1e-300', input)).toBe(computeMetric('dm', input));
  });

  it('with the logging policy as the candidate under a uniform logger, ips = snips = the mean reward', () => {
    const n = 97;
    const k = 4;
    const rng = new Xoshiro128(3);
    const y = Float64Array.from({ length: n }, () => (rng.nextFloat() < 0.37 ? 1 : 0));
    const input: BanditInput = {
      task: 'bandit',
      k,
      y,
      action: Int32Array.from({ length: n }, () => rng.nextInt(k)),
      pscore: new Float64Array(n).fill(1 / k),
      policy: new Float64Array(n * k).fill(1 / k),
    };
    const mean = y.reduce((s, v) => s + v, 0) / n;
    expect(computeMetric('ips', input)).toBe(mean);
    expect(computeMetric('snips', input)).toBe(mean);
  });

  it('snips and sndr are undefined when the policy never takes a logged action', () => {
    const input = randomInput(31, 10, 3);
    const policy = new Float64Array(30);
    for (let i = 0; i < 10; i++) policy[i * 3 + ((input.action[i]! + 1) % 3)] = 1;
    const miss = { ...input, policy };
    expect(computeMetric('ips', miss)).toBe(0);
    expect(() => computeMetric('snips', miss)).toThrow(
      /snips is undefined: .*probability 0 to every logged action/,
    );
    expect(() => computeMetric('sndr', miss)).toThrow(/sndr is undefined/);
  });
});

describe('bandit validation', () => {
  const base = (): BanditInput => randomInput(41, 10, 3);
  const err =
    (input: BanditInput, name = 'dr') =>
    () =>
      computeMetric(name, input);

  it('lengths and k', () => {
    const b = base();
    expect(err({ ...b, action: b.action.subarray(0, 9) })).toThrow(/y has 10 rows but action has 9/);
    expect(err({ ...b, pscore: b.pscore.subarray(0, 9) })).toThrow(/y has 10 rows but pscore has 9/);
    expect(err({ ...b, policy: b.policy.subarray(0, 29) })).toThrow(
      /policy has 29 values, expected n\*k = 10\*3 = 30/,
    );
    expect(err({ ...b, qhat: b.qhat!.subarray(0, 27) })).toThrow(/qhat has 27 values, expected n\*k/);
    expect(err({ ...b, k: 1, policy: new Float64Array(10).fill(1) })).toThrow(/k must be an integer >= 2/);
    expect(
      err({
        ...b,
        y: new Float64Array(0),
        action: new Int32Array(0),
        pscore: new Float64Array(0),
        policy: new Float64Array(0),
        qhat: new Float64Array(0),
      }),
    ).toThrow(/no rows/);
  });

  it('actions, propensities and rewards, naming the first bad row', () => {
    const b = base();
    const action = b.action.slice();
    action[4] = 3;
    action[6] = -1;
    expect(err({ ...b, action })).toThrow(/action\[4\] = 3 is not an action index in \[0, 3\)/);
    for (const bad of [-0.1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const pscore = b.pscore.slice();
      pscore[7] = bad;
      expect(err({ ...b, pscore }), String(bad)).toThrow(
        new RegExp(`pscore\\[7\\] = ${bad}: a logging propensity must be in \\(0, 1\\]`),
      );
    }
    const y = b.y.slice();
    y[2] = Number.NaN;
    expect(err({ ...b, y }, 'ips')).toThrow(/ips: y\[2\] = NaN: a logged reward must be finite/);
  });

  it('the policy: finite, >= 0, rows summing to 1', () => {
    const b = base();
    const negative = b.policy.slice();
    negative[5] = -0.2;
    expect(err({ ...b, policy: negative })).toThrow(
      /policy\[5\] \(row 1, action 2\) = -0.2: the policy's probabilities must be finite and >= 0/,
    );
    const nan = b.policy.slice();
    nan[9] = Number.NaN;
    expect(err({ ...b, policy: nan })).toThrow(/policy\[9\] \(row 3, action 0\) = NaN/);
    const short = b.policy.slice();
    short.set([0.5, 0.43, 0], 21);
    expect(err({ ...b, policy: short }, 'ips')).toThrow(
      /the policy's probabilities of row 7 sum to 0\.93, not 1: normalize each row/,
    );
    const within = b.policy.slice();
    within[21]! += 5e-7;
    expect(() => computeMetric('ips', { ...b, policy: within })).not.toThrow();
  });

  it('qhat: finite, and present for the model-based estimators', () => {
    const b = base();
    const { qhat: _, ...noQhat } = b;
    for (const name of ['dm', 'dr', 'sndr', 'switch_dr', 'switch_dr@4']) {
      expect(err(noQhat, name)).toThrow(new RegExp(`${name} needs a reward model \\(qhat\\)`));
    }
    expect(() => computeMetric('ips', noQhat)).not.toThrow();
    expect(() => computeMetric('snips', noQhat)).not.toThrow();
    const qhat = b.qhat!.slice();
    qhat[13] = Number.POSITIVE_INFINITY;
    expect(err({ ...b, qhat })).toThrow(
      /qhat\[13\] \(row 4, action 1\) = Infinity: a reward model's estimate must be finite/,
    );
  });
});

describe('trust diagnostics', () => {
  // k = 3, action 2 never logged. rho = [2, 1, 0, 0.5].
  const small: BanditInput = {
    task: 'bandit',
    k: 3,
    y: Float64Array.of(1, 0, 1, 1),
    action: Int32Array.of(0, 1, 0, 1),
    pscore: Float64Array.of(0.5, 0.5, 0.25, 0.5),
    policy: Float64Array.of(1, 0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5, 0.25, 0.25, 0.5),
  };
  const logged = Uint8Array.of(1, 1, 0);

  it('ess, max weight, unsupported mass, estimates and disagreement by hand', () => {
    const d = banditDiagnostics(small, logged);
    expect(d.n).toBe(4);
    expect(d.ess).toBeCloseTo(3.5 ** 2 / 5.25, 14);
    expect(d.essFraction).toBeCloseTo(3.5 ** 2 / 5.25 / 4, 14);
    expect(d.maxWeight).toBe(2);
    expect(d.unsupportedMass).toBe(0.25);
    expect(d.estimates).toEqual({ ips: 0.625, snips: 2.5 / 3.5 });
    expect(d.disagreement).toBeCloseTo(0.125, 14);
    expect(banditDiagnostics(small, null).unsupportedMass).toBe(0);

    const withQhat = { ...small, qhat: new Float64Array(12).fill(0.5) };
    const q = banditDiagnostics(withQhat, logged);
    expect(q.estimates.dm).toBe(0.5);
    expect(q.estimates.dr).toBe(0.6875);
    expect(q.disagreement).toBeCloseTo((2.5 / 3.5 - 0.5) / 0.6875, 14);
  });

  it('ess is n for the logging policy and 0 when no logged action has probability', () => {
    const input = randomInput(51, 40, 3, false);
    const policy = new Float64Array(120);
    for (let i = 0; i < 40; i++) policy[i * 3 + input.action[i]!] = 1;
    // policy = one-hot on the logged action with pscore 1: every rho is 1
    const d = banditDiagnostics({ ...input, policy, pscore: new Float64Array(40).fill(1) }, null);
    expect(d.ess).toBe(40);
    expect(d.essFraction).toBe(1);
    const miss = new Float64Array(120);
    for (let i = 0; i < 40; i++) miss[i * 3 + ((input.action[i]! + 1) % 3)] = 1;
    const z = banditDiagnostics({ ...input, policy: miss }, null);
    expect(z.ess).toBe(0);
    expect(z.maxWeight).toBe(0);
    expect(z.estimates).toEqual({ ips: 0 });
  });

  it('logged must flag every logged action', () => {
    expect(() => banditDiagnostics(small, Uint8Array.of(1, 0, 1))).toThrow(
      /logged\[1\] = 0 but action 1 is logged at row 1/,
    );
    expect(() => banditDiagnostics(small, Uint8Array.of(1, 1))).toThrow(/k = 3 flags/);
  });

  it('trustFindings: one sentence per broken threshold', () => {
    const d = banditDiagnostics(small, logged);
    const found = trustFindings(d, DEFAULT_TRUST);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /puts 25% of its probability on actions never logged.*max_unsupported 5%.*cannot decide a keep/,
    );
    const strict = trustFindings(d, {
      min_ess_fraction: 0.9,
      max_weight: 1.5,
      max_unsupported: 0.5,
      max_disagreement: 0.1,
    });
    expect(strict).toHaveLength(3);
    expect(strict[0]).toMatch(
      /^effective sample size 2.33 \(58.3% of 4 rows\) is below the trust threshold min_ess_fraction 90%/,
    );
    expect(strict[1]).toMatch(/largest importance weight 2 exceeds the trust threshold max_weight 1.5/);
    expect(strict[2]).toMatch(
      /estimators disagree \(ips 0.625, snips 0.714\): their spread is 12.5% of the snips estimate/,
    );
    expect(trustFindings(d, { ...DEFAULT_TRUST, max_unsupported: 0.25 })).toEqual([]);
    expect(() => trustFindings(d, { ...DEFAULT_TRUST, max_weight: Number.NaN })).toThrow(/max_weight/);
  });

  it('the documented example sentence', () => {
    const [s] = trustFindings(
      {
        n: 10000,
        ess: 41,
        essFraction: 0.0041,
        maxWeight: 1,
        unsupportedMass: 0,
        estimates: { ips: 1 },
        disagreement: 0,
      },
      DEFAULT_TRUST,
    );
    expect(s).toBe(
      'effective sample size 41 (0.41% of 10000 rows) is below the trust threshold min_ess_fraction 1%: the ' +
        "candidate's policy moves far from the logging policy; its estimate cannot decide a keep",
    );
  });
});

describe('bootstraps on bandit inputs', () => {
  const a = randomInput(61, 400, 5);
  const other = randomInput(62, 400, 5);
  const b: BanditInput = { ...a, policy: other.policy };
  const opts = { resamples: 300, confidence: 0.9, seed: 7 };

  it('the paired bootstrap runs on two policies over the same logs', () => {
    for (const name of ['ips', 'snips', 'dr', 'sndr', 'switch_dr@5']) {
      const r = pairedBootstrapPrepared(
        name,
        'maximize',
        400,
        prepareMetric(name, a),
        prepareMetric(name, b),
        opts,
      );
      expect(r.delta).toBeCloseTo(computeMetric(name, b) - computeMetric(name, a), 12);
      expect(r.low).toBeLessThanOrEqual(r.high);
      expect(r.resamples).toBe(300);
      const same = pairedBootstrapPrepared(
        name,
        'maximize',
        400,
        prepareMetric(name, a),
        prepareMetric(name, a),
        opts,
      );
      expect(same.delta).toBe(0);
      expect(same.probImprovement).toBe(0);
      // the named entry point draws the same resamples
      expect(pairedBootstrap(name, a, b, opts)).toEqual(r);
    }
  });

  it('the paired bootstrap refuses different logs', () => {
    const action = a.action.slice();
    action[9] = (action[9]! + 1) % 5;
    expect(() => pairedBootstrap('ips', a, { ...b, action }, opts)).toThrow(
      /same logs; action differs at row 9/,
    );
    const pscore = a.pscore.slice();
    pscore[3] = 0.5;
    expect(() => pairedBootstrap('ips', a, { ...b, pscore }, opts)).toThrow(/pscore differs at row 3/);
  });

  it('bootstrapInterval: a seeded percentile interval around the estimate', () => {
    const dr = prepareMetric('dr', a);
    const est = dr(null);
    const i1 = bootstrapInterval(dr, 400, opts);
    expect(i1.low).toBeLessThan(est);
    expect(i1.high).toBeGreaterThan(est);
    expect(bootstrapInterval(dr, 400, opts)).toEqual(i1);
    const wide = bootstrapInterval(dr, 400, { ...opts, confidence: 0.99 });
    expect(wide.low).toBeLessThanOrEqual(i1.low);
    expect(wide.high).toBeGreaterThanOrEqual(i1.high);
    expect(bootstrapInterval(() => 3, 10, opts)).toEqual({ low: 3, high: 3 });
    expect(() => bootstrapInterval(dr, 0, opts)).toThrow(/units must be an integer >= 1/);
    expect(() => bootstrapInterval(dr, 400, { ...opts, confidence: 1 })).toThrow(
      /bootstrapInterval: confidence/,
    );
  });

  it('bootstrapInterval redraws resamples where the estimate is undefined', () => {
    // one row carries all the importance weight: resamples without it make snips undefined
    const n = 4;
    const input: BanditInput = {
      task: 'bandit',
      k: 2,
      y: Float64Array.of(1, 0, 1, 0),
      action: Int32Array.of(0, 1, 1, 1),
      pscore: new Float64Array(n).fill(0.5),
      policy: Float64Array.of(1, 0, 1, 0, 1, 0, 1, 0),
    };
    const r = bootstrapInterval(prepareMetric('snips', input), n, {
      resamples: 50,
      confidence: 0.9,
      seed: 1,
    });
    expect(r).toEqual({ low: 1, high: 1 });
  });
});

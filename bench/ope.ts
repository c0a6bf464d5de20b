/**
 * Off-policy accuracy on real logs: how close Ratchet's estimators come to a policy's true value.
 *
 * The Open Bandit Dataset logged two policies at once on the same platform: uniform random (the open-bandit
 * example's logs) and Bernoulli Thompson Sampling (BTS), whose own logs give its click rate on-policy (the truth,
 * examples/open-bandit/bts_truth.json). The bench makes a project from the example exactly as `ratchet init
 * --example open-bandit` does (split, vault, Ratchet's reward model), writes BTS's action distribution as a policy
 * file (examples/open-bandit/bts_policy.py, obp's Monte Carlo of its Beta prior), aligns it with the holdouts' logs
 * through the evaluator, and prints each estimator's estimate, its 95% bootstrap interval and its relative error
 * |estimate − truth| / truth on the public holdout, the private holdout and both pooled. obp's own published
 * figures on the same sample (its README's quickstart: relative errors of about 0.22 for DM, 1.16 for IPW and 0.99
 * for DR, with the whole 10,000-row log and a cross-fitted reward model) are printed beside them for comparison.
 *
 * Run: `npm run bench -- ope`, or `node dist/bench/ope.js` after `npm run build`. Takes about 20 s.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyExample, initProject } from '../src/contract/init.js';
import { openDuck, readRows } from '../src/data/duck.js';
import { readManifest } from '../src/data/ingest.js';
import { alignPredictions } from '../src/evaluator/predictions.js';
import {
  type BanditInput,
  banditDiagnostics,
  bootstrapInterval,
  computeMetric,
  DEFAULT_TRUST,
  prepareMetric,
  trustFindings,
} from '../src/metrics/index.js';
import { resolvePython } from '../src/sandbox/python.js';
import { alignReport } from '../src/tiers/align.js';
import { packageDir } from '../src/util/paths.js';

/** The estimators compared (the example's contract: dr decides, the others are reported). */
export const OPE_ESTIMATORS = ['ips', 'snips', 'dm', 'dr', 'sndr', 'switch_dr'] as const;

/** obp's published relative errors on the same sample (README quickstart), for comparison. */
const OBP_PUBLISHED: Record<string, number> = { dm: 0.22, ips: 1.16, dr: 0.99 };

/** One estimator on one set of rows. */
export interface OpeRow {
  rows: string;
  n: number;
  estimator: string;
  estimate: number;
  low: number;
  high: number;
  truth: number;
  relativeError: number;
}

/** Rows i of a bandit input, concatenated with another's (same actions). */
function concat(a: BanditInput, b: BanditInput): BanditInput {
  const cat = <T extends Float64Array | Int32Array>(x: T, y: T): T => {
    const out = new (x.constructor as new (n: number) => T)(x.length + y.length);
    out.set(x, 0);
    out.set(y, x.length);
    return out;
  };
  return {
    task: 'bandit',
    k: a.k,
    y: cat(a.y, b.y),
    action: cat(a.action, b.action),
    pscore: cat(a.pscore, b.pscore),
    policy: cat(a.policy, b.policy),
    ...(a.qhat && b.qhat ? { qhat: cat(a.qhat, b.qhat) } : {}),
  };
}

/**
 * Measure every estimator's error against BTS's on-policy click rate.
 * @returns the table's rows (also printed)
 */
export async function benchOpe(): Promise<OpeRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-ope-'));
  try {
    copyExample('open-bandit', dir);
    await initProject(dir);
    const manifest = readManifest(dir);
    const truth = (JSON.parse(readFileSync(join(dir, 'bts_truth.json'), 'utf8')) as { click_rate: number })
      .click_rate;
    const py = await resolvePython({ projectDir: dir, installDir: packageDir() });
    const out = join(dir, 'bts-output');
    execFileSync(py.executable, ['bts_policy.py'], {
      cwd: dir,
      env: { ...process.env, RATCHET_OUTPUT: out },
    });
    const inputs: Record<string, BanditInput> = {};
    for (const split of ['public', 'private'] as const) {
      const a = await alignPredictions({
        predictionsPath: join(out, `${split}.parquet`),
        labelsPath: join(dir, '.ratchet', 'vault', `${split}.parquet`),
        manifest,
      });
      if (!a.ok || a.input.task !== 'bandit')
        throw new Error(`the BTS policy file was refused: ${a.ok ? 'not bandit' : a.reason}`);
      inputs[split] = a.input;
    }
    inputs['pooled'] = concat(inputs['public']!, inputs['private']!);
    const rows: OpeRow[] = [];
    console.log(
      '\n## ope: off-policy estimates of the BTS policy from the uniform-random logs (Open Bandit Dataset, campaign all)',
    );
    console.log(`on-policy truth: BTS's click rate in its own logs = ${truth} (bts_truth.json)`);
    console.log('rows      n     estimator  estimate   95% interval            rel. error  obp published');
    for (const [name, input] of Object.entries(inputs)) {
      for (const est of OPE_ESTIMATORS) {
        const estimate = computeMetric(est, input);
        const { low, high } = bootstrapInterval(prepareMetric(est, input), input.y.length, {
          resamples: 1000,
          confidence: 0.95,
          seed: 7,
        });
        const relativeError = Math.abs(estimate - truth) / truth;
        rows.push({
          rows: name,
          n: input.y.length,
          estimator: est,
          estimate,
          low,
          high,
          truth,
          relativeError,
        });
        console.log(
          `${name.padEnd(8)}  ${String(input.y.length).padEnd(5)} ${est.padEnd(10)} ${estimate.toFixed(5)}    [${low.toFixed(5)}, ${high.toFixed(5)}]    ${relativeError.toFixed(3).padStart(6)}      ${OBP_PUBLISHED[est]?.toFixed(2) ?? ''}`,
        );
      }
    }
    const logged = inputs['pooled']!;
    let mean = 0;
    for (let i = 0; i < logged.y.length; i++) mean += logged.y[i]!;
    console.log(
      `the logging (random) policy's own click rate on these rows: ${(mean / logged.y.length).toFixed(5)}; BTS's truth is ${((truth / (mean / logged.y.length) - 1) * 100).toFixed(0)}% above it`,
    );
    await benchOpeAlignment(dir, py.executable);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One offline–online pair of the real-data alignment. */
export interface RealPair {
  campaign: string;
  /** Whose logs the offline estimate comes from. */
  logs: 'random' | 'bts';
  /** Estimated BTS − random click rate (SNIPS for the policy not logged, the logged mean for the other). */
  offline: number;
  /** Observed BTS − random click rate in the two policies' own logs (the A/B test), with its Welch interval. */
  online: number;
  onlineLow: number;
  onlineHigh: number;
  /** Trust findings of the off-policy estimate (default thresholds). */
  untrusted: string[];
}

/**
 * Real offline–online pairs (ZOZOTOWN ran both policies at once, an A/B test, in 3 campaigns): for each campaign and
 * each policy's logs, the offline delta a team would have predicted before shipping BTS instead of random (the other
 * policy estimated off-policy with SNIPS, minus the logging policy's own mean) against the online delta both logs
 * show, and their alignment by the same code as `ratchet align`. Two pairs per campaign share the online truth, so
 * the six are not independent: the verdict is illustrative, not a test of the metric.
 */
async function benchOpeAlignment(dir: string, python: string): Promise<RealPair[]> {
  const duck = await openDuck();
  const pairs: RealPair[] = [];
  try {
    const truth = JSON.parse(readFileSync(join(dir, 'bts_truth.json'), 'utf8')) as {
      campaigns: Record<string, { n_actions: number }>;
    };
    for (const campaign of ['all', 'men', 'women']) {
      const k = truth.campaigns[campaign]!.n_actions;
      const dist = JSON.parse(
        execFileSync(python, ['bts_policy.py', '--campaign', campaign, '--dist-json'], {
          cwd: dir,
        }).toString(),
      ) as number[][];
      const logs: Record<string, { item: number[]; pos: number[]; click: number[]; p: number[] }> = {};
      for (const policy of ['random', 'bts']) {
        const rows = await readRows(
          duck.con,
          `SELECT item_id, position, click, propensity_score FROM read_parquet('${join(dir, 'campaigns.parquet')}') WHERE policy = '${policy}' AND campaign = '${campaign}'`,
        );
        logs[policy] = {
          item: rows.map((r) => Number(r['item_id'])),
          pos: rows.map((r) => Number(r['position'])),
          click: rows.map((r) => Number(r['click'])),
          p: rows.map((r) => Number(r['propensity_score'])),
        };
      }
      const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
      const variance = (x: number[]) => {
        const m = mean(x);
        return x.reduce((a, b) => a + (b - m) ** 2, 0) / (x.length - 1);
      };
      const r = logs['random']!;
      const b = logs['bts']!;
      const online = mean(b.click) - mean(r.click);
      const se = Math.sqrt(variance(b.click) / b.click.length + variance(r.click) / r.click.length);
      for (const from of ['random', 'bts'] as const) {
        const l = logs[from]!;
        const n = l.item.length;
        const policy = new Float64Array(n * k);
        for (let i = 0; i < n; i++)
          for (let a = 0; a < k; a++)
            policy[i * k + a] = from === 'random' ? dist[a]![l.pos[i]! - 1]! : 1 / k;
        // Monte Carlo rows may sum to 1 ± 1e-12: normalize exactly.
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let a = 0; a < k; a++) s += policy[i * k + a]!;
          for (let a = 0; a < k; a++) policy[i * k + a]! /= s;
        }
        const input: BanditInput = {
          task: 'bandit',
          k,
          y: Float64Array.from(l.click),
          action: Int32Array.from(l.item),
          pscore: Float64Array.from(l.p),
          policy,
        };
        const other = computeMetric('snips', input);
        const offline = from === 'random' ? other - mean(l.click) : mean(l.click) - other;
        const logged = new Uint8Array(k);
        for (const a of l.item) logged[a] = 1;
        const untrusted = trustFindings(banditDiagnostics(input, logged), DEFAULT_TRUST);
        pairs.push({
          campaign,
          logs: from,
          offline,
          online,
          onlineLow: online - 1.96 * se,
          onlineHigh: online + 1.96 * se,
          untrusted,
        });
      }
    }
  } finally {
    duck.close();
  }
  console.log(
    '\n## ope: real offline–online pairs (Open Bandit Dataset: random vs BTS, an A/B test run in 3 campaigns)',
  );
  console.log('campaign  logs    offline Δ (est.)  online Δ [95% CI]              trusted');
  for (const p of pairs)
    console.log(
      `${p.campaign.padEnd(8)}  ${p.logs.padEnd(6)}  ${p.offline.toFixed(5).padStart(9)}         ${p.online.toFixed(5)} [${p.onlineLow.toFixed(5)}, ${p.onlineHigh.toFixed(5)}]   ${p.untrusted.length ? `no: ${p.untrusted[0]!.split(':')[0]}` : 'yes'}`,
    );
  const report = alignReport(
    pairs.map((p, i) => ({
      testId: `${p.campaign}/${p.logs}`,
      experimentId: i,
      commitSha: null,
      offline: p.offline,
      online: p.online,
      onlineLow: p.onlineLow,
      onlineHigh: p.onlineHigh,
      parts: {},
    })),
    { resamples: 2000, seed: 1 },
  );
  console.log(
    `alignment (ratchet align's code; the 6 pairs share 3 online truths, so read it as an illustration): ${report.verdict}`,
  );
  return pairs;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchOpe();

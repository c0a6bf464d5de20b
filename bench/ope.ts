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
import { readManifest } from '../src/data/ingest.js';
import { alignPredictions } from '../src/evaluator/predictions.js';
import { type BanditInput, bootstrapInterval, computeMetric, prepareMetric } from '../src/metrics/index.js';
import { resolvePython } from '../src/sandbox/python.js';
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
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchOpe();

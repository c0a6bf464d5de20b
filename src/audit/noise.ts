import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, removeWorktree, revParse } from '../git/git.js';
import { Journal } from '../journal/store.js';
import { sampleSd } from '../loop/baseline.js';
import { LocalExecutor } from '../loop/executor.js';
import { confirmKeep, decideKeep, type KeepRule, type KeepTest } from '../loop/keep.js';
import { WORKTREES_DIR } from '../loop/paths.js';
import { preflight } from '../loop/preflight.js';
import { runOverSeeds } from '../loop/seeds.js';
import { computeMetric, type MetricInput, Xoshiro128 } from '../metrics/index.js';
import { bestKept } from '../tiers/submit.js';
import { RatchetError } from '../util/errors.js';

/** Seed offset of the audit's pool runs (distinct from check's and confirmation runs' seeds). */
export const AUDIT_SEED_OFFSET = 2000;

/** Options of {@link auditNoise}. */
export interface AuditOptions {
  projectDir: string;
  /** Seeds the audited code is trained with (the pool the trials draw from; ≥ 2 + 2·(1 + confirm_runs)). */
  pool?: number;
  /** Trials per kind (no-op and planted). */
  trials?: number;
  /** Size of the planted improvement, in units of the run-to-run σ. */
  effect?: number;
  /** Git revision to audit (default: the best kept commit of the latest run, else HEAD). */
  ref?: string;
  unsafeNoSandbox?: boolean;
  /** Seed of the trial sampling. */
  seed?: number;
  onProgress?: (message: string) => void;
}

/** A rule's figures over the trials, with 95% Wilson intervals. */
export interface RuleFigures {
  /** Share of no-op changes (only the seed differs) the rule kept. */
  false_keep_rate: number;
  /** Share of planted true improvements the rule kept. */
  power: number;
  false_keep_ci: [number, number];
  power_ci: [number, number];
  /**
   * Ratchet's rule only: which stage turned down the planted improvements it missed ('bootstrap' counts
   * stage 2 whatever its test: DeLong, the paired z-test or the bootstrap; see `tests`).
   */
  missed_by?: { min_delta_or_noise: number; bootstrap: number; confirmation: number };
  /**
   * Ratchet's rule only: how many decisions (no-op and planted) each significance test decided —
   * stage 2 of decideKeep and, with confirmation runs, the test of the means in confirmKeep.
   */
  tests?: Record<KeepTest, number>;
}

/** Result of {@link auditNoise} (`ratchet audit noise --json`). */
export interface AuditResult {
  ratchet: RuleFigures;
  naive: RuleFigures;
  metric: string;
  direction: 'maximize' | 'minimize';
  ref: string;
  /** Pool runs' public scores. */
  pool_scores: number[];
  /** Run-to-run standard deviation of the public score over the pool. */
  sigma: number;
  /** Planted improvement, in σ units and in metric units (mean over the pool). */
  effect_sigma: number;
  planted_gain: number;
  /** Blend weight δ of the planted improvement (prediction + δ·(label − prediction)). */
  planted_delta: number;
  trials: number;
  /** The keep rule as configured by the contract. */
  rule: { min_delta: number; confidence: number; noise_z: number; confirm_runs: number };
  seconds: number;
}

/**
 * 95% Wilson score interval of a proportion (Wilson 1927, JASA 22:209).
 * @returns [low, high] in [0, 1]
 */
export function wilson(successes: number, n: number, z = 1.959963984540054): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

/**
 * A planted improvement of known size: every prediction moves a share δ of the way to the truth
 * (p + δ·(y − p) for probabilities and values; for multiclass the probabilities blend with the one-hot
 * label and the predicted class is re-derived). It improves every proper metric monotonically in δ.
 */
export function plant(input: MetricInput, delta: number): MetricInput {
  switch (input.task) {
    case 'binary':
      return { task: 'binary', y: input.y, p: input.p.map((p, i) => p + delta * (input.y[i]! - p)) };
    case 'regression':
      return { task: 'regression', y: input.y, p: input.p.map((p, i) => p + delta * (input.y[i]! - p)) };
    case 'multiclass': {
      const { k, y } = input;
      const n = y.length;
      const proba = new Float64Array(n * k);
      const pred = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let j = 0; j < k; j++) {
          const base = input.proba ? input.proba[i * k + j]! : input.pred[i] === j ? 1 : 0;
          const v = base + delta * ((y[i] === j ? 1 : 0) - base);
          proba[i * k + j] = v;
          if (v > proba[i * k + best]!) best = j;
        }
        pred[i] = best;
      }
      return { task: 'multiclass', k, y, pred, proba };
    }
    default:
      throw new Error(`cannot plant an improvement for task ${(input as MetricInput).task}`);
  }
}

/** Draw `m` distinct indices out of `n` (partial Fisher–Yates). */
function draw(rng: Xoshiro128, n: number, m: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng.nextFloat() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, m);
}

/**
 * `ratchet audit noise`: measure the keep rule's false-keep rate and power on the project's own code.
 *
 * Trains the audited revision with `pool` seeds in the sandbox and scores each run on the public holdout.
 * Then, over `trials` resampled trials each: a **no-op change** pits runs of the same code with different
 * seeds against each other (the "seed 42→137" change a naive ratchet keeps); a **planted improvement**
 * applies {@link plant} to the candidate's runs, sized so the mean gain is `effect`·σ. Each trial is
 * decided by Ratchet's keep rule (min delta + paired bootstrap + seed-noise confirmation, with the
 * contract's settings and the pool's σ) and by the naive rule "keep if the score is strictly better".
 * Pool runs are reused across trials, so trials are not independent; the intervals are per-trial Wilson.
 * @throws RatchetError when a pool run fails
 */
export async function auditNoise(opts: AuditOptions): Promise<AuditResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const unsafe = opts.unsafeNoSandbox ?? false;
  // The noise audit runs on this machine whatever the contract's executor (its GPUs must be here).
  const ready = await preflight(opts.projectDir, { unsafe, executor: 'local' });
  const { contract, manifest, python } = ready;
  const trials = opts.trials ?? 600;
  const effect = opts.effect ?? 2;
  const confirmRuns = contract.keep.confirm_runs;
  const per = 1 + confirmRuns;
  const poolSize = Math.max(opts.pool ?? 20, 2 * per + 2);
  let ref = opts.ref;
  if (!ref) {
    const journal = Journal.open(opts.projectDir);
    try {
      const run = journal.getRun();
      ref = (run && bestKept(journal.listExperiments(run.id))?.commitSha) || ready.head;
    } finally {
      journal.close();
    }
  }
  const sha = await revParse(opts.projectDir, ref);
  const stamp = `audit-${Date.now()}-${process.pid}`;
  const worktree = join(opts.projectDir, WORKTREES_DIR, stamp);
  mkdirSync(join(opts.projectDir, WORKTREES_DIR), { recursive: true });
  await git(opts.projectDir, ['worktree', 'add', '-q', '--detach', worktree, sha]);
  const pool: { score: number; input: MetricInput }[] = [];
  try {
    const done = await runOverSeeds({
      executor: new LocalExecutor(python, unsafe),
      contract,
      manifest,
      worktree,
      seeds: Array.from({ length: poolSize }, (_, i) => contract.split.seed + AUDIT_SEED_OFFSET + i),
      runDir: (i) => join(opts.projectDir, '.ratchet', 'audits', stamp, String(i + 1)),
      timeoutMs: contract.limits.experimentTimeoutMs,
      binDir: python.binDir,
      onRun: (r) => {
        const ev = r.evaluation;
        if (!ev.input) {
          throw new RatchetError(
            'the noise audit needs per-row predictions; a custom evaluator reports only numbers',
            { field: 'evaluator' },
          );
        }
        pool.push({ score: ev.score, input: ev.input });
        say(
          `pool run ${r.index + 1}/${poolSize}: ${contract.metric.primary} ${ev.score.toFixed(6)} (seed ${r.seed})`,
        );
      },
    });
    const f = done.failure;
    if (f?.step === 'execute')
      throw new RatchetError(`audit run ${f.index + 1} (seed ${f.seed}) did not finish: ${f.message}`, {
        hint: `see ${f.runDir}`,
      });
    if (f)
      throw new RatchetError(`audit run ${f.index + 1} wrote invalid predictions: ${f.message}`, {
        hint: `see ${f.runDir}`,
      });
  } finally {
    await removeWorktree(opts.projectDir, worktree);
    rmSync(worktree, { recursive: true, force: true });
  }
  const metric = contract.metric.primary;
  const sign = contract.direction === 'maximize' ? 1 : -1;
  const scores = pool.map((p) => p.score);
  const sigma = sampleSd(scores);
  // Planted gain: effect·σ; with no measurable noise, twice the minimum delta (so both rules can see it).
  const target = sigma > 0 ? effect * sigma : 2 * Math.max(contract.keep.min_delta, 1e-4);
  const meanGain = (delta: number) =>
    pool.reduce((a, p) => a + sign * (computeMetric(metric, plant(p.input, delta)) - p.score), 0) /
    pool.length;
  let lo = 0;
  let hi = 1;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (meanGain(mid) < target) lo = mid;
    else hi = mid;
  }
  const delta = hi;
  const planted = pool.map((p) => {
    const input = plant(p.input, delta);
    return { input, score: computeMetric(metric, input) };
  });
  say(
    `σ ${sigma.toExponential(3)} over ${poolSize} seeds; planted gain ${target.toExponential(3)} (δ ${delta.toExponential(3)})`,
  );
  const rule: KeepRule = {
    metric,
    direction: contract.direction,
    minDelta: contract.keep.min_delta,
    confidence: contract.keep.confidence,
    resamples: contract.keep.resamples,
    test: contract.keep.test,
    noiseSd: sigma,
    noiseZ: contract.keep.noise_z,
    confirmRuns,
    confirmSeeds: 'varied',
    seed: contract.split.seed,
  };
  const rng = new Xoshiro128(opts.seed ?? contract.split.seed);
  const counts = { ratchet: { noop: 0, planted: 0 }, naive: { noop: 0, planted: 0 } };
  const missed = { min_delta_or_noise: 0, bootstrap: 0, confirmation: 0 };
  const tests: Record<KeepTest, number> = { delong: 0, 'paired-z': 0, bootstrap: 0, none: 0 };
  for (let t = 0; t < trials; t++) {
    const idx = draw(rng, poolSize, 2 * per);
    const best = idx.slice(0, per).map((i) => pool[i]!);
    const bestRuns = { scores: best.map((b) => b.score), inputs: best.map((b) => b.input) };
    for (const kind of ['noop', 'planted'] as const) {
      const cand = idx.slice(per).map((i) => (kind === 'noop' ? pool[i]! : planted[i]!));
      const v = decideKeep(
        { ...rule, seed: rule.seed + t },
        { score: best[0]!.score, input: best[0]!.input, runs: bestRuns },
        cand[0]!,
      );
      let keep = v.keep;
      let confirmFailed = false;
      let test = v.test;
      if (keep && v.needsConfirmation) {
        const c = confirmKeep(rule, bestRuns, {
          scores: cand.map((c) => c.score),
          inputs: cand.map((c) => c.input),
        });
        keep = c.keep;
        test = c.test;
        confirmFailed = !keep;
      }
      tests[test]++;
      if (keep) counts.ratchet[kind]++;
      else if (kind === 'planted') {
        if (confirmFailed) missed.confirmation++;
        else if (v.probImprovement === null) missed.min_delta_or_noise++;
        else missed.bootstrap++;
      }
      if (sign * (cand[0]!.score - best[0]!.score) > 0) counts.naive[kind]++;
    }
    if ((t + 1) % 50 === 0) say(`trials ${t + 1}/${trials}`);
  }
  const figures = (c: { noop: number; planted: number }): RuleFigures => ({
    false_keep_rate: c.noop / trials,
    power: c.planted / trials,
    false_keep_ci: wilson(c.noop, trials),
    power_ci: wilson(c.planted, trials),
  });
  const result: AuditResult = {
    ratchet: { ...figures(counts.ratchet), missed_by: missed, tests },
    naive: figures(counts.naive),
    metric,
    direction: contract.direction,
    ref: sha,
    pool_scores: scores,
    sigma,
    effect_sigma: sigma > 0 ? effect : 0,
    planted_gain: target,
    planted_delta: delta,
    trials,
    rule: {
      min_delta: contract.keep.min_delta,
      confidence: contract.keep.confidence,
      noise_z: contract.keep.noise_z,
      confirm_runs: confirmRuns,
    },
    seconds: (Date.now() - t0) / 1000,
  };
  const journal = Journal.open(opts.projectDir);
  try {
    journal.addEvent({
      ts: new Date().toISOString(),
      runId: null,
      experimentId: null,
      kind: 'audit.noise',
      severity: 'info',
      guardrail: null,
      message: `false keeps ${(result.ratchet.false_keep_rate * 100).toFixed(1)}% (naive ${(result.naive.false_keep_rate * 100).toFixed(1)}%), power ${(result.ratchet.power * 100).toFixed(1)}% (naive ${(result.naive.power * 100).toFixed(1)}%) at ${effect}σ`,
      data: result as unknown as Record<string, unknown>,
    });
  } finally {
    journal.close();
  }
  return result;
}

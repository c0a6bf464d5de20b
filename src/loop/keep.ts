import { pairedBootstrapInWorker } from '../metrics/bootstrap_worker.js';
import {
  delongMeanTest,
  delongTest,
  hasPairedZ,
  keepSplitFor,
  type MetricInput,
  type PairedBootstrapOptions,
  type PairedBootstrapResult,
  type PairedTestResult,
  pairedBootstrap,
  pairedBootstrapPrepared,
  pairedZMeanTest,
  pairedZTest,
  prepareDelong,
  prepareMetric,
  type WeightedMetric,
  weightLength,
} from '../metrics/index.js';
import type { Direction } from '../proposers/types.js';
import { collectGarbage } from '../util/gc.js';

export { normalQuantile } from '../metrics/normal.js';

/** Parameters of the keep rule (from the contract's `keep` section and the measured noise). */
export interface KeepRule {
  /** Primary metric name. */
  metric: string;
  direction: Direction;
  /** The gain must exceed this, in metric units (contract keep.min_delta). */
  minDelta: number;
  /** One-sided confidence the bootstrap must give that the gain is above zero (contract keep.confidence). */
  confidence: number;
  /** Paired bootstrap resamples (contract keep.resamples). */
  resamples: number;
  /**
   * Stage 2's test (contract keep.test): 'auto' (default) picks the analytic test when one applies
   * ({@link chooseKeepTest}); 'bootstrap' always runs the paired bootstrap.
   */
  test?: 'auto' | 'bootstrap';
  /** Run-to-run standard deviation of the primary metric (ratchet check, varied seeds by default), or null if unmeasured. */
  noiseSd: number | null;
  /** One-sided normal quantile for the noise test (contract keep.noise_z; default 1.8 ≈ 96.4%). */
  noiseZ: number;
  /**
   * Extra seeds a candidate runs with once it passed the first stages, when noiseSd > 0
   * (contract keep.confirm_runs). 0 = no confirmation: the single-run gain must then clear the noise test.
   */
  confirmRuns: number;
  /**
   * The primary score as a weighted evaluator of one model's predictions, when it is not a plain metric
   * (a composite): the bootstrap then resamples that. Absent: the metric engine's own route for `metric`.
   */
  prepare?: (input: MetricInput) => WeightedMetric;
  /** Confirmation runs re-use the experiment's seed ('same': σ measured nondeterminism) or vary it ('varied'). */
  confirmSeeds?: 'same' | 'varied';
  /** Seed of the bootstrap (deterministic decisions). */
  seed: number;
  /** Where `noiseSd` came from (the measurement's kind and its number of runs), named in every reason. */
  noiseFrom?: NoiseSource | null;
}

/** A noise measurement behind σ: its kind ('same-seed' | 'varied-seed') and how many baseline runs it took. */
export interface NoiseSource {
  kind: string;
  runs: number;
  /** The executor slot class it was measured in, named in the label when runs shared the machine (`:<n>x` with n > 1). */
  slot?: string | null;
}

/** How many jobs ran at once in a slot class (`local:sandbox:2x1` → 2); 1 for an unknown or absent class. */
export function slotConcurrency(slot: string | null | undefined): number {
  const m = slot ? /:(\d+)x\d+$/.exec(slot) : null;
  return m ? Number(m[1]) : 1;
}

/**
 * Which keep rule decides, for the reason line: "rule: noise-aware (σ=6.3e-4 from 3 varied-seed runs)" when
 * σ > 0 was measured, else "rule: min_delta only (...)" saying why (σ unknown, or measured as 0).
 * @param sd the run-to-run standard deviation, or null when unmeasured
 */
export function ruleLabel(sd: number | null, from?: NoiseSource | null): string {
  const shared = slotConcurrency(from?.slot) > 1;
  const over = from
    ? ` from ${from.runs} ${from.kind} run${from.runs === 1 ? '' : 's'}${shared ? ` in slot ${from.slot}` : ''}`
    : '';
  if (sd !== null && sd > 0) return `rule: noise-aware (σ=${sd.toExponential(1)}${over})`;
  if (sd === null || !from || from.runs < 2) return 'rule: min_delta only (σ unknown: run ratchet check)';
  return from.kind === 'same-seed'
    ? `rule: min_delta only (σ=0${over}: deterministic; seed noise not measured, run ratchet check --seeds varied)`
    : `rule: min_delta only (σ=0${over})`;
}

/**
 * The test that decided stage 2 of the keep rule: DeLong's AUROC test, the paired z-test on per-row
 * losses, the paired bootstrap, or none (stage 1 decided, a custom evaluator gave no per-row
 * predictions, or the single run only screened for confirmation over seeds).
 */
export type KeepTest = 'delong' | 'paired-z' | 'bootstrap' | 'none';

/** The keep rule's verdict with its arithmetic, recorded on every decision. */
export interface KeepVerdict {
  keep: boolean;
  /** Gain in the metric's direction: candidate − best for maximize, best − candidate for minimize. */
  gain: number;
  /** The gain had to exceed this: max(minDelta, noiseZ·noiseSd). */
  threshold: number;
  /** Two-sided bootstrap interval of the gain at the contract's confidence (null when not bootstrapped). */
  ciLow: number | null;
  ciHigh: number | null;
  /**
   * Confidence that the candidate is better: the share of bootstrap resamples in which it beat the best,
   * or Φ(z) of DeLong's test / the paired z-test (null when no test ran).
   */
  probImprovement: number | null;
  /** Which test decided stage 2 (see {@link KeepTest}). */
  test: KeepTest;
  /** One sentence with the numbers, e.g. "gain +0.0123 > 0.0010 and P(better) 0.999 ≥ 0.95". */
  reason: string;
  /** True when the candidate passed and must now be confirmed over `confirmRuns` more seeds ({@link confirmKeep}). */
  needsConfirmation: boolean;
}

const fmt = (x: number) => (x >= 0 ? '+' : '') + x.toPrecision(4);

/**
 * Said in every keep-rule reason when a custom evaluator scored the experiment: it reports numbers, not
 * per-row predictions, so stage 2 (the paired bootstrap) cannot run.
 */
export const NO_BOOTSTRAP_NOTE =
  'paired bootstrap skipped: the custom evaluator gives no per-row predictions; decided on the score difference and the noise test only';

/**
 * Decide whether a candidate beats the current best (stages 1 and 2 of the keep rule).
 *
 * Stage 1: the gain must exceed the contract's minimum delta — and, when the run-to-run noise σ was
 * measured but no confirmation runs are configured, also z·σ·√(1 + 1/n_best), the noise of a single-run gain.
 * Stage 2: a paired bootstrap over the public holdout rows (Efron & Tibshirani 1993, ch. 16: both models
 * scored on the same resampled rows) must find the candidate better in at least `confidence` of the
 * resamples, i.e. the one-sided (1 − confidence) lower quantile of the gain is above zero. The bootstrap
 * only runs when stage 1 holds, and stops as soon as its decision is settled.
 * Stage 3 (seed noise, {@link confirmKeep}) follows when `needsConfirmation` is true.
 * With a custom evaluator (no per-row predictions) stage 2 cannot run: every reason then ends with
 * {@link NO_BOOTSTRAP_NOTE}.
 * @param best aligned public predictions of the best kept experiment, and its scores over seeds
 * @param candidate aligned public predictions of the candidate (same rows, same order)
 */
export function decideKeep(
  rule: KeepRule,
  best: { score: number; input: MetricInput | null; runs?: Runs },
  candidate: { score: number; input: MetricInput | null },
  pre?: PairedBootstrapResult,
): KeepVerdict {
  const v = decideKeepStages(rule, best, candidate, pre);
  // A custom evaluator reports numbers, not per-row predictions: there is nothing to resample, and the
  // reason says so whatever the decision. The reason also names the rule that decided.
  const note = best.input && candidate.input ? '' : ` (${NO_BOOTSTRAP_NOTE})`;
  return { ...v, reason: `${v.reason}${note}; ${ruleLabel(rule.noiseSd, rule.noiseFrom)}` };
}

/**
 * {@link decideKeep} with a plain-metric paired bootstrap run in a worker thread
 * ({@link pairedBootstrapInWorker}), so the event loop stays free during a long bootstrap. Same verdict
 * as {@link decideKeep} (same code, same seed); analytic tests and composite bootstraps (whose prepared
 * evaluators are closures, which cannot cross to a worker) run in the calling thread.
 */
export async function decideKeepAsync(
  rule: KeepRule,
  best: { score: number; input: MetricInput | null; runs?: Runs },
  candidate: { score: number; input: MetricInput | null },
): Promise<KeepVerdict> {
  const opts = plainBootstrapPlan(rule, best, candidate);
  if (!opts || !best.input || !candidate.input) return decideKeep(rule, best, candidate);
  const pre = await pairedBootstrapInWorker(rule.metric, best.input, candidate.input, opts);
  return decideKeep(rule, best, candidate, pre);
}

/**
 * True when stage 2 will run a test on this pair in {@link decideKeep}: per-row predictions on both sides, one run
 * decides (no seed-noise confirmation), and the gain passes stage 1 (above the minimum delta and the noise floor).
 */
function testRuns(
  rule: KeepRule,
  best: { score: number; input: MetricInput | null; runs?: Runs },
  candidate: { score: number; input: MetricInput | null },
): boolean {
  if (!best.input || !candidate.input) return false;
  const sign = rule.direction === 'maximize' ? 1 : -1;
  const gain = sign * (candidate.score - best.score);
  const sigma = rule.noiseSd ?? 0;
  if (sigma > 0 && rule.confirmRuns > 0) return false;
  const nBest = best.runs?.scores.length ?? 1;
  const noiseFloor = sigma > 0 ? rule.noiseZ * sigma * Math.sqrt(1 + 1 / nBest) : 0;
  return gain > Math.max(rule.minDelta, noiseFloor);
}

/** The options of the plain-metric bootstrap stage 2 will run, or null when it will not run one. */
function plainBootstrapPlan(
  rule: KeepRule,
  best: { score: number; input: MetricInput | null; runs?: Runs },
  candidate: { score: number; input: MetricInput | null },
): PairedBootstrapOptions | null {
  if (rule.prepare || !testRuns(rule, best, candidate)) return null;
  if (chooseKeepTest(rule, best.input!) !== 'bootstrap') return null;
  return bootstrapOptions(rule);
}

/** The keep rule's bootstrap options: the contract's resamples and confidence, early stop at the confidence. */
function bootstrapOptions(rule: KeepRule): PairedBootstrapOptions {
  return {
    resamples: rule.resamples,
    confidence: rule.confidence,
    seed: rule.seed,
    decideAt: rule.confidence,
  };
}

/** {@link decideKeep} before the custom-evaluator note and the rule's label. */
function decideKeepStages(
  rule: KeepRule,
  best: { score: number; input: MetricInput | null; runs?: Runs },
  candidate: { score: number; input: MetricInput | null },
  pre?: PairedBootstrapResult,
): KeepVerdict {
  const sign = rule.direction === 'maximize' ? 1 : -1;
  const gain = sign * (candidate.score - best.score);
  const sigma = rule.noiseSd ?? 0;
  const nBest = best.runs?.scores.length ?? 1;
  const confirm = sigma > 0 && rule.confirmRuns > 0;
  if (confirm) {
    // With measured seed noise, a single run only screens: any gain earns the confirmation runs, and the
    // minimum delta, the noise test and the bootstrap are all applied to the mean over seeds ({@link confirmKeep}).
    return {
      keep: gain > 0,
      gain,
      threshold: 0,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      test: 'none',
      reason:
        gain > 0
          ? `single-run gain ${fmt(gain)} > 0: confirming over seeds`
          : `gain ${fmt(gain)} is not positive`,
      needsConfirmation: gain > 0,
    };
  }
  const noiseFloor = sigma > 0 ? rule.noiseZ * sigma * Math.sqrt(1 + 1 / nBest) : 0;
  const threshold = Math.max(rule.minDelta, noiseFloor);
  const thresholdText =
    noiseFloor > rule.minDelta
      ? `${threshold.toPrecision(4)} (${rule.noiseZ}·σ·√(1+1/${nBest}) noise)`
      : `${threshold.toPrecision(4)} (min delta)`;
  if (!(gain > threshold)) {
    return {
      keep: false,
      gain,
      threshold,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      test: 'none',
      reason: `gain ${fmt(gain)} does not exceed ${thresholdText}`,
      needsConfirmation: false,
    };
  }
  if (!best.input || !candidate.input) {
    // No per-row predictions (a custom evaluator): decideKeep adds why there is no bootstrap.
    return {
      keep: true,
      gain,
      threshold,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      test: 'none',
      reason: `gain ${fmt(gain)} > ${thresholdText}`,
      needsConfirmation: false,
    };
  }
  const choice = chooseKeepTest(rule, best.input);
  const pct = `${Math.round(rule.confidence * 100)}%`;
  if (choice !== 'bootstrap') {
    const t = analyticTest(choice, rule, best.input, candidate.input);
    // The tests' delta is metric(candidate) − metric(best); turn it into a gain.
    const lo = sign > 0 ? t.low : -t.high;
    const hi = sign > 0 ? t.high : -t.low;
    const keep = t.probImprovement >= rule.confidence;
    const name = choice === 'delong' ? 'DeLong' : `paired z-test on per-row ${lossName(rule.metric)}`;
    const stat = `${name} P(better) ${t.probImprovement.toFixed(3)} ${keep ? '≥' : '<'} ${rule.confidence} (z=${t.z.toFixed(2)}, ${pct} CI ${fmt(lo)}..${fmt(hi)})`;
    return {
      keep,
      gain,
      threshold,
      ciLow: lo,
      ciHigh: hi,
      probImprovement: t.probImprovement,
      test: choice,
      reason: keep
        ? `gain ${fmt(gain)} > ${thresholdText}; ${stat}`
        : `gain ${fmt(gain)} > ${thresholdText} but not significant: ${stat}`,
      needsConfirmation: false,
    };
  }
  const opts = bootstrapOptions(rule);
  const boot = rule.prepare
    ? pairedBootstrapPrepared(
        rule.metric,
        rule.direction,
        weightLength(best.input),
        rule.prepare(best.input),
        rule.prepare(candidate.input),
        opts,
      )
    : (pre ?? pairedBootstrap(rule.metric, best.input, candidate.input, opts));
  // pairedBootstrap's delta is metric(candidate) − metric(best); turn it into a gain.
  const lo = sign > 0 ? boot.low : -boot.high;
  const hi = sign > 0 ? boot.high : -boot.low;
  const keep = boot.probImprovement >= rule.confidence;
  const n = boot.stoppedEarly ? `, settled after ${boot.resamples} resamples` : '';
  const stat = `paired bootstrap (${boot.resamples} resamples) P(better) ${boot.probImprovement.toFixed(3)} ${keep ? '≥' : '<'} ${rule.confidence} (${pct} CI ${fmt(lo)}..${fmt(hi)}${n})`;
  return {
    keep,
    gain,
    threshold,
    ciLow: lo,
    ciHigh: hi,
    probImprovement: boot.probImprovement,
    test: 'bootstrap',
    reason: keep
      ? `gain ${fmt(gain)} > ${thresholdText}; ${stat}`
      : `gain ${fmt(gain)} > ${thresholdText} but not significant: ${stat}`,
    needsConfirmation: false,
  };
}

/** The per-row loss a paired z-test compares, for the reason line (rmse is decided on squared errors). */
function lossName(metric: string): string {
  if (metric === 'rmse') return 'squared error';
  if (metric === 'accuracy') return 'correctness';
  return metric.replace(/_/g, ' ');
}

/**
 * Which test stage 2 of the keep rule runs for a rule and its inputs:
 *  - 'delong' for a plain binary `auroc` (DeLong et al. 1988, {@link delongTest});
 *  - 'paired-z' for a plain metric that is a mean of per-row losses (log_loss, brier, accuracy, rmse,
 *    mae, mape; {@link pairedZTest});
 *  - 'bootstrap' otherwise: a composite or proxy primary (`rule.prepare`, a weighted evaluator),
 *    rank metrics other than binary auroc, f1, ndcg, average precision..., or when the contract forces
 *    it (`keep.test: bootstrap`).
 * @param input one side's predictions (the task decides the test).
 */
export function chooseKeepTest(rule: KeepRule, input: MetricInput): 'delong' | 'paired-z' | 'bootstrap' {
  if (rule.test === 'bootstrap' || rule.prepare) return 'bootstrap';
  if (input.task === 'binary' && rule.metric === 'auroc') return 'delong';
  if (input.task !== 'ranking' && hasPairedZ(rule.metric, input.task)) return 'paired-z';
  return 'bootstrap';
}

/**
 * Prepare what stage 2 of the keep rule needs of a model that just became the best one, so the next candidate's
 * test pays only for its own side: DeLong's sort of its scores (cached per array, see {@link prepareDelong}).
 * Other tests need nothing ahead. Never throws (a problem shows when the test runs).
 * @param input the new best model's aligned public predictions (null with a custom evaluator: nothing to do)
 */
export function prepareBest(rule: KeepRule, input: MetricInput | null): void {
  if (input?.task !== 'binary' || chooseKeepTest(rule, input) !== 'delong') return;
  prepareDelong(input.y, input.p);
  // The sort's dead buffers (about 16 bytes a row) go now, before the run's next large allocation.
  if (input.p.length >= LARGE_ROWS) collectGarbage();
}

/** Rows from which the dead buffers of a sort are worth a garbage collection (see {@link prepareBest}). */
const LARGE_ROWS = 1_000_000;

/**
 * Get ready what stage 2 would need of a candidate whose predictions were just aligned, before the metrics score it,
 * when the rule tests AUROC with DeLong and one run decides (no seed-noise confirmation): the metric engine's AUROC
 * then keeps its sort of the candidate's scores ({@link keepSplitFor}), and DeLong's test, if stage 1 lets the
 * candidate through, only counts ranks against that sort. A candidate stage 1 rejects (most of them) pays for one
 * sort and nothing more. In the calling thread: a worker thread added its own heap and a copy of the rows at the
 * run's peak memory (docs/ARCHITECTURE.md, "The keep rule").
 * @param best the best model's aligned public predictions; @param candidate the candidate's (same rows)
 * @returns true when the candidate was marked, false when there is nothing to prepare
 */
export function prepareCandidate(rule: KeepRule, best: MetricInput | null, candidate: MetricInput): boolean {
  if (best?.task !== 'binary' || candidate.task !== 'binary' || best.y.length !== candidate.y.length)
    return false;
  if (chooseKeepTest(rule, candidate) !== 'delong' || ((rule.noiseSd ?? 0) > 0 && rule.confirmRuns > 0))
    return false;
  keepSplitFor(candidate.p);
  return true;
}

/** Runs DeLong's test or the paired z-test of metric(candidate) − metric(best) at the rule's confidence. */
function analyticTest(
  choice: 'delong' | 'paired-z',
  rule: KeepRule,
  best: MetricInput,
  candidate: MetricInput,
): PairedTestResult {
  if (choice === 'paired-z') return pairedZTest(rule.metric, best, candidate, rule.confidence);
  if (best.task !== 'binary' || candidate.task !== 'binary') throw new Error('DeLong needs binary inputs');
  if (best.y !== candidate.y && best.y.length === candidate.y.length) {
    for (let i = 0; i < best.y.length; i++) {
      if (best.y[i] !== candidate.y[i]) {
        throw new RangeError(
          `keep rule: best and candidate must be scored on the same rows; y differs at row ${i}`,
        );
      }
    }
  }
  return delongTest(best.y, best.p, candidate.p, rule.confidence);
}

/** The seed-noise stage of the keep rule, recorded with the decision. */
export interface ConfirmVerdict {
  keep: boolean;
  /** Mean gain over the runs, in the metric's direction. */
  meanGain: number;
  /** The mean gain had to exceed this: max(minDelta, z·σ·√(1/nCandidate + 1/nBest)). */
  threshold: number;
  /** Row-bootstrap interval of the mean gain and the share of resamples where the candidate won (null when skipped). */
  ciLow: number | null;
  ciHigh: number | null;
  probImprovement: number | null;
  /** Which test decided (b): the analytic test of the means when one applies, else the bootstrap ('none': skipped). */
  test: KeepTest;
  reason: string;
}

/** A model over several seeds: its public scores and aligned predictions, one per seed. */
export interface Runs {
  scores: number[];
  /** Per-row predictions of each run (null entries with a custom evaluator). */
  inputs: (MetricInput | null)[];
}

/**
 * Stage 3 of the keep rule, when the run-to-run noise σ was measured (`ratchet check`): the
 * candidate was re-run with other seeds, and is kept only when
 *  (a) its mean score beats the best's mean by more than max(min_delta, z·σ·√(1/n_c + 1/n_b)): a one-sided
 *      two-sample z-test on means with known σ (e.g. Wasserman, All of Statistics, §10.1), which controls the
 *      seed noise a single-run comparison cannot see; and
 *  (b) a paired bootstrap over the public holdout rows of the difference of MEAN metrics (every run of both
 *      sides scored on the same resampled rows) finds the candidate better in at least `confidence` of the
 *      resamples: the row-sampling noise, with each row's seed noise averaged out.
 * @param best the best kept experiment's runs (≥ 1)
 * @param candidate the candidate's runs (≥ 1; the first is the experiment's own)
 */
export function confirmKeep(rule: KeepRule, best: Runs, candidate: Runs): ConfirmVerdict {
  const v = confirmKeepBare(rule, best, candidate);
  return { ...v, reason: `${v.reason}; ${ruleLabel(rule.noiseSd, rule.noiseFrom)}` };
}

function confirmKeepBare(rule: KeepRule, best: Runs, candidate: Runs): ConfirmVerdict {
  const sign = rule.direction === 'maximize' ? 1 : -1;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const nc = candidate.scores.length;
  const nb = best.scores.length;
  const meanGain = sign * (mean(candidate.scores) - mean(best.scores));
  const sigma = rule.noiseSd ?? 0;
  const se = sigma * Math.sqrt(1 / nc + 1 / nb);
  const threshold = Math.max(rule.minDelta, rule.noiseZ * se);
  const what = `mean gain ${fmt(meanGain)} over ${nc} vs ${nb} seeds`;
  const test = `${threshold.toPrecision(4)} (max(min delta, ${rule.noiseZ}·σ·√(1/${nc}+1/${nb})), σ ${sigma.toPrecision(3)})`;
  if (!(meanGain > threshold)) {
    return {
      keep: false,
      meanGain,
      threshold,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      test: 'none',
      reason: `not confirmed over seeds: ${what} ≤ ${test}`,
    };
  }
  if ([...best.inputs, ...candidate.inputs].some((i) => i === null)) {
    return {
      keep: true,
      meanGain,
      threshold,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      test: 'none',
      reason: `confirmed: ${what} > ${test} (no per-row predictions: no bootstrap)`,
    };
  }
  const choice = chooseKeepTest(rule, best.inputs[0]!);
  if (choice !== 'bootstrap') {
    const bi = best.inputs as MetricInput[];
    const ci = candidate.inputs as MetricInput[];
    const t =
      choice === 'paired-z'
        ? pairedZMeanTest(rule.metric, bi, ci, rule.confidence)
        : delongMeanTest(
            (bi[0] as Extract<MetricInput, { task: 'binary' }>).y,
            bi.map((i) => (i as Extract<MetricInput, { task: 'binary' }>).p),
            ci.map((i) => (i as Extract<MetricInput, { task: 'binary' }>).p),
            rule.confidence,
          );
    const lo = sign > 0 ? t.low : -t.high;
    const hi = sign > 0 ? t.high : -t.low;
    const keep = t.probImprovement >= rule.confidence;
    const pct = `${Math.round(rule.confidence * 100)}%`;
    const name =
      choice === 'delong'
        ? 'DeLong test of the mean AUROCs'
        : `paired z-test of the means on per-row ${lossName(rule.metric)}`;
    const stat = `${name} P(better) ${t.probImprovement.toFixed(3)} ${keep ? '≥' : '<'} ${rule.confidence} (z=${t.z.toFixed(2)}, ${pct} CI ${fmt(lo)}..${fmt(hi)})`;
    return {
      keep,
      meanGain,
      threshold,
      ciLow: lo,
      ciHigh: hi,
      probImprovement: t.probImprovement,
      test: choice,
      reason: keep ? `confirmed: ${what} > ${test}; ${stat}` : `not confirmed: ${what} > ${test} but ${stat}`,
    };
  }
  const units = weightLength(best.inputs[0]!);
  const meanOf = (inputs: (MetricInput | null)[]) => {
    const fs = inputs.map((i) => (rule.prepare ? rule.prepare(i!) : prepareMetric(rule.metric, i!)));
    return (w: Float64Array | null) => fs.reduce((a, f) => a + f(w), 0) / fs.length;
  };
  const boot = pairedBootstrapPrepared(
    rule.metric,
    rule.direction,
    units,
    meanOf(best.inputs),
    meanOf(candidate.inputs),
    { resamples: rule.resamples, confidence: rule.confidence, seed: rule.seed, decideAt: rule.confidence },
  );
  const lo = sign > 0 ? boot.low : -boot.high;
  const hi = sign > 0 ? boot.high : -boot.low;
  const keep = boot.probImprovement >= rule.confidence;
  const pct = `${Math.round(rule.confidence * 100)}%`;
  const boots = `paired bootstrap of the means P(better) ${boot.probImprovement.toFixed(3)} ${keep ? '≥' : '<'} ${rule.confidence} (${pct} CI ${fmt(lo)}..${fmt(hi)})`;
  return {
    keep,
    meanGain,
    threshold,
    ciLow: lo,
    ciHigh: hi,
    probImprovement: boot.probImprovement,
    test: 'bootstrap',
    reason: keep ? `confirmed: ${what} > ${test}; ${boots}` : `not confirmed: ${what} > ${test} but ${boots}`,
  };
}

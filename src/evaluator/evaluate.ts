import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { type Duck, openDuck } from '../data/duck.js';
import { type SplitManifest, VAULT_DIR } from '../data/ingest.js';
import { runCustomEvaluator } from './custom.js';
import { alignPredictions, checkPredictions, evalMemoryMB, type ScoredInput } from './predictions.js';
import { metricViolations, scoreInput } from './score.js';
import type { VaultCache } from './vault.js';

/** File names the sandboxed command must write into its output folder (CSV form; Parquet is also accepted). */
export const PUBLIC_PREDICTIONS = 'public.csv';
export const PRIVATE_PREDICTIONS = 'private.csv';

/**
 * The predictions file of one holdout in an output folder: `<name>.parquet` or `<name>.csv`.
 * Existence is tested with lstat, so a symlink counts as written (and is refused by the validation).
 * @param name `public` or `private`
 * @returns the path to read (the CSV path when neither exists, so the error names the expected file), or
 *   `{ conflict }` when both exist: Ratchet refuses to guess which one is meant
 */
export function predictionsFile(
  outputDir: string,
  name: 'public' | 'private',
): string | { conflict: string } {
  const parquet = join(outputDir, `${name}.parquet`);
  const csv = join(outputDir, `${name}.csv`);
  const has = (p: string) => {
    try {
      lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (has(parquet) && has(csv)) {
    return {
      conflict: `both ${name}.parquet and ${name}.csv were written to the output folder; write only one of them (Parquet is faster)`,
    };
  }
  return has(parquet) ? parquet : csv;
}

/** The evaluator's verdict on one experiment's output folder. */
export type Evaluation =
  | {
      status: 'ok';
      /** Every contract metric on the public holdout (primary first). */
      metrics: Record<string, number>;
      /** The primary metric on the public holdout. */
      score: number;
      /** Aligned public predictions, kept for the paired bootstrap (null with a custom evaluator: no per-row data). */
      input: ScoredInput | null;
      /** Constraints the predictions break (the change is then rejected whatever its score). */
      violations: string[];
      /** Reported-only metrics undefined on the public holdout, with the reason (they never fail it). */
      undefinedMetrics: Record<string, string>;
      /** Bandit: trust thresholds the off-policy estimate breaks (it then cannot decide a keep). */
      trust: string[];
      /** Harness: correct answers made without the model (guardrail model-bypass: rejected). */
      bypass: string[];
    }
  | { status: 'invalid'; reason: string };

/** Options of {@link evaluateOutput} a run gives (a one-off evaluation needs none). */
export interface EvaluateOptions {
  /** The run's cache of the vault's labels: read once per run instead of once per evaluation. */
  vault?: VaultCache;
  /**
   * Filled with the wall time of each sub-step, ms: `eval_public` (validation and alignment of the public file),
   * `eval_score` (every contract metric on the public rows), `eval_private` (validation of the private file,
   * from the start: it runs concurrently with both), `eval_keep_sort` (the time of {@link onAligned}) and
   * `eval_private_wait` (what was left of the private file's validation after scoring).
   */
  timings?: Record<string, number>;
  /**
   * Called once with the public rows as soon as they are aligned and valid, before they are scored (the keep rule
   * marks the candidate there, so that the metrics' AUROC keeps its sort for DeLong's test). Must not modify the
   * input.
   */
  onAligned?: (input: ScoredInput) => void;
}

/**
 * Validate both predictions files of an experiment and score the public one against the vault.
 * The private file is validated (ids, values) but never scored here: private scores exist only at `submit`.
 * @param outputDir the experiment's output folder (written by the sandbox, read-only to it afterwards)
 * @param shared the run's DuckDB (a private one is opened and closed otherwise)
 * @param binDir the run's Python bin folder, for a custom evaluator
 * @returns `ok` with the public metrics, or `invalid` with the reason (a bad file is never scored)
 */
export async function evaluateOutput(
  contract: Contract,
  manifest: SplitManifest,
  outputDir: string,
  shared?: Duck,
  binDir?: string,
  opts: EvaluateOptions = {},
): Promise<Evaluation> {
  if (contract.evaluator) {
    const r = await runCustomEvaluator(contract, outputDir, 'public', binDir ?? null);
    if (!r.ok) return { status: 'invalid', reason: r.reason };
    return {
      status: 'ok',
      metrics: r.metrics,
      score: r.metrics[contract.metric.primary]!,
      input: null,
      violations: metricViolations(contract, r.metrics),
      undefinedMetrics: {},
      trust: [],
      bypass: [],
    };
  }
  const vault = join(contract.projectDir, VAULT_DIR);
  const pubPath = predictionsFile(outputDir, 'public');
  const privPath = predictionsFile(outputDir, 'private');
  if (typeof pubPath !== 'string') return { status: 'invalid', reason: pubPath.conflict };
  if (typeof privPath !== 'string') return { status: 'invalid', reason: privPath.conflict };
  const duck = shared ?? (await openDuck(2, { memoryMB: evalMemoryMB(manifest) }));
  const lap = (step: string, since: number) => {
    if (opts.timings) opts.timings[step] = Math.round((performance.now() - since) * 10) / 10;
  };
  try {
    // The private file is only validated: one query inside DuckDB (for a file in vault order) that runs on its
    // own connection while the public file is aligned and scored here.
    const t0 = performance.now();
    const privCheck = duck.connect().then((con) =>
      checkPredictions({
        predictionsPath: privPath,
        labelsPath: join(vault, 'private.parquet'),
        manifest,
        con,
        tag: 'private',
        ...(opts.vault ? { vault: opts.vault } : {}),
      })
        .finally(() => con.closeSync())
        .then((r) => {
          lap('eval_private', t0);
          return r;
        }),
    );
    privCheck.catch(() => undefined); // awaited below; a public failure returns first
    const pub = await alignPredictions({
      predictionsPath: pubPath,
      labelsPath: join(vault, 'public.parquet'),
      manifest,
      con: duck.con,
      tag: 'public',
      ...(opts.vault ? { vault: opts.vault } : {}),
    });
    lap('eval_public', t0);
    if (!pub.ok) {
      await privCheck.catch(() => undefined); // its connection is closed before the database
      return { status: 'invalid', reason: pub.reason };
    }
    const tk = performance.now();
    opts.onAligned?.(pub.input);
    lap('eval_keep_sort', tk);
    const t1 = performance.now();
    const s = scoreInput(contract, pub.input, manifest.classes ?? undefined);
    lap('eval_score', t1);
    const t2 = performance.now();
    const priv = await privCheck;
    lap('eval_private_wait', t2);
    if (!priv.ok) return { status: 'invalid', reason: priv.reason };
    if (!s.ok) return { status: 'invalid', reason: s.reason };
    return {
      status: 'ok',
      metrics: s.metrics,
      score: s.score,
      input: pub.input,
      violations: s.violations,
      undefinedMetrics: s.undefinedMetrics,
      trust: s.trust,
      bypass: s.bypass,
    };
  } finally {
    if (!shared) duck.close();
  }
}

/**
 * Score an experiment's private predictions (for `ratchet submit` only).
 * @returns every contract metric on the private holdout and the aligned rows (null with a custom evaluator), or
 *   the reason the file cannot be scored
 */
export async function scorePrivate(
  contract: Contract,
  manifest: SplitManifest,
  outputDir: string,
  binDir?: string,
): Promise<
  { ok: true; metrics: Record<string, number>; input: ScoredInput | null } | { ok: false; reason: string }
> {
  if (contract.evaluator) {
    const r = await runCustomEvaluator(contract, outputDir, 'private', binDir ?? null);
    return r.ok ? { ok: true, metrics: r.metrics, input: null } : r;
  }
  const privPath = predictionsFile(outputDir, 'private');
  if (typeof privPath !== 'string') return { ok: false, reason: privPath.conflict };
  const priv = await alignPredictions({
    predictionsPath: privPath,
    labelsPath: join(contract.projectDir, VAULT_DIR, 'private.parquet'),
    manifest,
  });
  if (!priv.ok) return priv;
  const s = scoreInput(contract, priv.input, manifest.classes ?? undefined);
  return s.ok ? { ok: true, metrics: s.metrics, input: priv.input } : s;
}

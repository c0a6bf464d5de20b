import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { type Duck, openDuck } from '../data/duck.js';
import { type SplitManifest, VAULT_DIR } from '../data/ingest.js';
import { computeMetrics, type MetricInput, metricSpec } from '../metrics/index.js';
import { alignPredictions } from './predictions.js';

/** File names the sandboxed command must write into its output folder. */
export const PUBLIC_PREDICTIONS = 'public.csv';
export const PRIVATE_PREDICTIONS = 'private.csv';

/** The evaluator's verdict on one experiment's output folder. */
export type Evaluation =
  | {
      status: 'ok';
      /** Every contract metric on the public holdout (primary first). */
      metrics: Record<string, number>;
      /** The primary metric on the public holdout. */
      score: number;
      /** Aligned public predictions, kept for the paired bootstrap against the next candidates. */
      input: MetricInput;
    }
  | { status: 'invalid'; reason: string };

/** The contract's metric names, primary first, without repeats. */
export function contractMetrics(contract: Contract): string[] {
  return [...new Set([contract.metric.primary, ...contract.metric.also])];
}

function score(
  contract: Contract,
  input: MetricInput,
): { ok: true; metrics: Record<string, number> } | { ok: false; reason: string } {
  const names = contractMetrics(contract);
  if (input.task === 'multiclass' && !input.proba) {
    const needs = names.filter((n) => metricSpec(n, contract.task).needsProba);
    if (needs.includes(contract.metric.primary)) {
      return {
        ok: false,
        reason: `the primary metric ${contract.metric.primary} needs proba_<class> columns; the predictions have labels only`,
      };
    }
    const metrics = computeMetrics(
      names.filter((n) => !needs.includes(n)),
      input,
    );
    return { ok: true, metrics };
  }
  try {
    return { ok: true, metrics: computeMetrics(names, input) };
  } catch (e) {
    return { ok: false, reason: `cannot score: ${(e as Error).message}` };
  }
}

/**
 * Validate both predictions files of an experiment and score the public one against the vault.
 * The private file is validated (ids, values) but never scored here: private scores exist only at `submit`.
 * @param outputDir the experiment's output folder (written by the sandbox, read-only to it afterwards)
 * @returns `ok` with the public metrics, or `invalid` with the reason (a bad file is never scored)
 */
export async function evaluateOutput(
  contract: Contract,
  manifest: SplitManifest,
  outputDir: string,
  shared?: Duck,
): Promise<Evaluation> {
  const vault = join(contract.projectDir, VAULT_DIR);
  const duck = shared ?? (await openDuck());
  try {
    // Public and private files are checked concurrently, on two connections of one database.
    const [pub, priv] = await Promise.all([
      alignPredictions({
        predictionsPath: join(outputDir, PUBLIC_PREDICTIONS),
        labelsPath: join(vault, 'public.parquet'),
        manifest,
        con: duck.con,
        tag: 'public',
      }),
      duck.connect().then((con) =>
        alignPredictions({
          predictionsPath: join(outputDir, PRIVATE_PREDICTIONS),
          labelsPath: join(vault, 'private.parquet'),
          manifest,
          con,
          tag: 'private',
        }).finally(() => con.closeSync()),
      ),
    ]);
    if (!pub.ok) return { status: 'invalid', reason: pub.reason };
    if (!priv.ok) return { status: 'invalid', reason: priv.reason };
    const s = score(contract, pub.input);
    if (!s.ok) return { status: 'invalid', reason: s.reason };
    return { status: 'ok', metrics: s.metrics, score: s.metrics[contract.metric.primary]!, input: pub.input };
  } finally {
    if (!shared) duck.close();
  }
}

/**
 * Score an experiment's private predictions (for `ratchet submit` only).
 * @returns every contract metric on the private holdout, or the reason the file cannot be scored
 */
export async function scorePrivate(
  contract: Contract,
  manifest: SplitManifest,
  outputDir: string,
): Promise<{ ok: true; metrics: Record<string, number> } | { ok: false; reason: string }> {
  const priv = await alignPredictions({
    predictionsPath: join(outputDir, PRIVATE_PREDICTIONS),
    labelsPath: join(contract.projectDir, VAULT_DIR, 'private.parquet'),
    manifest,
  });
  if (!priv.ok) return priv;
  return score(contract, priv.input);
}

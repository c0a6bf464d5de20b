/**
 * The cache of DeLong's structural components (src/metrics/delong.ts), in a module of its own so the metric
 * engine's AUROC can read a cached count without importing the test (no import cycle).
 */

/**
 * Structural components of one score vector (see `components` in delong.ts), stored as exact integers to halve their
 * memory (12 bytes a row instead of 24 held for the best model during a run): `t10[i]` = 2·(negatives below
 * positive i) + (negatives tied with it), so V10_i = t10[i] / (2n); `t01[j]` = 2·(positives below negative j) +
 * (positives tied with it), so V01_j = 1 − t01[j] / (2m). Each quotient is the correctly rounded value of the same
 * real number as (count + ties/2)/n, so every V is the double the direct formula gives, bit for bit.
 * `t10` and `t01` may share one buffer.
 */
export interface Components {
  t10: Int32Array;
  t01: Int32Array;
  auc: number;
}

/**
 * Components already computed, per score vector and label vector (the keep rule compares every
 * candidate with the same best model: its sort is done once). Weak: dropped with the arrays.
 */
export const CACHE = new WeakMap<Float64Array, { y: Uint8Array; c: Components }>();

/**
 * The AUROC of scores whose DeLong components are already cached for these very arrays (the keep rule's sort
 * of a candidate, `prepareDelong` in delong.ts), else undefined. Exactly `aurocUnweighted`'s value: both are the same
 * integer Mann-Whitney count 2U divided by 2·m·n.
 */
export function cachedAuroc(y: Uint8Array, score: Float64Array): number | undefined {
  const hit = CACHE.get(score);
  return hit && hit.y === y ? hit.c.auc : undefined;
}

/**
 * A score vector's two classes' scores, each sorted ascending (`splitSorted` in ranking.ts), kept for DeLong's test
 * by the AUROC that sorted them: the labels they were split by, the positives' and the negatives' scores.
 */
export interface SplitSort {
  y: Uint8Array;
  pos: Float64Array;
  neg: Float64Array;
}

/**
 * Score vectors whose AUROC should keep its split sort ({@link SPLITS}), marked by the keep rule for a candidate it
 * may test with DeLong (`keepSplitFor` in delong.ts). Weak: dropped with the arrays.
 */
export const SPLIT_WANTED = new WeakSet<Float64Array>();

/** Split sorts kept for DeLong's components (taken, and dropped, when they are computed). Weak, by score vector. */
export const SPLITS = new WeakMap<Float64Array, SplitSort>();

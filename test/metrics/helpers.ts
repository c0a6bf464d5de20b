/**
 * Shared helpers of the metric-engine tests: fixture loading and the comparison tolerance.
 */

import { readFileSync } from 'node:fs';
import type { MetricInput, MulticlassInput, Task } from '../../src/metrics/index.js';

/**
 * Agreement required with scikit-learn: |actual - expected| <= REL_TOL * |expected| (so an expected
 * 0 must be matched exactly). Counting metrics and auroc are checked for exact equality instead.
 */
export const REL_TOL = 1e-12;

/** True when `actual` is within `rel` relative tolerance of `expected` (exact when expected = 0). */
export function close(actual: number, expected: number, rel = REL_TOL): boolean {
  return Math.abs(actual - expected) <= rel * Math.abs(expected);
}

/** One case of a fixture file written by generate_fixtures.py. */
export interface FixtureCase {
  name: string;
  y: number[];
  p?: number[];
  k?: number;
  pred?: number[];
  proba?: number[] | null;
  weights: number[] | null;
  weights_kind: 'sample_weight' | 'multiplicity' | null;
  expected: Record<string, number | null>;
  undefined: Record<string, string>;
  auroc_exact?: number | null;
}

/** A fixture file. */
export interface Fixture {
  sklearn_version: string;
  task: Task;
  cases: FixtureCase[];
}

/** Reads test/metrics/fixtures/<task>.json. */
export function loadFixture(task: Task): Fixture {
  const url = new URL(`./fixtures/${task}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Fixture;
}

/** Reads any fixture file test/metrics/fixtures/<stem>.json (ranking, fairness, proxies). */
export function loadFixtureFile<T>(stem: string): T {
  const url = new URL(`./fixtures/${stem}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** The tasks scikit-learn fixtures cover per row (ranking has its own, by query; bandit and harness none). */
export type FixtureTask = Exclude<Task, 'ranking' | 'bandit' | 'harness'>;

/** The typed-array input of a fixture case. */
export function caseInput(task: FixtureTask, c: FixtureCase): MetricInput {
  if (task === 'binary') return { task, y: Uint8Array.from(c.y), p: Float64Array.from(c.p!) };
  if (task === 'regression') return { task, y: Float64Array.from(c.y), p: Float64Array.from(c.p!) };
  const input: MulticlassInput = { task, y: Int32Array.from(c.y), k: c.k!, pred: Int32Array.from(c.pred!) };
  if (c.proba) input.proba = Float64Array.from(c.proba);
  return input;
}

/** The case's weights as a Float64Array, or undefined. */
export function caseWeights(c: FixtureCase): Float64Array | undefined {
  return c.weights === null ? undefined : Float64Array.from(c.weights);
}

/** Repeats the rows of an input by integer weights (the explicit resample a weighted metric must equal). */
export function repeatRows(input: MetricInput, weights: Float64Array): MetricInput {
  const n = input.y.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i]!;
  const rows = new Int32Array(total);
  let at = 0;
  for (let i = 0; i < n; i++) for (let r = 0; r < weights[i]!; r++) rows[at++] = i;
  if (input.task === 'binary') {
    return {
      task: 'binary',
      y: Uint8Array.from(rows, (r) => input.y[r]!),
      p: Float64Array.from(rows, (r) => input.p[r]!),
    };
  }
  if (input.task === 'regression') {
    return {
      task: 'regression',
      y: Float64Array.from(rows, (r) => input.y[r]!),
      p: Float64Array.from(rows, (r) => input.p[r]!),
    };
  }
  if (input.task === 'ranking') throw new Error('repeatRows: ranking weights are per query, not per row');
  if (input.task === 'bandit') {
    const k = input.k;
    const matrix = (m: Float64Array) => {
      const out = new Float64Array(total * k);
      for (let j = 0; j < total; j++) out.set(m.subarray(rows[j]! * k, rows[j]! * k + k), j * k);
      return out;
    };
    return {
      task: 'bandit',
      k,
      y: Float64Array.from(rows, (r) => input.y[r]!),
      action: Int32Array.from(rows, (r) => input.action[r]!),
      pscore: Float64Array.from(rows, (r) => input.pscore[r]!),
      policy: matrix(input.policy),
      ...(input.qhat ? { qhat: matrix(input.qhat) } : {}),
    };
  }
  if (input.task !== 'multiclass')
    throw new Error(`repeatRows: no per-row weights for a ${input.task} input`);
  const k = input.k;
  const out: MulticlassInput = {
    task: 'multiclass',
    k,
    y: Int32Array.from(rows, (r) => input.y[r]!),
    pred: Int32Array.from(rows, (r) => input.pred[r]!),
  };
  if (input.proba) {
    const proba = input.proba;
    const q = new Float64Array(total * k);
    for (let j = 0; j < total; j++) q.set(proba.subarray(rows[j]! * k, rows[j]! * k + k), j * k);
    out.proba = q;
  }
  return out;
}

/**
 * The ranking task (learning to rank): ndcg, ndcg@k, mrr, map and map@k over queries.
 *
 * Every ranking metric is a mean over queries of a per-query value, so the engine computes the q
 * per-query values once (one radix argsort of all scores, one counting sort by query; ndcg@k with
 * k <= 64 skips the global sort: one counting pass by query, then a top-k selection per query) and a
 * weighted evaluation is a weighted mean of those values under per-QUERY weights: the bootstrap
 * resamples queries, not rows (a cluster bootstrap; the rows of one query are not independent).
 *
 * Definitions (per query; a query's items are ranked by descending score `p`):
 * - `ndcg@k` / `ndcg`: scikit-learn 1.9.1 `sklearn.metrics.ndcg_score(y_true=[y_q], y_score=[p_q], k=k)`
 *   (linear gain y, discount 1 / log2(rank + 1), ties in the scores averaged as in
 *   `_tie_averaged_dcg`, McSherry & Najork, ECIR 2008), averaged over queries; plain `ndcg` uses all
 *   ranks (k = None). A query whose ideal DCG is 0 (no item with y > 0) scores 0, as scikit-learn's
 *   `_ndcg_sample_scores` (`gain[all_irrelevant] = 0`), and counts in the mean. A one-item query
 *   (which `ndcg_score` refuses: "only meaningful when there is more than 1 document") scores 1 if its
 *   relevance is > 0 and 0 otherwise, which is scikit-learn's value for the query padded with an
 *   irrelevant item ranked below it.
 * - `mrr`: mean reciprocal rank, 1 / (rank of the first item with y > 0), 0 for a query without a
 *   relevant item; as `ranx.metrics.reciprocal_rank` (AmenRa/ranx, ranx/metrics/reciprocal_rank.py,
 *   `_reciprocal_rank`: 0.0 when the query has no relevant document, else 1 / (i + 1) at the first
 *   relevant document, with rel_lvl = 1, i.e. y >= 1, which is y > 0 for integer grades) and TREC's
 *   `recip_rank`.
 * - `map@k` / `map`: mean over queries of `apk` from Ben Hamner's `ml_metrics`
 *   (benhamner/Metrics, Python/ml_metrics/average_precision.py, commit a28d7ad):
 *   AP@k = (sum over ranks i <= k holding a relevant item of hits(i) / i) / min(R, k), with R the
 *   query's number of relevant items (y > 0), hits(i) the relevant items among ranks 1..i, and 0
 *   when R = 0 (that revision's `if not actual: return 0.0`; another revision of the same file
 *   returns 1.0 there, we use 0 as for mrr and ndcg). Plain `map` is k = infinity, i.e. AP =
 *   (sum_i hits(i) / i) / R, TREC's uninterpolated average precision.
 *
 * Ties. ndcg averages over tied scores (scikit-learn). mrr and map break ties PESSIMISTICALLY: among
 * items with equal scores the irrelevant ones are ranked first, so a tie never helps and a constant
 * score gets the worst value of any ordering; the value never depends on the order of the rows (a
 * holdout sorted by relevance cannot reward a model that outputs constants).
 */

import type { MetricImpl } from './impl.js';
import { argsortFloat64 } from './sort.js';
import { weightedMean } from './sum.js';
import type { MetricSpec, RankingInput } from './types.js';

/** Largest cutoff k accepted in `ndcg@k` and `map@k`. */
export const MAX_RANK_CUTOFF = 1000;

/** The families of ranking metrics. */
export type RankingFamily = 'ndcg' | 'mrr' | 'map';

/** A parsed ranking metric name: its family and cutoff (null = all ranks). */
export interface RankingMetricName {
  family: RankingFamily;
  k: number | null;
}

const NAME_RE = /^(ndcg|map)(?:@([1-9][0-9]{0,3}))?$/;

/**
 * Parses a ranking metric name: `ndcg`, `ndcg@k`, `mrr`, `map`, `map@k` with k an integer in
 * 1..1000 written without a sign or leading zeros.
 * @returns the family and cutoff, or null when `name` is not a ranking metric name.
 */
export function parseRankingMetricName(name: string): RankingMetricName | null {
  if (name === 'mrr') return { family: 'mrr', k: null };
  const m = NAME_RE.exec(name);
  if (m === null) return null;
  const k = m[2] === undefined ? null : Number(m[2]);
  if (k !== null && k > MAX_RANK_CUTOFF) return null;
  return { family: m[1] as RankingFamily, k };
}

function fail(metric: string, msg: string): never {
  throw new RangeError(`${metric}: ${msg}`);
}

/**
 * Number of queries q of a ranking input: max(query) + 1 (0 for no rows). Weights of ranking
 * metrics have this length.
 */
export function queryCount(input: RankingInput): number {
  const { query } = input;
  let max = -1;
  for (let i = 0; i < query.length; i++) if (query[i]! > max) max = query[i]!;
  return max + 1;
}

/**
 * Checks a ranking input: y, p (Float64Array) and query (Int32Array) of the same length n >= 1; y
 * finite and >= 0 (scikit-learn's ndcg_score refuses negative relevance); p finite; query indices
 * >= 0 with every index 0..max present (each query has at least one row).
 * @throws RangeError naming the metric and the first offending row or query.
 */
export function validateRanking(metric: string, input: RankingInput): void {
  const { y, p, query } = input;
  if (!(y instanceof Float64Array) || !(p instanceof Float64Array) || !(query instanceof Int32Array)) {
    fail(metric, 'ranking input needs y: Float64Array, p: Float64Array and query: Int32Array');
  }
  const n = y.length;
  if (p.length !== n) fail(metric, `y has ${n} rows but p has ${p.length}`);
  if (query.length !== n) fail(metric, `y has ${n} rows but query has ${query.length}`);
  if (n === 0) fail(metric, 'no rows');
  let max = -1;
  for (let i = 0; i < n; i++) {
    const yi = y[i]!;
    if (!(yi >= 0 && yi < Number.POSITIVE_INFINITY)) {
      fail(metric, `y[${i}] = ${yi}; relevance must be finite and >= 0`);
    }
    if (!Number.isFinite(p[i]!)) fail(metric, `p[${i}] is ${p[i]}; scores must be finite`);
    const g = query[i]!;
    if (g < 0) fail(metric, `query[${i}] = ${g}; query indices must be >= 0`);
    if (g > max) max = g;
  }
  const seen = new Uint8Array(max + 1);
  for (let i = 0; i < n; i++) seen[query[i]!] = 1;
  const missing = seen.indexOf(0);
  if (missing >= 0) {
    fail(metric, `query ${missing} has no rows; query indices must be 0..q-1 with every query present`);
  }
}

/**
 * Rows grouped by query, each query's rows by ascending score (ties in row order): the rows of
 * query j are `order[start[j] .. start[j + 1] - 1]`.
 */
export interface QueryIndex {
  q: number;
  start: Int32Array;
  order: Int32Array;
  /** Largest number of rows of one query. */
  maxSize: number;
}

/** One O(n) radix argsort of all scores, then a stable counting sort of that order by query. */
export function buildQueryIndex(input: RankingInput): QueryIndex {
  const { p, query } = input;
  const n = p.length;
  const q = queryCount(input);
  const byScore = argsortFloat64(p);
  const start = new Int32Array(q + 1);
  for (let i = 0; i < n; i++) start[query[i]! + 1]!++;
  let maxSize = 0;
  for (let j = 0; j < q; j++) {
    if (start[j + 1]! > maxSize) maxSize = start[j + 1]!;
    start[j + 1]! += start[j]!;
  }
  const next = start.slice(0, q);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = byScore[i]!;
    order[next[query[r]!]!++] = r;
  }
  return { q, start, order, maxSize };
}

/**
 * scikit-learn's discount 1 / (log(i + 2) / log(2)) for ranks i = 0..m-1 (`_dcg_sample_scores`,
 * log_base = 2), and its running sum (`np.cumsum(discount)`), in the same operation order.
 */
function discounts(m: number): [Float64Array, Float64Array] {
  const disc = new Float64Array(m);
  const cum = new Float64Array(m);
  let s = 0;
  for (let i = 0; i < m; i++) {
    disc[i] = 1 / (Math.log(i + 2) / Math.LN2);
    s += disc[i]!;
    cum[i] = s;
  }
  return [disc, cum];
}

/**
 * NDCG of every query (scikit-learn's `_ndcg_sample_scores` with ignore_ties = False, per query).
 * @param k cutoff, or null for all ranks.
 */
function ndcgPerQuery(input: RankingInput, idx: QueryIndex, k: number | null): Float64Array {
  const { y, p } = input;
  const { q, start, order, maxSize } = idx;
  const [disc, cum] = discounts(maxSize);
  const out = new Float64Array(q);
  const rel = new Float64Array(maxSize);
  for (let j = 0; j < q; j++) {
    const s = start[j]!;
    const e = start[j + 1]!;
    const m = e - s;
    const K = k === null ? m : Math.min(k, m);
    // Ideal DCG: relevances in decreasing order against the first K discounts.
    const r = rel.subarray(0, m);
    for (let t = 0; t < m; t++) r[t] = y[order[s + t]!]!;
    r.sort();
    let ideal = 0;
    for (let t = 0; t < K; t++) ideal += r[m - 1 - t]! * disc[t]!;
    if (ideal === 0) {
      out[j] = 0; // scikit-learn: a query with ideal DCG 0 scores 0
      continue;
    }
    // DCG with tie-averaged gains: a tie group at ranks a..b gets mean(gain) * (cum[b] - cum[a-1]),
    // with the discounts beyond K zero (cum constant from rank K-1 on).
    let dcg = 0;
    let a = 0; // rank of the first item of the current group
    let gain = 0;
    for (let t = e - 1; t >= s; t--) {
      const row = order[t]!;
      gain += y[row]!;
      if (t === s || p[order[t - 1]!]! !== p[row]!) {
        const b = e - 1 - t; // rank of the last item of the group
        if (a >= K) break;
        const hi = cum[Math.min(b, K - 1)]!;
        const lo = a === 0 ? 0 : cum[a - 1]!;
        dcg += (gain / (b - a + 1)) * (hi - lo);
        a = b + 1;
        gain = 0;
      }
    }
    out[j] = dcg / ideal;
  }
  return out;
}

/** Largest cutoff k served by `ndcgTopK` (per-query selection); larger k and plain ndcg sort. */
export const NDCG_SELECT_MAX_K = 64;

/**
 * Relevances and scores grouped by query in ONE counting pass (no sort by score): query j's values
 * are `ys[start[j] .. start[j + 1] - 1]` and the same slice of `ps`, in row order. When the input's
 * queries are already contiguous and ascending, `ys` and `ps` are the input arrays themselves.
 */
export function bucketByQuery(
  input: RankingInput,
  q: number,
): { start: Int32Array; ys: Float64Array; ps: Float64Array } {
  const { y, p, query } = input;
  const n = query.length;
  const start = new Int32Array(q + 1);
  let sorted = true;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const g = query[i]!;
    start[g + 1]!++;
    if (g < prev) sorted = false;
    prev = g;
  }
  for (let j = 0; j < q; j++) start[j + 1]! += start[j]!;
  if (sorted) return { start, ys: y, ps: p };
  const next = start.slice(0, q);
  const ys = new Float64Array(n);
  const ps = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const at = next[query[i]!]!++;
    ys[at] = y[i]!;
    ps[at] = p[i]!;
  }
  return { start, ys, ps };
}

/**
 * The K-th largest of `vals[s..s+m-1]` counted with multiplicity (K <= m), by a size-K min-heap in
 * `heap`: O(m log K). The heap holds the multiset of the K largest values, its root is their minimum.
 */
function kthLargest(vals: Float64Array, s: number, m: number, K: number, heap: Float64Array): number {
  for (let t = 0; t < K; t++) {
    // sift up
    let c = t;
    const v = vals[s + t]!;
    while (c > 0) {
      const parent = (c - 1) >> 1;
      if (heap[parent]! <= v) break;
      heap[c] = heap[parent]!;
      c = parent;
    }
    heap[c] = v;
  }
  let root = heap[0]!;
  for (let t = s + K; t < s + m; t++) {
    const v = vals[t]!;
    if (v <= root) continue;
    // replace the root, sift down
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= K) break;
      const r = l + 1;
      const child = r < K && heap[r]! < heap[l]! ? r : l;
      if (heap[child]! >= v) break;
      heap[c] = heap[child]!;
      c = child;
    }
    heap[c] = v;
    root = heap[0]!;
  }
  return root;
}

/**
 * ndcg@k of every query for small k (k <= NDCG_SELECT_MAX_K) without any global sort: the rows are
 * bucketed by query in one counting pass, and per query only the top of the ranking is built. With
 * tau the K-th largest score (K = min(k, m)), every item scored above tau has a rank below K and
 * there are at most K - 1 of them (sorted by insertion); the items scored exactly tau form ONE tie
 * group whose gain is averaged over all its members, including those beyond rank K
 * (scikit-learn's `_tie_averaged_dcg`), and that group is the last one with a rank below K. The ideal
 * DCG takes the K largest relevances the same way. Same values as `ndcgPerQuery` (up to the
 * order of the additions inside a tie group's gain), O(n log k) in all.
 */
function ndcgTopK(input: RankingInput, q: number, k: number): Float64Array {
  const { start, ys: yAll, ps: pAll } = bucketByQuery(input, q);
  let maxSize = 0;
  for (let j = 0; j < q; j++) maxSize = Math.max(maxSize, start[j + 1]! - start[j]!);
  const [disc, cum] = discounts(Math.min(k, maxSize));
  const out = new Float64Array(q);
  const heap = new Float64Array(k);
  const topP = new Float64Array(k);
  const topY = new Float64Array(k);
  for (let j = 0; j < q; j++) {
    const s = start[j]!;
    const m = start[j + 1]! - s;
    const K = Math.min(k, m);
    // Ideal DCG: the K largest relevances in decreasing order against the first K discounts.
    const tauY = kthLargest(yAll, s, m, K, heap);
    let c = 0;
    for (let t = s; t < s + m; t++) {
      const v = yAll[t]!;
      if (v > tauY) {
        let u = c++;
        while (u > 0 && topY[u - 1]! < v) {
          topY[u] = topY[u - 1]!;
          u--;
        }
        topY[u] = v;
      }
    }
    let ideal = 0;
    for (let t = 0; t < K; t++) ideal += (t < c ? topY[t]! : tauY) * disc[t]!;
    if (ideal === 0) {
      out[j] = 0; // scikit-learn: a query with ideal DCG 0 scores 0
      continue;
    }
    // DCG: items above tau sorted by decreasing score (at most K - 1), then the tie group at tau.
    const tau = kthLargest(pAll, s, m, K, heap);
    c = 0;
    let tieGain = 0;
    let tieCount = 0;
    for (let t = s; t < s + m; t++) {
      const v = pAll[t]!;
      if (v > tau) {
        let u = c++;
        while (u > 0 && topP[u - 1]! < v) {
          topP[u] = topP[u - 1]!;
          topY[u] = topY[u - 1]!;
          u--;
        }
        topP[u] = v;
        topY[u] = yAll[t]!;
      } else if (v === tau) {
        tieGain += yAll[t]!;
        tieCount++;
      }
    }
    let dcg = 0;
    let a = 0; // rank of the first item of the current group
    let gain = 0;
    for (let t = 0; t < c; t++) {
      gain += topY[t]!;
      if (t === c - 1 || topP[t + 1]! !== topP[t]!) {
        const lo = a === 0 ? 0 : cum[a - 1]!;
        dcg += (gain / (t - a + 1)) * (cum[t]! - lo);
        a = t + 1;
        gain = 0;
      }
    }
    // The tie group at tau: ranks c .. c + tieCount - 1, discounts beyond K - 1 are zero.
    const lo = c === 0 ? 0 : cum[c - 1]!;
    dcg += (tieGain / tieCount) * (cum[K - 1]! - lo);
    out[j] = dcg / ideal;
  }
  return out;
}

/** Reciprocal rank of every query, ties broken pessimistically (irrelevant items first). */
function mrrPerQuery(input: RankingInput, idx: QueryIndex): Float64Array {
  const { y, p } = input;
  const { q, start, order } = idx;
  const out = new Float64Array(q);
  for (let j = 0; j < q; j++) {
    const s = start[j]!;
    const e = start[j + 1]!;
    let before = 0; // items in earlier (higher-score) groups
    let rel = 0;
    let irr = 0;
    for (let t = e - 1; t >= s; t--) {
      const row = order[t]!;
      if (y[row]! > 0) rel++;
      else irr++;
      if (t === s || p[order[t - 1]!]! !== p[row]!) {
        if (rel > 0) {
          out[j] = 1 / (before + irr + 1);
          break;
        }
        before += irr;
        irr = 0;
      }
    }
  }
  return out;
}

/** ml_metrics `apk` of every query, ties broken pessimistically (irrelevant items first). */
function mapPerQuery(input: RankingInput, idx: QueryIndex, k: number | null): Float64Array {
  const { y, p } = input;
  const { q, start, order } = idx;
  const out = new Float64Array(q);
  for (let j = 0; j < q; j++) {
    const s = start[j]!;
    const e = start[j + 1]!;
    const K = k === null ? e - s : k;
    let R = 0;
    for (let t = s; t < e; t++) if (y[order[t]!]! > 0) R++;
    if (R === 0) continue; // apk: 0.0 when there is no relevant item
    let pos = 0; // ranks already placed (0-based rank of the group's first item)
    let hits = 0;
    let score = 0;
    let rel = 0;
    let irr = 0;
    for (let t = e - 1; t >= s && pos < K; t--) {
      const row = order[t]!;
      if (y[row]! > 0) rel++;
      else irr++;
      if (t === s || p[order[t - 1]!]! !== p[row]!) {
        // The group's irrelevant items take ranks pos..pos+irr-1, then its relevant ones.
        for (let i = pos + irr; i < pos + irr + rel && i < K; i++) {
          hits += 1;
          score += hits / (i + 1);
        }
        pos += irr + rel;
        rel = 0;
        irr = 0;
      }
    }
    out[j] = score / Math.min(R, K);
  }
  return out;
}

/**
 * The per-query values of a ranking metric (query j at index j), on a validated input. The metric
 * is their mean (weighted by per-query weights). ndcg: sklearn.metrics.ndcg_score on the query
 * (tie-averaged DCG / ideal DCG, 0 when the ideal DCG is 0); mrr: ranx `_reciprocal_rank`; map:
 * ml_metrics `apk` (rev a28d7ad); mrr and map on the pessimistic tie order (see the module doc).
 * @throws Error when `name` is not a ranking metric name.
 */
export function rankingPerQuery(name: string, input: RankingInput): Float64Array {
  const parsed = parseRankingMetricName(name);
  if (parsed === null) throw new Error(`'${name}' is not a ranking metric name`);
  if (parsed.family === 'ndcg' && parsed.k !== null && parsed.k <= NDCG_SELECT_MAX_K) {
    return ndcgTopK(input, queryCount(input), parsed.k);
  }
  const idx = buildQueryIndex(input);
  if (parsed.family === 'ndcg') return ndcgPerQuery(input, idx, parsed.k);
  if (parsed.family === 'mrr') return mrrPerQuery(input, idx);
  return mapPerQuery(input, idx, parsed.k);
}

function describe(family: RankingFamily, k: number | null): string {
  const at = k === null ? 'all ranks' : `the top ${k} ranks`;
  if (family === 'ndcg') {
    return (
      `NDCG over ${at}, per query = sklearn.metrics.ndcg_score([y_q], [p_q], k=${k === null ? 'None' : k}) ` +
      '(gain y, discount 1/log2(rank+1), tied scores averaged), averaged over queries; a query with ' +
      'ideal DCG 0 scores 0 (scikit-learn); any ndcg@k with k in 1..1000 is accepted. Weights are per query ' +
      '(ndcg_score sample_weight).'
    );
  }
  if (family === 'mrr') {
    return (
      'Mean reciprocal rank: per query 1/rank of the first item with y > 0, 0 when none (ranx ' +
      'reciprocal_rank, TREC recip_rank), averaged over queries; ties broken pessimistically (irrelevant ' +
      'items first). Weights are per query.'
    );
  }
  return (
    `Mean average precision over ${at}: per query ml_metrics apk (benhamner/Metrics) = sum over relevant ` +
    `ranks i <= k of hits(i)/i divided by min(R, k), R = #(y > 0), 0 when R = 0; plain map = TREC AP. ` +
    'Averaged over queries; ties broken pessimistically (irrelevant items first); any map@k with k in ' +
    '1..1000 is accepted. Weights are per query.'
  );
}

function makeImpl(name: string, parsed: RankingMetricName): MetricImpl<RankingInput> {
  const spec: MetricSpec = {
    name,
    task: 'ranking',
    direction: 'maximize',
    needsProba: true,
    description: describe(parsed.family, parsed.k),
  };
  return {
    spec,
    validate: (input) => validateRanking(name, input),
    units: (input) => queryCount(input),
    compute(input, weights) {
      return weightedMean(rankingPerQuery(name, input), weights);
    },
    prepare(input) {
      const values = rankingPerQuery(name, input);
      return (weights) => weightedMean(values, weights);
    },
  };
}

/** The ranking metrics `metricsForTask('ranking')` lists (any `ndcg@k`, `map@k` is also accepted). */
export const RANKING_METRICS: ReadonlyArray<MetricImpl<RankingInput>> = [
  'ndcg',
  'ndcg@10',
  'mrr',
  'map',
  'map@10',
].map((name) => makeImpl(name, parseRankingMetricName(name)!));

const cache = new Map<string, MetricImpl<RankingInput>>();

/**
 * The implementation of a ranking metric by name (`ndcg`, `ndcg@k`, `mrr`, `map`, `map@k`, k in
 * 1..1000), or undefined when the name is not one.
 */
export function rankingMetricImpl(name: string): MetricImpl<RankingInput> | undefined {
  const listed = RANKING_METRICS.find((m) => m.spec.name === name);
  if (listed !== undefined) return listed;
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const parsed = parseRankingMetricName(name);
  if (parsed === null) return undefined;
  const impl = makeImpl(name, parsed);
  if (cache.size < 4096) cache.set(name, impl);
  return impl;
}

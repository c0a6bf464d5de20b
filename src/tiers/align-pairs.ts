import type { AbTestRecord } from '../journal/ab.js';
import type { ExperimentRecord, JournalReader } from '../journal/store.js';

/**
 * Pairing imported A/B tests with the experiments they shipped (docs/ARCHITECTURE.md, "Tier 3: A/B results and
 * alignment"). A test's `experiment` names a journal experiment by id (`12` or `#12`) or by a prefix (≥ 4 hex
 * digits) of its commit. The offline delta is the journal's own `delta` of that experiment: its tier-1 score's gain
 * over the best kept score before it (its parent), in the metric's direction (positive = better). Each public
 * metric the experiment and its parent (the experiment whose commit is its parent commit) both recorded, e.g. each
 * part of a composite, gets its own raw delta (experiment − parent, not direction-adjusted).
 */

/** How the online side of a pair is read from a test. */
export interface OnlineOptions {
  /** `diff`: treatment − control (default); `lift`: the relative lift treatment / control − 1. */
  online?: 'diff' | 'lift';
  /** `minimize` when a lower online metric is better (the online delta and its interval are negated). */
  onlineDirection?: 'maximize' | 'minimize';
}

/** One A/B test paired with its experiment. */
export interface AlignPair {
  testId: string;
  experimentId: number;
  commitSha: string | null;
  /** The experiment's tier-1 gain over its parent (journal `delta`, positive = better). */
  offline: number;
  /** The online effect (positive = better) and its interval. */
  online: number;
  onlineLow: number;
  onlineHigh: number;
  /** Raw per-metric deltas (experiment − parent) of the public metrics both recorded. */
  parts: Record<string, number>;
}

/** A test that could not be paired, and why. */
export interface UnpairedTest {
  testId: string;
  experiment: string | null;
  reason: string;
}

/**
 * Pair every imported test that names an experiment with that experiment's offline delta.
 * @returns the pairs (in test id order) and the tests left out with the reason
 */
export function collectPairs(
  journal: JournalReader,
  opts: OnlineOptions = {},
): { pairs: AlignPair[]; unpaired: UnpairedTest[] } {
  return pairTests(journal.listAbTests(), journal.listExperiments(), opts);
}

/** {@link collectPairs} on lists already read (pure). */
export function pairTests(
  tests: AbTestRecord[],
  experiments: ExperimentRecord[],
  opts: OnlineOptions = {},
): { pairs: AlignPair[]; unpaired: UnpairedTest[] } {
  const byId = new Map(experiments.map((e) => [e.id, e]));
  const pairs: AlignPair[] = [];
  const unpaired: UnpairedTest[] = [];
  for (const t of tests) {
    const skip = (reason: string) => unpaired.push({ testId: t.testId, experiment: t.experiment, reason });
    if (!t.experiment) {
      skip(
        'names no experiment (add an experiment column: the experiment id or commit the treatment shipped)',
      );
      continue;
    }
    const found = findExperiment(t.experiment, experiments, byId);
    if (typeof found === 'string') {
      skip(found);
      continue;
    }
    if (found.delta === null || !Number.isFinite(found.delta)) {
      skip(
        `experiment ${found.id} has no offline delta (${found.bestBefore === null ? 'it is a baseline' : `decision ${found.decision}, no score`})`,
      );
      continue;
    }
    const online = onlineOf(t, opts);
    if (online === null) {
      skip('has no relative lift (its control mean is 0): use --online diff');
      continue;
    }
    const parent = [...experiments]
      .reverse()
      .find((e) => e.commitSha !== null && e.commitSha === found.parentSha && e.id !== found.id);
    const parts: Record<string, number> = {};
    if (parent)
      for (const [name, v] of Object.entries(found.metrics)) {
        const p = parent.metrics[name];
        if (p !== undefined && Number.isFinite(v) && Number.isFinite(p)) parts[name] = v - p;
      }
    pairs.push({
      testId: t.testId,
      experimentId: found.id,
      commitSha: found.commitSha,
      offline: found.delta,
      ...online,
      parts,
    });
  }
  return { pairs, unpaired };
}

function findExperiment(
  ref: string,
  experiments: ExperimentRecord[],
  byId: Map<number, ExperimentRecord>,
): ExperimentRecord | string {
  const idMatch = /^#?(\d+)$/.exec(ref);
  if (idMatch) {
    const e = byId.get(Number(idMatch[1]));
    if (e) return e;
    if (ref.length < 4 || ref.startsWith('#')) return `experiment ${ref} is not in the journal`;
  }
  if (!/^[0-9a-f]{4,40}$/i.test(ref)) return `"${ref}" is neither an experiment id nor a commit sha prefix`;
  const lower = ref.toLowerCase();
  const hits = experiments.filter((e) => e.commitSha?.toLowerCase().startsWith(lower));
  const shas = new Set(hits.map((e) => e.commitSha));
  if (hits.length === 0) return `no experiment in the journal has a commit starting with ${ref}`;
  if (shas.size > 1) return `commit prefix ${ref} is ambiguous (${shas.size} commits): give more digits`;
  return hits[hits.length - 1]!;
}

function onlineOf(
  t: AbTestRecord,
  opts: OnlineOptions,
): { online: number; onlineLow: number; onlineHigh: number } | null {
  const e = t.effect;
  const [v, lo, hi] =
    opts.online === 'lift'
      ? e.lift === null || e.liftLow === null || e.liftHigh === null
        ? [null, null, null]
        : [e.lift, e.liftLow, e.liftHigh]
      : [e.diff, e.ciLow, e.ciHigh];
  if (v === null || lo === null || hi === null) return null;
  return opts.onlineDirection === 'minimize'
    ? { online: -v, onlineLow: -hi, onlineHigh: -lo }
    : { online: v, onlineLow: lo, onlineHigh: hi };
}

import type { ReviewRecord } from '../journal/reviews.js';
import type { ExperimentRecord, JournalReader } from '../journal/store.js';
import { logEntry, type StatusExperiment, statusExperiment } from '../journal/views.js';
import type { ChartMarkCache, ChartPoint } from '../report/chart.js';

/**
 * The Studio's memory of one run's experiments, kept between snapshots and brought up to date with only what the
 * journal added since (docs/ARCHITECTURE.md, "The Studio"): a snapshot at 5,000 experiments no longer re-reads,
 * re-parses and re-serializes every row. Each experiment is held once, as the JSON of its table row (its log
 * entry) plus the few fields the status, the chart and the change checks need; the row's `private` and `review`
 * are added when the snapshot is written, so a submission or a review never touches the rows. A snapshot carries
 * only the newest rows ({@link RunHistory.newestJson}); older ones are read page by page ({@link RunHistory.page}),
 * each written from the kept JSON (no row is serialized again).
 *
 * Experiment rows change only by their conclusion (`Journal.setConclusion`), and are never deleted; the
 * directions of a run record theirs out of id order, so new and changed rows are found by their row version
 * (`Journal.experimentsVersion`), not by "after the last id".
 */

/** One experiment as the history keeps it. */
interface Entry {
  id: number;
  /** JSON of its log entry without the closing brace (`private` and `review` follow, see {@link rowJson}). */
  row: string;
  facts: StatusExperiment;
  point: ChartPoint;
  conclusion: string | null;
  /** Its duration, ms, rounded as the row's `duration_s` is (the ETA's median reads it). */
  durationMs: number;
}

/** One page of a run's table rows (see {@link RunHistory.page}). */
export interface RowsPage {
  /** The rows as a JSON array, newest (highest id) first. */
  json: string;
  /** How many rows it holds. */
  count: number;
  /** The `before` of the next (older) page: the lowest id in this one; null when no older row is left. */
  next: number | null;
}

/** Runs whose history one journal's cache keeps (the run shown and the one shown before). */
export const KEPT_RUNS = 2;

/** A run's experiments as the Studio shows them, refreshed from the journal by {@link RunHistory.refresh}. */
export class RunHistory {
  readonly runId: string;
  /** Entries by ascending id. */
  #entries: Entry[] = [];
  #byId = new Map<number, Entry>();
  /** `Journal.experimentsVersion` as of the last refresh, as text. */
  #stamp = '';
  /** The highest row version read (see `Journal.experimentsVersion`). */
  #rowVersion = 0;
  /** How many held entries were replaced (a conclusion set after the row was read). */
  #replaced = 0;
  /** The chart's per-mark cache (see ChartInput.marks). */
  readonly marks: ChartMarkCache = new Map();
  /** Bumped whenever an entry is added, replaced or dropped. */
  #version = 0;
  /** The last value made by {@link cached} under each name, with its key. */
  readonly #memo = new Map<string, { key: string; value: string }>();

  constructor(runId: string) {
    this.runId = runId;
  }

  /** How many experiments it holds. */
  get size(): number {
    return this.#entries.length;
  }

  /** How many held entries were replaced since this history was made: a conclusion set after the row was read. */
  get replaced(): number {
    return this.#replaced;
  }

  /** A number that changes whenever the entries change (an experiment added, a conclusion changed). */
  get version(): number {
    return this.#version;
  }

  /**
   * Text made from the entries and `key` (which must name everything else it depends on), made again only when
   * the entries or the key changed since the last call under `name`: a snapshot taken while nothing changed (a log
   * line of the running experiment, a finished run) reuses the chart and the rows, ~40 ms at 5,000 experiments.
   */
  cached(name: string, key: string, make: () => string): string {
    const k = `${this.#version}\u0000${key}`;
    const hit = this.#memo.get(name);
    if (hit && hit.key === k) return hit.value;
    const value = make();
    this.#memo.set(name, { key: k, value });
    return value;
  }

  /**
   * Read what the journal added or changed since the last refresh: the run's rows with a row version above the last
   * one seen (new experiments, whatever their id, and rows whose conclusion was set since), through an index, so a
   * poll costs what changed and not the run's size. Nothing is read when the run's count, highest id and highest
   * row version are unchanged. The whole run is read at the first refresh, when rows went missing (a journal replaced
   * under the Studio), when a journal without row versions changed, and when what was read does not add up to the
   * run's count (rows written without a version, by an older Ratchet).
   */
  refresh(journal: JournalReader): void {
    // The version first: a row written after it is read again at the next refresh (adding is idempotent by id).
    const v = journal.experimentsVersion(this.runId);
    const stamp = `${v.count}/${v.maxId}/${v.version ?? `legacy ${v.legacy}`}`;
    if (stamp === this.#stamp) return;
    if (v.count === 0) {
      if (this.#entries.length > 0) this.readAll(journal); // rows went missing: a journal replaced
    } else if (this.#entries.length === 0 || v.version === null || v.count < this.#entries.length) {
      this.readAll(journal);
    } else {
      const fresh: ExperimentRecord[] = [];
      for (const rec of journal.listExperiments(this.runId, { changedAfter: this.#rowVersion })) {
        const held = this.#byId.get(rec.id);
        if (!held) fresh.push(rec);
        else if (held.conclusion !== rec.conclusion) this.replace(held, rec);
      }
      this.add(fresh);
      // Fewer than counted: rows without a version were written (more is a row recorded since the count, read now).
      if (this.#entries.length < v.count) this.readAll(journal);
    }
    this.#rowVersion = v.version ?? 0;
    this.#stamp = stamp;
  }

  /** Drop what is held and read the whole run again. */
  private readAll(journal: JournalReader): void {
    if (this.#entries.length > 0) this.#replaced++; // rows a page loaded may be gone or different
    this.#entries = [];
    this.#byId.clear();
    this.marks.clear();
    this.#version++;
    this.add(journal.listExperiments(this.runId));
  }

  /** Add records not held yet, keeping the entries in id order. */
  private add(records: ExperimentRecord[]): void {
    if (records.length === 0) return;
    this.#version++;
    const made = records.map((r) => entryOf(r));
    for (const e of made) this.#byId.set(e.id, e);
    const lastId = this.#entries[this.#entries.length - 1]?.id ?? 0;
    for (const e of made) this.#entries.push(e);
    // Records come in id order; one below the last held (another direction finished later) needs a sort.
    if (made.some((e, i) => e.id < (i === 0 ? lastId : made[i - 1]!.id)))
      this.#entries.sort((a, b) => a.id - b.id);
  }

  /** Rebuild an entry from its re-read record (its conclusion changed). */
  private replace(old: Entry, rec: ExperimentRecord): void {
    this.#version++;
    this.#replaced++;
    Object.assign(old, entryOf(rec));
  }

  /** The experiments' status facts, by ascending id (what `runStatusView` reads). */
  facts(): StatusExperiment[] {
    return this.#entries.map((e) => e.facts);
  }

  /** The chart's points, by ascending id. */
  points(): ChartPoint[] {
    return this.#entries.map((e) => e.point);
  }

  /**
   * The newest rows of the experiment table as JSON text, by ascending id (what a snapshot carries): at most
   * `limit` rows, each with its private-holdout score and standing review. Only these rows are written (never every
   * row of the run), and the text is reused while neither the entries nor the scores and reviews changed.
   * @param limit how many rows at most (the newest by id); a positive integer
   * @param priv experiment id → private primary score
   * @param standing experiment id → its standing review
   */
  newestJson(
    limit: number,
    priv: ReadonlyMap<number, number>,
    standing: ReadonlyMap<number, ReviewRecord>,
  ): string {
    const key = `${limit}|${reviewKey(priv, standing)}`;
    return this.cached('newest', key, () => {
      const from = Math.max(0, this.#entries.length - limit);
      return `[${this.#entries
        .slice(from)
        .map((e) => rowJson(e, priv, standing))
        .join(',')}]`;
    });
  }

  /**
   * A page of the experiment table, newest first: the rows with an id below `before` (every row when undefined),
   * at most `limit` of them, as JSON text in the snapshot's row shape. Paging with each page's `next` as the next
   * `before` walks the whole run without a gap or an overlap (rows recorded meanwhile with a lower id than a page
   * already read excepted: the directions of a run record out of id order).
   * @param before an experiment id (exclusive upper bound), or undefined for the newest page
   * @param limit how many rows at most; a positive integer
   */
  page(
    before: number | undefined,
    limit: number,
    priv: ReadonlyMap<number, number>,
    standing: ReadonlyMap<number, ReviewRecord>,
  ): RowsPage {
    const end = before === undefined ? this.#entries.length : this.indexOf(before);
    const from = Math.max(0, end - limit);
    const parts: string[] = [];
    for (let i = end - 1; i >= from; i--) parts.push(rowJson(this.#entries[i]!, priv, standing));
    return {
      json: `[${parts.join(',')}]`,
      count: parts.length,
      next: from > 0 ? this.#entries[from]!.id : null,
    };
  }

  /**
   * The lowest id among the newest `limit` entries (those {@link newestJson} writes), or null when the history holds
   * no more than `limit` (every entry is among the newest).
   */
  newestFrom(limit: number): number | null {
    return this.#entries.length > limit ? this.#entries[this.#entries.length - limit]!.id : null;
  }

  /** The index of the first entry whose id is at least `id` (the entries' length when none): a binary search. */
  private indexOf(id: number): number {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#entries[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The median duration of the run's experiments, ms, over every row held (not only a snapshot's newest): what the
   * page's ETA multiplies by the experiments left. Rows of 0 ms are left out; null when no row is left.
   */
  medianDurationMs(): number | null {
    const text = this.cached('median', '', () => {
      const d = this.#entries
        .map((e) => e.durationMs)
        .filter((v) => v > 0)
        .sort((a, b) => a - b);
      if (d.length === 0) return 'null';
      const h = Math.floor(d.length / 2);
      return String(d.length % 2 ? d[h]! : (d[h - 1]! + d[h]!) / 2);
    });
    return text === 'null' ? null : Number(text);
  }
}

/** What the private scores and standing reviews add to the rows, as a cache key. */
export function reviewKey(
  priv: ReadonlyMap<number, number>,
  standing: ReadonlyMap<number, ReviewRecord>,
): string {
  return `${[...priv].join(';')}|${[...standing].map(([id, r]) => `${id}:${r.decision}`).join(';')}`;
}

/** One table row as JSON: the entry's kept text closed with its private-holdout score and standing review. */
function rowJson(
  e: Entry,
  priv: ReadonlyMap<number, number>,
  standing: ReadonlyMap<number, ReviewRecord>,
): string {
  const p = priv.get(e.id);
  const r = standing.get(e.id);
  if (p === undefined && r === undefined) return `${e.row},"private":null,"review":null}`;
  return `${e.row},"private":${JSON.stringify(p ?? null)},"review":${JSON.stringify(r?.decision ?? null)}}`;
}

/** Hypotheses longer than this are cut in the chart's tooltips. */
const POINT_HYPOTHESIS = 160;

function entryOf(r: ExperimentRecord): Entry {
  const row = JSON.stringify(logEntry(r));
  const h = r.hypothesis;
  return {
    id: r.id,
    row: row.slice(0, -1),
    facts: statusExperiment(r),
    point: {
      id: r.id,
      seq: r.seq,
      decision: r.decision,
      score: r.score,
      hypothesis: h.length > POINT_HYPOTHESIS ? `${h.slice(0, POINT_HYPOTHESIS - 1)}…` : h,
      direction: r.direction ?? null,
    },
    conclusion: r.conclusion,
    durationMs: Math.round(r.durationMs),
  };
}

/** Each open journal's run histories, most recently used last (at most {@link KEPT_RUNS}). */
const histories = new WeakMap<object, Map<string, RunHistory>>();

/**
 * The history of a run kept for this journal connection (made on first use, refreshed here), so every snapshot of
 * a Studio reads only what changed. Another connection (a new `Journal.open`) starts its own from scratch.
 */
export function runHistory(journal: JournalReader, runId: string): RunHistory {
  let runs = histories.get(journal);
  if (!runs) {
    runs = new Map();
    histories.set(journal, runs);
  }
  let h = runs.get(runId);
  if (h) runs.delete(runId);
  else h = new RunHistory(runId);
  runs.set(runId, h);
  while (runs.size > KEPT_RUNS) runs.delete(runs.keys().next().value as string);
  h.refresh(journal);
  return h;
}

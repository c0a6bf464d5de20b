/**
 * Tidy the experiments' trace folders (`.ratchet/runs/<id>/`) so proposers only ever see finished experiments
 * and the disk stays bounded:
 * - a trace folder with no journal row (an experiment interrupted by a crash or the kill switch, half-written)
 *   is moved out of the traces folder into `.ratchet/orphans/<id>/`, where no proposer looks;
 * - the output folders (predictions and whatever the command wrote) of an experiment rejected for its output
 *   size are deleted at once, and those of experiments that were not kept are deleted once
 *   `retention.keep_last` (default {@link KEEP_OUTPUTS}) newer ones exist; the outputs of older `ratchet check`
 *   measurements are deleted too. Logs, patch and experiment.json stay; `output-pruned.txt`
 *   says what was deleted and why. Kept experiments keep everything (resume and submit read their outputs).
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { EventRecord, ExperimentOutcome } from '../journal/store.js';
import { removeNoFollow } from '../util/fs.js';

/** Output folders kept for experiments that were not kept: the newest this many. */
export const KEEP_OUTPUTS = 20;
/** Project-relative folder of the experiments' trace folders. */
const RUNS_DIR = '.ratchet/runs';
/** Project-relative folder of `ratchet check`'s baseline measurements. */
export const CHECKS_DIR = '.ratchet/checks';
/** Project-relative folder that receives orphaned trace folders. */
export const ORPHANS_DIR = '.ratchet/orphans';
/** Note left in an experiment's trace folder when its outputs were deleted. */
export const PRUNED_NOTE = 'output-pruned.txt';

/** Output folders of an experiment's trace folder: `output/` and `confirm-<j>/output/`. */
function outputDirs(dir: string): string[] {
  const out = [join(dir, 'output')];
  try {
    for (const n of readdirSync(dir)) if (/^confirm-\d+$/.test(n)) out.push(join(dir, n, 'output'));
  } catch {
    // no folder
  }
  return out.filter((p) => existsSync(p));
}

/**
 * Delete the content of an experiment's output folders (never following links) and leave a note.
 * @returns false when it was already pruned (or has no outputs)
 */
export function pruneOutputs(dir: string, why: string): boolean {
  if (existsSync(join(dir, PRUNED_NOTE))) return false;
  const dirs = outputDirs(dir);
  if (dirs.length === 0) return false;
  for (const d of dirs) for (const n of readdirSync(d)) removeNoFollow(join(d, n));
  writeFileSync(
    join(dir, PRUNED_NOTE),
    `The output folders of this experiment were deleted by Ratchet: ${why}.\nLogs, patch.diff and experiment.json are kept.\n`,
  );
  return true;
}

/** One output folder set that retention deletes. */
export interface PruneItem {
  /** `experiment`: a trace folder's outputs; `check`: the outputs of an older `ratchet check` measurement. */
  kind: 'experiment' | 'check';
  /** Experiment id (null for a check). */
  id: number | null;
  /** The trace folder (experiment) or the check folder (`.ratchet/checks/<stamp>`), absolute. */
  dir: string;
  /** Bytes its output folders hold (files counted by size, links and folders not followed). */
  bytes: number;
  /** Why it is deleted (written into the note left behind). */
  why: string;
}

/** Total size in bytes of the regular files under `path` (never following links). */
export function treeBytes(path: string): number {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  let sum = 0;
  for (const n of readdirSync(path)) sum += treeBytes(join(path, n));
  return sum;
}

/** Output folders of a check folder: `<stamp>/<i>/output`. */
function checkOutputs(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /^\d+$/.test(n))
      .map((n) => join(dir, n, 'output'))
      .filter((p) => existsSync(p));
  } catch {
    return [];
  }
}

/** The numeric trace folder names of `runsDir` as ids, ascending (none when it does not exist). */
function traceIds(runsDir: string): number[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir)
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * The experiment items of a retention plan: of the trace folders `ids` (ascending, each with a journal row in
 * `byId`), the outputs of experiments that were not kept, except the newest `keepLast` of them (one rejected for
 * its output size loses them at once), unless already pruned.
 * @param pruned ids known to hold `output-pruned.txt` already (their folders are not looked at); a note is never
 *   removed from a folder that still exists, so a caller may remember what it saw or wrote
 * @param seen receives the ids found pruned on disk (to remember them)
 */
function experimentItems(
  runsDir: string,
  ids: readonly number[],
  byId: ReadonlyMap<number, ExperimentOutcome>,
  keepLast: number,
  pruned: ReadonlySet<number> = new Set(),
  seen: Set<number> | null = null,
): PruneItem[] {
  const items: PruneItem[] = [];
  const others = ids.filter((id) => byId.get(id)!.decision !== 'kept');
  const oldCount = Math.max(0, others.length - keepLast);
  for (let i = 0; i < others.length; i++) {
    const id = others[i]!;
    if (pruned.has(id)) continue;
    const r = byId.get(id)!;
    const why =
      r.sandboxStatus === 'output_limit'
        ? `it was ${r.decision} for passing the output size cap`
        : i < oldCount
          ? `predictions pruned by retention: it was ${r.decision} and ${keepLast} newer experiments that were not kept exist (retention.keep_last)`
          : null;
    if (!why) continue;
    const dir = join(runsDir, String(id).padStart(4, '0'));
    if (existsSync(join(dir, PRUNED_NOTE))) {
      seen?.add(id);
      continue;
    }
    const dirs = outputDirs(dir);
    if (dirs.length === 0) continue;
    items.push({ kind: 'experiment', id, dir, bytes: dirs.reduce((a, d) => a + treeBytes(d), 0), why });
  }
  return items;
}

/** The check items of a retention plan: the outputs of every `ratchet check` measurement but the newest. */
function checkItems(projectDir: string): PruneItem[] {
  const items: PruneItem[] = [];
  const checksDir = join(projectDir, CHECKS_DIR);
  if (!existsSync(checksDir)) return items;
  // Stamps are check-<epoch ms>-<pid>: the newest measurement keeps its outputs.
  const stamps = readdirSync(checksDir)
    .filter((n) => /^check-\d+-\d+$/.test(n))
    .sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
  for (const st of stamps.slice(0, -1)) {
    const dir = join(checksDir, st);
    if (existsSync(join(dir, PRUNED_NOTE))) continue;
    const dirs = checkOutputs(dir);
    if (dirs.length === 0) continue;
    const bytes = dirs.reduce((a, d) => a + treeBytes(d), 0);
    items.push({ kind: 'check', id: null, dir, bytes, why: 'a newer `ratchet check` measurement exists' });
  }
  return items;
}

/**
 * What retention would delete now (docs/ARCHITECTURE.md, "Retention"): the outputs of experiments that were not
 * kept, except the newest `keepLast` of them (an experiment rejected for its output size loses them at once);
 * and the outputs of every `ratchet check` measurement but the newest. Kept experiments (the baseline and the
 * current best among them) keep their outputs: the report's winner plot, resume and submit read them.
 * Folders already pruned are not listed.
 * @param records every recorded experiment of the project (all runs): id, decision and sandbox status
 */
export function retentionPlan(
  projectDir: string,
  records: readonly ExperimentOutcome[],
  keepLast: number,
): PruneItem[] {
  const runsDir = join(projectDir, RUNS_DIR);
  const byId = new Map(records.map((r) => [r.id, r]));
  const ids = traceIds(runsDir).filter((id) => byId.has(id));
  return [...experimentItems(runsDir, ids, byId, keepLast), ...checkItems(projectDir)];
}

/**
 * Delete what {@link retentionPlan} listed (never following links) and leave `output-pruned.txt` in each folder.
 * @returns the items actually pruned (a folder that cannot be handled is skipped, left for the next time)
 */
export function applyRetention(items: PruneItem[]): PruneItem[] {
  const done: PruneItem[] = [];
  for (const it of items) {
    try {
      if (it.kind === 'experiment') {
        if (pruneOutputs(it.dir, it.why)) done.push(it);
      } else {
        for (const d of checkOutputs(it.dir)) for (const n of readdirSync(d)) removeNoFollow(join(d, n));
        writeFileSync(
          join(it.dir, PRUNED_NOTE),
          `The output folders of this check were deleted by Ratchet: ${it.why}.\n`,
        );
        done.push(it);
      }
    } catch {
      // left for the next tidy
    }
  }
  return done;
}

/** True when retention deleted the outputs of this trace folder (`.ratchet/runs/<id>`). */
export function outputsPruned(traceDir: string): boolean {
  return existsSync(join(traceDir, PRUNED_NOTE));
}

/** What {@link tidyTraces} did. */
export interface TidyReport {
  /** Ids of trace folders moved to the orphans folder. */
  orphaned: number[];
  /** What retention deleted. */
  pruned: PruneItem[];
}

/**
 * Move the trace folders `ids` that have no journal row and are not under way aside into the orphans folder.
 * @returns the ids moved (or, when the move failed, deleted)
 */
function moveOrphans(
  projectDir: string,
  runsDir: string,
  ids: readonly number[],
  byId: ReadonlyMap<number, ExperimentOutcome>,
  active: ReadonlySet<number>,
): number[] {
  const orphaned: number[] = [];
  for (const id of ids) {
    if (byId.has(id) || active.has(id)) continue;
    const from = join(runsDir, String(id).padStart(4, '0'));
    const to = join(projectDir, ORPHANS_DIR, `${String(id).padStart(4, '0')}-${Date.now()}`);
    try {
      mkdirSync(join(projectDir, ORPHANS_DIR), { recursive: true });
      renameSync(from, to);
      orphaned.push(id);
    } catch {
      removeNoFollow(from);
      if (!existsSync(from)) orphaned.push(id);
    }
  }
  return orphaned;
}

/**
 * Move orphaned trace folders aside and apply retention (see the module comment): a full scan, every folder and
 * record looked at. A run tidies before each experiment with {@link TraceTidy}, which does the same incrementally.
 * Never throws for a folder it cannot handle (it is skipped).
 * @param runsDir the traces folder (`<project>/.ratchet/runs`)
 * @param records every recorded experiment of the project (all runs): id, decision and sandbox status
 * @param keepOutputs outputs kept for not-kept experiments (newest first; the contract's retention.keep_last)
 * @param active ids of experiments under way in other directions (folders without a journal row yet, left alone)
 */
export function tidyTraces(
  projectDir: string,
  runsDir: string,
  records: readonly ExperimentOutcome[],
  keepOutputs = KEEP_OUTPUTS,
  active: ReadonlySet<number> = new Set(),
): TidyReport {
  const report: TidyReport = { orphaned: [], pruned: [] };
  if (!existsSync(runsDir)) return report;
  const byId = new Map(records.map((r) => [r.id, r]));
  report.orphaned = moveOrphans(projectDir, runsDir, traceIds(runsDir), byId, active);
  report.pruned = applyRetention(retentionPlan(projectDir, records, keepOutputs));
  return report;
}

/**
 * The trace tidy of one run session, incremental: it does before each experiment what {@link tidyTraces} does
 * (the same folders orphaned, the same outputs pruned, in the same order), without most of the full scan's cost
 * (~57–100 ms per experiment at 5,000 experiments: a `stat` per folder and the journal's every row). It keeps
 * - the journal's outcomes seen so far: an experiment's id, decision and sandbox status never change once
 *   recorded, so each tidy reads only the rows from the lowest id that may still be recorded (the lowest folder
 *   without a row, under way, or after the highest recorded id: ids are reserved in order);
 * - the ids whose outputs it found pruned or pruned itself: a note is never removed from a folder that still
 *   exists, so those folders are never looked at again.
 * Each tidy still lists the traces folder (one `readdir`, ~0.5 µs per entry) so folders created or removed by
 * anything else are seen as a full scan sees them. With `minIntervalMs`, a tidy within that time of the last one
 * does nothing: a run's session with several directions tidies at most once a second, since listing the folder and planning the
 * retention is O(experiments) (6–8 ms per experiment at 5,000, measured by bench/scale.ts with 64 directions
 * starting ~30 experiments a second), and within a session no folder can become an orphan (the run lock keeps
 * other runs out; the session's own experiments are under way until recorded). The first tidy always runs: the
 * half-written folders of a crashed run go aside before any proposer looks.
 */
export class TraceTidy {
  readonly #projectDir: string;
  readonly #runsDir: string;
  readonly #keepOutputs: number;
  readonly #outcomes = new Map<number, ExperimentOutcome>();
  /** Rows are read from this id on (0: not read yet). */
  #from = 0;
  /** The highest recorded id seen. */
  #max = 0;
  readonly #pruned = new Set<number>();
  readonly #minIntervalMs: number;
  /** performance.now() of the last tidy that ran (null: none yet). */
  #last: number | null = null;

  /**
   * @param projectDir the project; its traces folder is `.ratchet/runs`
   * @param keepOutputs outputs kept for not-kept experiments (the contract's retention.keep_last)
   * @param minIntervalMs a tidy this soon after the last one that ran does nothing, ms (default 0: every tidy runs)
   */
  constructor(projectDir: string, keepOutputs = KEEP_OUTPUTS, minIntervalMs = 0) {
    this.#projectDir = projectDir;
    this.#runsDir = join(projectDir, RUNS_DIR);
    this.#keepOutputs = keepOutputs;
    this.#minIntervalMs = minIntervalMs;
  }

  /**
   * Tidy now: what `tidyTraces(projectDir, runsDir, journal.listOutcomes(), keepOutputs, active)` would do.
   * Never throws for a folder it cannot handle (it is skipped, left for the next tidy).
   * @param journal where the outcomes come from (`listOutcomes({ fromId })`)
   * @param active ids of experiments under way (reserved, not recorded yet): left alone
   */
  tidy(
    journal: { listOutcomes(opts: { fromId?: number }): ExperimentOutcome[] },
    active: ReadonlySet<number> = new Set(),
  ): TidyReport {
    const report: TidyReport = { orphaned: [], pruned: [] };
    const now = performance.now();
    if (this.#last !== null && now - this.#last < this.#minIntervalMs) return report;
    this.#last = now;
    for (const r of journal.listOutcomes({ fromId: this.#from })) {
      this.#outcomes.set(r.id, r);
      this.#max = Math.max(this.#max, r.id);
    }
    if (!existsSync(this.#runsDir)) {
      this.#from = this.nextFrom([], active);
      return report;
    }
    const all = traceIds(this.#runsDir);
    report.orphaned = moveOrphans(this.#projectDir, this.#runsDir, all, this.#outcomes, active);
    const gone = new Set(report.orphaned);
    const ids = all.filter((id) => this.#outcomes.has(id) && !gone.has(id));
    const items = [
      ...experimentItems(this.#runsDir, ids, this.#outcomes, this.#keepOutputs, this.#pruned, this.#pruned),
      ...checkItems(this.#projectDir),
    ];
    report.pruned = applyRetention(items);
    for (const p of report.pruned) if (p.id !== null) this.#pruned.add(p.id);
    this.#from = this.nextFrom(
      all.filter((id) => !this.#outcomes.has(id) && !gone.has(id)),
      active,
    );
    return report;
  }

  /**
   * The lowest id whose row may still be written: a folder without a row, an experiment under way, or the next id
   * after the highest recorded (ids are reserved in ascending order, so a newer reservation is above it).
   */
  private nextFrom(unrecorded: readonly number[], active: ReadonlySet<number>): number {
    let from = this.#max + 1;
    for (const id of unrecorded) from = Math.min(from, id);
    for (const id of active) from = Math.min(from, id);
    return from;
  }
}

/**
 * The journal event recording a pruning (kind `retention.pruned`, severity info): the experiment ids and
 * check folders whose outputs were deleted and the bytes freed.
 */
export function retentionEvent(runId: string | null, pruned: PruneItem[]): Omit<EventRecord, 'id'> {
  const bytes = pruned.reduce((a, p) => a + p.bytes, 0);
  const experiments = pruned.filter((p) => p.kind === 'experiment').map((p) => p.id!);
  const checks = pruned.filter((p) => p.kind === 'check').map((p) => basename(p.dir));
  return {
    ts: new Date().toISOString(),
    runId,
    experimentId: null,
    kind: 'retention.pruned',
    severity: 'info',
    guardrail: null,
    message: `predictions pruned by retention: ${experiments.length} experiment(s)${experiments.length ? ` (#${experiments.join(', #')})` : ''}, ${checks.length} check folder(s); ${bytes} bytes freed`,
    data: { experiments, checks, bytes },
  };
}

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
  const items: PruneItem[] = [];
  const byId = new Map(records.map((r) => [r.id, r]));
  const ids = existsSync(runsDir)
    ? readdirSync(runsDir)
        .filter((n) => /^\d+$/.test(n))
        .map(Number)
        .filter((id) => byId.has(id))
        .sort((a, b) => a - b)
    : [];
  const others = ids.filter((id) => byId.get(id)!.decision !== 'kept');
  const old = new Set(others.slice(0, Math.max(0, others.length - keepLast)));
  for (const id of others) {
    const r = byId.get(id)!;
    const dir = join(runsDir, String(id).padStart(4, '0'));
    if (existsSync(join(dir, PRUNED_NOTE))) continue;
    const why =
      r.sandboxStatus === 'output_limit'
        ? `it was ${r.decision} for passing the output size cap`
        : old.has(id)
          ? `predictions pruned by retention: it was ${r.decision} and ${keepLast} newer experiments that were not kept exist (retention.keep_last)`
          : null;
    if (!why) continue;
    const dirs = outputDirs(dir);
    if (dirs.length === 0) continue;
    items.push({ kind: 'experiment', id, dir, bytes: dirs.reduce((a, d) => a + treeBytes(d), 0), why });
  }
  const checksDir = join(projectDir, CHECKS_DIR);
  if (existsSync(checksDir)) {
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
  }
  return items;
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
 * Move orphaned trace folders aside and apply retention (see the module comment). Never throws for a folder
 * it cannot handle (it is skipped).
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
  const ids = readdirSync(runsDir)
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  for (const id of ids) {
    if (byId.has(id) || active.has(id)) continue;
    const from = join(runsDir, String(id).padStart(4, '0'));
    const to = join(projectDir, ORPHANS_DIR, `${String(id).padStart(4, '0')}-${Date.now()}`);
    try {
      mkdirSync(join(projectDir, ORPHANS_DIR), { recursive: true });
      renameSync(from, to);
      report.orphaned.push(id);
    } catch {
      removeNoFollow(from);
      if (!existsSync(from)) report.orphaned.push(id);
    }
  }
  report.pruned = applyRetention(retentionPlan(projectDir, records, keepOutputs));
  return report;
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

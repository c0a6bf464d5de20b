/**
 * Tidy the experiments' trace folders (`.ratchet/runs/<id>/`) so proposers only ever see finished experiments
 * and the disk stays bounded:
 * - a trace folder with no journal row (an experiment interrupted by a crash or the kill switch, half-written)
 *   is moved out of the traces folder into `.ratchet/orphans/<id>/`, where no proposer looks;
 * - the output folders (predictions and whatever the command wrote) of an experiment rejected for its output
 *   size are deleted at once, and those of experiments that were not kept are deleted once
 *   {@link KEEP_OUTPUTS} newer experiments exist. Logs, patch and experiment.json stay; `output-pruned.txt`
 *   says what was deleted and why. Kept experiments keep everything (resume and submit read their outputs).
 */
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentRecord } from '../journal/store.js';
import { removeNoFollow } from '../util/fs.js';

/** Output folders kept for experiments that were not kept: the newest this many. */
export const KEEP_OUTPUTS = 20;
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

/** What {@link tidyTraces} did. */
export interface TidyReport {
  /** Ids of trace folders moved to the orphans folder. */
  orphaned: number[];
  /** Ids whose outputs were deleted. */
  pruned: number[];
}

/**
 * Move orphaned trace folders aside and prune outputs (see the module comment). Never throws for a folder it
 * cannot handle (it is skipped).
 * @param runsDir the traces folder (`<project>/.ratchet/runs`)
 * @param records every recorded experiment of the project (all runs)
 * @param keepOutputs outputs kept for not-kept experiments (newest first)
 */
export function tidyTraces(
  projectDir: string,
  runsDir: string,
  records: ExperimentRecord[],
  keepOutputs = KEEP_OUTPUTS,
): TidyReport {
  const report: TidyReport = { orphaned: [], pruned: [] };
  if (!existsSync(runsDir)) return report;
  const byId = new Map(records.map((r) => [r.id, r]));
  const ids = readdirSync(runsDir)
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  for (const id of ids) {
    if (byId.has(id)) continue;
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
  const others = ids.filter((id) => byId.has(id) && byId.get(id)!.decision !== 'kept');
  const old = new Set(others.slice(0, Math.max(0, others.length - keepOutputs)));
  for (const id of others) {
    const r = byId.get(id)!;
    const dir = join(runsDir, String(id).padStart(4, '0'));
    const why =
      r.sandboxStatus === 'output_limit'
        ? `it was ${r.decision} for passing the output size cap`
        : old.has(id)
          ? `it was ${r.decision} and ${keepOutputs} newer experiments that were not kept exist`
          : null;
    if (!why) continue;
    try {
      if (pruneOutputs(dir, why)) report.pruned.push(id);
    } catch {
      // left for the next tidy
    }
  }
  return report;
}

/**
 * Split versions (docs/ARCHITECTURE.md, "The contract and the lock"): once a project has runs, `ratchet init` re-
 * splits only with `--force`, and then keeps the earlier split (its data files, its vault and its lock) as a
 * version under `.ratchet/splits/v<k>/`, laid out like the project root (`.ratchet/data`, `.ratchet/vault`,
 * `ratchet.lock`) so the lock's paths check it as they are. Every run records the split version it ran on;
 * `submit` scores a run on its own version.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATA_DIR, readManifest, VAULT_DIR } from '../data/ingest.js';
import { JOURNAL_FILE, Journal, type JournalReader, type RunRecord } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { sha256File } from '../util/fs.js';
import type { Contract } from './load.js';
import { CONTRACT_FILE } from './load.js';
import { LOCK_FILE, readLock } from './lock.js';

/** Project-relative folder of the kept earlier splits. */
export const SPLITS_DIR = '.ratchet/splits';
/** Journal meta key of the current split version. */
const META_KEY = 'split_version';

/** The current split version of a project (1 until a forced re-split). */
export function currentSplitVersion(journal: JournalReader): number {
  const v = Number(journal.getMeta(META_KEY) ?? 1);
  return Number.isInteger(v) && v >= 1 ? v : 1;
}

/** The split version a run ran on (runs recorded before versions existed ran on version 1). */
export function runSplitVersion(run: RunRecord): number {
  const v = run.config['splitVersion'];
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1;
}

/** Folder that holds version `v` of the split, laid out like the project root. */
export function splitVersionDir(projectDir: string, v: number): string {
  return join(projectDir, SPLITS_DIR, `v${v}`);
}

/** What a re-split would change in a project that has runs. */
export interface ResplitPlan {
  /** Runs recorded in the journal. */
  runs: number;
  /** The current split version (it is kept as this version). */
  version: number;
  /** What changed since the split was made (the data file, the contract). */
  changed: string[];
}

/**
 * Whether `ratchet init` would re-split a project that has runs: the data file's SHA-256 differs from the
 * split's manifest, or the contract differs from the lock. Null when the project has no run, no split yet, or
 * nothing that shapes the split changed (then init re-locks without touching the holdouts' meaning).
 */
export async function resplitPlan(projectDir: string, contract: Contract): Promise<ResplitPlan | null> {
  if (!existsSync(join(projectDir, JOURNAL_FILE)) || !existsSync(join(projectDir, DATA_DIR, 'split.json')))
    return null;
  const j = Journal.open(projectDir, { readonly: true });
  let runs: number;
  let version: number;
  try {
    runs = j.listRuns().length;
    version = currentSplitVersion(j);
  } finally {
    j.close();
  }
  if (runs === 0) return null;
  const changed: string[] = [];
  const manifest = readManifest(projectDir);
  const source = resolve(projectDir, contract.data.source);
  const sha = existsSync(source) ? await sha256File(source) : null;
  if (sha !== manifest.source.sha256) changed.push(`${contract.data.source} (the data changed)`);
  try {
    const lock = readLock(projectDir);
    const want = lock.contract[CONTRACT_FILE];
    if (want && (await sha256File(join(projectDir, CONTRACT_FILE))) !== want)
      changed.push(`${CONTRACT_FILE} (the contract changed)`);
  } catch {
    // no readable lock: the data check decides
  }
  return changed.length > 0 ? { runs, version, changed } : null;
}

/** The refusal of a re-split without --force. */
export function resplitRefusal(p: ResplitPlan): RatchetError {
  return new RatchetError(
    `the project has ${p.runs} run${p.runs === 1 ? '' : 's'} and ${p.changed.join(' and ')}: re-splitting changes the holdouts ` +
      'the runs were scored on, so init refused and changed nothing',
    {
      hint: `pass --force to re-split and keep the current split as version ${p.version} (.ratchet/splits/v${p.version}), so earlier runs stay scoreable by submit; or restore the data`,
      exitCode: 3,
    },
  );
}

/** Copy the current split (data files, vault, lock) into version `v`'s folder (replacing an earlier copy). */
export function archiveSplit(projectDir: string, v: number): string {
  const dest = splitVersionDir(projectDir, v);
  rmSync(dest, { recursive: true, force: true });
  for (const rel of [DATA_DIR, VAULT_DIR, LOCK_FILE]) {
    const src = join(projectDir, rel);
    if (existsSync(src)) cpSync(src, join(dest, rel), { recursive: true });
  }
  return dest;
}

/** Put version `v`'s copy back in place (a re-split that failed half-way leaves the project as it was). */
export function restoreSplit(projectDir: string, v: number): void {
  const src = splitVersionDir(projectDir, v);
  for (const rel of [DATA_DIR, VAULT_DIR, LOCK_FILE]) {
    const from = join(src, rel);
    if (!existsSync(from)) continue;
    rmSync(join(projectDir, rel), { recursive: true, force: true });
    cpSync(from, join(projectDir, rel), { recursive: true });
  }
  rmSync(src, { recursive: true, force: true });
}

/** Record in the journal that the split moved to version `v` (a `split.version` event with what changed). */
export function recordSplitVersion(projectDir: string, plan: ResplitPlan): number {
  const j = Journal.open(projectDir);
  try {
    const next = plan.version + 1;
    j.transaction(() => {
      j.setMeta(META_KEY, String(next));
      j.addEvent({
        ts: new Date().toISOString(),
        runId: null,
        experimentId: null,
        kind: 'split.version',
        severity: 'warning',
        guardrail: null,
        message: `re-split with --force: split version ${next} (version ${plan.version} kept in ${SPLITS_DIR}/v${plan.version}): ${plan.changed.join(', ')}`,
        data: { version: next, kept: plan.version, changed: plan.changed },
      });
    });
    return next;
  } finally {
    j.close();
  }
}

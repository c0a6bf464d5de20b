import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RatchetError } from '../util/errors.js';
import { sha256File, writeFileAtomic } from '../util/fs.js';
import { CONTRACT_FILE, type Contract, globMatch } from './load.js';

/** File name of the lock in a project root. */
export const LOCK_FILE = 'ratchet.lock';

/** Project-relative paths of the split files Ratchet writes at init (all locked). */
export const SPLIT_FILES = [
  '.ratchet/data/train.csv',
  '.ratchet/data/public.csv',
  '.ratchet/data/private.csv',
  '.ratchet/data/split.json',
  '.ratchet/data/leakage.json',
  '.ratchet/vault/public.parquet',
  '.ratchet/vault/private.parquet',
] as const;

/**
 * The Parquet copies of the splits (written by `ratchet init` since Parquet splits exist): locked when present,
 * so projects initialized before them still verify.
 */
export const PARQUET_SPLIT_FILES = [
  '.ratchet/data/train.parquet',
  '.ratchet/data/public_features.parquet',
  '.ratchet/data/private_features.parquet',
] as const;

/** A bandit task's reward-model predictions (vault): locked when present (ope.reward_model other than none). */
export const QHAT_FILES = [
  '.ratchet/vault/qhat_public.parquet',
  '.ratchet/vault/qhat_private.parquet',
] as const;

/** The lock: SHA-256 of every file the evaluation depends on, taken at `ratchet init`. */
export interface Lock {
  version: 1;
  /** ISO time the lock was written. */
  created: string;
  /** Project-relative path -> SHA-256 (hex) of the contract and the frozen files (they live in git). */
  contract: Record<string, string>;
  /** Project-relative path -> SHA-256 (hex) of the split files and the vault (they live under .ratchet/). */
  splits: Record<string, string>;
}

const SKIP_DIRS = new Set(['.git', '.ratchet', 'node_modules', '.venv', '__pycache__']);

/** Project-relative paths of files under `dir` (skipping .git, .ratchet, node_modules, .venv). */
export function listProjectFiles(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...listProjectFiles(join(dir, entry.name), root));
    } else if (entry.isFile()) out.push(relative(root, join(dir, entry.name)));
  }
  return out.sort();
}

/**
 * The contract files of a project: ratchet.yaml, the search space, the agent's directions file (when the contract
 * has an `agent` section and the file exists), and every file matched by `frozen`.
 * @throws RatchetError when a frozen glob matches nothing (a typo would otherwise lock nothing)
 */
export function contractFiles(contract: Contract, root = contract.projectDir): string[] {
  const files = listProjectFiles(root);
  const set = new Set<string>([CONTRACT_FILE]);
  if (contract.search) set.add(contract.search.space);
  for (const f of contract.evaluator?.files ?? []) set.add(f);
  // The human's directions to agents are frozen during a run (edit them between runs, then re-lock).
  if (contract.agent && existsSync(join(root, contract.agent.program))) set.add(contract.agent.program);
  for (const [i, g] of contract.frozen.entries()) {
    const hits = files.filter((f) => globMatch(g, f));
    if (hits.length === 0) {
      throw new RatchetError(`frozen pattern "${g}" matches no file`, {
        file: CONTRACT_FILE,
        field: `frozen.${i}`,
        hint: 'fix the path or remove the entry',
      });
    }
    for (const h of hits) set.add(h);
  }
  for (const f of set) {
    if (!existsSync(join(root, f))) {
      throw new RatchetError(`contract file ${f} does not exist`, {
        file: CONTRACT_FILE,
        hint: `create ${f} or remove it from the contract`,
      });
    }
  }
  return [...set].sort();
}

async function hashAll(root: string, paths: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of paths) out[p] = await sha256File(join(root, p));
  return out;
}

/** Compute (but do not write) the lock of a project whose splits already exist. */
export async function computeLock(contract: Contract): Promise<Lock> {
  const root = contract.projectDir;
  return {
    version: 1,
    created: new Date().toISOString(),
    contract: await hashAll(root, contractFiles(contract)),
    splits: await hashAll(root, [
      ...SPLIT_FILES,
      ...[...PARQUET_SPLIT_FILES, ...QHAT_FILES].filter((f) => existsSync(join(root, f))),
    ]),
  };
}

/** Write `ratchet.lock` atomically. */
export function writeLock(projectDir: string, lock: Lock): void {
  writeFileAtomic(join(projectDir, LOCK_FILE), `${JSON.stringify(lock, null, 2)}\n`);
}

/**
 * Read `ratchet.lock`.
 * @throws RatchetError when missing or unreadable, with the fix (`ratchet init`)
 */
export function readLock(projectDir: string): Lock {
  const path = join(projectDir, LOCK_FILE);
  if (!existsSync(path)) {
    throw new RatchetError('the project is not locked', {
      file: LOCK_FILE,
      hint: 'run `ratchet init` first (it splits the data and locks the contract)',
      exitCode: 3,
    });
  }
  try {
    const lock = JSON.parse(readFileSync(path, 'utf8')) as Lock;
    if (lock.version !== 1 || typeof lock.contract !== 'object' || typeof lock.splits !== 'object')
      throw new Error();
    return lock;
  } catch {
    throw new RatchetError('the lock file is damaged', {
      file: LOCK_FILE,
      hint: 'restore it from git (git checkout -- ratchet.lock) or re-run `ratchet init --force`',
      exitCode: 3,
    });
  }
}

/** One locked file whose content no longer matches the lock. */
export interface LockViolation {
  path: string;
  expected: string;
  /** Current SHA-256, or null when the file is gone. */
  actual: string | null;
}

/**
 * Compare files on disk with the lock.
 * @param contractRoot folder holding the contract files (the project root, or a run's worktree)
 * @param splitsRoot folder holding `.ratchet/` (always the project root)
 * @returns every violation (empty when intact)
 */
export async function checkLock(
  lock: Lock,
  contractRoot: string,
  splitsRoot: string,
): Promise<LockViolation[]> {
  const out: LockViolation[] = [];
  const check = async (root: string, entries: Record<string, string>) => {
    for (const [path, expected] of Object.entries(entries)) {
      const full = join(root, path);
      const actual = existsSync(full) ? await sha256File(full) : null;
      if (actual !== expected) out.push({ path, expected, actual });
    }
  };
  await check(contractRoot, lock.contract);
  await check(splitsRoot, lock.splits);
  return out;
}

/**
 * Stop with an integrity error when any locked file changed.
 * @throws RatchetError (exit code 3) naming every changed file and the fix
 */
export async function verifyLock(lock: Lock, contractRoot: string, splitsRoot: string): Promise<void> {
  const violations = await checkLock(lock, contractRoot, splitsRoot);
  if (violations.length === 0) return;
  const list = violations.map((v) => `${v.path} (${v.actual === null ? 'missing' : 'changed'})`).join(', ');
  const first = violations[0]!;
  throw new RatchetError(
    `locked file${violations.length > 1 ? 's' : ''} changed since ratchet init: ${list}`,
    {
      file: first.path,
      hint:
        `restore ${first.path} (git checkout -- ${first.path}); if the change is intended, ` +
        're-lock with `ratchet init --force`, which starts a new contract',
      exitCode: 3,
    },
  );
}

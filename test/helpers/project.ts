import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initProject } from '../../src/contract/init.js';

/** Root of the repository (tests run from it). */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The bundled example. */
export const EXAMPLE = join(ROOT, 'examples', 'gsoep-outwork');
/** The compiled CLI (built by `npm test` before vitest runs). */
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** A fresh temporary folder. */
export function tempDir(prefix = 'ratchet-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Copy the first `rows` data rows of the bundled example's data (real GSOEP data) into `dest`.
 * Rows are taken whole persons at a time in file order, so the group split stays meaningful.
 */
export function writeExampleData(dest: string, rows: number): void {
  const lines = readFileSync(join(EXAMPLE, 'data.csv'), 'utf8').trimEnd().split('\n');
  writeFileSync(dest, `${lines.slice(0, rows + 1).join('\n')}\n`);
}

/** Options of {@link makeProject}. */
export interface ProjectOptions {
  /** Data rows to keep from the example (default 4000). */
  rows?: number;
  /** Replace train.py. */
  trainPy?: string;
  /** Transform the contract text before init. */
  contract?: (yaml: string) => string;
  /** Skip `ratchet init`. */
  noInit?: boolean;
}

/**
 * A project made from the bundled example (contract, train.py, params, search space, real data subset),
 * initialised (split, locked, committed) unless `noInit`.
 */
export async function makeProject(opts: ProjectOptions = {}): Promise<string> {
  const dir = tempDir();
  for (const f of ['ratchet.yaml', 'train.py', 'params.yaml', 'search_space.yaml', 'program.md']) {
    copyFileSync(join(EXAMPLE, f), join(dir, f));
  }
  writeExampleData(join(dir, 'data.csv'), opts.rows ?? 4000);
  if (opts.trainPy !== undefined) writeFileSync(join(dir, 'train.py'), opts.trainPy);
  if (opts.contract)
    writeFileSync(join(dir, 'ratchet.yaml'), opts.contract(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')));
  if (!opts.noInit) await initProject(dir);
  return dir;
}

/** Result of a CLI call. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the compiled CLI synchronously. */
export function cli(args: string[], cwd: string, env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 600_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run the compiled CLI in the background; resolves with its result when it exits. */
export function cliAsync(
  args: string[],
  cwd: string,
): { child: ReturnType<typeof spawn>; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return { child, done };
}

/** Run git and return stdout. */
export function gitOut(cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Make a folder and return its path. */
export function mkdirp(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}

/**
 * A repository holding a nested repository (at `lib/helpers`) whose config makes plain git run a hook that writes
 * `marker` (core.fsmonitor): the attack host git must never fall for. `plainGit` runs git without Ratchet's guards.
 */
export function fsmonitorTrap(): {
  dir: string;
  marker: string;
  plainGit: (cwd: string, args: string[]) => void;
} {
  const dir = tempDir();
  const marker = join(dir, 'MARK');
  const plainGit = (cwd: string, args: string[]) => {
    spawnSync('git', ['-c', 'user.name=a', '-c', 'user.email=a@b', ...args], { cwd, encoding: 'utf8' });
  };
  plainGit(dir, ['init', '-q']);
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  plainGit(dir, ['add', 'a.txt']);
  plainGit(dir, ['commit', '-qm', 'init']);
  const nested = join(dir, 'lib', 'helpers');
  mkdirSync(nested, { recursive: true });
  plainGit(nested, ['init', '-q']);
  writeFileSync(join(nested, 'hook.sh'), `echo ran > ${marker}\n`);
  plainGit(nested, ['add', '-A']);
  plainGit(nested, ['commit', '-qm', 'n']);
  plainGit(nested, ['config', 'core.fsmonitor', 'sh hook.sh']);
  return { dir, marker, plainGit };
}

/**
 * Fixtures for the sandbox tests: a fake project with a vault, a worktree, a data file and an output folder in a
 * temp dir, the real Python of the repository's venv, and helpers to run attack scripts and inspect the host.
 */

import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import {
  type PythonRuntime,
  resolvePython,
  runSandboxed,
  type SandboxResult,
  type SandboxSpec,
} from '../../src/sandbox/index.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let pythonPromise: Promise<PythonRuntime> | undefined;
/** The repository's venv Python (resolved once per test file). */
export function venvPython(): Promise<PythonRuntime> {
  pythonPromise ??= resolvePython({ projectDir: REPO, installDir: REPO });
  return pythonPromise;
}

export interface Fixture {
  root: string;
  project: string;
  vaultDir: string;
  vaultFile: string;
  /** Content of the vault file; must never show up in anything the sandbox produces. */
  secret: string;
  worktree: string;
  dataFile: string;
  outputDir: string;
  logsDir: string;
  python: PythonRuntime;
  /** A spec for `argv` with the fixture's layout; `over` overrides fields. */
  spec(argv: string[], over?: Partial<SandboxSpec>): SandboxSpec;
  cleanup(): void;
}

export const TRAIN_PY = `import csv, sys
from sklearn.linear_model import LogisticRegression
rows = list(csv.DictReader(open('/data/train.csv')))
X = [[float(r['x1']), float(r['x2'])] for r in rows]
y = [int(r['y']) for r in rows]
m = LogisticRegression().fit(X, y)
with open('/output/public.csv', 'w') as f:
    f.write('id,score\\n')
    for i, p in enumerate(m.predict_proba(X)[:, 1]):
        f.write(f'{i},{p:.6f}\\n')
print(f'trained rows={len(rows)}')
`;

/** Build the fake project. Layout: <root>/project/.ratchet/{vault,data,worktrees/w1,runs/r1/{output,logs}}. */
export async function makeFixture(): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), 'ratchet-sbx-'));
  const project = join(root, 'project');
  const vaultDir = join(project, '.ratchet', 'vault');
  const vaultFile = join(vaultDir, 'labels.csv');
  const secret = `SECRET-LABELS-${randomUUID()}`;
  const worktree = join(project, '.ratchet', 'worktrees', 'w1');
  const dataDir = join(project, '.ratchet', 'data');
  const dataFile = join(dataDir, 'train.csv');
  const outputDir = join(project, '.ratchet', 'runs', 'r1', 'output');
  const logsDir = join(project, '.ratchet', 'runs', 'r1', 'logs');
  for (const d of [vaultDir, worktree, dataDir, outputDir, logsDir]) mkdirSync(d, { recursive: true });
  writeFileSync(vaultFile, `id,label\n0,1\n1,0\n# ${secret}\n`);
  writeFileSync(join(project, 'ratchet.yaml'), 'task: binary\n');
  writeFileSync(join(worktree, 'train.py'), TRAIN_PY);
  writeFileSync(join(worktree, 'ratchet.yaml'), 'task: binary\nmetric: auroc\n');
  const rows = ['x1,x2,y'];
  for (let i = 0; i < 40; i++) rows.push(`${(i % 7) / 7},${(i % 5) / 5},${i % 2}`);
  writeFileSync(dataFile, `${rows.join('\n')}\n`);
  const python = await venvPython();
  const fx: Fixture = {
    root,
    project,
    vaultDir,
    vaultFile,
    secret,
    worktree,
    dataFile,
    outputDir,
    logsDir,
    python,
    spec: (argv, over = {}) => ({
      argv,
      workdir: worktree,
      readOnly: [{ host: dataFile, target: '/data/train.csv' }],
      outputDir,
      env: { VAULT_FILE: vaultFile, VAULT_DIR: vaultDir, PROJECT_DIR: project },
      python,
      timeoutMs: 60_000,
      network: false,
      stdoutPath: join(logsDir, 'stdout.txt'),
      stderrPath: join(logsDir, 'stderr.txt'),
      hiddenPaths: [vaultDir],
      ...over,
    }),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  return fx;
}

export interface PyRun {
  result: SandboxResult;
  stdout: string;
  stderr: string;
  /** Parsed /output/result.json, or undefined if the script did not write it. */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of a test script
  seen: any;
}

/** Write `code` as `<worktree>/<name>` and run `python <name> ...args` in the sandbox. */
export async function runPy(
  fx: Fixture,
  code: string,
  over: Partial<SandboxSpec> = {},
  args: string[] = [],
  name = 'attack.py',
): Promise<PyRun> {
  const workdir = over.workdir ?? fx.worktree;
  writeFileSync(join(workdir, name), code);
  rmSync(join(fx.outputDir, 'result.json'), { force: true });
  const result = await runSandboxed(fx.spec(['python', name, ...args], over));
  const stdout = readFileSync(fx.spec([]).stdoutPath, 'utf8');
  const stderr = readFileSync(fx.spec([]).stderrPath, 'utf8');
  const rj = join(fx.outputDir, 'result.json');
  const seen = existsSync(rj) ? JSON.parse(readFileSync(rj, 'utf8')) : undefined;
  return { result, stdout, stderr, seen };
}

/** Every file under a folder (recursively), as text. */
export function allText(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out += allText(p);
    else if (st.isFile()) out += readFileSync(p, 'utf8');
  }
  return out;
}

/** Assert the vault's content appears in none of stdout, stderr, or the output folder. */
export function expectNoSecret(fx: Fixture, run: PyRun): void {
  expect(run.stdout).not.toContain(fx.secret);
  expect(run.stderr).not.toContain(fx.secret);
  expect(allText(fx.outputDir)).not.toContain(fx.secret);
}

/** Host pids whose command line contains `marker`. */
export function pidsWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Size of a file, 0 if missing. */
export function sizeOf(p: string): number {
  return statSync(p, { throwIfNoEntry: false })?.size ?? 0;
}

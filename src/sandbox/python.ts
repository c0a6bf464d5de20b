/**
 * Finding the Python interpreter that experiments run with, and the host folders it needs inside the sandbox.
 */

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import type { PythonRuntime } from './types.js';

/** Printed by the interpreter when probed: where it lives. */
const PROBE_CODE = [
  'import json, sys',
  'print(json.dumps({"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,',
  ' "base_exec_prefix": sys.base_exec_prefix, "version": sys.version.split()[0]}))',
].join('\n');

const PROBE_TIMEOUT_MS = 30_000;

interface Candidate {
  /** How it was found, for the error message, e.g. `--python`, `$RATCHET_PYTHON`, `<project>/.venv`. */
  source: string;
  path: string;
  /** A failure of this candidate is final (the person named it) rather than a reason to try the next. */
  strict: boolean;
}

/**
 * Find the interpreter for experiments and read its prefixes by running it once (`python -I -c ...`).
 * Order: `explicit` (relative paths resolve against projectDir; a bare name is looked up on PATH), else
 * `$RATCHET_PYTHON`, else `<projectDir>/.venv/bin/python`, else `<installDir>/.venv/bin/python`, else `python3`
 * on PATH. An explicit path or `$RATCHET_PYTHON` that does not work is an error (no silent fallback).
 * @returns the interpreter path (symlinks kept, so a venv stays a venv), its bin folder, and the host folders to
 *   bind read-only: sys.prefix, sys.base_prefix, exec prefixes, their realpaths, and the folders of every symlink
 *   hop of the executable.
 * @throws Error listing every candidate tried and why it failed, with how to fix it.
 */
export async function resolvePython(opts: {
  explicit?: string;
  projectDir: string;
  installDir: string;
}): Promise<PythonRuntime> {
  const candidates: Candidate[] = [];
  if (opts.explicit !== undefined && opts.explicit !== '') {
    candidates.push({
      source: 'explicit python',
      path: locate(opts.explicit, opts.projectDir),
      strict: true,
    });
  } else if (process.env.RATCHET_PYTHON) {
    candidates.push({
      source: '$RATCHET_PYTHON',
      path: locate(process.env.RATCHET_PYTHON, opts.projectDir),
      strict: true,
    });
  } else {
    candidates.push({
      source: 'project venv',
      path: join(opts.projectDir, '.venv', 'bin', 'python'),
      strict: false,
    });
    candidates.push({
      source: 'Ratchet venv',
      path: join(opts.installDir, '.venv', 'bin', 'python'),
      strict: false,
    });
    candidates.push({ source: 'python3 on PATH', path: locate('python3', opts.projectDir), strict: false });
  }
  const tried: string[] = [];
  for (const c of candidates) {
    try {
      return await inspect(c.path);
    } catch (e) {
      tried.push(`  - ${c.source}: ${c.path} (${(e as Error).message})`);
      if (c.strict) break;
    }
  }
  throw new Error(
    `no usable Python interpreter found. Tried:\n${tried.join('\n')}\n` +
      `Fix: pass the interpreter explicitly (e.g. --python /path/to/venv/bin/python), set RATCHET_PYTHON, ` +
      `or create a venv in the project: python3 -m venv ${join(opts.projectDir, '.venv')}`,
  );
}

/** A path as given (relative to base when it has a slash) or, for a bare name, its first hit on PATH. */
function locate(name: string, base: string): string {
  if (name.includes('/')) return isAbsolute(name) ? name : resolve(base, name);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return name;
}

function isExecutableFile(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

async function inspect(path: string): Promise<PythonRuntime> {
  if (!isAbsolute(path)) throw new Error('not found on PATH');
  if (!existsSync(path)) throw new Error('no such file');
  if (!isExecutableFile(path)) throw new Error('not an executable file');
  const out = await new Promise<string>((res, rej) => {
    execFile(
      path,
      ['-I', '-c', PROBE_CODE],
      { timeout: PROBE_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } },
      (err, stdout, stderr) => {
        if (err) rej(new Error(`running it failed: ${(stderr || err.message).trim().split('\n').pop()}`));
        else res(stdout);
      },
    );
  });
  let info: Record<string, string>;
  try {
    info = JSON.parse(out.trim().split('\n').pop() ?? '');
  } catch {
    throw new Error(`it did not print its prefixes (is it Python 3?): ${out.slice(0, 200)}`);
  }
  const prefixes = new Set<string>();
  for (const k of ['prefix', 'base_prefix', 'exec_prefix', 'base_exec_prefix']) {
    const p = info[k];
    if (typeof p !== 'string' || !isAbsolute(p)) continue;
    prefixes.add(posix.normalize(p));
    if (existsSync(p)) prefixes.add(realpathSync(p));
  }
  for (const dir of symlinkHopDirs(path)) {
    if (![...prefixes].some((p) => dir === p || dir.startsWith(`${p}/`))) prefixes.add(dir);
  }
  if (prefixes.has('/')) throw new Error('its prefix is /, which cannot be bound into the sandbox');
  return { executable: path, binDir: dirname(path), prefixes: [...prefixes].sort() };
}

/** The folders of every link in the executable's symlink chain, resolved to real folders. */
function symlinkHopDirs(path: string): string[] {
  const dirs: string[] = [];
  let cur = path;
  for (let i = 0; i < 40; i++) {
    dirs.push(realpathSync(dirname(cur)));
    const st = lstatSync(cur);
    if (!st.isSymbolicLink()) break;
    const link = readlinkSync(cur);
    cur = isAbsolute(link) ? link : join(dirname(cur), link);
  }
  return [...new Set(dirs)];
}

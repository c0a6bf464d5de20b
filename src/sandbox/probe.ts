/**
 * Start-up self-test of the sandbox: is bubblewrap here, and can it build the cage we need on this machine?
 */

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemBinary } from './args.js';
import { treeLimitMechanism } from './cgroup.js';
import { runSandboxed } from './run.js';

const PROBE_TIMEOUT_MS = 15_000;

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(file, args, { timeout: PROBE_TIMEOUT_MS, env: {} }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      res({
        code,
        stdout: String(stdout),
        stderr: String(stderr || (err && code === null ? err.message : '')),
      });
    });
  });
}

/**
 * Check that `bwrap` exists and can create the namespaces, mounts and limits `runSandboxed` uses, by running
 * `true` through `runSandboxed` with the real layout (an empty worktree and output folder in a temp dir).
 * Never throws.
 * @returns `ok`; bubblewrap's `version` (e.g. `0.8.0`) when it could be read; `reason` (what failed and how to
 *   fix it) when not ok; `treeLimits`: what holds the process tree's memory and task caps here (cgroup v2 or
 *   the host watchdog), one line.
 */
export async function probeSandbox(): Promise<{
  ok: boolean;
  version: string | null;
  reason: string | null;
  treeLimits: string;
}> {
  const treeLimits = treeLimitMechanism().detail;
  const r = await probeBwrap();
  return { ...r, treeLimits };
}

async function probeBwrap(): Promise<{ ok: boolean; version: string | null; reason: string | null }> {
  const bwrap = systemBinary('bwrap');
  if (!bwrap) {
    return { ok: false, version: null, reason: 'bwrap not found: install the Debian package "bubblewrap"' };
  }
  const v = await run(bwrap, ['--version']);
  const version = /(\d+\.\d+(?:\.\d+)?)/.exec(v.stdout)?.[1] ?? null;
  for (const tool of ['bash', 'prlimit']) {
    if (!systemBinary(tool)) return { ok: false, version, reason: `${tool} not found in /usr/bin or /bin` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-probe-'));
  try {
    const out = join(dir, 'out');
    mkdirSync(out);
    const r = await runSandboxed({
      argv: ['true'],
      workdir: dir,
      readOnly: [],
      outputDir: out,
      env: {},
      timeoutMs: PROBE_TIMEOUT_MS,
      network: false,
      stdoutPath: join(dir, 'stdout'),
      stderrPath: join(dir, 'stderr'),
    });
    if (r.status === 'ok') return { ok: true, version, reason: null };
    return {
      ok: false,
      version,
      reason:
        `bubblewrap cannot build the sandbox here (${r.message}). In a container, allow namespaces ` +
        '(e.g. --security-opt seccomp=unconfined --security-opt apparmor=unconfined) or run on a VM',
    };
  } catch (e) {
    return { ok: false, version, reason: `sandbox self-test failed: ${(e as Error).message}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * unsafeNoSandbox: the command runs on the host (only when the person asked), with the same environment and
 * working-directory semantics, rlimits, and a process-group kill on timeout.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, pidsWithMarker, runPy, sizeOf, sleep } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(() => fx.cleanup());

describe('unsafeNoSandbox', () => {
  it('runs on the host with workdir as cwd, the given env only, and says it was not sandboxed', async () => {
    process.env.RATCHET_TEST_SECRET = 'parent-secret';
    try {
      const run = await runPy(
        fx,
        `import json, os, sys
json.dump({'cwd': os.getcwd(), 'env': dict(os.environ), 'exe': sys.executable},
          open(os.path.join(os.environ['OUT'], 'result.json'), 'w'))
print('hello')
`,
        { unsafeNoSandbox: true, env: { OUT: fx.outputDir } },
      );
      expect(run.result).toMatchObject({ status: 'ok', sandboxed: false, exitCode: 0 });
      expect(run.result.message).toMatch(/UNSANDBOXED/);
      expect(run.stdout).toBe('hello\n');
      expect(run.seen.cwd).toBe(fx.worktree);
      expect(Object.keys(run.seen.env).sort()).toEqual([
        'HOME',
        'LANG',
        'OUT',
        'PATH',
        'RATCHET_SANDBOX_TOKEN',
      ]);
      expect(run.seen.exe.startsWith(fx.python.binDir)).toBe(true);
    } finally {
      delete process.env.RATCHET_TEST_SECRET;
    }
  });

  it('kills the process group on timeout, and a setsid escapee through its run token', async () => {
    const marker = `ratchet-marker-${randomUUID()}`;
    const run = await runPy(
      fx,
      `import os, sys, time
out = os.environ['OUT']
def beat(name):
    while True:
        with open(os.path.join(out, name), 'a') as f:
            f.write('beat\\n')
        time.sleep(0.05)
if os.fork() == 0:
    beat('child.txt')          # same process group
if os.fork() == 0:
    os.setsid()                # own session and group: escapes kill(-pgid)
    if os.fork() == 0:
        beat('escapee.txt')
    os._exit(0)
time.sleep(3600)
`,
      { unsafeNoSandbox: true, env: { OUT: fx.outputDir }, timeoutMs: 1500 },
      [marker],
      'tree.py',
    );
    expect(run.result.status).toBe('timeout');
    expect(run.result.sandboxed).toBe(false);
    const child = join(fx.outputDir, 'child.txt');
    const escapee = join(fx.outputDir, 'escapee.txt');
    const s1 = [sizeOf(child), sizeOf(escapee)];
    expect(s1[0]).toBeGreaterThan(0);
    expect(s1[1]).toBeGreaterThan(0);
    await sleep(1000);
    expect([sizeOf(child), sizeOf(escapee)]).toEqual(s1);
    expect(pidsWithMarker(marker)).toEqual([]);
  });

  it('still applies the rlimits', async () => {
    const run = await runPy(fx, 'x = bytearray(1024 * 1024 * 1024)\n', {
      unsafeNoSandbox: true,
      memoryBytes: 256 * 1024 * 1024,
    });
    expect(run.result.status).toBe('failed');
    expect(readFileSync(fx.spec([]).stderrPath, 'utf8')).toContain('MemoryError');
  });
});

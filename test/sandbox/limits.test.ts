/**
 * Limits: wall clock (with a daemonized grandchild that tries to outlive it), the kill switch, memory, CPU time,
 * file size, the output folder's cap, the stdout cap; and what a run leaves in its output folder.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSandboxed } from '../../src/sandbox/index.js';
import {
  expectNoSecret,
  type Fixture,
  makeFixture,
  pidsWithMarker,
  runPy,
  sizeOf,
  sleep,
} from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(() => fx.cleanup());

/** Double fork + setsid: a grandchild appends to /output/beat.txt every 50 ms; the parent sleeps. */
const DAEMON_PY = `import os, sys, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            with open('/output/beat.txt', 'a') as f:
                f.write('beat\\n')
            time.sleep(0.05)
    os._exit(0)
os.waitpid(pid, 0)
print('daemon started', flush=True)
time.sleep(3600)
`;

async function expectTreeGone(marker: string, beat: string): Promise<void> {
  const s1 = sizeOf(beat);
  expect(s1).toBeGreaterThan(0); // it did run and beat
  await sleep(1000);
  expect(sizeOf(beat)).toBe(s1);
  expect(pidsWithMarker(marker)).toEqual([]);
}

describe('wall clock and kill switch', () => {
  it('kills the whole tree, a setsid daemon included, on timeout', async () => {
    const marker = `ratchet-marker-${randomUUID()}`;
    const run = await runPy(fx, DAEMON_PY, { timeoutMs: 2000 }, [marker], 'daemon.py');
    expect(run.result.status).toBe('timeout');
    expect(run.result.message).toBe('killed after 2 s wall-clock timeout');
    expect(run.result.signal).toBe('SIGKILL');
    expect(run.result.wallMs).toBeGreaterThanOrEqual(2000);
    expect(run.result.wallMs).toBeLessThan(4000);
    expect(run.stdout).toContain('daemon started');
    await expectTreeGone(marker, join(fx.outputDir, 'beat.txt'));
  });

  it('stops within a second when the kill switch is pulled', async () => {
    const marker = `ratchet-marker-${randomUUID()}`;
    const ac = new AbortController();
    const beat = join(fx.outputDir, 'beat.txt');
    const t0 = performance.now();
    const pending = runPy(fx, DAEMON_PY, { timeoutMs: 60_000, signal: ac.signal }, [marker], 'daemon.py');
    await sleep(500);
    const tAbort = performance.now();
    ac.abort();
    const run = await pending;
    const tDone = performance.now();
    expect(run.result.status).toBe('aborted');
    expect(run.result.message).toBe('killed by the kill switch');
    expect(tDone - tAbort).toBeLessThan(1000);
    expect(tDone - t0).toBeLessThan(1500);
    await expectTreeGone(marker, beat);
  });

  it('does not start when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await runSandboxed(
      fx.spec(['python', '-c', 'open("/output/started", "w")'], { signal: ac.signal }),
    );
    expect(r.status).toBe('aborted');
    expect(existsSync(join(fx.outputDir, 'started'))).toBe(false);
  });
});

describe('resource limits', () => {
  it('memory: allocating past memoryBytes fails the run', async () => {
    const run = await runPy(fx, 'import sys\nx = bytearray(1024 * 1024 * 1024)\nprint("allocated 1 GiB")\n', {
      memoryBytes: 256 * 1024 * 1024,
    });
    expect(run.result.status).toBe('failed');
    expect(run.result.exitCode).toBe(1);
    expect(run.stderr).toContain('MemoryError');
    expect(run.stdout).not.toContain('allocated');
  });

  it('CPU time: a busy loop past cpuSeconds gets SIGXCPU', async () => {
    const run = await runPy(fx, 'while True:\n    pass\n', { cpuSeconds: 1, timeoutMs: 20_000 });
    expect(run.result.status).toBe('failed');
    expect(run.result.signal).toBe('SIGXCPU');
    expect(run.result.exitCode).toBe(128 + 24);
    expect(run.result.message).toMatch(/SIGXCPU.*CPU-time limit of 1 s/);
    expect(run.result.wallMs).toBeLessThan(10_000);
  });

  it('file size: writing past maxFileBytes fails and the file stays at the cap', async () => {
    const cap = 1024 * 1024;
    const run = await runPy(
      fx,
      'with open("/output/big.bin", "wb") as f:\n    for _ in range(4):\n        f.write(b"x" * 524288)\n',
      { maxFileBytes: cap },
    );
    expect(run.result.status).toBe('failed');
    expect(run.stderr).toMatch(/File too large/);
    expect(sizeOf(join(fx.outputDir, 'big.bin'))).toBeLessThanOrEqual(cap);
  });
});

describe('output folder', () => {
  it('kills a run whose output folder grows past maxOutputBytes', async () => {
    const run = await runPy(
      fx,
      `import time
for i in range(400):
    with open(f'/output/chunk{i}.bin', 'wb') as f:
        f.write(b'x' * 262144)
    time.sleep(0.02)
print('wrote everything')
`,
      { maxOutputBytes: 1024 * 1024 },
    );
    expect(run.result.status).toBe('output_limit');
    expect(run.result.message).toMatch(/output folder passed its 1 MiB cap/);
    expect(run.stdout).not.toContain('wrote everything');
    const files = readdirSync(fx.outputDir).filter((n) => n.startsWith('chunk'));
    expect(files.length).toBeLessThan(100);
  });

  it('flags an output folder that went past the cap between two polls', async () => {
    const run = await runPy(fx, 'open("/output/burst.bin", "wb").write(b"x" * 3 * 1048576)\n', {
      maxOutputBytes: 1024 * 1024,
    });
    expect(run.result.status).toBe('output_limit');
  });

  it('cuts stdout at 10 MiB and says so', async () => {
    const run = await runPy(fx, 'import sys\nfor _ in range(12):\n    sys.stdout.write("y" * 1048576)\n');
    expect(run.result.status).toBe('ok');
    expect(run.result.message).toContain('stdout truncated at 10 MiB');
    const text = readFileSync(fx.spec([]).stdoutPath, 'utf8');
    expect(text.length).toBeLessThan(10 * 1048576 + 200);
    expect(text).toMatch(/\[ratchet: stdout truncated after 10485760 bytes; 2097152 more bytes dropped\]\n$/);
  });

  it('removes symlinks and FIFOs from the output folder and clears set-id bits', async () => {
    const run = await runPy(
      fx,
      `import os
os.symlink(os.environ['VAULT_FILE'], '/output/labels_link')
os.symlink('/etc/passwd', '/output/passwd_link')
os.mkfifo('/output/hang')
os.makedirs('/output/sub', exist_ok=True)
os.symlink('../public.csv', '/output/sub/rel')
with open('/output/tool', 'w') as f:
    f.write('#!/bin/sh\\n')
os.chmod('/output/tool', 0o4755)
`,
    );
    expect(run.result.status, run.stderr).toBe('ok');
    expect(run.result.message).toContain('removed 4 symlink/special file(s)');
    for (const n of ['labels_link', 'passwd_link', 'hang', 'sub/rel']) {
      expect(existsSync(join(fx.outputDir, n)), n).toBe(false);
    }
    expect(readdirSync(fx.outputDir)).toContain('tool');
    const { statSync } = await import('node:fs');
    expect(statSync(join(fx.outputDir, 'tool')).mode & 0o7777).toBe(0o755);
    expectNoSecret(fx, run);
  });
});

describe('errors', () => {
  it('reports a sandbox that cannot be built as sandbox_error, with bwrap’s reason', async () => {
    const r = await runSandboxed(
      fx.spec(['true'], { readOnly: [{ host: fx.dataFile, target: '/workspace/missing/train.csv' }] }),
    );
    expect(r.status).toBe('sandbox_error');
    expect(r.message).toMatch(/^sandbox setup failed: bwrap: /);
  });

  it('reports a command that is not on PATH as failed (exit 127)', async () => {
    const r = await runSandboxed(fx.spec(['no-such-command-xyz']));
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(127);
    expect(readFileSync(fx.spec([]).stderrPath, 'utf8')).toContain('no-such-command-xyz');
  });

  it('throws for programming errors: missing output folder, empty argv, bad timeout, reserved targets', async () => {
    await expect(runSandboxed(fx.spec(['true'], { outputDir: join(fx.root, 'nope') }))).rejects.toThrow(
      /outputDir does not exist/,
    );
    await expect(runSandboxed(fx.spec([]))).rejects.toThrow(/argv/);
    await expect(runSandboxed(fx.spec(['true'], { timeoutMs: 0 }))).rejects.toThrow(/timeoutMs/);
    await expect(
      runSandboxed(fx.spec(['true'], { readOnly: [{ host: fx.dataFile, target: '/proc/x' }] })),
    ).rejects.toThrow(/reserves/);
    await expect(
      runSandboxed(fx.spec(['true'], { readOnly: [{ host: fx.vaultFile, target: '/data/labels.csv' }] })),
    ).rejects.toThrow(/hidden path/);
  });
});

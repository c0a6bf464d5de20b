import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probeSandbox, resolvePython } from '../../src/sandbox/index.js';
import { REPO } from './helpers.js';

const saved = process.env.RATCHET_PYTHON;
afterEach(() => {
  if (saved === undefined) delete process.env.RATCHET_PYTHON;
  else process.env.RATCHET_PYTHON = saved;
});

describe('resolvePython', () => {
  it('finds the project venv and the prefixes to bind', async () => {
    delete process.env.RATCHET_PYTHON;
    const py = await resolvePython({ projectDir: REPO, installDir: '/nonexistent' });
    expect(py.executable).toBe(join(REPO, '.venv', 'bin', 'python'));
    expect(py.binDir).toBe(join(REPO, '.venv', 'bin'));
    expect(py.prefixes).toContain(join(REPO, '.venv'));
    // the base interpreter the venv's python symlinks to
    const real = realpathSync(py.executable);
    expect(py.prefixes.some((p) => real.startsWith(`${p}/`))).toBe(true);
  });

  it('falls back to the Ratchet install venv', async () => {
    delete process.env.RATCHET_PYTHON;
    const py = await resolvePython({ projectDir: '/nonexistent', installDir: REPO });
    expect(py.executable).toBe(join(REPO, '.venv', 'bin', 'python'));
  });

  it('uses $RATCHET_PYTHON before the venvs', async () => {
    process.env.RATCHET_PYTHON = join(REPO, '.venv', 'bin', 'python3');
    const py = await resolvePython({ projectDir: REPO, installDir: REPO });
    expect(py.executable).toBe(join(REPO, '.venv', 'bin', 'python3'));
  });

  it('accepts an explicit path relative to the project', async () => {
    const py = await resolvePython({ explicit: '.venv/bin/python', projectDir: REPO, installDir: '/x' });
    expect(py.executable).toBe(join(REPO, '.venv', 'bin', 'python'));
  });

  it('gives a clear error for a bad explicit path, without falling back', async () => {
    const err = await resolvePython({
      explicit: '/no/such/python',
      projectDir: REPO,
      installDir: REPO,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain('no usable Python interpreter found');
    expect(msg).toContain('explicit python: /no/such/python (no such file)');
    expect(msg).not.toContain('.venv/bin/python (');
    expect(msg).toMatch(/Fix: .*RATCHET_PYTHON/);
  });

  it('rejects an explicit file that is not a Python interpreter', async () => {
    await expect(
      resolvePython({ explicit: '/bin/false', projectDir: REPO, installDir: REPO }),
    ).rejects.toThrow(/explicit python: \/bin\/false \(running it failed/);
  });
});

describe('probeSandbox', () => {
  it('reports bubblewrap usable here, with its version', async () => {
    const p = await probeSandbox();
    expect(p).toEqual({
      ok: true,
      version: expect.stringMatching(/^\d+\.\d+/),
      reason: null,
      treeLimits: expect.stringMatching(/^(watchdog: |cgroup v2 )/),
    });
  });
});

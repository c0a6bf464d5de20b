/** The bubblewrap command line: flags, their order (bwrap 0.8 is order-sensitive), and the allowlist layout. */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapArgs } from '../../src/sandbox/index.js';
import { seccompFilter } from '../../src/sandbox/seccomp.js';
import { type Fixture, makeFixture } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(() => fx.cleanup());

/** Index of the first occurrence of a run of consecutive arguments. */
function at(args: string[], ...run: string[]): number {
  for (let i = 0; i + run.length <= args.length; i++) {
    if (run.every((r, j) => args[i + j] === r)) return i;
  }
  return -1;
}

describe('bwrapArgs', () => {
  it('isolates everything, drops capabilities and clears the environment', () => {
    const a = bwrapArgs(fx.spec(['python', 'train.py']));
    const sep = a.indexOf('--');
    const flags = a.slice(0, sep);
    expect(a[0]).toBe('bwrap');
    for (const f of ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv'])
      expect(flags).toContain(f);
    expect(at(flags, '--cap-drop', 'ALL')).toBeGreaterThan(0);
    expect(flags).not.toContain('--share-net');
    expect(at(flags, '--chdir', '/workspace')).toBeGreaterThan(0);
    // --clearenv acts during parsing: it must precede every --setenv
    expect(flags.indexOf('--clearenv')).toBeLessThan(flags.indexOf('--setenv'));
    expect(at(flags, '--setenv', 'HOME', '/tmp')).toBeGreaterThan(0);
    expect(at(flags, '--setenv', 'LANG', 'C.UTF-8')).toBeGreaterThan(0);
    expect(at(flags, '--setenv', 'PATH', `${fx.python.binDir}:/usr/local/bin:/usr/bin:/bin`)).toBeGreaterThan(
      0,
    );
  });

  it('uses an allowlist: never binds /, binds the worktree read-only, output read-write, data read-only', () => {
    const a = bwrapArgs(fx.spec(['python', 'train.py']));
    for (let i = 0; i < a.length - 1; i++) {
      if (['--bind', '--ro-bind', '--ro-bind-try', '--dev-bind'].includes(a[i]!))
        expect(a[i + 1]).not.toBe('/');
    }
    expect(at(a, '--ro-bind', fx.worktree, '/workspace')).toBeGreaterThan(0);
    expect(at(a, '--ro-bind', fx.dataFile, '/data/train.csv')).toBeGreaterThan(0);
    expect(at(a, '--bind', fx.outputDir, '/output')).toBeGreaterThan(0);
    expect(a.filter((x) => x === '--bind')).toHaveLength(1);
    for (const p of fx.python.prefixes) expect(a).toContain(p);
    expect(a.join(' ')).not.toContain('/etc /etc');
    expect(at(a, '--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache')).toBeGreaterThan(0);
    expect(a).not.toContain('/home');
    expect(a).not.toContain('/run');
  });

  it('puts --size before the --tmpfs it applies to, and makes /, /dev and /proc read-only after mounting', () => {
    const a = bwrapArgs(fx.spec(['true'], { tmpBytes: 1048576 }));
    const tmp = at(a, '--tmpfs', '/tmp');
    expect(a.slice(tmp - 2, tmp)).toEqual(['--size', '1048576']);
    const shm = at(a, '--tmpfs', '/dev/shm');
    expect(a[shm - 2]).toBe('--size');
    expect(at(a, '--remount-ro', '/dev')).toBeGreaterThan(at(a, '--dev', '/dev'));
    expect(at(a, '--remount-ro', '/proc')).toBeGreaterThan(at(a, '--proc', '/proc'));
    const rootRo = at(a, '--remount-ro', '/');
    const lastMount = Math.max(
      ...['--bind', '--ro-bind', '--ro-bind-try', '--tmpfs', '--symlink'].map((f) => a.lastIndexOf(f)),
    );
    expect(rootRo).toBeGreaterThan(lastMount);
  });

  it('shares the network only when asked, and then adds name resolution files', () => {
    const a = bwrapArgs(fx.spec(['true'], { network: true }));
    expect(a).toContain('--share-net');
    expect(at(a, '--ro-bind-try', '/etc/resolv.conf', '/etc/resolv.conf')).toBeGreaterThan(0);
    expect(bwrapArgs(fx.spec(['true']))).not.toContain('/etc/resolv.conf');
  });

  it('applies the rlimits with prlimit inside, after closing inherited descriptors', () => {
    const a = bwrapArgs(
      fx.spec(['python', 'train.py'], { timeoutMs: 30_000, memoryBytes: 1e9, maxFileBytes: 5e6 }),
    );
    const inner = a.slice(a.indexOf('--') + 1);
    expect(inner[0]).toMatch(/bash$/);
    expect(inner[2]).toContain('/proc/self/fd');
    const pr = inner.findIndex((x) => x.endsWith('prlimit'));
    expect(inner.slice(pr + 1, pr + 7)).toEqual([
      '--as=1000000000',
      '--cpu=60:65',
      '--fsize=5000000',
      '--nproc=256',
      '--core=0',
      '--',
    ]);
    expect(inner.slice(-2)).toEqual(['python', 'train.py']);
  });

  it('covers hidden paths inside bound folders and refuses binds of or into them (symlinks resolved)', () => {
    // worktree = the project root: .ratchet (with the vault) is covered by an empty read-only tmpfs
    const a = bwrapArgs(fx.spec(['true'], { workdir: fx.project, hiddenPaths: [] }));
    const m = at(a, '--tmpfs', '/workspace/.ratchet');
    expect(m).toBeGreaterThan(at(a, '--ro-bind', fx.project, '/workspace'));
    expect(at(a, '--remount-ro', '/workspace/.ratchet')).toBeGreaterThan(m);
    // an explicit hidden file inside the worktree is covered with /dev/null
    writeFileSync(join(fx.worktree, 'secret.txt'), 'x');
    const b = bwrapArgs(fx.spec(['true'], { hiddenPaths: [join(fx.worktree, 'secret.txt')] }));
    expect(at(b, '--ro-bind', '/dev/null', '/workspace/secret.txt')).toBeGreaterThan(0);
    // a data "file" that is a symlink into the vault is refused
    const link = join(fx.root, 'innocent.csv');
    symlinkSync(fx.vaultFile, link);
    expect(() => bwrapArgs(fx.spec(['true'], { readOnly: [{ host: link, target: '/data/x.csv' }] }))).toThrow(
      /hidden path/,
    );
    // binding a folder that is the hidden path, or / itself, is refused
    expect(() => bwrapArgs(fx.spec(['true'], { readOnly: [{ host: fx.vaultDir, target: '/v' }] }))).toThrow(
      /hidden path/,
    );
    expect(() => bwrapArgs(fx.spec(['true'], { readOnly: [{ host: '/', target: '/host' }] }))).toThrow(
      /resolves to \//,
    );
  });

  it('validates targets and env names', () => {
    for (const target of [
      'relative',
      '/',
      '/workspace',
      '/tmp',
      '/proc/x',
      '/dev/x',
      '/output/x',
      '/usr/x',
      '/a/../b',
    ]) {
      expect(
        () => bwrapArgs(fx.spec(['true'], { readOnly: [{ host: fx.dataFile, target }] })),
        target,
      ).toThrow();
    }
    expect(() => bwrapArgs(fx.spec(['true'], { env: { 'BAD-NAME': 'x' } }))).toThrow(/environment variable/);
    const dir = join(fx.root, 'extra');
    mkdirSync(dir);
    expect(() =>
      bwrapArgs(fx.spec(['true'], { readOnly: [{ host: dir, target: '/workspace/extra' }] })),
    ).not.toThrow();
  });

  it('passes the status and seccomp descriptors when asked', () => {
    const a = bwrapArgs(fx.spec(['true']), { jsonStatusFd: 3, seccompFd: 4 });
    expect(at(a, '--json-status-fd', '3')).toBeGreaterThan(0);
    expect(at(a, '--seccomp', '4')).toBeGreaterThan(0);
  });
});

describe('seccompFilter', () => {
  it('compiles a small BPF program for x86-64 and arm64, none elsewhere', () => {
    const x64 = seccompFilter('x64')!;
    expect(x64.length % 8).toBe(0);
    expect(x64.length / 8).toBe(19);
    // first instruction loads the arch, the last two return ALLOW then ERRNO(EPERM)
    expect(x64.readUInt16LE(0)).toBe(0x20);
    expect(x64.readUInt32LE(4)).toBe(4);
    expect(x64.readUInt32LE(x64.length - 12)).toBe(0x7fff0000);
    expect(x64.readUInt32LE(x64.length - 4)).toBe(0x00050001);
    expect(seccompFilter('arm64')!.length / 8).toBe(18);
    expect(seccompFilter('riscv64')).toBeNull();
  });
});

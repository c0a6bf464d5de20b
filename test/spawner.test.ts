/**
 * The lean process starter (src/util/spawner.ts): host git runs from a small helper process instead of forking
 * the orchestrator. The helper must give exactly what a direct start gives (output, errors, environment,
 * stdin), never outlive its parent, never keep the parent's event loop alive, and carry host git's safety
 * configuration unchanged. Uses the built package (dist/), where the helper's compiled entry exists.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { changes, git, snapshot } from '../dist/src/git/git.js';
import { execFileLean, spawnerAvailable, spawnerPid } from '../dist/src/util/spawner.js';
import { fsmonitorTrap, tempDir } from './helpers/project.js';

const SPAWNER = resolve('dist/src/util/spawner.js');

/** True while a process with this id exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

describe('the lean process starter', () => {
  it('is available in dist and starts programs from its own helper process', async () => {
    expect(spawnerAvailable()).toBe(true);
    const r = await execFileLean('sh', ['-c', 'echo $PPID'], {
      cwd: '/',
      env: { PATH: process.env['PATH']! },
      maxBuffer: 1 << 20,
    });
    const pid = spawnerPid();
    expect(pid).not.toBeNull();
    expect(pid).not.toBe(process.pid);
    // The program's parent is the helper, not this process.
    expect(Number(r.stdout.trim())).toBe(pid);
  });

  it('passes the folder, the exact environment (nothing inherited) and stdin, and returns stdout and stderr', async () => {
    const dir = tempDir();
    const r = await execFileLean('sh', ['-c', 'pwd; echo "A=$A B=$' + '{B-unset}"; cat; echo err >&2'], {
      cwd: dir,
      env: { PATH: process.env['PATH']!, A: 'x y' },
      maxBuffer: 1 << 20,
      input: 'from stdin\n',
    });
    expect(r.stdout.split('\n')).toEqual([dir, 'A=x y B=unset', 'from stdin', '']);
    expect(r.stderr).toBe('err\n');
    process.env['B'] = 'parent';
    const again = await execFileLean('sh', ['-c', 'echo "$' + '{B-unset}"'], {
      cwd: dir,
      env: { PATH: process.env['PATH']! },
      maxBuffer: 1 << 20,
    });
    delete process.env['B'];
    expect(again.stdout).toBe('unset\n');
  });

  it('rejects like execFile: exit code, stderr and stdout on failure; a missing program; output past maxBuffer', async () => {
    const env = { PATH: process.env['PATH']! };
    const e = await execFileLean('sh', ['-c', 'echo out; echo bad >&2; exit 3'], {
      cwd: '/',
      env,
      maxBuffer: 1 << 20,
    }).catch((x: unknown) => x as { code: unknown; stderr: string; stdout: string });
    expect(e).toMatchObject({ code: 3, stderr: 'bad\n', stdout: 'out\n' });
    const missing = await execFileLean('/no/such/program', [], { cwd: '/', env, maxBuffer: 1 << 20 }).catch(
      (x: unknown) => x as { code: unknown },
    );
    expect(missing).toMatchObject({ code: 'ENOENT' });
    const big = await execFileLean('sh', ['-c', 'head -c 100000 /dev/zero'], {
      cwd: '/',
      env,
      maxBuffer: 1000,
    }).catch((x: unknown) => x as Error);
    expect(big).toBeInstanceOf(Error);
    expect((big as Error).message).toMatch(/maxBuffer/);
    // The helper survives a failed program.
    expect((await execFileLean('echo', ['ok'], { cwd: '/', env, maxBuffer: 1 << 20 })).stdout).toBe('ok\n');
  });

  it('many programs at once each get their own answer', async () => {
    const env = { PATH: process.env['PATH']! };
    const outs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        execFileLean('sh', ['-c', `echo ${i}`], { cwd: '/', env, maxBuffer: 1 << 20 }),
      ),
    );
    expect(outs.map((o) => Number(o.stdout))).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('does not keep its parent alive, and exits with it (normal exit and SIGKILL)', async () => {
    const script = (tail: string) =>
      `import { execFileLean, spawnerPid } from ${JSON.stringify(SPAWNER)};
       await execFileLean('true', [], { cwd: '/', env: { PATH: process.env.PATH }, maxBuffer: 1024 });
       console.log(spawnerPid()); ${tail}`;
    // Nothing pending: the parent's event loop ends by itself (a kept-alive parent would hit the timeout).
    const done = spawnSync(process.execPath, ['--input-type=module', '-e', script('')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(done.status).toBe(0);
    const helper = Number(done.stdout.trim());
    expect(helper).toBeGreaterThan(0);
    expect(await waitGone(helper, 5000)).toBe(true);
    // The parent is killed outright: the helper sees its channel close and exits.
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', script('setInterval(() => {}, 1000);')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const pid = await new Promise<number>((res) =>
      child.stdout.once('data', (d: Buffer) => res(Number(String(d).trim()))),
    );
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    expect(await waitGone(pid, 5000)).toBe(true);
  });

  it('attack: host git through the helper still never runs a staged nested repository’s fsmonitor hook', async () => {
    const { dir, marker, plainGit: run } = fsmonitorTrap();
    await snapshot(dir);
    await changes(dir);
    expect(spawnerPid()).not.toBeNull();
    expect(existsSync(marker)).toBe(false);
    // GIT_* variables of the orchestrator's environment do not reach git through the helper either.
    process.env['GIT_DIR'] = '/nonexistent';
    try {
      expect((await git(dir, ['rev-parse', '--is-inside-work-tree'])).trim()).toBe('true');
    } finally {
      delete process.env['GIT_DIR'];
    }
    run(dir, ['status', '--porcelain']);
    expect(existsSync(marker)).toBe(true); // plain git runs it: the attack is real
  });
});

/**
 * Attacks a sandboxed experiment might try. Each runs a small Python script through runSandboxed with real
 * bubblewrap; the script writes what it found to /output/result.json, and the test asserts it was blocked and
 * that the vault's content appears nowhere.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoSecret, type Fixture, makeFixture, runPy } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(() => fx.cleanup());

const PY_PRELUDE = `import json, os, sys
res = {}
def attempt(key, fn):
    try:
        res[key] = ['ok', repr(fn())[:2000]]
    except BaseException as e:
        res[key] = ['blocked', type(e).__name__ + ': ' + str(e)[:300]]
def done():
    with open('/output/result.json', 'w') as f:
        json.dump(res, f)
`;

describe('vault isolation', () => {
  for (const hidden of [true, false]) {
    it(`cannot read the vault by its host absolute path (hiddenPaths ${hidden ? 'set' : 'not set'})`, async () => {
      const run = await runPy(
        fx,
        `${PY_PRELUDE}
V = os.environ['VAULT_FILE']; D = os.environ['VAULT_DIR']; P = os.environ['PROJECT_DIR']
attempt('file', lambda: open(V).read())
attempt('dir', lambda: os.listdir(D))
attempt('project', lambda: os.listdir(P))
attempt('dotratchet', lambda: os.listdir(P + '/.ratchet'))
attempt('relative', lambda: open('../../vault/labels.csv').read())
attempt('root_listing', lambda: sorted(os.listdir('/')))
done()
`,
        hidden ? {} : { hiddenPaths: [] },
      );
      expect(run.result.status, run.stderr).toBe('ok');
      for (const k of ['file', 'dir', 'project', 'dotratchet', 'relative']) {
        expect(run.seen[k][0], k).toBe('blocked');
        expect(run.seen[k][1], k).toMatch(/FileNotFoundError/);
      }
      // The allowlist: nothing but what was bound (plus the mount points bwrap creates for them).
      const root = JSON.parse(run.seen.root_listing[1].replaceAll("'", '"'));
      expect(root).toEqual(
        expect.arrayContaining([
          'bin',
          'data',
          'dev',
          'etc',
          'lib',
          'output',
          'proc',
          'tmp',
          'usr',
          'workspace',
        ]),
      );
      for (const absent of ['home', 'run', 'sys', 'var', 'mnt', 'opt', 'srv', 'boot'])
        expect(root).not.toContain(absent);
      expectNoSecret(fx, run);
    });
  }

  it('cannot reach the vault through /proc (pid 1 root, parent cwd, /proc/self/.., scanning every pid)', async () => {
    const run = await runPy(
      fx,
      `${PY_PRELUDE}
V = os.environ['VAULT_FILE']; rel = V.lstrip('/')
ppid = os.getppid()
attempt('proc1_root', lambda: open('/proc/1/root/' + rel).read())
attempt('ppid_cwd_list', lambda: os.listdir(f'/proc/{ppid}/cwd'))
attempt('ppid_cwd_vault', lambda: open(f'/proc/{ppid}/cwd/' + rel).read())
attempt('ppid_root_vault', lambda: open(f'/proc/{ppid}/root/' + rel).read())
attempt('self_dotdot', lambda: open('/proc/self/../1/root/' + rel).read())
attempt('self_cwd_up', lambda: open('/proc/self/cwd/../../vault/labels.csv').read())
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
res['pids'] = pids
hits = []
for pid in pids:
    for kind in ('cwd', 'root'):
        base = f'/proc/{pid}/{kind}'
        try:
            res.setdefault('links', {})[f'{pid}/{kind}'] = os.readlink(base)
        except OSError as e:
            res.setdefault('links', {})[f'{pid}/{kind}'] = 'ERR ' + type(e).__name__
        for cand in (base + '/' + rel, base + '/../../vault/labels.csv'):
            try:
                open(cand).read(); hits.append(cand)
            except OSError:
                pass
        # walk what this process sees, looking for any labels file or vault folder
        for top, dirs, files in os.walk(base):
            if top == base:
                dirs[:] = [d for d in dirs if d not in ('proc', 'usr', 'sys', 'dev', 'root', 'work')]
            for n in files + dirs:
                if n in ('labels.csv', 'vault'):
                    hits.append(os.path.join(top, n))
res['hits'] = hits
done()
`,
    );
    expect(run.result.status, run.stderr).toBe('ok');
    for (const k of ['proc1_root', 'ppid_cwd_vault', 'ppid_root_vault', 'self_dotdot', 'self_cwd_up']) {
      expect(run.seen[k][0], k).toBe('blocked');
    }
    expect(run.seen.hits).toEqual([]);
    // A new PID namespace: only the sandbox's own few processes are visible, starting at 1.
    expect(run.seen.pids[0]).toBe(1);
    expect(run.seen.pids.length).toBeLessThan(6);
    for (const target of Object.values(run.seen.links as Record<string, string>)) {
      expect(target).not.toContain(fx.project);
    }
    expectNoSecret(fx, run);
  });

  it('masks <workdir>/.ratchet when the worktree is the project itself, and a mounted mask cannot be removed', async () => {
    const run = await runPy(
      fx,
      `${PY_PRELUDE}
import subprocess
def sh(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    return [r.returncode, r.stderr.strip()[-200:]]
attempt('list', lambda: os.listdir('/workspace/.ratchet'))
attempt('vault', lambda: open('/workspace/.ratchet/vault/labels.csv').read())
res['umount'] = sh('umount', '/workspace/.ratchet')
res['umount_lazy'] = sh('umount', '-l', '/workspace/.ratchet')
attempt('vault_after', lambda: open('/workspace/.ratchet/vault/labels.csv').read())
attempt('write_mask', lambda: open('/workspace/.ratchet/x', 'w').write('x'))
done()
`,
      { workdir: fx.project, hiddenPaths: [] },
    );
    expect(run.result.status, run.stderr).toBe('ok');
    expect(run.seen.list).toEqual(['ok', '[]']);
    expect(run.seen.vault[0]).toBe('blocked');
    expect(run.seen.umount[0]).not.toBe(0);
    expect(run.seen.umount_lazy[0]).not.toBe(0);
    expect(run.seen.vault_after[0]).toBe('blocked');
    expect(run.seen.write_mask[1]).toMatch(/Read-only file system/);
    expectNoSecret(fx, run);
  });
});

describe('network', () => {
  const servers: Server[] = [];
  let port = 0;
  let connections = 0;
  let unixPath = '';
  const abstractName = `ratchet-test-${process.pid}-${Date.now()}`;
  const listen = async (...args: unknown[]) => {
    const server = createServer((s) => {
      connections++;
      s.end('hello from the host\n');
    });
    servers.push(server);
    await new Promise<void>((r) => (server.listen as (...a: unknown[]) => void)(...args, r));
    return server;
  };
  beforeAll(async () => {
    port = ((await listen(0, '127.0.0.1')).address() as { port: number }).port;
    unixPath = join(fx.root, 'host.sock');
    await listen(unixPath);
    await listen(`\0${abstractName}`);
  });
  afterAll(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))));

  it('cannot connect to a host service on 127.0.0.1, resolve names or reach external addresses', async () => {
    const run = await runPy(
      fx,
      `${PY_PRELUDE}
import socket
PORT = int(sys.argv[1])
def connect(host, port):
    s = socket.create_connection((host, port), timeout=3)
    return s.recv(100)
attempt('loopback', lambda: connect('127.0.0.1', PORT))
attempt('dns', lambda: socket.getaddrinfo('example.com', 443))
attempt('ext_ip', lambda: connect('1.1.1.1', 53))
attempt('ext_ip6', lambda: connect('2606:4700:4700::1111', 53))
attempt('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53)))
def unix(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(addr)
    return s.recv(100)
attempt('unix_path', lambda: unix(sys.argv[2]))
# libuv binds abstract names padded with NULs to the full sun_path (108 bytes)
attempt('unix_abstract', lambda: unix((b'\\0' + sys.argv[3].encode()).ljust(108, b'\\0')))
res['ifaces'] = [n for _, n in socket.if_nameindex()]
done()
`,
      {},
      [String(port), unixPath, abstractName],
    );
    expect(run.result.status, run.stderr).toBe('ok');
    expect(run.seen.loopback[1]).toMatch(/ConnectionRefused/);
    for (const k of ['dns', 'ext_ip', 'ext_ip6', 'udp', 'unix_path', 'unix_abstract']) {
      expect(run.seen[k][0], k).toBe('blocked');
    }
    expect(run.seen.ifaces).toEqual(['lo']);
    expect(connections).toBe(0);
  });

  it('reaches the host network only with network: true (sanity check of the test server)', async () => {
    const run = await runPy(
      fx,
      `${PY_PRELUDE}
import socket
attempt('loopback', lambda: socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3).recv(100))
def abstract():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect((b'\\0' + sys.argv[2].encode()).ljust(108, b'\\0'))
    return s.recv(100)
attempt('unix_abstract', abstract)
done()
`,
      { network: true },
      [String(port), abstractName],
    );
    expect(run.result.status, run.stderr).toBe('ok');
    expect(run.seen.loopback[1]).toContain('hello from the host');
    // abstract Unix sockets belong to the network namespace: shared here, unreachable without network
    expect(run.seen.unix_abstract[1]).toContain('hello from the host');
    expect(connections).toBe(2);
  });
});

describe('writes outside /output', () => {
  it('cannot modify the worktree, the contract, the data, /, /dev, system folders; /tmp and /dev/shm are capped', async () => {
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    const before = {
      train: sha(join(fx.worktree, 'train.py')),
      yaml: sha(join(fx.worktree, 'ratchet.yaml')),
      data: sha(fx.dataFile),
      worktreeFiles: readdirSync(fx.worktree).sort(),
      dataFiles: readdirSync(join(fx.project, '.ratchet', 'data')).sort(),
    };
    const tmpBytes = 4 * 1024 * 1024;
    const run = await runPy(
      fx,
      `${PY_PRELUDE}
def write(p, mode='w'):
    with open(p, mode) as f:
        f.write('pwned\\n')
for p in ['/workspace/train.py', '/workspace/ratchet.yaml', '/data/train.csv']:
    attempt('append ' + p, lambda p=p: write(p, 'a'))
    attempt('truncate ' + p, lambda p=p: os.truncate(p, 0))
    attempt('chmod ' + p, lambda p=p: os.chmod(p, 0o777))
    attempt('unlink ' + p, lambda p=p: os.unlink(p))
    attempt('rename ' + p, lambda p=p: os.rename(p, p + '.bak'))
for p in ['/workspace/new.py', '/data/new.csv', '/x', '/dev/x', '/usr/x', '/etc/x', '/etc/passwd', '/bin/x',
          '/root/x', '/workspace/.git', '/proc/x']:
    attempt('create ' + p, lambda p=p: write(p))
# Global sysctls: the command is host uid 0 without capabilities, and sysctl files only check the owner bits,
# so a writable /proc/sys would be a host root escape (kernel.core_pattern). Opened for writing, never written.
for p in ['/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sys/kernel/hostname',
          '/proc/sysrq-trigger', '/proc/self/oom_score_adj']:
    attempt('open rw ' + p, lambda p=p: open(p, 'r+').close())
attempt('mkdir /workspace/d', lambda: os.mkdir('/workspace/d'))
attempt('symlink /workspace/l', lambda: os.symlink('/output', '/workspace/l'))
def fill(path):
    n = 0
    chunk = b'\\0' * (1 << 20)
    try:
        with open(path, 'wb') as f:
            for _ in range(64):
                f.write(chunk); f.flush(); n += len(chunk)
    except OSError as e:
        return [n, type(e).__name__, e.errno]
    return [n, 'no error', 0]
res['fill_tmp'] = fill('/tmp/fill')
res['fill_shm'] = fill('/dev/shm/fill')
attempt('write_output', lambda: write('/output/ok.txt'))
done()
`,
      { tmpBytes },
    );
    expect(run.result.status, run.stderr).toBe('ok');
    for (const [k, v] of Object.entries(run.seen as Record<string, [string, string]>)) {
      if (k.startsWith('fill') || k === 'write_output') continue;
      expect(v[0], `${k}: ${v[1]}`).toBe('blocked');
    }
    expect(run.seen['append /workspace/train.py'][1]).toMatch(/Read-only file system/);
    expect(run.seen['create /x'][1]).toMatch(/Read-only file system/);
    expect(run.seen['create /dev/x'][1]).toMatch(/Read-only file system/);
    // As root the owner bits would allow the write: only the read-only mount stops it. As another user the
    // permission check may answer first.
    expect(run.seen['open rw /proc/sys/kernel/core_pattern'][1]).toMatch(
      process.getuid?.() === 0 ? /Read-only file system/ : /Read-only file system|Permission denied/,
    );
    expect(run.seen.write_output[0]).toBe('ok');
    // ENOSPC (errno 28) before the cap
    expect(run.seen.fill_tmp[2]).toBe(28);
    expect(run.seen.fill_tmp[0]).toBeLessThanOrEqual(tmpBytes);
    expect(run.seen.fill_shm[2]).toBe(28);
    expect(run.seen.fill_shm[0]).toBeLessThanOrEqual(tmpBytes);
    expect(sha(join(fx.worktree, 'train.py'))).toBe(before.train);
    expect(sha(join(fx.worktree, 'ratchet.yaml'))).toBe(before.yaml);
    expect(sha(fx.dataFile)).toBe(before.data);
    expect(readdirSync(fx.worktree).sort()).toEqual(before.worktreeFiles);
    expect(readdirSync(join(fx.project, '.ratchet', 'data')).sort()).toEqual(before.dataFiles);
  });
});

describe('privileges', () => {
  it('has no capabilities, no new privileges, and cannot remount, mount or unshare', async () => {
    const run = await runPy(
      fx,
      `${PY_PRELUDE}
import subprocess, ctypes
def sh(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    return [r.returncode, (r.stdout + r.stderr).strip()[-200:]]
st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Uid'):
    res[k] = st[k].strip()
res['remount_workspace'] = sh('mount', '-o', 'remount,rw', '/workspace')
res['remount_data'] = sh('mount', '-o', 'remount,rw', '/data/train.csv')
res['remount_root'] = sh('mount', '-o', 'remount,rw', '/')
res['mount_tmpfs'] = sh('mount', '-t', 'tmpfs', 'none', '/tmp')
res['bind_vault'] = sh('mount', '--bind', os.environ['VAULT_DIR'], '/tmp')
res['unshare_user'] = sh('unshare', '-U', '-r', 'true')
res['unshare_mount'] = sh('unshare', '-m', 'true')
res['unshare_net'] = sh('unshare', '-n', 'true')
libc = ctypes.CDLL(None, use_errno=True)
res['unshare_syscall'] = [libc.unshare(0x10000000), ctypes.get_errno()]  # CLONE_NEWUSER
res['setuid_su'] = sh('su', '-c', 'id')
# Kernel keyrings are not namespaced: the session keyring of whoever started Ratchet would be readable.
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(256)
res['keyctl_describe_session'] = [libc.syscall(250, 6, ctypes.c_long(-3), buf, 256), ctypes.get_errno(), buf.value.decode()]
res['add_key'] = [libc.syscall(248, b'user', b'x', b'y', 1, ctypes.c_long(-3)), ctypes.get_errno()]
attempt('proc_keys', lambda: open('/proc/keys').read())
attempt('write_after', lambda: open('/workspace/pwn', 'w').write('x'))
done()
`,
    );
    expect(run.result.status, run.stderr).toBe('ok');
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      expect(run.seen[k], k).toBe('0000000000000000');
    expect(run.seen.NoNewPrivs).toBe('1');
    for (const k of [
      'remount_workspace',
      'remount_data',
      'remount_root',
      'mount_tmpfs',
      'bind_vault',
      'unshare_user',
      'unshare_mount',
      'unshare_net',
      'setuid_su',
    ]) {
      expect(run.seen[k][0], `${k}: ${run.seen[k][1]}`).not.toBe(0);
    }
    expect(run.seen.unshare_syscall[0]).toBe(-1);
    expect(run.seen.keyctl_describe_session.slice(0, 2)).toEqual([-1, 1]); // EPERM from the seccomp filter
    expect(run.seen.add_key).toEqual([-1, 1]);
    expect(run.seen.proc_keys[0]).toBe('blocked'); // /dev/null on a nodev mount
    expect(run.seen.proc_keys[1]).not.toContain('_uid');
    expect(run.seen.write_after[0]).toBe('blocked');
  });
});

describe('environment and terminal', () => {
  it('sees only its own environment: no secret from the parent, in its own or any visible process', async () => {
    process.env.RATCHET_TEST_SECRET = `env-secret-${fx.secret}`;
    try {
      const run = await runPy(
        fx,
        `${PY_PRELUDE}
res['environ'] = dict(os.environ)
other = {}
for p in os.listdir('/proc'):
    if p.isdigit():
        try:
            other[p] = open(f'/proc/{p}/environ', 'rb').read().decode(errors='replace')
        except OSError as e:
            other[p] = 'ERR ' + type(e).__name__
res['proc_environ'] = other
attempt('tty', lambda: open('/dev/tty', 'w'))
res['sid_is_self'] = os.getsid(0) == os.getpid() or os.getsid(0) == os.getppid()
res['hostname'] = os.uname().nodename
done()
`,
        { env: { RATCHET_SEED: '7' } },
      );
      expect(run.result.status, run.stderr).toBe('ok');
      expect(Object.keys(run.seen.environ).sort()).toEqual(['HOME', 'LANG', 'PATH', 'RATCHET_SEED']);
      expect(run.seen.environ.HOME).toBe('/tmp');
      expect(run.seen.environ.PATH.startsWith(`${fx.python.binDir}:`)).toBe(true);
      expect(JSON.stringify(run.seen)).not.toContain('RATCHET_TEST_SECRET');
      expect(JSON.stringify(run.seen)).not.toContain('env-secret');
      // No controlling terminal (new session, stdin not a tty): TIOCSTI has nothing to type into.
      expect(run.seen.tty[0]).toBe('blocked');
      expect(run.seen.hostname).toBe('ratchet-sandbox');
      expectNoSecret(fx, run);
    } finally {
      delete process.env.RATCHET_TEST_SECRET;
    }
  });
});

/**
 * Attacks on the limits of the whole sandboxed process TREE (not just one process), on the sandbox's pid 1 and
 * on other processes' memory, and on what /proc/self/mountinfo tells about the host. Real bubblewrap, real Python.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { runSandboxed, treeLimitMechanism } from '../../src/sandbox/index.js';
import { sampleTree } from '../../src/sandbox/watchdog.js';
import { cli, makeProject } from '../helpers/project.js';
import { ScriptedProposer } from '../helpers/scripted.js';
import { type Fixture, makeFixture, runPy } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(() => fx.cleanup());

const MiB = 1024 * 1024;

/**
 * Three children, each growing to `each` MiB in 16 MiB steps every 50 ms (so one 200 ms tick adds at most
 * 3 × 4 × 16 MiB), then holding it. Each child stays far below RLIMIT_AS; together they pass the tree's cap.
 */
const THREE_CHILDREN_PY = `import os, sys, time
each = int(sys.argv[1])
kids = []
for k in range(3):
    pid = os.fork()
    if pid == 0:
        blocks = []
        while len(blocks) * 16 < each:
            blocks.append(bytearray(b'x') * (16 << 20))
            time.sleep(0.05)
        open(f'/output/child{k}.txt', 'w').write(str(len(blocks) * 16))
        time.sleep(150)
        os._exit(0)
    kids.append(pid)
# Wait (however slow the machine) until the three hold their memory together, then a little longer.
deadline = time.time() + 120
while time.time() < deadline and not all(os.path.exists(f'/output/child{k}.txt') for k in range(3)):
    time.sleep(0.1)
time.sleep(1)
open('/output/survived.txt', 'w').write('all three held their memory')
for p in kids:
    os.kill(p, 9)
`;

describe('memory cap of the whole tree', () => {
  it('kills three children that are each under the limit but together over it, with a clear message', async () => {
    const cap = 600 * MiB;
    const run = await runPy(
      fx,
      THREE_CHILDREN_PY,
      { memoryBytes: cap, timeoutMs: 60_000 },
      ['300'],
      'three.py',
    );
    expect(run.result.status, `${run.result.message}\n${run.stderr}`).toBe('memory_limit');
    expect(run.result.message).toMatch(
      /^memory: the process tree used \d+(\.\d+)? (MiB|GiB) > cap 600\.0 MiB; killed$/,
    );
    // Evidence the attack would leave: a parent that outlived the children's 900 MiB together.
    expect(() => readFileSync(join(fx.outputDir, 'survived.txt'))).toThrow();
    // The host saw the tree pass the cap by at most one tick's growth (3 children × 4 steps × 16 MiB) + slack.
    const tree = run.result.tree!;
    expect(tree.peakBytes).toBeGreaterThan(cap);
    expect(tree.peakBytes).toBeLessThan(cap + 3 * 4 * 16 * MiB + 128 * MiB);
  });

  it('counts memory shared by forked children once (PSS), so a legitimate fork pool is not killed', async () => {
    // The parent holds 250 MiB, then forks three children that only sleep: the RSS sum is ~1 GiB, PSS ~250 MiB.
    const run = await runPy(
      fx,
      `import os, time
blob = bytearray(b'y') * (250 << 20)
kids = []
for k in range(3):
    pid = os.fork()
    if pid == 0:
        time.sleep(1.5)
        os._exit(0)
    kids.append(pid)
for p in kids:
    os.waitpid(p, 0)
open('/output/done.txt', 'w').write('ok')
`,
      { memoryBytes: 600 * MiB, timeoutMs: 60_000 },
      [],
      'pool.py',
    );
    expect(run.result.status, `${run.result.message}\n${run.stderr}`).toBe('ok');
    expect(readFileSync(join(fx.outputDir, 'done.txt'), 'utf8')).toBe('ok');
    expect(run.result.tree!.ticks).toBeGreaterThan(3);
  });
});

describe('process cap of the whole tree', () => {
  it('stops a fork bomb beyond the process limit', async () => {
    // 400 sleeping children, then the parent waits 5 s and reports: the report must never be written.
    const run = await runPy(
      fx,
      `import os, time, json
n = 0
err = None
for i in range(400):
    try:
        pid = os.fork()
    except OSError as e:
        err = type(e).__name__
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
    open('/output/forked.txt', 'w').write(str(n))
time.sleep(5)
json.dump({'forked': n, 'error': err}, open('/output/result.json', 'w'))
`,
      { maxProcesses: 64, timeoutMs: 60_000 },
      [],
      'bomb.py',
    );
    const forked = Number(readFileSync(join(fx.outputDir, 'forked.txt'), 'utf8'));
    expect(run.result.status, `${run.result.message}; forked ${forked}`).toBe('process_limit');
    expect(run.result.message).toMatch(
      /^processes: the process tree ran \d+ processes\/threads > cap 64; killed$/,
    );
    expect(run.seen).toBeUndefined(); // the bomb's parent was killed before it could report
    // As root RLIMIT_NPROC does not bind and the watchdog (20 ms ticks during a burst) stops it; as another user
    // RLIMIT_NPROC refuses forks first (the parent then holds its 62 children and is killed at the next tick).
    expect(forked).toBeLessThan(400);
  });
});

describe('debugging syscalls', () => {
  it('cannot ptrace the sandbox pid 1 or a child, nor read or write memory with process_vm_*', async () => {
    const run = await runPy(
      fx,
      `import ctypes, json, os, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
res = {}
def pt(req, pid):
    ctypes.set_errno(0)
    r = libc.ptrace(req, pid, None, None)
    e = ctypes.get_errno()
    if r == 0:
        libc.ptrace(17, pid, None, None)  # PTRACE_DETACH, so a success does not freeze the target
    return [r, e]
res['attach_pid1'] = pt(16, 1)        # PTRACE_ATTACH
res['seize_pid1'] = pt(0x4206, 1)     # PTRACE_SEIZE
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
res['attach_child'] = pt(16, child)
res['seize_child'] = pt(0x4206, child)
os.kill(child, 9)
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
src = ctypes.create_string_buffer(b'secret', 64)
dst = ctypes.create_string_buffer(64)
local = iovec(ctypes.cast(dst, ctypes.c_void_p), 64)
remote = iovec(ctypes.cast(src, ctypes.c_void_p), 64)
libc.syscall.restype = ctypes.c_long
for name, nr in (('process_vm_readv', 310), ('process_vm_writev', 311)):
    ctypes.set_errno(0)
    r = libc.syscall(nr, os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    res[name] = [r, ctypes.get_errno()]
json.dump(res, open('/output/result.json', 'w'))
`,
      {},
      [],
      'ptrace.py',
    );
    expect(run.result.status, run.stderr).toBe('ok');
    for (const k of ['attach_pid1', 'seize_pid1', 'attach_child', 'seize_child'])
      expect(run.seen[k], k).toEqual([-1, 1]); // EPERM
    if (process.arch === 'x64') {
      expect(run.seen.process_vm_readv).toEqual([-1, 1]);
      expect(run.seen.process_vm_writev).toEqual([-1, 1]);
    }
  });
});

describe('mountinfo', () => {
  it('never shows the vault path, and a bind of the vault is refused', async () => {
    const run = await runPy(
      fx,
      `import os
open('/output/mountinfo.txt', 'w').write(open('/proc/self/mountinfo').read())
`,
      // The worktree is the project root: its .ratchet (vault inside) must be covered, not shown.
      { workdir: fx.project },
      [],
      'mounts.py',
    );
    expect(run.result.status, run.stderr).toBe('ok');
    const info = readFileSync(join(fx.outputDir, 'mountinfo.txt'), 'utf8');
    expect(info).toContain('/workspace');
    expect(info).not.toContain(fx.vaultDir);
    // Only sandbox paths name it: the empty tmpfs that covers it is mounted at /workspace/.ratchet/vault.
    expect(info).toMatch(/ \/ \/workspace\/\.ratchet\/vault ro,.* - tmpfs /);
    await expect(
      runSandboxed(fx.spec(['true'], { readOnly: [{ host: fx.vaultFile, target: '/data/labels.csv' }] })),
    ).rejects.toThrow(/hidden path/);
  });
});

describe('watchdog cost', () => {
  it('measures a tree of ~20 processes in a few ms of host CPU per tick', async () => {
    const run = await runPy(
      fx,
      `import os, time
for k in range(20):
    if os.fork() == 0:
        time.sleep(3)
        os._exit(0)
time.sleep(3)
`,
      {},
      [],
      'twenty.py',
    );
    expect(run.result.status, run.stderr).toBe('ok');
    const tree = run.result.tree!;
    expect(tree.peakTasks).toBeGreaterThanOrEqual(21);
    // Generous bound (the brief's requirement is 5 ms per tick; the machine is shared).
    expect(tree.cpuMs / tree.ticks).toBeLessThan(5);
    expect(sampleTree(process.pid).pids).toContain(process.pid);
  });
});

describe('ratchet check', () => {
  it('prints which mechanism holds the tree limits here (cgroup v2 or the watchdog)', async () => {
    const dir = await makeProject({ rows: 600 });
    const r = cli(['check', '--runs', '1'], dir);
    expect(r.code, r.stderr).toBe(0);
    const m = treeLimitMechanism();
    expect(`${r.stdout}${r.stderr}`).toContain(`process-tree limits: ${m.detail}`);
    // This machine's layout decides: controllers listed in our cgroup v2 or none (v1/hybrid) => watchdog.
    const own = readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)?.[1];
    const ctl = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']
      .map((b) => join(b, own ?? '', 'cgroup.controllers'))
      .find((p) => existsSync(p));
    if (ctl && readFileSync(ctl, 'utf8').trim() === '') expect(m.mechanism).toBe('watchdog');
  });
});

describe('through the loop', () => {
  it('records a tree over budgets.memory as a crashed experiment with the memory reason', async () => {
    const dir = await makeProject({
      rows: 600,
      contract: (y) => y.replace('memory: 8GiB', 'memory: 2GiB\n  processes: 64'),
    });
    const script = `import sys\nsys.argv = ['three.py', '800']\n${THREE_CHILDREN_PY}`;
    const r = await runLoop({
      projectDir: dir,
      proposer: async () =>
        new ScriptedProposer([{ hypothesis: 'three workers', files: { 'train.py': script } }]),
      maxExperiments: 2,
    });
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(r.runId);
    j.close();
    expect(exps[0]!.decision, exps[0]!.reason).toBe('kept');
    expect(exps[1]).toMatchObject({ decision: 'crashed', sandboxStatus: 'memory_limit' });
    expect(exps[1]!.reason).toMatch(/^memory: the process tree used \S+ (MiB|GiB) > cap 2 GiB; killed/);
  });
});

/**
 * GPUs inside a Ray job (python/ray_entry.py, src/executors/package.ts), without a cluster: Ratchet's entry script
 * runs here as Ray would run it on a worker (in the unpacked job folder, with the job's spec and nonce in its
 * environment, and CUDA_VISIBLE_DEVICES as Ray sets it for a job with entrypoint_num_gpus), and starts the real
 * bubblewrap. No GPU exists on these machines: the device nodes are stand-in files in a folder the job's spec
 * names (`dev_dir`); what is proven is which nodes the sandboxed command sees and its environment, not CUDA.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobLog } from '../../src/executors/channel.js';
import { buildJobPackage, ENTRY_SCRIPT, type JobPackage, PLACEHOLDERS } from '../../src/executors/package.js';
import { preflight } from '../../src/loop/preflight.js';
import type { SandboxResult } from '../../src/sandbox/types.js';
import { makeProject } from '../helpers/project.js';
import { type Fixture, makeFixture } from '../sandbox/helpers.js';

/** The sandboxed command: what it sees of /dev, what the GPU nodes hold, and its GPU variables. */
const SHOW = `import json, os
dev = sorted(os.listdir("/dev"))
print("DEV=" + json.dumps(dev))
print("READ=" + json.dumps({n: open("/dev/" + n).read() for n in dev if n.startswith("nvidia")}))
print("CUDA=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
print("NVIDIA=" + os.environ.get("NVIDIA_VISIBLE_DEVICES", "unset"))
`;

let fx: Fixture;
let dev: string;
let work: string;
beforeAll(async () => {
  fx = await makeFixture();
  writeFileSync(join(fx.worktree, 'show.py'), SHOW);
  work = mkdtempSync(join(tmpdir(), 'ratchet-ray-gpu-'));
  // Stand-in device nodes, each holding its own name: four GPUs, two control nodes, and what is no NVIDIA GPU.
  dev = join(work, 'dev');
  mkdirSync(dev);
  for (const n of ['nvidia0', 'nvidia1', 'nvidia2', 'nvidia3', 'nvidiactl', 'nvidia-uvm', 'sda', 'nvidiafoo'])
    writeFileSync(join(dev, n), `stand-in ${n}`);
  mkdirSync(join(dev, 'nvidia9')); // a folder is no device
});
afterAll(() => {
  fx?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Unpack a zip into `dir`. */
function unpack(zip: Uint8Array, dir: string): void {
  for (const [name, data] of Object.entries(unzipSync(zip))) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
}

/**
 * Run the package's entry script as Ray runs a job's entrypoint: `python -I ratchet_entry.py` in the unpacked
 * tree package, the data package's folder on PYTHONPATH, the job's spec (the fields `RayExecutor` writes) and
 * nonce in the environment, plus `cudaVisible` as Ray's CUDA_VISIBLE_DEVICES (undefined: not set).
 * @returns the result frame and the command's stdout, read back through the orchestrator's JobLog
 */
function runEntry(
  pkg: JobPackage,
  gpus: number,
  cudaVisible: string | undefined,
): { result: SandboxResult; out: string } {
  const job = mkdtempSync(join(work, 'job-'));
  unpack(pkg.zip, job);
  const data = mkdtempSync(join(work, 'data-'));
  if (pkg.data) unpack(pkg.data.zip, data);
  const nonce = randomBytes(16).toString('hex');
  const spec = {
    bwrap_path: 'bwrap',
    bwrap: pkg.cage.bwrap,
    inner: pkg.cage.inner,
    seccomp: pkg.cage.seccomp,
    timeout_ms: 60_000,
    memory_bytes: 4 * 1024 ** 3,
    max_tasks: 256,
    max_disk_bytes: 64 * 1024 ** 2,
    max_output_bytes: 64 * 1024 ** 2,
    max_log_bytes: 1024 ** 2,
    data_files: pkg.data ? pkg.data.entries.filter((e) => e !== 'ratchet_data.json') : [],
    ...(gpus ? { gpus, dev_dir: dev } : {}),
  };
  const r = spawnSync(fx.python.executable, ['-I', ENTRY_SCRIPT], {
    cwd: job,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      PYTHONPATH: data,
      RATCHET_JOB: JSON.stringify(spec),
      RATCHET_NONCE: nonce,
      ...(cudaVisible === undefined ? {} : { CUDA_VISIBLE_DEVICES: cudaVisible }),
    },
  });
  expect(r.status, r.stderr).toBe(0);
  let out = '';
  const log = new JobLog({
    nonce,
    onStdout: (t) => {
      out += t;
    },
    onStderr: () => {},
    maxPayloadBytes: spec.max_output_bytes,
  });
  log.feed(r.stdout, true);
  expect(log.result, r.stdout + r.stderr).not.toBeNull();
  return { result: log.result!, out };
}

const field = (out: string, name: string): string => new RegExp(`^${name}=(.*)$`, 'm').exec(out)?.[1] ?? '';

describe('GPUs in a Ray job (the entry script on the worker)', () => {
  it('binds exactly the nodes of the GPUs Ray assigned (CUDA_VISIBLE_DEVICES) and the control nodes, nothing else of /dev', () => {
    const pkg = buildJobPackage({
      spec: fx.spec(['python', 'show.py']),
      projectDir: fx.project,
      files: ['show.py'],
      gpus: 1,
    });
    const { result, out } = runEntry(pkg, 1, '1');
    expect(result.status, result.message).toBe('ok');
    const seen = JSON.parse(field(out, 'DEV')) as string[];
    expect(seen.filter((n) => n.startsWith('nvidia')).sort()).toEqual(['nvidia-uvm', 'nvidia1', 'nvidiactl']);
    for (const other of ['nvidia0', 'nvidia2', 'nvidia3', 'sda', 'nvidiafoo', 'nvidia9'])
      expect(seen).not.toContain(other);
    // The node at /dev/nvidia1 is the host's nvidia1, not another one under its name.
    expect(JSON.parse(field(out, 'READ'))).toEqual({
      'nvidia-uvm': 'stand-in nvidia-uvm',
      nvidia1: 'stand-in nvidia1',
      nvidiactl: 'stand-in nvidiactl',
    });
    expect(field(out, 'CUDA')).toBe('1');
    expect(field(out, 'NVIDIA')).toBe('1');

    // Two GPUs assigned (Ray's "0,3"): both nodes, in the sandbox's environment as Ray named them.
    const two = buildJobPackage({
      spec: fx.spec(['python', 'show.py']),
      projectDir: fx.project,
      files: ['show.py'],
      gpus: 2,
    });
    const r2 = runEntry(two, 2, '0,3');
    expect(r2.result.status, r2.result.message).toBe('ok');
    expect(
      (JSON.parse(field(r2.out, 'DEV')) as string[]).filter((n) => /^nvidia\d+$/.test(n)).sort(),
    ).toEqual(['nvidia0', 'nvidia3']);
    expect(field(r2.out, 'CUDA')).toBe('0,3');
  }, 120_000);

  it('fails the job, naming the worker and the fix, when Ray assigned no GPU or a node is missing (never runs on the CPU)', () => {
    const pkg = buildJobPackage({
      spec: fx.spec(['python', 'show.py']),
      projectDir: fx.project,
      files: ['show.py'],
      gpus: 1,
    });
    for (const visible of [undefined, '']) {
      const { result, out } = runEntry(pkg, 1, visible);
      expect(result.status).toBe('sandbox_error');
      expect(result.message).toContain(
        `the job asks for 1 GPU(s) (resources.gpus) but Ray assigned it none on the worker ${hostname()}`,
      );
      expect(result.message).toMatch(/ray start --num-gpus N\), or set resources\.gpus: 0/);
      expect(out).toBe(''); // the command never ran
    }
    const missing = runEntry(pkg, 1, '7');
    expect(missing.result.status).toBe('sandbox_error');
    expect(missing.result.message).toContain(
      `Ray assigned the job GPU 7 on the worker ${hostname()}, but ${join(dev, 'nvidia7')} is missing or not a device node: install the NVIDIA driver there`,
    );
    expect(missing.out).toBe('');
    // A folder named like a GPU node is no device node.
    expect(runEntry(pkg, 1, '9').result.message).toContain(
      `${join(dev, 'nvidia9')} is missing or not a device node`,
    );
    // Fewer GPUs than the job asks for.
    const two = buildJobPackage({
      spec: fx.spec(['python', 'show.py']),
      projectDir: fx.project,
      files: ['show.py'],
      gpus: 2,
    });
    expect(runEntry(two, 2, '1').result.message).toContain(
      'asks for 2 GPU(s) (resources.gpus) but Ray assigned it 1',
    );
  }, 120_000);

  it('without GPUs in the spec: the cage is the local sandbox argv as before, and nothing of /dev/nvidia is bound', () => {
    const spec = fx.spec(['python', 'show.py']);
    const none = buildJobPackage({ spec, projectDir: fx.project, files: ['show.py'] });
    const gpu = buildJobPackage({ spec, projectDir: fx.project, files: ['show.py'], gpus: 1 });
    expect(none.cage.bwrap).not.toContain(PLACEHOLDERS.gpuDevices);
    expect(none.cage.bwrap).not.toContain('--dev-bind');
    expect(none.cage.bwrap.join('\0')).not.toContain(PLACEHOLDERS.gpuIds);
    // The GPU cage is the same command line plus the marker (after the minimal /dev is made, before it turns
    // read-only) and the two variables.
    const at = gpu.cage.bwrap.indexOf(PLACEHOLDERS.gpuDevices);
    expect(gpu.cage.bwrap.slice(at - 2, at)).toEqual(['--dev', '/dev']);
    expect(gpu.cage.bwrap.slice(at + 1, at + 5)).toEqual([
      '--size',
      expect.any(String),
      '--tmpfs',
      '/dev/shm',
    ]);
    const stripped = gpu.cage.bwrap.filter((a, i, all) => {
      if (a === PLACEHOLDERS.gpuDevices) return false;
      const setenv = (k: number) =>
        all[k] === '--setenv' && /^(CUDA|NVIDIA)_VISIBLE_DEVICES$/.test(all[k + 1]!);
      return !(setenv(i) || setenv(i - 1) || setenv(i - 2));
    });
    expect(stripped).toEqual(none.cage.bwrap);
    expect(gpu.cage.inner).toEqual(none.cage.inner);

    // Run without GPUs, even where Ray set CUDA_VISIBLE_DEVICES: no NVIDIA node, no GPU variable.
    const { result, out } = runEntry(none, 0, '1');
    expect(result.status, result.message).toBe('ok');
    expect((JSON.parse(field(out, 'DEV')) as string[]).some((n) => n.startsWith('nvidia'))).toBe(false);
    expect(field(out, 'CUDA')).toBe('unset');
    expect(field(out, 'NVIDIA')).toBe('unset');
  }, 120_000);

  it("a Ray project's GPUs are the workers': preflight does not ask this machine for them, unless it runs the experiments", async () => {
    // This machine has no NVIDIA device (as gpu.test.ts assumes too).
    const dir = await makeProject({
      rows: 400,
      contract: (y) => `${y}resources:\n  gpus: 1\nexecutor:\n  kind: ray\n`,
    });
    const ready = await preflight(dir, { unsafe: false });
    expect(ready.contract.resources.gpus).toBe(1);
    await expect(preflight(dir, { unsafe: false, executor: 'local' })).rejects.toThrow(
      /asks for 1 GPU\(s\) per experiment; this machine has 0/,
    );
  }, 120_000);
});

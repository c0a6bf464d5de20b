/**
 * GPUs in the sandbox (src/sandbox/gpu.ts): no GPU exists on these machines, so the device nodes are stand-in files
 * in a folder of their own; what is proven is the binding (which nodes a sandbox sees, CUDA_VISIBLE_DEVICES, the
 * split between parallel slots), not CUDA itself.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalExecutor } from '../../src/loop/executor.js';
import { preflight } from '../../src/loop/preflight.js';
import { gpuBinds, nvidiaDevices, slotGpus } from '../../src/sandbox/gpu.js';
import { bwrapArgs } from '../../src/sandbox/index.js';
import { cli, makeProject } from '../helpers/project.js';
import { predictingScript } from '../helpers/scripted.js';
import { makeFixture } from './helpers.js';

/** A folder of stand-in device nodes: four GPUs, two control nodes, and things that are not NVIDIA GPUs. */
function standInDev(): string {
  const dev = mkdtempSync(join(tmpdir(), 'ratchet-dev-'));
  for (const n of ['nvidia0', 'nvidia1', 'nvidia2', 'nvidia3', 'nvidiactl', 'nvidia-uvm', 'sda', 'nvidiafoo'])
    writeFileSync(join(dev, n), '');
  mkdirSync(join(dev, 'nvidia9')); // a folder is no device
  return dev;
}

describe('GPU binding', () => {
  it('finds the NVIDIA nodes and splits GPUs between slots (disjoint when enough, else shared)', () => {
    const dev = standInDev();
    const d = nvidiaDevices(dev);
    expect(d.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
    expect(d.control.map((p) => p.slice(dev.length + 1))).toEqual(['nvidiactl', 'nvidia-uvm']);
    const idx = (gpus: number, slot: number, slots: number) =>
      slotGpus(d.gpus, gpus, slot, slots).map((g) => g.index);
    expect([idx(1, 0, 2), idx(1, 1, 2)]).toEqual([[0], [1]]);
    expect([idx(2, 0, 2), idx(2, 1, 2)]).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect([idx(1, 0, 6), idx(1, 5, 6)]).toEqual([[0], [1]]); // 6 slots on 4 GPUs: shared round-robin
    expect([idx(3, 0, 2), idx(3, 1, 2)]).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]); // one block of 3 fits: both slots share it
    expect(() => slotGpus(d.gpus, 5, 0, 1)).toThrow(/asks for 5 GPU\(s\) per experiment; this machine has 4/);
    expect(gpuBinds(d, [d.gpus[2]!]).env).toEqual({ CUDA_VISIBLE_DEVICES: '2', NVIDIA_VISIBLE_DEVICES: '2' });
    expect(nvidiaDevices(join(dev, 'missing'))).toEqual({ gpus: [], control: [] });
  });

  it('refuses a device bind outside /dev/nvidia… and a source that is no device node', async () => {
    const fx = await makeFixture();
    try {
      const dev = standInDev();
      expect(() =>
        bwrapArgs({ ...fx.spec(['true']), devices: [{ host: join(dev, 'sda'), target: '/dev/sda' }] }),
      ).toThrow(/device bind target must be \/dev\/nvidia/);
      expect(() =>
        bwrapArgs({
          ...fx.spec(['true']),
          devices: [{ host: join(dev, 'nvidia9'), target: '/dev/nvidia9' }],
        }),
      ).toThrow(/not a device node/);
      const a = bwrapArgs({
        ...fx.spec(['true']),
        devices: [{ host: join(dev, 'nvidia1'), target: '/dev/nvidia1' }],
      });
      // bound after the minimal /dev is made, before it turns read-only
      const bind = a.indexOf('--dev-bind');
      expect(a.slice(bind, bind + 3)).toEqual(['--dev-bind', join(dev, 'nvidia1'), '/dev/nvidia1']);
      expect(a.indexOf('--dev')).toBeLessThan(bind);
      expect(a.lastIndexOf('/dev')).toBeGreaterThan(bind);
    } finally {
      fx.cleanup();
    }
  });

  it("a sandboxed experiment sees its slot's GPU nodes and nothing else of /dev", async () => {
    const show =
      'import os, json\nprint("DEV=" + json.dumps(sorted(os.listdir("/dev"))))\nprint("CUDA=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))';
    const dir = await makeProject({
      rows: 400,
      trainPy: predictingScript('df["row_id"].astype(int) % 7 / 7', show),
    });
    const ready = await preflight(dir, { unsafe: false });
    const dev = standInDev();
    const runDir = join(dir, '.ratchet', 'gpu-test');
    mkdirSync(join(runDir, 'output'), { recursive: true });
    /** One job through a local executor on the stand-in devices; its stdout. */
    const runOn = async (c: typeof ready.contract, concurrent: number, slot: number) => {
      const r = await new LocalExecutor(ready.python, false, concurrent, { devDir: dev }).run({
        contract: c,
        worktree: dir,
        runDir,
        outputDir: join(runDir, 'output'),
        seed: 1,
        experimentId: 0,
        timeoutMs: 60_000,
        slot,
      });
      return { r, out: readFileSync(join(runDir, 'stdout.log'), 'utf8') };
    };
    const { r, out } = await runOn({ ...ready.contract, resources: { gpus: 1 } }, 2, 1);
    expect(r.status, r.message).toBe('ok');
    const seen = JSON.parse(/DEV=(.*)/.exec(out)![1]!) as string[];
    expect(seen).toContain('nvidia1');
    expect(seen).toContain('nvidiactl');
    expect(seen).toContain('nvidia-uvm');
    for (const other of ['nvidia0', 'nvidia2', 'nvidia3', 'sda', 'nvidiafoo'])
      expect(seen).not.toContain(other);
    expect(out).toContain('CUDA=1');
    // Without resources.gpus nothing of it is bound.
    const { r: r0, out: out0 } = await runOn(ready.contract, 2, 1);
    expect(r0.status, r0.message).toBe('ok');
    expect(JSON.parse(/DEV=(.*)/.exec(out0)![1]!).some((n: string) => n.startsWith('nvidia'))).toBe(false);
    expect(out0).toContain('CUDA=unset');
    // More GPUs than the machine has: the executor says so and names the field.
    const { r: r9 } = await runOn({ ...ready.contract, resources: { gpus: 9 } }, 1, 0);
    expect(r9.status).toBe('sandbox_error');
    expect(r9.message).toMatch(/resources\.gpus/);
  }, 120_000);

  it('a contract that asks for GPUs this machine lacks is refused before anything runs, naming the field', async () => {
    const dir = await makeProject({ rows: 400, contract: (y) => `${y}resources:\n  gpus: 1\n` });
    const r = cli(['run', '--experiments', '1'], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/asks for 1 GPU\(s\) per experiment; this machine has 0/);
    expect(r.stderr).toMatch(/resources\.gpus/);
  }, 120_000);
});

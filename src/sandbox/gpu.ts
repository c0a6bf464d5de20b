import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * GPUs in the sandbox (docs/ARCHITECTURE.md, "Sandbox"): the contract's `resources.gpus` makes the sandbox bind the
 * host's NVIDIA device nodes, and nothing else of the host's `/dev`. The driver's user-space libraries live under
 * `/usr`, which every sandbox already sees read-only. Concurrent experiments (parallel directions) get disjoint
 * GPUs when there are enough, else GPUs are shared round-robin.
 */

/** Control nodes every CUDA process needs besides its GPUs' nodes (bound when present). */
export const NVIDIA_CONTROL_NODES = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset'];

/** The NVIDIA devices of a machine: GPU nodes by index and the control nodes, as host paths. */
export interface NvidiaDevices {
  /** `/dev/nvidia<k>` for each GPU, by ascending index k. */
  gpus: { index: number; path: string }[];
  /** The control nodes present (see {@link NVIDIA_CONTROL_NODES}). */
  control: string[];
}

/**
 * The NVIDIA device nodes under `devDir` (default `/dev`): character devices, or regular files standing in for them
 * in tests (a machine without GPUs cannot have the real nodes).
 * @returns the GPUs by index and the control nodes; empty lists on a machine without NVIDIA devices
 */
export function nvidiaDevices(devDir = '/dev'): NvidiaDevices {
  let names: string[] = [];
  try {
    names = readdirSync(devDir);
  } catch {
    return { gpus: [], control: [] };
  }
  const usable = (p: string) => {
    try {
      const st = statSync(p);
      return st.isCharacterDevice() || st.isFile();
    } catch {
      return false;
    }
  };
  const gpus = names
    .map((n) => /^nvidia(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ index: Number(m[1]), path: join(devDir, m[0]) }))
    .filter((g) => usable(g.path))
    .sort((a, b) => a.index - b.index);
  const control = NVIDIA_CONTROL_NODES.map((n) => join(devDir, n)).filter((p) => existsSync(p) && usable(p));
  return { gpus, control };
}

/**
 * The GPUs of one execution slot: `gpus` GPUs per experiment, slot `slot` of `slots` running at once. Disjoint
 * blocks when the machine has `gpus · slots` of them; otherwise slots share them round-robin.
 * @param available the machine's GPUs (from {@link nvidiaDevices})
 * @returns the slot's GPUs (their host indices go to CUDA_VISIBLE_DEVICES)
 * @throws RangeError when the machine has fewer GPUs than one experiment asks for
 */
export function slotGpus(
  available: NvidiaDevices['gpus'],
  gpus: number,
  slot: number,
  slots: number,
): NvidiaDevices['gpus'] {
  if (gpus <= 0) return [];
  if (available.length < gpus)
    throw new RangeError(
      `the contract asks for ${gpus} GPU(s) per experiment; this machine has ${available.length}`,
    );
  const blocks = Math.max(1, Math.floor(available.length / gpus));
  const start = ((slot % Math.min(blocks, Math.max(1, slots))) * gpus) % available.length;
  return Array.from({ length: gpus }, (_, i) => available[(start + i) % available.length]!);
}

/**
 * The sandbox's device binds and environment for a slot's GPUs: each GPU node and every control node at its own
 * name under `/dev`, and `CUDA_VISIBLE_DEVICES` / `NVIDIA_VISIBLE_DEVICES` naming the host indices.
 */
export function gpuBinds(
  devices: NvidiaDevices,
  mine: NvidiaDevices['gpus'],
): { devices: { host: string; target: string }[]; env: Record<string, string> } {
  if (mine.length === 0) return { devices: [], env: {} };
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const ids = mine.map((g) => String(g.index)).join(',');
  return {
    devices: [...mine.map((g) => g.path), ...devices.control].map((p) => ({
      host: p,
      target: `/dev/${base(p)}`,
    })),
    env: { CUDA_VISIBLE_DEVICES: ids, NVIDIA_VISIBLE_DEVICES: ids },
  };
}

/**
 * Which mechanism holds the sandboxed process tree to its memory and task caps on this machine: the kernel
 * (a delegated cgroup v2 with the `memory` and `pids` controllers: `memory.max`, `pids.max`) or, everywhere else
 * (cgroup v1 or hybrid layouts, containers without delegation), the host watchdog of `watchdog.ts`.
 */

import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The mechanism in force and why. */
export interface TreeLimitMechanism {
  /** `cgroup-v2`: memory.max/pids.max on a per-run child cgroup; `watchdog`: the host watchdog. */
  mechanism: 'cgroup-v2' | 'watchdog';
  /** The cgroup folder runs are created under (cgroup-v2 only). */
  cgroupDir: string | null;
  /** One line for `ratchet check`, e.g. `watchdog (cgroup v2 has no memory/pids controllers here)`. */
  detail: string;
}

/** The mount point and root of the cgroup2 file system in this mount namespace, or null. */
function cgroup2Mount(): { mountPoint: string; root: string } | null {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right?.startsWith('cgroup2 ')) continue;
    const f = left.split(' ');
    return { root: unescapeMount(f[3] ?? '/'), mountPoint: unescapeMount(f[4] ?? '') };
  }
  return null;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

function words(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

let cached: TreeLimitMechanism | undefined;

/**
 * Detect (once per process) whether this process's cgroup v2 is delegated to it with the memory and pids
 * controllers available to child cgroups. Never throws.
 * @param fresh ignore the cached answer
 */
export function treeLimitMechanism(fresh = false): TreeLimitMechanism {
  if (cached && !fresh) return cached;
  cached = detect();
  return cached;
}

function detect(): TreeLimitMechanism {
  const watchdog = (why: string): TreeLimitMechanism => ({
    mechanism: 'watchdog',
    cgroupDir: null,
    detail: `watchdog: the host sums the tree's memory and counts its tasks every 200 ms (${why})`,
  });
  let own: string | undefined;
  try {
    own = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3);
  } catch {
    return watchdog('no /proc/self/cgroup');
  }
  if (own === undefined) return watchdog('no cgroup v2 hierarchy');
  const mount = cgroup2Mount();
  if (!mount) return watchdog('cgroup2 is not mounted');
  if (!own.startsWith(mount.root))
    return watchdog('this process’s cgroup is outside the visible cgroup2 mount');
  const dir = join(mount.mountPoint, own.slice(mount.root.length));
  const available = words(join(dir, 'cgroup.controllers'));
  if (!available.includes('memory') || !available.includes('pids')) {
    return watchdog(
      available.length === 0
        ? 'cgroup v2 has no controllers here: a cgroup v1 or hybrid layout'
        : `cgroup v2 lacks the ${['memory', 'pids'].filter((c) => !available.includes(c)).join(' and ')} controller`,
    );
  }
  try {
    accessSync(dir, constants.W_OK);
    accessSync(join(dir, 'cgroup.subtree_control'), constants.W_OK);
  } catch {
    return watchdog(`the cgroup ${dir} is not delegated to this user`);
  }
  const enabled = words(join(dir, 'cgroup.subtree_control'));
  if (!enabled.includes('memory') || !enabled.includes('pids')) {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), '+memory +pids');
    } catch (e) {
      return watchdog(
        `cannot enable memory and pids for child cgroups of ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
  return {
    mechanism: 'cgroup-v2',
    cgroupDir: dir,
    detail: `cgroup v2 (memory.max and pids.max on a child cgroup of ${dir}), with the host watchdog as well`,
  };
}

/** A per-run child cgroup (cgroup v2 only). */
export interface RunCgroup {
  /** Folder of the child cgroup. */
  dir: string;
  /**
   * The program and arguments that join the cgroup and then exec `file args...`: a shell that writes its own pid
   * into `cgroup.procs` first, so every process of the run is born inside it (a failed join leaves the watchdog).
   */
  wrap(file: string, args: string[]): { file: string; args: string[] };
  /** True when the kernel killed in it for memory (`oom_kill` in memory.events). */
  oomKilled(): boolean;
  /** Times a fork was refused at pids.max (`max` in pids.events). */
  pidsRefused(): number;
  /** Remove the cgroup (after its processes are gone; retried briefly, never throws). */
  remove(): Promise<void>;
}

function eventCount(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Create a child cgroup for one run under a delegated cgroup v2, with `memory.max` = memoryBytes, no swap,
 * `memory.oom.group` = 1 (an out-of-memory kill takes the whole tree) and `pids.max` = maxTasks.
 * @returns the cgroup, or null when the machine has no delegated cgroup v2 or creating it failed
 */
export function createRunCgroup(name: string, memoryBytes: number, maxTasks: number): RunCgroup | null {
  const m = treeLimitMechanism();
  if (m.mechanism !== 'cgroup-v2' || !m.cgroupDir) return null;
  const dir = join(m.cgroupDir, name);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.max'), String(memoryBytes));
    writeFileSync(join(dir, 'pids.max'), String(maxTasks));
    for (const [f, v] of [
      ['memory.swap.max', '0'],
      ['memory.oom.group', '1'],
    ] as const) {
      try {
        writeFileSync(join(dir, f), v);
      } catch {
        // older kernels or no swap accounting: memory.max still holds
      }
    }
  } catch {
    try {
      rmdirSync(dir);
    } catch {
      // nothing was created
    }
    return null;
  }
  const sh = existsSync('/bin/sh') ? '/bin/sh' : '/usr/bin/sh';
  return {
    dir,
    wrap: (file, args) => ({
      file: sh,
      args: ['-c', 'echo $$ > "$0" 2>/dev/null; exec "$@"', join(dir, 'cgroup.procs'), file, ...args],
    }),
    oomKilled: () => eventCount(join(dir, 'memory.events'), 'oom_kill') > 0,
    pidsRefused: () => eventCount(join(dir, 'pids.events'), 'max'),
    remove: async () => {
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
  };
}

/**
 * The host-side watchdog that holds a sandboxed process TREE to one memory cap and one task (process + thread)
 * cap, where the kernel cannot do it for us (no delegated cgroup v2): RLIMIT_AS is per process, so three children
 * each under it could together use three times the contract's memory.
 *
 * Every tick (default 200 ms, 20 ms while the task count jumps or grows past half its cap; on an unref'd timer) it walks the tree below the spawned bubblewrap process through
 * `/proc/<pid>/task/<tid>/children` (a full `/proc` scan by parent pid where the kernel lacks that file), reads
 * each process's `/proc/<pid>/stat` (resident pages and thread count), and sums them. Resident set sizes count
 * shared pages once per process, so when the RSS sum passes the cap it is re-measured with PSS
 * (`/proc/<pid>/smaps_rollup`, shared pages split between their users) before killing: PSS ≤ RSS, so the cheap
 * sum is an upper bound and the dear one runs only above the cap; there it is refreshed every 10 ticks, and in
 * between bounded from above by the last PSS sum plus every process's RSS growth since. A kill is always decided
 * on a measured PSS sum. Inside a PID namespace orphans are re-parented
 * to the namespace's init, which is in the tree, so a `setsid` daemon cannot leave it.
 */

import { readdirSync, readFileSync } from 'node:fs';

/** Default interval between two measurements, ms. */
export const WATCHDOG_INTERVAL_MS = 200;
/** Interval while a fork burst is under way, ms. */
const BURST_INTERVAL_MS = 20;
/** Task growth between two ticks that counts as a burst. */
const BURST_TASKS = 16;
/** Bytes per page (every Linux architecture Ratchet supports uses 4 KiB base pages for `stat`'s rss). */
const PAGE_BYTES = 4096;

/** Which limit the watchdog enforced. */
export type TreeLimitKind = 'memory' | 'processes';

/** What the watchdog measured over a run. */
export interface WatchdogStats {
  /** Largest tree memory seen, bytes (the RSS sum under the cap; above it PSS or a cheap upper bound of it). */
  peakBytes: number;
  /** Largest number of tasks (threads of every process) seen in the tree. */
  peakTasks: number;
  /** Number of measurements taken. */
  ticks: number;
  /** Host CPU time the measurements used, ms (user + system of this process during the ticks). */
  cpuMs: number;
  /** Largest CPU time of one tick, ms. */
  maxTickCpuMs: number;
}

/** Options of `watchTree`. */
export interface WatchdogOptions {
  /** Cap on the tree's memory, bytes. */
  memoryBytes: number;
  /** Cap on the tree's tasks (processes and threads). */
  maxTasks: number;
  /** Interval between measurements, ms (default 200; 20 ms while a fork burst is under way). */
  intervalMs?: number;
  /**
   * Called once, at the first tick over a cap, after every process seen in the tree got SIGKILL. `message` reads
   * e.g. `memory: the process tree used 3.2 GiB > cap 3 GiB; killed`.
   */
  onLimit: (kind: TreeLimitKind, message: string) => void;
}

/** A running watchdog. */
export interface TreeWatchdog {
  /** Stop measuring (idempotent); the timer is cleared. */
  stop(): void;
  /** Measure once now (also what each tick does); returns false once a limit was hit or it was stopped. */
  tick(): boolean;
  /** Figures so far. */
  stats(): WatchdogStats;
}

let childrenFileCache: boolean | undefined;
/** Whether this kernel has `/proc/<pid>/task/<tid>/children` (CONFIG_PROC_CHILDREN). */
function hasChildrenFile(): boolean {
  if (childrenFileCache === undefined) {
    try {
      readFileSync(`/proc/${process.pid}/task/${process.pid}/children`);
      childrenFileCache = true;
    } catch {
      childrenFileCache = false;
    }
  }
  return childrenFileCache;
}

/** Fields of `/proc/<pid>/stat` the watchdog needs, or null when the process is gone. */
function readStat(pid: number): { ppid: number; threads: number; rssPages: number } | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  return { ppid: Number(f[1]), threads: Number(f[17]), rssPages: Number(f[21]) };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1');
    } catch {
      continue;
    }
    for (const c of text.split(' ')) if (c) out.push(Number(c));
  }
  return out;
}

/** Every pid in the tree rooted at `root` (root included), breadth first. */
export function treePids(root: number): number[] {
  if (!hasChildrenFile()) return treeByScan(root);
  const seen = new Set<number>([root]);
  const queue = [root];
  while (queue.length > 0) {
    for (const c of childrenOf(queue.shift()!)) {
      if (!seen.has(c)) {
        seen.add(c);
        queue.push(c);
      }
    }
  }
  return [...seen];
}

function treeByScan(root: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = kids.get(st.ppid);
    if (list) list.push(Number(name));
    else kids.set(st.ppid, [Number(name)]);
  }
  const seen = new Set<number>([root]);
  const queue = [root];
  while (queue.length > 0) {
    for (const c of kids.get(queue.shift()!) ?? []) {
      if (!seen.has(c)) {
        seen.add(c);
        queue.push(c);
      }
    }
  }
  return [...seen];
}

/** Proportional set size of a process, bytes (0 when gone or unreadable). */
function pssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** One measurement of a tree: its pids, memory (bytes) and task count. */
export interface TreeSample {
  pids: number[];
  /** RSS of each pid, bytes. */
  rss: Map<number, number>;
  /** RSS sum, bytes (an upper bound of the PSS sum). */
  rssBytes: number;
  /** PSS sum, bytes, or null when not measured (`withPss` false). */
  pssBytes: number | null;
  tasks: number;
}

/** Measure the tree below `root` once. `withPss`: also sum PSS (dearer: the kernel walks the page tables). */
export function sampleTree(root: number, withPss = false): TreeSample {
  const pids: number[] = [];
  const rss = new Map<number, number>();
  let rssBytes = 0;
  let tasks = 0;
  for (const pid of treePids(root)) {
    const st = readStat(pid);
    if (!st) continue;
    pids.push(pid);
    rss.set(pid, st.rssPages * PAGE_BYTES);
    rssBytes += st.rssPages * PAGE_BYTES;
    tasks += st.threads;
  }
  const pss = withPss ? pssSum(pids) : null;
  return { pids, rss, rssBytes, pssBytes: pss, tasks };
}

function pssSum(pids: number[]): number {
  return pids.reduce((s, p) => s + pssBytes(p), 0);
}

/** Ticks after which a PSS figure is measured again even when its upper bound stays under the cap. */
const PSS_REFRESH_TICKS = 10;

/**
 * Watch the process tree rooted at host pid `root` until `stop()`: each tick measures it and, over a cap,
 * SIGKILLs every process of it and calls `opts.onLimit` once. The timer is unref'd: it never keeps Node alive.
 * @throws Error when a cap is not a positive number
 */
export function watchTree(root: number, opts: WatchdogOptions): TreeWatchdog {
  if (!(opts.memoryBytes > 0) || !(opts.maxTasks > 0)) {
    throw new Error('watchTree: memoryBytes and maxTasks must be positive numbers');
  }
  const stats: WatchdogStats = { peakBytes: 0, peakTasks: 0, ticks: 0, cpuMs: 0, maxTickCpuMs: 0 };
  let active = true;
  let timer: NodeJS.Timeout | undefined;
  const interval = opts.intervalMs ?? WATCHDOG_INTERVAL_MS;
  let lastTasks = 0;
  let lastSampleTasks = 0;
  const trip = (kind: TreeLimitKind, message: string, pids: number[]): void => {
    active = false;
    clearTimeout(timer);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    opts.onLimit(kind, message);
  };
  // The last PSS measurement: its sum and each pid's RSS then. Until it is refreshed, the tree's PSS is bounded
  // by that sum plus every process's RSS growth since (new pages show up as someone's RSS growth; a page whose
  // sharer exits keeps the same total), which costs nothing to compute.
  let lastPss: { total: number; rss: Map<number, number>; tick: number } | null = null;
  const tick = (): boolean => {
    if (!active) return false;
    const c0 = process.cpuUsage();
    const s = sampleTree(root);
    let bytes = s.rssBytes;
    if (bytes <= opts.memoryBytes) lastPss = null;
    else {
      let bound = Number.POSITIVE_INFINITY;
      if (lastPss && stats.ticks - lastPss.tick < PSS_REFRESH_TICKS) {
        bound = lastPss.total;
        for (const [pid, r] of s.rss) bound += Math.max(0, r - (lastPss.rss.get(pid) ?? 0));
      }
      if (bound <= opts.memoryBytes) bytes = bound;
      else {
        bytes = pssSum(s.pids);
        lastPss = { total: bytes, rss: s.rss, tick: stats.ticks };
      }
    }
    const c = process.cpuUsage(c0);
    const ms = (c.user + c.system) / 1000;
    stats.ticks++;
    stats.cpuMs += ms;
    stats.maxTickCpuMs = Math.max(stats.maxTickCpuMs, ms);
    stats.peakBytes = Math.max(stats.peakBytes, bytes);
    stats.peakTasks = Math.max(stats.peakTasks, s.tasks);
    lastSampleTasks = s.tasks;
    if (bytes > opts.memoryBytes) {
      trip(
        'memory',
        `memory: the process tree used ${fmtBytes(bytes)} > cap ${fmtBytes(opts.memoryBytes)}; killed`,
        s.pids,
      );
      return false;
    }
    if (s.tasks > opts.maxTasks) {
      trip(
        'processes',
        `processes: the process tree ran ${s.tasks} processes/threads > cap ${opts.maxTasks}; killed`,
        s.pids,
      );
      return false;
    }
    return true;
  };
  // A fork burst is watched closely: while the tree grew by more than 16 tasks since the last tick, or grows past half its task cap,
  // the next one comes after 20 ms instead of the interval (the first one after 20 ms too).
  const schedule = (ms: number): void => {
    timer = setTimeout(() => {
      if (!tick()) return;
      const now = lastSampleTasks;
      const hot = now - lastTasks > BURST_TASKS || (now > opts.maxTasks / 2 && now > lastTasks);
      lastTasks = now;
      schedule(hot ? BURST_INTERVAL_MS : interval);
    }, ms);
    timer.unref();
  };
  schedule(Math.min(BURST_INTERVAL_MS, interval));
  return {
    stop: () => {
      active = false;
      clearTimeout(timer);
    },
    tick,
    stats: () => ({ ...stats }),
  };
}

/** Bytes for a message: `3 GiB`, `3.2 GiB`, `512.0 MiB`. */
export function fmtBytes(n: number): string {
  const GiB = 1024 ** 3;
  if (n >= GiB) return n % GiB === 0 ? `${n / GiB} GiB` : `${(n / GiB).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

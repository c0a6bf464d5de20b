/**
 * CPU accounting from /proc for the benchmarks (Linux): a process's CPU with its reaped children's, the children of
 * this process by command line, and the whole machine's busy time.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
export const HZ = 100;

/** CPU time of a process and its reaped children from /proc/<pid>/stat (utime+stime+cutime+cstime), ms; 0 when gone. */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / HZ;
  } catch {
    return 0;
  }
}

/** Pids of this process's children whose command line contains `marker`. */
export function childPids(marker: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker))
        out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/** The machine's busy and total CPU time from /proc/stat (all cores), ms. */
export function machineCpuMs(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: ((total - idle) * 1000) / HZ, total: (total * 1000) / HZ };
}

/**
 * Benchmark of the process-tree watchdog: host CPU per measurement while a sandboxed tree of ~20 Python processes
 * runs (target ≤ 5 ms per tick, one tick every 200 ms), plus a memory-hungry tree to show the PSS path near the
 * cap. Figures are printed, not asserted.
 *
 * Run: `npm run bench`, or `node dist/bench/watchdog.js` after `npm run build`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolvePython, runSandboxed, type SandboxResult } from '../src/sandbox/index.js';
import { packageDir } from '../src/util/paths.js';

/**
 * A tree of `n` sleeping children for `seconds`, each holding `mib` MiB of its own memory and sharing `shared` MiB
 * the parent allocated before forking (counted n + 1 times by an RSS sum, once by PSS).
 */
const TREE_PY = (n: number, mib: number, shared: number, seconds: number) => `import os, time
common = bytearray(b'y') * (${shared} << 20)
for k in range(${n}):
    if os.fork() == 0:
        blob = bytearray(b'x') * (${mib} << 20)
        time.sleep(${seconds})
        os._exit(0)
time.sleep(${seconds})
`;

async function runTree(n: number, mib: number, shared: number, memoryBytes: number): Promise<SandboxResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-wd-'));
  try {
    const out = join(dir, 'out');
    mkdirSync(out);
    const python = await resolvePython({ projectDir: packageDir(), installDir: packageDir() });
    return await runSandboxed({
      argv: ['python', '-c', TREE_PY(n, mib, shared, 4)],
      workdir: dir,
      readOnly: [],
      outputDir: out,
      env: {},
      python,
      timeoutMs: 60_000,
      memoryBytes,
      network: false,
      stdoutPath: join(dir, 'stdout'),
      stderrPath: join(dir, 'stderr'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Print the watchdog's per-tick cost for a 20-process tree, and for one measured with PSS near its cap. */
export async function benchWatchdog(): Promise<void> {
  console.log('\n## Process-tree watchdog: host CPU per tick (target ≤ 5 ms; one tick per 200 ms)');
  for (const [label, n, mib, shared, cap] of [
    ['20 processes, RSS sum only', 20, 1, 0, 8 * 1024 ** 3],
    [
      '20 processes sharing 64 MiB, RSS sum over a 1 GiB cap (PSS measured every 10th tick, bounded in between)',
      20,
      1,
      64,
      1024 ** 3,
    ],
  ] as const) {
    const r = await runTree(n, mib, shared, cap);
    const t = r.tree;
    if (!t) {
      console.log(`${label}: no figures (${r.status}: ${r.message})`);
      continue;
    }
    console.log(
      `${label}: ${t.ticks} ticks, mean ${(t.cpuMs / t.ticks).toFixed(2)} ms, max ${t.maxTickCpuMs.toFixed(2)} ms per tick; ` +
        `peak ${t.peakTasks} tasks, ${(t.peakBytes / 1024 ** 2).toFixed(0)} MiB (${r.status})`,
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchWatchdog();

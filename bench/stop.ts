/**
 * Benchmark of the kill switch: the time from `ratchet stop` (stop file + SIGTERM) to the exit of the run's
 * process, while an experiment hangs in the sandbox with a detached grandchild. Target ≤ 1 s; printed, not
 * asserted. Each repetition also checks that no sandboxed process survives.
 *
 * Run: `npm run bench`, or `node dist/bench/stop.js` after `npm run build`.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initProject } from '../src/contract/init.js';
import { requestStop } from '../src/loop/control.js';
import { packageDir } from '../src/util/paths.js';

function alive(marker: string): boolean {
  return readdirSync('/proc').some((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
}

/** Measure stop latency `reps` times and print each figure and the median. */
export async function benchStop(reps = 3): Promise<void> {
  console.log('\n## Kill switch: ratchet stop → run process exited (target ≤ 1 s)');
  const example = join(packageDir(), 'examples', 'gsoep-outwork');
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-stop-'));
    for (const f of ['ratchet.yaml', 'params.yaml', 'search_space.yaml', 'program.md'])
      copyFileSync(join(example, f), join(dir, f));
    const lines = readFileSync(join(example, 'data.csv'), 'utf8').split('\n').slice(0, 1501);
    writeFileSync(join(dir, 'data.csv'), `${lines.join('\n')}\n`);
    const marker = `ratchet-bench-stop-${process.pid}-${r}`;
    const real = readFileSync(join(example, 'train.py'), 'utf8').replace(
      'from __future__ import annotations\n',
      '',
    );
    writeFileSync(
      join(dir, 'train.py'),
      `from __future__ import annotations\nimport os, subprocess, sys, time\nif os.environ.get("RATCHET_EXPERIMENT") != "1":\n    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "${marker}"], start_new_session=True)\n    time.sleep(600)\n${real}`,
    );
    await initProject(dir);
    const child = spawn(
      process.execPath,
      [join(packageDir(), 'dist/src/cli/main.js'), 'run', '--experiments', '5'],
      { cwd: dir, stdio: 'ignore' },
    );
    const t = Date.now();
    while (!alive(marker) && Date.now() - t < 120_000) await new Promise((res) => setTimeout(res, 50));
    const t0 = performance.now();
    requestStop(dir);
    await new Promise((res) => child.on('close', res));
    const ms = performance.now() - t0;
    times.push(ms);
    console.log(
      `  stop ${r + 1}: ${ms.toFixed(0)} ms; sandboxed processes left: ${alive(marker) ? 'YES' : 'none'}`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms over ${reps} stops`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await benchStop();

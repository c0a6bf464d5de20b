/**
 * Benchmark of parallel directions on this machine: experiments per hour of `ratchet run --directions 2` against one
 * direction, measured side by side in one benchmark run, with training single-threaded (the example's train.py is
 * patched to `N_JOBS = 1` whatever RATCHET_THREADS says), so two directions can use two cores. Each run is the real
 * loop (`runLoop` with the built-in `search` proposer, the sandbox, the evaluator, the keep rule) on a fresh copy of
 * a project built from examples/gsoep-outwork, with the same experiment budget, in the order 1, 2, 2, 1 directions
 * (one round, 1 then 2, with --quick), so a drift in the machine's other load weighs on both alike. Then the kill switch with both
 * directions hanging in the sandbox: the time from `ratchet stop` (stop file + SIGTERM) to the exit of a
 * `ratchet run --directions 2` process (as bench/stop.ts does for one direction), and whether any sandboxed
 * process survived. Figures are printed with their targets beside them (ratio ≥ 1.8×, stop ≤ 1 s), never asserted.
 *
 * Run: `npm run bench -- directions [--quick]`, or `node dist/bench/directions.js [--quick]` after `npm run build`.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { proposerFactory } from '../src/cli/proposers.js';
import { initProject } from '../src/contract/init.js';
import { Journal } from '../src/journal/store.js';
import { requestStop } from '../src/loop/control.js';
import { runLoop } from '../src/loop/run.js';
import { packageDir } from '../src/util/paths.js';
import { machineCpuMs } from './cpu.js';

/** Targets printed beside the figures. */
const TARGET_RATIO = 1.8;
const TARGET_STOP_MS = 1000;

/** The scaffold's thread setting, and what replaces it: training single-threaded whatever RATCHET_THREADS says. */
const THREADS_LINE = 'N_JOBS = max(1, int(os.environ.get("RATCHET_THREADS", "2")))';
const SINGLE_THREAD = 'N_JOBS = 1';

/** Options of {@link benchDirections}. */
export interface DirectionsOptions {
  /** Experiments in each run, baseline included (default 16). */
  experiments?: number;
  /** Data rows taken from the example (default 6000). */
  rows?: number;
  /** Kill-switch repetitions (default 3). */
  stops?: number;
  /**
   * Runs in the order 1, 2 directions, then 2, 1 for the second round (ABBA, so a drift in the machine's other load
   * weighs on both alike); default 2 rounds (four runs).
   */
  rounds?: number;
}

/** The quick version: 8 experiments per run, one round (1 then 2 directions), one stop. */
export const QUICK_DIRECTIONS: DirectionsOptions = { experiments: 8, stops: 1, rounds: 1 };

/**
 * A project from examples/gsoep-outwork with the first `rows` data rows and single-threaded training, initialised.
 * @param trainPrefix Python inserted at the top of train.py (after `from __future__`), e.g. to make it hang
 * @throws Error when the example's train.py no longer has the thread line this benchmark replaces
 */
async function buildProject(rows: number, trainPrefix = ''): Promise<string> {
  const example = join(packageDir(), 'examples', 'gsoep-outwork');
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-directions-'));
  for (const f of ['ratchet.yaml', 'params.yaml', 'search_space.yaml', 'program.md'])
    copyFileSync(join(example, f), join(dir, f));
  const lines = readFileSync(join(example, 'data.csv'), 'utf8').trimEnd().split('\n');
  writeFileSync(join(dir, 'data.csv'), `${lines.slice(0, rows + 1).join('\n')}\n`);
  const train = readFileSync(join(example, 'train.py'), 'utf8');
  if (!train.includes(THREADS_LINE))
    throw new Error(`examples/gsoep-outwork/train.py has no line ${THREADS_LINE}`);
  const future = 'from __future__ import annotations\n';
  const patched = train.replace(THREADS_LINE, SINGLE_THREAD).replace(future, `${future}${trainPrefix}`);
  writeFileSync(join(dir, 'train.py'), patched);
  await initProject(dir);
  return dir;
}

/** What one run measured. */
interface Throughput {
  directions: number;
  experiments: number;
  wallS: number;
  /** From the baseline's end to the run's end. */
  afterBaselineS: number;
  kept: number;
  /** Mean time of the sandboxed command, s. */
  meanExecuteS: number;
  /** RATCHET_THREADS the executor gave each experiment (train.py ignores it here). */
  threads: number;
  load: number;
  /** Share of the machine's cores busy during the run, all processes (0..1). */
  busy: number;
  /** 1-minute load average at the end. */
  loadEnd: number;
}

/** One run of the real loop with `directions` directions on a fresh project. */
async function measure(directions: number, experiments: number, rows: number): Promise<Throughput> {
  const dir = await buildProject(rows);
  try {
    const load = loadavg()[0]!;
    let baselineAt = 0;
    // The sandboxed commands run in their own PID namespace: their CPU never reaches this process's children's
    // times, so only the machine's whole busy share is measured (the machine may be shared with other work).
    const m0 = machineCpuMs();
    const t0 = performance.now();
    const summary = await runLoop({
      projectDir: dir,
      runId: `d${directions}`,
      directions,
      maxExperiments: experiments,
      proposer: proposerFactory('search'),
      onProgress: (p) => {
        if (p.type === 'experiment-end' && p.record.seq === 1) baselineAt = performance.now();
      },
    });
    const t1 = performance.now();
    const m1 = machineCpuMs();
    if (summary.status === 'failed')
      throw new Error(`the ${directions}-direction run failed: ${summary.reason}`);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(`d${directions}`);
    const started = j.listEvents({ kinds: ['run.started'] })[0]?.data as { threads?: number } | null;
    j.close();
    const exec = exps.map((e) => e.executeMs).filter((x): x is number => x !== null);
    return {
      directions,
      experiments: summary.experiments,
      wallS: (t1 - t0) / 1000,
      afterBaselineS: (t1 - baselineAt) / 1000,
      kept: summary.kept,
      meanExecuteS: exec.reduce((a, b) => a + b, 0) / Math.max(1, exec.length) / 1000,
      threads: started?.threads ?? 0,
      load,
      busy: (m1.busy - m0.busy) / (m1.total - m0.total),
      loadEnd: loadavg()[0]!,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Processes whose command line contains `marker`. */
function countAlive(marker: string): number {
  let n = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker)) n++;
    } catch {
      // gone
    }
  }
  return n;
}

/**
 * The kill switch with two directions hanging: a `ratchet run --directions 2` whose experiments after the baseline
 * each start a detached grandchild and sleep; once both directions' grandchildren run, `requestStop`.
 * @returns ms from the request to the run process's exit, and how many marked processes were left
 */
async function stopLatency(rows: number, rep: number): Promise<{ ms: number; left: number } | null> {
  const marker = `ratchet-bench-directions-stop-${process.pid}-${rep}`;
  const hang = [
    'import os, subprocess, sys, time',
    'if os.environ.get("RATCHET_EXPERIMENT") != "1":',
    `    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "${marker}"], start_new_session=True)`,
    '    time.sleep(600)',
    '',
  ].join('\n');
  const dir = await buildProject(rows, hang);
  try {
    const child = spawn(
      process.execPath,
      [join(packageDir(), 'dist/src/cli/main.js'), 'run', '--directions', '2', '--experiments', '10'],
      { cwd: dir, stdio: 'ignore' },
    );
    const closed = new Promise((res) => child.on('close', res));
    const t = Date.now();
    while (countAlive(marker) < 2 && Date.now() - t < 180_000) await new Promise((r) => setTimeout(r, 50));
    if (countAlive(marker) < 2) {
      child.kill('SIGKILL');
      await closed;
      return null;
    }
    const t0 = performance.now();
    requestStop(dir);
    await closed;
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 200)); // a survivor would still be there
    return { ms, left: countAlive(marker) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run both measurements and print the figures (see the module comment). */
export async function benchDirections(o: DirectionsOptions = {}): Promise<void> {
  const experiments = o.experiments ?? 16;
  const rows = o.rows ?? 6000;
  const stops = o.stops ?? 3;
  console.log(
    `\n## Parallel directions on this machine (${availableParallelism()} cores, training single-threaded): ${experiments} experiments per run, search proposer, ${rows} rows`,
  );
  const rounds = o.rounds ?? 2;
  const runs: Throughput[] = [];
  for (let k = 0; k < rounds; k++) {
    for (const d of k % 2 === 0 ? [1, 2] : [2, 1]) {
      const r = await measure(d, experiments, rows);
      runs.push(r);
      const perHour = (r.experiments / r.wallS) * 3600;
      const afterHour = ((r.experiments - 1) / r.afterBaselineS) * 3600;
      console.log(
        `  ${d} direction${d > 1 ? 's' : ' '}: wall ${r.wallS.toFixed(1)} s for ${r.experiments} experiments → ${perHour.toFixed(0)} experiments/hour (after the baseline: ${r.experiments - 1} in ${r.afterBaselineS.toFixed(1)} s → ${afterHour.toFixed(0)}/hour); mean EXECUTE ${r.meanExecuteS.toFixed(2)} s; ${r.kept} kept; RATCHET_THREADS ${r.threads}; the machine's ${availableParallelism()} cores ${(100 * r.busy).toFixed(0)} % busy (all processes; load average ${r.load.toFixed(1)} at the start, ${r.loadEnd.toFixed(1)} at the end)`,
      );
    }
  }
  // Rates over all runs of each kind: experiments / seconds summed.
  const rate = (d: number, after: boolean) => {
    const rs = runs.filter((r) => r.directions === d);
    const n = rs.reduce((a, r) => a + r.experiments - (after ? 1 : 0), 0);
    return n / rs.reduce((a, r) => a + (after ? r.afterBaselineS : r.wallS), 0);
  };
  console.log(
    `  experiments per hour over ${rounds} run(s) each: 1 direction ${(rate(1, false) * 3600).toFixed(0)}, 2 directions ${(rate(2, false) * 3600).toFixed(0)}`,
  );
  console.log(
    `  ratio 2 directions / 1: ${(rate(2, false) / rate(1, false)).toFixed(2)}× experiments per hour over the whole run, ${(rate(2, true) / rate(1, true)).toFixed(2)}× after the baseline (target ≥ ${TARGET_RATIO}×)`,
  );
  console.log(
    `\n## Kill switch with 2 directions hanging in the sandbox: ratchet stop → run process exited (target ≤ ${TARGET_STOP_MS / 1000} s)`,
  );
  const times: number[] = [];
  for (let r = 0; r < stops; r++) {
    const s = await stopLatency(rows, r);
    if (!s) {
      console.log(`  stop ${r + 1}: the two directions never both hung within 180 s (not measured)`);
      continue;
    }
    times.push(s.ms);
    console.log(
      `  stop ${r + 1}: ${s.ms.toFixed(0)} ms; sandboxed processes left: ${s.left ? s.left : 'none'}`,
    );
  }
  if (times.length) {
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `  median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms over ${times.length} stops`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  await benchDirections(process.argv.includes('--quick') ? QUICK_DIRECTIONS : {});

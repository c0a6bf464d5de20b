/**
 * Benchmark "beyond this machine, by simulation": the REAL scheduler (`runLoop` with 64 directions, the most a run
 * may have: `MAX_DIRECTIONS`; `--slots N` for fewer), the real journal, git worktrees, evaluator and keep rule, in
 * front of a {@link SimulatedExecutor} with one slot per direction whose
 * jobs wait a synthetic log-normal duration and write predictions instead of running Python (bench/simulated.ts).
 * One run of 5,000 experiments (500 with `--quick`, with shorter jobs) on a project built from
 * examples/gsoep-outwork gives:
 *   - slot utilization: busy slot-seconds / (slots × wall seconds), over the whole run and after the baseline
 *     (target ≥ 90 %), and experiments per hour;
 *   - where the orchestrator's time per experiment goes: the idle gap a slot sees between two of its jobs (early
 *     vs late in the run), the step timings recorded in the journal, the event loop's delay;
 *   - the trace tidy before each experiment (`TraceTidy.tidy`, timed by wrapping the method), early vs late;
 *   - journal write latency: the time of each `Journal.recordExperiment` call (timed by wrapping the method) and
 *     the RECORD step's own time (`meta.timings.record`), p50/p99, early vs late;
 *   - the soak: the orchestrator's RSS sampled every few seconds, at each 10 % of the experiments, first / last /
 *     max, and its growth from the 10 % mark to the end (target < 10 %);
 *   - the Studio's answer time (`GET /api/state` of a Studio in a process of its own, as `ratchet studio` runs
 *     beside a run — `ratchet run` never hosts one: bench/studio-child.ts, timed by a client in that process) at
 *     each 10 % mark and after the run (target < 200 ms);
 *   - the per-experiment costs that grow with the history, measured on the finished project (the journal's
 *     listings, the trace tidy as a full scan and incremental, the Studio's snapshot in a warm and in a fresh
 *     connection), and the session's DuckDB pool (one instance per core) opened like the session
 *     (time and RSS, opened and after one join each).
 * Figures are printed with their targets beside them, never asserted.
 *
 * Run: `npm run bench -- scale [--quick]`, or `node dist/bench/scale.js [--quick] [--slots N] [--keep]` after
 * `npm run build` (`--keep` leaves the project on disk and prints its path; `node --expose-gc` adds the JS heap
 * retained at each tenth, after a full collection).
 */
import { fork } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initProject } from '../src/contract/init.js';
import { loadContract } from '../src/contract/load.js';
import { type Duck, ident, lit, openDuck } from '../src/data/duck.js';
import { readManifest, SPILL_DIR, VAULT_DIR } from '../src/data/ingest.js';
import { evalMemoryMB } from '../src/evaluator/predictions.js';
import { Journal } from '../src/journal/store.js';
import { RUNS_DIR, runLoop } from '../src/loop/run.js';
import { evalDuckCount, MAX_DIRECTIONS } from '../src/loop/session.js';
import { TraceTidy, tidyTraces } from '../src/loop/tidy.js';
import { studioStateJson } from '../src/studio/state.js';
import { packageDir } from '../src/util/paths.js';
import { childPids, machineCpuMs, procCpuMs } from './cpu.js';
import { QualityProposer, readHoldouts, SimulatedExecutor } from './simulated.js';

/** Targets printed beside the figures. */
const TARGET_UTILIZATION = 0.9;
const TARGET_RSS_GROWTH = 0.1;
const TARGET_STUDIO_MS = 200;

/** Options of {@link benchScale}. */
export interface ScaleOptions {
  /** Execution slots and directions (default {@link MAX_DIRECTIONS}, 64: a run refuses more). */
  slots?: number;
  /** Experiments in the run, baseline included (default 5000). */
  experiments?: number;
  /** Median synthetic job duration, ms (default 2000); σ of its logarithm (default 0.35). */
  medianMs?: number;
  sigma?: number;
  /** Durations are clipped to [minMs, maxMs], ms (default 500..5000). */
  minMs?: number;
  maxMs?: number;
  /** Data rows taken from the example (default 6000: 1,200 per holdout). */
  rows?: number;
  /** RSS sampling period, ms (default 2000). */
  sampleMs?: number;
  /** Leave the temporary project on disk (its path is printed), e.g. to profile its journal (default false). */
  keep?: boolean;
}

/** The quick version: 500 experiments of ~1 s. */
export const QUICK_SCALE: ScaleOptions = {
  experiments: 500,
  medianMs: 1000,
  minMs: 300,
  maxMs: 3000,
  sampleMs: 1000,
};

const MB = 1024 * 1024;
const rssMB = () => process.memoryUsage().rss / MB;

/** The q-quantile (0..1) of a list (nearest rank), NaN when empty. */
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
/** "p50 / p99 (max) ms" of a list of ms. */
const spread = (xs: readonly number[]) =>
  `p50 ${f1(quantile(xs, 0.5))} / p99 ${f1(quantile(xs, 0.99))} / max ${f1(Math.max(...xs))} ms (n=${xs.length})`;
/** The first and last tenth of a list (in order). */
const tenths = <T>(xs: readonly T[]): [T[], T[]] => {
  const k = Math.max(1, Math.floor(xs.length / 10));
  return [xs.slice(0, k), xs.slice(-k)];
};

/** Median time of `f` over `reps` calls, ms. */
async function timeIt(reps: number, f: () => unknown): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  return quantile(ts, 0.5);
}

/**
 * Build the simulation's project from examples/gsoep-outwork (its contract, frozen files and the first `rows`
 * data rows), initialised (split, locked, committed). The simulated executor never runs its train.py.
 */
async function buildProject(rows: number): Promise<string> {
  const example = join(packageDir(), 'examples', 'gsoep-outwork');
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-scale-'));
  for (const f of ['ratchet.yaml', 'train.py', 'params.yaml', 'search_space.yaml', 'program.md'])
    copyFileSync(join(example, f), join(dir, f));
  const lines = readFileSync(join(example, 'data.csv'), 'utf8').trimEnd().split('\n');
  writeFileSync(join(dir, 'data.csv'), `${lines.slice(0, rows + 1).join('\n')}\n`);
  await initProject(dir);
  return dir;
}

/**
 * Run the simulation and print its figures (see the module comment).
 * @throws Error when the project cannot be built or the run fails (the temporary project is removed either way)
 */
export async function benchScale(o: ScaleOptions = {}): Promise<void> {
  const slots = o.slots ?? MAX_DIRECTIONS;
  const experiments = o.experiments ?? 5000;
  const medianMs = o.medianMs ?? 2000;
  const sigma = o.sigma ?? 0.35;
  const minMs = o.minMs ?? 500;
  const maxMs = o.maxMs ?? 5000;
  const sampleMs = o.sampleMs ?? 2000;
  console.log(
    `\n## Scale by simulation: ${slots} slots, ${experiments} experiments, jobs log-normal median ${(medianMs / 1000).toFixed(1)} s (σ ${sigma}, ${(minMs / 1000).toFixed(1)}–${(maxMs / 1000).toFixed(1)} s); real scheduler, journal, git, evaluator, keep rule`,
  );
  const dir = await buildProject(o.rows ?? 6000);
  try {
    await simulate(dir, { slots, experiments, medianMs, sigma, minMs, maxMs, sampleMs });
  } finally {
    if (o.keep) console.log(`project kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** The run and its figures, on the project `dir` (see {@link benchScale}). */
async function simulate(dir: string, o: Required<Omit<ScaleOptions, 'rows' | 'keep'>>): Promise<void> {
  const { slots, experiments, medianMs, sigma, minMs, maxMs, sampleMs } = o;
  const holdouts = await readHoldouts(dir);
  const exec = new SimulatedExecutor({ slots, medianMs, sigma, minMs, maxMs, holdouts, seed: 42 });

  // Journal instrumentation (bench only): every recordExperiment and listExperiments call is timed.
  const recordMs: number[] = [];
  const listAll: [number, number][] = []; // [ms, rows] of listExperiments() (whole records of every run)
  const listRun: [number, number][] = []; // [ms, rows] of listExperiments(run) (the Studio's)
  const listOut: [number, number][] = []; // [ms, rows] of listOutcomes() (the trace tidy's, before each experiment)
  const origRecord = Journal.prototype.recordExperiment;
  const origList = Journal.prototype.listExperiments;
  const origOutcomes = Journal.prototype.listOutcomes;
  // The trace tidy before each experiment (listOutcomes included), ms per call.
  const tidyMsAll: number[] = [];
  const origTidy = TraceTidy.prototype.tidy;
  TraceTidy.prototype.tidy = function (this: TraceTidy, ...a: Parameters<TraceTidy['tidy']>) {
    const t = performance.now();
    try {
      return origTidy.apply(this, a);
    } finally {
      tidyMsAll.push(performance.now() - t);
    }
  };
  Journal.prototype.recordExperiment = function (
    this: Journal,
    ...a: Parameters<Journal['recordExperiment']>
  ) {
    const t = performance.now();
    try {
      return origRecord.apply(this, a);
    } finally {
      recordMs.push(performance.now() - t);
    }
  };
  Journal.prototype.listExperiments = function (this: Journal, ...a: Parameters<Journal['listExperiments']>) {
    // Every argument passed on: the Studio's reads of the rows changed since a version (`changedAfter`) must stay
    // incremental when timed.
    const runId = a[0];
    const t = performance.now();
    const out = origList.apply(this, a);
    (runId === undefined ? listAll : listRun).push([performance.now() - t, out.length]);
    return out;
  };
  Journal.prototype.listOutcomes = function (this: Journal, opts?: { fromId?: number }) {
    const t = performance.now();
    const out = origOutcomes.call(this, opts);
    listOut.push([performance.now() - t, out.length]);
    return out;
  };

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  // The Studio in a process of its own, as `ratchet studio` runs beside a run (bench/studio-child.ts).
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'studio-child.js'), [dir], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the Studio's process exited (${code})`)));
  });
  // Its answers are timed by a client in that process (outside the orchestrator's event loop, as a browser is).
  const waiting = new Map<string, (r: { ms: number; cpuMs: number; bytes: number }) => void>();
  child.on('message', (m: { probe?: string; ms: number; cpuMs: number; bytes: number }) => {
    if (m.probe !== undefined) waiting.get(m.probe)?.(m);
  });
  const probeChild = (label: string) =>
    new Promise<{ ms: number; cpuMs: number; bytes: number }>((resolve) => {
      waiting.set(label, resolve);
      child.send({ probe: label });
    });
  const own: Promise<{ at: string; ms: number; cpuMs: number; bytes: number }>[] = [];
  const samples: { t: number; rss: number; done: number }[] = [];
  const marks: {
    done: number;
    t: number;
    rss: number;
    heap: number;
    heapTotal: number;
    external: number;
    retained: number;
    busyMs: number;
  }[] = [];
  let done = 0;
  const baselineEnd = { t: 0, busyMs: 0 };
  let runStart = 0;
  const load = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const machine0 = machineCpuMs();
  const own0 = procCpuMs(process.pid) + childPids('').reduce((a, p) => a + procCpuMs(p), 0);
  const git0 = childPids('spawner_child').reduce((a, p) => a + procCpuMs(p), 0); // init's git
  const t0 = performance.now();
  const rss0 = rssMB();
  let rssRunStart = rss0;
  const sampler = setInterval(
    () => samples.push({ t: performance.now() - t0, rss: rssMB(), done }),
    sampleMs,
  );
  // What the figures need of each record, kept small: the soak measures the orchestrator's memory, so the
  // benchmark must not hold 5,000 whole records itself (it did, about 2 KB each).
  const decisions = new Map<string, number>();
  const steps = ['propose', 'check', 'verify_tree', 'evaluate', 'decide', 'record'];
  // The step timings of the experiments after the baseline, in order of their end: steps.length per experiment.
  const stepMs = new Float64Array(experiments * steps.length).fill(Number.NaN);
  let ran = 0;
  let summary: Awaited<ReturnType<typeof runLoop>>;
  try {
    loopDelay.enable();
    summary = await runLoop({
      projectDir: dir,
      runId: 'scale',
      directions: slots,
      maxExperiments: experiments,
      maxWallClockMs: 6 * 3600_000,
      executor: () => exec,
      proposer: async (ctx) => new QualityProposer(1000 + ctx.direction),
      onProgress: (p) => {
        if (p.type === 'run-start') {
          runStart = performance.now() - t0;
          rssRunStart = rssMB();
        } else if (p.type === 'experiment-end') {
          done++;
          decisions.set(p.record.decision, (decisions.get(p.record.decision) ?? 0) + 1);
          const timings = p.record.meta?.['timings'] as Record<string, number> | undefined;
          if (p.record.seq > 1) {
            steps.forEach((s, k) => {
              stepMs[ran * steps.length + k] = timings?.[s] ?? Number.NaN;
            });
            ran++;
          }
          if (p.record.seq === 1) {
            const now = performance.now();
            Object.assign(baselineEnd, { t: now - t0, busyMs: exec.busyAt(now) });
          }
          const tenth = Math.floor((10 * done) / experiments);
          if (tenth > marks.length) {
            const now = performance.now();
            const mem = process.memoryUsage();
            // With `node --expose-gc`: the heap the process retains (after a full collection), not its garbage.
            const gc = (globalThis as { gc?: () => void }).gc;
            gc?.();
            marks.push({
              done,
              t: now - t0,
              rss: mem.rss / MB,
              heap: mem.heapUsed / MB,
              heapTotal: mem.heapTotal / MB,
              external: mem.external / MB,
              retained: gc ? process.memoryUsage().heapUsed / MB : Number.NaN,
              busyMs: exec.busyAt(now),
            });
            const at = `${10 * tenth} %`;
            own.push(probeChild(at).then((r) => ({ at, ...r })));
          }
        }
      },
    });
  } finally {
    loopDelay.disable();
    clearInterval(sampler);
    Journal.prototype.recordExperiment = origRecord;
    Journal.prototype.listExperiments = origList;
    Journal.prototype.listOutcomes = origOutcomes;
    TraceTidy.prototype.tidy = origTidy;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const nodeCpuMs = (cpu.user + cpu.system) / 1000;
  // Host git runs from the spawner helper (src/util/spawner.ts): its CPU and its reaped children's (git).
  const gitCpuMs = childPids('spawner_child').reduce((a, p) => a + procCpuMs(p), 0) - git0;
  const machine1 = machineCpuMs();
  const own1 = procCpuMs(process.pid) + childPids('').reduce((a, p) => a + procCpuMs(p), 0);
  const otherCores = Math.max(0, (machine1.busy - machine0.busy - (own1 - own0)) / wallMs);
  samples.push({ t: wallMs, rss: rssMB(), done });
  const ownDuring = await Promise.all(own);
  const ownAfter: number[] = [];
  for (let i = 0; i < 3; i++) ownAfter.push((await probeChild(`after ${i}`)).ms);
  child.disconnect();

  // --- figures of the run
  const wallS = wallMs / 1000;
  const by = (d: string) => decisions.get(d) ?? 0;
  console.log(
    `run ${summary.status} (${summary.reason}): ${summary.experiments} experiments recorded, kept ${by('kept')} (baseline included), reverted ${by('reverted')}, other ${summary.experiments - by('kept') - by('reverted')}; public AUROC baseline ${summary.baselineScore?.toFixed(4)} → best ${summary.best?.score.toFixed(4)}`,
  );
  console.log(
    `wall ${wallS.toFixed(1)} s: session open (${slots} worktrees, ${evalDuckCount(slots, availableParallelism())} DuckDB(s), ${slots} proposers) ${(runStart / 1000).toFixed(1)} s; baseline alone until ${(baselineEnd.t / 1000).toFixed(1)} s`,
  );
  const meanJobMs = exec.busyMs / Math.max(1, exec.finished);
  const util = exec.busyMs / (slots * wallMs);
  const b = baselineEnd;
  const utilAfter = (exec.busyMs - b.busyMs) / (slots * (wallMs - b.t));
  console.log(
    `slot utilization (busy slot-s / (${slots} × wall s)): ${pct(util)} whole run, ${pct(utilAfter)} after the baseline (target ≥ ${pct(TARGET_UTILIZATION)}); jobs ${exec.finished}, mean job ${(meanJobMs / 1000).toFixed(2)} s, at most ${exec.maxRunning} at once`,
  );
  const tenthUtil = marks.map((m, i) => {
    const prev = i === 0 ? { t: b.t, busyMs: b.busyMs } : marks[i - 1]!;
    return (m.busyMs - prev.busyMs) / (slots * (m.t - prev.t));
  });
  console.log(
    `  utilization per tenth of the experiments: ${tenthUtil.map((u) => (100 * u).toFixed(0)).join(' ')} %`,
  );
  console.log(
    `experiments per hour: ${((summary.experiments / wallS) * 3600).toFixed(0)} (at 100 % utilization ${((slots / (meanJobMs / 1000)) * 3600).toFixed(0)})`,
  );
  const n = Math.max(1, summary.experiments);
  console.log(
    `CPU per experiment: orchestrator process ${(nodeCpuMs / n).toFixed(1)} ms (node + DuckDB threads), git through the spawner helper ${(gitCpuMs / n).toFixed(1)} ms; the machine's ${availableParallelism()} cores were ${pct((machine1.busy - machine0.busy) / (machine1.total - machine0.total))} busy, other processes ${otherCores.toFixed(1)} cores of it on average (load average ${load.toFixed(1)} at the start)`,
  );
  const gaps = exec.gaps.map(([, g]) => g);
  const [gEarly, gLate] = tenths(gaps);
  console.log(
    `orchestrator time per experiment as a slot sees it (idle gap between its jobs): first tenth ${spread(gEarly)}; last tenth ${spread(gLate)}`,
  );
  const runRecords = Array.from({ length: ran }, (_, i) => i);
  const [rEarly, rLate] = tenths(runRecords);
  const stepOf = (i: number, k: number) => stepMs[i * steps.length + k]!;
  const stepLine = (rs: number[]) =>
    steps
      .map((s, k) => {
        const xs = rs.map((i) => stepOf(i, k));
        return `${s} ${f1(quantile(xs.filter(Number.isFinite), 0.5))}`;
      })
      .join(', ');
  console.log(`step timings p50 ms (journal meta.timings): first tenth ${stepLine(rEarly)}`);
  console.log(`                                            last tenth  ${stepLine(rLate)}`);
  const [recEarly, recLate] = tenths(recordMs);
  console.log(`journal write (Journal.recordExperiment): all ${spread(recordMs)}`);
  console.log(`  first tenth ${spread(recEarly)}; last tenth ${spread(recLate)}`);
  const recStep = runRecords.map((i) => stepOf(i, steps.indexOf('record')));
  console.log(
    `RECORD step before the journal write (meta.timings.record: commit or reset, files): ${spread(recStep)}`,
  );
  console.log(
    `event loop delay: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} / p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} / max ${(loopDelay.max / 1e6).toFixed(1)} ms`,
  );
  const sumMs = (xs: [number, number][]) => xs.reduce((a, [m]) => a + m, 0);
  const listing = (what: string, xs: [number, number][]) => {
    const last = xs[xs.length - 1];
    console.log(
      `${what}: ${xs.length} calls, ${(sumMs(xs) / 1000).toFixed(1)} s in all${last ? `; the last took ${f1(last[0])} ms for ${last[1]} rows` : ''}`,
    );
  };
  listing('journal listOutcomes() (the trace tidy, before each experiment)', listOut);
  const [tidyEarly, tidyLate] = tenths(tidyMsAll);
  console.log(
    `trace tidy before each experiment (TraceTidy.tidy, listOutcomes included): first tenth ${spread(tidyEarly)}; last tenth ${spread(tidyLate)}`,
  );
  listing('journal listExperiments() (whole records of every run)', listAll);
  listing("journal listExperiments(run) (the Studio's snapshots)", listRun);

  // --- the soak
  const at10 = marks[0];
  const end = marks[marks.length - 1];
  const rssMax = Math.max(...samples.map((s) => s.rss));
  console.log(
    `soak RSS (MB): before ${rss0.toFixed(0)}, session open ${rssRunStart.toFixed(0)}, at each tenth ${marks.map((m) => m.rss.toFixed(0)).join(' ')}; first sample ${samples[0]?.rss.toFixed(0)}, last ${samples[samples.length - 1]!.rss.toFixed(0)} (the run closed), max ${rssMax.toFixed(0)} (${samples.length} samples every ${sampleMs / 1000} s)`,
  );
  console.log(`  JS heap used at each tenth (MB): ${marks.map((m) => m.heap.toFixed(0)).join(' ')}`);
  console.log(
    `  V8 heap committed (heapTotal) / external memory at each tenth (MB): ${marks.map((m) => `${m.heapTotal.toFixed(0)}/${m.external.toFixed(0)}`).join(' ')}; the rest of the RSS (native: DuckDB, SQLite, allocator caches, code) ${marks.map((m) => (m.rss - m.heapTotal - m.external).toFixed(0)).join(' ')}`,
  );
  if (marks.some((m) => Number.isFinite(m.retained)))
    console.log(
      `  JS heap retained at each tenth (after a full GC, node --expose-gc; MB): ${marks.map((m) => m.retained.toFixed(1)).join(' ')}`,
    );
  if (at10 && end)
    console.log(
      `  growth from the 10 % mark (${at10.done} experiments, ${at10.rss.toFixed(0)} MB) to the end (${end.done}, ${end.rss.toFixed(0)} MB): ${pct((end.rss - at10.rss) / at10.rss)} (target < ${pct(TARGET_RSS_GROWTH)})`,
    );
  // The end mark can fall as the run winds down (slots idle, garbage collected): the highest RSS sampled after the
  // 10 % mark is the conservative figure.
  if (at10) {
    const peak = Math.max(at10.rss, ...samples.filter((x) => x.done >= at10.done).map((x) => x.rss));
    console.log(
      `  growth from the 10 % mark (${at10.rss.toFixed(0)} MB) to the highest RSS sampled after it (${peak.toFixed(0)} MB): ${pct((peak - at10.rss) / at10.rss)} (target < ${pct(TARGET_RSS_GROWTH)})`,
    );
  }
  const half = marks[Math.floor(marks.length / 2) - 1];
  if (half && end && half !== end)
    console.log(
      `  growth over the second half, from the ${pct(half.done / experiments)} mark (${half.rss.toFixed(0)} MB) to the end: ${pct((end.rss - half.rss) / half.rss)}; JS heap retained ${Number.isFinite(half.retained) ? `${half.retained.toFixed(1)} → ${end.retained.toFixed(1)} MB` : '(run with node --expose-gc)'}`,
    );
  console.log(
    `Studio in a process of its own (as \`ratchet studio\` runs; timed by a client there) GET /api/state during the run: ${ownDuring.map((p) => `${p.at} ${p.ms.toFixed(0)} ms (CPU ${p.cpuMs.toFixed(0)})`).join(', ')} (last body ${((ownDuring[ownDuring.length - 1]?.bytes ?? 0) / 1024).toFixed(0)} KiB)`,
  );
  console.log(
    `  after the run: ${ownAfter.map((m) => m.toFixed(0)).join(', ')} ms; max during+after ${Math.max(...ownDuring.map((p) => p.ms), ...ownAfter).toFixed(0)} ms (target < ${TARGET_STUDIO_MS} ms)`,
  );

  // --- costs that grow with the history, on the finished project (n experiments)
  const journal = Journal.open(dir, { readonly: true });
  try {
    const contract = loadContract(dir);
    const n = journal.listOutcomes().length;
    const outcomesMs = await timeIt(5, () => journal.listOutcomes());
    const listMs = await timeIt(5, () => journal.listExperiments());
    const records = journal.listOutcomes();
    const tidyMs = await timeIt(5, () =>
      tidyTraces(dir, join(dir, RUNS_DIR), records, contract.retention.keep_last),
    );
    // The incremental tidy a session keeps, once it has seen the history (its first call reads it all).
    const tidy = new TraceTidy(dir, contract.retention.keep_last);
    tidy.tidy(journal);
    const incMs = await timeIt(5, () => tidy.tidy(journal));
    // A fresh connection's first snapshot (a Studio opened now), then the warm one (its history kept).
    const coldMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const j = Journal.open(dir, { readonly: true });
      const t = performance.now();
      studioStateJson(j, contract, 'scale');
      coldMs.push(performance.now() - t);
      j.close();
    }
    const stateMs = await timeIt(5, () => studioStateJson(journal, contract, 'scale'));
    console.log(
      `costs that grow with the history, at ${n} experiments (median of 5, after the run): listOutcomes() ${outcomesMs.toFixed(1)} ms; the trace tidy as a full scan (tidyTraces: readdir and a stat per experiment) ${tidyMs.toFixed(1)} ms, incremental (TraceTidy.tidy, what a run does before each PROPOSE) ${incMs.toFixed(1)} ms; whole records, listExperiments() ${listMs.toFixed(1)} ms; the Studio's snapshot (studioStateJson) in a fresh connection ${coldMs.map((m) => m.toFixed(0)).join(', ')} ms, its history kept ${stateMs.toFixed(1)} ms`,
    );
  } finally {
    journal.close();
  }
  const manifest = readManifest(dir);
  const before = rssMB();
  const t1 = performance.now();
  const ducks: Duck[] = [];
  try {
    const pool = evalDuckCount(slots, availableParallelism());
    for (let i = 0; i < pool; i++)
      ducks.push(
        await openDuck(pool > 1 ? Math.max(1, Math.floor(availableParallelism() / pool)) : 2, {
          spillDir: join(dir, SPILL_DIR),
          memoryMB: evalMemoryMB(manifest),
        }),
      );
    const opened = rssMB();
    const openMs = performance.now() - t1;
    // One join of predictions with the vault's labels in each, as EVALUATE's first use of a direction's DuckDB.
    const preds = join(dir, '.ratchet', 'tmp', 'bench-predictions.csv');
    const h = holdouts.public;
    writeFileSync(
      preds,
      `${holdouts.idColumn},prediction\n${h.ids.map((id, i) => `${id},${h.positive[i] ? 0.7 : 0.3}`).join('\n')}\n`,
    );
    const vault = join(dir, VAULT_DIR, 'public.parquet');
    for (const d of ducks)
      await d.con.run(
        `SELECT avg(p.prediction) FROM read_csv(${lit(preds)}) p JOIN read_parquet(${lit(vault)}) v ON CAST(p.${ident(holdouts.idColumn)} AS VARCHAR) = CAST(v.id AS VARCHAR)`,
      );
    console.log(
      `the DuckDB pool a ${slots}-direction session opens (${pool} instance(s): one per two cores, lent to each EVALUATE; 2 threads, ${evalMemoryMB(manifest)} MB limit each): ${openMs.toFixed(0)} ms, RSS +${(opened - before).toFixed(0)} MB; after one predictions-to-labels join in each, +${(rssMB() - before).toFixed(0)} MB`,
    );
  } finally {
    for (const d of ducks) d.close();
  }
  console.log(`(total ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--slots');
  const slots = i > 0 ? Number(process.argv[i + 1]) : undefined;
  await benchScale({
    ...(process.argv.includes('--quick') ? QUICK_SCALE : {}),
    ...(slots ? { slots } : {}),
    keep: process.argv.includes('--keep'),
  });
}

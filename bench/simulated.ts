/**
 * A simulated executor and a scripted proposer for the `scale` benchmark (bench/scale.ts): many execution slots
 * "beyond this machine", simulated, in front of the REAL scheduler, journal and keep rule.
 *
 * {@link SimulatedExecutor} runs no Python: each job waits a synthetic duration (log-normal, clipped), honouring
 * the job's kill switch and timeout, and writes valid predictions files (`public.csv`, `private.csv`) for the
 * project's holdout ids into the job's output folder. The predictions' quality follows a synthetic signal, the
 * `quality` the proposer wrote into the worktree's `params.yaml`, so the keep rule keeps some experiments and
 * reverts others. {@link QualityProposer} is the matching proposer: a random walk of `quality` around the
 * direction's best.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDuck, readRows } from '../src/data/duck.js';
import { readManifest, VAULT_DIR } from '../src/data/ingest.js';
import type { ExecuteJob, Executor } from '../src/loop/executor.js';
import { Xoshiro128 } from '../src/metrics/index.js';
import type { Proposal, ProposeContext, Proposer } from '../src/proposers/types.js';
import type { SandboxResult } from '../src/sandbox/index.js';

/** Quality of the committed code (a `params.yaml` without `quality`): public AUROC ≈ 0.69. */
export const BASELINE_QUALITY = 0.35;

/** One holdout as the simulation sees it: its ids in file order and, aligned with them, 1 for a positive label. */
export interface SimHoldout {
  ids: string[];
  positive: Uint8Array;
}

/** Both holdouts of a project and the name of its id column (the predictions' first column). */
export interface SimHoldouts {
  idColumn: string;
  public: SimHoldout;
  private: SimHoldout;
}

/**
 * Read a project's holdouts for the simulation: the ids from `.ratchet/data/<holdout>.csv` (the id column named
 * by the split manifest) and their labels from the vault (`.ratchet/vault/<holdout>.parquet`, columns `id` and
 * `label`; positive is the manifest's positive class). Only a benchmark reads the vault like this: the simulated
 * "model" needs labels to have a controllable quality.
 * @throws Error when the project is not initialised, is not a binary task, or a holdout id has no label
 */
export async function readHoldouts(projectDir: string): Promise<SimHoldouts> {
  const manifest = readManifest(projectDir);
  if (manifest.task !== 'binary' || manifest.positiveClass === null)
    throw new Error(`the simulation needs a binary task, got ${manifest.task}`);
  const duck = await openDuck(1);
  try {
    const read = async (name: 'public' | 'private'): Promise<SimHoldout> => {
      const lines = readFileSync(join(projectDir, '.ratchet', 'data', `${name}.csv`), 'utf8')
        .trimEnd()
        .split('\n');
      const col = lines[0]!.split(',').indexOf(manifest.idColumn);
      if (col < 0) throw new Error(`${name}.csv has no id column ${manifest.idColumn}`);
      const ids = lines.slice(1).map((l) => l.split(',')[col]!);
      const vault = join(projectDir, VAULT_DIR, `${name}.parquet`).replaceAll("'", "''");
      const rows = await readRows(
        duck.con,
        `SELECT CAST(id AS VARCHAR) AS id, CAST(label AS VARCHAR) AS label FROM read_parquet('${vault}')`,
      );
      const label = new Map(rows.map((r) => [String(r['id']), String(r['label'])]));
      const positive = Uint8Array.from(ids, (id) => {
        const l = label.get(id);
        if (l === undefined) throw new Error(`${name} id ${id} has no label in the vault`);
        return l === manifest.positiveClass ? 1 : 0;
      });
      return { ids, positive };
    };
    return { idColumn: manifest.idColumn, public: await read('public'), private: await read('private') };
  } finally {
    duck.close();
  }
}

/** Options of {@link SimulatedExecutor}. */
export interface SimulatedOptions {
  /** Execution slots: at most this many jobs wait at once (more queue, not counted as busy). */
  slots: number;
  /** Median synthetic duration of a job, ms. */
  medianMs: number;
  /** σ of the duration's logarithm (log-normal spread). */
  sigma: number;
  /** Durations are clipped to [minMs, maxMs], ms. */
  minMs: number;
  maxMs: number;
  /** The project's holdouts (see {@link readHoldouts}). */
  holdouts: SimHoldouts;
  /** Seed of the durations and the predictions' noise. */
  seed?: number;
}

/** Standard normal draw (Box-Muller) from a uniform generator. */
function gauss(rng: Xoshiro128): number {
  const u = Math.max(rng.nextFloat(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

/** The `quality` a worktree's `params.yaml` states, or {@link BASELINE_QUALITY} when it states none. */
export function qualityOf(worktree: string): number {
  const p = join(worktree, 'params.yaml');
  const m = existsSync(p) ? /^quality:\s*([0-9.]+)\s*$/m.exec(readFileSync(p, 'utf8')) : null;
  return m ? Number(m[1]) : BASELINE_QUALITY;
}

/**
 * An {@link Executor} with `slots` simulated slots: a job waits a synthetic log-normal duration instead of running
 * the contract's command, then writes predictions whose quality is the worktree's `quality` (see
 * {@link qualityOf}): for each holdout row, the probability 1 / (1 + e^-(q·(2y−1) + ε)) with ε ~ N(0, 1) drawn
 * per job, so public AUROC ≈ Φ(√2·q). It keeps the figures the benchmark prints: busy slot-time, jobs, and the
 * idle gap of each worktree between one job's end and its next job's start (the orchestrator's time per
 * experiment as the slot sees it).
 */
export class SimulatedExecutor implements Executor {
  /** The interface's only kind; the slot class says it is simulated. */
  readonly kind = 'local' as const;
  readonly slotClass: string;
  readonly threads = 1;
  /** Sum of the jobs' waits while holding a slot, ms. */
  busyMs = 0;
  /** Jobs started and jobs finished. */
  started = 0;
  finished = 0;
  /** Jobs holding a slot now, and the most that ever did at once. */
  running = 0;
  maxRunning = 0;
  /** Per finished job with a predecessor in the same worktree: [time of its start (ms, performance.now), idle gap ms]. */
  readonly gaps: [number, number][] = [];
  private readonly lastEnd = new Map<string, number>();
  /** Start times (performance.now) of the jobs holding a slot now. */
  private readonly holding = new Set<{ t0: number }>();
  private readonly waiting: (() => void)[] = [];
  private readonly rng: Xoshiro128;

  /** @param opts slots, the duration's distribution, the holdouts to predict for */
  constructor(private readonly opts: SimulatedOptions) {
    this.slotClass = `simulated:${opts.slots}x1`;
    this.rng = new Xoshiro128(opts.seed ?? 1);
  }

  /** Busy slot-time up to `now` (performance.now), ms: finished jobs plus the elapsed part of those holding a slot. */
  busyAt(now = performance.now()): number {
    let ms = this.busyMs;
    for (const h of this.holding) ms += now - h.t0;
    return ms;
  }

  /** A synthetic duration, ms: log-normal around the median, clipped. */
  duration(): number {
    const { medianMs, sigma, minMs, maxMs } = this.opts;
    return Math.min(maxMs, Math.max(minMs, medianMs * Math.exp(sigma * gauss(this.rng))));
  }

  /**
   * Hold a slot for a synthetic duration (or until the timeout or the kill switch), then write the predictions.
   * Resolves `ok`, `timeout` (no predictions) or `aborted`; never rejects for the job's sake.
   */
  async run(job: ExecuteJob): Promise<SandboxResult> {
    if (this.running >= this.opts.slots) await new Promise<void>((r) => this.waiting.push(r));
    const t0 = performance.now();
    const last = this.lastEnd.get(job.worktree);
    if (last !== undefined) this.gaps.push([t0, t0 - last]);
    const hold = { t0 };
    this.holding.add(hold);
    this.running++;
    this.started++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const planned = this.duration();
    const waitMs = Math.min(planned, job.timeoutMs);
    let status: SandboxResult['status'] = planned > job.timeoutMs ? 'timeout' : 'ok';
    try {
      appendFileSync(join(job.runDir, 'stdout.log'), `simulated job: ${planned.toFixed(0)} ms\n`);
      writeFileSync(join(job.runDir, 'stderr.log'), '');
      const aborted = await new Promise<boolean>((resolve) => {
        if (job.signal?.aborted) return resolve(true);
        const onAbort = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          job.signal?.removeEventListener('abort', onAbort);
          resolve(false);
        }, waitMs);
        job.signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (aborted) status = 'aborted';
      else if (status === 'ok') this.writePredictions(job);
    } finally {
      const end = performance.now();
      this.busyMs += end - t0;
      this.holding.delete(hold);
      this.lastEnd.set(job.worktree, end);
      this.running--;
      this.finished++;
      this.waiting.shift()?.();
    }
    const wallMs = Math.round(performance.now() - t0);
    const message =
      status === 'ok'
        ? 'simulated: exited with code 0'
        : status === 'timeout'
          ? `simulated: killed after ${Math.round(job.timeoutMs / 1000)} s wall-clock timeout`
          : 'simulated: stopped by the kill switch';
    return {
      status,
      exitCode: status === 'ok' ? 0 : null,
      signal: status === 'ok' ? null : 'SIGKILL',
      wallMs,
      sandboxed: false,
      message,
    };
  }

  /** Predictions of quality `qualityOf(job.worktree)` for both holdouts, noise seeded by the job. */
  private writePredictions(job: ExecuteJob): void {
    const q = qualityOf(job.worktree);
    const rng = new Xoshiro128(job.experimentId * 7919 + (job.seed % 1_000_003));
    for (const name of ['public', 'private'] as const) {
      const h = this.opts.holdouts[name];
      const lines = [`${this.opts.holdouts.idColumn},prediction`];
      for (let i = 0; i < h.ids.length; i++) {
        const z = q * (h.positive[i] ? 1 : -1) + gauss(rng);
        lines.push(`${h.ids[i]},${(1 / (1 + Math.exp(-z))).toFixed(6)}`);
      }
      writeFileSync(join(job.outputDir, `${name}.csv`), `${lines.join('\n')}\n`);
    }
  }
}

/**
 * A scripted proposer for the simulation: it writes `params.yaml` (on the surface) with a `quality` drawn around
 * the direction's best (a Gaussian step, clipped to [0.05, 1]) and the experiment's sequence number, so CHECK
 * always sees a change; the simulated executor reads that quality back.
 */
export class QualityProposer implements Proposer {
  readonly name = 'simulated';
  private readonly rng: Xoshiro128;

  /**
   * @param seed seed of the steps (one per direction)
   * @param step σ of a step in quality
   */
  constructor(
    seed: number,
    private readonly step = 0.1,
  ) {
    this.rng = new Xoshiro128(seed);
  }

  /** Write the next quality into the worktree's params.yaml. */
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const best = Number(ctx.bestParams?.['quality'] ?? BASELINE_QUALITY);
    const q = Math.min(1, Math.max(0.05, best + this.step * gauss(this.rng)));
    writeFileSync(join(ctx.worktree, 'params.yaml'), `quality: ${q.toFixed(4)}\nexperiment: ${ctx.seq}\n`);
    return {
      hypothesis: `quality ${q.toFixed(4)} (best ${best.toFixed(4)})`,
      params: { quality: Number(q.toFixed(4)) },
    };
  }

  /** Nothing to learn: the next step starts from the direction's best. */
  async observe(): Promise<void> {}

  /** Nothing to close. */
  async close(): Promise<void> {}
}

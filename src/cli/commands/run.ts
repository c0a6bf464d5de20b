import { resolve } from 'node:path';
import type { Command } from 'commander';
import { readFindings } from '../../data/scan.js';
import { executorFor, executorKindOption } from '../../executors/index.js';
import { measureBaseline, type NoiseEstimate } from '../../loop/baseline.js';
import { activeRun, requestStop } from '../../loop/control.js';
import { ruleLabel } from '../../loop/keep.js';
import { preflight } from '../../loop/preflight.js';
import { type RunProgress, type RunSummary, runLoop } from '../../loop/run.js';
import { type AlignmentStatus, alignmentStatus } from '../../tiers/align-gate.js';
import { trackersFromEnv } from '../../tracking/tracker.js';
import { RatchetError } from '../../util/errors.js';
import { formatDuration, parseDuration } from '../../util/units.js';
import { bold, decisionColour, dim, keptText, num, reasonAfter, signed, table, yellow } from '../format.js';
import { action, intOption, printJson, progressWriter } from '../output.js';
import { proposerFactory } from '../proposers.js';

/** Options shared by `run` and `demo`. */
export interface RunCliOptions {
  dir: string;
  proposer: string;
  experiments?: string;
  timeout?: string;
  budget?: string;
  maxFailures?: string;
  /** Directions explored at once (`--directions N`). */
  directions?: string;
  run?: string;
  unsafeNoSandbox?: boolean;
  /** Where experiments run: local or ray (`--executor`; default: the contract's executor.kind). */
  executor?: string;
  override?: string[];
  reason?: string;
  json?: boolean;
}

const dur = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  try {
    return parseDuration(v);
  } catch (e) {
    throw new RatchetError((e as Error).message, { field: flag });
  }
};

/**
 * A status line redrawn in place at the bottom of a terminal (for TTYs only; CI logs get plain lines).
 * Lines printed through {@link StatusLine.print} appear above it.
 */
export class StatusLine {
  private text = '';
  constructor(private readonly stream: NodeJS.WriteStream) {}

  /** Replace the status line (cut to the terminal's width). */
  set(text: string): void {
    const cols = this.stream.columns || 100;
    this.text = text.length > cols - 1 ? `${text.slice(0, cols - 2)}…` : text;
    this.stream.write(`\r\u001b[2K${this.text}`);
  }

  /** Print a normal line above the status line. */
  print(line: string): void {
    this.stream.write(`\r\u001b[2K${line}\n${this.text}`);
  }

  /** Erase the status line. */
  clear(): void {
    this.text = '';
    this.stream.write('\r\u001b[2K');
  }
}

/**
 * A live status line on the progress stream when it is a terminal (stdout, or stderr with --json), null in
 * CI and pipes (`CI` set, or not a TTY) where plain lines are better.
 */
export function liveStatus(json: boolean): StatusLine | null {
  const stream = json ? process.stderr : process.stdout;
  return stream.isTTY && !process.env['CI'] ? new StatusLine(stream) : null;
}

/**
 * Show `text()` while long work runs: redrawn every second on a terminal (`live`), printed every `everyMs`
 * (default 30 s) as a plain line in logs.
 * @returns stop(), which also clears the live line
 */
export function heartbeat(
  text: () => string,
  say: (line: string) => void,
  live: StatusLine | null,
  everyMs = 30_000,
): () => void {
  const tick = () => (live ? live.set(dim(text())) : say(dim(text())));
  if (live) tick();
  const timer = setInterval(tick, live ? 1000 : everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    live?.clear();
  };
}

/**
 * A progress renderer for the loop: a line when an experiment starts and one when it ends (decision, score,
 * best, time, budgets left). Between them, the current experiment, its elapsed time, the best score and the
 * budgets left: redrawn every second on a terminal (`live`), or printed every `heartbeatMs` (default 30 s)
 * as a plain line for logs.
 */
export function renderProgress(
  say: (line: string) => void,
  opts: { live?: StatusLine | null; heartbeatMs?: number } = {},
): (p: RunProgress) => void {
  const live = opts.live ?? null;
  const out = live ? (line: string) => live.print(line) : say;
  let total = 0;
  let maxWallMs = 0;
  let runStart = Date.now();
  let best: number | null = null;
  let cur: { id: number; seq: number; started: number } | null = null;
  let timer: NodeJS.Timeout | null = null;
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = null;
    live?.clear();
  };
  const status = () => {
    if (!cur) return '';
    const wallLeft = Math.max(0, maxWallMs - (Date.now() - runStart));
    return `#${cur.id} (${cur.seq}/${total}) running ${formatDuration(Date.now() - cur.started)} · best ${num(best)} · left: ${Math.max(0, total - cur.seq)} exp after this, ${formatDuration(wallLeft)}`;
  };
  return (p) => {
    switch (p.type) {
      case 'run-start':
        total = p.maxExperiments;
        maxWallMs = p.maxWallClockMs;
        runStart = Date.now();
        out(
          bold(
            `${p.resumed ? 'resuming' : 'starting'} run ${p.runId} on ${p.branch}: up to ${p.maxExperiments} experiments, ${formatDuration(p.maxWallClockMs)} wall clock`,
          ),
        );
        break;
      case 'experiment-start': {
        const w = String(total).length;
        stopTimer();
        runStart = Date.now() - p.elapsedMs;
        cur = { id: p.id, seq: p.seq, started: Date.now() };
        const d = p.direction ? `d${p.direction} ` : '';
        out(`[${String(p.seq).padStart(w)}/${total}] ${d}#${p.id} ${p.hypothesis}`);
        if (live) {
          live.set(dim(`        … ${status()}`));
          timer = setInterval(() => live.set(dim(`        … ${status()}`)), 1000);
        } else {
          timer = setInterval(() => say(dim(`        … ${status()}`)), opts.heartbeatMs ?? 30_000);
        }
        timer.unref();
        break;
      }
      case 'experiment-end': {
        stopTimer();
        cur = null;
        best = p.bestScore;
        const r = p.record;
        // With several directions, experiments end out of order: the line names its experiment.
        if (r.direction && r.seq > 1) out(dim(`        d${r.direction} #${r.id}:`));
        out(
          `        ${decisionColour(r.decision.padEnd(8))} ${r.score === null ? '' : `${num(r.score)} ${signed(r.delta)}`.padEnd(16)} best ${num(p.bestScore)}  ${formatDuration(r.durationMs)}  ${dim(`left: ${p.left.experiments} exp, ${formatDuration(p.left.wallClockMs)}`)}`,
        );
        if (r.decision !== 'kept' || r.seq > 1) out(dim(`        ${r.reason}`));
        break;
      }
      case 'run-end':
        stopTimer();
        cur = null;
        out(summaryLine(p.summary));
        break;
    }
  };
}

/** One line that says how a run ended. */
export function summaryLine(s: RunSummary): string {
  const best = s.best
    ? `best ${num(s.best.score)} (#${s.best.id}, ${s.best.commit.slice(0, 12)})`
    : 'no best';
  return bold(
    `run ${s.runId} ${s.status}: ${reasonAfter(s.status, s.reason)}. ${s.experiments} experiments, ${keptText(s.kept, s.baselineScore !== null)}; baseline ${num(s.baselineScore)} → ${best}`,
  );
}

/** Run the loop with CLI options. */
export async function runFromCli(o: RunCliOptions): Promise<RunSummary> {
  const say = progressWriter(Boolean(o.json));
  const live = liveStatus(Boolean(o.json));
  const maxExperiments = intOption('--experiments', o.experiments);
  const maxConsecutiveFailures = intOption('--max-failures', o.maxFailures);
  const experimentTimeoutMs = dur('--timeout', o.timeout);
  const maxWallClockMs = dur('--budget', o.budget);
  const directions = intOption('--directions', o.directions);
  const executor = executorKindOption(o.executor);
  const projectDir = resolve(o.dir);
  return runLoop({
    projectDir,
    proposer: proposerFactory(o.proposer),
    ...(executor ? { executor } : {}),
    ...(directions ? { directions } : {}),
    ...(o.run ? { runId: o.run } : {}),
    ...(maxExperiments ? { maxExperiments } : {}),
    ...(maxConsecutiveFailures ? { maxConsecutiveFailures } : {}),
    ...(experimentTimeoutMs ? { experimentTimeoutMs } : {}),
    ...(maxWallClockMs ? { maxWallClockMs } : {}),
    unsafeNoSandbox: Boolean(o.unsafeNoSandbox),
    ...(o.override?.length
      ? { overrides: Object.fromEntries(o.override.map((id) => [id, o.reason ?? ''])) }
      : {}),
    // MLflow (when MLFLOW_TRACKING_URI is set): queued and sent in the background, never blocking RECORD.
    // Its outage and recovery are one line each (never one per retry).
    observers: trackersFromEnv(projectDir, process.env, (line) => (live ? live.print(line) : say(line))),
    onProgress: renderProgress(say, { live }),
  });
}

/** Options of `ratchet check`. */
export interface CheckCliOptions {
  dir: string;
  runs?: string;
  /** 'same' (nondeterminism), 'varied' (seed noise) or 'both' (the default). */
  seeds?: string;
  /** Alias of `seeds: 'both'` (kept for old scripts). */
  determinism?: boolean;
  unsafeNoSandbox?: boolean;
  /** Where the baseline runs: local or ray (`--executor`; default: the contract's executor.kind). */
  executor?: string;
  json?: boolean;
  /** Baseline runs at once (`--concurrent N`; default: the contract's parallel.directions). */
  concurrent?: string;
}

/** Which noise `check` measures: the same seed k times, k varied seeds, or both (the default). */
export type SeedsChoice = 'same' | 'varied' | 'both';

/** Parse `--seeds`. @throws RatchetError naming the option and its valid values */
export function seedsOption(v: string | undefined, determinism?: boolean): SeedsChoice {
  if (determinism || v === undefined) return 'both';
  if (v === 'same' || v === 'varied' || v === 'both') return v;
  throw new RatchetError(`--seeds must be same, varied or both, got "${v}"`, {
    field: '--seeds',
    hint: 'use --seeds both (the default: nondeterminism and seed noise), same or varied',
  });
}

/**
 * Run `ratchet check` and print its findings. By default (`--seeds both`) the baseline runs k times with
 * the same seed (nondeterminism) and k times with varied seeds (seed noise), and both estimates are
 * stored; the keep rule then uses the varied-seed σ.
 * @returns the noise estimates, `est` being the one the keep rule uses (varied-seed when measured)
 * @throws RatchetError for a bad option, a broken project or a baseline run that fails
 */
export async function checkFromCli(o: CheckCliOptions) {
  const dir = resolve(o.dir);
  const say = progressWriter(Boolean(o.json));
  const unsafe = Boolean(o.unsafeNoSandbox);
  const seeds = seedsOption(o.seeds, o.determinism);
  const runs = intOption('--runs', o.runs) ?? 3;
  const kind = executorKindOption(o.executor);
  const ready = await preflight(dir, { unsafe, ...(kind ? { executor: kind } : {}) });
  // Measured under the load of a run with parallel directions (contention-aware noise).
  const concurrent = intOption('--concurrent', o.concurrent) ?? ready.contract.parallel.directions;
  say(`contract ${ready.contract.name}: valid and matches ratchet.lock`);
  say(
    `sandbox: ${unsafe ? 'OFF (--unsafe-no-sandbox)' : 'bubblewrap works'}; python ${ready.python.executable}`,
  );
  say(`process-tree limits: ${ready.treeLimits}`);
  // The executor the baseline runs on; the Ray executor first proves the cage holds on its workers (probe job).
  const executor = executorFor(
    ready.contract,
    ready.python,
    unsafe,
    Math.max(1, Math.min(concurrent, runs)),
    kind,
  );
  const prepared = executor.prepare ? await executor.prepare() : null;
  say(`executor: ${prepared ? prepared.summary : `${executor.kind} (${executor.slotClass})`}`);
  const findings = readFindings(dir);
  say(`leakage scan: ${findings.length === 0 ? 'clean' : `${findings.length} warning(s)`}`);
  for (const f of findings)
    say(`  ${f.guardrail}${f.column ? ` (${f.column})` : ''}: ${f.message}; ${f.hint}`);
  const kinds: ('same-seed' | 'varied-seed')[] =
    seeds === 'both' ? ['same-seed', 'varied-seed'] : [seeds === 'varied' ? 'varied-seed' : 'same-seed'];
  const estimates: NoiseEstimate[] = [];
  const live = liveStatus(Boolean(o.json));
  const line = live ? (l: string) => live.print(l) : say;
  for (const kind of kinds) {
    line(
      `running the baseline ${runs} times (${kind}${concurrent > 1 ? `, ${Math.min(concurrent, runs)} at once` : ''}) to measure ${kind === 'same-seed' ? 'nondeterminism' : 'seed noise'}`,
    );
    const started = Date.now();
    let current = 1;
    let runStarted = started;
    const stop = heartbeat(
      () =>
        `  … baseline run ${current}/${runs} (${kind}) running ${formatDuration(Date.now() - runStarted)}, ${formatDuration(Date.now() - started)} so far`,
      say,
      live,
    );
    try {
      estimates.push(
        await measureBaseline({
          projectDir: dir,
          runs,
          kind,
          unsafeNoSandbox: unsafe,
          ready,
          concurrent,
          executor,
          onRun: (i, r) => {
            line(
              `  run ${i + 1}/${runs}: ${ready.contract.metric.primary} ${r.score.toFixed(6)} (seed ${r.seed}, ${formatDuration(r.wallMs)}, ${formatDuration(Date.now() - started)} so far)`,
            );
            current = i + 2;
            runStarted = Date.now();
          },
        }),
      );
    } finally {
      stop();
    }
  }
  // The keep rule's choice (src/loop/session.ts): the varied-seed σ when measured, else the same-seed one.
  const est = estimates.find((e) => e.kind === 'varied-seed') ?? estimates[0]!;
  const rule = ruleLabel(est.sd, { kind: est.kind, runs: est.runs.length });
  return {
    est,
    estimates,
    ready,
    rule,
    executor: { kind: executor.kind, slotClass: executor.slotClass, probe: prepared?.summary ?? null },
  };
}

/** The alignment line of `ratchet check` (nothing when no A/B test was imported and none is required). */
function alignmentLine(s: AlignmentStatus, required: boolean): string {
  if (s.tests === 0 && !required) return '';
  const text = `${s.message}${required && s.report?.ready !== true ? ' (alignment.required: `ratchet run` will refuse to start)' : ''}`;
  return `${s.report?.ready === true ? text : yellow(text)}\n`;
}

/** Register `run`, `stop` and `check`. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the experiment loop on the ratchet branch until a budget runs out or `ratchet stop`')
    .option('--dir <dir>', 'project folder', '.')
    .option(
      '--proposer <name>',
      'who proposes changes: search (Optuna TPE), command (a CLI agent), openai (an OpenAI-compatible endpoint), hybrid (an LLM that sees TPE suggestions)',
      'search',
    )
    .option(
      '--experiments <n>',
      'experiments in the run, baseline included (default: contract budgets.max_experiments)',
    )
    .option(
      '--timeout <duration>',
      'per-experiment wall clock, e.g. 120s (default: budgets.experiment_timeout)',
    )
    .option('--budget <duration>', 'total wall clock of the run, e.g. 2h (default: budgets.max_wall_clock)')
    .option('--max-failures <n>', 'stop after this many consecutive failed experiments')
    .option(
      '--directions <n>',
      'directions explored at once, each on its own branch ratchet/<run>/d<k> with its own proposer; budgets are shared (default: parallel.directions, 1)',
    )
    .option('--run <id>', 'run id; an unfinished run with this id is resumed')
    .option(
      '--executor <kind>',
      "where experiments run: local (bubblewrap on this machine) or ray (a Ray cluster: the contract's executor section, its probe job first); default: executor.kind",
    )
    .option('--unsafe-no-sandbox', 'run experiments without bubblewrap (recorded on every experiment)')
    .option(
      '--override <guardrails...>',
      'let these overridable guardrails pass for this run (recorded; needs --reason)',
    )
    .option('--reason <text>', 'why the overrides are justified (recorded in the journal)')
    .option('--json', 'print the run summary as JSON on stdout (progress goes to stderr)')
    .action(
      action(async (o: RunCliOptions) => {
        const s = await runFromCli(o);
        if (o.json) printJson(s);
        if (s.status === 'failed' || s.status === 'escalated') process.exitCode = 4;
      }),
    );

  program
    .command('stop')
    .description(
      'the kill switch: stop the active run within a second and leave its branch at the last kept commit',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (o: { dir: string; json?: boolean }) => {
        const dir = resolve(o.dir);
        const info = requestStop(dir);
        if (!info) {
          if (o.json) printJson({ stopped: false, reason: 'no active run' });
          else process.stdout.write('no active run\n');
          return;
        }
        const t0 = Date.now();
        while (activeRun(dir) && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 100));
        const stopped = !activeRun(dir);
        if (o.json) printJson({ stopped, run: info.runId, pid: info.pid, seconds: (Date.now() - t0) / 1000 });
        else
          process.stdout.write(
            stopped
              ? `stopped run ${info.runId} in ${formatDuration(Date.now() - t0)}\n`
              : `run ${info.runId} did not stop within 15 s (pid ${info.pid})\n`,
          );
        if (!stopped) process.exitCode = 1;
      }),
    );

  program
    .command('check')
    .description(
      'validate the contract and sandbox, run the baseline k times with the same seed and k times with varied seeds, and measure run-to-run noise',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--runs <k>', 'baseline repetitions per kind of seed (default 3)')
    .option(
      '--seeds <kind>',
      'same (nondeterminism: k runs, one seed), varied (seed noise: k seeds) or both (default; the keep rule uses the varied-seed σ)',
    )
    .option('--determinism', 'the same as --seeds both (kept for old scripts)')
    .option(
      '--concurrent <n>',
      'baseline runs at once, to measure the noise under the load of a run with n directions (default: parallel.directions)',
    )
    .option(
      '--executor <kind>',
      'where the baseline runs: local or ray (a probe job first proves the cage holds on the workers); default: executor.kind',
    )
    .option('--unsafe-no-sandbox', 'run without bubblewrap')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (o: CheckCliOptions) => {
        const { est, estimates, ready, rule, executor } = await checkFromCli(o);
        // Tier 3: whether the metric's offline gains have predicted the imported A/B tests' online wins.
        const alignment = alignmentStatus(ready.contract);
        const measured = est.sd > 0 || (est.kind === 'varied-seed' && est.runs.length >= 2);
        if (o.json) {
          printJson({
            contract: ready.contract.name,
            commit: est.commit,
            metric: est.metric,
            kind: est.kind,
            mean: est.mean,
            sd: est.sd,
            runs: est.runs,
            rule,
            slot_class: est.slotClass,
            executor,
            estimates: estimates.map((e) => ({
              kind: e.kind,
              mean: e.mean,
              sd: e.sd,
              runs: e.runs.length,
              slot_class: e.slotClass,
            })),
            alignment: {
              tests: alignment.tests,
              ready: alignment.report?.ready ?? null,
              message: alignment.message,
              required: ready.contract.alignment.required,
            },
          });
          return;
        }
        const minDelta = ready.contract.keep.min_delta;
        process.stdout.write(
          `${table([
            ['metric', 'seeds', 'mean', 'sd', 'runs'],
            ...estimates.map((e) => [
              e.metric,
              e.kind,
              e.mean.toFixed(6),
              e.sd.toExponential(2),
              String(e.runs.length),
            ]),
          ])}\nkeep ${rule}\n${alignmentLine(alignment, ready.contract.alignment.required)}${
            measured
              ? `baseline ok. next: ratchet run --proposer search --experiments 30\n`
              : `${yellow(`seed noise not measured: gains below min_delta ${minDelta} may be seed luck.`)} next: ratchet check --seeds varied --runs 3\n`
          }`,
        );
      }),
    );
}

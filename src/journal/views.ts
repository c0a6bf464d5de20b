import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLEAR_COMMAND, projectEscalation } from '../agents/limits.js';
import type { Contract } from '../contract/load.js';
import { activeRun, runActiveMs } from '../loop/control.js';
import type { FeatureCheck } from '../loop/experiment.js';
import { experimentDir } from '../loop/paths.js';
import { PRUNED_NOTE } from '../loop/tidy.js';
import { adoptionsOf, bestKept, type DirectionSummary, directionSummaries } from './directions.js';
import {
  DECISIONS,
  type ExperimentRecord,
  type Journal,
  type JournalReader,
  type RunRecord,
} from './store.js';

/** One experiment as `ratchet log --json` prints it (also the MCP history tool's item). */
export interface LogEntry {
  id: number;
  run: string;
  seq: number;
  decision: string;
  hypothesis: string;
  /** Public primary metric. */
  score: number | null;
  /** Gain over the best before it, in the metric's direction (positive = better). */
  gain: number | null;
  /** The same number as `gain`, under its old name (kept for existing readers). */
  delta: number | null;
  ci_low: number | null;
  ci_high: number | null;
  prob_improvement: number | null;
  /** The keep rule's stage-2 test: 'delong' | 'paired-z' | 'bootstrap' | 'none' (null when the keep rule did not run). */
  keep_test: string | null;
  /** The direction (1-based) it ran in, in a run with several (null otherwise). */
  direction: number | null;
  reason: string;
  proposer: string;
  commit: string | null;
  duration_s: number;
  files: string[];
  params: Record<string, unknown> | null;
  metrics: Record<string, number>;
  conclusion: string | null;
  sandboxed: boolean;
  started_at: string;
}

/** Map a journal record to its log entry. */
export function logEntry(e: ExperimentRecord): LogEntry {
  return {
    id: e.id,
    run: e.runId,
    seq: e.seq,
    decision: e.decision,
    hypothesis: e.hypothesis,
    score: e.score,
    gain: e.delta,
    delta: e.delta,
    ci_low: e.ciLow,
    ci_high: e.ciHigh,
    prob_improvement: e.probImprovement,
    keep_test: e.keepTest ?? null,
    reason: e.reason,
    proposer: e.proposer,
    commit: e.commitSha,
    duration_s: Math.round(e.durationMs) / 1000,
    files: e.files,
    params: e.params,
    metrics: e.metrics,
    conclusion: e.conclusion,
    sandboxed: e.sandboxed,
    started_at: e.startedAt,
    direction: e.direction ?? null,
  };
}

/** The `features.json` check an experiment recorded in its meta, or null (it produced no score to check). */
export function featureCheckOf(e: Pick<ExperimentRecord, 'meta'>): FeatureCheck | null {
  const fc = e.meta?.['featureCheck'] as Partial<FeatureCheck> | undefined;
  if (!fc || (fc.status !== 'checked' && fc.status !== 'not_checked')) return null;
  return { status: fc.status, reason: String(fc.reason ?? '') };
}

/** How many of a run's scored experiments had their `features.json` checked, and how many not. */
export function featureCheckCounts(exps: readonly Pick<ExperimentRecord, 'meta'>[]): {
  checked: number;
  not_checked: number;
} {
  const all = exps.map(featureCheckOf).filter((f): f is FeatureCheck => f !== null);
  const notChecked = all.filter((f) => f.status === 'not_checked').length;
  return { checked: all.length - notChecked, not_checked: notChecked };
}

/** The experiment running now, from the events (started but not yet finished or aborted). */
export function currentExperiment(
  journal: JournalReader,
  run: RunRecord,
): { id: number; seq: number; hypothesis: string; startedAt: string; elapsedMs: number } | null {
  if (run.status !== 'running') return null;
  // The newest of the three kinds only (the Studio asks on every snapshot; a run has two per experiment).
  const last = journal.latestEvent(['experiment.started', 'experiment.finished', 'experiment.aborted'], {
    runId: run.id,
  });
  if (last?.kind !== 'experiment.started') return null;
  const d = last.data ?? {};
  return {
    id: Number(d['id']),
    seq: Number(d['seq']),
    hypothesis: last.message,
    startedAt: last.ts,
    elapsedMs: Date.now() - Date.parse(last.ts),
  };
}

/** `ratchet status --json` (a type alias, so it is also a plain record for generic readers). */
export type StatusView = {
  project: string;
  task: string;
  metric: { name: string; direction: string };
  /** The project's open escalation (nothing runs until a person clears it), or null. */
  project_escalation: { at: string; run: string | null; message: string; clear: string } | null;
  /** The agents' token and cost usage in the project's budget period (`ratchet budget reset` opens a new one). */
  agent_budget: { period: number; tokens: number; cost_usd: number; calls: number };
} & (
  | { run: null }
  | {
      run: {
        id: string;
        status: string;
        active: boolean;
        branch: string;
        proposer: string;
        started_at: string;
        ended_at: string | null;
        reason: string | null;
        unsafe: boolean;
      };
      /**
       * Experiments by decision. `total` counts every experiment, the baseline included; `baseline` is 1 once
       * the baseline is kept; `kept` counts kept CHANGES after the baseline (the same number as the run's
       * closing line), so total = baseline + kept + reverted + crashed + timeout + invalid + rejected.
       */
      experiments: { total: number; baseline: number; kept: number } & Record<string, number>;
      baseline: number | null;
      best: { id: number; score: number | null; commit: string | null; hypothesis: string } | null;
      budgets: {
        max_experiments: number | null;
        experiments_left: number | null;
        max_wall_clock_s: number | null;
        elapsed_s: number;
      };
      current: ReturnType<typeof currentExperiment>;
      noise: { metric: string; kind: string; sd: number; mean: number; runs: number } | null;
      /** Whether the keep rule knows the run-to-run noise, and what that means, in one sentence. */
      noise_note: NoiseNote;
      submission: {
        experiment: number;
        public: number;
        private: number;
        gap: number;
        commit: string | null;
        at: string;
      } | null;
      escalations: { at: string; message: string }[];
      /** The leak check of the models' `features.json` over the run's scored experiments. */
      features: { checked: number; not_checked: number };
      /** Per direction in a run with several (docs/ARCHITECTURE.md, "Parallel directions"); null with one. */
      directions: DirectionSummary[] | null;
    }
);

/** What a lead needs to know about the keep rule's noise estimate (`measured` false: σ unknown or seed noise unseen). */
export interface NoiseNote {
  measured: boolean;
  /** One sentence, e.g. "noise not measured: gains below 0.0005 cannot be told from seed luck; run ratchet check". */
  text: string;
}

/**
 * Say plainly whether the run-to-run noise the keep rule uses is known.
 * @param noise the measurement the keep rule uses (varied-seed when there is one, else same-seed), or null
 * @param minDelta the contract's keep.min_delta, in metric units
 */
export function noiseNote(
  noise: { kind: string; sd: number; scores: number[] } | null,
  minDelta: number,
): NoiseNote {
  const runs = noise?.scores.length ?? 0;
  if (noise && runs >= 2 && noise.sd > 0) {
    return {
      measured: true,
      text: `noise sd ${noise.sd.toExponential(2)} over ${runs} ${noise.kind} runs: the keep rule is noise-aware`,
    };
  }
  if (noise && runs >= 2 && noise.kind === 'varied-seed') {
    return {
      measured: true,
      text: `noise sd 0 over ${runs} varied-seed runs: the baseline ignores its seed, so the keep rule is min_delta ${minDelta} and the paired bootstrap; re-run ratchet check when the model family changes`,
    };
  }
  const why = !noise
    ? 'noise not measured'
    : runs < 2
      ? `noise not measured (one ${noise.kind} run gives no sd)`
      : 'seed noise not measured (the same-seed runs agree exactly: deterministic)';
  return {
    measured: false,
    text: `${why}: gains below min_delta ${minDelta} are kept on min_delta alone and cannot be told from seed luck; run ratchet check`,
  };
}

/**
 * What `status` needs of an experiment: every field but the heavy ones (params, metrics, reason, files...); `meta`
 * holds the `features.json` check only. The Studio keeps these for a run instead of whole records.
 */
export type StatusExperiment = Pick<
  ExperimentRecord,
  'id' | 'seq' | 'decision' | 'score' | 'direction' | 'endedAt' | 'commitSha' | 'hypothesis' | 'meta'
>;

/** The part of an experiment record that {@link runStatusView} reads. */
export function statusExperiment(e: ExperimentRecord): StatusExperiment {
  const fc = featureCheckOf(e);
  return {
    id: e.id,
    seq: e.seq,
    decision: e.decision,
    score: e.score,
    direction: e.direction ?? null,
    endedAt: e.endedAt,
    commitSha: e.commitSha,
    hypothesis: e.hypothesis,
    meta: fc ? { featureCheck: fc } : null,
  };
}

/** `ratchet status --json`: where the latest (or given) run stands. */
export function statusView(journal: JournalReader, contract: Contract, runId?: string): StatusView {
  const run = journal.getRun(runId);
  if (!run) return { ...statusBase(journal, contract), run: null };
  return runStatusView(journal, contract, run, journal.listExperiments(run.id));
}

/** The project-wide part of `ratchet status --json` (project, metric, escalation, agent budget). */
function statusBase(journal: JournalReader, contract: Contract) {
  const esc = projectEscalation(journal);
  const ab = journal.agentBudget();
  return {
    project: contract.name,
    task: contract.task,
    metric: { name: contract.metric.primary, direction: contract.direction },
    project_escalation: esc
      ? { at: esc.at, run: esc.runId, message: esc.message, clear: CLEAR_COMMAND }
      : null,
    agent_budget: {
      period: ab.period,
      tokens: ab.inputTokens + ab.outputTokens,
      cost_usd: Math.round(ab.costUsd * 1e6) / 1e6,
      calls: ab.calls,
    },
  };
}

/**
 * `ratchet status --json` of one run, from its experiments as the caller has them (whole records, or the
 * {@link StatusExperiment} part a live reader keeps), oldest first.
 * @param current the running experiment when the caller already read it ({@link currentExperiment})
 */
export function runStatusView(
  journal: JournalReader,
  contract: Contract,
  run: RunRecord,
  exps: readonly StatusExperiment[],
  current: ReturnType<typeof currentExperiment> | undefined = undefined,
): StatusView {
  const base = statusBase(journal, contract);
  const counts: Record<string, number> = Object.fromEntries(DECISIONS.map((d) => [d, 0]));
  for (const e of exps) counts[e.decision] = (counts[e.decision] ?? 0) + 1;
  const baselineKept = exps[0]?.seq === 1 && exps[0].decision === 'kept' ? 1 : 0;
  // With several directions the best is the best of their bests (each direction's last keep).
  const best = bestKept(exps, contract.direction);
  const cfg = run.config as { maxExperiments?: number; maxWallClockMs?: number; directions?: number };
  const lanes = cfg.directions ?? 1;
  const directions = directionSummaries(
    run,
    exps,
    adoptionsOf(journal.listEvents({ runId: run.id, kinds: ['direction.adopted'] })),
  );
  const live = activeRun(contract.projectDir);
  const elapsedMs = runActiveMs(run, live?.runId === run.id);
  const submissions = journal.listSubmissions(run.id);
  const last = submissions[submissions.length - 1] ?? null;
  // The measurement the keep rule uses (src/loop/session.ts): varied seeds when measured, else the same seed.
  const noise =
    journal.latestNoise(contract.metric.primary, 'varied-seed') ??
    journal.latestNoise(contract.metric.primary, 'same-seed');
  return {
    ...base,
    run: {
      id: run.id,
      status: run.status,
      active: live?.runId === run.id,
      // Several directions: one branch each (ratchet/<run>/d1..dN).
      branch: lanes > 1 ? `${run.branch.replace(/\/d1$/, '')}/d1..d${lanes}` : run.branch,
      proposer: run.proposer,
      started_at: run.startedAt,
      ended_at: run.endedAt,
      reason: run.stopReason,
      unsafe: run.unsafe,
    },
    experiments: {
      total: exps.length,
      ...counts,
      baseline: baselineKept,
      kept: (counts['kept'] ?? 0) - baselineKept,
    },
    baseline: exps[0]?.score ?? null,
    best: best
      ? { id: best.id, score: best.score, commit: best.commitSha, hypothesis: best.hypothesis }
      : null,
    budgets: {
      max_experiments: cfg.maxExperiments ?? null,
      experiments_left:
        cfg.maxExperiments === undefined ? null : Math.max(0, cfg.maxExperiments - exps.length),
      max_wall_clock_s: cfg.maxWallClockMs === undefined ? null : cfg.maxWallClockMs / 1000,
      elapsed_s: Math.round(elapsedMs / 100) / 10,
    },
    current: current === undefined ? currentExperiment(journal, run) : current,
    noise: noise
      ? { metric: noise.metric, kind: noise.kind, sd: noise.sd, mean: noise.mean, runs: noise.scores.length }
      : null,
    noise_note: noiseNote(noise, contract.keep.min_delta),
    submission: last
      ? {
          experiment: last.experimentId,
          public: last.public,
          private: last.private,
          gap: last.gap,
          commit: last.commitSha,
          at: last.ts,
        }
      : null,
    escalations: journal
      .listEvents({ runId: run.id, kinds: ['escalation'] })
      .map((e) => ({ at: e.ts, message: e.message })),
    features: featureCheckCounts(exps),
    directions,
  };
}

/** `ratchet show <id> --json`: a log entry plus the trace. */
export type ShowView = LogEntry & {
  parent: string;
  best_before: number | null;
  sandbox: { status: string; message: string; exit_code: number | null; execute_s: number | null };
  trace_dir: string;
  /** Where the predictions are: `on disk`, or `predictions pruned by retention` (docs/ARCHITECTURE.md, "Retention"). */
  predictions: string;
  patch: string | null;
  stdout: string | null;
  stderr: string | null;
  events: ReturnType<Journal['listEvents']>;
  /** The leak check of the model's `features.json`; null when the experiment produced no score. */
  feature_check: FeatureCheck | null;
  /** Reported-only metrics undefined on the public holdout (name → why); they never fail an experiment. */
  undefined_metrics: Record<string, string>;
};

/** `ratchet show <id> --json`: an experiment with its patch and log tails. */
export function showView(journal: JournalReader, projectDir: string, id: number): ShowView | null {
  const e = journal.getExperiment(id);
  if (!e) return null;
  const dir = experimentDir(projectDir, id);
  const read = (f: string, max = 64 * 1024) => {
    const p = join(dir, f);
    if (!existsSync(p)) return null;
    const text = readFileSync(p, 'utf8');
    return text.length > max
      ? `${text.slice(0, max)}\n… (${text.length - max} more characters in ${p})`
      : text;
  };
  return {
    ...logEntry(e),
    parent: e.parentSha,
    best_before: e.bestBefore,
    sandbox: {
      status: e.sandboxStatus,
      message: e.sandboxMessage,
      exit_code: e.exitCode,
      execute_s: e.executeMs === null ? null : e.executeMs / 1000,
    },
    trace_dir: dir,
    predictions: existsSync(join(dir, PRUNED_NOTE)) ? 'predictions pruned by retention' : 'on disk',
    patch: read('patch.diff'),
    stdout: read('stdout.log', 16 * 1024),
    stderr: read('stderr.log', 16 * 1024),
    events: journal.listEvents({ experimentId: id }),
    feature_check: featureCheckOf(e),
    undefined_metrics: (e.meta?.['undefinedMetrics'] as Record<string, string> | undefined) ?? {},
  };
}

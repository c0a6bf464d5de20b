import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Contract } from '../contract/load.js';
import { AGENT_REFUSED_EVENT } from '../guardrails/refused.js';
import { GUARDRAILS } from '../guardrails/registry.js';
import { adoptionsOf, type DirectionSummary, directionSummaries } from '../journal/directions.js';
import { latestReviews, type ReviewRecord } from '../journal/reviews.js';
import {
  DECISIONS,
  type Decision,
  type EventRecord,
  type ExperimentRecord,
  type JournalReader,
  type NoiseRecord,
  type RunRecord,
} from '../journal/store.js';
import { featureCheckOf, type NoiseNote, noiseNote } from '../journal/views.js';
import { ROUNDING_TOLERANCE } from '../loop/baseline.js';
import { loadSearchSpace, type ParamSpace } from '../proposers/search/space.js';
import { RatchetError } from '../util/errors.js';
import type { DatasetFacts } from './dataset.js';
import { type HarnessFront, harnessFront } from './harness-front.js';
import type { ImportanceResult } from './importance.js';
import {
  type FamilyRow,
  familyParam,
  familyTable,
  type NextSteps,
  nextSteps,
  type SecondaryMetric,
  secondaryMetrics,
} from './insights.js';
import { type AlignmentSummary, alignmentSummary, type Tier2Item, tier2Items } from './tiers.js';
import type { WinnerPlot } from './winner.js';
import { gapText } from './words.js';

/**
 * The morning report's facts, computed from the journal alone (no network, no git): what ran, what was kept
 * and why, the progression, the biggest wins, the failure patterns, guardrail events, noise, the
 * public-private gap and the recommendation for review. `ratchet report --json` prints this object;
 * Markdown and HTML are renderings of it.
 */

/** Decisions that count as failures (no usable score). */
const FAILED: ReadonlySet<string> = new Set(['crashed', 'timeout', 'invalid', 'rejected']);

/** One experiment in the report's tables. */
export interface ReportExperiment {
  id: number;
  seq: number;
  decision: Decision;
  /** Public primary metric (null = no valid score). */
  score: number | null;
  /** Gain over the best before it, in the metric's direction (positive = better). */
  delta: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  probImprovement: number | null;
  hypothesis: string;
  conclusion: string | null;
  reason: string;
  commit: string | null;
  /** Whole experiment, seconds. */
  seconds: number;
  proposer: string;
  /** The direction (1-based) in a run with several, else null. */
  direction: number | null;
}

/** A group of failed experiments that failed the same way. */
export interface FailurePattern {
  /** crashed | timeout | invalid | rejected */
  decision: string;
  /** The shared cause, numbers and hashes blanked (`ValueError: Input contains NaN`). */
  pattern: string;
  count: number;
  /** Journal ids, oldest first (at most 20). */
  experiments: number[];
  /** One full reason, verbatim. */
  example: string;
}

/** Trips of one guardrail. */
export interface GuardrailSummary {
  guardrail: string;
  title: string | null;
  overridable: boolean | null;
  count: number;
  experiments: number[];
  /** The latest message. */
  example: string;
}

/** A private-holdout score with its gap. */
export interface ReportSubmission {
  experimentId: number;
  at: string;
  public: number;
  private: number;
  /** public − private in the metric's direction (positive = the public holdout flattered the model). */
  gap: number;
  /** |gap| in units of the measured noise sd (null without a noise measurement). */
  gapInNoiseSd: number | null;
  metrics: Record<string, number>;
  /** The standing review (latest), if any. */
  review: { decision: string; note: string; reviewer: string; at: string } | null;
}

/** What the report advises the reviewer to do. */
export interface Recommendation {
  /** promote | submit | review | reject | investigate | nothing */
  action: 'promote' | 'submit' | 'review' | 'reject' | 'investigate' | 'nothing';
  /** The experiment concerned, when there is one. */
  experimentId: number | null;
  /** One sentence. */
  headline: string;
  /** The evidence behind it, one fact per line. */
  reasons: string[];
  /** The command(s) to act on it. */
  next: string[];
}

/** Keys of the report's detail sections (data, metrics, families, importance, winner plot, next steps). */
export type ReportDetail = 'dataset' | 'secondary' | 'families' | 'importance' | 'winner' | 'nextSteps';

/** Everything `ratchet report` says about one run. */
export interface ReportData {
  generatedAt: string;
  project: { name: string; task: string; metric: string; direction: 'maximize' | 'minimize'; dir: string };
  run: {
    id: string;
    status: string;
    reason: string | null;
    branch: string;
    proposer: string;
    startedAt: string;
    endedAt: string | null;
    /** Wall clock of the run so far, seconds. */
    seconds: number;
    unsafe: boolean;
    /** Budgets the run started with (as recorded). */
    config: Record<string, unknown>;
  };
  /**
   * Experiments by decision: `total` includes the baseline, `baseline` is 1 once the baseline is kept, and
   * `kept` counts kept CHANGES after the baseline (as the run's closing line and `ratchet status` do).
   */
  counts: Record<Decision, number> & { total: number; baseline: number };
  baseline: number | null;
  best: ReportExperiment | null;
  /** best − baseline in the metric's direction (positive = better); null without both. */
  gain: number | null;
  /** Every experiment, oldest first, with the running best after it. */
  progression: (ReportExperiment & { runningBest: number | null })[];
  /** Kept experiments after the baseline, oldest first. */
  kept: ReportExperiment[];
  /** Up to five kept experiments with the largest gains. */
  wins: ReportExperiment[];
  /** Up to five reverted experiments that scored better than the best but not significantly. */
  nearMisses: ReportExperiment[];
  failures: FailurePattern[];
  /**
   * The leak check of the models' `features.json` over the scored experiments: how many were checked, and
   * the ones that were not (absent, too large, not JSON) with the why.
   */
  features: { checked: number; notChecked: { id: number; reason: string }[] };
  guardrails: GuardrailSummary[];
  escalations: { at: string; message: string }[];
  /** Other warnings and errors in the run's events (observer errors, MLflow errors, ...). */
  warnings: { kind: string; count: number; example: string }[];
  noise: {
    /** Latest measurement of each kind (same-seed, varied-seed) of the primary metric. */
    measurements: { kind: string; sd: number; mean: number; runs: number; commit: string; at: string }[];
    minDelta: number;
    noiseZ: number | null;
    /** Best − baseline in units of the largest noise sd (null without a measurement or without a gain). */
    gainInNoiseSd: number | null;
    /** Whether the keep rule knew the run-to-run noise, in one sentence (see noiseNote). */
    note: NoiseNote;
  };
  submissions: ReportSubmission[];
  /** Tier 2 of a bandit task: the evidence `ratchet submit` recorded for each submitted policy of the run. */
  tier2: Tier2Item[];
  /**
   * Tier 3: the offline–online alignment of the project's imported A/B tests with its experiments (every run's),
   * as `ratchet align` reports it with its defaults; null when no A/B test was imported.
   */
  alignment: AlignmentSummary | null;
  /** The directions of a run with several (docs/ARCHITECTURE.md, "Parallel directions"); null with one. */
  directions: DirectionSummary[] | null;
  /**
   * A harness task: each scored experiment's public task_score against the contract's cost metric, with the run's
   * Pareto front and the current best (see harness-front.ts); null for any other task.
   */
  harness: HarnessFront | null;
  reviews: ReviewRecord[];
  timing: {
    /** Mean wall clock of an experiment, seconds. */
    meanExperimentSeconds: number | null;
    /** Share of experiment time spent in the sandboxed command (0..1). */
    executeShare: number | null;
  };
  recommendation: Recommendation;
  /** The data and its splits (null until {@link ReportData} is completed by `writeReport`, or without a split). */
  dataset: DatasetFacts | null;
  /** The best kept experiment's public metrics against the baseline's (empty without both). */
  secondary: SecondaryMetric[];
  /** Best public score per model family (null when the search space has no family parameter). */
  families: { param: string; rows: FamilyRow[] } | null;
  /** Which parameters mattered (fANOVA over the run's trials); null until computed by `writeReport`. */
  importance: ImportanceResult | null;
  /** The winner's public-holdout plot (ROC/PR, OvR ROC, residuals); null until computed by `writeReport`. */
  winner: WinnerPlot | null;
  /** Suggestions after a plateau (no items when the run did not stall). */
  nextSteps: NextSteps;
}

/** The search space and the baseline's params of a project, as far as they can be read (null otherwise). */
export function searchContext(contract: Contract): {
  space: ParamSpace | null;
  baselineParams: Record<string, unknown> | null;
} {
  const search = contract.search;
  if (!search) return { space: null, baselineParams: null };
  let space: ParamSpace | null = null;
  try {
    space = loadSearchSpace(join(contract.projectDir, search.space)).space;
  } catch {
    space = null;
  }
  let baselineParams: Record<string, unknown> | null = null;
  const pf = join(contract.projectDir, search.params_file);
  try {
    if (existsSync(pf)) {
      const doc = parseYaml(readFileSync(pf, 'utf8'), { version: '1.1' }) as unknown;
      if (doc && typeof doc === 'object' && !Array.isArray(doc))
        baselineParams = doc as Record<string, unknown>;
    }
  } catch {
    baselineParams = null;
  }
  return { space, baselineParams };
}

/** Experiments without a kept change that count as a stall for the next-steps list. */
export function plateauWindow(contract: Contract): number {
  const p = (contract.suspicion as { plateau?: number }).plateau ?? 20;
  return p > 0 ? Math.min(p, 10) : 10;
}

function toReportExperiment(e: ExperimentRecord): ReportExperiment {
  return {
    id: e.id,
    seq: e.seq,
    decision: e.decision,
    score: e.score,
    delta: e.delta,
    ciLow: e.ciLow,
    ciHigh: e.ciHigh,
    probImprovement: e.probImprovement,
    hypothesis: e.hypothesis,
    conclusion: e.conclusion,
    reason: e.reason,
    commit: e.commitSha,
    seconds: Math.round(e.durationMs) / 1000,
    proposer: e.proposer,
    direction: e.direction ?? null,
  };
}

/**
 * Reduce a failure reason to its pattern: the crash's last stderr line (after " — ") when there is one,
 * numbers, hashes, temporary paths and quoted values blanked, at most 160 characters.
 */
export function failurePattern(decision: string, reason: string): string {
  let r = reason;
  const dash = r.lastIndexOf(' — ');
  if (decision === 'crashed' && dash >= 0) r = r.slice(dash + 3);
  r = r
    .replace(/\b[0-9a-f]{7,40}\b/g, '<sha>')
    .replace(/(\/[\w.@+-]+)+\/?/g, (p) => (p.split('/').length > 2 ? '<path>' : p))
    .replace(/"[^"]{0,200}"/g, '"…"')
    .replace(/'[^']{0,200}'/g, "'…'")
    .replace(/[-+]?\d+(\.\d+)?(e[-+]?\d+)?/gi, 'N')
    .replace(/\s+/g, ' ')
    .trim();
  return r.length > 160 ? `${r.slice(0, 159)}…` : r;
}

/** Group failed experiments by decision and pattern, largest groups first. */
export function failurePatterns(exps: ExperimentRecord[]): FailurePattern[] {
  const groups = new Map<string, FailurePattern>();
  for (const e of exps) {
    if (!FAILED.has(e.decision)) continue;
    const pattern = failurePattern(e.decision, e.reason);
    const key = `${e.decision}\u0000${pattern}`;
    const g = groups.get(key);
    if (g) {
      g.count++;
      if (g.experiments.length < 20) g.experiments.push(e.id);
    } else {
      groups.set(key, { decision: e.decision, pattern, count: 1, experiments: [e.id], example: e.reason });
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.experiments[0]! - b.experiments[0]!);
}

/** The `features.json` checks of a run's experiments (those that produced no score have none). */
export function featureSummary(exps: ExperimentRecord[]): ReportData['features'] {
  const out: ReportData['features'] = { checked: 0, notChecked: [] };
  for (const e of exps) {
    const fc = featureCheckOf(e);
    if (fc?.status === 'checked') out.checked++;
    else if (fc) out.notChecked.push({ id: e.id, reason: fc.reason });
  }
  return out;
}

/** Group guardrail events (and an agent's refused tool calls) by guardrail id, most frequent first. */
export function guardrailSummary(events: EventRecord[]): GuardrailSummary[] {
  const groups = new Map<string, GuardrailSummary>();
  for (const ev of events) {
    if ((ev.kind !== 'guardrail' && ev.kind !== AGENT_REFUSED_EVENT) || !ev.guardrail) continue;
    const g = groups.get(ev.guardrail);
    const def = GUARDRAILS[ev.guardrail];
    if (g) {
      g.count++;
      g.example = ev.message;
      if (ev.experimentId !== null && g.experiments.length < 20 && !g.experiments.includes(ev.experimentId))
        g.experiments.push(ev.experimentId);
    } else {
      groups.set(ev.guardrail, {
        guardrail: ev.guardrail,
        title: def?.title ?? null,
        overridable: def?.overridable ?? null,
        count: 1,
        experiments: ev.experimentId === null ? [] : [ev.experimentId],
        example: ev.message,
      });
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

/** Latest noise measurement of each kind for a metric. */
function noiseOf(journal: JournalReader, metric: string): NoiseRecord[] {
  return ['same-seed', 'varied-seed']
    .map((k) => journal.latestNoise(metric, k))
    .filter((n): n is NoiseRecord => n !== null);
}

/**
 * Compute the report of a run from the journal.
 * @param runId the run (default: the latest)
 * @throws RatchetError when the journal has no such run (or no run at all)
 */
export function buildReport(journal: JournalReader, contract: Contract, runId?: string): ReportData {
  const run: RunRecord | null = journal.getRun(runId);
  if (!run) {
    throw new RatchetError(runId ? `no run ${runId} in the journal` : 'no run yet', {
      field: runId ? '--run' : undefined,
      file: '.ratchet/ratchet.db',
      hint: runId ? 'see `ratchet status` for run ids' : 'start one with `ratchet run`',
    });
  }
  const metric = contract.metric.primary;
  const direction = contract.direction;
  const better = (a: number, b: number) => (direction === 'maximize' ? a > b : a < b);
  const exps = journal.listExperiments(run.id);
  const events = journal.listEvents({ runId: run.id });
  const counts = Object.fromEntries(DECISIONS.map((d) => [d, 0])) as Record<Decision, number>;
  for (const e of exps) counts[e.decision]++;
  const baselineKept = exps[0]?.seq === 1 && exps[0].decision === 'kept' ? 1 : 0;
  counts.kept -= baselineKept;
  const baseline = exps[0]?.decision === 'kept' ? (exps[0].score ?? null) : null;
  let bestRec: ExperimentRecord | null = null;
  let running: number | null = null;
  const progression: ReportData['progression'] = [];
  for (const e of exps) {
    if (e.decision === 'kept' && e.score !== null && (running === null || better(e.score, running))) {
      running = e.score;
      bestRec = e;
    }
    progression.push({ ...toReportExperiment(e), runningBest: running });
  }
  const best = bestRec === null ? null : toReportExperiment(bestRec);
  const sign = direction === 'maximize' ? 1 : -1;
  const gain = best && baseline !== null && best.score !== null ? sign * (best.score - baseline) : null;
  const kept = exps.filter((e) => e.decision === 'kept' && e.seq > 1).map(toReportExperiment);
  const wins = [...kept].sort((a, b) => (b.delta ?? 0) - (a.delta ?? 0)).slice(0, 5);
  const nearMisses = exps
    .filter((e) => e.decision === 'reverted' && (e.delta ?? 0) > 0)
    .sort((a, b) => (b.delta ?? 0) - (a.delta ?? 0))
    .slice(0, 5)
    .map(toReportExperiment);

  const noise = noiseOf(journal, metric);
  const maxSd = noise.length ? Math.max(...noise.map((n) => n.sd)) : null;
  const inSd = (v: number | null) =>
    v === null || maxSd === null || !(maxSd > ROUNDING_TOLERANCE) ? null : Math.abs(v) / maxSd;
  const reviews = journal.listReviews(run.id);
  const standing = latestReviews(reviews);
  const submissions: ReportSubmission[] = journal.listSubmissions(run.id).map((s) => {
    const r = standing.get(s.experimentId);
    return {
      experimentId: s.experimentId,
      at: s.ts,
      public: s.public,
      private: s.private,
      gap: s.gap,
      gapInNoiseSd: inSd(s.gap),
      metrics: s.metrics,
      review: r ? { decision: r.decision, note: r.note, reviewer: r.reviewer, at: r.ts } : null,
    };
  });

  const warnMap = new Map<string, { kind: string; count: number; example: string }>();
  for (const ev of events) {
    if (ev.kind === 'guardrail' || ev.kind === AGENT_REFUSED_EVENT) continue;
    if (ev.kind === 'escalation' || ev.kind.startsWith('run.')) continue;
    if (ev.severity === 'info') continue;
    if (ev.kind === 'experiment.aborted') continue;
    const w = warnMap.get(ev.kind);
    if (w) {
      w.count++;
      w.example = ev.message;
    } else warnMap.set(ev.kind, { kind: ev.kind, count: 1, example: ev.message });
  }
  const totalMs = exps.reduce((a, e) => a + e.durationMs, 0);
  const execMs = exps.reduce((a, e) => a + (e.executeMs ?? 0), 0);
  const endMs = run.endedAt ? Date.parse(run.endedAt) : Date.now();
  const cfgKeep = contract.keep as { min_delta: number; noise_z?: number };

  const data: Omit<ReportData, 'recommendation' | ReportDetail> = {
    generatedAt: new Date().toISOString(),
    project: { name: contract.name, task: contract.task, metric, direction, dir: contract.projectDir },
    run: {
      id: run.id,
      status: run.status,
      reason: run.stopReason,
      branch: run.branch,
      proposer: run.proposer,
      startedAt: run.startedAt,
      endedAt: run.endedAt,
      seconds: Math.round((endMs - Date.parse(run.startedAt)) / 100) / 10,
      unsafe: run.unsafe,
      config: run.config,
    },
    counts: { ...counts, total: exps.length, baseline: baselineKept },
    baseline,
    best,
    gain,
    progression,
    directions: directionSummaries(run, exps, adoptionsOf(events)),
    kept,
    wins,
    nearMisses,
    failures: failurePatterns(exps),
    features: featureSummary(exps),
    guardrails: guardrailSummary(events),
    escalations: events.filter((e) => e.kind === 'escalation').map((e) => ({ at: e.ts, message: e.message })),
    warnings: [...warnMap.values()].sort((a, b) => b.count - a.count),
    noise: {
      measurements: noise.map((n) => ({
        kind: n.kind,
        sd: n.sd,
        mean: n.mean,
        runs: n.scores.length,
        commit: n.commitSha,
        at: n.ts,
      })),
      minDelta: cfgKeep.min_delta,
      noiseZ: cfgKeep.noise_z ?? null,
      gainInNoiseSd: inSd(gain),
      note: noiseNote(
        journal.latestNoise(metric, 'varied-seed') ?? journal.latestNoise(metric, 'same-seed'),
        cfgKeep.min_delta,
      ),
    },
    submissions,
    tier2: tier2Items(events),
    alignment: alignmentSummary(journal.listAbTests(), journal.listExperiments()),
    harness:
      contract.task === 'harness' && contract.harness
        ? harnessFront(exps, contract.harness.keep, direction)
        : null,
    reviews,
    timing: {
      meanExperimentSeconds: exps.length ? Math.round(totalMs / exps.length) / 1000 : null,
      executeShare: totalMs > 0 ? Math.round((execMs / totalMs) * 1000) / 1000 : null,
    },
  };
  const { space, baselineParams } = searchContext(contract);
  const fam = familyParam(space);
  const extra = {
    dataset: null,
    secondary: secondaryMetrics(exps[0]?.decision === 'kept' ? exps[0] : null, bestRec, {
      primary: metric,
      also: contract.metric.also ?? [],
      task: contract.task,
      primaryDirection: direction,
    }),
    families: fam ? { param: fam, rows: familyTable(exps, fam, direction, baselineParams) } : null,
    importance: null,
    winner: null,
    nextSteps: nextSteps({
      exps,
      stopReason: run.stopReason,
      window: plateauWindow(contract),
      space,
      direction,
      proposer: run.proposer,
      importance: null,
      baselineParams,
    }),
  };
  return { ...data, ...extra, recommendation: recommend(data) };
}

const f6 = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toFixed(6));

/**
 * The recommendation for review, from the facts: promote a submitted best whose private score holds up,
 * submit a best that has not been scored privately, reject one the private holdout contradicts, flag
 * escalations and unsandboxed runs, or say that nothing beat the baseline.
 */
export function recommend(d: Omit<ReportData, 'recommendation' | ReportDetail>): Recommendation {
  const reasons: string[] = [];
  const m = d.project.metric;
  if (d.run.unsafe)
    reasons.push('the run was NOT sandboxed (--unsafe-no-sandbox): treat every score with suspicion');
  for (const e of d.escalations) reasons.push(`escalated: ${e.message}`);
  if (d.run.status === 'running') reasons.push('the run is still going: this is an interim report');
  const best = d.best;
  if (!best || best.score === null) {
    return {
      action: 'investigate',
      experimentId: null,
      headline: 'No scored baseline: nothing to review.',
      reasons: [...reasons, ...d.failures.slice(0, 3).map((f) => `${f.count}× ${f.decision}: ${f.pattern}`)],
      next: ['ratchet log', 'ratchet show <id>'],
    };
  }
  if (best.seq === 1) {
    return {
      action: 'nothing',
      experimentId: best.id,
      headline: `Nothing beat the baseline (${m} ${f6(best.score)}) significantly: keep the current code.`,
      reasons: [
        ...reasons,
        `${d.counts.total} experiments: ${d.counts.reverted} reverted, ${d.counts.total - (d.counts.baseline ?? 0) - d.counts.kept - d.counts.reverted} failed`,
        ...d.nearMisses
          .slice(0, 2)
          .map((e) => `near miss #${e.id}: ${f6(e.score)} (${e.delta?.toFixed(6)}), not significant`),
      ],
      next: ['ratchet log', 'ratchet run  (a new run, perhaps with a wider search space)'],
    };
  }
  const gainText =
    d.gain === null
      ? ''
      : ` (+${d.gain.toFixed(6)} over the baseline${d.noise.gainInNoiseSd === null ? '' : `, ${d.noise.gainInNoiseSd.toFixed(1)}× the noise sd`})`;
  reasons.unshift(`best kept: #${best.id} ${m} ${f6(best.score)}${gainText}: ${best.hypothesis}`);
  const sub = d.submissions.filter((s) => s.experimentId === best.id).pop();
  if (!sub) {
    return {
      action: 'submit',
      experimentId: best.id,
      headline: `Submit #${best.id} to the private holdout before deciding.`,
      reasons: [...reasons, 'its private-holdout score is not known yet'],
      next: [`ratchet submit --run ${d.run.id}`, `ratchet review ${best.id} --promote|--reject --note "..."`],
    };
  }
  const sd = d.noise.measurements.length ? Math.max(...d.noise.measurements.map((n) => n.sd)) : null;
  const tolerance = Math.max(d.noise.minDelta, sd === null ? 0 : 3 * sd, d.gain === null ? 0 : d.gain / 2);
  reasons.push(
    `private ${f6(sub.private)} vs public ${f6(sub.public)}: ${gapText(sub.gap, 6)} (a worsening is tolerated up to ${tolerance.toFixed(6)}: max of min_delta, 3× noise sd, half the gain)`,
  );
  if (sub.review) {
    reasons.push(`reviewed: ${sub.review.decision} by ${sub.review.reviewer}: ${sub.review.note}`);
    return {
      action: sub.review.decision === 'promote' ? 'promote' : 'reject',
      experimentId: best.id,
      headline: `#${best.id} was ${sub.review.decision === 'promote' ? 'promoted' : 'rejected'} by ${sub.review.reviewer}.`,
      reasons,
      next:
        sub.review.decision === 'promote'
          ? [`git merge ${best.commit ?? d.run.branch}`]
          : [`ratchet review ${best.id} --promote --note "..."  (to change the decision)`],
    };
  }
  const overfit = sub.gap > tolerance;
  if (overfit || d.escalations.length > 0 || d.run.unsafe) {
    return {
      action: overfit ? 'reject' : 'review',
      experimentId: best.id,
      headline: overfit
        ? `Reject #${best.id}: the private holdout does not confirm the public gain.`
        : `Review #${best.id} by hand before promoting it (see the warnings).`,
      reasons,
      next: [`ratchet show ${best.id}`, `ratchet review ${best.id} --promote|--reject --note "..."`],
    };
  }
  return {
    action: 'promote',
    experimentId: best.id,
    headline: `Promote #${best.id}: the private holdout confirms it.`,
    reasons,
    next: [
      `ratchet review ${best.id} --promote --note "..."`,
      `git merge ${best.commit ? best.commit.slice(0, 12) : d.run.branch}`,
    ],
  };
}

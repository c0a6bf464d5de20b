import type { Contract } from '../contract/load.js';
import { latestReviews, type ReviewRecord } from '../journal/reviews.js';
import type { EventRecord, Journal, JournalReader, SubmissionRecord } from '../journal/store.js';
import { currentExperiment, type LogEntry, runStatusView, showView } from '../journal/views.js';
import { activeRun, runActiveMs } from '../loop/control.js';
import { FAILURES } from '../loop/tally.js';
import { scoreChart } from '../report/chart.js';
import { harnessChart } from '../report/harness-chart.js';
import { type HarnessFront, harnessFront } from '../report/harness-front.js';
import { alignmentChart, evidenceChart } from '../report/tier-charts.js';
import {
  type AlignmentSummary,
  alignmentFacts,
  alignmentSummary,
  type Tier2Item,
  tier2Items,
} from '../report/tiers.js';
import { type FinalizedBranch, finalizedBranches } from '../tiers/finalize-view.js';
import { type MlflowHealth, mlflowHealth } from '../tracking/health.js';
import { sha256 } from '../util/fs.js';
import { type LiveExperiment, liveExperiment } from './extras.js';
import { type RunHistory, reviewKey, runHistory } from './history.js';

/**
 * What the Studio page shows, computed from the journal: one JSON snapshot per change (sent over
 * Server-Sent Events), and one detail object per experiment.
 */

/** Event kinds worth a person's attention (the rest is lifecycle noise). */
export const NOTABLE_EVENTS = [
  'guardrail',
  'escalation',
  'submission',
  'tier2',
  'review',
  'mlflow.error',
  'mlflow.recovered',
  'observer.error',
  'experiment.aborted',
  'finalize',
  'finalize.replaced',
  'stop.requested',
  'run.started',
  'run.finished',
  'run.stopped',
  'run.escalated',
  'run.failed',
];

/**
 * How many experiment rows a snapshot carries at most: the run's newest by id. The table loads older ones page by
 * page (`GET /api/experiments`, see {@link studioExperimentsPage}); at 5,000 experiments every row made a 6 MB
 * snapshot, sent again on every change of the run.
 */
export const SNAPSHOT_ROWS = 500;

/** The rows of a page of `GET /api/experiments` when the request names no `limit`. */
export const PAGE_ROWS = 500;

/** The most rows one page of `GET /api/experiments` may ask for. */
export const MAX_PAGE_ROWS = 5000;

/** One row of the Studio's experiment table. */
export type StudioExperiment = LogEntry & {
  /** Private-holdout primary metric when the experiment was submitted. */
  private: number | null;
  /** The standing review decision, when reviewed. */
  review: 'promote' | 'reject' | null;
};

/** Tier 3 as the Studio shows it: `ratchet align`'s report, its facts in words and the scatter plot (SVG). */
export type StudioAlignment = AlignmentSummary & {
  /** The numbers in words (the report's list: pairs, sign agreement, τ, ρ, slope, threshold). */
  facts: { label: string; value: string }[];
  /** The offline–online scatter (see alignmentChart); '' without a pair. */
  chart: string;
};

/** A harness run's score against cost with its Pareto front (see harnessFront) and the scatter (SVG, see harnessChart). */
export type StudioHarness = HarnessFront & { chart: string };

/** A submitted bandit policy's tier-2 evidence with its interval chart (SVG, see evidenceChart). */
export type StudioTier2 = Tier2Item & { chart: string };

/**
 * A finalized branch of the run (docs/ARCHITECTURE.md, "Finalize") with what its promotion needs: the review is
 * recorded on `reviewExperiment`, which must have been submitted, and only a branch that holds alone is promoted.
 */
export type StudioFinal = FinalizedBranch & {
  /** Its review experiment was scored on the private holdout. */
  submitted: boolean;
  /** The standing review of its review experiment, when reviewed. */
  review: 'promote' | 'reject' | null;
  /** Why it cannot be promoted now, or null. */
  blocked: string | null;
};

/** The Studio's live snapshot of one run. */
export interface StudioState {
  project: { name: string; task: string; metric: string; direction: 'maximize' | 'minimize' };
  /** Every run, newest first. */
  runs: { id: string; status: string; startedAt: string; endedAt: string | null; proposer: string }[];
  /** The run shown (null before the first run). */
  run: string | null;
  /** `ratchet status --json` of that run (see statusView). */
  status: Record<string, unknown> | null;
  /**
   * The run's newest experiments (at most {@link SNAPSHOT_ROWS}, the highest ids), by ascending id; the older ones
   * through `GET /api/experiments` ({@link studioExperimentsPage}).
   */
  experiments: StudioExperiment[];
  /** How many experiments the run has in all (`experiments` holds the newest of them). */
  experimentsTotal: number;
  /**
   * Changes whenever a row may have changed other than by being added: a conclusion set later, a private score, a
   * review. The page then reads again the older rows it loaded (`GET /api/experiments`), which no snapshot carries.
   */
  rowsKey: string;
  /**
   * The median duration of the run's experiments, ms, over every one of them (not only the rows sent), rows of 0 ms
   * left out: the page's ETA. Null when there is none.
   */
  medianDurationMs: number | null;
  /** Notable events of the run, newest first (at most 300). */
  events: EventRecord[];
  submissions: SubmissionRecord[];
  reviews: ReviewRecord[];
  budgets: {
    experiments: { used: number; max: number | null };
    /** ms */
    wallClock: { elapsedMs: number; maxMs: number | null };
    failures: { consecutive: number; max: number | null };
  };
  /** The experiment running now (null when none), with its phase and log tails. */
  current:
    | ({ id: number; seq: number; hypothesis: string; startedAt: string; elapsedMs: number } & {
        live: LiveExperiment;
      })
    | null;
  /** The score chart as an SVG string (see scoreChart). */
  chart: string;
  /** Changes whenever anything shown changes. */
  version: string;
  /** ISO time the snapshot was taken (the page ticks elapsed times from it). */
  serverTime: string;
  /** The MLflow tracking server's last known reachability (null: never failed, or not used); a banner when down. */
  mlflow: MlflowHealth | null;
  /** Tier 3: the alignment of the project's imported A/B tests with its experiments (null: none imported). */
  alignment: StudioAlignment | null;
  /** Harness tasks: where each experiment of the run landed on score and cost, and the Pareto front (else null). */
  harness: StudioHarness | null;
  /** Tier 2 (bandit tasks): the evidence of the run's submitted policies, oldest submission first. */
  tier2: StudioTier2[];
  /** The run's finalized branches (`ratchet finalize`, its latest batch), in branch order. */
  finalized: StudioFinal[];
}

/**
 * A cheap fingerprint of everything the snapshot shows: it changes when an event, experiment, conclusion,
 * submission or run status changes. The Studio polls it and rebuilds the snapshot only on change.
 */
export function journalVersion(journal: JournalReader): string {
  return journal.changeStamp();
}

/**
 * The state of a project with no run to show yet (no journal, or no run in it): the project, the runs list,
 * empty tables and an empty chart.
 * @param version the journal version the page compares ('no-journal' before the journal exists)
 */
export function emptyState(contract: Contract, runs: StudioState['runs'], version: string): StudioState {
  const project = {
    name: contract.name,
    task: contract.task,
    metric: contract.metric.primary,
    direction: contract.direction,
  };
  return {
    project,
    runs,
    run: null,
    status: null,
    experiments: [],
    experimentsTotal: 0,
    rowsKey: '',
    medianDurationMs: null,
    events: [],
    submissions: [],
    reviews: [],
    budgets: {
      experiments: { used: 0, max: null },
      wallClock: { elapsedMs: 0, maxMs: null },
      failures: { consecutive: 0, max: null },
    },
    current: null,
    chart: scoreChart({ points: [], metric: project.metric, direction: project.direction }),
    version,
    serverTime: new Date().toISOString(),
    mlflow: null,
    alignment: null,
    harness: null,
    tier2: [],
    finalized: [],
  };
}

/** The last alignment computed for each open journal, with the stamp it was computed at. */
const alignmentCache = new WeakMap<object, { stamp: string; value: StudioAlignment | null }>();

/**
 * The alignment the Studio shows, recomputed only when the journal's A/B tests or experiments changed
 * (`alignmentStamp`): its bootstrap intervals cost far more than a snapshot, which is rebuilt on every change (a
 * log line of the running experiment included). The same object is returned while nothing changed. Without A/B
 * tests there is nothing to align and the experiments are not read (every run's whole records: ~300 ms at 5,000).
 */
export function studioAlignment(journal: JournalReader): StudioAlignment | null {
  const stamp = journal.alignmentStamp();
  const hit = alignmentCache.get(journal);
  if (hit && hit.stamp === stamp) return hit.value;
  const tests = journal.listAbTests();
  const a = tests.length > 0 ? alignmentSummary(tests, journal.listExperiments()) : null;
  const value = a
    ? { ...a, facts: alignmentFacts(a), chart: a.points.length ? alignmentChart(a) : '' }
    : null;
  alignmentCache.set(journal, { stamp, value });
  return value;
}

/** The last harness front computed for each open journal, with the run and stamp it was computed for. */
const harnessCache = new WeakMap<object, { key: string; value: StudioHarness | null }>();

/**
 * The harness panel of a run: null unless the task is a harness. Recomputed only when the journal's experiments
 * change (`experimentsStamp`) or another run is shown, not on every snapshot (one comes with every log line of the
 * running experiment); the same object is returned while nothing changed.
 */
export function studioHarness(
  journal: JournalReader,
  contract: Contract,
  runId: string,
): StudioHarness | null {
  if (contract.task !== 'harness' || !contract.harness) return null;
  const keep = contract.harness.keep;
  const key = `${runId}\u0000${journal.experimentsStamp()}\u0000${keep.cost_metric}\u0000${keep.cost_ceiling ?? ''}`;
  const hit = harnessCache.get(journal);
  if (hit && hit.key === key) return hit.value;
  const front = harnessFront(journal.listExperiments(runId), keep, contract.direction);
  const value = { ...front, chart: harnessChart(front, { width: 900, height: 420, interactive: true }) };
  harnessCache.set(journal, { key, value });
  return value;
}

/**
 * The score chart of a run's history (see scoreChart), every experiment of the run (those older than the snapshot's
 * newest {@link SNAPSHOT_ROWS} rows as compact marks), drawn again only when the experiments, the private scores, the
 * running experiment or the x axis's extent changed.
 * @returns the SVG, and the same as a JSON string (what the snapshot's text holds: escaped once per drawing, not
 *   once per snapshot)
 */
function chartOf(
  history: RunHistory,
  project: { metric: string; direction: 'maximize' | 'minimize' },
  priv: ReadonlyMap<number, number>,
  runningSeq: number | null,
  maxSeq: number | null,
): { svg: string; json: string } {
  // The marks older than the snapshot's rows are drawn compact (no hypothesis, not focusable): every experiment is
  // still drawn and clickable, in about half the markup (~250 bytes a mark instead of ~500 at 5,000 experiments).
  const compactBefore = history.newestFrom(SNAPSHOT_ROWS);
  const key = `${project.metric}|${project.direction}|${runningSeq}|${maxSeq}|${compactBefore}|${[...priv].join(';')}`;
  const svg = history.cached('chart', key, () =>
    scoreChart({
      points: history.points(),
      metric: project.metric,
      direction: project.direction,
      private: new Map(priv),
      runningSeq,
      maxSeq,
      width: 900,
      height: 300,
      interactive: true,
      marks: history.marks,
      compactBefore,
    }),
  );
  return { svg, json: history.cached('chart.json', key, () => JSON.stringify(svg)) };
}

/** A snapshot without its experiment rows, and where the rows come from (null: no run, no rows). */
interface Snapshot {
  head: Omit<StudioState, 'experiments'>;
  history: RunHistory | null;
  priv: Map<number, number>;
  standing: Map<number, ReviewRecord>;
  /** `head.chart` as a JSON string. */
  chartJson: string;
}

/**
 * The snapshot of a run (default: the latest), from the run's history kept for this journal connection
 * (see runHistory): only what the journal added since the last snapshot is read.
 */
function snapshot(journal: JournalReader, contract: Contract, runId?: string): Snapshot {
  const runs = journal
    .listRuns()
    .reverse()
    .map((r) => ({
      id: r.id,
      status: r.status,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      proposer: r.proposer,
    }));
  const run = journal.getRun(runId);
  const project = {
    name: contract.name,
    task: contract.task,
    metric: contract.metric.primary,
    direction: contract.direction,
  };
  const serverTime = new Date().toISOString();
  const version = journalVersion(journal);
  const mlflow = mlflowHealth(journal);
  const alignment = studioAlignment(journal);
  const priv = new Map<number, number>();
  if (!run) {
    const { experiments: _, ...head } = { ...emptyState(contract, runs, version), mlflow, alignment };
    return { head, history: null, priv, standing: new Map(), chartJson: JSON.stringify(head.chart) };
  }
  const history = runHistory(journal, run.id);
  const facts = history.facts();
  const submissions = journal.listSubmissions(run.id);
  const reviews = journal.listReviews(run.id);
  const standing = latestReviews(reviews);
  for (const s of submissions) priv.set(s.experimentId, s.private);
  const cfg = run.config as {
    maxExperiments?: number;
    maxWallClockMs?: number;
    maxConsecutiveFailures?: number;
  };
  let consecutive = 0;
  for (let i = facts.length - 1; i >= 0 && FAILURES.has(facts[i]!.decision); i--) consecutive++;
  const started = currentExperiment(journal, run);
  const current = started ? { ...started, live: liveExperiment(contract.projectDir, started.id) } : null;
  // While running, the x axis spans the experiment budget (progress at a glance); after, the experiments.
  const maxSeq =
    run.status === 'running' && cfg.maxExperiments && cfg.maxExperiments <= 200 ? cfg.maxExperiments : null;
  const elapsedMs = runActiveMs(run, activeRun(contract.projectDir)?.runId === run.id);
  const events = journal.listEvents({ runId: run.id, kinds: NOTABLE_EVENTS, last: 300 }).reverse();
  const chart = chartOf(history, project, priv, current?.seq ?? null, maxSeq);
  const head: Omit<StudioState, 'experiments'> = {
    project,
    runs,
    run: run.id,
    status: runStatusView(journal, contract, run, facts, started),
    experimentsTotal: history.size,
    // A digest: every private score and standing review of the run, sent in each snapshot, would grow with them.
    rowsKey: `${history.replaced}|${sha256(reviewKey(priv, standing)).slice(0, 16)}`,
    medianDurationMs: history.medianDurationMs(),
    events,
    submissions,
    reviews,
    budgets: {
      experiments: { used: facts.length, max: cfg.maxExperiments ?? null },
      wallClock: { elapsedMs, maxMs: cfg.maxWallClockMs ?? null },
      failures: { consecutive, max: cfg.maxConsecutiveFailures ?? null },
    },
    current,
    chart: chart.svg,
    version,
    serverTime,
    mlflow,
    alignment,
    harness: studioHarness(journal, contract, run.id),
    tier2: tier2Items(journal.listEvents({ runId: run.id, kinds: ['tier2'] })).map((t) => ({
      ...t,
      chart: evidenceChart(t.evidence),
    })),
    finalized: finalizedBranches(journal, run.id).map((b) => {
      const submitted = priv.has(b.reviewExperiment);
      return {
        ...b,
        submitted,
        review: standing.get(b.reviewExperiment)?.decision ?? null,
        blocked: !b.holds
          ? `${b.verdict}: only a branch that holds by itself is promoted`
          : !submitted
            ? `its experiment #${b.reviewExperiment} was not scored on the private holdout (ratchet submit scores the run's best only)`
            : null,
      };
    }),
  };
  return { head, history, priv, standing, chartJson: chart.json };
}

/**
 * The order of a snapshot's fields (as {@link studioState} builds it; {@link studioStateJson} writes it so). A record
 * over every key of StudioState: a field added to the snapshot and missing here does not compile (it would silently
 * never reach the page).
 */
const FIELD_ORDER: Record<keyof StudioState, true> = {
  project: true,
  runs: true,
  run: true,
  status: true,
  experiments: true,
  experimentsTotal: true,
  rowsKey: true,
  medianDurationMs: true,
  events: true,
  submissions: true,
  reviews: true,
  budgets: true,
  current: true,
  chart: true,
  version: true,
  serverTime: true,
  mlflow: true,
  alignment: true,
  harness: true,
  tier2: true,
  finalized: true,
};
const FIELDS = Object.keys(FIELD_ORDER) as (keyof StudioState)[];

/**
 * Build the snapshot of a run (default: the latest). The run's experiments are kept for this journal connection
 * and only what was added since the last snapshot is read (see runHistory); the snapshot holds the newest
 * {@link SNAPSHOT_ROWS} rows of them and their total.
 * @returns a snapshot with `run: null` when the journal has no run (or not this one)
 */
export function studioState(journal: JournalReader, contract: Contract, runId?: string): StudioState {
  const { head, history, priv, standing } = snapshot(journal, contract, runId);
  const experiments = history
    ? (JSON.parse(history.newestJson(SNAPSHOT_ROWS, priv, standing)) as StudioExperiment[])
    : [];
  const all: StudioState = { ...head, experiments };
  return Object.fromEntries(FIELDS.map((k) => [k, all[k]])) as unknown as StudioState;
}

/**
 * The snapshot of {@link studioState} as JSON text, what `GET /api/state` and the live stream send: the newest
 * {@link SNAPSHOT_ROWS} experiment rows are written from the run's history as kept (already JSON), never
 * re-serialized, and the chart's JSON is reused while the chart is the same.
 */
export function studioStateJson(journal: JournalReader, contract: Contract, runId?: string): string {
  const { head, history, priv, standing, chartJson } = snapshot(journal, contract, runId);
  const parts = FIELDS.map((k) => {
    const v =
      k === 'experiments'
        ? history
          ? history.newestJson(SNAPSHOT_ROWS, priv, standing)
          : '[]'
        : k === 'chart'
          ? chartJson
          : (JSON.stringify(head[k]) ?? 'null');
    return `${JSON.stringify(k)}:${v}`;
  });
  return `{${parts.join(',')}}`;
}

/** A page of `GET /api/experiments` (see {@link studioExperimentsPage}), as JSON. */
export interface StudioExperimentsPage {
  /** The run the rows belong to (null: the journal has no run yet). */
  run: string | null;
  /** How many experiments the run has in all. */
  total: number;
  /** The rows, newest (highest id) first, in the snapshot's row shape. */
  experiments: StudioExperiment[];
  /** The `before` of the next (older) page, null when none is left. */
  next: number | null;
}

/**
 * One page of a run's experiment table, as JSON text of a {@link StudioExperimentsPage}: the rows with an id below
 * `before` (the newest when undefined), newest first, at most `limit`, each with its private score and standing
 * review as the snapshot writes them. Read from the run's history kept for this journal connection (runHistory).
 * @param runId the run (default: the latest)
 * @param before an experiment id, exclusive (e.g. the lowest id the page holds, or a page's `next`)
 * @param limit how many rows at most, 1..{@link MAX_PAGE_ROWS} (the caller validates it)
 * @returns null when the journal has no run of that id (given one); an empty page when it has no run at all
 */
export function studioExperimentsPage(
  journal: JournalReader,
  runId: string | undefined,
  before: number | undefined,
  limit: number,
): string | null {
  const run = journal.getRun(runId);
  if (!run) return runId === undefined ? '{"run":null,"total":0,"experiments":[],"next":null}' : null;
  const history = runHistory(journal, run.id);
  const priv = new Map<number, number>();
  for (const s of journal.listSubmissions(run.id)) priv.set(s.experimentId, s.private);
  const page = history.page(before, limit, priv, latestReviews(journal.listReviews(run.id)));
  return `{"run":${JSON.stringify(run.id)},"total":${history.size},"experiments":${page.json},"next":${page.next ?? 'null'}}`;
}

/**
 * One experiment for the Studio's detail view: `ratchet show --json` (hypothesis, decision, reason, metrics,
 * patch, log tails, events) plus its private-holdout metrics and reviews.
 * @returns null for an unknown id
 */
export function studioExperiment(
  journal: Journal,
  projectDir: string,
  id: number,
): Record<string, unknown> | null {
  const v = showView(journal, projectDir, id);
  if (!v) return null;
  const runId = String(v['run']);
  const sub = journal
    .listSubmissions(runId)
    .filter((s) => s.experimentId === id)
    .pop();
  return {
    ...v,
    private: sub
      ? { score: sub.private, gap: sub.gap, metrics: sub.metrics, at: sub.ts, submission: sub.id }
      : null,
    reviews: journal.listReviews(runId).filter((r) => r.experimentId === id),
  };
}

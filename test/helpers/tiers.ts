import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadContract } from '../../src/contract/load.js';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import type { BanditInput } from '../../src/metrics/index.js';
import { type Tier2Evidence, tier2Evidence } from '../../src/tiers/tier2.js';
import { ROOT, tempDir } from './project.js';

/**
 * Journal material for tiers 2 and 3 shared by the tier-3 CLI tests and the report's and Studio's tier tests: the
 * experiments the shipped A/B history names (examples/ab-history), and tier-2 evidence computed by `tier2Evidence`
 * on a real bandit input.
 */

/** The shipped A/B history (12 per-arm tests naming experiments 2 to 13) and its truth. */
export const EXAMPLE_AB = join(ROOT, 'examples', 'ab-history', 'ab.csv');
export const TRUTH = JSON.parse(readFileSync(join(ROOT, 'examples', 'ab-history', 'truth.json'), 'utf8')) as {
  tests: { testId: string; experiment: string; offline: number; trueEffect: number }[];
};

/** The commit sha of experiment `id` in {@link recordExperiments}' run. */
export const sha = (id: number) => `${id.toString(16).padStart(4, '0')}${'ab'.repeat(18)}`;

/** One recorded change of a history: the experiment id (as A/B files name it), its offline delta, its metrics. */
export interface RecordedChange {
  experiment: string;
  offline: number;
  /** The change's public metrics (default: auroc and log_loss moved by the delta). */
  metrics?: Record<string, number>;
}

/**
 * Create run `runId` in journal `j` as a finished search run on branch `ratchet/<runId>` (base commit `sha(0)`),
 * started 2024-01-01, with `config` as its recorded configuration: the run a test's hand-written experiments belong to.
 */
export function createFinishedRun(j: Journal, runId: string, config: Record<string, unknown>): void {
  j.createRun({
    id: runId,
    branch: `ratchet/${runId}`,
    worktree: `.ratchet/worktrees/${runId}`,
    baseCommit: sha(0),
    proposer: 'search',
    status: 'finished',
    startedAt: '2024-01-01T00:00:00Z',
    unsafe: false,
    pid: null,
    config,
  });
}

/**
 * The baseline of a hand-written run `runId`: experiment 1, seq 1, kept at auroc 0.7 and log_loss 0.5 on commit
 * `sha(1)` (parent `sha(0)`), a minute long; spread it and change what a test needs.
 */
export function baselineRecord(runId: string): ExperimentRecord {
  return {
    id: 1,
    runId,
    seq: 1,
    proposer: 'search',
    hypothesis: 'baseline',
    params: null,
    meta: null,
    decision: 'kept',
    reason: 'baseline',
    score: 0.7,
    bestBefore: null,
    delta: null,
    ciLow: null,
    ciHigh: null,
    probImprovement: null,
    commitSha: sha(1),
    parentSha: sha(0),
    files: [],
    sandboxStatus: 'ok',
    sandboxMessage: '',
    exitCode: 0,
    sandboxed: true,
    startedAt: '2024-01-01T00:00:00Z',
    endedAt: '2024-01-01T00:01:00Z',
    durationMs: 60_000,
    executeMs: 50_000,
    conclusion: null,
    metrics: { auroc: 0.7, log_loss: 0.5 },
  };
}

/**
 * Record a finished run `runId` whose experiments carry the given offline deltas, each a change of the baseline
 * (experiment 1, recorded once per journal, auroc 0.7 and log_loss 0.5), so its parent is experiment 1.
 */
export function recordHistory(dir: string, runId: string, changes: RecordedChange[]): void {
  const j = Journal.open(dir);
  try {
    createFinishedRun(j, runId, {});
    const base = baselineRecord(runId);
    if (!j.getExperiment(1)) j.recordExperiment(base);
    for (const t of changes) {
      const id = Number(t.experiment);
      j.recordExperiment({
        ...base,
        id,
        seq: id,
        hypothesis: `change ${id}`,
        reason: 'kept',
        score: 0.7 + t.offline,
        bestBefore: 0.7,
        delta: t.offline,
        commitSha: sha(id),
        parentSha: sha(1),
        metrics: t.metrics ?? { auroc: 0.7 + t.offline, log_loss: 0.5 - t.offline / 2 },
      });
    }
  } finally {
    j.close();
  }
}

/**
 * Record a finished run `r1` whose experiments 2..13 have the example history's offline deltas (experiment 1 is
 * the baseline, the parent of every other).
 */
export function recordExperiments(dir: string): void {
  recordHistory(dir, 'r1', TRUTH.tests);
}

interface BanditCase {
  name: string;
  k: number;
  y: number[];
  action: number[];
  pscore: number[];
  policy: number[];
  qhat: number[] | null;
}

/**
 * Tier-2 evidence computed by `tier2Evidence` under the open-bandit example's contract (dr primary, every
 * estimator, 95% intervals, 1000 resamples, its trust thresholds) on a real bandit input: a case of the committed
 * obp 0.4.1 fixtures (300 logged rows, 5 actions, an epsilon-greedy candidate and a fitted reward model).
 */
export function banditEvidence(caseName = 'n300_k5_eps_greedy_model'): Tier2Evidence {
  const fixture = JSON.parse(
    readFileSync(join(ROOT, 'test', 'metrics', 'fixtures', 'bandit.json'), 'utf8'),
  ) as { cases: BanditCase[] };
  const c = fixture.cases.find((x) => x.name === caseName);
  if (!c) throw new Error(`no bandit fixture case ${caseName}`);
  const input: BanditInput = {
    task: 'bandit',
    k: c.k,
    y: Float64Array.from(c.y),
    action: Int32Array.from(c.action),
    pscore: Float64Array.from(c.pscore),
    policy: Float64Array.from(c.policy),
    ...(c.qhat ? { qhat: Float64Array.from(c.qhat) } : {}),
  };
  const dir = tempDir('ratchet-bandit-contract-');
  copyFileSync(join(ROOT, 'examples', 'open-bandit', 'ratchet.yaml'), join(dir, 'ratchet.yaml'));
  return tier2Evidence(loadContract(dir), input);
}

/**
 * Submit experiment `experimentId` of run `r1` as `ratchet submit` records a bandit policy: a submission and a
 * `tier2` event whose data is the evidence (written through the journal's own methods).
 */
export function recordTier2(dir: string, experimentId: number, evidence: Tier2Evidence): void {
  const j = Journal.open(dir);
  try {
    const ts = new Date().toISOString();
    const primary = evidence.estimates[0]!;
    j.addSubmission({
      ts,
      runId: 'r1',
      experimentId,
      commitSha: sha(experimentId),
      public: primary.value,
      private: primary.value,
      gap: 0,
      metrics: Object.fromEntries(evidence.estimates.map((e) => [e.name, e.value])),
    });
    j.addEvent({
      ts,
      runId: 'r1',
      experimentId,
      kind: 'tier2',
      severity: evidence.candidate ? 'info' : 'warning',
      guardrail: evidence.untrusted.length > 0 ? 'ope-trust' : null,
      message: evidence.verdict,
      data: evidence as unknown as Record<string, unknown>,
    });
  } finally {
    j.close();
  }
}

/** A per-arm A/B file with one test whose id is markup, shipped by `experiment` (an attack on the pages). */
export const MARKUP_TEST_ID = '<img id=pwn src=x onerror=document.title=name>';
export function markupAbCsv(experiment: number): string {
  return `test_id,variant,n,mean,sd,experiment\n${MARKUP_TEST_ID},control,1000,10,1,${experiment}\n${MARKUP_TEST_ID},treatment,1000,10.2,1,${experiment}\n`;
}

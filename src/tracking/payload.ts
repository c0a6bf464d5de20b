import type { ReviewRecord } from '../journal/reviews.js';
import type { ExperimentRecord, SubmissionRecord } from '../journal/store.js';
import type { KeyValue, MetricValue } from './client.js';

/**
 * What one experiment puts in its MLflow run, built from the journal: params, metrics and tags. Metric names
 * say which holdout they were measured on: `public_<metric>` (every experiment, scored at EVALUATE) and
 * `private_<metric>` (the submitted experiment, scored by `ratchet submit`), so both sit side by side in
 * MLflow's compare view. The tier-2 review is a set of `ratchet.review.*` tags.
 */

/** Prefix of the metrics scored on the public holdout. */
export const PUBLIC_PREFIX = 'public_';
/** Prefix of the metrics scored on the private holdout (by `ratchet submit`). */
export const PRIVATE_PREFIX = 'private_';

/** The MLflow metric name of `metric` on a holdout: `public_auroc`, `private_ndcg@10` (the key is sanitised later). */
export function holdoutMetric(holdout: 'public' | 'private', metric: string): string {
  return `${holdout === 'public' ? PUBLIC_PREFIX : PRIVATE_PREFIX}${metric}`;
}

/**
 * Flatten nested params to dotted keys with string values (arrays and deep objects as JSON).
 * `{model: {family: 'lgbm', lr: 0.1}}` → `model.family=lgbm`, `model.lr=0.1`.
 */
export function flattenParams(params: Record<string, unknown> | null, prefix = '', depth = 0): KeyValue[] {
  if (!params) return [];
  const out: KeyValue[] = [];
  for (const [k, v] of Object.entries(params)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
      out.push(...flattenParams(v as Record<string, unknown>, key, depth + 1));
    } else {
      out.push({ key, value: typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null') });
    }
  }
  return out;
}

/** MLflow run status for a Ratchet decision: kept and reverted finished, every other decision failed. */
export function mlflowStatus(decision: string): 'FINISHED' | 'FAILED' {
  return decision === 'kept' || decision === 'reverted' ? 'FINISHED' : 'FAILED';
}

/** What tier 2 added to an experiment after its run: its submission (private score) and standing review. */
export interface TierRecords {
  submission: SubmissionRecord | null;
  review: ReviewRecord | null;
}

/** The run's note (`mlflow.note.content`): decision, hypothesis, conclusion, private score and review. */
function note(rec: ExperimentRecord, tier: TierRecords): string {
  const lines = [`**${rec.decision}**: ${rec.reason}`, '', `Hypothesis: ${rec.hypothesis}`];
  if (rec.conclusion) lines.push('', `Conclusion: ${rec.conclusion}`);
  const s = tier.submission;
  if (s)
    lines.push(
      '',
      `Submitted: private ${s.private} (public ${s.public}, gap ${s.gap >= 0 ? '+' : ''}${s.gap})`,
    );
  const r = tier.review;
  if (r) lines.push('', `Review: ${r.reviewer} decided **${r.decision}** (${r.ts}): ${r.note}`);
  return lines.join('\n');
}

/**
 * The part of an experiment's MLflow run that tier 2 adds: `private_<metric>` for every metric the private
 * holdout was scored on, `ratchet.gap`, and the `ratchet.submission.*` / `ratchet.review.*` tags (plus the
 * note, which mentions both). Empty lists when the experiment was neither submitted nor reviewed.
 */
export function tierPayload(
  rec: ExperimentRecord,
  tier: TierRecords,
): { metrics: MetricValue[]; tags: KeyValue[] } {
  const metrics: MetricValue[] = [];
  const tags: KeyValue[] = [];
  const s = tier.submission;
  if (s) {
    const ts = Date.parse(s.ts);
    for (const [k, v] of Object.entries(s.metrics))
      if (typeof v === 'number')
        metrics.push({ key: holdoutMetric('private', k), value: v, timestamp: ts, step: rec.seq });
    metrics.push({ key: 'ratchet.gap', value: s.gap, timestamp: ts, step: rec.seq });
    tags.push(
      { key: 'ratchet.submitted', value: 'true' },
      { key: 'ratchet.submission.id', value: String(s.id) },
      { key: 'ratchet.submission.at', value: s.ts },
    );
  }
  const r = tier.review;
  if (r) {
    tags.push(
      { key: 'ratchet.review.decision', value: r.decision },
      { key: 'ratchet.review.note', value: r.note },
      { key: 'ratchet.review.reviewer', value: r.reviewer },
      { key: 'ratchet.review.at', value: r.ts },
    );
  }
  if (s || r) tags.push({ key: 'mlflow.note.content', value: note(rec, tier) });
  return { metrics, tags };
}

/**
 * Everything one experiment sends: params, metrics, tags (built from the journal record).
 * @param run the Ratchet run (its branch), null when unknown
 * @param tier the experiment's submission and standing review (tier 2), when there are any
 * @param params the params to log (default: the record's; the baseline's come from its params file)
 */
export function experimentPayload(
  rec: ExperimentRecord,
  run: { branch: string; proposer: string } | null,
  tier: TierRecords = { submission: null, review: null },
  params: Record<string, unknown> | null = rec.params,
): { params: KeyValue[]; metrics: MetricValue[]; tags: KeyValue[] } {
  const ts = Date.parse(rec.endedAt);
  const metric = (key: string, value: number | null): MetricValue[] =>
    value === null || value === undefined ? [] : [{ key, value, timestamp: ts, step: rec.seq }];
  const extra = tierPayload(rec, tier);
  const metrics: MetricValue[] = [
    ...Object.entries(rec.metrics).flatMap(([k, v]) => metric(holdoutMetric('public', k), v)),
    ...extra.metrics,
    ...metric('ratchet.delta', rec.delta),
    ...metric('ratchet.best_before', rec.bestBefore),
    ...metric('ratchet.ci_low', rec.ciLow),
    ...metric('ratchet.ci_high', rec.ciHigh),
    ...metric('ratchet.prob_improvement', rec.probImprovement),
    ...metric('ratchet.duration_s', rec.durationMs / 1000),
    ...metric('ratchet.execute_s', rec.executeMs === null ? null : rec.executeMs / 1000),
  ];
  const tags: KeyValue[] = [
    { key: 'ratchet.run', value: rec.runId },
    { key: 'ratchet.experiment', value: String(rec.id) },
    { key: 'ratchet.seq', value: String(rec.seq) },
    { key: 'ratchet.hypothesis', value: rec.hypothesis },
    { key: 'ratchet.conclusion', value: rec.conclusion ?? '' },
    { key: 'ratchet.decision', value: rec.decision },
    { key: 'ratchet.reason', value: rec.reason },
    { key: 'ratchet.git_sha', value: rec.commitSha ?? '' },
    { key: 'ratchet.parent_sha', value: rec.parentSha },
    // The direction's branch (docs/ARCHITECTURE.md, "Parallel directions"): ratchet/<run>/d<k> with several.
    {
      key: 'ratchet.direction',
      value: rec.direction
        ? `ratchet/${rec.runId}/d${rec.direction}`
        : (run?.branch ?? `ratchet/${rec.runId}`),
    },
    ...(rec.direction ? [{ key: 'ratchet.direction_index', value: String(rec.direction) }] : []),
    { key: 'ratchet.proposer', value: rec.proposer },
    { key: 'ratchet.sandboxed', value: String(rec.sandboxed) },
    { key: 'ratchet.files', value: rec.files.join(', ') },
    { key: 'mlflow.source.git.commit', value: rec.commitSha ?? rec.parentSha },
    { key: 'mlflow.source.name', value: 'ratchet' },
    { key: 'mlflow.source.type', value: 'LOCAL' },
    { key: 'mlflow.user', value: 'ratchet' },
    { key: 'mlflow.note.content', value: note(rec, tier) },
    ...extra.tags.filter((t) => t.key !== 'mlflow.note.content'),
  ];
  return { params: flattenParams(params), metrics, tags };
}

/**
 * The history digest an agent reads before proposing: the recent experiments with their hypotheses, decisions,
 * scores and conclusions, and one line for everything already tried. Public information only: the private
 * holdout's score never appears (it is not in an experiment record).
 */
import type { ExperimentRecord } from '../journal/store.js';

/** One experiment as an agent sees it in the digest. */
export interface DigestEntry {
  id: number;
  run: string;
  seq: number;
  decision: string;
  /** Public primary metric (null when none). */
  score: number | null;
  /** Gain over the best before it, in the metric's direction (positive = better). */
  delta: number | null;
  hypothesis: string;
  conclusion: string | null;
  /** Why it was decided so (the keep rule's arithmetic, the guardrail, the crash). */
  reason: string;
  files: string[];
  proposer: string;
}

/** The digest, as data and as the Markdown put in the brief. */
export interface HistoryDigest {
  entries: DigestEntry[];
  markdown: string;
}

const clip = (s: string, n: number): string => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= n ? one : `${one.slice(0, n - 1)}…`;
};

/** Map an experiment record to its digest entry. */
export function digestEntry(e: ExperimentRecord): DigestEntry {
  return {
    id: e.id,
    run: e.runId,
    seq: e.seq,
    decision: e.decision,
    score: e.score,
    delta: e.delta,
    hypothesis: e.hypothesis,
    conclusion: e.conclusion,
    reason: clip(e.reason, 400),
    files: e.files,
    proposer: e.proposer,
  };
}

const fmt = (v: number | null, digits = 4): string => (v === null ? '—' : v.toFixed(digits));
const signed = (v: number | null): string => (v === null ? '' : ` Δ ${v >= 0 ? '+' : ''}${v.toFixed(4)}`);

/**
 * Build the digest of a run.
 * @param run this run's experiments, oldest first
 * @param earlier experiments of earlier runs of the project (only their one-line "already tried" entries)
 * @param opts `limit`: recent experiments shown in full; `metric`: the primary metric's name and direction
 */
export function historyDigest(
  run: ExperimentRecord[],
  earlier: ExperimentRecord[],
  opts: { limit: number; metric: string; direction: string },
): HistoryDigest {
  const entries = run.map(digestEntry);
  const lines: string[] = [];
  const kept = run.filter((e) => e.decision === 'kept');
  const best = kept[kept.length - 1];
  const counts = new Map<string, number>();
  for (const e of run) counts.set(e.decision, (counts.get(e.decision) ?? 0) + 1);
  lines.push(`Metric: ${opts.metric} (${opts.direction}; public holdout).`);
  if (run.length === 0) lines.push('No experiment has run yet in this run.');
  else {
    lines.push(
      `Baseline ${fmt(run[0]!.score)}; best so far ${best ? `${fmt(best.score)} (experiment #${best.id}: ${clip(best.hypothesis, 160)})` : '—'}.`,
      `${run.length} experiments so far: ${[...counts].map(([d, n]) => `${n} ${d}`).join(', ')}.`,
    );
  }
  const shown = run.slice(-opts.limit);
  if (shown.length > 0) {
    lines.push('', `## Recent experiments (${shown.length} of ${run.length}, oldest first)`);
    for (const e of shown) {
      lines.push(
        `- #${e.id} (seq ${e.seq}, ${e.proposer}) **${e.decision}** ${opts.metric} ${fmt(e.score)}${signed(e.delta)}` +
          `${e.files.length ? ` — files: ${e.files.join(', ')}` : ''}`,
        `  - hypothesis: ${clip(e.hypothesis, 300)}`,
        `  - reason: ${clip(e.reason, 300)}`,
      );
      if (e.conclusion) lines.push(`  - conclusion: ${clip(e.conclusion, 300)}`);
    }
  }
  const older = [...earlier, ...run.slice(0, Math.max(0, run.length - opts.limit))];
  if (older.length > 0) {
    lines.push('', '## Already tried (earlier experiments, one line each)');
    const seen = new Set<string>();
    let n = 0;
    for (const e of [...older].reverse()) {
      const key = e.hypothesis.trim().toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      if (++n > 200) {
        lines.push(`- … and ${older.length - 200} more (search them with the traces tools)`);
        break;
      }
      lines.push(`- #${e.id} ${e.decision} ${fmt(e.score)}: ${clip(e.hypothesis, 160)}`);
    }
  }
  return { entries, markdown: `${lines.join('\n')}\n` };
}

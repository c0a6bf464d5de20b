/**
 * The words of `ratchet finalize` (docs/ARCHITECTURE.md, "Finalize"): each finalized commit's message (the
 * experiment's hypothesis, gain, interval, noise and keep reason, with trailers as the loop's own commits carry) and
 * the branch's `PR.md` (what changed, why it is believed, the public–private gap, what the reviewer should check).
 * Pure functions of what the journal and git said.
 */

import type { ExperimentRecord, SubmissionRecord } from '../journal/store.js';
import { gapText } from '../report/words.js';
import type { FinalizedBranch } from './finalize-view.js';

const signed = (x: number | null | undefined, d = 6) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
const fixed = (x: number | null | undefined, d = 6) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d);

/** The interval of an experiment's gain in words ("[+0.001, +0.020]", or why there is none). */
export function intervalText(e: ExperimentRecord): string {
  return e.ciLow !== null && e.ciHigh !== null
    ? `[${signed(e.ciLow)}, ${signed(e.ciHigh)}]`
    : 'none (the keep rule decided without an interval)';
}

/** Runs over seeds the keep rule had of an experiment (its own and the confirmation runs). */
function runsOf(e: ExperimentRecord): number[] {
  const r = e.meta?.['runs'];
  return Array.isArray(r) ? (r as number[]) : e.score === null ? [] : [e.score];
}

/**
 * The message of one finalized commit: subject, body (hypothesis, gain, interval, noise, the keep rule's reason)
 * and trailers (`Ratchet-Experiment`, `Ratchet-Run`, `Ratchet-Score`, `Ratchet-Hypothesis`, `Ratchet-Delta` as the
 * loop writes them, plus `Ratchet-Interval`, `Ratchet-Noise` and `Ratchet-Source`: the experiment's commit on the
 * run's branch).
 * @param noise the keep rule's noise label (e.g. "rule: noise-aware (σ=6.3e-04 from 3 varied-seed runs)")
 */
export function commitText(
  e: ExperimentRecord,
  metric: string,
  noise: string,
): { subject: string; body: string; trailers: Record<string, string> } {
  const one = e.hypothesis.replace(/\s+/g, ' ').trim();
  const subject = `ratchet: ${one.length <= 68 ? one : `${one.slice(0, 67)}…`}`;
  const runs = runsOf(e);
  const body = [
    `Hypothesis: ${e.hypothesis}`,
    `Gain: ${signed(e.delta)} ${metric} (${fixed(e.bestBefore)} → ${fixed(e.score)}) on the public holdout`,
    `Interval of the gain: ${intervalText(e)}${e.probImprovement === null ? '' : `, P(better) ${e.probImprovement.toFixed(3)}`}${e.keepTest ? ` (${e.keepTest})` : ''}`,
    `Noise: ${noise}${runs.length > 1 ? `; confirmed over ${runs.length} seeds (${runs.map((s) => s.toFixed(6)).join(', ')})` : ''}`,
    `Kept because: ${e.reason}`,
  ].join('\n');
  const trailers: Record<string, string> = {
    'Ratchet-Experiment': String(e.id),
    'Ratchet-Run': e.runId,
    'Ratchet-Score': `${metric}=${fixed(e.score)}`,
    'Ratchet-Hypothesis': e.hypothesis,
    'Ratchet-Delta': signed(e.delta),
    'Ratchet-Interval':
      e.ciLow !== null && e.ciHigh !== null ? `${signed(e.ciLow)}..${signed(e.ciHigh)}` : 'none',
    'Ratchet-Noise': noise,
    'Ratchet-Source': e.commitSha ?? '',
  };
  return { subject, body, trailers };
}

/** Everything PR.md says, gathered by finalize. */
export interface PrInput {
  branch: FinalizedBranch;
  experiments: ExperimentRecord[];
  metric: string;
  direction: 'maximize' | 'minimize';
  /** The keep rule's noise label. */
  noise: string;
  /** `git diff --stat base tip`. */
  diffstat: string;
  /** The run's latest private-holdout submission and its experiment, or null when the run was not submitted. */
  submission: { record: SubmissionRecord; experiment: ExperimentRecord | null } | null;
  /** The other finalized branches of the run. */
  others: FinalizedBranch[];
}

/** PR.md of a finalized branch (Markdown). */
export function prText(p: PrInput): string {
  const b = p.branch;
  const first = p.experiments[0]!;
  const title = `${first.hypothesis.replace(/\s+/g, ' ').trim()}${p.experiments.length > 1 ? ` (+${p.experiments.length - 1} stacked)` : ''}`;
  const verdictLine =
    b.verdict === 'holds'
      ? `**Holds alone**: re-run by itself, ${p.metric} ${fixed(b.score)} against the baseline's ${fixed(b.baseline)} (gain ${signed(b.gain)}).`
      : b.verdict === 'does not hold alone'
        ? `**Does not hold alone**: re-run by itself, ${p.metric} ${fixed(b.score)} against the baseline's ${fixed(b.baseline)} (gain ${signed(b.gain)}): the keep rule does not keep it.`
        : '**Failed to re-run**: the branch could not be run and scored by itself.';
  const rows = p.experiments.map(
    (e) =>
      `| #${e.id} | ${e.hypothesis.replace(/\|/g, '\\|').replace(/\s+/g, ' ')} | ${fixed(e.score)} | ${signed(e.delta)} | ${intervalText(e)} | ${e.probImprovement === null ? '—' : e.probImprovement.toFixed(3)} | ${e.keepTest ?? '—'} | ${runsOf(e).length} |`,
  );
  const sub = p.submission;
  const inBranch = sub ? b.experiments.includes(sub.record.experimentId) : false;
  const gap = sub
    ? [
        `The run's best, experiment #${sub.record.experimentId}${sub.experiment ? ` (${sub.experiment.hypothesis})` : ''}, was scored on the private holdout: public ${fixed(sub.record.public)}, private ${fixed(sub.record.private)}: ${gapText(sub.record.gap, 6)}${sub.record.gap > 0 ? ' (the public holdout flattered it)' : ''}.`,
        inBranch
          ? `That experiment's change is in this branch; the private score is of the run's model at that experiment, which also holds every change kept before it on its run branch.`
          : `That experiment's change is not in this branch: this branch alone was never scored on the private holdout, and the gap above is the run's, not its own.`,
      ]
    : [
        "The run was not submitted: no private-holdout score exists for it, so the public–private gap is unknown. `ratchet submit` scores the run's best kept experiment on the private holdout (once).",
      ];
  const earlier = p.others.filter((o) => o.experiments.some((id) => id < b.experiments[0]!));
  const checks = [
    'Read the diff: does it do what the hypothesis says, and nothing else (no change to how the data are read or split)?',
    ...(p.experiments.length > 1
      ? [
          `The ${p.experiments.length} commits are stacked: each needs the one before it to apply; review them in order.`,
        ]
      : []),
    ...(b.verdict !== 'holds'
      ? [
          b.verdict === 'does not hold alone'
            ? `Its gain does not hold alone: it was kept on top of the run's earlier changes${earlier.length ? ` (${earlier.map((o) => `${o.branch}: ${o.experiments.map((id) => `#${id}`).join(', ')}`).join('; ')})` : ''} and may only help together with them; take it only with them, or not at all.`
            : `It could not be re-run (${b.reason}): find out why before anything else.`,
        ]
      : []),
    ...(p.noise.includes('σ unknown')
      ? ['The run-to-run noise was never measured: run `ratchet check` and weigh small gains against it.']
      : []),
    ...(sub
      ? sub.record.gap > 0
        ? [
            "The public holdout flattered the run's best on the private holdout: judge the gain against the gap.",
          ]
        : []
      : ['The public–private gap is unknown: submit the run before promoting anything from it.']),
    'If another finalized branch of the run is taken too: they merge without conflicts (no overlapping hunks), but their gains were measured apart and may not add up.',
  ];
  return [
    `# ${title}`,
    '',
    `Branch \`${b.branch}\` off \`${b.base.slice(0, 12)}\` (the base commit of run ${b.run}), tip \`${b.commit.slice(0, 12)}\`, ${b.commits.length} commit${b.commits.length === 1 ? '' : 's'}.`,
    '',
    verdictLine,
    '',
    '## What changed',
    '',
    ...b.commits.map(
      (c) =>
        `- \`${c.commit.slice(0, 12)}\` #${c.experiment}: ${c.hypothesis} (from \`${c.source.slice(0, 12)}\` on the run's branch)`,
    ),
    '',
    '```',
    p.diffstat.trimEnd() || '(no change)',
    '```',
    '',
    '## Why it is believed',
    '',
    `Each change was kept by the keep rule on the public holdout (${p.metric}, ${p.direction}) against the best kept model before it:`,
    '',
    '| experiment | hypothesis | score | gain | interval of the gain | P(better) | test | runs |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...p.experiments.map((e) => `- #${e.id}: ${e.reason}`),
    '',
    `Noise: ${p.noise}.`,
    '',
    `Re-verified by itself: the branch's tip was run again ${b.seeds.length === 1 ? `with seed ${b.seeds[0]}` : `over ${b.seeds.length} seeds (${b.seeds.join(', ')})`} and scored on the public holdout${b.scores.length ? ` (${b.scores.map((s) => s.toFixed(6)).join(', ')})` : ''}, then compared with the baseline by the same keep rule: ${b.reason}`,
    '',
    '## Public–private gap',
    '',
    ...gap,
    '',
    '## What the reviewer should check',
    '',
    ...checks.map((c) => `- ${c}`),
    '',
  ].join('\n');
}

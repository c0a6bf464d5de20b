/**
 * From tier 2 to tier 3 (docs/ARCHITECTURE.md, "Tiers"): `ratchet export <experiment> --out <dir>` hands a promoted
 * candidate to the people who run the A/B test, and only a promoted one: the change itself (the patch from the
 * run's base commit to the candidate's commit: what would ship), the evidence it was promoted on (public and private
 * scores, the tier-2 estimates of a bandit policy, the reviewer's note), and how to bring the test's results back
 * (`ratchet ab import` with the experiment id in the `experiment` column, so `ratchet align` pairs them).
 */

import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { git } from '../git/git.js';
import { latestReviews } from '../journal/reviews.js';
import { Journal } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { evidenceOf } from './tier2.js';

/** What {@link exportCandidate} wrote. */
export interface ExportResult {
  dir: string;
  experimentId: number;
  commitSha: string;
  baseCommit: string;
  /** Files written, relative to `dir`. */
  files: string[];
}

/**
 * Export a promoted experiment for an A/B test into `outDir` (created; it must not exist or be empty): `change.patch`
 * (git diff, binary-safe, base commit → the experiment's commit), `evidence.json`, and `AB.md` (what to run, how to
 * import the results). Records an `export` event.
 * @throws RatchetError for an unknown experiment, one without a commit, one whose latest review is not `promote`
 *   (or that was never reviewed), one that changes nothing from the base commit (the baseline), or a non-empty
 *   `outDir`
 */
export async function exportCandidate(
  projectDir: string,
  experimentId: number,
  outDir: string,
): Promise<ExportResult> {
  const dir = resolve(outDir);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new RatchetError(`${dir} is not empty`, { field: '--out', hint: 'give a new or empty folder' });
  const journal = Journal.open(projectDir, { readonly: false });
  try {
    const exp = journal.getExperiment(experimentId);
    if (!exp)
      throw new RatchetError(`no experiment ${experimentId}`, {
        field: 'experiment',
        hint: 'see `ratchet review` for submitted experiments',
      });
    const review = latestReviews(journal.listReviews(exp.runId)).get(exp.id);
    if (review?.decision !== 'promote')
      throw new RatchetError(
        `experiment ${exp.id} ${review ? `was rejected by ${review.reviewer} (${review.note})` : 'has not been promoted at tier 2'}: only a promoted candidate goes to an A/B test`,
        {
          field: 'experiment',
          hint: `ratchet submit --run ${exp.runId}, then ratchet review ${exp.id} --promote --note "why"`,
          exitCode: 3,
        },
      );
    const run = journal.getRun(exp.runId);
    if (!exp.commitSha || !run)
      throw new RatchetError(`experiment ${exp.id} has no commit to export`, { field: 'experiment' });
    const patch = await git(projectDir, [
      'diff',
      '--no-color',
      '--no-ext-diff',
      '--no-textconv',
      '--binary',
      run.baseCommit,
      exp.commitSha,
    ]);
    if (!patch.trim())
      throw new RatchetError(
        `experiment ${exp.id} changes nothing from the run's base commit ${run.baseCommit.slice(0, 12)} (the baseline): there is nothing to A/B test`,
        { field: 'experiment', hint: 'export a kept change, not the baseline' },
      );
    const submission = journal
      .listSubmissions(exp.runId)
      .filter((s) => s.experimentId === exp.id)
      .pop();
    const tier2 = evidenceOf(journal.listEvents({ runId: exp.runId, kinds: ['tier2'] }), exp.id);
    const evidence = {
      experiment: exp.id,
      run: exp.runId,
      commit: exp.commitSha,
      base_commit: run.baseCommit,
      hypothesis: exp.hypothesis,
      public: { score: exp.score, metrics: exp.metrics },
      private: submission
        ? { score: submission.private, gap: submission.gap, metrics: submission.metrics }
        : null,
      tier2,
      review: { reviewer: review.reviewer, note: review.note, ts: review.ts },
      exported_at: new Date().toISOString(),
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'change.patch'), patch);
    writeFileSync(join(dir, 'evidence.json'), `${JSON.stringify(evidence, null, 2)}\n`);
    writeFileSync(
      join(dir, 'AB.md'),
      [
        `# A/B test of Ratchet experiment ${exp.id}`,
        '',
        `Change: ${exp.hypothesis}`,
        `Promoted by ${review.reviewer}: ${review.note}`,
        '',
        `- \`change.patch\`: what ships, from commit ${run.baseCommit.slice(0, 12)} to ${exp.commitSha.slice(0, 12)} (\`git apply change.patch\` on the base).`,
        '- `evidence.json`: the offline evidence it was promoted on.',
        '',
        'When the test has run, bring its results back so Ratchet can check whether offline gains predict online wins:',
        '',
        '```',
        'test_id,variant,n,mean,sd,experiment',
        `<test id>,control,<n>,<mean>,<sd>,${exp.id}`,
        `<test id>,treatment,<n>,<mean>,<sd>,${exp.id}`,
        '```',
        '',
        '(or one row per unit: `test_id,variant,value,experiment`), then `ratchet ab import <file>` and `ratchet align`.',
        '',
      ].join('\n'),
    );
    journal.addEvent({
      ts: evidence.exported_at,
      runId: exp.runId,
      experimentId: exp.id,
      kind: 'export',
      severity: 'info',
      guardrail: null,
      message: `exported for an A/B test to ${dir}`,
      data: { dir, commit: exp.commitSha, base: run.baseCommit },
    });
    return {
      dir,
      experimentId: exp.id,
      commitSha: exp.commitSha,
      baseCommit: run.baseCommit,
      files: ['change.patch', 'evidence.json', 'AB.md'],
    };
  } finally {
    journal.close();
  }
}

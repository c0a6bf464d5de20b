/**
 * `ratchet finalize` (docs/ARCHITECTURE.md, "Finalize"): a run's kept experiments turned into reviewable branches.
 * Independent changes (each applies alone on the base) become separate branches off the run's base commit;
 * dependent ones stay stacked on one branch. Each branch's tip is then run again by itself in the sandbox, scored
 * on the public holdout and compared with the baseline by the loop's own keep rule: a branch whose gain does not
 * hold alone is marked so. Each branch gets a `PR.md` outside it, under `.ratchet/finalize/<run>/`, and a
 * `finalize` event in the journal. The person's checkout, index and branches other than the run's finalized ones
 * are never touched; every temporary worktree is removed on every path.
 */

import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { currentSplitVersion, runSplitVersion } from '../contract/splits.js';
import { evaluateOutput } from '../evaluator/evaluate.js';
import { executorFor } from '../executors/index.js';
import { commitMessage, git, removeWorktree } from '../git/git.js';
import { type ExperimentRecord, Journal, type JournalReader, type NoiseRecord } from '../journal/store.js';
import { activeRun } from '../loop/control.js';
import type { Executor } from '../loop/executor.js';
import { CONFIRM_SEED_OFFSET } from '../loop/experiment.js';
import { confirmKeep, decideKeepAsync, type KeepRule, type Runs, ruleLabel } from '../loop/keep.js';
import { experimentDir, WORKTREES_DIR } from '../loop/paths.js';
import { preflight, type Ready } from '../loop/preflight.js';
import { keepRuleFor, noiseFor } from '../loop/rule.js';
import { runOverSeeds } from '../loop/seeds.js';
import { RatchetError } from '../util/errors.js';
import { type ChangeToGroup, groupChanges, PatchStacks, patchFiles, slugOf } from './finalize-groups.js';
import { commitText, prText } from './finalize-pr.js';
import {
  FINALIZE_EVENT,
  type FinalCommit,
  type FinalizedBranch,
  type FinalVerdict,
  finalizedBranches,
} from './finalize-view.js';
import { type ReviewDecision, type ReviewRecord, recordReview } from './review.js';

export { type FinalizedBranch, type FinalVerdict, finalizedBranches } from './finalize-view.js';

/** Project-relative folder of the finalized branches' PR.md files and re-run traces. */
export const FINALIZE_DIR = '.ratchet/finalize';

/** Namespace of the finalized branches: `ratchet-final/<run>/<k>-<slug>`. */
export const FINAL_PREFIX = 'ratchet-final';

/** Options of {@link finalizeRun}. */
export interface FinalizeOptions {
  /** The run (default: the latest). */
  runId?: string;
  /** Re-run without bubblewrap (as `ratchet run --unsafe-no-sandbox`). */
  unsafeNoSandbox?: boolean;
  /** Stops the re-runs (the kill switch of the command). */
  signal?: AbortSignal;
  /** One line per step. */
  onProgress?: (line: string) => void;
}

/** What {@link finalizeRun} made. */
export interface FinalizeResult {
  run: string;
  base: string;
  metric: string;
  direction: 'maximize' | 'minimize';
  baseline: { experiment: number; score: number };
  /** The keep rule's noise label the re-runs were judged with. */
  noise: string;
  branches: FinalizedBranch[];
  /** Branches of an earlier finalize of the run that were replaced. */
  replaced: string[];
  /** Kept experiments left out (a change with an empty diff). */
  skipped: { experiment: number; why: string }[];
}

/** A kept change of the run with its patch. */
interface Change {
  e: ExperimentRecord;
  patch: string;
  files: string[];
}

/**
 * Finalize a run: group its kept changes into branches off its base commit, re-run and re-score each branch by
 * itself, write PR.md beside each and record a `finalize` event per branch. Running it again for the same run
 * replaces the earlier branches (refused while one of them is checked out somewhere).
 * @throws RatchetError for no run, a run still going, a run on another split version, a run with no kept change,
 *   a finalized branch checked out in a worktree, or a broken setup (see preflight)
 */
export async function finalizeRun(projectDir: string, opts: FinalizeOptions = {}): Promise<FinalizeResult> {
  const say = opts.onProgress ?? (() => {});
  const unsafe = opts.unsafeNoSandbox ?? false;
  const ready = await preflight(projectDir, { unsafe });
  const { contract } = ready;
  const journal = Journal.open(projectDir);
  try {
    const run = journal.getRun(opts.runId);
    if (!run)
      throw new RatchetError(opts.runId ? `no run ${opts.runId}` : 'no run yet', {
        field: '--run',
        hint: 'start one with `ratchet run`',
      });
    const live = activeRun(projectDir);
    if (live)
      throw new RatchetError(
        `run ${live.runId} is going on: finalize re-runs each branch in the sandbox and would share the machine with it`,
        { hint: `wait for it to end, or stop it (ratchet stop), then ratchet finalize --run ${run.id}` },
      );
    if (runSplitVersion(run) !== currentSplitVersion(journal))
      throw new RatchetError(
        `run ${run.id} ran on split version ${runSplitVersion(run)}; the project was re-split since (version ${currentSplitVersion(journal)})`,
        {
          hint: 'finalize a run of the current split: its branches are re-scored on the current holdouts',
          exitCode: 3,
        },
      );
    const exps = journal.listExperiments(run.id);
    const baseline = exps.find((e) => e.seq === 1 && e.decision === 'kept' && e.score !== null);
    if (!baseline)
      throw new RatchetError(`run ${run.id} has no kept baseline to compare its branches with`, {
        hint: 'run the loop until the baseline is recorded',
      });
    const changes: Change[] = [];
    const skipped: FinalizeResult['skipped'] = [];
    for (const e of exps.filter((x) => x.decision === 'kept' && x.seq > 1 && x.commitSha)) {
      const patch = await git(projectDir, [
        'diff',
        '--binary',
        '--full-index',
        '--no-color',
        '--no-ext-diff',
        '--no-textconv',
        e.parentSha,
        e.commitSha!,
      ]);
      if (!patch.trim())
        skipped.push({ experiment: e.id, why: 'its commit changes nothing from its parent' });
      else changes.push({ e, patch, files: patchFiles(patch) });
    }
    if (changes.length === 0)
      throw new RatchetError(`run ${run.id} kept no change after the baseline: nothing to finalize`, {
        hint: 'run more experiments (ratchet run), or finalize another run (--run <id>)',
      });
    const prefix = `refs/heads/${FINAL_PREFIX}/${run.id}/`;
    const old = (await git(projectDir, ['for-each-ref', '--format=%(refname)', prefix]))
      .split('\n')
      .filter(Boolean);
    await refuseCheckedOut(projectDir, old);
    say(
      `finalize run ${run.id}: ${changes.length} kept change${changes.length === 1 ? '' : 's'} off ${run.baseCommit.slice(0, 12)}`,
    );

    // Group and build the branches' commits on a private index (no file written anywhere).
    const executor = executorFor(contract, ready.python, unsafe, 1);
    const { noise } = noiseFor(journal, contract.metric.primary, executor.slotClass);
    const rule = keepRuleFor(contract, noise);
    const label = ruleLabel(rule.noiseSd, rule.noiseFrom);
    const built = await buildBranches(
      projectDir,
      run.id,
      run.baseCommit,
      changes,
      contract.metric.primary,
      label,
    );
    say(
      `  ${built.length} branch${built.length === 1 ? '' : 'es'}: ${built.map((b) => `${b.branch} (${b.commits.map((c) => `#${c.experiment}`).join(', ')})`).join('; ')}`,
    );

    // Re-run each branch by itself and judge it against the baseline with the keep rule.
    const finalDir = join(projectDir, FINALIZE_DIR, run.id);
    const work = join(projectDir, FINALIZE_DIR, `.${run.id}-${process.pid}-${Date.now()}`);
    mkdirSync(work, { recursive: true });
    const batch = new Date().toISOString();
    const branches: FinalizedBranch[] = [];
    const experimentsOf = new Map<number, ExperimentRecord>(exps.map((e) => [e.id, e]));
    const submissions = journal.listSubmissions(run.id);
    const submitted = submissions[submissions.length - 1] ?? null;
    try {
      const best = await baselineRuns(projectDir, ready, baseline, rule, noise);
      // An executor that must prove itself first (the Ray executor's probe job) does so before the first re-run.
      await executor.prepare?.(opts.signal);
      for (const b of built) {
        const folder = `${b.index}-${b.slug}`;
        if (folder !== folderOf(b)) throw new Error(`unexpected branch name ${b.branch}`);
        say(`  re-running ${b.branch} by itself…`);
        const v = await verifyBranch(
          projectDir,
          ready,
          executor,
          rule,
          best,
          b.commit,
          join(work, folder),
          opts.signal,
        );
        if (opts.signal?.aborted)
          throw new RatchetError('finalize was stopped: nothing was replaced', {
            hint: `run ratchet finalize --run ${run.id} again`,
          });
        const members = b.commits.map((c) => c.experiment);
        const review =
          submitted && members.includes(submitted.experimentId) ? submitted.experimentId : members.at(-1)!;
        const branch: FinalizedBranch = {
          batch,
          run: run.id,
          index: b.index,
          branch: b.branch,
          commit: b.commit,
          base: run.baseCommit,
          commits: b.commits,
          experiments: members,
          files: [
            ...new Set(b.commits.flatMap((c) => changes.find((x) => x.e.id === c.experiment)!.files)),
          ].sort(),
          score: v.scores[0] ?? null,
          scores: v.scores,
          seeds: v.seeds,
          baseline: baseline.score!,
          gain: v.gain,
          holds: v.verdict === 'holds',
          verdict: v.verdict,
          reason: v.reason,
          reviewExperiment: review,
          pr: relative(projectDir, join(finalDir, folder, 'PR.md')),
        };
        branches.push(branch);
        say(`    ${v.verdict}: ${contract.metric.primary} ${v.scores[0]?.toFixed(6) ?? '—'} (${v.reason})`);
      }
      for (const b of branches) {
        const diffstat = await git(projectDir, ['diff', '--stat', '--no-color', b.base, b.commit]);
        writeFileSync(
          join(work, folderOf(b), 'PR.md'),
          prText({
            branch: b,
            experiments: b.experiments.map((id) => experimentsOf.get(id)!),
            metric: contract.metric.primary,
            direction: contract.direction,
            noise: label,
            diffstat,
            submission: submitted
              ? { record: submitted, experiment: experimentsOf.get(submitted.experimentId) ?? null }
              : null,
            others: branches.filter((o) => o !== b),
          }),
        );
      }
      // Everything is ready: the earlier finalize's branches and files are replaced by these.
      for (const ref of old) await git(projectDir, ['update-ref', '-d', ref]);
      for (const b of branches) await git(projectDir, ['update-ref', `refs/heads/${b.branch}`, b.commit, '']);
      rmSync(finalDir, { recursive: true, force: true });
      renameSync(work, finalDir);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const replaced = old.map((r) => r.slice('refs/heads/'.length));
    journal.transaction(() => {
      if (replaced.length > 0)
        journal.addEvent({
          ts: batch,
          runId: run.id,
          experimentId: null,
          kind: 'finalize.replaced',
          severity: 'info',
          guardrail: null,
          message: `finalize replaced ${replaced.length} earlier finalized branch${replaced.length === 1 ? '' : 'es'} of run ${run.id}`,
          data: { batch, branches: replaced },
        });
      for (const b of branches)
        journal.addEvent({
          ts: batch,
          runId: run.id,
          experimentId: b.reviewExperiment,
          kind: FINALIZE_EVENT,
          severity: b.holds ? 'info' : 'warning',
          guardrail: null,
          message: `${b.branch} (${b.experiments.map((id) => `#${id}`).join(', ')}): ${b.verdict}: ${b.reason}`,
          data: b as unknown as Record<string, unknown>,
        });
    });
    return {
      run: run.id,
      base: run.baseCommit,
      metric: contract.metric.primary,
      direction: contract.direction,
      baseline: { experiment: baseline.id, score: baseline.score! },
      noise: label,
      branches,
      replaced,
      skipped,
    };
  } finally {
    journal.close();
  }
}

/** Refuse to replace a finalized branch that is checked out in the project or any of its worktrees. */
async function refuseCheckedOut(projectDir: string, refs: string[]): Promise<void> {
  if (refs.length === 0) return;
  const out = await git(projectDir, ['worktree', 'list', '--porcelain']);
  const held = new Map<string, string>();
  let path = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('worktree ')) path = line.slice(9);
    else if (line.startsWith('branch ')) held.set(line.slice(7), path);
  }
  const busy = refs.filter((r) => held.has(r));
  if (busy.length > 0)
    throw new RatchetError(
      `finalize would replace ${busy.map((r) => r.slice('refs/heads/'.length)).join(', ')}, checked out in ${busy.map((r) => held.get(r)).join(', ')}`,
      { hint: 'switch that checkout to another branch, then finalize again (the branches are re-made)' },
    );
}

/** A branch built on the private index, before it is verified and named in git. */
interface Built {
  index: number;
  slug: string;
  branch: string;
  commit: string;
  commits: FinalCommit[];
}

/**
 * Group the changes and commit each group's stack off the base, in a worktree without a checkout (removed on
 * every path). No ref is created here: the commits are named once every branch has been verified.
 */
async function buildBranches(
  projectDir: string,
  runId: string,
  base: string,
  changes: Change[],
  metric: string,
  noise: string,
): Promise<Built[]> {
  const dir = join(projectDir, WORKTREES_DIR, `finalize-${runId}-${process.pid}-${Date.now()}`);
  mkdirSync(join(projectDir, WORKTREES_DIR), { recursive: true });
  await git(projectDir, ['worktree', 'add', '-q', '--no-checkout', '--detach', dir, base]);
  try {
    const stacks = new PatchStacks(
      dir,
      base,
      changes.map((c) => c.patch),
    );
    const input: ChangeToGroup[] = changes.map((c) => {
      const p = changes.findIndex((x) => x.e.commitSha === c.e.parentSha);
      return { experiment: c.e.id, files: c.files, parent: p >= 0 ? p : null };
    });
    const groups = await groupChanges(input, stacks.applies);
    const out: Built[] = [];
    for (const [k, g] of groups.entries()) {
      let parent = base;
      const commits: FinalCommit[] = [];
      for (let i = 0; i < g.length; i++) {
        const tree = await stacks.tree(g.slice(0, i + 1));
        if (tree === null)
          throw new Error(`the stack ${g.map((j) => changes[j]!.e.id).join(', ')} does not apply`);
        const e = changes[g[i]!]!.e;
        const t = commitText(e, metric, noise);
        parent = (
          await git(dir, ['commit-tree', tree, '-p', parent], {
            input: commitMessage(t.subject, t.body, t.trailers),
          })
        ).trim();
        commits.push({ experiment: e.id, commit: parent, source: e.commitSha!, hypothesis: e.hypothesis });
      }
      const slug = slugOf(commits[0]!.hypothesis);
      out.push({
        index: k + 1,
        slug,
        branch: `${FINAL_PREFIX}/${runId}/${k + 1}-${slug}`,
        commit: parent,
        commits,
      });
    }
    return out;
  } finally {
    await removeWorktree(projectDir, dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The baseline as the keep rule's "best": its public predictions (re-read from its output) and its runs over seeds. */
async function baselineRuns(
  projectDir: string,
  ready: Ready,
  baseline: ExperimentRecord,
  rule: KeepRule,
  noise: NoiseRecord | null,
): Promise<{ score: number; input: Runs['inputs'][number]; runs: Runs }> {
  const out = join(experimentDir(projectDir, baseline.id), 'output');
  const ev = await evaluateOutput(ready.contract, ready.manifest, out, undefined, ready.python.binDir);
  if (ev.status !== 'ok')
    throw new RatchetError(
      `the baseline's predictions (experiment ${baseline.id}) cannot be scored again: ${ev.reason}`,
      {
        file: out,
        hint: 'nothing may write into .ratchet/runs; finalize compares every branch with the recorded baseline',
      },
    );
  const runs: Runs = { scores: [baseline.score!], inputs: [ev.input] };
  // As the run did: the baseline's other seeds are the varied-seed noise runs of the same commit.
  if (noise?.kind === 'varied-seed' && noise.commitSha === baseline.parentSha && rule.noiseSd !== null) {
    const extra: Runs = { scores: [], inputs: [] };
    for (const [i, dir] of noise.outputs.entries()) {
      const r = await evaluateOutput(
        ready.contract,
        ready.manifest,
        dir,
        undefined,
        ready.python.binDir,
      ).catch(() => null);
      if (r?.status !== 'ok') return { score: baseline.score!, input: ev.input, runs };
      extra.scores.push(noise.scores[i]!);
      extra.inputs.push(r.input);
    }
    runs.scores.push(...extra.scores);
    runs.inputs.push(...extra.inputs);
  }
  return { score: baseline.score!, input: ev.input, runs };
}

/**
 * Run a branch's tip by itself (a detached worktree, removed on every path) with the contract's seed, score it on
 * the public holdout and judge it against the baseline with the keep rule, running the confirmation seeds when the
 * rule asks for them, exactly as a keep would.
 */
async function verifyBranch(
  projectDir: string,
  ready: Ready,
  executor: Executor,
  rule: KeepRule,
  best: { score: number; input: Runs['inputs'][number]; runs: Runs },
  commit: string,
  dir: string,
  signal?: AbortSignal,
): Promise<{
  verdict: FinalVerdict;
  reason: string;
  seeds: number[];
  scores: number[];
  gain: number | null;
}> {
  const { contract } = ready;
  const worktree = join(projectDir, WORKTREES_DIR, `finalize-verify-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  await git(projectDir, ['worktree', 'add', '-q', '--detach', worktree, commit]);
  try {
    const over = (seeds: number[], first: number) =>
      runOverSeeds({
        executor,
        contract,
        manifest: ready.manifest,
        worktree,
        seeds,
        runDir: (i) => join(dir, `verify-${first + i + 1}`),
        timeoutMs: contract.limits.experimentTimeoutMs,
        binDir: ready.python.binDir,
        ...(signal ? { signal } : {}),
      });
    const seed0 = contract.split.seed;
    const one = await over([seed0], 0);
    const failed = (f: NonNullable<typeof one.failure>, seeds: number[], scores: number[]) => ({
      verdict: 'failed to re-run' as const,
      reason: `run ${f.index + 1} (seed ${f.seed}) ${f.step === 'execute' ? 'did not finish' : 'wrote invalid predictions'}: ${f.message}`,
      seeds,
      scores,
      gain: null,
    });
    if (one.failure) return failed(one.failure, [seed0], []);
    const first = one.runs[0]!.evaluation;
    const v = await decideKeepAsync(rule, best, { score: first.score, input: first.input });
    if (!v.needsConfirmation)
      return {
        verdict: v.keep ? 'holds' : 'does not hold alone',
        reason: v.reason,
        seeds: [seed0],
        scores: [first.score],
        gain: v.gain,
      };
    const seeds = Array.from({ length: rule.confirmRuns }, (_, i) =>
      rule.confirmSeeds === 'same' ? seed0 : seed0 + CONFIRM_SEED_OFFSET + i + 1,
    );
    const more = await over(seeds, 1);
    const scores = [first.score, ...more.runs.map((r) => r.evaluation.score)];
    if (more.failure) return failed(more.failure, [seed0, ...seeds], scores);
    const c = confirmKeep(rule, best.runs, {
      scores,
      inputs: [first.input, ...more.runs.map((r) => r.evaluation.input)],
    });
    return {
      verdict: c.keep ? 'holds' : 'does not hold alone',
      reason: c.reason,
      seeds: [seed0, ...seeds],
      scores,
      gain: c.meanGain,
    };
  } finally {
    await removeWorktree(projectDir, worktree);
    rmSync(worktree, { recursive: true, force: true });
  }
}

/** Input of {@link reviewFinalized}. */
export interface FinalReviewInput {
  /** The run (default: the latest). */
  runId?: string;
  branch: string;
  decision: ReviewDecision;
  note: string;
  reviewer?: string;
}

/**
 * Tier 2 for a finalized branch: the review is recorded (src/tiers/review.ts) on the branch's review experiment
 * (the run's submitted experiment when the branch holds it, else its last change), with the branch named in the
 * note. The rules of a review apply (a note; the experiment must have been submitted), and a branch whose gain does
 * not hold alone is never promoted.
 * @throws RatchetError for an unknown branch, an empty note, promoting a branch that does not hold alone, or an
 *   experiment that was never submitted
 */
export function reviewFinalized(
  projectDir: string,
  input: FinalReviewInput,
): ReviewRecord & { branch: string } {
  const journal = Journal.open(projectDir, { readonly: true });
  let b: FinalizedBranch | undefined;
  try {
    const run = journal.getRun(input.runId);
    if (!run) throw new RatchetError(input.runId ? `no run ${input.runId}` : 'no run yet', { field: 'run' });
    b = finalizedBranches(journal, run.id).find((x) => x.branch === input.branch);
    if (!b)
      throw new RatchetError(`run ${run.id} has no finalized branch ${input.branch}`, {
        field: 'branch',
        hint: `ratchet finalize --run ${run.id} lists them`,
      });
  } finally {
    journal.close();
  }
  if (!(typeof input.note === 'string' && input.note.trim()))
    throw new RatchetError('a review needs a note saying why', {
      field: 'note',
      hint: 'say what you checked in the branch and its PR.md',
    });
  if (input.decision === 'promote' && !b.holds)
    throw new RatchetError(`${b.branch} cannot be promoted: ${b.verdict} (${b.reason})`, {
      field: 'branch',
      hint: 'promote a branch that holds by itself; this one only helps with other changes',
    });
  const r = recordReview(projectDir, {
    experimentId: b.reviewExperiment,
    decision: input.decision,
    note: `finalized branch ${b.branch}: ${input.note.trim()}`,
    ...(input.reviewer !== undefined ? { reviewer: input.reviewer } : {}),
  });
  return { ...r, branch: b.branch };
}

/** The folder of a finalized branch under `.ratchet/finalize/<run>/`: `<k>-<slug>`, the branch name's last part. */
export function folderOf(b: { branch: string }): string {
  return b.branch.slice(b.branch.lastIndexOf('/') + 1);
}

/**
 * The PR.md text of a run's standing finalized branch (read from `.ratchet/finalize/<run>/<k>-<slug>/PR.md`, a
 * regular file, never through a link), or null when the branch is unknown or its PR.md is gone.
 */
export function readPr(
  projectDir: string,
  journal: JournalReader,
  runId: string,
  branch: string,
): string | null {
  const b = finalizedBranches(journal, runId).find((x) => x.branch === branch);
  if (!b) return null;
  const path = join(projectDir, FINALIZE_DIR, runId, folderOf(b), 'PR.md');
  try {
    const st = lstatSync(path);
    if (!st.isFile() || st.size > 1024 * 1024) return null;
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

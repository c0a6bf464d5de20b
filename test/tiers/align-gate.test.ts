import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadContract } from '../../src/contract/load.js';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { alignmentStatus } from '../../src/tiers/align-gate.js';
import { cli, makeProject } from '../helpers/project.js';

/**
 * The alignment gate: with `alignment.required: true`, `ratchet run` refuses to start (a guardrail event a person
 * sees) until the imported A/B history shows that offline gains predict online wins; `ratchet check` says which.
 */

const sha = (id: number) => `${id.toString(16).padStart(4, '0')}${'cd'.repeat(18)}`;

/** Record a finished run whose experiments 2.. carry the simulated offline deltas (1 is the baseline). */
function recordExperiments(
  dir: string,
  runId: string,
  truth: { experiment: string; offline: number }[],
): void {
  const j = Journal.open(dir);
  try {
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
      config: {},
    });
    const base: ExperimentRecord = {
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
      metrics: { auroc: 0.7 },
    };
    if (!j.getExperiment(1)) j.recordExperiment(base);
    for (const t of truth) {
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
        metrics: { auroc: 0.7 + t.offline },
      });
    }
  } finally {
    j.close();
  }
}

function simulate(dir: string, alignment: number, first = 2): { experiment: string; offline: number }[] {
  const r = cli(
    ['ab', 'simulate', '--tests', '30', '--alignment', String(alignment), '--seed', '11', '--shape', 'arms']
      .concat(['--first-experiment', String(first)])
      .concat(['--out', join(dir, `ab${alignment}.csv`), '--truth', join(dir, `truth${alignment}.json`)]),
    dir,
  );
  expect(r.code, r.stderr).toBe(0);
  return (
    JSON.parse(readFileSync(join(dir, `truth${alignment}.json`), 'utf8')) as {
      tests: { experiment: string; offline: number }[];
    }
  ).tests;
}

describe('alignment.required', () => {
  it('refuses a run until the A/B history shows alignment, and lets it start once it does', async () => {
    const dir = await makeProject({
      rows: 1500,
      contract: (y) => `${y}alignment: { required: true }\n`,
    });
    // No A/B test imported: nothing shows alignment.
    const none = cli(['run', '--experiments', '1'], dir);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/requires offline–online alignment, and no A\/B tests imported/);

    // An anti-aligned history (offline gains predict online losses): not ready.
    const anti = simulate(dir, -0.9);
    recordExperiments(dir, 'history', anti);
    expect(cli(['ab', 'import', join(dir, 'ab-0.9.csv')], dir).code).toBe(0);
    const status = alignmentStatus(loadContract(dir));
    expect(status.report?.ready).toBe(false);
    const refused = cli(['run', '--experiments', '1'], dir);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/this metric is not ready for agentic optimization/);
    const j = Journal.open(dir, { readonly: true });
    try {
      const events = j.listEvents({ kinds: ['guardrail'] }).filter((e) => e.guardrail === 'alignment');
      expect(events).toHaveLength(2);
      expect(j.listRuns().map((r) => r.id)).toEqual(['history']);
    } finally {
      j.close();
    }

    // The same test ids re-imported, now shipping the changes of a later run whose gains predicted them: it starts.
    recordExperiments(dir, 'history2', simulate(dir, 0.95, 40));
    expect(cli(['ab', 'import', join(dir, 'ab0.95.csv')], dir).code).toBe(0);
    expect(alignmentStatus(loadContract(dir)).report?.ready).toBe(true);
    const ran = cli(['run', '--experiments', '1'], dir);
    expect(ran.code, ran.stderr).toBe(0);
  }, 300_000);

  it('is off by default: the status is reported, nothing is refused', async () => {
    const dir = await makeProject({ rows: 1500 });
    expect(loadContract(dir).alignment.required).toBe(false);
    const anti = simulate(dir, -0.9);
    recordExperiments(dir, 'history', anti);
    expect(cli(['ab', 'import', join(dir, 'ab-0.9.csv')], dir).code).toBe(0);
    const s = alignmentStatus(loadContract(dir));
    expect(s.tests).toBe(30);
    expect(s.message).toMatch(/^alignment over 30 of 30 A\/B tests: this metric is not ready/);
    const ran = cli(['run', '--experiments', '1'], dir);
    expect(ran.code, ran.stderr).toBe(0);
  }, 300_000);
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { directionCounts } from '../../src/journal/directions.js';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { laneTally, PROPOSER_HISTORY, RunTally } from '../../src/loop/tally.js';
import type { ProposeContext } from '../../src/proposers/types.js';
import { instantExecutor } from '../helpers/instant-executor.js';
import { makeProject } from '../helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript } from '../helpers/scripted.js';

const rec = (seq: number, direction: number, decision: string, commitSha: string | null = null) =>
  ({
    id: seq,
    seq,
    direction,
    decision,
    commitSha,
    hypothesis: `h${seq}`,
    reason: 'r',
    score: seq / 100,
    params: null,
    conclusion: null,
    meta: { timings: { check: 1 }, runs: [seq / 100] },
  }) as unknown as ExperimentRecord;

describe('RunTally: what a session keeps of its experiments', () => {
  it('counts, the baseline, the last keep per direction, the plateau and failure counters, a bounded window', () => {
    const tally = new RunTally();
    const lanes = [laneTally(), laneTally()];
    const exps = [
      rec(1, 1, 'kept', 'c1'),
      rec(2, 1, 'kept', 'c2'),
      rec(3, 2, 'reverted'),
      rec(4, 2, 'crashed'),
      rec(5, 1, 'timeout'),
      rec(6, 2, 'kept', 'c6'),
      rec(7, 1, 'invalid'),
      rec(8, 2, 'rejected'),
    ];
    for (const e of exps) tally.add(e, lanes[e.direction! - 1]!);
    expect(tally.count).toBe(8);
    expect(tally.kept).toBe(2); // the baseline is not a kept change
    expect(tally.anyKept).toBe(true);
    expect(tally.baseline?.seq).toBe(1);
    expect(tally.baseline?.meta).toEqual({ runs: [0.01] }); // without the journal-only meta
    expect(tally.sinceKept).toBe(2);
    expect(tally.failuresInARow).toBe(2);
    expect(lanes.map((l) => l.lastKept?.commitSha)).toEqual(['c2', 'c6']);
    expect(lanes.map((l) => ({ tried: l.tried, verified: l.kept }))).toEqual(directionCounts(exps, 2));
    expect(lanes[1]!.recent.map((d) => d.seq)).toEqual([3, 4, 6, 8]);
    expect(Object.keys(lanes[1]!.recent[0]!).sort()).toEqual(
      ['conclusion', 'decision', 'hypothesis', 'id', 'params', 'reason', 'score', 'seq'].sort(),
    );

    const long = laneTally();
    const t = new RunTally();
    for (let seq = 1; seq <= PROPOSER_HISTORY + 10; seq++) t.add(rec(seq, 1, 'reverted'), long);
    expect(long.recent).toHaveLength(PROPOSER_HISTORY);
    expect(long.recent[0]!.seq).toBe(11);
    expect(long.recent.at(-1)!.seq).toBe(PROPOSER_HISTORY + 10);
    expect(t.anyKept).toBe(false);
    expect(t.sinceKept).toBe(PROPOSER_HISTORY + 10);
    expect(t.baseline?.decision).toBe('reverted');
  });

  it('a run shows each proposer the baseline and its latest experiments, never more than the window', async () => {
    const dir = await makeProject({ rows: 600, trainPy: predictingScript(NOISE_PREDICTIONS) });
    // Instant jobs that write the same predictions every time: the loop's own steps are what is tested.
    const executor = instantExecutor(dir, 1);
    const seen: { seq: number; baseline: number | null; history: number[] }[] = [];
    const n = PROPOSER_HISTORY + 8;
    const s = await runLoop({
      projectDir: dir,
      runId: 'window',
      maxExperiments: n,
      executor: () => executor,
      proposer: async () => ({
        name: 'scripted',
        async propose(p: ProposeContext) {
          seen.push({ seq: p.seq, baseline: p.baseline?.seq ?? null, history: p.history.map((d) => d.seq) });
          writeFileSync(join(p.worktree, 'params.yaml'), `# experiment ${p.seq}\n`);
          return { hypothesis: `a comment in params.yaml (${p.seq})` };
        },
        async observe() {},
        async close() {},
      }),
    });
    expect(s.experiments).toBe(n);
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments('window');
    j.close();
    expect(exps).toHaveLength(n);
    expect(s.kept).toBe(exps.filter((e) => e.decision === 'kept' && e.seq > 1).length);
    expect(s.baselineScore).toBe(exps.find((e) => e.seq === 1)!.score);
    expect(seen.map((c) => c.seq)).toEqual(Array.from({ length: n - 1 }, (_, i) => i + 2));
    for (const c of seen) {
      expect(c.baseline).toBe(1);
      // The latest experiments before this one, oldest first, at most the window.
      const from = Math.max(1, c.seq - PROPOSER_HISTORY);
      expect(c.history).toEqual(Array.from({ length: c.seq - from }, (_, i) => from + i));
    }
  }, 300_000);
});

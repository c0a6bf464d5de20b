import { describe, expect, it } from 'vitest';
import { renderProgress, StatusLine } from '../../src/cli/commands/run.js';
import type { ExperimentRecord } from '../../src/journal/store.js';

const record = (over: Partial<ExperimentRecord>): ExperimentRecord =>
  ({
    id: 7,
    runId: 'r',
    seq: 2,
    proposer: 'search',
    hypothesis: 'h',
    params: null,
    meta: null,
    decision: 'kept',
    reason: 'gain +0.01 > 0.001',
    score: 0.81,
    bestBefore: 0.8,
    delta: 0.01,
    ciLow: null,
    ciHigh: null,
    probImprovement: null,
    commitSha: 'abc',
    parentSha: 'def',
    files: [],
    sandboxStatus: 'ok',
    sandboxMessage: '',
    exitCode: 0,
    sandboxed: true,
    startedAt: '',
    endedAt: '',
    durationMs: 1500,
    executeMs: 1000,
    conclusion: null,
    metrics: {},
    ...over,
  }) as ExperimentRecord;

describe('terminal progress of long work', () => {
  it('in logs: a line per experiment and a heartbeat with the current experiment, its elapsed time, the best score and budgets left', async () => {
    const lines: string[] = [];
    const p = renderProgress((l) => lines.push(l), { heartbeatMs: 60 });
    p({
      type: 'run-start',
      runId: 'r',
      branch: 'ratchet/r',
      resumed: false,
      maxExperiments: 10,
      maxWallClockMs: 3_600_000,
    });
    p({ type: 'experiment-start', id: 6, seq: 1, hypothesis: 'baseline', elapsedMs: 0 });
    p({
      type: 'experiment-end',
      record: record({ id: 6, seq: 1, score: 0.8, delta: null }),
      bestScore: 0.8,
      elapsedMs: 1500,
      left: { experiments: 9, wallClockMs: 3_598_500, consecutiveFailures: 5 },
    });
    p({ type: 'experiment-start', id: 7, seq: 2, hypothesis: 'try boosting', elapsedMs: 1600 });
    await new Promise((r) => setTimeout(r, 200));
    p({
      type: 'experiment-end',
      record: record({}),
      bestScore: 0.81,
      elapsedMs: 3000,
      left: { experiments: 8, wallClockMs: 3_597_000, consecutiveFailures: 5 },
    });
    const n = lines.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(lines.length).toBe(n); // the heartbeat stops with the experiment
    expect(lines[0]).toMatch(/starting run r on ratchet\/r: up to 10 experiments, 1h00m wall clock/);
    expect(lines).toContain('[ 2/10] #7 try boosting');
    const beats = lines.filter((l) => l.includes('running'));
    expect(beats.length).toBeGreaterThanOrEqual(1);
    expect(beats[0]).toMatch(/#7 \(2\/10\) running \d+ms · best 0\.8000 · left: 8 exp after this, 59m5\ds/);
    expect(
      lines.some((l) => /kept\s+0\.8100 \+0\.0100\s+best 0\.8100\s+1\.5s\s+left: 8 exp, 59m57s/.test(l)),
    ).toBe(true);
  });

  it('on a terminal: one live status line redrawn in place, normal lines printed above it', async () => {
    let written = '';
    const fake = { columns: 60, write: (s: string) => (written += s) } as unknown as NodeJS.WriteStream;
    const live = new StatusLine(fake);
    const p = renderProgress(
      () => {
        throw new Error('lines go through the status line on a terminal');
      },
      { live },
    );
    p({
      type: 'run-start',
      runId: 'r',
      branch: 'ratchet/r',
      resumed: false,
      maxExperiments: 3,
      maxWallClockMs: 60_000,
    });
    p({ type: 'experiment-start', id: 1, seq: 1, hypothesis: 'baseline', elapsedMs: 0 });
    await new Promise((r) => setTimeout(r, 1100));
    p({
      type: 'experiment-end',
      record: record({ id: 1, seq: 1, delta: null }),
      bestScore: 0.81,
      elapsedMs: 1200,
      left: { experiments: 2, wallClockMs: 58_800, consecutiveFailures: 5 },
    });
    // Each redraw starts with "carriage return + erase line"; the status never exceeds the terminal width.
    const redraws = written.split('\r\u001b[2K').filter((s) => s.includes('running'));
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    for (const s of redraws) expect(s.split('\n')[0]!.length).toBeLessThanOrEqual(60);
    expect(written).toContain('[1/3] #1 baseline\n');
    // The status line is cleared when the experiment ends: nothing after the last erase mentions it.
    expect(written.split('\r\u001b[2K').at(-1)).not.toMatch(/running/);
    expect(written).toMatch(/kept\s+0\.8100/);
  });
});

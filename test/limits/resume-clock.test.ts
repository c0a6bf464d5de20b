import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { cli, cliAsync, makeProject } from '../helpers/project.js';

const BUDGET_S = 30;

/** The run's active time as the journal records it, ms. */
function activeMs(dir: string, runId: string): number {
  const j = Journal.open(dir, { readonly: true });
  try {
    return j.getRun(runId)?.activeMs ?? -1;
  } finally {
    j.close();
  }
}

/** The run's active periods from its lifecycle events (run.started → run.stopped/finished/...), ms. */
function periodsMs(dir: string, runId: string): number[] {
  const j = Journal.open(dir, { readonly: true });
  try {
    const out: number[] = [];
    let start: number | null = null;
    for (const e of j.listEvents({ runId })) {
      if (e.kind === 'run.started') start = Date.parse(e.ts);
      else if (start !== null && /^run\.(finished|stopped|failed|escalated)$/.test(e.kind)) {
        out.push(Date.parse(e.ts) - start);
        start = null;
      }
    }
    return out;
  } finally {
    j.close();
  }
}

/** `ratchet status --json`, or null before the run has created the journal. */
function statusOf(dir: string) {
  const r = cli(['status', '--dir', dir, '--json'], dir);
  return r.code === 0 ? JSON.parse(r.stdout) : null;
}

describe('stopping and resuming continues the wall clock', () => {
  it('run, stop, resume: the run ends for its wall-clock budget at a total active time of about the budget', {
    timeout: 300_000,
  }, async () => {
    const dir = await makeProject({ rows: 1500 });
    const { done } = cliAsync(
      ['run', '--dir', dir, '--run', 'clock', '--experiments', '200', '--budget', `${BUDGET_S}s`],
      dir,
    );
    // let two thirds of the budget pass, then stop (the kill switch)
    let elapsed = 0;
    const t0 = Date.now();
    while (elapsed < (2 * BUDGET_S) / 3 && Date.now() - t0 < 120_000) {
      await new Promise((r) => setTimeout(r, 500));
      const s = statusOf(dir);
      elapsed = s?.run?.id === 'clock' && s.run.active ? s.budgets.elapsed_s : 0;
    }
    const stop = cli(['stop', '--dir', dir, '--json'], dir);
    expect(JSON.parse(stop.stdout), stop.stderr).toMatchObject({ stopped: true, run: 'clock' });
    const first = await done;
    expect(first.stdout).toMatch(/run clock stopped/);
    const before = activeMs(dir, 'clock');
    expect(before).toBeGreaterThanOrEqual(((2 * BUDGET_S) / 3) * 1000);
    // stopped, the clock does not run: status shows the same figure later
    await new Promise((r) => setTimeout(r, 1500));
    expect(statusOf(dir).budgets.elapsed_s).toBeCloseTo(before / 1000, 0);

    const resumed = cli(['run', '--dir', dir, '--run', 'clock', '--json'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      status: 'finished',
      reason: expect.stringMatching(/wall-clock budget used/),
    });
    // the wall time the run really had, from its lifecycle events: two periods that sum to about the budget
    // (an experiment may overrun it by its last seconds), not the budget per resume
    const periods = periodsMs(dir, 'clock');
    expect(periods).toHaveLength(2);
    const real = periods[0]! + periods[1]!;
    expect(real).toBeGreaterThanOrEqual((BUDGET_S - 2) * 1000);
    expect(real).toBeLessThan((BUDGET_S + 12) * 1000);
    // the journal's figure and the status agree with it
    const total = activeMs(dir, 'clock');
    expect(Math.abs(total - real)).toBeLessThan(3000);
    expect(statusOf(dir).budgets.elapsed_s).toBeCloseTo(total / 1000, 0);
  });
});

import type { Journal } from '../../src/journal/store.js';

/**
 * Record a finished run in a journal, as the trace and query tests need it: `ratchet/<id>` on worktree `/w`,
 * base commit `abc`, the command proposer, started 2026-01-01.
 * @param j an open, writable journal
 * @param id the run's id
 */
export function addFinishedRun(j: Journal, id = 'r1'): void {
  j.createRun({
    id,
    branch: `ratchet/${id}`,
    worktree: '/w',
    baseCommit: 'abc',
    proposer: 'command',
    status: 'finished',
    startedAt: '2026-01-01T00:00:00Z',
    unsafe: false,
    pid: null,
    config: {},
  });
}

/**
 * Add `count` log events of `kib` KiB each to a run (messages `<i>:yyyy…`): big traces, so that a query over
 * them (group_concat over their self-join: count² × kib KiB) can exhaust a memory cap.
 */
export function addBigEvents(j: Journal, runId: string, count: number, kib: number): void {
  for (let i = 0; i < count; i++)
    j.addEvent({
      ts: 'now',
      runId,
      experimentId: null,
      kind: 'log',
      severity: 'info',
      guardrail: null,
      message: `${i}:${'y'.repeat(kib * 1024)}`,
      data: null,
    });
}

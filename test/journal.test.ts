import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { latestReviews } from '../src/journal/reviews.js';
import {
  COPYABLE_TABLES,
  type CopyableTable,
  type ExperimentRecord,
  JOURNAL_FILE,
  Journal,
} from '../src/journal/store.js';

/**
 * The journal's named queries that replaced SQL run from outside src/journal: reviews, the latest event of
 * some kinds, the Studio's change stamp, raw rows for the agents' copy, the proposer's name and isOpen; and the
 * experiment listings (whole records with their metrics, or the outcomes the trace tidy reads).
 */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(): string {
  const d = mkdtempSync(join(tmpdir(), 'ratchet-journal-'));
  dirs.push(d);
  return d;
}

function withRun(j: Journal, id = 'r1'): void {
  j.createRun({
    id,
    branch: `ratchet/${id}`,
    worktree: '/tmp/wt',
    baseCommit: 'abc',
    proposer: 'pending',
    status: 'running',
    startedAt: new Date().toISOString(),
    unsafe: false,
    pid: null,
    config: {},
  });
}

describe('journal reviews', () => {
  it('round-trips reviews, oldest first, per run, and the latest one stands', () => {
    const dir = project();
    const j = Journal.open(dir);
    expect(j.listReviews()).toEqual([]); // no table yet
    const base = { ts: '2026-01-01T00:00:00.000Z', submissionId: 1, reviewer: 'ana' };
    const a = j.addReview({ ...base, runId: 'r1', experimentId: 3, decision: 'reject', note: 'leaky' });
    const b = j.addReview({ ...base, runId: 'r1', experimentId: 3, decision: 'promote', note: 'fixed' });
    const c = j.addReview({ ...base, runId: 'r2', experimentId: 9, decision: 'promote', note: 'fine' });
    expect([a, b, c]).toEqual([1, 2, 3]);
    expect(j.listReviews().map((r) => r.id)).toEqual([1, 2, 3]);
    const r1 = j.listReviews('r1');
    expect(r1).toHaveLength(2);
    expect(r1[1]).toEqual({
      id: 2,
      ...base,
      runId: 'r1',
      experimentId: 3,
      decision: 'promote',
      note: 'fixed',
    });
    expect(latestReviews(r1).get(3)?.decision).toBe('promote');
    // The table's checks still hold.
    expect(() =>
      j.addReview({ ...base, runId: 'r1', experimentId: 3, decision: 'promote', note: '   ' }),
    ).toThrow(/CHECK/);
    j.close();
    const ro = Journal.open(dir, { readonly: true });
    expect(ro.listReviews('r2').map((r) => r.note)).toEqual(['fine']);
    ro.close();
  });

  it('lists no reviews on a read-only journal that never had one', () => {
    const dir = project();
    Journal.open(dir).close();
    const ro = Journal.open(dir, { readonly: true });
    expect(ro.listReviews()).toEqual([]);
    ro.close();
  });
});

describe('journal named queries', () => {
  it('finds the latest event of some kinds, optionally with a data key', () => {
    const j = Journal.open(project());
    const ev = (kind: string, data: Record<string, unknown> | null) =>
      j.addEvent({
        ts: 't',
        runId: null,
        experimentId: null,
        kind,
        severity: 'info',
        guardrail: null,
        message: kind,
        data,
      });
    expect(j.latestEvent(['a'])).toBeNull();
    ev('a', { reachable: false });
    ev('b', { other: 1 });
    ev('a', { note: 'no key' });
    expect(j.latestEvent(['a', 'b'])?.kind).toBe('a');
    expect(j.latestEvent(['a', 'b'])?.data).toEqual({ note: 'no key' });
    expect(j.latestEvent(['a', 'b'], { dataKey: 'reachable' })?.data).toEqual({ reachable: false });
    expect(j.latestEvent(['b'], { dataKey: 'reachable' })).toBeNull();
    expect(j.latestEvent([])).toBeNull();
    j.close();
  });

  it('finds the latest event of some kinds of one run, and through the (kind, id) index, never a scan of the events', () => {
    const dir = project();
    const j = Journal.open(dir);
    withRun(j, 'r1');
    withRun(j, 'r2');
    const ev = (kind: string, runId: string | null) =>
      j.addEvent({
        ts: 't',
        runId,
        experimentId: null,
        kind,
        severity: 'info',
        guardrail: null,
        message: kind,
        data: null,
      });
    const e1 = ev('escalation', 'r1');
    ev('escalation', 'r2');
    const e3 = ev('escalation.cleared', 'r1');
    for (let i = 0; i < 50; i++) ev('experiment.finished', 'r2');
    expect(j.latestEvent(['escalation', 'escalation.cleared'], { runId: 'r1' })?.id).toBe(e3);
    expect(j.latestEvent(['escalation'], { runId: 'r1' })?.id).toBe(e1);
    expect(j.latestEvent(['escalation'], { runId: 'r3' })).toBeNull();
    expect(j.latestEvent(['escalation', 'escalation.cleared'])?.id).toBe(e3);
    j.close();
    // The query a run's stop check makes before every experiment: a search of the (kind, id) index.
    const db = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT max(id) AS id FROM events WHERE kind = 'escalation'")
      .all() as {
      detail: string;
    }[];
    db.close();
    expect(plan.map((p) => p.detail).join('; ')).toMatch(/USING COVERING INDEX events_kind/);
  });

  it('changes its change stamp when an event or a run changes', () => {
    const j = Journal.open(project());
    const s0 = j.changeStamp();
    withRun(j);
    const s1 = j.changeStamp();
    expect(s1).not.toBe(s0);
    j.updateRun('r1', { status: 'finished', endedAt: 'now' });
    const s2 = j.changeStamp();
    expect(s2).not.toBe(s1);
    j.addEvent({
      ts: 't',
      runId: 'r1',
      experimentId: null,
      kind: 'x',
      severity: 'info',
      guardrail: null,
      message: '',
      data: null,
    });
    expect(j.changeStamp()).not.toBe(s2);
    j.close();
  });

  it('records the proposer name and hands out raw rows of the copyable tables only', () => {
    const j = Journal.open(project());
    withRun(j);
    j.updateRun('r1', { proposer: 'optuna' });
    expect(j.getRun('r1')?.proposer).toBe('optuna');
    const runs = j.tableRows('runs');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.['proposer']).toBe('optuna');
    expect(runs[0]?.['config']).toBe('{}'); // as stored
    for (const t of COPYABLE_TABLES) expect(Array.isArray(j.tableRows(t))).toBe(true);
    expect(() => j.tableRows('submissions' as CopyableTable)).toThrow(/not a copyable table/);
    expect(j.isOpen).toBe(true);
    j.close();
    expect(j.isOpen).toBe(false);
  });

  it('keeps its database connection out of reach', () => {
    const j = Journal.open(project());
    expect((j as unknown as Record<string, unknown>)['db']).toBeUndefined();
    expect(Object.keys(j)).toEqual([]);
    j.close();
  });

  it('lists experiments with their public metrics from one query, and their outcomes alone for the trace tidy', () => {
    const j = Journal.open(project());
    withRun(j, 'r1');
    withRun(j, 'r2');
    const rec = (id: number, runId: string, metrics: Record<string, number>): ExperimentRecord => ({
      id,
      runId,
      seq: id,
      proposer: 'p',
      hypothesis: `h${id}`,
      params: { x: id },
      meta: { timings: { record: id } },
      decision: id === 2 ? 'kept' : 'reverted',
      reason: 'r',
      score: 0.5 + id / 100,
      bestBefore: null,
      delta: null,
      ciLow: null,
      ciHigh: null,
      probImprovement: null,
      commitSha: null,
      parentSha: 'abc',
      files: ['params.yaml'],
      sandboxStatus: id === 3 ? 'output_limit' : 'ok',
      sandboxMessage: '',
      exitCode: 0,
      sandboxed: true,
      startedAt: 't',
      endedAt: 't',
      durationMs: 1,
      executeMs: 1,
      conclusion: null,
      metrics,
    });
    j.recordExperiment(rec(1, 'r1', { log_loss: 0.6, auroc: 0.7, brier: 0.2 }));
    j.recordExperiment(rec(2, 'r2', { auroc: 0.8 }));
    j.recordExperiment(rec(3, 'r1', {}));
    j.recordExperiment(rec(4, 'r1', { f1: 0.4, auroc: 0.75, NaNmetric: Number.NaN }));
    const all = j.listExperiments();
    expect(all.map((e) => e.id)).toEqual([1, 2, 3, 4]);
    for (const e of [...all, ...j.listExperiments('r1'), ...j.listExperiments('r2')]) {
      const one = j.getExperiment(e.id)!;
      expect(e).toEqual(one);
      expect(Object.keys(e.metrics)).toEqual(Object.keys(one.metrics)); // the same order: by name
    }
    expect(all[0]!.metrics).toEqual({ auroc: 0.7, brier: 0.2, log_loss: 0.6 });
    expect(Object.keys(all[0]!.metrics)).toEqual(['auroc', 'brier', 'log_loss']);
    expect(all[2]!.metrics).toEqual({});
    expect(all[3]!.metrics).toEqual({ auroc: 0.75, f1: 0.4 }); // non-finite values are never stored
    expect(j.listExperiments('r1').map((e) => e.id)).toEqual([1, 3, 4]);
    expect(j.listOutcomes()).toEqual(
      all.map((e) => ({ id: e.id, decision: e.decision, sandboxStatus: e.sandboxStatus })),
    );
    // From an id on (the incremental trace tidy's question): the same rows, the older ones left out.
    expect(j.listOutcomes({ fromId: 3 })).toEqual(j.listOutcomes().filter((o) => o.id >= 3));
    j.close();
  });

  it('lists the newest events of some kinds of a run, oldest first, as filtering all of them would', () => {
    const j = Journal.open(project());
    withRun(j, 'r1');
    withRun(j, 'r2');
    const kinds = ['guardrail', 'escalation', 'experiment.started', 'run.started'];
    for (let i = 0; i < 200; i++)
      j.addEvent({
        ts: `t${i}`,
        runId: i % 3 === 0 ? 'r2' : 'r1',
        experimentId: null,
        kind: kinds[(i * 7) % kinds.length]!,
        severity: 'info',
        guardrail: null,
        message: `e${i}`,
        data: { i },
      });
    for (const run of ['r1', 'r2'])
      for (const ks of [['guardrail'], ['guardrail', 'escalation', 'run.started'], kinds])
        for (const last of [0, 1, 5, 300]) {
          const all = j.listEvents({ runId: run, kinds: ks });
          expect(j.listEvents({ runId: run, kinds: ks, last })).toEqual(
            all.slice(Math.max(0, all.length - last)),
          );
        }
    j.close();
  });
});

describe('journal migration', () => {
  it('two writers opening an older journal at once take turns: neither fails on a column the other added', async () => {
    const dir = project();
    Journal.open(dir).close();
    // As an older Ratchet left it: without the columns added since.
    const old = new Database(join(dir, JOURNAL_FILE));
    old.exec(`DROP INDEX experiments_row_version; DROP INDEX experiments_run_row_version;
      ALTER TABLE experiments DROP COLUMN row_version; ALTER TABLE experiments DROP COLUMN direction`);
    // Hold the write lock while both writers start, so both look at the columns before either may add one.
    old.exec('BEGIN IMMEDIATE');
    const store = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'src', 'journal', 'store.js')).href;
    const open = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `const { Journal } = await import(${JSON.stringify(store)}); Journal.open(${JSON.stringify(dir)}).close(); console.log('opened');`,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const both = Promise.all([open(), open()]);
    await new Promise((r) => setTimeout(r, 2500));
    old.exec('COMMIT');
    old.close();
    for (const r of await both) expect(r, r.out).toMatchObject({ code: 0, out: 'opened\n' });
    const j = Journal.open(dir, { readonly: true });
    try {
      expect(j.experimentsVersion('none').version).toBe(0); // the row versions are there
    } finally {
      j.close();
    }
  }, 30_000);
});

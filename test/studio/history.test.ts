/**
 * The Studio's incremental snapshot (src/studio/history.ts): a Studio that kept its run's history across a sequence
 * of journal writes answers exactly what a Studio opening the journal afresh answers, after each write. The writes
 * are those a live Studio sees: a run with several directions recording out of id order, conclusions, a
 * submission and a review, an A/B import, a re-split, another run.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Contract, loadContract } from '../../src/contract/load.js';
import { type ExperimentRecord, JOURNAL_FILE, Journal } from '../../src/journal/store.js';
import { runHistory } from '../../src/studio/history.js';
import { startStudio } from '../../src/studio/server.js';
import { studioAlignment, studioState, studioStateJson } from '../../src/studio/state.js';
import { cli, makeProject } from '../helpers/project.js';
import { EXAMPLE_AB } from '../helpers/tiers.js';

let dir: string;
let contract: Contract;
let writer: Journal;
/** The long-lived reader, as the Studio server keeps it. */
let live: Journal;

const sha = (id: number) => id.toString(16).padStart(40, 'c');

function record(id: number, seq: number, direction: number, o: Partial<ExperimentRecord> = {}): void {
  const kept = o.decision === 'kept';
  writer.recordExperiment({
    id,
    runId: 'r1',
    seq,
    proposer: 'search',
    hypothesis: `try <${id}> & "quote" ${'x'.repeat(id % 7 === 0 ? 200 : 3)}`,
    params: { lr: id / 100 },
    meta: { featureCheck: { status: id % 2 ? 'checked' : 'not_checked', reason: '' } },
    decision: 'reverted',
    reason: `reason ${id}`,
    score: 0.7 + id / 1000,
    bestBefore: 0.7,
    delta: id / 1000,
    ciLow: null,
    ciHigh: null,
    probImprovement: null,
    keepTest: 'delong',
    direction,
    commitSha: kept ? sha(id) : null,
    parentSha: sha(1),
    files: ['params.yaml'],
    sandboxStatus: 'ok',
    sandboxMessage: '',
    exitCode: 0,
    sandboxed: true,
    startedAt: `2024-01-01T00:00:${String(seq).padStart(2, '0')}Z`,
    endedAt: `2024-01-01T00:01:${String(seq).padStart(2, '0')}Z`,
    durationMs: 1000 + id,
    executeMs: 900,
    conclusion: null,
    metrics: { auroc: 0.7 + id / 1000, log_loss: 0.5 },
    ...o,
  });
}

function event(
  kind: string,
  runId: string | null,
  data: Record<string, unknown> = {},
  experimentId: number | null = null,
) {
  writer.addEvent({
    ts: new Date().toISOString(),
    runId,
    experimentId,
    kind,
    severity: 'info',
    guardrail: null,
    message: `${kind} ${JSON.stringify(data)}`,
    data,
  });
}

/**
 * The snapshot without the fields that tick with the clock, and without `rowsKey`: a change signal of the
 * connection's own history (how many rows it re-read), which a fresh reader starts again.
 */
function comparable(text: string): unknown {
  const s = JSON.parse(text) as Record<string, unknown>;
  delete s['serverTime'];
  expect(typeof s['rowsKey']).toBe('string');
  delete s['rowsKey'];
  const status = s['status'] as { run?: { elapsed_s?: number }; budgets?: { elapsed_s?: number } } | null;
  if (status?.budgets) delete status.budgets.elapsed_s;
  const cur = s['current'] as { elapsedMs?: number } | null;
  if (cur) delete cur.elapsedMs;
  if (status && (status as Record<string, unknown>)['run']) {
    const c = (status as { current?: { elapsedMs?: number } | null }).current;
    if (c) delete c.elapsedMs;
  }
  const budgets = s['budgets'] as { wallClock?: { elapsedMs?: number } };
  delete budgets.wallClock?.elapsedMs;
  return s;
}

/** The live Studio's answer equals a fresh reader's, for the latest run and for r1. */
function expectSameAsFresh(): void {
  const fresh = Journal.open(dir, { readonly: true });
  try {
    for (const run of [undefined, 'r1']) {
      const incremental = studioStateJson(live, contract, run);
      const scratch = studioStateJson(fresh, contract, run);
      expect(comparable(incremental)).toEqual(comparable(scratch));
      // The object form is the same snapshot.
      expect(comparable(JSON.stringify(studioState(live, contract, run)))).toEqual(comparable(scratch));
    }
  } finally {
    fresh.close();
  }
}

beforeAll(async () => {
  dir = await makeProject({ rows: 600 });
  contract = loadContract(dir);
  writer = Journal.open(dir);
  live = Journal.open(dir, { readonly: true });
}, 120_000);

afterAll(() => {
  live?.close();
  writer?.close();
});

/** A fresh reader that notes the run of every `listExperiments` call (undefined: every run's). */
function counting(): { reader: Journal; whole: (string | undefined)[]; close: () => void } {
  const fresh = Journal.open(dir, { readonly: true });
  const whole: (string | undefined)[] = [];
  const reader = new Proxy(fresh, {
    get(target, key) {
      if (key === 'listExperiments')
        return (runId?: string, opts?: { changedAfter?: number }) => {
          whole.push(runId);
          return target.listExperiments(runId, opts);
        };
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { reader, whole, close: () => fresh.close() };
}

describe('before any A/B test is imported', () => {
  it('the alignment reads no experiment (nothing to align)', () => {
    writer.createRun({
      id: 'r0',
      branch: 'ratchet/r0',
      worktree: '.ratchet/worktrees/r0',
      baseCommit: sha(0),
      proposer: 'search',
      status: 'stopped',
      startedAt: '2023-12-31T00:00:00Z',
      unsafe: false,
      pid: null,
      config: {},
    });
    const { reader, whole, close } = counting();
    try {
      expect(studioAlignment(reader)).toBeNull();
      const state = JSON.parse(studioStateJson(reader, contract, 'r0')) as { alignment: unknown };
      expect(state.alignment).toBeNull();
      expect(whole).toEqual([]); // neither the run's rows (it has none) nor every run's
    } finally {
      close();
    }
  });
});

describe('the Studio keeps a run history and reads only what changed', () => {
  it('equals a from-scratch snapshot after each write of a run with several directions', () => {
    writer.createRun({
      id: 'r1',
      branch: 'ratchet/r1/d1',
      worktree: '.ratchet/worktrees/r1-d1',
      baseCommit: sha(0),
      proposer: 'search',
      status: 'running',
      startedAt: '2024-01-01T00:00:00Z',
      unsafe: false,
      pid: null,
      config: { directions: 3, maxExperiments: 40, maxConsecutiveFailures: 5 },
    });
    expectSameAsFresh(); // a run with no experiment yet
    event('experiment.started', 'r1', { id: 1, seq: 1 });
    record(1, 1, 1, { decision: 'kept', score: 0.7, bestBefore: null, delta: null });
    event('experiment.finished', 'r1', { id: 1, seq: 1 });
    expectSameAsFresh();
    expect(runHistory(live, 'r1').size).toBe(1);
    // Three directions: ids 2..4 reserved at once, recorded 4, 2, (3 later); 5 and 6 meanwhile.
    for (const id of [2, 3, 4]) event('experiment.started', 'r1', { id, seq: id });
    record(4, 4, 3, { decision: 'kept' });
    expectSameAsFresh();
    record(2, 2, 1);
    record(5, 5, 2, { decision: 'crashed', score: null, delta: null, sandboxStatus: 'failed' });
    expectSameAsFresh();
    record(6, 6, 1, { decision: 'kept' });
    record(3, 3, 2, { decision: 'rejected', score: null });
    event('direction.adopted', 'r1', { direction: 2, experiment: 6, from: 1 });
    expectSameAsFresh();
    const rows = (JSON.parse(studioStateJson(live, contract, 'r1')) as { experiments: { id: number }[] })
      .experiments;
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(runHistory(live, 'r1').size).toBe(6);
  });

  it('follows conclusions, a submission, a review, notable events and an A/B import', () => {
    writer.setConclusion(4, 'depth helps');
    expectSameAsFresh();
    writer.setConclusion(4, 'depth hurts'); // same length: the row still changes
    writer.setConclusion(2, 'lr too high');
    expectSameAsFresh();
    const submission = writer.addSubmission({
      ts: new Date().toISOString(),
      runId: 'r1',
      experimentId: 6,
      commitSha: sha(6),
      public: 0.706,
      private: 0.69,
      gap: 0.016,
      metrics: { auroc: 0.69 },
    });
    event('submission', 'r1', { experiment: 6 }, 6);
    expectSameAsFresh();
    writer.addReview({
      ts: new Date().toISOString(),
      runId: 'r1',
      experimentId: 6,
      submissionId: submission,
      decision: 'promote',
      note: 'ship it',
      reviewer: 'lead',
    });
    event('review', 'r1', { experiment: 6 }, 6);
    expectSameAsFresh();
    const s = JSON.parse(studioStateJson(live, contract, 'r1')) as {
      experiments: { id: number; private: number | null; review: string | null; conclusion: string | null }[];
    };
    const six = s.experiments.find((e) => e.id === 6)!;
    expect([six.private, six.review]).toEqual([0.69, 'promote']);
    expect(s.experiments.find((e) => e.id === 4)!.conclusion).toBe('depth hurts');
    for (let i = 0; i < 5; i++) event('guardrail', 'r1', { i });
    event('escalation', 'r1', { cause: 'plateau' });
    const ab = cli(['ab', 'import', EXAMPLE_AB, '--dir', dir], dir);
    expect(ab.code, ab.stderr).toBe(0);
    const a = JSON.parse(studioStateJson(live, contract, 'r1')) as { alignment: { tests: number } | null };
    expect(a.alignment?.tests).toBeGreaterThan(0);
    expectSameAsFresh();
  });

  it('follows a re-split and another run, and keeps at most two runs per connection', () => {
    event('split.version', null, { version: 2 });
    writer.updateRun('r1', { status: 'stopped', endedAt: new Date().toISOString(), stopReason: 'stopped' });
    writer.createRun({
      id: 'r2',
      branch: 'ratchet/r2',
      worktree: '.ratchet/worktrees/r2',
      baseCommit: sha(0),
      proposer: 'search',
      status: 'running',
      startedAt: '2024-01-02T00:00:00Z',
      unsafe: false,
      pid: null,
      config: { maxExperiments: 10 },
    });
    expectSameAsFresh();
    for (const id of [8, 7]) {
      writer.recordExperiment({
        ...JSON.parse(JSON.stringify(live.getExperiment(6))),
        id,
        runId: 'r2',
        seq: id - 6,
        direction: null,
      });
      expectSameAsFresh();
    }
    expect(runHistory(live, 'r2').size).toBe(2);
    expect(runHistory(live, 'r1').size).toBe(6);
    expect(runHistory(live, 'r1')).toBe(runHistory(live, 'r1')); // kept, not rebuilt
  });
});

describe('what a snapshot does not read again', () => {
  it('makes the chart and the rows again only when what they show changed', () => {
    const h = runHistory(live, 'r2');
    let made = 0;
    const make = () => `v${++made}`;
    expect(h.cached('x', 'k', make)).toBe('v1');
    expect(h.cached('x', 'k', make)).toBe('v1'); // nothing changed
    expect(h.cached('x', 'k2', make)).toBe('v2'); // the key changed
    writer.recordExperiment({
      ...JSON.parse(JSON.stringify(live.getExperiment(6))),
      id: 9,
      runId: 'r2',
      seq: 3,
      direction: null,
    });
    expect(runHistory(live, 'r2').cached('x', 'k2', make)).toBe('v3'); // an experiment was added
    expectSameAsFresh();
  });

  it("a Studio reads the latest run's experiments from its start and on every poll, not when asked", async () => {
    const studio = await startStudio({ projectDir: dir, port: 0, pollMs: 50 });
    const spy = vi.spyOn(Journal.prototype, 'listExperiments');
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(spy.mock.calls.filter((c) => c[0] === 'r2')).toHaveLength(1); // read once, in the background
      spy.mockClear();
      const get = async () => {
        const res = await fetch(`http://127.0.0.1:${studio.port}/api/state`);
        return (await res.json()) as { run: string; experiments: { id: number }[] };
      };
      const first = await get();
      expect([first.run, first.experiments.map((e) => e.id)]).toEqual(['r2', [7, 8, 9]]);
      expect(spy.mock.calls.filter((c) => c[0] === 'r2')).toEqual([]); // the request read no row of the run
      writer.recordExperiment({
        ...JSON.parse(JSON.stringify(live.getExperiment(6))),
        id: 10,
        runId: 'r2',
        seq: 4,
        direction: null,
      });
      await new Promise((r) => setTimeout(r, 400));
      spy.mockClear();
      const second = await get();
      expect(second.experiments.map((e) => e.id)).toEqual([7, 8, 9, 10]);
      expect(spy.mock.calls.filter((c) => c[0] === 'r2')).toEqual([]);
    } finally {
      spy.mockRestore();
      await studio.close();
    }
  });

  it('reads only the rows that changed since its last look: a new row, an older row concluded later', () => {
    const spy = vi.spyOn(Journal.prototype, 'listExperiments');
    /** The ids each read of r2's rows returned. */
    const reads = () =>
      spy.mock.calls.flatMap((c, i) =>
        c[0] === 'r2' ? [(spy.mock.results[i]!.value as ExperimentRecord[]).map((e) => e.id)] : [],
      );
    try {
      runHistory(live, 'r2');
      spy.mockClear();
      writer.recordExperiment({
        ...JSON.parse(JSON.stringify(live.getExperiment(6))),
        id: 11,
        runId: 'r2',
        seq: 5,
        direction: null,
        conclusion: 'a new row with a conclusion: “ünïcödé” 🙂',
      });
      expect(runHistory(live, 'r2').size).toBe(5);
      expect(reads()).toEqual([[11]]);
      expectSameAsFresh();
      spy.mockClear();
      writer.setConclusion(8, 'an older row concluded later');
      runHistory(live, 'r2');
      expect(reads()).toEqual([[8]]);
      expectSameAsFresh();
      spy.mockClear();
      runHistory(live, 'r2'); // nothing changed: nothing read
      expect(reads()).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('a row written without a row version (an older Ratchet) is still found: the run is read again', () => {
    const h = runHistory(live, 'r2');
    const before = h.size;
    // As an older writer records: the columns it knew, no row version.
    const raw = new Database(join(dir, JOURNAL_FILE));
    try {
      const row = raw.prepare('SELECT * FROM experiments WHERE id = 11').get() as Record<string, unknown>;
      const cols = Object.keys(row).filter((c) => c !== 'row_version');
      raw
        .prepare(
          `INSERT INTO experiments (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`,
        )
        .run({ ...Object.fromEntries(cols.map((c) => [c, row[c]])), id: 12, seq: 6 });
    } finally {
      raw.close();
    }
    expect(runHistory(live, 'r2').size).toBe(before + 1);
    expectSameAsFresh();
  });

  it('a journal written before row versions, opened read-only, is read whole whenever it changed', () => {
    // A copy of the journal as an older Ratchet left it: no row_version column, no index on it.
    const old = mkdtempSync(join(tmpdir(), 'ratchet-legacy-'));
    mkdirSync(join(old, '.ratchet'));
    const raw = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    try {
      raw.prepare('VACUUM INTO ?').run(join(old, JOURNAL_FILE));
    } finally {
      raw.close();
    }
    const legacy = new Database(join(old, JOURNAL_FILE));
    legacy.exec(
      'DROP INDEX experiments_row_version; DROP INDEX experiments_run_row_version; ALTER TABLE experiments DROP COLUMN row_version',
    );
    const reader = Journal.open(old, { readonly: true });
    try {
      expect(reader.experimentsVersion('r2').version).toBeNull();
      const same = (h: ReturnType<typeof runHistory>) => h.points().map((p) => [p.id, p.decision, p.score]);
      expect(same(runHistory(reader, 'r2'))).toEqual(same(runHistory(live, 'r2')));
      const row = legacy.prepare('SELECT * FROM experiments WHERE id = 11').get() as Record<string, unknown>;
      legacy
        .prepare(
          `INSERT INTO experiments (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row)
            .map((c) => `@${c}`)
            .join(', ')})`,
        )
        .run({ ...row, id: 40, seq: 40 });
      legacy
        .prepare('UPDATE experiments SET conclusion = ? WHERE id = 7')
        .run('concluded by an older Ratchet');
      const h = runHistory(reader, 'r2');
      expect(h.points().map((p) => p.id)).toContain(40);
      expect(
        JSON.parse(h.newestJson(100, new Map(), new Map())).find((r: { id: number }) => r.id === 7)
          .conclusion,
      ).toBe('concluded by an older Ratchet');
    } finally {
      reader.close();
      legacy.close();
      rmSync(old, { recursive: true, force: true });
    }
    // A writer that opens such a journal adds the row versions: old rows have none, new writes get one.
    const migrated = mkdtempSync(join(tmpdir(), 'ratchet-migrated-'));
    mkdirSync(join(migrated, '.ratchet'));
    const src = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    src.prepare('VACUUM INTO ?').run(join(migrated, JOURNAL_FILE));
    src.close();
    const m = new Database(join(migrated, JOURNAL_FILE));
    m.exec(
      'DROP INDEX experiments_row_version; DROP INDEX experiments_run_row_version; ALTER TABLE experiments DROP COLUMN row_version',
    );
    m.close();
    const w = Journal.open(migrated);
    const r = Journal.open(migrated, { readonly: true });
    try {
      const h = runHistory(r, 'r2');
      expect(r.experimentsVersion('r2').version).toBe(0);
      w.setConclusion(7, 'concluded after the upgrade');
      expect(r.experimentsVersion('r2').version).toBe(1);
      expect(r.listExperiments('r2', { changedAfter: 0 }).map((e) => e.id)).toEqual([7]);
      runHistory(r, 'r2');
      expect(
        JSON.parse(h.newestJson(100, new Map(), new Map())).find((x: { id: number }) => x.id === 7)
          .conclusion,
      ).toBe('concluded after the upgrade');
    } finally {
      r.close();
      w.close();
      rmSync(migrated, { recursive: true, force: true });
    }
  });

  it('reads the experiments for the alignment once A/B tests were imported', () => {
    const { reader, whole, close } = counting();
    try {
      expect(reader.listAbTests().length).toBeGreaterThan(0); // imported above
      expect(studioAlignment(reader)?.tests).toBeGreaterThan(0);
      expect(whole).toEqual([undefined]);
    } finally {
      close();
    }
  });
});

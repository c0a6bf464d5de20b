import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { grepTraces, queryJournal } from '../../src/traces/index.js';
import { addFinishedRun } from '../helpers/journal.js';
import { cli, tempDir } from '../helpers/project.js';

/** A project folder with a journal (a run, experiments, a submission and a gap escalation) and traces. */
let dir: string;
const PRIVATE_SCORE = 0.6543219876;

function record(id: number, over: Partial<ExperimentRecord> = {}): ExperimentRecord {
  return {
    id,
    runId: 'r1',
    seq: id,
    proposer: id === 1 ? 'baseline' : 'command',
    hypothesis: `hypothesis ${id}: try model ${id}`,
    params: { model: `m${id}` },
    meta: null,
    decision: id === 2 ? 'kept' : 'reverted',
    reason: 'because',
    score: 0.7 + id / 100,
    bestBefore: null,
    delta: null,
    ciLow: null,
    ciHigh: null,
    probImprovement: null,
    commitSha: null,
    parentSha: 'abc',
    files: ['params.yaml'],
    sandboxStatus: 'ok',
    sandboxMessage: '',
    exitCode: 0,
    sandboxed: true,
    startedAt: '2026-01-01T00:00:00Z',
    endedAt: '2026-01-01T00:00:01Z',
    durationMs: 1000,
    executeMs: 900,
    conclusion: null,
    metrics: { auroc: 0.7 + id / 100 },
    ...over,
  };
}

beforeAll(() => {
  dir = tempDir('ratchet-traces-');
  const j = Journal.open(dir);
  addFinishedRun(j);
  for (let i = 1; i <= 30; i++) j.recordExperiment(record(i));
  j.addSubmission({
    ts: 'now',
    runId: 'r1',
    experimentId: 2,
    commitSha: null,
    public: 0.72,
    private: PRIVATE_SCORE,
    gap: 0.72 - PRIVATE_SCORE,
    metrics: { auroc: PRIVATE_SCORE },
  });
  const ev = (kind: string, message: string, data: Record<string, unknown> | null) =>
    j.addEvent({
      ts: 'now',
      runId: 'r1',
      experimentId: 2,
      kind,
      severity: 'info',
      guardrail: null,
      message,
      data,
    });
  ev('submission', `private auroc ${PRIVATE_SCORE}`, { private: PRIVATE_SCORE });
  ev('escalation', `public-private gap ${(0.72 - PRIVATE_SCORE).toFixed(6)} exceeds the limit`, {
    gap: 0.0657,
  });
  ev('guardrail', 'do-not-retry: identical', { experiment: 2, privateNote: PRIVATE_SCORE });
  j.close();
  for (const id of [1, 2, 3]) {
    const d = join(dir, '.ratchet', 'runs', String(id).padStart(4, '0'));
    mkdirSync(join(d, 'output'), { recursive: true });
    writeFileSync(
      join(d, 'stdout.log'),
      `[train] fitting model m${id}\n[train] rows=1200\n${'x'.repeat(3000)}\n`,
    );
    writeFileSync(
      join(d, 'stderr.log'),
      id === 3 ? 'Traceback (most recent call last):\nValueError: bad C\n' : '',
    );
    writeFileSync(join(d, 'patch.diff'), `-model: a\n+model: m${id}\n`);
    writeFileSync(join(d, 'output', 'public.csv'), 'row_id,prediction\n1,0.5\n');
    writeFileSync(join(d, 'output', 'private.csv'), `row_id,prediction\n1,${PRIVATE_SCORE}\n`);
  }
  writeFileSync(join(dir, 'secret.txt'), `secret ${PRIVATE_SCORE}\n`);
  symlinkSync(join(dir, 'secret.txt'), join(dir, '.ratchet', 'runs', '0001', 'link.log'));
});

describe('traces grep', () => {
  it('finds lines across experiments, with the file and line number, and context', () => {
    const r = grepTraces(dir, { pattern: 'fitting model m\\d', context: 1 });
    expect(r.total).toBe(3);
    expect(r.capped).toBe(false);
    expect(r.matches[0]).toMatchObject({
      experiment: 1,
      file: 'stdout.log',
      line: 1,
      after: ['[train] rows=1200'],
    });
    expect(r.note).toBe('3 matching lines in 3 files'.replace('3 files', `${r.files_searched} files`));
    const only = grepTraces(dir, { pattern: 'ValueError', experiments: [3], file: '*.log' });
    expect(only.matches).toEqual([{ experiment: 3, file: 'stderr.log', line: 2, text: 'ValueError: bad C' }]);
    expect(grepTraces(dir, { pattern: 'm1', file: 'patch.diff' }).matches).toHaveLength(1);
    expect(grepTraces(dir, { pattern: '[train]', fixed: true }).total).toBe(6);
    expect(grepTraces(dir, { pattern: 'FITTING', ignoreCase: true }).total).toBe(3);
  });

  it('never searches private files or follows symlinks', () => {
    expect(grepTraces(dir, { pattern: String(PRIVATE_SCORE), fixed: true }).total).toBe(0);
    expect(grepTraces(dir, { pattern: 'secret' }).total).toBe(0);
    const files = new Set(grepTraces(dir, { pattern: '.', maxLines: 500 }).matches.map((m) => m.file));
    expect([...files].sort()).toEqual(['output/public.csv', 'patch.diff', 'stderr.log', 'stdout.log']);
  });

  it('caps the answer in lines and bytes and says so', () => {
    const lines = grepTraces(dir, { pattern: '.', maxLines: 4 });
    expect(lines.matches).toHaveLength(4);
    expect(lines.capped).toBe(true);
    expect(lines.note).toMatch(/^showing 4 of \d+ matching lines \(capped at 4 lines\)/);
    const bytes = grepTraces(dir, { pattern: 'x{100}', maxBytes: 1000 });
    expect(bytes.total).toBe(3);
    expect(bytes.matches.length).toBeLessThan(3);
    expect(bytes.note).toMatch(/capped at 1000 bytes/);
    // Long lines are cut in the answer.
    expect(bytes.matches[0]!.text.length).toBeLessThanOrEqual(401);
    expect(grepTraces(dir, { pattern: '.', maxLines: 10_000 }).matches.length).toBeLessThanOrEqual(500);
  });

  it('a bad pattern is a clear error', () => {
    expect(() => grepTraces(dir, { pattern: '(' })).toThrow(/not a valid regular expression/);
    expect(() => grepTraces(dir, { pattern: '' })).toThrow(/the pattern is empty/);
  });
});

describe('traces sql', () => {
  it('answers SELECTs over the public journal', () => {
    const r = queryJournal(dir, 'SELECT id, decision, score FROM experiments WHERE id <= 3 ORDER BY id');
    expect(r.columns).toEqual(['id', 'decision', 'score']);
    expect(r.rows).toEqual([
      [1, 'reverted', 0.71],
      [2, 'kept', 0.72],
      [3, 'reverted', 0.73],
    ]);
    expect(r.note).toBe('3 rows');
    const m = queryJournal(
      dir,
      "WITH k AS (SELECT * FROM metrics WHERE name = 'auroc') SELECT count(*) FROM k",
    );
    expect(m.rows).toEqual([[30]]);
  });

  it('refuses anything but one read-only SELECT', () => {
    expect(() => queryJournal(dir, 'DELETE FROM experiments')).toThrow(/only SELECT queries are allowed/);
    expect(() => queryJournal(dir, 'SELECT 1; DELETE FROM experiments')).toThrow(/does not run/);
    expect(() => queryJournal(dir, "ATTACH DATABASE '/tmp/x.db' AS x")).toThrow(/only SELECT/);
    expect(() => queryJournal(dir, 'PRAGMA table_info(experiments)')).toThrow(/only SELECT/);
    let err: { message: string; hint?: string } | null = null;
    try {
      queryJournal(dir, 'SELECT * FROM nowhere');
    } catch (e) {
      err = e as { message: string; hint?: string };
    }
    expect(err?.message).toMatch(/no such table: nowhere/);
    expect(err?.hint).toMatch(/experiments\(id, run_id/);
    // The journal itself is untouched.
    expect(queryJournal(dir, 'SELECT count(*) FROM experiments').rows).toEqual([[30]]);
  });

  it('never shows a private score: no submissions table, no submission or gap events, no private keys', () => {
    expect(() => queryJournal(dir, 'SELECT * FROM submissions')).toThrow(/no such table: submissions/);
    const ev = queryJournal(dir, 'SELECT kind, message, data FROM events ORDER BY id');
    expect(ev.rows.map((r) => r[0])).toEqual(['guardrail']);
    expect(JSON.stringify(ev.rows)).not.toContain(String(PRIVATE_SCORE).slice(0, 6));
    expect(JSON.parse(ev.rows[0]![2] as string)).toEqual({ experiment: 2 });
    expect(queryJournal(dir, "SELECT count(*) FROM metrics WHERE holdout <> 'public'").rows).toEqual([[0]]);
  });

  it('caps rows and bytes and says so', () => {
    const r = queryJournal(dir, 'SELECT id FROM experiments', { maxRows: 5 });
    expect(r.rows).toHaveLength(5);
    expect(r).toMatchObject({ row_count: 30, capped: true });
    expect(r.note).toMatch(/showing 5 of 30 rows \(capped at 5 rows\)/);
    const b = queryJournal(dir, 'SELECT * FROM experiments', { maxBytes: 2000 });
    expect(b.capped).toBe(true);
    expect(b.note).toMatch(/capped at 2000 bytes/);
  });
});

describe('ratchet traces (CLI)', () => {
  it('grep and sql, as text and JSON, with clear errors', () => {
    const g = cli(['traces', 'grep', 'ValueError', '--dir', dir, '--json'], dir);
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout)).toMatchObject({
      total: 1,
      matches: [{ experiment: 3, file: 'stderr.log' }],
    });
    const t = cli(['traces', 'grep', 'fitting', '--dir', dir, '--max-lines', '2'], dir);
    expect(t.stdout).toMatch(/#1\/stdout\.log:1: \[train\] fitting model m1/);
    expect(t.stdout).toMatch(/showing 2 of 3 matching lines/);
    const s = cli(
      ['traces', 'sql', 'SELECT id, decision FROM experiments WHERE id = 2', '--dir', dir, '--json'],
      dir,
    );
    expect(JSON.parse(s.stdout)).toMatchObject({ columns: ['id', 'decision'], rows: [[2, 'kept']] });
    const bad = cli(['traces', 'sql', 'DROP TABLE experiments', '--dir', dir], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/sql: only SELECT queries are allowed[\s\S]*fix: /);
  });
});

/**
 * Read-only SQL over the journal for proposers. The journal is opened read-only and its public part is copied
 * into an in-memory database that the query runs on, so a query can neither write nor see what an agent must
 * never see: the submissions table (private holdout scores), submission events and any event naming the private
 * holdout or the public-private gap are not copied, private metrics are dropped, and event data keys naming
 * `private` are removed. Only a single SELECT (or WITH ...
 * SELECT) statement is accepted, and the answer is capped in rows and bytes. `load_extension` is replaced by a
 * function that refuses, and any SQLite failure becomes a one-line {@link RatchetError} (never a stack).
 * This module runs synchronously: callers on the orchestrator's event loop go through `runOffLoop` (offloop.ts),
 * which runs it in a child process with a time and memory limit.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { guardrail } from '../guardrails/registry.js';
import { type CopyableTable, JOURNAL_FILE, Journal } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { memoryLimitMessage } from './limits.js';

/** Defaults and ceilings of the caps. */
export const SQL_LIMITS = {
  defaultRows: 100,
  maxRows: 1000,
  defaultBytes: 16 * 1024,
  maxBytes: 64 * 1024,
  /** Longest text value kept in a cell. */
  cellChars: 2000,
  sqlChars: 5000,
} as const;

/** The tables a query sees, with their columns (for tool descriptions and errors). */
export const SQL_SCHEMA = `experiments(id, run_id, seq, proposer, hypothesis, params JSON, meta JSON, decision, reason, score,
  best_before, delta, ci_low, ci_high, prob_improvement, commit_sha, parent_sha, files JSON, sandbox_status,
  sandbox_message, exit_code, sandboxed, started_at, ended_at, duration_ms, execute_ms, conclusion)
metrics(experiment_id, holdout='public', name, value)
events(id, ts, run_id, experiment_id, kind, severity, guardrail, message, data JSON)
runs(id, branch, base_commit, proposer, status, stop_reason, started_at, ended_at, unsafe, config JSON)
noise(id, ts, commit_sha, metric, kind, scores JSON, mean, sd)`;

/** Event kinds never shown to agents (they carry private holdout scores). */
const PRIVATE_EVENT_KINDS = new Set(['submission']);

/**
 * True for a journal event an agent must never see: a submission, or anything that names the private holdout
 * or the public-private gap (public − gap would give the private score away), e.g. a gap escalation.
 */
export function isPrivateEvent(ev: { kind: string; message: string; data: unknown }): boolean {
  if (PRIVATE_EVENT_KINDS.has(ev.kind)) return true;
  const data = typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data ?? null);
  return /private|\bgap\b/i.test(ev.message) || /"gap"\s*:/i.test(data);
}

/** A SQL answer. */
export interface SqlResult {
  columns: string[];
  rows: unknown[][];
  /** Rows the query produced (counting those left out by the caps). */
  row_count: number;
  capped: boolean;
  note: string;
}

function scrub(data: string | null): string | null {
  if (data === null) return null;
  try {
    const v = JSON.parse(data) as unknown;
    const drop = (o: unknown): unknown => {
      if (Array.isArray(o)) return o.map(drop);
      if (o && typeof o === 'object')
        return Object.fromEntries(
          Object.entries(o as Record<string, unknown>)
            .filter(([k]) => !/private/i.test(k))
            .map(([k, x]) => [k, drop(x)]),
        );
      return o;
    };
    return JSON.stringify(drop(v));
  } catch {
    return null;
  }
}

/** What a query may not do, whatever the library's build allows: load extensions, spill to /tmp. */
function harden(mem: Database.Database): void {
  // Sorts and temporary tables stay in memory, where the runner's memory cap sees them (never in /tmp).
  mem.pragma('temp_store = MEMORY');
  // Built-in functions can be overloaded: this one refuses, whatever the library's build allows.
  // SQLite picks the overload with the exact number of arguments: replace both forms.
  const refuse = () => {
    throw new Error('load_extension is not allowed');
  };
  mem.function('load_extension', { deterministic: false }, (_file: unknown) => refuse());
  mem.function('load_extension', { deterministic: false }, (_file: unknown, _entry: unknown) => refuse());
}

/** Build the in-memory public copy of a journal. */
function publicCopy(projectDir: string): Database.Database {
  const mem = new Database(':memory:');
  mem.exec(`
CREATE TABLE runs (id TEXT, branch TEXT, base_commit TEXT, proposer TEXT, status TEXT, stop_reason TEXT,
  started_at TEXT, ended_at TEXT, unsafe INTEGER, config TEXT);
CREATE TABLE experiments (id INTEGER PRIMARY KEY, run_id TEXT, seq INTEGER, proposer TEXT, hypothesis TEXT,
  params TEXT, meta TEXT, decision TEXT, reason TEXT, score REAL, best_before REAL, delta REAL, ci_low REAL,
  ci_high REAL, prob_improvement REAL, commit_sha TEXT, parent_sha TEXT, files TEXT, sandbox_status TEXT,
  sandbox_message TEXT, exit_code INTEGER, sandboxed INTEGER, started_at TEXT, ended_at TEXT, duration_ms REAL,
  execute_ms REAL, conclusion TEXT);
CREATE TABLE metrics (experiment_id INTEGER, holdout TEXT, name TEXT, value REAL);
CREATE TABLE events (id INTEGER PRIMARY KEY, ts TEXT, run_id TEXT, experiment_id INTEGER, kind TEXT,
  severity TEXT, guardrail TEXT, message TEXT, data TEXT);
CREATE TABLE noise (id INTEGER PRIMARY KEY, ts TEXT, commit_sha TEXT, metric TEXT, kind TEXT, scores TEXT,
  mean REAL, sd REAL);`);
  harden(mem);
  if (!existsSync(join(projectDir, JOURNAL_FILE))) {
    mem.pragma('query_only = ON');
    return mem;
  }
  const j = Journal.open(projectDir, { readonly: true });
  try {
    const copy = (
      table: CopyableTable,
      cols: string[],
      keep: (r: Record<string, unknown>) => boolean = () => true,
    ) => {
      const ins = mem.prepare(
        `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
      );
      const rows = j.tableRows(table);
      mem.transaction(() => {
        for (const r of rows) if (keep(r)) ins.run(...(cols.map((c) => r[c]) as never[]));
      })();
    };
    const expCols = [
      'id',
      'run_id',
      'seq',
      'proposer',
      'hypothesis',
      'params',
      'meta',
      'decision',
      'reason',
      'score',
      'best_before',
      'delta',
      'ci_low',
      'ci_high',
      'prob_improvement',
      'commit_sha',
      'parent_sha',
      'files',
      'sandbox_status',
      'sandbox_message',
      'exit_code',
      'sandboxed',
      'started_at',
      'ended_at',
      'duration_ms',
      'execute_ms',
      'conclusion',
    ];
    copy('experiments', expCols);
    const runCols = [
      'id',
      'branch',
      'base_commit',
      'proposer',
      'status',
      'stop_reason',
      'started_at',
      'ended_at',
      'unsafe',
      'config',
    ];
    copy('runs', runCols);
    // Private-holdout metrics never reach the copy.
    copy('metrics', ['experiment_id', 'holdout', 'name', 'value'], (r) => r['holdout'] === 'public');
    const evCols = [
      'id',
      'ts',
      'run_id',
      'experiment_id',
      'kind',
      'severity',
      'guardrail',
      'message',
      'data',
    ];
    const insEvent = mem.prepare(
      `INSERT INTO events (${evCols.join(', ')}) VALUES (${evCols.map(() => '?').join(', ')})`,
    );
    const events = j.tableRows('events');
    mem.transaction(() => {
      for (const r of events) {
        if (isPrivateEvent({ kind: String(r['kind']), message: String(r['message']), data: r['data'] }))
          continue;
        insEvent.run(...(evCols.map((c) => (c === 'data' ? scrub(r[c] as string | null) : r[c])) as never[]));
      }
    })();
    copy('noise', ['id', 'ts', 'commit_sha', 'metric', 'kind', 'scores', 'mean', 'sd']);
  } finally {
    j.close();
  }
  mem.pragma('query_only = ON');
  return mem;
}

/**
 * Turn a SQLite failure into a one-line error naming the problem and the fix.
 * @param e what better-sqlite3 threw (a SqliteError with `code`, or an Error from a function)
 */
export function sqliteProblem(e: unknown): RatchetError {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : '';
  const msg = String(err?.message ?? e)
    .split('\n')[0]!
    .trim();
  const schema = `one SELECT over these tables: ${SQL_SCHEMA.replace(/\s*\n\s*/g, ' ')}`;
  if (/load_extension|not authorized/i.test(msg) || code === 'SQLITE_AUTH')
    return new RatchetError(`the query was refused: ${msg} (extensions cannot be loaded)`, {
      field: 'sql',
      hint: 'use the built-in SQL functions only',
    });
  if (code === 'SQLITE_TOOBIG')
    return new RatchetError(`the query built a value over the size limit (${msg})`, {
      field: 'sql',
      hint: 'select less: substr(), LIMIT, or fewer rows in group_concat',
    });
  if (code === 'SQLITE_NOMEM')
    // In the query process an allocation fails at its data-segment limit (see limits.ts).
    return new RatchetError(memoryLimitMessage('the query'), {
      field: 'sql',
      hint: `select less: add WHERE/LIMIT, avoid building huge strings (group_concat over everything) (guardrail ${guardrail('query-limits').id})`,
    });
  if (code === 'SQLITE_INTERRUPT')
    return new RatchetError('the query was interrupted', { field: 'sql', hint: 'simplify it' });
  return new RatchetError(`the query does not run: ${msg}`, { field: 'sql', hint: schema });
}

/**
 * Run one read-only query over the public part of the journal.
 * @throws RatchetError for anything but a single SELECT, a syntax error (with the tables available), or SQL
 *   over 5000 characters
 */
export function queryJournal(
  projectDir: string,
  sql: string,
  opts: { maxRows?: number; maxBytes?: number } = {},
): SqlResult {
  const text = (sql ?? '').trim().replace(/;\s*$/, '');
  if (!text)
    throw new RatchetError('the query is empty', {
      field: 'sql',
      hint: 'e.g. SELECT id, decision, score FROM experiments',
    });
  if (text.length > SQL_LIMITS.sqlChars)
    throw new RatchetError(`the query is longer than ${SQL_LIMITS.sqlChars} characters`, { field: 'sql' });
  if (!/^(select|with)\b/i.test(text)) {
    throw new RatchetError('only SELECT queries are allowed: the journal is read-only', {
      field: 'sql',
      hint: 'write a SELECT (or WITH ... SELECT) over experiments, metrics, events, runs, noise',
    });
  }
  const maxRows = Math.min(
    opts.maxRows && opts.maxRows > 0 ? Math.floor(opts.maxRows) : SQL_LIMITS.defaultRows,
    SQL_LIMITS.maxRows,
  );
  const maxBytes = Math.min(
    opts.maxBytes && opts.maxBytes > 0 ? Math.floor(opts.maxBytes) : SQL_LIMITS.defaultBytes,
    SQL_LIMITS.maxBytes,
  );
  const db = publicCopy(projectDir);
  try {
    let stmt: Database.Statement;
    try {
      stmt = db.prepare(text);
    } catch (e) {
      throw sqliteProblem(e);
    }
    if (!stmt.reader || !stmt.readonly) {
      throw new RatchetError('only read-only SELECT queries are allowed', {
        field: 'sql',
        hint: 'write a SELECT',
      });
    }
    const columns = stmt.columns().map((c) => c.name);
    const rows: unknown[][] = [];
    let count = 0;
    let bytes = 0;
    let byteCapped = false;
    const cell = (v: unknown): unknown => {
      if (typeof v === 'bigint') return Number(v);
      if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
      if (typeof v === 'string' && v.length > SQL_LIMITS.cellChars)
        return `${v.slice(0, SQL_LIMITS.cellChars)}…`;
      return v;
    };
    try {
      for (const r of stmt.raw(true).iterate() as IterableIterator<unknown[]>) {
        count++;
        if (rows.length >= maxRows || byteCapped) {
          if (count > maxRows * 10 + 10_000) break;
          continue;
        }
        const row = r.map(cell);
        const size = Buffer.byteLength(JSON.stringify(row));
        if (bytes + size > maxBytes) {
          byteCapped = true;
          continue;
        }
        bytes += size;
        rows.push(row);
      }
    } catch (e) {
      if (e instanceof RatchetError) throw e;
      throw sqliteProblem(e);
    }
    const capped = rows.length < count;
    return {
      columns,
      rows,
      row_count: count,
      capped,
      note: capped
        ? `showing ${rows.length} of ${count >= maxRows * 10 + 10_000 ? `at least ${count}` : count} rows (capped at ${byteCapped ? `${maxBytes} bytes` : `${maxRows} rows`}); add WHERE/LIMIT or select fewer columns`
        : `${count} row${count === 1 ? '' : 's'}`,
    };
  } finally {
    db.close();
  }
}

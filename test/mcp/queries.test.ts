import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { addBigEvents, addFinishedRun } from '../helpers/journal.js';
import { CLI, makeProject } from '../helpers/project.js';

/**
 * Finding 6: an agent's query must not stall the harness. `ratchet mcp` (the compiled CLI) is driven by a real
 * MCP client over stdio; its queries run in a separate process with a time limit and a memory cap, so a runaway
 * SQL query or regular expression ends with a clean tool error while `get_status` and SIGTERM still answer.
 */

// biome-ignore lint/suspicious/noExplicitAny: structured tool output
type Out = any;

/** The recursive CTE of the finding: it never ends by itself. */
const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c';
/** A 41-character line that makes a backtracking engine take minutes on `(a+)+$`. */
const EVIL_LINE = `${'a'.repeat(40)}!`;

let dir: string;

beforeAll(async () => {
  dir = await makeProject({ rows: 2000, noInit: true });
  const j = Journal.open(dir);
  addFinishedRun(j);
  // Big traces in the journal: 40 events of 256 KiB (group_concat over a self-join builds ~400 MB).
  addBigEvents(j, 'r1', 40, 256);
  j.close();
  const trace = join(dir, '.ratchet', 'runs', '0001');
  mkdirSync(trace, { recursive: true });
  writeFileSync(
    join(trace, 'stdout.log'),
    `[train] Fitting model rf\nline two\n${EVIL_LINE}\n[train] fitting model hgb\nlast line\n`,
  );
}, 120_000);

interface Conn {
  client: Client;
  pid: number;
  stderr: () => string;
  call(name: string, args?: Record<string, unknown>): Promise<{ out: Out; isError: boolean; text: string }>;
  close(): Promise<void>;
}

const conns: Conn[] = [];
afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
});

async function connect(): Promise<Conn> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--dir', dir],
    env: { ...(process.env as Record<string, string>), NO_COLOR: '1' },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d) => (err += d));
  const client = new Client({ name: 'ratchet-queries-test', version: '1.0.0' });
  await client.connect(transport);
  const conn: Conn = {
    client,
    pid: transport.pid!,
    stderr: () => err,
    async call(name, args = {}) {
      const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
      const text = (r.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
      return { out: r.structuredContent, isError: Boolean(r.isError), text };
    },
    close: () => client.close(),
  };
  conns.push(conn);
  return conn;
}

/** Child processes of a process (from /proc). */
function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Resident memory of a process and all its descendants, MB. */
function treeRssMb(pid: number): number {
  let kb = 0;
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    kb = m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
  return kb / 1024 + children(pid).reduce((s, c) => s + treeRssMb(c), 0);
}

const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(safeRead(`/proc/${pid}/status`));
const safeRead = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

/** Time one tool call, ms. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** A tool error is one problem line plus at most a fix line, and never a stack trace. */
function expectCleanError(r: { isError: boolean; text: string }, problem: RegExp): void {
  expect(r.isError, r.text).toBe(true);
  const lines = r.text.split('\n');
  expect(lines[0]).toMatch(problem);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1]) expect(lines[1]).toMatch(/^\s+fix: /);
  expect(r.text).not.toMatch(/\n\s+at |SqliteError|node_modules/);
}

describe('MCP queries run off the event loop, within a time and memory limit', () => {
  it('a runaway recursive CTE ends with a tool error within its limit; get_status answers < 1 s meanwhile', {
    timeout: 120_000,
  }, async () => {
    const c = await connect();
    // A trivial query through the query process (warm): a few ms.
    await c.call('query_journal', { sql: 'SELECT 1' });
    const trivial: number[] = [];
    for (let i = 0; i < 10; i++)
      trivial.push((await timed(() => c.call('query_journal', { sql: 'SELECT 1' }))).ms);
    trivial.sort((a, b) => a - b);
    process.stderr.write(`trivial query_journal over MCP: median ${trivial[5]!.toFixed(1)} ms\n`);

    const t0 = performance.now();
    const runaway = c.call('query_journal', { sql: RUNAWAY, time_limit_s: 3 });
    let ended = false;
    void runaway.then(() => (ended = true));
    await new Promise((r) => setTimeout(r, 500));
    const status: number[] = [];
    while (!ended && performance.now() - t0 < 2500) {
      const s = await timed(() => c.call('get_status'));
      expect(s.value.isError).toBe(false);
      expect(s.value.out).toHaveProperty('run');
      status.push(s.ms);
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await runaway;
    const took = performance.now() - t0;
    expect(status.length).toBeGreaterThan(0);
    expect(Math.max(...status)).toBeLessThan(1000);
    expectCleanError(r, /the query ran over 3 s and was stopped; simplify it/);
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(3000 + 2000);
    // The server still answers queries after the runaway was killed.
    expect((await c.call('query_journal', { sql: 'SELECT count(*) AS n FROM events' })).out.rows).toEqual([
      [40],
    ]);
  });

  it('group_concat over big traces is stopped at the memory cap; the server stays under 400 MB', {
    timeout: 120_000,
  }, async () => {
    const c = await connect();
    let peak = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, treeRssMb(c.pid));
    }, 25);
    const r = await c.call('query_journal', {
      sql: 'SELECT length(group_concat(a.message)) FROM events a, events b',
      time_limit_s: 30,
    });
    clearInterval(poll);
    peak = Math.max(peak, treeRssMb(c.pid));
    process.stderr.write(
      `group_concat: peak RSS of the MCP server and its query process ${peak.toFixed(0)} MB\n`,
    );
    expectCleanError(r, /the query used over \d+ MB of memory and was stopped/);
    expect(peak).toBeLessThan(400);
    expect((await c.call('get_status')).isError).toBe(false);
  });

  it('zeroblob(1e9), load_extension and bad SQL are clean one-line errors, never a stack', {
    timeout: 60_000,
  }, async () => {
    const c = await connect();
    expectCleanError(
      await c.call('query_journal', { sql: 'SELECT zeroblob(1e9)' }),
      /^sql: the query built a value over the size limit/,
    );
    for (const sql of [
      "SELECT load_extension('/tmp/evil.so')",
      "SELECT load_extension('/tmp/evil.so', 'init')",
    ])
      expectCleanError(
        await c.call('query_journal', { sql }),
        /^sql: the query was refused: load_extension is not allowed/,
      );
    expectCleanError(
      await c.call('query_journal', { sql: 'SELECT nope FROM experiments' }),
      /^sql: the query does not run: no such column: nope$/,
    );
  });

  it('(a+)+$ over a 41-character line answers fast (linear-time engine); grep keeps its features', {
    timeout: 60_000,
  }, async () => {
    const c = await connect();
    const evil = await timed(() => c.call('search_traces', { pattern: '(a+)+$' }));
    expect(evil.value.isError, evil.value.text).toBe(false);
    expect(evil.value.out).toMatchObject({ total: 0, files_searched: 1, capped: false });
    expect(evil.ms).toBeLessThan(2000);
    const matched = (await c.call('search_traces', { pattern: '(a+)+!$' })).out;
    expect(matched.matches).toEqual([{ experiment: 1, file: 'stdout.log', line: 3, text: EVIL_LINE }]);
    // Case-insensitive, context, caps.
    const ci = (await c.call('search_traces', { pattern: 'FITTING model', ignore_case: true, context: 1 }))
      .out;
    expect(ci.total).toBe(2);
    expect(ci.matches[0]).toMatchObject({ line: 1, before: [], after: ['line two'] });
    expect(ci.matches[1]).toMatchObject({ line: 4, before: [EVIL_LINE], after: ['last line'] });
    expect((await c.call('search_traces', { pattern: 'FITTING model' })).out.total).toBe(0);
    const capped = (await c.call('search_traces', { pattern: '.', max_lines: 2 })).out;
    expect(capped).toMatchObject({ total: 5, capped: true });
    expect(capped.matches).toHaveLength(2);
    expect(capped.note).toMatch(/capped at 2 lines/);
    const fixed = (await c.call('search_traces', { pattern: '[train]', fixed: true })).out;
    expect(fixed.total).toBe(2);
    // Backtracking-only syntax is refused with the reason.
    expectCleanError(
      await c.call('search_traces', { pattern: '(a)\\1' }),
      /^pattern: not a valid regular expression: invalid escape sequence/,
    );
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to the MCP server during a runaway query: it exits within a few seconds, no process left`, {
      timeout: 60_000,
    }, async () => {
      const c = await connect();
      await c.call('query_journal', { sql: 'SELECT 1' }); // the query process is up
      const runaway = c.call('query_journal', { sql: RUNAWAY, time_limit_s: 30 }).catch((e: Error) => e);
      // Wait until the query process is busy with it.
      const t0 = performance.now();
      let busy: number[] = [];
      while (performance.now() - t0 < 10_000) {
        busy = children(c.pid);
        if (busy.length && (await new Promise((r) => setTimeout(r, 500)).then(() => true))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(busy.length).toBeGreaterThan(0);
      const t1 = performance.now();
      process.kill(c.pid, signal);
      while (alive(c.pid) && performance.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 50));
      const exitedMs = performance.now() - t1;
      expect(alive(c.pid), c.stderr()).toBe(false);
      expect(exitedMs).toBeLessThan(3000);
      await runaway;
      // The query process is gone too (killed with its parent, not orphaned).
      await new Promise((r) => setTimeout(r, 300));
      for (const pid of busy) expect(alive(pid)).toBe(false);
      expect(c.stderr()).toContain(`received ${signal}`);
    });
  }

  it('SIGKILL of the MCP server during a runaway query: its query process ends itself at the deadline', {
    timeout: 60_000,
  }, async () => {
    const c = await connect();
    await c.call('query_journal', { sql: 'SELECT 1' }); // the query process is up
    void c.call('query_journal', { sql: RUNAWAY, time_limit_s: 2 }).catch(() => undefined);
    let query: number[] = [];
    const t0 = performance.now();
    while (!query.length && performance.now() - t0 < 10_000) {
      query = children(c.pid);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(query).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 500)); // it is running the query
    process.kill(c.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    // Orphaned, stuck in SQLite: its own watchdog thread kills it at the time limit plus 2 s.
    expect(alive(query[0]!)).toBe(true);
    const t1 = performance.now();
    while (alive(query[0]!) && performance.now() - t1 < 15_000) await new Promise((r) => setTimeout(r, 100));
    expect(alive(query[0]!)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000 + 2000 + 4000);
  });
});

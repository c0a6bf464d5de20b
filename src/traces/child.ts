/**
 * The process that runs trace queries off the orchestrator's event loop (started by offloop.ts with `fork`).
 * It answers one request at a time over IPC: `{id, kind: 'sql', projectDir, sql, opts}` or
 * `{id, kind: 'grep', projectDir, query}` → `{id, ok: true, result}` or `{id, ok: false, error}` (the fields of a
 * RatchetError); it first sends `{ready: true}` once loaded. Its parent kills it with SIGKILL when a query runs over its time or memory limit; in case the
 * parent itself died, a watchdog thread kills this process at each request's `deadlineMs`, since a running
 * SQLite statement or regular expression never yields to the event loop. It exits when its parent disconnects.
 */
import { Worker } from 'node:worker_threads';
import { RatchetError } from '../util/errors.js';
import { type GrepQuery, grepTraces } from './grep.js';
import { queryJournal } from './sql.js';

/** A request from the parent. */
export type ChildRequest =
  | {
      id: number;
      kind: 'sql';
      projectDir: string;
      sql: string;
      opts: { maxRows?: number; maxBytes?: number };
    }
  | { id: number; kind: 'grep'; projectDir: string; query: GrepQuery };

/** An answer to the parent. */
export type ChildAnswer =
  | { id: number; ok: true; result: unknown }
  | {
      id: number;
      ok: false;
      error: { message: string; file?: string; field?: string; hint?: string; exitCode: number };
    };

// A thread of its own keeps time while the main thread is stuck in a query: SIGKILL at the deadline.
const watchdog = new Worker(
  `const { parentPort } = require('node:worker_threads');
let timer = null;
parentPort.on('message', (ms) => {
  if (timer) clearTimeout(timer);
  timer = ms > 0 ? setTimeout(() => process.kill(process.pid, 'SIGKILL'), ms) : null;
});`,
  { eval: true },
);
watchdog.unref();

function answer(req: { id: number; kind: string } & Record<string, unknown>): ChildAnswer {
  try {
    if (req.kind === 'sql') {
      const r = req as Extract<ChildRequest, { kind: 'sql' }>;
      return { id: r.id, ok: true, result: queryJournal(r.projectDir, r.sql, r.opts ?? {}) };
    }
    if (req.kind === 'grep') {
      const r = req as Extract<ChildRequest, { kind: 'grep' }>;
      return { id: r.id, ok: true, result: grepTraces(r.projectDir, r.query) };
    }
    throw new RatchetError(`unknown request ${req.kind}`);
  } catch (e) {
    const err =
      e instanceof RatchetError
        ? e
        : new RatchetError(`the query failed: ${String((e as Error)?.message ?? e).split('\n')[0]}`, {
            exitCode: 1,
          });
    return {
      id: req.id,
      ok: false,
      error: {
        message: err.message,
        ...(err.file ? { file: err.file } : {}),
        ...(err.field ? { field: err.field } : {}),
        ...(err.hint ? { hint: err.hint } : {}),
        exitCode: err.exitCode,
      },
    };
  }
}

process.on('message', (m: { id: number; kind: string; deadlineMs?: number } & Record<string, unknown>) => {
  watchdog.postMessage(m.deadlineMs ?? 0);
  const a = answer(m);
  watchdog.postMessage(0);
  process.send?.(a);
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });

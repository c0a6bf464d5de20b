import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { clearEscalation } from '../agents/limits.js';
import { CONTRACT_FILE, type Contract, loadContract } from '../contract/load.js';
import { JOURNAL_FILE, Journal } from '../journal/store.js';
import { currentExperiment } from '../journal/views.js';
import { activeRun, requestStop } from '../loop/control.js';
import { readPr, reviewFinalized } from '../tiers/finalize.js';
import { recordReview } from '../tiers/review.js';
import { submit } from '../tiers/submit.js';
import { RatchetError } from '../util/errors.js';
import { compareExperiments, experimentsCsv, liveStamp, parseId } from './extras.js';
import { runHistory } from './history.js';
import { studioPage } from './page.js';
import {
  emptyState,
  journalVersion,
  MAX_PAGE_ROWS,
  PAGE_ROWS,
  studioAlignment,
  studioExperiment,
  studioExperimentsPage,
  studioStateJson,
} from './state.js';

/**
 * The Studio server: `node:http`, one page, a JSON API and Server-Sent Events. It reads the journal
 * read-only (SQLite WAL: it never blocks the run that writes it) and polls it for changes; the only writes
 * are the kill switch (`requestStop`), `submit`, reviews (of an experiment or of a finalized branch) and clearing an
 * escalation, each through the same functions as the CLI.
 *
 * Security: bound to 127.0.0.1 by default, where the Host header must name the loopback (no DNS
 * rebinding); bound anywhere else, every request needs the token (`Authorization: Bearer <token>` or
 * `?token=`), else 401. Writes need a JSON body from the same origin.
 *
 * API: GET / (the page), GET /api/state?run=, GET /api/stream?run= (SSE `state` events; a snapshot, like /api/state,
 * holds the run's newest SNAPSHOT_ROWS experiment rows and their total), GET /api/experiments?run=&before=&limit= (a
 * page of the run's rows, newest first, below the id `before`: `{run, total, experiments, next}`, 400 for a bad
 * `before` or `limit`), GET /api/experiments/:id, GET /api/experiments.csv?run= (the whole table as CSV), GET /api/compare?a=&b= (two
 * experiments side by side: params, public metrics, the git diff between their commits), POST /api/stop {run?}, POST /api/submit {run?},
 * POST /api/review {experiment, decision: promote|reject, note, reviewer?}, POST /api/clear {note} (a person
 * clears the project's escalation), GET /api/finalized/pr?run=&branch= (a finalized branch's PR.md),
 * POST /api/finalized/review {run?, branch, decision: promote|reject, note, reviewer?} (the tier-2 review of a
 * finalized branch, recorded on its review experiment).
 */

/** Options of {@link startStudio}. */
export interface StudioOptions {
  projectDir: string;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 4500; 0 = any free port). */
  port?: number;
  /** Required on every request when set; generated when the host is not a loopback address. */
  token?: string;
  /** How often the journal is polled for live updates, ms (default 500). */
  pollMs?: number;
}

/** A running Studio. */
export interface StudioServer {
  /** The page's URL (with `?token=` when a token is needed). */
  url: string;
  host: string;
  port: number;
  /** The token, or null when none is needed (loopback without --token). */
  token: string | null;
  server: Server;
  /** Stop serving (closes live streams). */
  close(): Promise<void>;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Thrown inside handlers to answer with an HTTP error (`{error, hint?, field?}`). */
class HttpError extends Error {
  /**
   * @param status the HTTP status
   * @param hint how to fix the request
   * @param field the query parameter or body field at fault
   */
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * The `before` and `limit` of `GET /api/experiments`, checked: `before` absent (the newest page) or an experiment id,
 * `limit` absent ({@link PAGE_ROWS}) or an integer 1..{@link MAX_PAGE_ROWS}.
 * @throws HttpError 400 naming the parameter, what it got and how to fix it
 */
function pageQuery(params: URLSearchParams): { before: number | undefined; limit: number } {
  const b = params.get('before');
  const before = b === null ? undefined : parseId(b);
  if (before === null)
    throw new HttpError(
      400,
      `before must be an experiment id (a positive integer), got ${JSON.stringify(b)}`,
      'omit before for the newest page, or pass the "next" of the page before (e.g. /api/experiments?before=4501&limit=500)',
      'before',
    );
  const l = params.get('limit');
  const limit = l === null ? PAGE_ROWS : /^[1-9]\d{0,5}$/.test(l) ? Number(l) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE_ROWS))
    throw new HttpError(
      400,
      `limit must be an integer from 1 to ${MAX_PAGE_ROWS}, got ${JSON.stringify(l)}`,
      `omit limit for pages of ${PAGE_ROWS} rows, or pass e.g. limit=${PAGE_ROWS}`,
      'limit',
    );
  return { before, limit };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

/** Answer with JSON already written as text. */
function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new HttpError(413, 'request body over 64 KiB');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'the body must be a JSON object');
}

/** Leave a trace in the journal of who pressed the kill switch (best effort: the stop itself matters more). */
function recordStopRequest(projectDir: string, runId: string, from: string): void {
  try {
    const j = Journal.open(projectDir);
    try {
      j.addEvent({
        ts: new Date().toISOString(),
        runId,
        experimentId: null,
        kind: 'stop.requested',
        severity: 'warning',
        guardrail: null,
        message: `the kill switch was pressed in the Studio (from ${from})`,
        data: { from },
      });
    } finally {
      j.close();
    }
  } catch {
    // the journal is busy or gone: the stop file and the signal still stop the run
  }
}

/**
 * Start the Studio.
 * @throws RatchetError when the folder holds no contract, the port is invalid or taken, or the host cannot
 *   be bound
 */
export async function startStudio(opts: StudioOptions): Promise<StudioServer> {
  const projectDir = opts.projectDir;
  loadContract(projectDir); // fail early, with the contract's own message, when this is not a project
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 4500;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RatchetError(`port must be an integer 0..65535, got ${port}`, { field: '--port' });
  if (opts.token !== undefined && opts.token.length < 8)
    throw new RatchetError('the token must have at least 8 characters', {
      field: '--token',
      hint: 'omit --token to get a random one',
    });
  const token = opts.token ?? (isLoopback(host) ? null : randomBytes(18).toString('base64url'));
  const pollMs = opts.pollMs ?? 500;
  let journal: Journal | null = null;
  const streams = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();

  const getJournal = (): Journal | null => {
    if (journal) return journal;
    if (!existsSync(join(projectDir, JOURNAL_FILE))) return null;
    try {
      journal = Journal.open(projectDir, { readonly: true });
    } catch {
      journal = null;
    }
    return journal;
  };
  // The contract as of its file's last change: parsed and validated again only when ratchet.yaml changed (every
  // snapshot needs it; parsing it each time cost ~7 ms of a snapshot during a 64-direction run).
  let contractSeen: { stamp: string; contract: Contract } | null = null;
  const contract = (): Contract => {
    let stamp = '';
    try {
      const st = statSync(join(projectDir, CONTRACT_FILE), { bigint: true });
      stamp = `${st.ino}/${st.size}/${st.mtimeNs}/${st.ctimeNs}`;
    } catch {
      // missing: loadContract says so
    }
    if (stamp && contractSeen?.stamp === stamp) return contractSeen.contract;
    const c = loadContract(projectDir);
    contractSeen = stamp ? { stamp, contract: c } : null;
    return c;
  };
  /** The snapshot as JSON text (the run's rows kept between snapshots, see studioStateJson). */
  const snapshot = (runId: string | undefined): string => {
    const j = getJournal();
    if (!j) return JSON.stringify(emptyState(contract(), [], 'no-journal'));
    return studioStateJson(j, contract(), runId);
  };

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (!token) return true;
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Bearer ') && safeEqual(auth.slice(7).trim(), token)) return true;
    const q = url.searchParams.get('token');
    return q !== null && safeEqual(q, token);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://studio.invalid');
    const hostHeader = req.headers.host ?? '';
    if (!token) {
      // Loopback without a token: refuse other Host names (a DNS-rebinding page would send its own).
      const name = hostHeader.replace(/:\d+$/, '');
      if (!isLoopback(name)) throw new HttpError(403, `Host "${hostHeader}" is not a loopback name`);
    }
    if (!authorized(req, url)) {
      throw new HttpError(
        401,
        'a token is required',
        'open the URL `ratchet studio` printed (it carries ?token=), or send Authorization: Bearer <token>',
      );
    }
    const path = url.pathname;
    const runParam = url.searchParams.get('run') || undefined;
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'content-security-policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
      });
      res.end(studioPage());
      return;
    }
    if (req.method === 'GET' && path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET' && path === '/api/state') return sendText(res, 200, snapshot(runParam));
    if (req.method === 'GET' && path === '/api/stream') return stream(req, res, runParam);
    if (req.method === 'GET' && path === '/api/experiments') {
      const { before, limit } = pageQuery(url.searchParams);
      const j = getJournal();
      const page = j
        ? studioExperimentsPage(j, runParam, before, limit)
        : '{"run":null,"total":0,"experiments":[],"next":null}';
      if (page === null)
        throw new HttpError(404, `no run ${JSON.stringify(runParam)}`, 'pick a run of /api/state');
      return sendText(res, 200, page);
    }
    if (req.method === 'GET' && path === '/api/experiments.csv') {
      const j = getJournal();
      const csv = j ? experimentsCsv(j, runParam) : 'id\r\n';
      res.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="ratchet-${(runParam ?? 'latest').replace(/[^\w.-]/g, '_')}-experiments.csv"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(csv);
      return;
    }
    if (req.method === 'GET' && path === '/api/compare') {
      const a = parseId(url.searchParams.get('a'));
      const b = parseId(url.searchParams.get('b'));
      if (a === null || b === null)
        throw new HttpError(
          400,
          `a and b must be experiment ids (positive integers), got a=${JSON.stringify(url.searchParams.get('a'))} b=${JSON.stringify(url.searchParams.get('b'))}`,
          'e.g. /api/compare?a=3&b=7',
        );
      const j = getJournal();
      if (!j) throw new HttpError(404, `no experiment ${a}`);
      const r = await compareExperiments(j, projectDir, a, b);
      if ('missing' in r) throw new HttpError(404, `no experiment ${r.missing}`);
      return send(res, 200, r);
    }
    if (req.method === 'GET' && path === '/api/finalized/pr') {
      const branch = url.searchParams.get('branch') ?? '';
      const j = getJournal();
      const run = j?.getRun(runParam);
      const text = j && run ? readPr(projectDir, j, run.id, branch) : null;
      if (text === null) throw new HttpError(404, `no PR.md for finalized branch ${JSON.stringify(branch)}`);
      return send(res, 200, { run: run!.id, branch, text });
    }
    const m = /^\/api\/experiments\/(\d+)$/.exec(path);
    if (req.method === 'GET' && m) {
      const j = getJournal();
      const v = j ? studioExperiment(j, projectDir, Number(m[1])) : null;
      if (!v) throw new HttpError(404, `no experiment ${m[1]}`);
      return send(res, 200, v);
    }
    if (req.method === 'POST' && path.startsWith('/api/')) {
      const type = req.headers['content-type'] ?? '';
      if (!type.startsWith('application/json'))
        throw new HttpError(415, 'send Content-Type: application/json');
      const origin = req.headers.origin;
      if (origin && origin !== 'null' && new URL(origin).host !== hostHeader)
        throw new HttpError(403, `cross-origin request from ${origin} refused`);
      const body = await readJson(req);
      if (path === '/api/stop') {
        const live = activeRun(projectDir);
        if (!live) throw new HttpError(409, 'no active run to stop');
        if (typeof body['run'] === 'string' && body['run'] && body['run'] !== live.runId)
          throw new HttpError(409, `run ${String(body['run'])} is not the active run (${live.runId})`);
        const info = requestStop(projectDir, 'the Studio kill switch');
        recordStopRequest(projectDir, live.runId, req.socket.remoteAddress ?? 'unknown');
        return send(res, 202, { stopping: info?.runId ?? live.runId, pid: info?.pid ?? live.pid });
      }
      if (path === '/api/submit') {
        const run = typeof body['run'] === 'string' && body['run'] ? body['run'] : undefined;
        const r = await submit(projectDir, run);
        return send(res, r.fresh ? 201 : 200, { ...r.submission, fresh: r.fresh });
      }
      if (path === '/api/clear') {
        const j = Journal.open(projectDir);
        try {
          const note = typeof body['note'] === 'string' ? body['note'] : '';
          const e = clearEscalation(j, note, `studio (${req.socket.remoteAddress ?? 'unknown'})`);
          return send(res, 201, {
            cleared: true,
            escalation: { at: e.at, run: e.runId, message: e.message },
            note: note.trim(),
          });
        } finally {
          j.close();
        }
      }
      if (path === '/api/finalized/review') {
        const decision = body['decision'] ?? 'promote';
        if (decision !== 'promote' && decision !== 'reject')
          throw new HttpError(400, 'decision must be "promote" or "reject"');
        if (typeof body['branch'] !== 'string' || !body['branch'])
          throw new HttpError(400, 'branch must name a finalized branch');
        const r = reviewFinalized(projectDir, {
          ...(typeof body['run'] === 'string' && body['run'] ? { runId: body['run'] } : {}),
          branch: body['branch'],
          decision,
          note: typeof body['note'] === 'string' ? body['note'] : '',
          ...(typeof body['reviewer'] === 'string' ? { reviewer: body['reviewer'] } : {}),
        });
        return send(res, 201, r);
      }
      if (path === '/api/review') {
        const decision = body['decision'];
        if (decision !== 'promote' && decision !== 'reject')
          throw new HttpError(400, 'decision must be "promote" or "reject"');
        const r = recordReview(projectDir, {
          experimentId: Number(body['experiment']),
          decision,
          note: typeof body['note'] === 'string' ? body['note'] : '',
          ...(typeof body['reviewer'] === 'string' ? { reviewer: body['reviewer'] } : {}),
        });
        return send(res, 201, r);
      }
    }
    throw new HttpError(404, `no route ${req.method} ${path}`);
  };

  const stream = (req: IncomingMessage, res: ServerResponse, runId: string | undefined): void => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    streams.add(res);
    let last = '';
    let lastBeat = Date.now();
    const tick = () => {
      try {
        const j = getJournal();
        const live = j ? activeRun(projectDir) : null;
        let stamp = '';
        if (j && live) {
          const run = j.getRun(runId);
          const cur = run ? currentExperiment(j, run) : null;
          stamp = liveStamp(projectDir, cur?.id ?? null);
        }
        const v = j ? `${journalVersion(j)}|${live?.pid ?? ''}|${stamp}` : 'no-journal';
        if (v !== last) {
          last = v;
          res.write(`event: state\ndata: ${snapshot(runId)}\n\n`);
          lastBeat = Date.now();
        } else if (Date.now() - lastBeat > 15_000) {
          res.write(': keep-alive\n\n');
          lastBeat = Date.now();
        }
      } catch (e) {
        res.write(`event: problem\ndata: ${JSON.stringify({ error: (e as Error).message })}\n\n`);
      }
    };
    tick();
    const timer = setInterval(tick, pollMs);
    timers.add(timer);
    const end = () => {
      clearInterval(timer);
      timers.delete(timer);
      streams.delete(res);
    };
    req.on('close', end);
    res.on('error', end);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (e instanceof HttpError)
        return send(res, e.status, {
          error: e.message,
          ...(e.hint ? { hint: e.hint } : {}),
          ...(e.field ? { field: e.field } : {}),
        });
      if (e instanceof RatchetError)
        return send(res, 400, {
          error: e.message,
          ...(e.hint ? { hint: e.hint } : {}),
          ...(e.field ? { field: e.field } : {}),
          ...(e.file ? { file: e.file } : {}),
        });
      send(res, 500, { error: (e as Error).message ?? String(e) });
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new RatchetError(`cannot listen on ${host}:${port}: ${e.code ?? e.message}`, {
          field: e.code === 'EADDRINUSE' ? '--port' : '--host',
          hint:
            e.code === 'EADDRINUSE' ? 'pick another port (--port 0 takes any free one)' : 'check the address',
        }),
      ),
    );
    server.listen(port, host, () => resolveListen());
  });
  // The latest run's experiments are read from the start and kept up to date on every poll (see runHistory), so a
  // request never reads thousands at once: the first snapshot at 5,000 experiments took ~1–2 s.
  let stopped = false;
  const keepWarm = () => {
    if (stopped) return;
    try {
      const j = getJournal();
      const run = j?.getRun();
      if (j && run) runHistory(j, run.id);
    } catch {
      // a journal being replaced or busy: the next poll or request reads it
    }
  };
  const warm = setInterval(keepWarm, pollMs);
  warm.unref();
  timers.add(warm);
  setImmediate(() => {
    keepWarm();
    // One snapshot of the latest run, thrown away: its code is compiled and its caches (rows, chart) filled before
    // the first request, which took ~200 ms at 500 experiments during a 64-direction run, later ones ~100 ms.
    try {
      if (!stopped) snapshot(undefined);
    } catch {
      // the first request builds it instead
    }
    // The alignment too (kept until the A/B tests or the experiments change), once: its bootstrap is not redone in
    // the background after every experiment.
    try {
      const j = stopped ? null : getJournal();
      if (j) studioAlignment(j);
    } catch {
      // computed by the first request instead
    }
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actual}/${token ? `?token=${encodeURIComponent(token)}` : ''}`,
    host,
    port: actual,
    token,
    server,
    close: async () => {
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const s of streams) s.end();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      journal?.close();
      journal = null;
    },
  };
}

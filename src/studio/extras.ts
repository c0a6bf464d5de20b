import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { git } from '../git/git.js';
import { cleanHypothesis } from '../guardrails/hypothesis.js';
import type { Journal, JournalReader } from '../journal/store.js';
import { logEntry } from '../journal/views.js';
import { experimentDir } from '../loop/paths.js';
import { PRUNED_NOTE } from '../loop/tidy.js';

/**
 * The Studio's extra reads: the side-by-side comparison of two experiments, the CSV export of a run's
 * experiment table, and the live view of the running experiment (its phase and a tail of its logs).
 */

/** Largest diff the comparison returns, in characters (the rest is cut, and `diff_truncated` says so). */
export const COMPARE_DIFF_CAP = 200 * 1024;
/** Lines of each log the live tail shows. */
export const TAIL_LINES = 50;
/** Bytes read from the end of a log for its tail. */
export const TAIL_BYTES = 32 * 1024;

/** One side of a comparison: public figures only (the private holdout never appears here). */
export interface CompareSide {
  id: number;
  run: string;
  seq: number;
  decision: string;
  hypothesis: string;
  score: number | null;
  gain: number | null;
  duration_s: number;
  commit: string | null;
  /** The commit the experiment started from. */
  parent: string;
  params: Record<string, unknown> | null;
  /** Public-holdout metrics (primary and secondary). */
  metrics: Record<string, number>;
}

/** GET /api/compare: two experiments and the git diff from a's commit to b's. */
export interface Comparison {
  a: CompareSide;
  b: CompareSide;
  /** `git diff <a> <b>` of their commits (a parent for an experiment that made none; see `diff_note`). */
  diff: string | null;
  diff_truncated: boolean;
  diff_note: string | null;
}

/**
 * Parse an experiment id from a query parameter.
 * @returns the id, or null when the text is not a positive integer (a caller answers 400)
 */
export function parseId(text: string | null): number | null {
  if (text === null || !/^[1-9]\d{0,15}$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

function side(journal: JournalReader, id: number): CompareSide | null {
  const e = journal.getExperiment(id);
  if (!e) return null;
  const l = logEntry(e);
  return {
    id: l.id,
    run: l.run,
    seq: l.seq,
    decision: l.decision,
    hypothesis: l.hypothesis,
    score: l.score,
    gain: l.gain,
    duration_s: l.duration_s,
    commit: l.commit,
    parent: e.parentSha,
    params: l.params,
    metrics: l.metrics,
  };
}

/**
 * Compare two experiments: params, public metrics and the diff between their commits, computed by host git
 * with Ratchet's sanitized configuration ({@link git}), capped at {@link COMPARE_DIFF_CAP} characters.
 * @returns null naming the missing id when an experiment is unknown
 * @throws Error when git fails on commits that exist in the journal (e.g. the repository lost them)
 */
export async function compareExperiments(
  journal: Journal,
  projectDir: string,
  a: number,
  b: number,
): Promise<Comparison | { missing: number }> {
  const sa = side(journal, a);
  if (!sa) return { missing: a };
  const sb = side(journal, b);
  if (!sb) return { missing: b };
  const hex = /^[0-9a-f]{7,64}$/;
  // Only kept experiments made a commit; any other is compared by the commit it started from.
  const ra = sa.commit ?? sa.parent;
  const rb = sb.commit ?? sb.parent;
  const notes: string[] = [];
  for (const x of [sa, sb])
    if (!x.commit)
      notes.push(
        `#${x.id} was ${x.decision} and made no commit: its parent ${x.parent.slice(0, 12)} is compared (its own change is in its diff)`,
      );
  for (const x of [sa, sb])
    if (existsSync(join(experimentDir(projectDir, x.id), PRUNED_NOTE)))
      notes.push(`#${x.id}: predictions pruned by retention (its metrics, patch and logs are kept)`);
  let diff: string | null = null;
  let truncated = false;
  if (!hex.test(ra) || !hex.test(rb)) {
    notes.push('no commit to compare');
  } else {
    const text = await git(projectDir, [
      'diff',
      '--no-color',
      '--no-ext-diff',
      '--no-textconv',
      ra,
      rb,
      '--',
    ]);
    truncated = text.length > COMPARE_DIFF_CAP;
    diff = truncated ? text.slice(0, COMPARE_DIFF_CAP) : text;
    if (truncated)
      notes.push(
        `truncated: the diff has ${text.length} characters; the first ${COMPARE_DIFF_CAP} are shown`,
      );
  }
  const note = notes.length ? notes.join('; ') : null;
  return { a: sa, b: sb, diff, diff_truncated: truncated, diff_note: note };
}

/** One CSV cell, RFC 4180 quoted; a text starting with = + - @ (or a tab/CR) gets a leading ' (formula injection). */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Columns of {@link experimentsCsv}. */
export const CSV_COLUMNS = [
  'id',
  'seq',
  'decision',
  'score',
  'gain',
  'duration_s',
  'hypothesis',
  'reason',
  'conclusion',
  'proposer',
  'commit',
  'started_at',
] as const;

/**
 * The experiment table of a run as CSV (header row, CRLF line ends, public scores only).
 * @param runId the run (default: the latest); an unknown run gives the header alone
 */
export function experimentsCsv(journal: JournalReader, runId?: string): string {
  const run = journal.getRun(runId);
  const rows = run ? journal.listExperiments(run.id).map(logEntry) : [];
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    const rec = r as unknown as Record<string, unknown>;
    lines.push(CSV_COLUMNS.map((c) => csvCell(rec[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Read the last `maxBytes` of `root/rel` without following links: every component under `root` is checked
 * with lstat and the file is opened with O_NOFOLLOW | O_NONBLOCK (a FIFO never blocks) and must be a regular
 * file. Logs are written next to sandboxed output, so nothing in the path is trusted.
 * @returns the text (a partial first line dropped when cut), or null when missing, a link or not a file
 */
export function readTailNoFollow(root: string, rel: string, maxBytes: number): string | null {
  let cur = root;
  for (const part of rel.split(sep)) {
    cur = join(cur, part);
    try {
      const st = lstatSync(cur);
      if (st.isSymbolicLink()) return null;
    } catch {
      return null;
    }
  }
  let fd: number;
  try {
    fd = openSync(cur, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    const len = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, st.size - len + got);
      if (n <= 0) break;
      got += n;
    }
    let text = buf.subarray(0, got).toString('utf8');
    if (st.size > len) text = text.slice(text.indexOf('\n') + 1);
    return text;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The last {@link TAIL_LINES} lines of a log, cleaned of terminal escapes and control characters. */
export function logTail(text: string | null): string {
  if (!text) return '';
  return cleanHypothesis(text.replaceAll('\r\n', '\n').replaceAll('\r', '\n'))
    .split('\n')
    .slice(-TAIL_LINES)
    .join('\n');
}

/** What the running experiment is doing, seen from its trace folder. */
export interface LiveExperiment {
  /** check (the change is being checked), execute (the sandbox runs), evaluate (scoring, deciding, recording). */
  phase: 'check' | 'execute' | 'evaluate';
  /** Last lines of stdout.log and stderr.log ('' when none yet). */
  stdout: string;
  stderr: string;
  /** Changes when the logs or the phase change (the live stream resends then). */
  stamp: string;
}

/**
 * The phase and log tails of a running experiment, read from `.ratchet/runs/<id>/` with
 * {@link readTailNoFollow}. Between experiments the loop is proposing (the caller says so).
 */
export function liveExperiment(projectDir: string, id: number): LiveExperiment {
  const rel = relative(projectDir, experimentDir(projectDir, id));
  const size = (f: string): number => {
    try {
      const st = lstatSync(join(projectDir, rel, f));
      return st.isFile() ? st.size : -1;
    } catch {
      return -1;
    }
  };
  const out = size('stdout.log');
  const err = size('stderr.log');
  const phase = size('sandbox.json') >= 0 ? 'evaluate' : out >= 0 || err >= 0 ? 'execute' : 'check';
  return {
    phase,
    stdout: logTail(readTailNoFollow(projectDir, join(rel, 'stdout.log'), TAIL_BYTES)),
    stderr: logTail(readTailNoFollow(projectDir, join(rel, 'stderr.log'), TAIL_BYTES)),
    stamp: `${id}:${phase}:${out}:${err}`,
  };
}

/** A cheap fingerprint of the running experiment's live view (phase and log sizes), '' when none. */
export function liveStamp(projectDir: string, id: number | null): string {
  if (id === null) return '';
  const rel = relative(projectDir, experimentDir(projectDir, id));
  const parts = ['stdout.log', 'stderr.log', 'sandbox.json'].map((f) => {
    try {
      return String(lstatSync(join(projectDir, rel, f)).size);
    } catch {
      return '-';
    }
  });
  return `${id}:${parts.join(':')}`;
}

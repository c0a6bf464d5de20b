/**
 * grep over the raw traces of experiments (`.ratchet/runs/<id>/`: patch, logs, metrics, predictions), for
 * proposers (Meta-Harness found raw traces beat summaries by about 15 points). Output is capped in lines and
 * bytes, and the answer says when it was. Files whose name says `private` are never searched (the private
 * holdout's predictions), symlinks are never followed, and nothing outside the traces folder is read.
 * Patterns run in RE2 (the `re2js` port): matching takes linear time in the line's length whatever the pattern,
 * so a pattern like `(a+)+$` cannot backtrack for minutes; backreferences and lookaround are refused.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RE2JS } from 're2js';
import { globMatch } from '../contract/load.js';
import { RUNS_DIR } from '../loop/paths.js';
import { RatchetError } from '../util/errors.js';

/** Defaults and hard ceilings of the caps. */
export const GREP_LIMITS = {
  defaultLines: 50,
  maxLines: 500,
  defaultBytes: 16 * 1024,
  maxBytes: 64 * 1024,
  /** Longest line kept in an answer (longer lines are cut). */
  lineChars: 400,
  /** Longest line matched (the rest of a longer line is not searched). */
  matchChars: 4096,
  /** Largest file searched, bytes. */
  fileBytes: 32 * 1024 * 1024,
  /** Longest pattern. */
  patternChars: 500,
} as const;

/** A grep question. */
export interface GrepQuery {
  /** A regular expression in RE2 syntax (or a literal string with `fixed`). */
  pattern: string;
  fixed?: boolean;
  ignoreCase?: boolean;
  /** Only these experiment ids. */
  experiments?: number[];
  /** Only files whose path inside the experiment folder matches this glob (e.g. `*.log`, `patch.diff`). */
  file?: string;
  /** Lines of context before and after each match (0–5). */
  context?: number;
  /** Most matching lines returned (default 50, at most 500). */
  maxLines?: number;
  /** Most bytes of text returned (default 16 KiB, at most 64 KiB). */
  maxBytes?: number;
}

/** One matching line. */
export interface GrepMatch {
  experiment: number;
  /** Path inside the experiment's folder, e.g. `stderr.log`. */
  file: string;
  /** 1-based line number. */
  line: number;
  text: string;
  /** Context lines before and after, when asked. */
  before?: string[];
  after?: string[];
}

/** A grep answer. */
export interface GrepResult {
  matches: GrepMatch[];
  /** Matching lines found (counting those left out by the caps). */
  total: number;
  files_searched: number;
  /** True when matches were left out; `note` says which cap applied. */
  capped: boolean;
  note: string;
}

/** A compiled pattern: `test(line)` says whether the line matches (linear time). */
interface Matcher {
  test(line: string): boolean;
}

function compile(q: GrepQuery): Matcher {
  if (typeof q.pattern !== 'string' || q.pattern.length === 0)
    throw new RatchetError('the pattern is empty', {
      field: 'pattern',
      hint: 'give a regular expression or a string',
    });
  if (q.pattern.length > GREP_LIMITS.patternChars)
    throw new RatchetError(`the pattern is longer than ${GREP_LIMITS.patternChars} characters`, {
      field: 'pattern',
      hint: 'search for something shorter',
    });
  if (q.fixed) {
    const needle = q.ignoreCase ? q.pattern.toLowerCase() : q.pattern;
    return { test: (line) => (q.ignoreCase ? line.toLowerCase() : line).includes(needle) };
  }
  try {
    return RE2JS.compile(q.pattern, q.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (e) {
    const why = (e as Error).message.replace(/^error parsing regexp:\s*/, '');
    throw new RatchetError(`not a valid regular expression: ${why}`, {
      field: 'pattern',
      hint: 'patterns use RE2 syntax (linear time: no backreferences, no lookahead/lookbehind); escape special characters, or search a fixed string (fixed: true / --fixed)',
    });
  }
}

const clamp = (v: number | undefined, dflt: number, max: number): number =>
  v === undefined || !Number.isFinite(v) || v <= 0 ? dflt : Math.min(Math.floor(v), max);

/** Experiment folders under the traces folder, by id (ascending). */
export function traceFolders(projectDir: string): { id: number; dir: string }[] {
  const root = join(projectDir, RUNS_DIR);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d+$/.test(e.name))
    .map((e) => ({ id: Number(e.name), dir: join(root, e.name) }))
    .sort((a, b) => a.id - b.id);
}

function files(dir: string, root = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) files(p, root, out);
    else if (e.isFile() && !/private/i.test(e.name)) out.push(relative(root, p));
  }
  return out;
}

/**
 * The lines of a text without copying them all (a large log split into strings would take several times its
 * size): the offsets of line starts, and each line sliced when asked. Lines as `text.split('\n')` gives them.
 */
function linesOf(text: string): {
  count: number;
  at(i: number): string;
  range(from: number, to: number): string[];
} {
  let starts = new Uint32Array(1024);
  let count = 0;
  for (let pos = 0; ; ) {
    if (count === starts.length) {
      const grown = new Uint32Array(starts.length * 2);
      grown.set(starts);
      starts = grown;
    }
    starts[count++] = pos;
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break;
    pos = nl + 1;
  }
  const at = (i: number) => text.slice(starts[i]!, i + 1 < count ? starts[i + 1]! - 1 : text.length);
  return {
    count,
    at,
    range: (from, to) => Array.from({ length: Math.max(0, to - from) }, (_, k) => at(from + k)),
  };
}

/**
 * Search the traces.
 * @throws RatchetError for an empty, too long or invalid pattern, or a bad file glob
 */
export function grepTraces(projectDir: string, q: GrepQuery): GrepResult {
  const re = compile(q);
  const maxLines = clamp(q.maxLines, GREP_LIMITS.defaultLines, GREP_LIMITS.maxLines);
  const maxBytes = clamp(q.maxBytes, GREP_LIMITS.defaultBytes, GREP_LIMITS.maxBytes);
  const ctx = Math.max(0, Math.min(5, Math.floor(q.context ?? 0)));
  const only = q.experiments?.length ? new Set(q.experiments) : null;
  const matches: GrepMatch[] = [];
  let total = 0;
  let bytes = 0;
  let searched = 0;
  let byteCapped = false;
  const cut = (s: string) => (s.length > GREP_LIMITS.lineChars ? `${s.slice(0, GREP_LIMITS.lineChars)}…` : s);
  for (const { id, dir } of traceFolders(projectDir)) {
    if (only && !only.has(id)) continue;
    for (const f of files(dir)) {
      if (q.file && !globMatch(q.file, f) && !globMatch(q.file, f.split('/').pop()!)) continue;
      const full = join(dir, f);
      const st = lstatSync(full);
      if (!st.isFile() || st.size > GREP_LIMITS.fileBytes) continue;
      searched++;
      const lines = linesOf(readFileSync(full, 'utf8'));
      for (let i = 0; i < lines.count; i++) {
        const line = lines.at(i);
        if (!re.test(line.length > GREP_LIMITS.matchChars ? line.slice(0, GREP_LIMITS.matchChars) : line))
          continue;
        total++;
        if (matches.length >= maxLines || byteCapped) continue;
        const m: GrepMatch = { experiment: id, file: f, line: i + 1, text: cut(line) };
        if (ctx > 0) {
          m.before = lines.range(Math.max(0, i - ctx), i).map(cut);
          m.after = lines.range(i + 1, Math.min(lines.count, i + 1 + ctx)).map(cut);
        }
        const size = Buffer.byteLength(JSON.stringify(m));
        if (bytes + size > maxBytes) {
          byteCapped = true;
          continue;
        }
        bytes += size;
        matches.push(m);
      }
    }
  }
  const capped = matches.length < total;
  const note = capped
    ? `showing ${matches.length} of ${total} matching lines (capped at ${byteCapped ? `${maxBytes} bytes` : `${maxLines} lines`}); narrow the pattern, the experiments or the file`
    : `${total} matching line${total === 1 ? '' : 's'} in ${searched} file${searched === 1 ? '' : 's'}`;
  return { matches, total, files_searched: searched, capped, note };
}

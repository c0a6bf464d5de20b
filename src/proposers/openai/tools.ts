/**
 * The tools a chat model gets at PROPOSE, restricted to the surface: list the editable files, read one, write
 * one, search the traces, query the journal, and finish with a hypothesis. File tools resolve every path inside
 * the worktree, refuse `..`, absolute paths, symlinks and `.git`, and only touch files the surface matches and
 * the lock does not freeze. Nothing here reaches the vault, the project checkout or the network.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { CONTRACT_FILE, globMatch } from '../../contract/load.js';
import { DATA_DIR, VAULT_DIR } from '../../data/ingest.js';
import { journalQuery, QUERY_LIMITS, SQL_SCHEMA, traceGrep } from '../../traces/index.js';
import { RatchetError } from '../../util/errors.js';
import { writeFileNoFollow } from '../../util/fs.js';
import type { ToolSpec } from './client.js';

/** Largest file `read_file` returns, characters. */
const READ_CHARS = 64 * 1024;
/** Largest file `write_file` accepts, bytes. */
const WRITE_BYTES = 1024 * 1024;

/** What the file tools work on. */
export interface ToolScope {
  worktree: string;
  projectDir: string;
  surface: string[];
  /** Project-relative paths locked with the contract (never writable, even if the surface matches). */
  locked: Set<string>;
}

const fn = (
  name: string,
  description: string,
  properties: Record<string, unknown>,
  required: string[] = [],
): ToolSpec => ({
  type: 'function',
  function: {
    name,
    description,
    parameters: { type: 'object', properties, required, additionalProperties: false },
  },
});

/** The `time_limit_s` argument of the trace tools (seconds). */
const TIME_LIMIT = {
  type: 'number',
  minimum: 1,
  maximum: QUERY_LIMITS.maxTimeoutMs / 1000,
  description: `stop the query after this many seconds (default ${QUERY_LIMITS.defaultTimeoutMs / 1000})`,
};

/** Time limit a model asked for, ms (undefined: the default). */
const timeLimitOf = (args: Record<string, unknown>): { timeoutMs?: number } => {
  const s = Number(args['time_limit_s']);
  return args['time_limit_s'] !== undefined && Number.isFinite(s) && s > 0 ? { timeoutMs: s * 1000 } : {};
};

/** The propose tools (JSON Schema), plus `conclude_previous` / `take_suggestion` when they apply. */
export function proposeTools(opts: { pendingConclusion: boolean; suggestion: boolean }): ToolSpec[] {
  const tools = [
    fn('list_files', 'List the files you may edit (the surface), with their sizes.', {}),
    fn(
      'read_file',
      'Read a file of the surface. Long files come in pages: pass start_line to read further.',
      { path: { type: 'string' }, start_line: { type: 'integer', minimum: 1 } },
      ['path'],
    ),
    fn(
      'write_file',
      'Replace (or create) a file of the surface with the given content. Files outside the surface are refused.',
      { path: { type: 'string' }, content: { type: 'string' } },
      ['path', 'content'],
    ),
    fn(
      'search_traces',
      'grep the raw traces of earlier experiments (patch.diff, stdout.log, stderr.log, experiment.json, output/public.csv). Output is capped; the search is stopped after its time limit.',
      {
        pattern: {
          type: 'string',
          description:
            'regular expression in RE2 syntax (no backreferences or lookaround), or a literal with fixed=true',
        },
        fixed: { type: 'boolean' },
        ignore_case: { type: 'boolean' },
        experiments: { type: 'array', items: { type: 'integer' } },
        file: { type: 'string', description: 'glob of the file inside the experiment folder, e.g. *.log' },
        context: { type: 'integer', minimum: 0, maximum: 5 },
        max_lines: { type: 'integer', minimum: 1, maximum: 500 },
        time_limit_s: TIME_LIMIT,
      },
      ['pattern'],
    ),
    fn(
      'query_journal',
      `Run one read-only SQL SELECT over the journal (output capped; stopped after its time limit). Tables:\n${SQL_SCHEMA}`,
      {
        sql: { type: 'string' },
        max_rows: { type: 'integer', minimum: 1, maximum: 1000 },
        time_limit_s: TIME_LIMIT,
      },
      ['sql'],
    ),
    fn(
      'finish',
      'Your change is in place: state the hypothesis (what you changed and why it should improve the metric). Ratchet then runs the experiment.',
      { hypothesis: { type: 'string' } },
      ['hypothesis'],
    ),
  ];
  if (opts.pendingConclusion)
    tools.push(
      fn(
        'conclude_previous',
        'Required before finish: what the last experiment (named in the brief) taught, in one or two sentences.',
        { conclusion: { type: 'string' } },
        ['conclusion'],
      ),
    );
  if (opts.suggestion)
    tools.push(
      fn(
        'take_suggestion',
        'Write the suggestion from the brief into its file (you may change more after).',
        {},
      ),
    );
  return tools;
}

/** A path the file tools refused: what the model is told, and the guardrail that refused it. */
export interface PathRefusal {
  error: string;
  /** vault-isolation, contract-integrity or write-surface; absent when the call gave no usable path. */
  guardrail?: string;
}

/**
 * Which guardrail refuses a path the file tools will not touch: vault-isolation for the vault and the split
 * data (relative, `..` or absolute, in the worktree's or the project's `.ratchet`), contract-integrity for the
 * contract and the files locked with it, else `otherwise`.
 */
function refusingGuardrail(scope: ToolScope, rel: string, otherwise: string): string {
  const abs = isAbsolute(rel) ? rel : join(scope.worktree, rel);
  const inside = (root: string, d: string) => {
    const p = join(root, d);
    return abs === p || abs.startsWith(`${p}${sep}`);
  };
  for (const d of [VAULT_DIR, DATA_DIR]) {
    const n = normalize(d);
    if (rel === n || rel.startsWith(`${n}${sep}`) || rel.includes(`${sep}${n}`)) return 'vault-isolation';
    if (inside(scope.projectDir, d) || inside(scope.worktree, d)) return 'vault-isolation';
  }
  for (const root of [scope.projectDir, scope.worktree]) {
    if (abs === join(root, CONTRACT_FILE)) return 'contract-integrity';
    for (const f of scope.locked) if (abs === join(root, f)) return 'contract-integrity';
  }
  return otherwise;
}

/**
 * Resolve a path a model gave to an absolute path inside the worktree that the surface allows.
 * @param write also refuse locked files
 * @returns the absolute path, or the refusal for the model (with the guardrail that refused it)
 */
export function surfacePath(
  scope: ToolScope,
  given: unknown,
  write: boolean,
): { path: string; rel: string } | PathRefusal {
  if (typeof given !== 'string' || given.trim() === '' || given.includes('\0'))
    return { error: 'give a file path' };
  const rel = normalize(
    given
      .trim()
      .replace(/^\.\/+/, '')
      .replace(/^\/workspace\//, ''),
  );
  const refuse = (error: string, otherwise: string): PathRefusal => ({
    error,
    guardrail: refusingGuardrail(scope, rel, otherwise),
  });
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`) || rel.split(sep).includes('..'))
    return refuse(
      `${given}: only paths inside the working tree (relative, no ..) are allowed`,
      'write-surface',
    );
  if (rel === '.git' || rel.startsWith(`.git${sep}`) || rel.split(sep).includes('.git'))
    return refuse(`${given}: .git is not part of the surface`, 'write-surface');
  if (!scope.surface.some((g) => globMatch(g, rel)))
    return refuse(
      `${rel} is outside the surface (${scope.surface.join(', ')}): you may not ${write ? 'write' : 'read'} it`,
      'write-surface',
    );
  if (write && scope.locked.has(rel))
    return refuse(`${rel} is locked with the contract: it never changes`, 'contract-integrity');
  // No symlink anywhere on the way (one could point at the vault).
  let cur = scope.worktree;
  for (const part of rel.split(sep)) {
    cur = join(cur, part);
    if (existsSync(cur) && lstatSync(cur).isSymbolicLink())
      return refuse(`${rel}: symbolic links are not followed`, 'vault-isolation');
  }
  return { path: join(scope.worktree, rel), rel };
}

/** Files of the worktree the surface matches. */
export function surfaceFiles(scope: ToolScope): { path: string; bytes: number }[] {
  const out: { path: string; bytes: number }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === '.git' || e.isSymbolicLink()) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const rel = relative(scope.worktree, p);
        if (scope.surface.some((g) => globMatch(g, rel))) out.push({ path: rel, bytes: lstatSync(p).size });
      }
    }
  };
  walk(scope.worktree);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Run a file or traces tool. Returns the JSON-able result (errors as `{error}` for the model to read). The
 * traces tools run off the event loop within a time limit; `signal` (the run's) stops a running query.
 */
export async function runFileTool(
  scope: ToolScope,
  name: string,
  args: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<unknown> {
  try {
    switch (name) {
      case 'list_files':
        return { files: surfaceFiles(scope) };
      case 'read_file': {
        const r = surfacePath(scope, args['path'], false);
        if ('error' in r) return r;
        if (!existsSync(r.path)) return { error: `${r.rel} does not exist (list_files shows what does)` };
        const lines = readFileSync(r.path, 'utf8').split('\n');
        const start = Math.max(1, Math.floor(Number(args['start_line'] ?? 1)) || 1);
        let text = '';
        let end = start - 1;
        for (let i = start - 1; i < lines.length; i++) {
          if (text.length + lines[i]!.length + 1 > READ_CHARS) break;
          text += `${lines[i]}\n`;
          end = i + 1;
        }
        return {
          path: r.rel,
          start_line: start,
          end_line: end,
          total_lines: lines.length,
          content: text,
          ...(end < lines.length
            ? { note: `cut at line ${end} of ${lines.length}: read on with start_line=${end + 1}` }
            : {}),
        };
      }
      case 'write_file': {
        const r = surfacePath(scope, args['path'], true);
        if ('error' in r) return r;
        const content = args['content'];
        if (typeof content !== 'string') return { error: 'content must be a string' };
        if (Buffer.byteLength(content) > WRITE_BYTES)
          return { error: `content is over ${WRITE_BYTES} bytes` };
        writeFileNoFollow(scope.worktree, r.rel, content);
        return { ok: true, path: r.rel, bytes: Buffer.byteLength(content) };
      }
      case 'search_traces':
        return await traceGrep(
          scope.projectDir,
          {
            pattern: String(args['pattern'] ?? ''),
            fixed: Boolean(args['fixed']),
            ignoreCase: Boolean(args['ignore_case']),
            ...(Array.isArray(args['experiments'])
              ? { experiments: (args['experiments'] as unknown[]).map(Number) }
              : {}),
            ...(typeof args['file'] === 'string' ? { file: args['file'] } : {}),
            ...(args['context'] !== undefined ? { context: Number(args['context']) } : {}),
            ...(args['max_lines'] !== undefined ? { maxLines: Number(args['max_lines']) } : {}),
          },
          { ...timeLimitOf(args), ...(signal ? { signal } : {}) },
        );
      case 'query_journal':
        return await journalQuery(scope.projectDir, String(args['sql'] ?? ''), {
          ...(args['max_rows'] !== undefined ? { maxRows: Number(args['max_rows']) } : {}),
          ...timeLimitOf(args),
          ...(signal ? { signal } : {}),
        });
      default:
        return { error: `unknown tool ${name}` };
    }
  } catch (e) {
    return { error: e instanceof RatchetError ? e.render() : (e as Error).message };
  }
}

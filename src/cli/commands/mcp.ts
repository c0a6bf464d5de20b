import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadContract } from '../../contract/load.js';
import { serveStdio } from '../../mcp/server.js';
import { closeQueryRunner, journalQuery, QUERY_LIMITS, traceGrep } from '../../traces/index.js';
import { RatchetError } from '../../util/errors.js';
import { parseDuration } from '../../util/units.js';
import { dim } from '../format.js';
import { action, intOption, printJson } from '../output.js';

const dur = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  try {
    return parseDuration(v);
  } catch (e) {
    throw new RatchetError((e as Error).message, { field: flag });
  }
};

const TIME_LIMIT_HELP = `stop the query after this long (default ${QUERY_LIMITS.defaultTimeoutMs / 1000}s, at most ${QUERY_LIMITS.maxTimeoutMs / 1000}s)`;

/** `--time-limit` in ms (undefined when absent). @throws RatchetError over the ceiling or unparsable */
function timeLimit(v: string | undefined): number | undefined {
  const ms = dur('--time-limit', v);
  if (ms !== undefined && (ms <= 0 || ms > QUERY_LIMITS.maxTimeoutMs))
    throw new RatchetError(`--time-limit must be above 0 and at most ${QUERY_LIMITS.maxTimeoutMs / 1000}s`, {
      field: '--time-limit',
      hint: 'e.g. --time-limit 10s',
    });
  return ms;
}

/** Run a query in the query process, then end that process (the CLI exits after one query). */
async function offLoop<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    closeQueryRunner();
  }
}

/** Register `ratchet mcp` (the MCP server for outside agents) and `ratchet traces grep|sql`. */
export function registerAgents(program: Command): void {
  program
    .command('mcp')
    .description(
      'serve the MCP tools (stdio) for an outside agent such as Claude Code or Codex: it drives experiments, Ratchet enforces the discipline',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'resume this run when the agent opens one (default: a new run)')
    .option('--experiments <n>', 'experiments per run, baseline included (default: budgets.max_experiments)')
    .option('--timeout <duration>', 'per-experiment wall clock (default: budgets.experiment_timeout)')
    .option('--budget <duration>', 'wall clock of a run (default: budgets.max_wall_clock)')
    .option(
      '--progress <duration>',
      'how often long tools (open_run, start_experiment) report progress',
      '5s',
    )
    .option('--unsafe-no-sandbox', 'run experiments without bubblewrap (recorded on every experiment)')
    .action(
      action(
        async (o: {
          dir: string;
          run?: string;
          experiments?: string;
          timeout?: string;
          budget?: string;
          progress: string;
          unsafeNoSandbox?: boolean;
        }) => {
          const projectDir = resolve(o.dir);
          loadContract(projectDir); // a broken contract fails here, with its file and field, before serving
          const maxExperiments = intOption('--experiments', o.experiments);
          const experimentTimeoutMs = dur('--timeout', o.timeout);
          const maxWallClockMs = dur('--budget', o.budget);
          await serveStdio({
            projectDir,
            ...(o.run ? { runId: o.run } : {}),
            ...(maxExperiments ? { maxExperiments } : {}),
            ...(experimentTimeoutMs ? { experimentTimeoutMs } : {}),
            ...(maxWallClockMs ? { maxWallClockMs } : {}),
            progressIntervalMs: dur('--progress', o.progress)!,
            unsafeNoSandbox: Boolean(o.unsafeNoSandbox),
          });
          // The run is closed; stdin may still hold the event loop open.
          process.exit(process.exitCode ?? 0);
        },
      ),
    );

  const traces = program
    .command('traces')
    .description(
      "search the experiments' raw traces (grep) or the journal (read-only SQL); output is capped",
    );

  traces
    .command('grep <pattern>')
    .description(
      'grep .ratchet/runs/*/ (patches, logs, metrics, public predictions; never private files); RE2 patterns, linear time',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('-F, --fixed', 'the pattern is a literal string, not a regular expression')
    .option('-i, --ignore-case', 'ignore case')
    .option('--experiment <ids>', 'only these experiment ids (comma-separated)')
    .option('--file <glob>', 'only files matching this glob, e.g. "*.log" or patch.diff')
    .option('-C, --context <n>', 'lines of context around each match (at most 5)')
    .option('--max-lines <n>', 'most matching lines shown (default 50, at most 500)')
    .option('--time-limit <duration>', TIME_LIMIT_HELP)
    .option('--json', 'print the answer as JSON')
    .action(
      action(
        async (
          pattern: string,
          o: {
            dir: string;
            fixed?: boolean;
            ignoreCase?: boolean;
            experiment?: string;
            file?: string;
            context?: string;
            maxLines?: string;
            timeLimit?: string;
            json?: boolean;
          },
        ) => {
          const experiments = o.experiment?.split(',').map((s) => {
            const n = Number(s.trim());
            if (!Number.isInteger(n) || n <= 0)
              throw new RatchetError(`"${s}" is not an experiment id`, {
                field: '--experiment',
                hint: 'e.g. --experiment 3,7',
              });
            return n;
          });
          const context = o.context === undefined ? undefined : Number(o.context);
          const maxLines = intOption('--max-lines', o.maxLines);
          const timeoutMs = timeLimit(o.timeLimit);
          const r = await offLoop(() =>
            traceGrep(
              resolve(o.dir),
              {
                pattern,
                fixed: Boolean(o.fixed),
                ignoreCase: Boolean(o.ignoreCase),
                ...(experiments ? { experiments } : {}),
                ...(o.file ? { file: o.file } : {}),
                ...(context !== undefined && Number.isFinite(context) ? { context } : {}),
                ...(maxLines ? { maxLines } : {}),
              },
              timeoutMs ? { timeoutMs } : {},
            ),
          );
          if (o.json) return printJson(r);
          const lines: string[] = [];
          for (const m of r.matches) {
            for (const [i, b] of (m.before ?? []).entries())
              lines.push(dim(`#${m.experiment}/${m.file}-${m.line - (m.before?.length ?? 0) + i}- ${b}`));
            lines.push(`#${m.experiment}/${m.file}:${m.line}: ${m.text}`);
            for (const [i, a] of (m.after ?? []).entries())
              lines.push(dim(`#${m.experiment}/${m.file}-${m.line + 1 + i}- ${a}`));
          }
          lines.push(dim(r.note));
          process.stdout.write(`${lines.join('\n')}\n`);
        },
      ),
    );

  traces
    .command('sql <query>')
    .description(
      'one read-only SELECT over the journal (experiments, metrics, events, runs, noise; never private scores)',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--max-rows <n>', 'most rows shown (default 100, at most 1000)')
    .option('--time-limit <duration>', TIME_LIMIT_HELP)
    .option('--json', 'print the answer as JSON')
    .action(
      action(
        async (query: string, o: { dir: string; maxRows?: string; timeLimit?: string; json?: boolean }) => {
          const maxRows = intOption('--max-rows', o.maxRows);
          const timeoutMs = timeLimit(o.timeLimit);
          const r = await offLoop(() =>
            journalQuery(resolve(o.dir), query, {
              ...(maxRows ? { maxRows } : {}),
              ...(timeoutMs ? { timeoutMs } : {}),
            }),
          );
          if (o.json) return printJson(r);
          const cell = (v: unknown) =>
            v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
          const out = [r.columns.join('\t'), ...r.rows.map((row) => row.map(cell).join('\t')), dim(r.note)];
          process.stdout.write(`${out.join('\n')}\n`);
        },
      ),
    );
}

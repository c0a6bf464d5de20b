/**
 * `ratchet mcp`: an MCP server (stdio, the official TypeScript SDK) for an outside agent (Claude Code, Codex...)
 * that drives the loop itself. Typed tools with structured output: contract and status, history, experiment
 * detail, trace search and SQL, open a run, start an experiment (the change is the worktree's diff), log a
 * conclusion, submit a direction for private scoring, close the run. The discipline is enforced by the server
 * (see McpController); long tools send progress notifications. stdout is the protocol: diagnostics go to stderr.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import * as z from 'zod';
import { closeQueryRunner, QUERY_LIMITS, warmQueryRunner } from '../traces/index.js';
import { RatchetError } from '../util/errors.js';
import { experimentView, McpController, type McpOptions } from './controller.js';

/** Server name and version announced to clients. */
export const SERVER_INFO = { name: 'ratchet', version: '0.1.0' } as const;

const loose = z.record(z.string(), z.unknown());
const num = z.number().nullable();

const ExperimentOut = z.looseObject({
  id: z.number(),
  run: z.string(),
  seq: z.number(),
  decision: z.string(),
  score: num,
  delta: num,
  hypothesis: z.string(),
  conclusion: z.string().nullable(),
  reason: z.string(),
  files: z.array(z.string()),
  proposer: z.string(),
  metrics: z.record(z.string(), z.number()),
});

const RefusalOut = z.object({
  guardrail: z.string(),
  message: z.string(),
  earlier: loose.optional(),
  retry_after_s: z.number().optional(),
});

const UsageIn = z
  .object({
    input_tokens: z.number().nonnegative().optional(),
    output_tokens: z.number().nonnegative().optional(),
    cost_usd: z.number().nonnegative().optional(),
  })
  .optional()
  .describe('your cumulative usage in this session so far (tokens, USD), checked against the contract caps');

/** Time limit of a trace query, seconds (the query is stopped after it). */
const TimeLimitIn = z
  .number()
  .positive()
  .max(QUERY_LIMITS.maxTimeoutMs / 1000)
  .default(QUERY_LIMITS.defaultTimeoutMs / 1000)
  .describe('stop the query after this many seconds');

/** A tool answer: a JSON text for older clients and the same object as structured content. */
function reply<T extends Record<string, unknown>>(value: T, summary?: string) {
  const text = JSON.stringify(value, null, 2);
  return {
    content: [{ type: 'text' as const, text: summary ? `${summary}\n${text}` : text }],
    structuredContent: value,
  };
}

/** Turn a RatchetError into its rendered message (file, field, fix) for the tool error. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof RatchetError) throw new Error(e.render());
    throw e;
  }
}

/** What a tool callback receives besides its arguments (the parts used here). */
interface Extra {
  _meta?: { progressToken?: string | number };
  sendNotification: (n: {
    method: 'notifications/progress';
    params: { progressToken: string | number; progress: number; total?: number; message?: string };
  }) => Promise<void>;
}

/** A progress reporter sending `notifications/progress` when the client asked for it (a progress token). */
function progressOf(extra: Extra): (message: string) => void {
  const token = extra._meta?.progressToken;
  let n = 0;
  return (message) => {
    if (token === undefined) return;
    n++;
    extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: n, message },
      })
      .catch(() => undefined);
  };
}

/**
 * Build the server and its controller (not connected yet).
 * @returns the MCP server and the controller holding the run
 */
export function createMcpServer(opts: McpOptions): { server: McpServer; controller: McpController } {
  const controller = new McpController(opts);
  const server = new McpServer(SERVER_INFO, {
    capabilities: { logging: {} },
    instructions:
      'Ratchet runs your experiments with guarantees: each change you make in the run worktree is checked, run in a ' +
      'sandbox, scored on a hidden holdout and kept only if it really improves the metric. Workflow: get_contract ' +
      '(directions, metric, surface, rules) → open_run → edit files in the worktree → start_experiment({hypothesis}) ' +
      '→ log_conclusion → repeat; search_traces/query_journal for what was tried; submit_direction when done.',
  });

  server.registerTool(
    'get_contract',
    {
      title: 'Contract, directions and rules',
      description:
        "The project's contract (task, metric and direction, the surface you may edit, budgets), the person's directions (program.md) and the rules the server enforces.",
      inputSchema: z.object({}),
      outputSchema: z.looseObject({
        name: z.string(),
        task: z.string(),
        metric: loose,
        surface: z.array(z.string()),
        directions: z.string().nullable(),
        rules: z.array(z.string()),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => guarded(async () => reply(controller.contractView())),
  );

  server.registerTool(
    'get_status',
    {
      title: 'Run status',
      description:
        'Where things stand: the open run and its worktree (where you edit), baseline and best score, budgets left, the experiment waiting for a conclusion, the phase in force, your token/cost use, and what to do next.',
      inputSchema: z.object({}),
      outputSchema: z.looseObject({
        project: z.string(),
        metric: loose,
        run: loose.nullable(),
        worktree: z.string().nullable(),
        budgets_left: loose.nullable(),
        pending_conclusion: loose.nullable(),
        phase: loose.nullable(),
        usage: loose,
        busy: z.string().nullable(),
        next: z.string(),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => guarded(async () => reply(await controller.status())),
  );

  server.registerTool(
    'get_history',
    {
      title: 'Experiment history',
      description:
        "Experiments of the open run (or another run), oldest first: hypothesis, decision, public score, gain, conclusion, files, metrics, and the direction of a run with several (with each direction's branch, experiments, keeps and best).",
      inputSchema: z.object({
        run_id: z.string().optional().describe('a run id (default: the open run, else the latest)'),
        limit: z.number().int().min(1).max(200).default(25).describe('the most recent N experiments'),
      }),
      outputSchema: z.object({
        run: z.string().nullable(),
        total: z.number(),
        experiments: z.array(ExperimentOut),
        directions: z
          .array(
            z.object({
              direction: z.number(),
              branch: z.string(),
              experiments: z.number(),
              kept: z.number(),
              best: z.object({ id: z.number(), score: num }).nullable(),
            }),
          )
          .nullable()
          .describe('each direction of a run with several (ratchet run --directions N); null for one'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ run_id, limit }) => guarded(async () => reply(controller.history(run_id, limit))),
  );

  server.registerTool(
    'get_experiment',
    {
      title: 'Experiment detail',
      description:
        'One experiment: hypothesis, decision and why, metrics, the patch, the tails of its logs, its guardrail events.',
      inputSchema: z.object({
        id: z.number().int().positive(),
        patch: z.boolean().default(true),
        logs: z.boolean().default(true),
      }),
      outputSchema: ExperimentOut.extend({
        sandbox: loose,
        trace_dir: z.string(),
        patch: z.string().nullable(),
        stdout_tail: z.string().nullable(),
        stderr_tail: z.string().nullable(),
        events: z.array(loose),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ id, patch, logs }) => guarded(async () => reply(controller.experiment(id, patch, logs))),
  );

  server.registerTool(
    'search_traces',
    {
      title: 'grep the raw traces',
      description:
        "grep over every experiment's raw files in .ratchet/runs/<id>/ (patch.diff, stdout.log, stderr.log, experiment.json, output/public.csv). Patterns use RE2 syntax (linear time: no backreferences or lookaround). Output capped in lines and bytes; the answer says when. Stopped after its time limit.",
      inputSchema: z.object({
        pattern: z
          .string()
          .min(1)
          .max(500)
          .describe('regular expression, RE2 syntax (a literal with fixed=true)'),
        fixed: z.boolean().default(false),
        ignore_case: z.boolean().default(false),
        experiments: z.array(z.number().int()).optional(),
        file: z.string().optional().describe('glob of the file inside the experiment folder, e.g. *.log'),
        context: z.number().int().min(0).max(5).default(0),
        max_lines: z.number().int().min(1).max(500).default(50),
        time_limit_s: TimeLimitIn,
      }),
      outputSchema: z.object({
        matches: z.array(loose),
        total: z.number(),
        files_searched: z.number(),
        capped: z.boolean(),
        note: z.string(),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a) =>
      guarded(async () => {
        const r = await controller.grep(
          {
            pattern: a.pattern,
            fixed: a.fixed,
            ignoreCase: a.ignore_case,
            ...(a.experiments ? { experiments: a.experiments } : {}),
            ...(a.file ? { file: a.file } : {}),
            context: a.context,
            maxLines: a.max_lines,
          },
          a.time_limit_s * 1000,
        );
        return reply({ ...r } as Record<string, unknown>, r.note);
      }),
  );

  server.registerTool(
    'query_journal',
    {
      title: 'SQL over the journal (read-only)',
      description:
        'One read-only SQL SELECT over the public journal: experiments, metrics, events, runs, noise (never private scores). Output capped in rows and bytes; stopped after its time limit or memory cap.',
      inputSchema: z.object({
        sql: z.string().min(1).max(5000),
        max_rows: z.number().int().min(1).max(1000).default(100),
        time_limit_s: TimeLimitIn,
      }),
      outputSchema: z.object({
        columns: z.array(z.string()),
        rows: z.array(z.array(z.unknown())),
        row_count: z.number(),
        capped: z.boolean(),
        note: z.string(),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ sql, max_rows, time_limit_s }) =>
      guarded(async () => {
        const r = await controller.sql(sql, max_rows, time_limit_s * 1000);
        return reply({ ...r } as Record<string, unknown>, r.note);
      }),
  );

  server.registerTool(
    'open_run',
    {
      title: 'Open a run',
      description:
        'Open a run: a ratchet branch and its worktree (edit your changes there), then measure the baseline (can take minutes: progress is reported). Does nothing when a run is open.',
      inputSchema: z.object({}),
      outputSchema: z.object({
        opened: z.boolean(),
        run: z.string(),
        branch: z.string(),
        worktree: z.string(),
        baseline: ExperimentOut.nullable(),
        surface: z.array(z.string()),
      }),
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async (_a, extra) =>
      guarded(async () => {
        const o = await controller.openRun(progressOf(extra as unknown as Extra));
        const s = controller.current!;
        return reply(
          {
            opened: o.opened,
            run: s.runId,
            branch: s.branch,
            worktree: s.worktree,
            baseline: o.baseline ?? (s.tally.baseline ? experimentView(s.tally.baseline) : null),
            surface: s.contract.surface,
          },
          `run ${s.runId} is open; edit files in ${s.worktree}`,
        );
      }),
  );

  server.registerTool(
    'start_experiment',
    {
      title: 'Run the change as an experiment',
      description:
        "Run the worktree's current change as one experiment: CHECK, sandboxed EXECUTE, EVALUATE on the hidden public holdout, DECIDE (keep or revert), RECORD. Needs a hypothesis. Refused (with the reason and guardrail) when the last experiment lacks a conclusion, the change repeats an earlier one, a phase gate or the rate limit says no, or a budget is used. Can take minutes: progress is reported. Without an open run it opens one and measures the baseline first.",
      inputSchema: z.object({
        hypothesis: z.string().describe('what you changed and why it should improve the metric'),
        usage: UsageIn,
      }),
      outputSchema: z.object({
        accepted: z.boolean(),
        opened: z.boolean(),
        refusals: z.array(RefusalOut),
        experiment: ExperimentOut.nullable(),
        best: z.object({ id: z.number(), score: z.number() }).nullable(),
        worktree: z.string().nullable(),
        next: z.string(),
      }),
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async ({ hypothesis, usage }, extra) =>
      guarded(async () => {
        const r = await controller.startExperiment(
          hypothesis,
          McpController.usage(usage ?? null),
          progressOf(extra as unknown as Extra),
        );
        const line = r.accepted
          ? `experiment #${r.experiment?.id}: ${r.experiment?.decision} (${r.experiment?.reason})`
          : r.opened
            ? 'run opened and baseline measured'
            : `REFUSED: ${r.refusals.map((x) => `${x.guardrail}: ${x.message}`).join('; ')}`;
        return reply({ ...r } as unknown as Record<string, unknown>, line);
      }),
  );

  server.registerTool(
    'log_conclusion',
    {
      title: 'Conclude an experiment',
      description:
        'Say what an experiment taught (required before the next start_experiment). Defaults to the experiment waiting for a conclusion.',
      inputSchema: z.object({
        experiment_id: z.number().int().positive().optional(),
        conclusion: z.string().describe('one or two sentences: what the result means for what to try next'),
        usage: UsageIn,
      }),
      outputSchema: z.object({
        recorded: z.boolean(),
        experiment_id: z.number(),
        pending_conclusion: z.number().nullable(),
      }),
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    async ({ experiment_id, conclusion, usage }) =>
      guarded(async () =>
        reply(controller.logConclusion(experiment_id, conclusion, McpController.usage(usage ?? null))),
      ),
  );

  server.registerTool(
    'submit_direction',
    {
      title: 'Submit this direction for private scoring',
      description:
        'End the open run (this direction) and have its best kept experiment scored once on the private holdout. The score is recorded for the person reviewing the work and is NEVER returned to you; you get only the confirmation. A new open_run starts a new direction.',
      inputSchema: z.object({
        rationale: z
          .string()
          .min(1)
          .describe('why this direction is worth a private score: what it tried and found'),
      }),
      outputSchema: z.object({
        recorded: z.boolean(),
        fresh: z.boolean(),
        run: z.string(),
        experiment_id: z.number(),
        public_score: z.number().nullable(),
        note: z.string(),
      }),
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async ({ rationale }, extra) =>
      guarded(async () =>
        reply(await controller.submitDirection(rationale, progressOf(extra as unknown as Extra))),
      ),
  );

  server.registerTool(
    'close_run',
    {
      title: 'Close the run',
      description: 'End the open run without submitting it: its branch stays at the last kept commit.',
      inputSchema: z.object({ reason: z.string().default('closed by the agent') }),
      outputSchema: z.object({ closed: z.boolean(), run: z.string().nullable() }),
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async ({ reason }) =>
      guarded(async () => {
        const id = controller.current?.runId ?? null;
        if (id) await controller.closeSession('finished', reason);
        return reply({ closed: id !== null, run: id });
      }),
  );

  return { server, controller };
}

/**
 * Serve over stdio until stdin closes or a signal arrives; then stop whatever runs and close the run (the
 * branch is left at its last kept commit). Diagnostics go to stderr.
 */
export async function serveStdio(opts: Omit<McpOptions, 'log'>): Promise<void> {
  const log = (line: string) => process.stderr.write(`ratchet mcp: ${line}\n`);
  const { server, controller } = createMcpServer({ ...opts, log });
  const transport = new StdioServerTransport();
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    closeQueryRunner(); // a running query ends now
    await controller.shutdown(why).catch((e) => log(`shutdown: ${(e as Error).message}`));
    await server.close().catch(() => undefined);
    done();
  };
  transport.onclose = () => void stop('the client closed the connection');
  process.stdin.on('end', () => void stop('stdin closed'));
  process.once('SIGINT', () => void stop('received SIGINT'));
  process.once('SIGTERM', () => void stop('received SIGTERM'));
  await server.connect(transport);
  warmQueryRunner(); // the first search_traces/query_journal does not wait for the query process to load
  log(`serving ${opts.projectDir} over stdio`);
  await finished;
}

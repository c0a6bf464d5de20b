import * as z from 'zod';

/**
 * The `agent` section of the contract: how LLM proposers (command, openai, hybrid, and outside agents over MCP)
 * are briefed and bounded. Kept in its own module so the core schema stays small. Everything here is locked with
 * the contract: an agent cannot raise its own caps.
 */

const duration = z
  .union([z.string().min(1), z.number().positive()])
  .describe('a duration: a number of seconds or text such as 90s, 5m, 1h30m');
const size = z
  .union([z.string().min(1), z.number().positive()])
  .describe('a size: bytes or text such as 4GiB');

/** A phase gate: explore before tuning. */
export const PhaseSchema = z
  .object({
    name: z.string().min(1).describe('shown to the agent, e.g. explore-model-families'),
    file: z
      .string()
      .min(1)
      .describe('YAML or JSON file in the surface whose key decides the phase, e.g. params.yaml'),
    key: z.string().min(1).describe('dotted key in that file, e.g. model'),
    distinct: z
      .number()
      .int()
      .min(2)
      .describe(
        'the phase lasts until this many distinct values of the key have been run (the baseline counts); until ' +
          'then every experiment must try a value not run yet',
      ),
  })
  .strict();

/**
 * Server-side experiment discipline (docs/ARCHITECTURE.md, "Agents and MCP"): each rule is enforced, never just
 * asked for.
 */
export const DisciplineSchema = z
  .object({
    min_hypothesis_chars: z
      .number()
      .int()
      .min(1)
      .default(12)
      .describe('a hypothesis shorter than this is refused (hypothesis-required)'),
    require_conclusion: z
      .boolean()
      .default(true)
      .describe('no next experiment before the agent concluded the last one that ran (conclusion-required)'),
    do_not_retry: z
      .boolean()
      .default(true)
      .describe('a change identical to an earlier experiment is refused with its result (do-not-retry)'),
    phases: z
      .array(PhaseSchema)
      .default([])
      .describe('phase gates, in order, e.g. explore model families before tuning hyperparameters'),
    rate_limit: z
      .object({
        max: z.number().int().positive().describe('experiments an agent may start per window'),
        per: duration.describe('the window, e.g. 1h'),
      })
      .strict()
      .optional()
      .describe('rate limit on experiments started by an outside agent over MCP (rate-limit)'),
  })
  .strict();

/** An OpenAI-compatible chat endpoint (hosted, or local through Ollama or vLLM). */
export const OpenAISchema = z
  .object({
    base_url: z
      .url()
      .describe(
        'e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1 (Ollama); /chat/completions is appended',
      ),
    model: z.string().min(1).describe('model name as the endpoint knows it'),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .default('OPENAI_API_KEY')
      .describe(
        'name of the environment variable holding the API key (the key itself never goes in the contract)',
      ),
    max_turns: z
      .number()
      .int()
      .min(2)
      .max(500)
      .default(40)
      .describe('chat turns per proposal; the proposal fails when the model has not finished by then'),
    temperature: z.number().min(0).max(2).optional(),
    request_timeout: duration.default('5m').describe('longest wait for one chat completion'),
    price: z
      .object({
        input_per_mtok: z.number().nonnegative().describe('USD per million prompt tokens'),
        output_per_mtok: z.number().nonnegative().describe('USD per million completion tokens'),
      })
      .strict()
      .optional()
      .describe('prices used to compute cost (needed for max_cost_usd)'),
  })
  .strict();

/** The `agent` section. */
export const AgentSchema = z
  .object({
    program: z
      .string()
      .min(1)
      .default('program.md')
      .describe("the human's directions file (frozen during a run, editable between runs)"),
    command: z
      .string()
      .min(1)
      .optional()
      .describe(
        'the command proposer: a shell command that runs a CLI coding agent in the worktree, e.g. ' +
          'claude -p "$(cat "$RATCHET_BRIEF")" --output-format json --dangerously-skip-permissions',
      ),
    network: z
      .boolean()
      .default(false)
      .describe("allow the command agent's sandbox to reach the network (a hosted LLM needs it)"),
    env: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'))
      .default([])
      .describe('names of host environment variables passed to the command agent, e.g. ANTHROPIC_API_KEY'),
    mounts: z
      .array(z.string().regex(/^\//, 'an absolute path'))
      .default([])
      .describe(
        "absolute host folders bound read-only at the same path for the command agent (e.g. the agent's install)",
      ),
    timeout: duration.default('20m').describe('wall clock of one command-agent call'),
    memory: size
      .default('8GiB')
      .describe("the command agent's memory cap: its whole process tree together (RLIMIT_AS per process)"),
    attempts: z
      .number()
      .int()
      .min(1)
      .max(5)
      .default(2)
      .describe(
        'how often a proposal refused by a discipline rule is sent back to the agent before it fails',
      ),
    history: z
      .number()
      .int()
      .min(1)
      .max(500)
      .default(25)
      .describe('recent experiments shown in the brief (all of them stay searchable in the traces)'),
    max_tokens: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('cap on the tokens (prompt + completion) an agent may use in one run'),
    max_cost_usd: z.number().positive().optional().describe('cap on what an agent may spend in one run, USD'),
    openai: OpenAISchema.optional().describe(
      'the openai and hybrid proposers: an OpenAI-compatible endpoint',
    ),
    discipline: DisciplineSchema.prefault({}).describe('experiment discipline, enforced server-side'),
  })
  .strict();

/** A validated `agent` section. */
export type AgentConfig = z.output<typeof AgentSchema>;
/** A phase gate as validated. */
export type PhaseConfig = z.output<typeof PhaseSchema>;
/** The discipline rules as validated. */
export type DisciplineConfig = z.output<typeof DisciplineSchema>;
/** An OpenAI-compatible endpoint as validated. */
export type OpenAIConfig = z.output<typeof OpenAISchema>;

/** The agent section a contract without one gets (every default). */
export function defaultAgentConfig(): AgentConfig {
  return AgentSchema.parse({});
}

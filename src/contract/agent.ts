import * as z from 'zod';

/**
 * The `agent` section of the contract: how LLM proposers (command, openai, MCP-driven agents) are briefed
 * and bounded. Owned by the agents work (issue 4); kept in its own module so the core schema stays small.
 */
export const AgentSchema = z
  .object({
    program: z
      .string()
      .min(1)
      .default('program.md')
      .describe("the human's directions file (frozen during a run, editable between runs)"),
  })
  .strict();

/** A validated `agent` section. */
export type AgentConfig = z.output<typeof AgentSchema>;

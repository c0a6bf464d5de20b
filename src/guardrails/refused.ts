/**
 * An agent's refused tool call (a read of the vault, a write to the contract or outside the surface) as a
 * journal event: every attempt is recorded, not only the ones that reach CHECK.
 */

/** Kind of the journal event of a refused agent tool call. */
export const AGENT_REFUSED_EVENT = 'agent.refused';

/** A refused tool call: which guardrail refused it, the tool, the path it named, and what the agent was told. */
export interface ToolRefusal {
  /** Guardrail id (src/guardrails/registry.ts): vault-isolation, contract-integrity or write-surface. */
  guardrail: string;
  /** The tool the agent called, e.g. `read_file`. */
  tool: string;
  /** The path exactly as the agent gave it (null when none). */
  path: string | null;
  /** The refusal the agent got back. */
  message: string;
}

/** An event a proposer hands to the loop (which adds the time, the run and the experiment). */
export interface ProposerEvent {
  kind: string;
  severity: 'info' | 'warning';
  guardrail: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

/** The journal event of a refused tool call. */
export function refusalEvent(r: ToolRefusal, source: string): ProposerEvent {
  return {
    kind: AGENT_REFUSED_EVENT,
    severity: 'warning',
    guardrail: r.guardrail,
    message: `${source}: ${r.tool}(${r.path === null ? '' : JSON.stringify(r.path)}) refused: ${r.message}`,
    data: { tool: r.tool, path: r.path, source },
  };
}

/**
 * The contract's `agent` section in machine units, checked against the rest of the contract.
 */
import { type AgentConfig, defaultAgentConfig } from '../contract/agent.js';
import { CONTRACT_FILE, type Contract, globMatch } from '../contract/load.js';
import { RatchetError } from '../util/errors.js';
import { parseBytes, parseDuration } from '../util/units.js';

/** The `agent` section with durations and sizes parsed. */
export interface AgentSettings extends AgentConfig {
  /** Wall clock of one command-agent call, ms. */
  timeoutMs: number;
  /** Memory limit of the command agent, bytes. */
  memoryBytes: number;
  /** Rate-limit window, ms (null without a rate limit). */
  ratePerMs: number | null;
  /** Longest wait for one chat completion, ms. */
  requestTimeoutMs: number;
}

/**
 * Resolve the contract's agent section (every default when the contract has none).
 * @throws RatchetError naming `ratchet.yaml`, the field and the fix: an unreadable duration or size, a phase
 *   whose file is not in the surface, a mount that is not absolute
 */
export function agentSettings(contract: Contract): AgentSettings {
  const a = contract.agent ?? defaultAgentConfig();
  const parse = <T>(field: string, fn: () => T, hint: string): T => {
    try {
      return fn();
    } catch (e) {
      throw new RatchetError((e as Error).message, { file: CONTRACT_FILE, field, hint });
    }
  };
  const durHint = 'e.g. 90s, 5m, 1h';
  for (const [i, p] of a.discipline.phases.entries()) {
    if (!contract.surface.some((g) => globMatch(g, p.file))) {
      throw new RatchetError(`phase "${p.name}" reads ${p.file}, which is not in the surface`, {
        file: CONTRACT_FILE,
        field: `agent.discipline.phases.${i}.file`,
        hint: `name a file the agent may edit (surface: ${contract.surface.join(', ')})`,
      });
    }
  }
  return {
    ...a,
    timeoutMs: parse('agent.timeout', () => parseDuration(a.timeout), durHint),
    memoryBytes: parse('agent.memory', () => parseBytes(a.memory), 'e.g. 4GiB'),
    ratePerMs: a.discipline.rate_limit
      ? parse('agent.discipline.rate_limit.per', () => parseDuration(a.discipline.rate_limit!.per), durHint)
      : null,
    requestTimeoutMs: a.openai
      ? parse('agent.openai.request_timeout', () => parseDuration(a.openai!.request_timeout), durHint)
      : 300_000,
  };
}

/**
 * Token and cost accounting for agents: what each call used (when the agent or the endpoint reports it), the
 * run's running total (kept in a small JSON file so a resumed run continues it), and the contract's caps.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Trip } from '../guardrails/registry.js';
import { writeFileAtomic } from '../util/fs.js';

/** Tokens and dollars used. Unknown parts are 0. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Agent calls or chat completions counted. */
  calls: number;
}

/** The caps of a run (from the contract's `agent.max_tokens` and `agent.max_cost_usd`). */
export interface Caps {
  maxTokens?: number | undefined;
  maxCostUsd?: number | undefined;
}

/** A usage of nothing. */
export function zeroUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 };
}

/** a + b. */
export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    costUsd: a.costUsd + b.costUsd,
    calls: a.calls + b.calls,
  };
}

/** Total tokens of a usage. */
export function totalTokens(u: Usage): number {
  return u.inputTokens + u.outputTokens;
}

/**
 * Which cap a usage has reached, as a `budget` guardrail trip, or null while under every cap. Reaching a cap
 * (>=) counts: no further call may start.
 */
export function capTrip(u: Usage, caps: Caps): Trip | null {
  const tokens = totalTokens(u);
  if (caps.maxTokens !== undefined && tokens >= caps.maxTokens) {
    return {
      guardrail: 'budget',
      message: `the agent token cap is used: ${tokens} of ${caps.maxTokens} tokens (agent.max_tokens)`,
      data: { tokens, maxTokens: caps.maxTokens },
    };
  }
  if (caps.maxCostUsd !== undefined && u.costUsd >= caps.maxCostUsd) {
    return {
      guardrail: 'budget',
      message: `the agent cost cap is used: $${u.costUsd.toFixed(4)} of $${caps.maxCostUsd} (agent.max_cost_usd)`,
      data: { costUsd: u.costUsd, maxCostUsd: caps.maxCostUsd },
    };
  }
  return null;
}

/** A usage in the snake_case form agents and JSON readers see. */
export function usageJson(u: Usage): {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  calls: number;
} {
  return {
    input_tokens: u.inputTokens,
    output_tokens: u.outputTokens,
    cost_usd: Math.round(u.costUsd * 1e6) / 1e6,
    calls: u.calls,
  };
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/**
 * Read a usage an agent reported in its answer: `{input_tokens, output_tokens, cost_usd}` (also accepts
 * `prompt_tokens`/`completion_tokens` and `total_cost_usd`). Null when nothing usable is there.
 */
export function parseReportedUsage(v: unknown): Usage | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const u: Usage = {
    inputTokens: num(o['input_tokens'] ?? o['prompt_tokens']),
    outputTokens: num(o['output_tokens'] ?? o['completion_tokens']),
    costUsd: num(o['cost_usd'] ?? o['total_cost_usd']),
    calls: 1,
  };
  return u.inputTokens + u.outputTokens + u.costUsd > 0 ? u : null;
}

/**
 * Find the usage a CLI agent printed on stdout, in the formats of the common agents:
 * Claude Code `--output-format json|stream-json` (a `result` object with `usage` and `total_cost_usd`; the
 * last one wins) and Codex `exec --json` (`turn.completed` events with `usage`, summed). Null when none.
 */
export function usageFromAgentOutput(stdout: string): Usage | null {
  const objects: Record<string, unknown>[] = [];
  const tryParse = (text: string) => {
    const t = text.trim();
    if (!t.startsWith('{')) return;
    try {
      const v = JSON.parse(t) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) objects.push(v as Record<string, unknown>);
    } catch {
      // not JSON
    }
  };
  tryParse(stdout);
  if (objects.length === 0) for (const line of stdout.split('\n')) tryParse(line);
  let claude: Usage | null = null;
  let codex: Usage | null = null;
  for (const o of objects) {
    const usage = o['usage'] as Record<string, unknown> | undefined;
    if (o['type'] === 'turn.completed' && usage && typeof usage === 'object') {
      const u: Usage = {
        inputTokens: num(usage['input_tokens']),
        outputTokens: num(usage['output_tokens']),
        costUsd: 0,
        calls: 1,
      };
      codex = codex ? addUsage(codex, u) : u;
    } else if (o['type'] === 'result' || 'total_cost_usd' in o) {
      const u = usage && typeof usage === 'object' ? usage : {};
      claude = {
        inputTokens:
          num(u['input_tokens']) + num(u['cache_creation_input_tokens']) + num(u['cache_read_input_tokens']),
        outputTokens: num(u['output_tokens']),
        costUsd: num(o['total_cost_usd'] ?? o['cost_usd']),
        calls: 1,
      };
    }
  }
  return claude ?? codex;
}

/**
 * The running usage of one run's agent, persisted as JSON (so a resumed run continues its total, and the
 * caps hold across restarts).
 */
export class UsageLedger {
  private total: Usage;

  /** @param path the JSON file (created on the first add) */
  constructor(readonly path: string) {
    this.total = zeroUsage();
    if (existsSync(path)) {
      try {
        const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<Usage>;
        this.total = {
          inputTokens: num(v.inputTokens),
          outputTokens: num(v.outputTokens),
          costUsd: num(v.costUsd),
          calls: num(v.calls),
        };
      } catch {
        // a damaged ledger restarts at zero; the journal still holds every experiment's usage
      }
    }
  }

  /** The total so far. */
  get usage(): Usage {
    return { ...this.total };
  }

  /** Add one call's usage and save. */
  add(u: Usage): Usage {
    this.total = addUsage(this.total, u);
    writeFileAtomic(this.path, `${JSON.stringify(this.total)}\n`);
    return this.usage;
  }

  /** Raise the total to at least `u` field by field (for agents that report cumulative totals) and save. */
  raiseTo(u: Usage): Usage {
    this.total = {
      inputTokens: Math.max(this.total.inputTokens, u.inputTokens),
      outputTokens: Math.max(this.total.outputTokens, u.outputTokens),
      costUsd: Math.max(this.total.costUsd, u.costUsd),
      calls: this.total.calls + 1,
    };
    writeFileAtomic(this.path, `${JSON.stringify(this.total)}\n`);
    return this.usage;
  }
}

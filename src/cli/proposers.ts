import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DirectionBrief } from '../agents/brief.js';
import { CONTRACT_FILE } from '../contract/load.js';
import type { ProposerContext, ProposerFactory } from '../loop/run.js';
import { createCommandProposer } from '../proposers/command/index.js';
import { createHybridProposer } from '../proposers/hybrid/index.js';
import { createOpenAIProposer } from '../proposers/openai/index.js';
import { createSearchProposer, type SearchProposer } from '../proposers/search/proposer.js';
import { RatchetError } from '../util/errors.js';

/** Names accepted by `ratchet run --proposer`. */
export const PROPOSERS = ['search', 'command', 'openai', 'hybrid'] as const;

/** The search proposer of a run (also the TPE side of the hybrid). */
function searchProposer(ctx: ProposerContext, who: string): SearchProposer {
  const search = ctx.contract.search;
  if (!search) {
    throw new RatchetError(`the ${who} proposer needs a search space`, {
      file: CONTRACT_FILE,
      field: 'search',
      hint: 'add search: { space: search_space.yaml, params_file: params.yaml } (ratchet init --data scaffolds both)',
    });
  }
  const paramsPath = join(ctx.worktree, search.params_file);
  const baselineParams = existsSync(paramsPath)
    ? ((parseYaml(readFileSync(paramsPath, 'utf8')) as Record<string, unknown> | null) ?? undefined)
    : undefined;
  return createSearchProposer({
    python: ctx.python.executable,
    projectDir: ctx.contract.projectDir,
    statePath: ctx.stateDir,
    studyName: ctx.runId,
    spacePath: join(ctx.contract.projectDir, search.space),
    paramsFile: search.params_file,
    direction: ctx.contract.direction,
    seed: ctx.contract.split.seed,
    // Parallel directions share the run's study (docs/ARCHITECTURE.md, "Parallel directions").
    worker: ctx.direction - 1,
    constantLiar: ctx.directions > 1,
    experimentTimeoutMs: ctx.contract.limits.experimentTimeoutMs,
    // ensembles fit their weights on the primary metric; a composite score has no single one (train.py's default)
    ...(ctx.contract.metric.primary !== 'composite' ? { metric: ctx.contract.metric.primary } : {}),
    ...(baselineParams ? { baselineParams } : {}),
  });
}

/**
 * Build the factory of a named proposer.
 * @throws RatchetError for an unknown name, `search`/`hybrid` without a `search` section, `command` without
 *   `agent.command`, `openai` without `agent.openai` (each naming the contract field to add)
 */
/**
 * An agent proposer's state folder and direction in a run with several directions: each agent keeps its briefs,
 * answers and logs apart (`<state>/d<k>`) and is told its direction and the contract's text for it
 * (`parallel.briefs`); with one direction, the run's state folder and no direction.
 */
function agentScope(ctx: ProposerContext): { stateDir: string; direction?: DirectionBrief } {
  if (ctx.directions < 2) return { stateDir: ctx.stateDir };
  return {
    stateDir: join(ctx.stateDir, `d${ctx.direction}`),
    direction: {
      index: ctx.direction,
      of: ctx.directions,
      text: ctx.contract.parallel.briefs[ctx.direction - 1] ?? null,
    },
  };
}

export function proposerFactory(name: string): ProposerFactory {
  switch (name) {
    case 'search':
      return async (ctx) => searchProposer(ctx, 'search');
    case 'command':
      return async (ctx) =>
        createCommandProposer({
          contract: ctx.contract,
          runId: ctx.runId,
          worktree: ctx.worktree,
          python: ctx.python,
          ...agentScope(ctx),
        });
    case 'openai':
      return async (ctx) =>
        createOpenAIProposer({
          contract: ctx.contract,
          runId: ctx.runId,
          worktree: ctx.worktree,
          ...agentScope(ctx),
        });
    case 'hybrid':
      return async (ctx) => {
        const agent = ctx.contract.agent;
        if (!agent?.openai && !agent?.command) {
          throw new RatchetError(
            'the hybrid proposer needs an LLM: an OpenAI-compatible endpoint or an agent command',
            {
              file: CONTRACT_FILE,
              field: 'agent.openai',
              hint: 'add agent: { openai: { base_url: ..., model: ... } } or agent: { command: ... }',
            },
          );
        }
        const search = searchProposer(ctx, 'hybrid');
        const llm = agent.openai
          ? createOpenAIProposer({
              contract: ctx.contract,
              runId: ctx.runId,
              worktree: ctx.worktree,
              ...agentScope(ctx),
              name: 'hybrid',
            })
          : createCommandProposer({
              contract: ctx.contract,
              runId: ctx.runId,
              worktree: ctx.worktree,
              python: ctx.python,
              ...agentScope(ctx),
            });
        return createHybridProposer({
          search,
          llm,
          worktree: ctx.worktree,
          paramsFile: ctx.contract.search!.params_file,
        });
      };
    default:
      throw new RatchetError(`unknown proposer "${name}"`, {
        field: '--proposer',
        hint: `use one of: ${PROPOSERS.join(', ')}`,
      });
  }
}

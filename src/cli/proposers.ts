import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ProposerFactory } from '../loop/run.js';
import { createSearchProposer } from '../proposers/search/proposer.js';
import { RatchetError } from '../util/errors.js';

/** Names accepted by `ratchet run --proposer`. */
export const PROPOSERS = ['search'] as const;

/**
 * Build the factory of a named proposer.
 * @throws RatchetError for an unknown name, or `search` without a `search` section in the contract
 */
export function proposerFactory(name: string): ProposerFactory {
  if (name === 'search') {
    return async (ctx) => {
      const search = ctx.contract.search;
      if (!search) {
        throw new RatchetError('the search proposer needs a search space', {
          file: 'ratchet.yaml',
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
        ...(baselineParams ? { baselineParams } : {}),
      });
    };
  }
  throw new RatchetError(`unknown proposer "${name}"`, {
    field: '--proposer',
    hint: `use one of: ${PROPOSERS.join(', ')}`,
  });
}

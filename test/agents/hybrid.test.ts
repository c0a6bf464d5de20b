import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { proposerFactory } from '../../src/cli/proposers.js';
import { runLoop } from '../../src/loop/run.js';
import { studyStoragePath } from '../../src/proposers/search/proposer.js';
import { gitOut, ROOT } from '../helpers/project.js';
import {
  agentProject,
  journalOf,
  PARAMS,
  type SeenRequest,
  type StandInServer,
  startChatServer,
} from './helpers.js';

/**
 * The `hybrid` proposer: a stand-in chat model that sees TPE's suggestion at every PROPOSE and takes it every
 * other time. TPE hears the score of the trials that ran and fails the ones that were passed over.
 */

let server: StandInServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const offered = (req: SeenRequest): string[] =>
  ((req.body.tools ?? []) as { function: { name: string } }[]).map((t) => t.function.name);
const calledCount = (req: SeenRequest): number =>
  (req.body.messages as { role: string }[]).filter((m) => m.role === 'assistant').length;

/** Counts of the study's trials by state (through Optuna itself). */
function trialStates(storage: string, study: string): Record<string, number> {
  const py = join(ROOT, '.venv', 'bin', 'python');
  const r = spawnSync(
    py,
    [
      '-c',
      `import json, optuna, collections
optuna.logging.set_verbosity(optuna.logging.ERROR)
s = optuna.load_study(study_name=${JSON.stringify(study)}, storage="sqlite:///" + ${JSON.stringify(storage)})
print(json.dumps(collections.Counter(t.state.name for t in s.trials)))`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('hybrid proposer: an LLM with TPE suggestions runs the bundled example end to end', () => {
  it('offers TPE trials, runs the ones taken (told to TPE) and the LLM’s own changes (trial failed)', {
    timeout: 300_000,
  }, async () => {
    let proposal = -1;
    const own = [PARAMS.rf, PARAMS.et];
    server = await startChatServer((req) => {
      if (offered(req).length === 0)
        return { content: 'the suggestion and the own change both inform the next step' };
      const n = calledCount(req);
      if (n === 0) proposal++;
      const take = proposal % 2 === 0;
      if (n === 0)
        return take
          ? { toolCalls: [{ name: 'take_suggestion', args: {} }] }
          : {
              toolCalls: [
                { name: 'write_file', args: { path: 'params.yaml', content: own[(proposal - 1) / 2]! } },
              ],
            };
      return {
        toolCalls: [
          {
            name: 'finish',
            args: {
              hypothesis: take
                ? 'take the TPE suggestion: the tuner searched this space more systematically than I can'
                : 'my own change: a tree ensemble should beat what the tuner proposed',
            },
          },
        ],
      };
    });
    const dir = await agentProject({ agent: ['openai:', `  base_url: ${server.url}`, '  model: m'] });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('hybrid'), maxExperiments: 5 });
    expect(s.status, s.reason).toBe('finished');
    const { exps } = journalOf(dir, s.runId);
    expect(exps.map((e) => e.proposer)).toEqual(['baseline', 'hybrid', 'hybrid', 'hybrid', 'hybrid']);
    const hybrid = exps.slice(1).map((e) => e.meta?.['hybrid'] as { taken: boolean; tpe: string });
    expect(hybrid.map((h) => h.taken)).toEqual([true, false, true, false]);
    for (const [i, e] of exps.slice(1).entries()) {
      expect(['kept', 'reverted', 'crashed']).toContain(e.decision);
      expect(hybrid[i]!.tpe).toMatch(/^TPE trial \d+/);
      if (hybrid[i]!.taken) expect(typeof e.meta?.['trial']).toBe('number');
      else expect(e.params?.['model']).toBe(i === 1 ? 'random_forest' : 'extra_trees');
    }
    // Each proposal's brief carried the suggestion and the tool to take it.
    const firsts = server.requests.filter((r) => offered(r).length > 0 && calledCount(r) === 0);
    expect(firsts).toHaveLength(4);
    for (const r of firsts) {
      expect(offered(r)).toContain('take_suggestion');
      expect(r.body.messages[1].content).toMatch(
        /## Suggestion from TPE \(Optuna\)[\s\S]*```yaml\n[\s\S]*model: /,
      );
    }
    // TPE: the baseline and the two taken trials completed; the two passed over failed.
    const states = trialStates(studyStoragePath(join(dir, '.ratchet/proposers', s.runId), s.runId), s.runId);
    expect(states['COMPLETE']).toBe(3);
    expect(states['FAIL']).toBe(2);
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
  });

  it('works with a CLI agent too: the suggestion is a file in the brief the agent may copy', {
    timeout: 300_000,
  }, async () => {
    const dir = await agentProject({ variant: 'suggestion' });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('hybrid'), maxExperiments: 3 });
    expect(s.status, s.reason).toBe('finished');
    const { exps } = journalOf(dir, s.runId);
    const taken = exps.slice(1).map((e) => (e.meta?.['hybrid'] as { taken?: boolean } | undefined)?.taken);
    // The stand-in copies the suggestion every other time (when the history it reads has an even length).
    expect(taken).toEqual([false, true]);
    expect(exps[2]!.hypothesis).toMatch(/take the TPE suggestion/);
  });
});

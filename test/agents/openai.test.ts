import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { proposerFactory } from '../../src/cli/proposers.js';
import { runLoop } from '../../src/loop/run.js';
import { gitOut } from '../helpers/project.js';
import {
  agentProject,
  journalOf,
  PARAMS,
  type PolicyAnswer,
  type SeenRequest,
  type StandInServer,
  startChatServer,
  toolResults,
} from './helpers.js';

/**
 * The `openai` proposer against a stand-in OpenAI-compatible server on loopback that answers with scripted
 * tool calls and usage, behind the real HTTP interface. Real git, bubblewrap and Python run the experiments.
 */

let server: StandInServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const called = (req: SeenRequest): string[] =>
  (req.body.messages as { role: string; tool_calls?: { function: { name: string } }[] }[])
    .filter((m) => m.role === 'assistant')
    .flatMap((m) => m.tool_calls ?? [])
    .map((c) => c.function.name);
const offered = (req: SeenRequest): string[] =>
  ((req.body.tools ?? []) as { function: { name: string } }[]).map((t) => t.function.name);

/** A model that looks around, writes a new family's params each proposal, and finishes. */
function explorer(order: (keyof typeof PARAMS)[]) {
  let proposal = -1;
  return (req: SeenRequest): PolicyAnswer => {
    if (offered(req).length === 0)
      return { content: 'It confirmed that tree ensembles rank this panel better.' };
    const done = called(req);
    if (done.length === 0) proposal++;
    const family = order[proposal % order.length]!;
    if (offered(req).includes('conclude_previous') && !done.includes('conclude_previous'))
      return {
        toolCalls: [{ name: 'conclude_previous', args: { conclusion: 'the last change taught little' } }],
      };
    const script: PolicyAnswer['toolCalls'] = [
      { name: 'list_files', args: {} },
      { name: 'read_file', args: { path: 'params.yaml' } },
      { name: 'search_traces', args: { pattern: 'auroc', file: 'experiment.json', max_lines: 3 } },
      { name: 'query_journal', args: { sql: 'SELECT id, decision, score FROM experiments ORDER BY id' } },
      { name: 'write_file', args: { path: 'params.yaml', content: PARAMS[family] } },
      {
        name: 'finish',
        args: { hypothesis: `switch to ${family}: a different model family should rank better` },
      },
    ];
    const next = script.find((c) => !done.includes(c.name) || c.name === 'finish')!;
    return { toolCalls: [next] };
  };
}

describe('openai proposer: an OpenAI-compatible endpoint runs the bundled example end to end', () => {
  it('converses through surface-restricted tools, finishes with hypotheses, concludes, counts tokens and cost', {
    timeout: 300_000,
  }, async () => {
    server = await startChatServer(explorer(['hgb', 'rf', 'et']));
    process.env['RATCHET_TEST_OPENAI_KEY'] = 'sk-test-123';
    const dir = await agentProject({
      agent: [
        'openai:',
        `  base_url: ${server.url}`,
        '  model: stand-in-coder',
        '  api_key_env: RATCHET_TEST_OPENAI_KEY',
        '  price: { input_per_mtok: 2, output_per_mtok: 10 }',
      ],
    });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('openai'), maxExperiments: 4 });
    expect(s.status, s.reason).toBe('finished');
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps.map((e) => e.proposer)).toEqual(['baseline', 'openai', 'openai', 'openai']);
    expect(exps.slice(1).map((e) => e.hypothesis.split(':')[0])).toEqual([
      'switch to hgb',
      'switch to rf',
      'switch to et',
    ]);
    for (const e of exps.slice(1)) {
      expect(['kept', 'reverted']).toContain(e.decision);
      expect(e.files).toEqual(['params.yaml']);
      expect(e.conclusion).toBe('It confirmed that tree ensembles rank this panel better.');
      expect(e.meta?.['agent']).toMatchObject({
        proposer: 'openai',
        model: 'stand-in-coder',
        turns: 6,
        refused: 0,
      });
    }
    expect(events.filter((e) => e.kind === 'agent.conclusion')).toHaveLength(3);
    // The real HTTP interface: the key from the named variable, the model, the tools offered.
    const first = server.requests[0]!;
    expect(first.headers['authorization']).toBe('Bearer sk-test-123');
    expect(first.body.model).toBe('stand-in-coder');
    expect(offered(first).sort()).toEqual(
      ['finish', 'list_files', 'query_journal', 'read_file', 'search_traces', 'write_file'].sort(),
    );
    const brief = first.body.messages[1].content as string;
    expect(brief).toContain('Prefer tree ensembles');
    expect(brief).toContain('call `finish` with your hypothesis');
    // Tool answers as the model saw them.
    const results = toolResults(server.requests[5]!);
    expect(results[0].files.map((f: { path: string }) => f.path)).toEqual(['params.yaml', 'train.py']);
    expect(results[1].content).toContain('model: logistic_regression');
    expect(results[2].matches.length).toBeLessThanOrEqual(3);
    expect(results[2].matches[0]).toMatchObject({ experiment: exps[0]!.id, file: 'experiment.json' });
    expect(results[3].columns).toEqual(['id', 'decision', 'score']);
    expect(results[4]).toMatchObject({ ok: true, path: 'params.yaml' });
    // 3 × 6 propose turns + 3 conclusions, 1100 tokens each, at $2/$10 per million.
    const ledger = JSON.parse(readFileSync(join(dir, '.ratchet/proposers', s.runId, 'usage.json'), 'utf8'));
    expect(ledger).toMatchObject({ inputTokens: 21_000, outputTokens: 2100, calls: 21 });
    expect(ledger.costUsd).toBeCloseTo((21 * (1000 * 2 + 100 * 10)) / 1e6, 10);
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
  });
});

describe('openai proposer: the tools and the rules hold', () => {
  it('refuses every path outside the surface, the vault and any write SQL; the experiment still runs', async () => {
    const attempts: PolicyAnswer['toolCalls'] = [
      { name: 'write_file', args: { path: 'notes.txt', content: 'x' } },
      { name: 'write_file', args: { path: '../../ratchet.yaml', content: 'x' } },
      { name: 'write_file', args: { path: 'ratchet.yaml', content: 'x' } },
      { name: 'read_file', args: { path: '.ratchet/vault/public.parquet' } },
      { name: 'read_file', args: { path: '/etc/passwd' } },
      { name: 'write_file', args: { path: '.git/config', content: 'x' } },
      { name: 'query_journal', args: { sql: 'DELETE FROM experiments' } },
      { name: 'query_journal', args: { sql: 'SELECT * FROM submissions' } },
      { name: 'write_file', args: { path: 'params.yaml', content: PARAMS.rf } },
      {
        name: 'finish',
        args: { hypothesis: 'a random forest should beat the linear baseline on this panel' },
      },
    ];
    let i = 0;
    server = await startChatServer((req) =>
      offered(req).length === 0 ? { content: 'done' } : { toolCalls: [attempts[i++ % attempts.length]!] },
    );
    const dir = await agentProject({ agent: ['openai:', `  base_url: ${server.url}`, '  model: m'] });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('openai'), maxExperiments: 2 });
    const { exps } = journalOf(dir, s.runId);
    expect(exps[1]!.files).toEqual(['params.yaml']);
    expect(['kept', 'reverted']).toContain(exps[1]!.decision);
    const r = toolResults(server.requests[9]!);
    expect(r[0].error).toMatch(/notes\.txt is outside the surface/);
    expect(r[1].error).toMatch(/only paths inside the working tree/);
    expect(r[2].error).toMatch(/ratchet\.yaml is outside the surface/);
    expect(r[3].error).toMatch(/outside the surface/);
    expect(r[4].error).toMatch(/only paths inside the working tree|outside the surface/);
    expect(r[5].error).toMatch(/\.git is not part of the surface/);
    expect(r[6].error).toMatch(/only SELECT queries are allowed/);
    expect(r[7].error).toMatch(/no such table: submissions/);
    expect(r[8]).toMatchObject({ ok: true });
  });

  it('a refused finish (hypothesis-required, do-not-retry) is answered with the reason and the earlier result', {
    timeout: 300_000,
  }, async () => {
    let head = '';
    let proposal = -1;
    server = await startChatServer((req) => {
      if (offered(req).length === 0) return { content: 'a comment changes nothing the model sees' };
      const done = called(req);
      if (done.length === 0) proposal++;
      if (done.length === 0) return { toolCalls: [{ name: 'read_file', args: { path: 'params.yaml' } }] };
      const res = toolResults(req);
      if (done.length === 1) {
        head = res[0].content;
        return {
          toolCalls: [{ name: 'write_file', args: { path: 'params.yaml', content: `${head}# noted\n` } }],
        };
      }
      if (proposal === 0)
        return { toolCalls: [{ name: 'finish', args: { hypothesis: 'a note in the params file' } }] };
      // Second proposal: the same change again, first without a hypothesis, then with one; then a new change.
      const finishes = done.filter((n) => n === 'finish').length;
      if (finishes === 0) return { toolCalls: [{ name: 'finish', args: { hypothesis: '' } }] };
      if (finishes === 1)
        return { toolCalls: [{ name: 'finish', args: { hypothesis: 'the same note, once more' } }] };
      if (!done.includes('write_file') || done.filter((n) => n === 'write_file').length < 2)
        return { toolCalls: [{ name: 'write_file', args: { path: 'params.yaml', content: PARAMS.hgb } }] };
      return {
        toolCalls: [
          { name: 'finish', args: { hypothesis: 'gradient boosting instead of the linear model' } },
        ],
      };
    });
    const dir = await agentProject({
      agent: ['attempts: 3', 'openai:', `  base_url: ${server.url}`, '  model: m'],
    });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('openai'), maxExperiments: 3 });
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps[1]!.decision).toBe('reverted');
    expect(exps[2]!.hypothesis).toBe('gradient boosting instead of the linear model');
    const last = server.requests.filter((r) => offered(r).length > 0).at(-1)!;
    const finishes = toolResults(last).filter((r) => 'refused' in r);
    expect(finishes[0].refused.map((x: { guardrail: string }) => x.guardrail)).toEqual([
      'hypothesis-required',
      'do-not-retry',
    ]);
    expect(finishes[1].refused[0]).toMatchObject({
      guardrail: 'do-not-retry',
      earlier: { id: exps[1]!.id, decision: 'reverted' },
    });
    expect(events.filter((e) => e.guardrail === 'do-not-retry')).toHaveLength(2);
    expect(events.filter((e) => e.guardrail === 'hypothesis-required')).toHaveLength(1);
    expect(exps[2]!.meta?.['agent']).toMatchObject({ refused: 2 });
  });

  it('the token cap stops the run mid-conversation (budget); the half-made change is discarded', {
    timeout: 300_000,
  }, async () => {
    server = await startChatServer(explorer(['hgb', 'rf']));
    const dir = await agentProject({
      agent: ['max_tokens: 9000', 'openai:', `  base_url: ${server.url}`, '  model: m'],
    });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('openai'), maxExperiments: 6 });
    expect(s.status).toBe('stopped');
    expect(s.reason).toMatch(/agent token cap is used: 9900 of 9000 tokens/);
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps).toHaveLength(2); // baseline + one proposal; the second stopped at its 2nd turn
    expect(events.filter((e) => e.guardrail === 'budget')).toHaveLength(1);
    expect(server.requests).toHaveLength(9);
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
  });

  it('a cost cap without prices, or no endpoint, is a contract error naming the field', async () => {
    const noPrice = await agentProject({
      agent: ['max_cost_usd: 1', 'openai:', '  base_url: http://127.0.0.1:9/v1', '  model: m'],
    });
    const e1 = await runLoop({
      projectDir: noPrice,
      proposer: proposerFactory('openai'),
      maxExperiments: 2,
    }).catch((e) => e);
    expect(e1).toMatchObject({ file: 'ratchet.yaml', field: 'agent.openai.price' });
    const none = await agentProject({});
    const e2 = await runLoop({
      projectDir: none,
      proposer: proposerFactory('openai'),
      maxExperiments: 2,
    }).catch((e) => e);
    expect(e2).toMatchObject({ file: 'ratchet.yaml', field: 'agent.openai' });
  });
});

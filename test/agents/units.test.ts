import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { composeBrief, contractSummary, readProgram } from '../../src/agents/brief.js';
import { checkHypothesis, checkRateLimit, normalizePatch, valueAt } from '../../src/agents/discipline.js';
import { historyDigest } from '../../src/agents/history.js';
import { readAnswer } from '../../src/agents/runner.js';
import { agentSettings } from '../../src/agents/settings.js';
import {
  capTrip,
  parseReportedUsage,
  UsageLedger,
  usageFromAgentOutput,
  zeroUsage,
} from '../../src/agents/usage.js';
import { AgentSchema } from '../../src/contract/agent.js';
import { initProject } from '../../src/contract/init.js';
import { loadContract, validateContract } from '../../src/contract/load.js';
import { contractFiles, readLock, verifyLock } from '../../src/contract/lock.js';
import { GUARDRAILS } from '../../src/guardrails/registry.js';
import type { ExperimentRecord } from '../../src/journal/store.js';
import { ChatClient } from '../../src/proposers/openai/client.js';
import { surfacePath } from '../../src/proposers/openai/tools.js';
import { makeProject, ROOT, tempDir } from '../helpers/project.js';
import { agentProject } from './helpers.js';

/** Unit tests of what the agents share: rules, usage, answers, brief, contract section, lock. */

describe('discipline rules', () => {
  it('hypothesis-required: empty and too short are refused', () => {
    expect(checkHypothesis('', 12)?.message).toMatch(/no hypothesis/);
    expect(checkHypothesis('   ', 12)?.guardrail).toBe('hypothesis-required');
    expect(checkHypothesis('boost', 12)?.message).toMatch(/too short \(5 characters, at least 12\)/);
    expect(checkHypothesis('use boosted trees for the interactions', 12)).toBeNull();
  });

  it('rate-limit: at most max starts per window, with the wait', () => {
    const now = 1_000_000_000;
    const hour = 3_600_000;
    expect(checkRateLimit(2, hour, [now - 10_000], now)).toBeNull();
    const r = checkRateLimit(2, hour, [now - 10_000, now - 20_000, now - 2 * hour], now)!;
    expect(r.guardrail).toBe('rate-limit');
    expect(r.retryAfterS).toBe(3580);
    expect(checkRateLimit(2, hour, [now - 2 * hour, now - 3 * hour], now)).toBeNull();
  });

  it('do-not-retry compares patches without their index lines', () => {
    const a = 'diff --git a/p b/p\nindex 111..222 100644\n--- a/p\n+++ b/p\n@@ -1 +1 @@\n-x\n+y\n';
    const b = a.replace('111..222', '333..444');
    expect(normalizePatch(a)).toBe(normalizePatch(b));
  });

  it('reads dotted keys of params', () => {
    expect(valueAt({ model: 'lgbm', lightgbm: { lr: 0.1 } }, 'lightgbm.lr')).toBe(0.1);
    expect(valueAt({ model: 'lgbm' }, 'x.y')).toBeUndefined();
  });

  it('the guardrails are registered; discipline ones are overridable, budget is not', () => {
    for (const id of [
      'conclusion-required',
      'do-not-retry',
      'phase-gate',
      'rate-limit',
      'hypothesis-required',
    ])
      expect(GUARDRAILS[id]).toMatchObject({ severity: 'block', overridable: true });
    expect(GUARDRAILS['budget']).toMatchObject({ overridable: false });
  });
});

describe('token and cost accounting', () => {
  it('reads Claude Code and Codex JSON output, and answers', () => {
    const claude = JSON.stringify({
      type: 'result',
      subtype: 'success',
      result: 'done',
      total_cost_usd: 0.0421,
      usage: {
        input_tokens: 12,
        cache_read_input_tokens: 3000,
        cache_creation_input_tokens: 500,
        output_tokens: 800,
      },
    });
    expect(usageFromAgentOutput(claude)).toEqual({
      inputTokens: 3512,
      outputTokens: 800,
      costUsd: 0.0421,
      calls: 1,
    });
    const codex = [
      '{"type":"thread.started"}',
      '{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":200,"output_tokens":50}}',
      'not json',
      '{"type":"turn.completed","usage":{"input_tokens":2000,"output_tokens":70}}',
    ].join('\n');
    expect(usageFromAgentOutput(codex)).toEqual({
      inputTokens: 3000,
      outputTokens: 120,
      costUsd: 0,
      calls: 2,
    });
    expect(usageFromAgentOutput('plain text')).toBeNull();
    expect(parseReportedUsage({ prompt_tokens: 10, completion_tokens: 5 })).toMatchObject({
      inputTokens: 10,
      outputTokens: 5,
    });
    expect(parseReportedUsage({})).toBeNull();
  });

  it('caps: tokens and cost, reached at the cap', () => {
    const u = { inputTokens: 900, outputTokens: 100, costUsd: 0.5, calls: 3 };
    expect(capTrip(u, { maxTokens: 1000 })?.message).toMatch(/token cap is used: 1000 of 1000/);
    expect(capTrip(u, { maxTokens: 1001 })).toBeNull();
    expect(capTrip(u, { maxCostUsd: 0.5 })?.guardrail).toBe('budget');
    expect(capTrip(zeroUsage(), {})).toBeNull();
  });

  it('the ledger persists, adds and raises to cumulative reports', () => {
    const p = join(tempDir(), 'usage.json');
    const l = new UsageLedger(p);
    l.add({ inputTokens: 10, outputTokens: 1, costUsd: 0.01, calls: 1 });
    l.raiseTo({ inputTokens: 100, outputTokens: 0, costUsd: 0, calls: 1 });
    const again = new UsageLedger(p);
    expect(again.usage).toEqual({ inputTokens: 100, outputTokens: 1, costUsd: 0.01, calls: 2 });
  });
});

describe("an agent's answer", () => {
  it('answer.json, or plain files; bad JSON and symlinks are not trusted', () => {
    const d = tempDir();
    writeFileSync(join(d, 'answer.json'), JSON.stringify({ hypothesis: ' h1 ', usage: { input_tokens: 5 } }));
    expect(readAnswer(d)).toMatchObject({ hypothesis: 'h1', usage: { inputTokens: 5 }, problems: [] });
    const e = tempDir();
    writeFileSync(join(e, 'answer.json'), '{bad');
    writeFileSync(join(e, 'hypothesis.md'), 'from the file\n');
    writeFileSync(join(e, 'secret'), 'vault content');
    symlinkSync(join(e, 'secret'), join(e, 'conclusion.md'));
    const a = readAnswer(e);
    expect(a.hypothesis).toBe('from the file');
    expect(a.conclusion).toBeUndefined();
    expect(a.problems[0]).toMatch(/answer.json is not valid JSON/);
  });
});

describe('surface-restricted file tools', () => {
  it('refuses traversal, absolute paths, .git, locked files and symlinks', () => {
    const wt = tempDir();
    mkdirSync(join(wt, 'src'));
    writeFileSync(join(wt, 'params.yaml'), 'x');
    symlinkSync('/etc', join(wt, 'src', 'etc'));
    const scope = {
      worktree: wt,
      projectDir: wt,
      surface: ['params.yaml', 'src/**/*.py', 'ratchet.yaml'],
      locked: new Set(['ratchet.yaml']),
    };
    expect(surfacePath(scope, 'params.yaml', true)).toEqual({
      path: join(wt, 'params.yaml'),
      rel: 'params.yaml',
    });
    expect(surfacePath(scope, './params.yaml', false)).toMatchObject({ rel: 'params.yaml' });
    expect(surfacePath(scope, 'src/../../x.py', true)).toHaveProperty('error');
    expect(surfacePath(scope, '/etc/passwd', false)).toHaveProperty('error');
    expect(surfacePath(scope, 'ratchet.yaml', true)).toEqual({
      error: 'ratchet.yaml is locked with the contract: it never changes',
      guardrail: 'contract-integrity',
    });
    expect((surfacePath(scope, 'src/etc/x.py', true) as { error: string }).error).toMatch(
      /symbolic links are not followed/,
    );
    expect((surfacePath(scope, 'train.py', false) as { error: string }).error).toMatch(/outside the surface/);
  });
});

describe('the contract’s agent section', () => {
  it('defaults, validation errors naming the field, phase files in the surface', async () => {
    const dir = await makeProject({ noInit: true, rows: 200 });
    const base = parseYaml(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')) as Record<string, unknown>;
    const s = agentSettings(loadContract(dir));
    expect(s).toMatchObject({ program: 'program.md', network: false, attempts: 2, timeoutMs: 1_200_000 });
    expect(s.discipline).toMatchObject({ require_conclusion: true, do_not_retry: true, phases: [] });
    const bad = (agent: unknown) => () => validateContract({ ...structuredClone(base), agent }, dir);
    expect(bad({ comand: 'x' })).toThrow(/Unrecognized key/);
    expect(bad({ openai: { base_url: 'not a url', model: 'm' } })).toThrow(
      expect.objectContaining({ field: 'agent.openai.base_url', file: 'ratchet.yaml' }),
    );
    const c = validateContract(
      {
        ...structuredClone(base),
        agent: { discipline: { phases: [{ name: 'p', file: 'other.yaml', key: 'model', distinct: 2 }] } },
      },
      dir,
    );
    expect(() => agentSettings(c)).toThrow(/phase "p" reads other.yaml, which is not in the surface/);
    const t = validateContract({ ...structuredClone(base), agent: { timeout: 'soon' } }, dir);
    try {
      agentSettings(t);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ field: 'agent.timeout', file: 'ratchet.yaml' });
    }
  });

  it('the directions file is locked with the contract when there is an agent section', async () => {
    const dir = await makeProject({ noInit: true, rows: 200 });
    const text = readFileSync(join(dir, 'ratchet.yaml'), 'utf8').replace(
      'frozen: [search_space.yaml, program.md]',
      'frozen: [search_space.yaml]',
    );
    writeFileSync(join(dir, 'ratchet.yaml'), text);
    expect(contractFiles(loadContract(dir))).not.toContain('program.md');
    writeFileSync(join(dir, 'ratchet.yaml'), `${text}agent:\n  program: program.md\n`);
    expect(contractFiles(loadContract(dir))).toContain('program.md');
  });
});

describe('the shipped snippets', () => {
  it('the agent section of examples/mcp/agent-contract.yaml validates; the MCP configs parse', () => {
    const ex = join(ROOT, 'examples', 'mcp');
    const doc = parseYaml(readFileSync(join(ex, 'agent-contract.yaml'), 'utf8')) as { agent: unknown };
    const a = AgentSchema.parse(doc.agent);
    expect(a.command).toMatch(/^claude -p "\$\(cat "\$RATCHET_BRIEF"\)"/);
    expect(a).toMatchObject({ network: true, env: ['ANTHROPIC_API_KEY'], max_tokens: 5_000_000 });
    const mcp = JSON.parse(readFileSync(join(ex, '.mcp.json'), 'utf8'));
    expect(mcp.mcpServers.ratchet).toEqual({
      type: 'stdio',
      command: 'ratchet',
      args: ['mcp', '--dir', '.'],
    });
    expect(readFileSync(join(ex, 'config.toml'), 'utf8')).toMatch(
      /\[mcp_servers\.ratchet\]\ncommand = "ratchet"\nargs = \["mcp", "--dir", "\."\]/,
    );
    const skill = readFileSync(join(ROOT, 'skills', 'ratchet', 'SKILL.md'), 'utf8');
    expect(skill).toMatch(/^---\nname: ratchet\ndescription: .+\n---\n/);
  });
});

describe('the directions file', () => {
  it('is frozen during a run and editable between runs (re-lock with ratchet init)', async () => {
    const dir = await agentProject({});
    await verifyLock(readLock(dir), dir, dir);
    writeFileSync(join(dir, 'program.md'), '# Directions\nNow try feature engineering.\n');
    await expect(verifyLock(readLock(dir), dir, dir)).rejects.toThrow(/program\.md \(changed\)/);
    await initProject(dir);
    await verifyLock(readLock(dir), dir, dir);
    expect(readProgram(dir, 'program.md')).toContain('feature engineering');
  });
});

describe('the brief', () => {
  it('has the directions, the contract, the history, the rules, and how to answer', async () => {
    const dir = await makeProject({ noInit: true, rows: 200 });
    const contract = loadContract(dir);
    const settings = agentSettings(contract);
    const rec = (id: number, decision: string, conclusion: string | null) =>
      ({
        id,
        runId: 'r',
        seq: id,
        decision,
        score: 0.7,
        delta: 0.01,
        hypothesis: `h${id}`,
        conclusion,
        reason: 'r',
        files: ['params.yaml'],
        proposer: 'command',
      }) as unknown as ExperimentRecord;
    const digest = historyDigest(
      [rec(1, 'kept', null), rec(2, 'reverted', 'it did not help')],
      [rec(9, 'kept', null)],
      {
        limit: 1,
        metric: 'auroc',
        direction: 'maximize',
      },
    );
    expect(digest.markdown).toMatch(/## Recent experiments \(1 of 2/);
    expect(digest.markdown).toMatch(/conclusion: it did not help/);
    expect(digest.markdown).toMatch(/## Already tried[\s\S]*#1 kept[\s\S]*#9 kept/);
    const input = {
      mode: 'propose' as const,
      answer: 'files' as const,
      contract,
      settings,
      program: 'Try trees first.',
      digest,
      summary: contractSummary(contract, settings, { experiments: 7, wallClockMs: 60_000 }, zeroUsage()),
      feedback: [
        {
          guardrail: 'do-not-retry',
          message: 'same as #2',
          earlier: {
            id: 2,
            run: 'r',
            seq: 2,
            decision: 'reverted',
            score: 0.7,
            delta: 0,
            hypothesis: 'h2',
            conclusion: 'no',
            reason: 'r',
          },
        },
      ],
      pendingConclusion: digest.entries[1]!,
      phase: null,
    };
    const text = composeBrief(input);
    for (const s of [
      'Try trees first.',
      'surface (what you may edit): params.yaml, train.py',
      '7 of 30 experiments left',
      'Your previous attempt was refused',
      'earlier result: #2 reverted',
      'Conclude the last experiment first',
      '"previous_conclusion"',
      '/output/answer.json',
    ])
      expect(text).toContain(s);
    const tools = composeBrief({ ...input, answer: 'tools' });
    expect(tools).toContain('call `finish` with your hypothesis');
    expect(tools).toContain('`conclude_previous`');
    // A bandit task's brief asks for a policy, not `<id>,prediction`.
    expect(text).toContain('header `<id>,prediction`');
    const bandit = composeBrief({ ...input, summary: { ...input.summary, task: 'bandit' } });
    expect(bandit).toContain('one `proba_<action>` column per action, each row summing to 1');
    expect(bandit).not.toContain('header `<id>,prediction`');
  });
});

describe('the chat client', () => {
  it('normalizes tool calls of local servers, retries 5xx, and names the key variable on 401', async () => {
    let n = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        n++;
        if (n === 1) return void res.writeHead(503).end('busy');
        if (n === 3) return void res.writeHead(401).end('{"error":"bad key"}');
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            choices: [
              {
                message: {
                  role: 'assistant',
                  content: null,
                  tool_calls: [{ function: { name: 'finish', arguments: { hypothesis: 'h' } } }],
                },
              },
            ],
            usage: { prompt_tokens: 2_000_000, completion_tokens: 100_000 },
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    try {
      const client = new ChatClient(
        {
          base_url: url,
          model: 'm',
          api_key_env: 'MY_KEY',
          max_turns: 10,
          request_timeout: '5s',
          price: { input_per_mtok: 1, output_per_mtok: 10 },
        },
        5000,
        'k',
      );
      const c = await client.complete(
        [{ role: 'user', content: 'hi' }],
        undefined,
        new AbortController().signal,
      );
      expect(n).toBe(2);
      expect(c.message.tool_calls![0]).toMatchObject({
        type: 'function',
        function: { name: 'finish', arguments: '{"hypothesis":"h"}' },
      });
      expect(c.message.tool_calls![0]!.id).toMatch(/^call_/);
      expect(c.usage).toEqual({ inputTokens: 2_000_000, outputTokens: 100_000, costUsd: 3, calls: 1 });
      await expect(
        client.complete([{ role: 'user', content: 'hi' }], undefined, new AbortController().signal),
      ).rejects.toThrow(/answered 401 .*check the key in \$MY_KEY/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

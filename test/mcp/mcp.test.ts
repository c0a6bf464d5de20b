import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { agentProject, PARAMS } from '../agents/helpers.js';
import { CLI, cli, gitOut } from '../helpers/project.js';

/**
 * `ratchet mcp` driven by a real MCP client from the SDK over stdio (the compiled CLI, as Claude Code would
 * start it), on a project made from the bundled example. Every discipline rule is shown refusing.
 */

// biome-ignore lint/suspicious/noExplicitAny: structured tool output, checked field by field
type Out = any;

interface Conn {
  client: Client;
  stderr: () => string;
  /** Every tool answer, as JSON text (to check that no private score ever appears). */
  seen: string[];
  call(
    name: string,
    args?: Record<string, unknown>,
    progress?: unknown[],
  ): Promise<{ out: Out; isError: boolean; text: string }>;
  close(): Promise<void>;
}

const open: Conn[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close().catch(() => undefined);
});

async function connect(dir: string, extra: string[] = []): Promise<Conn> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--dir', dir, '--progress', '300ms', ...extra],
    env: { ...(process.env as Record<string, string>), NO_COLOR: '1' },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d) => (err += d));
  const client = new Client({ name: 'ratchet-test', version: '1.0.0' });
  await client.connect(transport);
  const seen: string[] = [];
  const conn: Conn = {
    client,
    stderr: () => err,
    seen,
    async call(name, args = {}, progress) {
      const r = await client.callTool({ name, arguments: args }, undefined, {
        timeout: 300_000,
        resetTimeoutOnProgress: true,
        ...(progress ? { onprogress: (p: unknown) => progress.push(p) } : {}),
      });
      const text = (r.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
      seen.push(text, JSON.stringify(r.structuredContent ?? null));
      return { out: r.structuredContent, isError: Boolean(r.isError), text };
    },
    close: () => client.close(),
  };
  open.push(conn);
  return conn;
}

const guardrails = (out: Out): string[] => out.refusals.map((r: { guardrail: string }) => r.guardrail);
const H = (s: string) => `${s}: this should change how well the model ranks people out of work`;

describe('ratchet mcp: an outside agent drives experiments, the server enforces the discipline', () => {
  it('contract, status, open, experiments, conclusions, traces, submit; each rule refuses', {
    timeout: 400_000,
  }, async () => {
    const dir = await agentProject({
      agent: [
        'max_tokens: 100000',
        'discipline:',
        '  rate_limit: { max: 2, per: 1h }',
        '  phases: [{ name: explore-families, file: params.yaml, key: model, distinct: 2 }]',
      ],
    });
    const c = await connect(dir);
    const tools = (await c.client.listTools()).tools;
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        'close_run',
        'get_contract',
        'get_experiment',
        'get_history',
        'get_status',
        'log_conclusion',
        'open_run',
        'query_journal',
        'search_traces',
        'start_experiment',
        'submit_direction',
      ].sort(),
    );
    expect(tools.every((t) => t.outputSchema && t.inputSchema)).toBe(true);

    const contract = (await c.call('get_contract')).out;
    expect(contract.directions).toContain('Prefer tree ensembles');
    expect(contract.surface).toEqual(['params.yaml', 'train.py']);
    expect(contract.metric).toMatchObject({ primary: 'auroc', direction: 'maximize' });
    expect(contract.rules.join('\n')).toMatch(/phase-gate "explore-families"[\s\S]*rate-limit: at most 2/);
    expect((await c.call('get_status')).out).toMatchObject({ run: null, worktree: null });

    // hypothesis-required, before anything is opened.
    let r = await c.call('start_experiment', { hypothesis: '' });
    expect(r.out).toMatchObject({ accepted: false, opened: false });
    expect(guardrails(r.out)).toEqual(['hypothesis-required']);
    expect((await c.call('get_status')).out.run).toBeNull();

    // open_run: a worktree and a measured baseline, with progress notifications.
    const progress: unknown[] = [];
    const opened = (await c.call('open_run', {}, progress)).out;
    expect(opened.opened).toBe(true);
    expect(opened.baseline).toMatchObject({ seq: 1, decision: 'kept', proposer: 'baseline' });
    expect(existsSync(join(opened.worktree, 'params.yaml'))).toBe(true);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    const wt = opened.worktree as string;
    const params = join(wt, 'params.yaml');
    const status = (await c.call('get_status')).out;
    expect(status.worktree).toBe(wt);
    expect(status.phase).toMatchObject({
      name: 'explore-families',
      tried: ['logistic_regression'],
      remaining: 1,
    });

    // no-op: nothing changed yet.
    r = await c.call('start_experiment', { hypothesis: H('nothing') });
    expect(guardrails(r.out)).toEqual(['no-op']);

    // phase-gate: tuning C before a second model family has run.
    writeFileSync(params, readFileSync(params, 'utf8').replace('C: 1.0', 'C: 0.3'));
    r = await c.call('start_experiment', { hypothesis: H('a smaller C') });
    expect(guardrails(r.out)).toEqual(['phase-gate']);
    expect(r.out.refusals[0].message).toMatch(/keeps model = logistic_regression/);

    // hypothesis-required: too short. Then accepted, with progress while it runs.
    writeFileSync(params, PARAMS.hgb);
    r = await c.call('start_experiment', { hypothesis: 'boost' });
    expect(guardrails(r.out)).toEqual(['hypothesis-required']);
    const running: { message?: string }[] = [];
    r = await c.call(
      'start_experiment',
      { hypothesis: H('gradient boosting'), usage: { input_tokens: 5000, output_tokens: 500 } },
      running,
    );
    expect(r.out.accepted).toBe(true);
    const hgb = r.out.experiment;
    expect(hgb).toMatchObject({ seq: 2, proposer: 'mcp', files: ['params.yaml'] });
    expect(['kept', 'reverted']).toContain(hgb.decision);
    expect(r.out.next).toMatch(new RegExp(`log_conclusion\\(\\{experiment_id: ${hgb.id}`));
    expect(running.some((p) => /experiment #\d+ started/.test(p.message ?? ''))).toBe(true);

    // conclusion-required: the next change waits for the conclusion of the last one.
    writeFileSync(params, PARAMS.rf);
    r = await c.call('start_experiment', { hypothesis: H('a random forest') });
    expect(guardrails(r.out)).toEqual(['conclusion-required']);
    let l = await c.call('log_conclusion', { conclusion: 'meh' });
    expect(l.isError).toBe(true);
    expect(l.text).toMatch(/too short/);
    l = await c.call('log_conclusion', {
      conclusion: 'boosting moved the score; the family matters more than C',
    });
    expect(l.out).toMatchObject({ recorded: true, experiment_id: hgb.id, pending_conclusion: null });

    // A change that changes nothing the model sees: it runs, and is reverted.
    const head = gitOut(wt, ['show', 'HEAD:params.yaml']); // the last kept commit's params
    writeFileSync(params, `${head}# noted by the agent\n`);
    r = await c.call('start_experiment', { hypothesis: H('the same params with a note') });
    expect(r.out.accepted).toBe(true);
    const note = r.out.experiment;
    expect(note.decision).toBe('reverted');
    await c.call('log_conclusion', {
      experiment_id: note.id,
      conclusion: 'a comment changes nothing the model sees',
    });

    // do-not-retry (with the earlier result) and rate-limit (2 per hour) refuse the same change again.
    writeFileSync(params, `${head}# noted by the agent\n`);
    r = await c.call('start_experiment', { hypothesis: H('the same note once more') });
    expect(guardrails(r.out).sort()).toEqual(['do-not-retry', 'rate-limit']);
    const retry = r.out.refusals.find((x: { guardrail: string }) => x.guardrail === 'do-not-retry');
    expect(retry.earlier).toMatchObject({
      id: note.id,
      decision: 'reverted',
      conclusion: 'a comment changes nothing the model sees',
    });
    const rate = r.out.refusals.find((x: { guardrail: string }) => x.guardrail === 'rate-limit');
    expect(rate.retry_after_s).toBeGreaterThan(3000);

    // budget: the agent's reported usage is over the contract's token cap.
    writeFileSync(params, PARAMS.et);
    r = await c.call('start_experiment', { hypothesis: H('extra trees'), usage: { input_tokens: 150000 } });
    expect(guardrails(r.out)).toContain('budget');
    expect(r.out.refusals.find((x: { guardrail: string }) => x.guardrail === 'budget').message).toMatch(
      /token cap is used: 150500 of 100000/,
    );

    // Traces: grep (capped) and read-only SQL.
    let t = await c.call('search_traces', { pattern: 'hist_gradient_boosting', file: 'patch.diff' });
    expect(t.out.matches.map((m: { experiment: number }) => m.experiment)).toContain(hgb.id);
    t = await c.call('search_traces', { pattern: '.', max_lines: 5 });
    expect(t.out).toMatchObject({ capped: true });
    expect(t.out.matches).toHaveLength(5);
    expect(t.out.note).toMatch(/^showing 5 of \d+ matching lines \(capped at 5 lines\)/);
    const q = await c.call('query_journal', { sql: 'DELETE FROM experiments' });
    expect(q.isError).toBe(true);
    expect(q.text).toMatch(/only SELECT queries are allowed/);
    const g = await c.call('query_journal', {
      sql: "SELECT DISTINCT guardrail FROM events WHERE kind = 'guardrail' ORDER BY guardrail",
    });
    expect(g.out.rows.flat()).toEqual([
      'budget',
      'conclusion-required',
      'do-not-retry',
      'hypothesis-required',
      'no-op',
      'phase-gate',
      'rate-limit',
    ]);

    // History and detail.
    const h = (await c.call('get_history')).out;
    expect(h.experiments.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
    expect(h.experiments[1].conclusion).toBe('boosting moved the score; the family matters more than C');
    const d = (await c.call('get_experiment', { id: hgb.id })).out;
    expect(d.patch).toContain('+model: hist_gradient_boosting');
    expect(d.stdout_tail).toContain('[train]');
    expect((await c.call('get_experiment', { id: 9999 })).text).toMatch(/no experiment 9999/);

    // submit_direction: the private score is recorded, never returned.
    const sub = (await c.call('submit_direction', { rationale: 'boosting beat the linear baseline' })).out;
    expect(sub).toMatchObject({ recorded: true, fresh: true, run: opened.run });
    expect(Object.keys(sub).join(' ')).not.toMatch(/private/);
    const st = (await c.call('get_status')).out;
    expect(st.run).toBeNull();
    expect(st.last_run).toMatchObject({ id: opened.run, status: 'finished' });
    await c.call('get_history', { run_id: opened.run });
    await c.call('get_experiment', { id: sub.experiment_id });
    await c.call('query_journal', { sql: 'SELECT * FROM events' });
    await c.call('query_journal', { sql: 'SELECT * FROM experiments' });
    const j = Journal.open(dir, { readonly: true });
    const [submission] = j.listSubmissions(opened.run);
    const events = j.listEvents({ runId: opened.run });
    j.close();
    const p = submission!.private;
    expect(events.some((e) => e.kind === 'submission' && e.message.includes(p.toFixed(6)))).toBe(true);
    const everything = c.seen.join('\n');
    expect(everything).not.toContain(String(p));
    expect(everything).not.toContain(p.toFixed(6));
    expect((await c.call('search_traces', { pattern: p.toFixed(6), fixed: true })).out.total).toBe(0);
    expect(c.stderr()).toMatch(/ratchet mcp: serving/);

    await c.close();
    const until = Date.now() + 10_000;
    while (existsSync(join(dir, '.ratchet', 'run.json')) && Date.now() < until)
      await new Promise((res) => setTimeout(res, 100));
    expect(existsSync(join(dir, '.ratchet', 'run.json'))).toBe(false);
  });

  it('the experiment budget ends the run (budget), and ratchet stop is the kill switch', {
    timeout: 300_000,
  }, async () => {
    const dir = await agentProject({});
    const c = await connect(dir, ['--experiments', '2']);
    const opened = (await c.call('open_run')).out;
    const params = join(opened.worktree, 'params.yaml');
    writeFileSync(params, PARAMS.hgb);
    let r = await c.call('start_experiment', { hypothesis: H('gradient boosting') });
    expect(r.out.accepted).toBe(true);
    await c.call('log_conclusion', { conclusion: 'boosting is a strong family on this panel' });
    writeFileSync(params, PARAMS.rf);
    r = await c.call('start_experiment', { hypothesis: H('a random forest') });
    expect(guardrails(r.out)).toEqual(['budget']);
    expect(r.out.refusals[0].message).toMatch(/experiment budget used \(2\)/);
    expect((await c.call('get_status')).out.last_run).toMatchObject({ id: opened.run, status: 'finished' });

    // A new run (a new direction); the person pulls the kill switch.
    const second = (await c.call('open_run')).out;
    expect(second.run).not.toBe(opened.run);
    const stop = cli(['stop', '--dir', dir, '--json'], dir);
    expect(JSON.parse(stop.stdout), `${stop.stderr}\n${c.stderr()}`).toMatchObject({
      stopped: true,
      run: second.run,
    });
    const status = () => {
      const j = Journal.open(dir, { readonly: true });
      try {
        return j.getRun(second.run)?.status;
      } finally {
        j.close();
      }
    };
    const until = Date.now() + 10_000;
    while (status() !== 'stopped' && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
    expect(status()).toBe('stopped');
    expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
  });
});

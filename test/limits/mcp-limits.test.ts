import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { agentProject, PARAMS } from '../agents/helpers.js';
import { CLI, cli } from '../helpers/project.js';

/**
 * Limits belong to the project, not to a run: an outside agent drives `ratchet mcp` (the compiled CLI, over
 * stdio, with the SDK's client) and tries to shed its token cap, its pending conclusion, its rate limit and an
 * escalation by closing the run and opening another.
 */

// biome-ignore lint/suspicious/noExplicitAny: structured tool output, checked field by field
type Out = any;

interface Conn {
  call(name: string, args?: Record<string, unknown>): Promise<{ out: Out; isError: boolean; text: string }>;
  close(): Promise<void>;
  stderr(): string;
}

const open: Conn[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close().catch(() => undefined);
});

async function connect(dir: string): Promise<Conn> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--dir', dir],
    env: { ...(process.env as Record<string, string>), NO_COLOR: '1' },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d) => (err += d));
  const client = new Client({ name: 'ratchet-limits-test', version: '1.0.0' });
  await client.connect(transport);
  const conn: Conn = {
    async call(name, args = {}) {
      const r = await client.callTool({ name, arguments: args }, undefined, {
        timeout: 300_000,
        resetTimeoutOnProgress: true,
      });
      const text = (r.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
      return { out: r.structuredContent, isError: Boolean(r.isError), text };
    },
    close: () => client.close(),
    stderr: () => err,
  };
  open.push(conn);
  return conn;
}

const guardrails = (out: Out): string[] => out.refusals.map((r: { guardrail: string }) => r.guardrail).sort();
const H = (s: string) => `${s}: this should change how well the model ranks people out of work`;

function events(dir: string, kind: string) {
  const j = Journal.open(dir, { readonly: true });
  try {
    return j.listEvents({ kinds: [kind] });
  } finally {
    j.close();
  }
}

describe('limits belong to the project: close_run + open_run resets nothing', () => {
  it('the token cap, the pending conclusion and the rate-limit window survive a new run; only a person resets the budget', {
    timeout: 400_000,
  }, async () => {
    const dir = await agentProject({
      agent: ['max_tokens: 100000', 'discipline:', '  rate_limit: { max: 1, per: 1h }'],
    });
    const c = await connect(dir);
    const first = (await c.call('open_run')).out;
    writeFileSync(join(first.worktree, 'params.yaml'), PARAMS.hgb);
    let r = await c.call('start_experiment', {
      hypothesis: H('gradient boosting'),
      usage: { input_tokens: 5000, output_tokens: 500 },
    });
    expect(r.out.accepted, r.text).toBe(true);
    const ran = r.out.experiment.id as number;
    // the agent hits its token cap
    writeFileSync(join(first.worktree, 'params.yaml'), PARAMS.rf);
    r = await c.call('start_experiment', {
      hypothesis: H('a random forest'),
      usage: { input_tokens: 150000 },
    });
    expect(guardrails(r.out)).toContain('budget');

    // the attack: close the run, open another, try again
    expect((await c.call('close_run', { reason: 'a fresh start' })).isError).toBe(false);
    const second = (await c.call('open_run')).out;
    expect(second.run).not.toBe(first.run);
    writeFileSync(join(second.worktree, 'params.yaml'), PARAMS.rf);
    r = await c.call('start_experiment', { hypothesis: H('a random forest in the new run') });
    expect(r.out.accepted).toBe(false);
    expect(guardrails(r.out)).toEqual(['budget', 'conclusion-required', 'rate-limit']);
    const msg = (g: string) => r.out.refusals.find((x: { guardrail: string }) => x.guardrail === g).message;
    expect(msg('budget')).toMatch(/token cap is used: 150500 of 100000/);
    expect(msg('conclusion-required')).toMatch(new RegExp(`experiment #${ran} `));
    const st = (await c.call('get_status')).out;
    expect(st.usage).toMatchObject({ tokens: 150500, max_tokens: 100000 });
    expect(st.pending_conclusion).toMatchObject({ id: ran });

    // a third run, after the server restarted: still the same
    await c.close();
    const c2 = await connect(dir);
    expect((await c2.call('get_status')).out).toMatchObject({
      run: null,
      pending_conclusion: { id: ran },
      usage: { tokens: 150500 },
    });
    // the conclusion of the earlier run's experiment can be given between runs
    const l = await c2.call('log_conclusion', {
      conclusion: 'boosting moved the score; the family matters most',
    });
    expect(l.out, l.text).toMatchObject({ recorded: true, experiment_id: ran, pending_conclusion: null });
    const third = (await c2.call('open_run')).out;
    writeFileSync(join(third.worktree, 'params.yaml'), PARAMS.rf);
    r = await c2.call('start_experiment', { hypothesis: H('a random forest in the third run') });
    expect(guardrails(r.out)).toEqual(['budget', 'rate-limit']);

    // only a person opens a new budget period, journaled with the note
    const reset = cli(
      ['budget', 'reset', '--dir', dir, '--note', 'approved another 100k tokens', '--json'],
      dir,
    );
    expect(reset.code, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout)).toMatchObject({ period: 2, ended: { tokens: 150500 } });
    r = await c2.call('start_experiment', { hypothesis: H('a random forest in the third run') });
    expect(guardrails(r.out)).toEqual(['rate-limit']);
    expect(events(dir, 'agent.budget.reset').map((e) => e.data?.['note'])).toEqual([
      'approved another 100k tokens',
    ]);
  });

  it('an escalated project refuses every new run, experiment and submit until `ratchet clear --note`', {
    timeout: 400_000,
  }, async () => {
    const dir = await agentProject({});
    const c = await connect(dir);
    const first = (await c.call('open_run')).out;
    // three write-surface trips in a row: the run escalates ("needs a person")
    for (const n of [1, 2, 3]) {
      writeFileSync(join(first.worktree, 'notes.txt'), `note ${n}\n`);
      const r = await c.call('start_experiment', { hypothesis: H(`a note outside the surface (${n})`) });
      expect(r.out.experiment?.decision, r.text).toBe('rejected');
    }
    let r = await c.call('start_experiment', { hypothesis: H('one more note') });
    expect(r.out.refusals[0].message).toMatch(/3 guardrail trips in a row: needs a person/);
    expect((await c.call('get_status')).out.last_run).toMatchObject({ id: first.run, status: 'escalated' });

    // the attack: open a new run and go on, then submit
    r = await c.call('start_experiment', { hypothesis: H('a fresh run, a fresh start') });
    expect(r.out).toMatchObject({ accepted: false, opened: false });
    expect(guardrails(r.out)).toEqual(['escalated']);
    expect(r.out.refusals[0].message).toMatch(/^escalated: a person must clear it \(ratchet clear --note/);
    const o = await c.call('open_run');
    expect(o.isError).toBe(true);
    expect(o.text).toMatch(/escalated: a person must clear it \(ratchet clear/);
    const s = await c.call('submit_direction', { rationale: 'the baseline is good enough' });
    expect(s.isError).toBe(true);
    expect(s.text).toMatch(/submit_direction refused: escalated/);
    // every other proposer and the CLI are refused too
    const run = cli(['run', '--dir', dir, '--experiments', '2'], dir);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/escalated: a person must clear it/);
    const sub = cli(['submit', '--dir', dir], dir);
    expect(sub.code).toBe(3);
    expect(sub.stderr).toMatch(/submit refused: escalated/);
    const j = Journal.open(dir, { readonly: true });
    expect(j.listRuns()).toHaveLength(1);
    expect(j.listSubmissions()).toHaveLength(0);
    j.close();
    const status = cli(['status', '--dir', dir], dir);
    expect(status.stdout).toMatch(/ESCALATED .*3 guardrail trips in a row[\s\S]*ratchet clear --note/);

    // a person clears it, with a note; then work goes on
    expect(cli(['clear', '--dir', dir, '--note', ' '], dir).stderr).toMatch(/needs a note/);
    const cleared = cli(
      ['clear', '--dir', dir, '--note', 'the notes were a test of the surface', '--json'],
      dir,
    );
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ cleared: true, escalation: { run: first.run } });
    expect(events(dir, 'escalation.cleared').map((e) => e.data?.['note'])).toEqual([
      'the notes were a test of the surface',
    ]);
    expect(JSON.parse(cli(['status', '--dir', dir, '--json'], dir).stdout).project_escalation).toBeNull();
    r = await c.call('start_experiment', { hypothesis: H('a fresh run after the review') });
    expect(r.out, r.text).toMatchObject({ opened: true, refusals: [] });
  });
});

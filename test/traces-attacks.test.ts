import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../src/journal/store.js';
import { agentProject, type SeenRequest, type StandInServer, startChatServer } from './agents/helpers.js';
import { type CliResult, cliAsync, tempDir } from './helpers/project.js';

/**
 * Finding 6 through the CLI and the openai proposer: a runaway trace query ends at its time limit with a clear
 * error, and `ratchet stop` stops a run whose model is waiting on one.
 */

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c';

/** Pids of processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const state = /State:\s+(\S)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      if (cmd.includes(needle) && state !== 'Z') pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Parent pid of a process (0 when gone). */
function ppid(pid: number): number {
  try {
    return Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Run the CLI in the background; kill it after `ms` (a hung CLI fails the test instead of hanging it). */
async function cliWithin(args: string[], cwd: string, ms: number): Promise<CliResult & { ms: number }> {
  const t0 = performance.now();
  const { child, done } = cliAsync(args, cwd);
  const killer = setTimeout(() => child.kill('SIGKILL'), ms);
  const r = await done;
  clearTimeout(killer);
  return { ...r, ms: performance.now() - t0 };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('ratchet traces sql|grep: runaway queries end at their limit', () => {
  it('a runaway recursive CTE exits non-zero with a clear error within its limit, leaving no process', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir('ratchet-traces-cli-');
    Journal.open(dir).close();
    const r = await cliWithin(['traces', 'sql', RUNAWAY, '--dir', dir, '--time-limit', '2s'], dir, 60_000);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.code).not.toBeNull(); // not killed by the test's guard
    expect(r.stderr).toMatch(/^ratchet: the query ran over 2 s and was stopped; simplify it\n\s+fix: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // The limit plus the CLI's own start on a busy machine.
    expect(r.ms).toBeLessThan(2000 + 10_000);
    expect(processesWith('dist/src/traces/child.js').filter((p) => ppid(p) === 1)).toEqual([]);

    const bad = await cliWithin(['traces', 'sql', 'SELECT zeroblob(1e9)', '--dir', dir], dir, 60_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ratchet: sql: the query built a value over the size limit/);
    expect(bad.stderr).not.toMatch(/SqliteError|\n\s+at /);
    const over = await cliWithin(
      ['traces', 'sql', 'SELECT 1', '--dir', dir, '--time-limit', '5m'],
      dir,
      60_000,
    );
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/--time-limit must be above 0 and at most 30s/);
  });

  it('grep runs RE2: (a+)+$ over a 41-character line answers at once; -i, -C and caps still work', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir('ratchet-traces-cli-');
    Journal.open(dir).close(); // a project's journal: the traces commands refuse a folder that is not a project
    const d = join(dir, '.ratchet', 'runs', '0007');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'stderr.log'), `before\n${'a'.repeat(40)}!\nValueError: Bad C\nafter\n`);
    const evil = await cliWithin(['traces', 'grep', '(a+)+$', '--dir', dir, '--json'], dir, 60_000);
    expect(evil.code, evil.stderr).toBe(0);
    expect(JSON.parse(evil.stdout)).toMatchObject({ total: 0, files_searched: 1 });
    const ci = await cliWithin(
      ['traces', 'grep', 'valueerror: bad', '-i', '-C', '1', '--dir', dir],
      dir,
      60_000,
    );
    expect(ci.code, ci.stderr).toBe(0);
    expect(ci.stdout).toBe(
      `#7/stderr.log-2- ${'a'.repeat(40)}!\n#7/stderr.log:3: ValueError: Bad C\n#7/stderr.log-4- after\n1 matching line in 1 file\n`,
    );
    const capped = await cliWithin(['traces', 'grep', '.', '--max-lines', '1', '--dir', dir], dir, 60_000);
    expect(capped.stdout).toMatch(/showing 1 of 4 matching lines \(capped at 1 lines\)/);
    const refused = await cliWithin(['traces', 'grep', '(?=a)', '--dir', dir], dir, 60_000);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^ratchet: pattern: not a valid regular expression: .*\(\?=/);
  });
});

let server: StandInServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe('openai proposer: ratchet stop while the model waits on a runaway query', () => {
  it('the run stops within a few seconds and the query process is killed', { timeout: 400_000 }, async () => {
    const offered = (req: SeenRequest) => (req.body.tools ?? []).length > 0;
    server = await startChatServer((req) =>
      offered(req)
        ? { toolCalls: [{ name: 'query_journal', args: { sql: RUNAWAY, time_limit_s: 30 } }] }
        : { content: 'nothing learned' },
    );
    process.env['RATCHET_TEST_OPENAI_KEY'] = 'sk-test-123';
    const dir = await agentProject({
      agent: [
        'openai:',
        `  base_url: ${server.url}`,
        '  model: stand-in-coder',
        '  api_key_env: RATCHET_TEST_OPENAI_KEY',
      ],
    });
    const run = cliAsync(['run', '--proposer', 'openai', '--experiments', '3', '--run', 'q'], dir);
    try {
      // The model asked for the runaway query (30 s limit): give it time to start.
      expect(await waitFor(() => server!.requests.length > 0, 300_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      const query = processesWith('dist/src/traces/child.js').filter((p) => ppid(p) === run.child.pid);
      // Still waiting on it: the query's answer would have brought the model's next request.
      expect(server.requests).toHaveLength(1);
      const stop = await cliWithin(['stop', '--json', '--dir', dir], dir, 60_000);
      expect(stop.code, stop.stdout + stop.stderr).toBe(0);
      const answer = JSON.parse(stop.stdout);
      expect(answer).toMatchObject({ stopped: true, run: 'q' });
      expect(answer.seconds).toBeLessThan(5);
      const r = await run.done;
      expect(r.stdout + r.stderr).toMatch(/run q stopped/);
      const j = Journal.open(dir, { readonly: true });
      const rec = j.getRun('q')!;
      const exps = j.listExperiments('q');
      j.close();
      expect(rec.status).toBe('stopped');
      expect(exps.map((e) => e.proposer)).toEqual(['baseline']);
      expect(query).toHaveLength(1); // it ran in the query process...
      expect(processesWith('dist/src/traces/child.js')).not.toContain(query[0]); // ...which is gone
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});

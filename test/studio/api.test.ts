import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { isLoopback, type StudioServer, startStudio } from '../../src/studio/server.js';
import { submit } from '../../src/tiers/submit.js';
import { CLI, cli, makeProject } from '../helpers/project.js';

let dir: string;
let local: StudioServer;
let remote: StudioServer;

beforeAll(async () => {
  dir = await makeProject({ rows: 1000 });
  const r = cli(['run', '--experiments', '2', '--timeout', '120s', '--run', 'api'], dir);
  expect(r.code, r.stderr).toBe(0);
  local = await startStudio({ projectDir: dir, port: 0, pollMs: 100 });
  remote = await startStudio({ projectDir: dir, host: '0.0.0.0', port: 0 });
}, 180_000);

afterAll(async () => {
  await local?.close();
  await remote?.close();
});

/** One raw HTTP request (so the Host header can be forged, which fetch does not allow). */
function raw(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }),
        );
      },
    );
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

const post = (port: number, path: string, body: unknown, headers: Record<string, string> = {}) =>
  raw(port, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('the Studio server', () => {
  it('on loopback: serves the page and the state, and refuses foreign Host names (DNS rebinding)', async () => {
    expect(local.token).toBeNull();
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await raw(local.port, '/');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.body).toContain('<title>Ratchet Studio</title>');
    expect(page.body).not.toMatch(/<script src|<link /);
    const state = JSON.parse((await raw(local.port, '/api/state')).body);
    expect(state.run).toBe('api');
    expect(state.experiments).toHaveLength(2);
    expect(state.chart).toMatch(/^<svg /);
    expect(state.budgets.experiments).toEqual({ used: 2, max: 2 });
    expect(state.status.run.status).toBe('finished');
    const evil = await raw(local.port, '/api/state', { headers: { host: 'attacker.example:80' } });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).error).toMatch(/not a loopback name/);
  });

  it('off loopback: every request needs the token (Bearer or ?token=), else 401', async () => {
    expect(isLoopback(remote.host)).toBe(false);
    expect(remote.token).toMatch(/^[\w-]{20,}$/);
    expect(remote.url).toContain(`?token=${remote.token}`);
    const none = await raw(remote.port, '/api/state');
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ error: 'a token is required' });
    expect((await raw(remote.port, '/')).status).toBe(401);
    expect(
      (await raw(remote.port, '/api/state', { headers: { authorization: 'Bearer wrong-token-x' } })).status,
    ).toBe(401);
    expect((await raw(remote.port, `/api/state?token=${remote.token}x`)).status).toBe(401);
    expect(
      (await raw(remote.port, '/api/state', { headers: { authorization: `Bearer ${remote.token}` } })).status,
    ).toBe(200);
    expect((await raw(remote.port, `/?token=${remote.token}`)).status).toBe(200);
    await expect(startStudio({ projectDir: dir, port: 0, token: 'short' })).rejects.toThrow(
      /at least 8 characters/,
    );
  });

  it('shows one experiment with its diff and logs; 404 for an unknown one', async () => {
    const j = Journal.open(dir, { readonly: true });
    const second = j.listExperiments('api')[1]!;
    j.close();
    const r = JSON.parse((await raw(local.port, `/api/experiments/${second.id}`)).body);
    expect(r.hypothesis).toBe(second.hypothesis);
    expect(r.patch).toContain('diff --git a/params.yaml b/params.yaml');
    expect(r.stdout).toContain('[train]');
    expect(r.private).toBeNull();
    expect((await raw(local.port, '/api/experiments/999')).status).toBe(404);
    expect((await raw(local.port, '/api/nope')).status).toBe(404);
  });

  it('guards writes: JSON only, same origin only; the kill switch says when nothing runs', async () => {
    const text = await raw(local.port, '/api/review', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(text.status).toBe(415);
    const cross = await post(local.port, '/api/stop', {}, { origin: 'http://attacker.example' });
    expect(cross.status).toBe(403);
    const stop = await post(local.port, '/api/stop', {});
    expect(stop.status).toBe(409);
    expect(JSON.parse(stop.body).error).toBe('no active run to stop');
  });

  it('records reviews only with a note and only for submitted experiments, and streams them live', async () => {
    const j = Journal.open(dir, { readonly: true });
    const [first] = j.listExperiments('api');
    j.close();
    const early = await post(local.port, '/api/review', {
      experiment: first!.id,
      decision: 'promote',
      note: 'x',
    });
    expect(early.status).toBe(400);
    expect(JSON.parse(early.body)).toMatchObject({
      field: 'experiment',
      error: expect.stringMatching(/not been submitted/),
    });

    // Listen to the live stream while the journal changes underneath it.
    const states: { submissions: unknown[]; reviews: { note: string }[] }[] = [];
    const ctl = new AbortController();
    const res = await fetch(`${local.url}api/stream?run=api`, { signal: ctl.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const pump = (async () => {
      let buf = '';
      const dec = new TextDecoder();
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = /^event: state\ndata: (.*)$/ms.exec(block);
            if (data) states.push(JSON.parse(data[1]!));
            i = buf.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
    })();
    await expect.poll(() => states.length).toBe(1);
    const best = (await submit(dir, 'api')).experiment;
    await expect.poll(() => states.at(-1)?.submissions.length, { timeout: 5000 }).toBe(1);
    const noNote = await post(local.port, '/api/review', {
      experiment: best.id,
      decision: 'reject',
      note: '   ',
    });
    expect(noNote.status).toBe(400);
    expect(JSON.parse(noNote.body)).toMatchObject({ field: 'note', hint: expect.stringMatching(/--note/) });
    const bad = await post(local.port, '/api/review', { experiment: best.id, decision: 'ship', note: 'x' });
    expect(bad.status).toBe(400);
    const ok = await post(local.port, '/api/review', {
      experiment: best.id,
      decision: 'reject',
      note: 'holdout too small to trust',
      reviewer: 'api-test',
    });
    expect(ok.status, ok.body).toBe(201);
    expect(JSON.parse(ok.body)).toMatchObject({
      decision: 'reject',
      reviewer: 'api-test',
      experimentId: best.id,
    });
    await expect
      .poll(() => states.at(-1)?.reviews.map((r) => r.note), { timeout: 5000 })
      .toEqual(['holdout too small to trust']);
    ctl.abort();
    await pump;
  });

  it('ratchet studio: bad port is a clear error; off loopback it prints the token URL', async () => {
    const bad = cli(['studio', '--port', 'x80'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ratchet: --port must be an integer/);
    const child = spawn(
      process.execPath,
      [CLI, 'studio', '--host', '0.0.0.0', '--port', '0', '--token', 'correct-horse-battery'],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    try {
      await expect.poll(() => out, { timeout: 15_000 }).toMatch(/Ratchet Studio: (http:\/\/\S+)/);
      const url = /Ratchet Studio: (http:\/\/\S+)/.exec(out)![1]!;
      expect(url).toMatch(/\?token=correct-horse-battery$/);
      expect(out).toMatch(/every request needs the token/);
      expect((await fetch(url)).status).toBe(200);
      expect((await fetch(url.replace(/\?.*/, ''))).status).toBe(401);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    expect(child.exitCode).toBe(0);
  });
  it('reads the contract again when ratchet.yaml changes, and only then', async () => {
    const state = async () =>
      JSON.parse((await raw(local.port, '/api/state')).body) as { project: { name: string } };
    const file = join(dir, 'ratchet.yaml');
    const text = readFileSync(file, 'utf8');
    const name = (await state()).project.name;
    try {
      writeFileSync(file, text.replace(/^name: .*$/m, 'name: renamed-while-open'));
      expect((await state()).project.name).toBe('renamed-while-open');
      // A contract that no longer parses is reported, not served from the cache.
      writeFileSync(file, `${text}\n  : [unclosed`);
      expect((await raw(local.port, '/api/state')).status).toBeGreaterThanOrEqual(400);
    } finally {
      writeFileSync(file, text);
    }
    expect((await state()).project.name).toBe(name);
  });
});

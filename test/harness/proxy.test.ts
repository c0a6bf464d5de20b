/**
 * The model proxy on its own, over a real Unix socket in front of the real stand-in model: the key is added on the
 * host, tokens come from the responses, caps and limits hold, the cache replays, and nothing a harness sends becomes
 * configuration (model, URL, file names).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, MAX_REQUEST_BYTES, type ModelProxy, startProxy } from '../../src/harness/proxy.js';
import { type StandIn, startStandIn } from '../../src/harness/stand-in.js';

const KEY = 'sk-proxy-test-key';
let standIn: StandIn;
beforeAll(async () => {
  standIn = await startStandIn({ key: KEY });
});
afterAll(async () => {
  await standIn.close();
});

function post(
  socketPath: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path, method, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') }));
      },
    );
    // An oversize body gets its 413 and the connection closes: this client's last write may then fail (EPIPE). The
    // proxy itself stays up (a separate-process client proved it; the e2e test's harness is one).
    const quiet = (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? undefined : reject(e));
    req.on('error', quiet);
    req.on('socket', (s) => s.on('error', quiet));
    req.end(body);
  });
}

const ask = (q: string, model = 'anything') =>
  JSON.stringify({
    model,
    messages: [
      {
        role: 'system',
        content: 'To compute an arithmetic expression, evaluate it. Answer with the result only.',
      },
      { role: 'user', content: q },
    ],
    temperature: 0,
  });

async function proxy(
  over: Partial<Parameters<typeof startProxy>[0]> = {},
): Promise<{ p: ModelProxy; sock: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rtx-test-'));
  const sock = join(dir, 'm.sock');
  const p = await startProxy({
    socketPath: sock,
    endpoint: standIn.url,
    model: 'ratchet-stand-in',
    apiKey: KEY,
    prices: { input_per_mtok: 1, output_per_mtok: 2 },
    caps: { tokens_per_task: 100_000, tokens_per_experiment: 1_000_000, requests_per_task: 50 },
    cacheDir: null,
    timeoutMs: 10_000,
    tracePath: join(dir, 'trace.jsonl'),
    ...over,
  });
  return { p, sock, dir };
}

describe('the model proxy', () => {
  it('adds the key, sets the model, and counts tokens and cost from the response per task', async () => {
    const { p, sock, dir } = await proxy();
    const before = standIn.calls.length;
    const r = await post(sock, '/v1/chat/completions', ask('What is 12 * 3?', 'gpt-5-pretend'), {
      'x-ratchet-task': 't1',
      authorization: 'Bearer not-the-key',
    });
    expect(r.status).toBe(200);
    const usage = r.json['usage'] as { prompt_tokens: number; completion_tokens: number };
    const call = standIn.calls[before]!;
    expect(call.task).toBeNull(); // the proxy does not forward the task header upstream
    expect(usage.prompt_tokens).toBe(call.promptTokens);
    const l = await p.close();
    expect(l.tasks['t1']).toMatchObject({
      requests: 1,
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      tokens: usage.prompt_tokens + usage.completion_tokens,
    });
    expect(l.tasks['t1']!.costUsd).toBeCloseTo(
      (usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1e6,
      15,
    );
    const trace = readFileSync(join(dir, 'trace.jsonl'), 'utf8');
    expect(trace).toContain('"model":"ratchet-stand-in"');
    expect(trace).not.toContain(KEY);
  });

  it('without the key the endpoint refuses: the key really comes from the proxy', async () => {
    const { p, sock } = await proxy({ apiKey: null });
    const r = await post(sock, '/v1/chat/completions', ask('What is 2 + 2?'), {
      authorization: `Bearer ${KEY}`,
    });
    expect(r.status).toBe(401);
    await p.close();
  });

  it('refuses past the caps with a 429 and counts the refusals', async () => {
    const { p, sock } = await proxy({
      caps: { tokens_per_task: 1_000_000, tokens_per_experiment: 1_000_000, requests_per_task: 2 },
    });
    const h = { 'x-ratchet-task': 'tA' };
    expect((await post(sock, '/v1/chat/completions', ask('What is 1 + 1?'), h)).status).toBe(200);
    expect((await post(sock, '/v1/chat/completions', ask('What is 1 + 2?'), h)).status).toBe(200);
    const third = await post(sock, '/v1/chat/completions', ask('What is 1 + 3?'), h);
    expect(third.status).toBe(429);
    expect(JSON.stringify(third.json)).toMatch(/cap reached: task \\"tA\\" made its 2 requests/);
    // another task still goes through
    expect(
      (await post(sock, '/v1/chat/completions', ask('What is 1 + 4?'), { 'x-ratchet-task': 'tB' })).status,
    ).toBe(200);
    const l = await p.close();
    expect(l.tasks['tA']).toMatchObject({ requests: 2, refused: 1 });
    expect(l.total.refused).toBe(1);
  });

  it('answers only chat completions, refuses streaming, oversize and non-JSON bodies', async () => {
    const { p, sock } = await proxy();
    expect((await post(sock, '/v1/completions', ask('x'))).status).toBe(404);
    expect((await post(sock, '/v1/chat/completions', '', {}, 'GET')).status).toBe(404);
    expect((await post(sock, '/v1/models', '', {}, 'GET')).json['data']).toEqual([
      { id: 'ratchet-stand-in', object: 'model', owned_by: 'ratchet' },
    ]);
    const stream = JSON.stringify({ ...JSON.parse(ask('What is 1 + 1?')), stream: true });
    expect((await post(sock, '/v1/chat/completions', stream)).status).toBe(400);
    expect((await post(sock, '/v1/chat/completions', '[1,2]')).status).toBe(400);
    expect((await post(sock, '/v1/chat/completions', '{"a":')).status).toBe(400);
    const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(MAX_REQUEST_BYTES) }] });
    expect((await post(sock, '/v1/chat/completions', big)).status).toBe(413);
    const l = await p.close();
    expect(l.total.requests).toBe(0);
  });

  it('replays identical requests from the cache (tokens still count) under a hashed file name', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'rtx-cache-'));
    const { p, sock } = await proxy({ cacheDir });
    const before = standIn.calls.length;
    const body = ask('What is 7 * 6?');
    const a = await post(sock, '/v1/chat/completions', body, { 'x-ratchet-task': '../../etc/passwd' });
    // the same request with keys in another order is the same request
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(body)).reverse()));
    expect(canonicalJson(JSON.parse(reordered))).toBe(canonicalJson(JSON.parse(body)));
    const b = await post(sock, '/v1/chat/completions', reordered, { 'x-ratchet-task': '../../etc/passwd' });
    expect(b.json).toEqual(a.json);
    expect(standIn.calls.length - before).toBe(1);
    const l = await p.close();
    expect(l.tasks['../../etc/passwd']).toMatchObject({ requests: 2, cached: 1 });
    expect(l.total.tokens).toBe(2 * (a.json['usage'] as { total_tokens: number }).total_tokens);
    const files = readdirSync(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.json$/);
  });

  it('asks the model afresh for noise runs (cacheRead false) and still fills the cache', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'rtx-cache-'));
    const { p, sock } = await proxy({ cacheDir, cacheRead: false });
    const before = standIn.calls.length;
    const body = ask('What is 9 * 9?');
    await post(sock, '/v1/chat/completions', body, { 'x-ratchet-task': 't' });
    await post(sock, '/v1/chat/completions', body, { 'x-ratchet-task': 't' });
    expect(standIn.calls.length - before).toBe(2);
    expect((await p.close()).total.cached).toBe(0);
    expect(readdirSync(cacheDir)).toHaveLength(1);
  });

  it('never follows a redirect from the endpoint (the key would go with it)', async () => {
    const { createServer } = await import('node:http');
    const redirect = createServer((_req, res) => {
      res.writeHead(307, { location: `${standIn.url}/chat/completions` });
      res.end();
    });
    await new Promise<void>((r) => redirect.listen(0, '127.0.0.1', r));
    const port = (redirect.address() as { port: number }).port;
    const { p, sock } = await proxy({ endpoint: `http://127.0.0.1:${port}/v1` });
    const before = standIn.calls.length;
    const r = await post(sock, '/v1/chat/completions', ask('What is 3 + 3?'));
    expect(r.status).toBe(502);
    expect(standIn.calls.length).toBe(before);
    await p.close();
    await new Promise((r) => redirect.close(r));
  });
});

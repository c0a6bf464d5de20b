/**
 * The harness-qa example (examples/harness-qa) run outside any sandbox against the stand-in model: the test makes
 * the splits from tasks.csv, sets the environment Ratchet would set, and grades exact match itself.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StandIn, startStandIn } from '../../src/harness/stand-in.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const EXAMPLE = join(REPO, 'examples', 'harness-qa');
const VENV_PYTHON = join(REPO, '.venv', 'bin', 'python');
const PYTHON = existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';
const KEY = 'example-test-key';

/** RFC 4180 CSV (quoted fields, doubled quotes), enough for tasks.csv and the harness's output. */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header!.map((h, j) => [h, r[j] ?? ''])));
}

function toCsv(rows: Record<string, string>[], columns: string[]): string {
  const cell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return (
    [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c] ?? '')).join(','))].join('\n') + '\n'
  );
}

interface RunResult {
  /** Exact-match accuracy on each holdout. */
  public: number;
  private: number;
  /** Over both holdouts. */
  score: number;
  promptTokens: number;
  completionTokens: number;
  calls: number;
  /** The X-Ratchet-Task header of each request, in order. */
  tasks: (string | null)[];
  predictions: Map<string, string>;
  stdout: string;
}

let s: StandIn;
let work: string;
let splitDir: string;
const answers = new Map<string, string>();
const holdoutIds: Record<'public' | 'private', string[]> = { public: [], private: [] };

beforeAll(async () => {
  s = await startStandIn({ key: KEY });
  work = mkdtempSync(join(tmpdir(), 'ratchet-harness-qa-'));
  splitDir = join(work, 'splits');
  mkdirSync(splitDir);
  const tasks = parseCsv(readFileSync(join(EXAMPLE, 'tasks.csv'), 'utf8'));
  expect(tasks).toHaveLength(90);
  for (const t of tasks) answers.set(t.task_id!, t.expected!);
  writeFileSync(join(splitDir, 'train.csv'), toCsv(tasks.slice(0, 30), ['task_id', 'input', 'expected']));
  for (const [name, part] of [
    ['public', tasks.slice(30, 60)],
    ['private', tasks.slice(60, 90)],
  ] as const) {
    writeFileSync(join(splitDir, `${name}.csv`), toCsv(part, ['task_id', 'input']));
    holdoutIds[name] = part.map((t) => t.task_id!);
  }
});

afterAll(async () => {
  await s?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A copy of the example's harness with params.yaml changed by `edit` (null: as committed). */
function variant(name: string, edit: Record<string, unknown> | null): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const f of ['harness.py', 'prompts']) cpSync(join(EXAMPLE, f), join(dir, f), { recursive: true });
  let params = readFileSync(join(EXAMPLE, 'params.yaml'), 'utf8');
  for (const [k, v] of Object.entries(edit ?? {})) {
    const re = new RegExp(`^${k}: .*$`, 'm');
    expect(params).toMatch(re);
    params = params.replace(re, `${k}: ${String(v)}`);
  }
  writeFileSync(join(dir, 'params.yaml'), params);
  return dir;
}

function python(
  dir: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, ['harness.py'], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Run a harness folder against `baseUrl` and grade its predictions by exact match. */
async function runHarness(dir: string, baseUrl = s.url, apiKey = KEY): Promise<RunResult> {
  const out = join(dir, 'output');
  mkdirSync(out);
  const first = s.calls.length;
  const r = await python(dir, {
    RATCHET_TRAIN: join(splitDir, 'train.csv'),
    RATCHET_PUBLIC: join(splitDir, 'public.csv'),
    RATCHET_PRIVATE: join(splitDir, 'private.csv'),
    RATCHET_OUTPUT: out,
    OPENAI_BASE_URL: baseUrl,
    OPENAI_API_KEY: apiKey,
    RATCHET_MODEL: 'ratchet-stand-in',
  });
  expect(r.code, r.stderr).toBe(0);
  const calls = s.calls.slice(first);
  const predictions = new Map<string, string>();
  const acc: Record<string, number> = {};
  for (const split of ['public', 'private'] as const) {
    const rows = parseCsv(readFileSync(join(out, `${split}.csv`), 'utf8'));
    expect(rows.map((row) => row.task_id)).toEqual(holdoutIds[split]);
    expect(Object.keys(rows[0]!)).toEqual(['task_id', 'prediction']);
    for (const row of rows) predictions.set(row.task_id!, row.prediction!);
    acc[split] = rows.filter((row) => row.prediction === answers.get(row.task_id!)).length / rows.length;
  }
  return {
    public: acc.public!,
    private: acc.private!,
    score: (acc.public! + acc.private!) / 2,
    promptTokens: calls.reduce((n, c) => n + c.promptTokens, 0),
    completionTokens: calls.reduce((n, c) => n + c.completionTokens, 0),
    calls: calls.length,
    tasks: calls.map((c) => c.task),
    predictions,
    stdout: r.stdout,
  };
}

describe('examples/harness-qa against the stand-in model', () => {
  let baseline: RunResult;

  beforeAll(async () => {
    baseline = await runHarness(variant('baseline', null));
  });

  it('the baseline scores clearly between 0 and 1 and sends one tagged request per holdout task', () => {
    // counting (no instruction, one worked example) and arithmetic/reversal (instructed) are right; conversion
    // (neither) is wrong: 21/30 public, 23/30 private
    expect(baseline.public).toBeCloseTo(21 / 30, 10);
    expect(baseline.private).toBeCloseTo(23 / 30, 10);
    expect(baseline.calls).toBe(60);
    expect(baseline.tasks).toEqual([...holdoutIds.public, ...holdoutIds.private]);
    // 60 requests × (system prompt + 8 worked examples as 16 turns + the question), ~297 prompt tokens each
    expect(baseline.promptTokens).toBe(17_824);
    expect(baseline.completionTokens).toBe(366);
    expect(baseline.stdout).toContain('tokens reported by the endpoint: prompt 17824, completion 366');
  });

  it('adding the missing instructions and the format line raises the score to 1', async () => {
    const improved = await runHarness(
      variant('improved', { skill_conversion: true, skill_counting: true, format_instruction: true }),
    );
    expect(improved.public).toBe(1);
    expect(improved.private).toBe(1);
    // the bare answers are shorter (366 → 134 completion tokens); the two added sentences cost more prompt
    // tokens than the bare answers save (17,824 → 22,766)
    expect(improved.completionTokens).toBe(134);
    expect(improved.promptTokens).toBe(22_766);
  });

  it('with the format line the harness no longer needs to extract the answer', async () => {
    const raw = await runHarness(variant('raw', { extract_answer: false }));
    expect(raw.score).toBe(0);
    const rawBare = await runHarness(
      variant('raw-bare', { extract_answer: false, format_instruction: true }),
    );
    expect(rawBare.public).toBe(baseline.public);
    expect(rawBare.private).toBe(baseline.private);
  });

  it('dropping the redundant worked examples cuts prompt tokens at the same score', async () => {
    const lean = await runHarness(variant('lean', { examples_arithmetic: 0, examples_reversal: 0 }));
    expect(lean.predictions).toEqual(baseline.predictions);
    expect(lean.public).toBe(baseline.public);
    expect(lean.private).toBe(baseline.private);
    // 17,824 → 11,846 prompt tokens: a third less (33.5 %) for the same predictions
    expect(lean.promptTokens).toBe(11_846);
    expect(1 - lean.promptTokens / baseline.promptTokens).toBeCloseTo(0.335, 3);
  });

  it('the cheapest full score: one inline example per family and the format line, no instructions', async () => {
    const cheap = await runHarness(
      variant('cheap', {
        skill_arithmetic: false,
        skill_reversal: false,
        format_instruction: true,
        examples_arithmetic: 1,
        examples_reversal: 1,
        examples_conversion: 1,
        examples_counting: 1,
        example_style: 'inline',
      }),
    );
    // score 1 for 11,038 prompt and 134 completion tokens: fewer than the baseline (17,824) or the lean one
    expect(cheap.score).toBe(1);
    expect(cheap.promptTokens).toBe(11_038);
    expect(cheap.completionTokens).toBe(134);
  });

  it('a max_tokens too small truncates the answers', async () => {
    const short = await runHarness(variant('short', { max_tokens: 2 }));
    expect(short.score).toBeLessThan(baseline.score);
  });

  it('through a proxy that injects the key: a 429 leaves that prediction empty, a dropped connection is retried', async () => {
    // a stand-in for Ratchet's host proxy: the sandbox side has only a placeholder key
    const capped = new Set(holdoutIds.public.slice(0, 3));
    const dropOnce = new Set([holdoutIds.private[0]!]);
    const seen: string[] = [];
    const keys = new Set<string>();
    const proxy: Server = createServer((req, res) => {
      const task = String(req.headers['x-ratchet-task'] ?? '');
      seen.push(task);
      keys.add(String(req.headers.authorization));
      if (dropOnce.delete(task)) {
        req.socket.destroy();
        return;
      }
      if (capped.has(task)) {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { message: 'token cap reached', type: 'rate_limit', param: null, code: null },
          }),
        );
        return;
      }
      const upstream = new URL(s.url);
      const fwd = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: `/v1${(req.url ?? '').replace(/^\/v1/, '')}`,
          headers: { ...req.headers, authorization: `Bearer ${KEY}` },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(fwd);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as AddressInfo).port;
      const viaProxy = await runHarness(
        variant('proxied', null),
        `http://127.0.0.1:${port}/v1`,
        'placeholder',
      );
      for (const id of capped) expect(viaProxy.predictions.get(id)).toBe('');
      for (const [id, p] of viaProxy.predictions)
        if (!capped.has(id)) expect(p, id).toBe(baseline.predictions.get(id));
      expect(seen.filter((t) => t === holdoutIds.private[0])).toHaveLength(2);
      expect(viaProxy.calls).toBe(60 - capped.size);
      expect([...keys]).toEqual(['Bearer placeholder']);
      expect(viaProxy.stdout).toContain('3 tasks hit a cap');
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});

/**
 * The harness task end to end: the bundled harness-qa example in a real project (split, vault, lock), the real
 * sandbox, Ratchet's host proxy in front of the stand-in model (an OpenAI-compatible server in this process), the
 * loop with scripted harness changes. Proves: tokens and cost come from the model's responses; the key never enters
 * the sandbox and nothing but the proxy is reachable from it; caps are enforced; a change that cuts cost at an
 * equal score is kept; a harness that answers around the model is rejected.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/harness/proxy.js';
import { LEDGER_FILE, MODEL_TRACE_FILE } from '../../src/harness/session.js';
import { type StandIn, startStandIn } from '../../src/harness/stand-in.js';
import { RUNS_DIR } from '../../src/loop/run.js';
import { harnessParams, harnessProject, runHarness } from '../helpers/harness.js';

const KEY = 'sk-host-only-7c1f9a52e0';

let standIn: StandIn;
beforeAll(async () => {
  standIn = await startStandIn({ key: KEY });
  process.env['RATCHET_HARNESS_KEY'] = KEY;
});
afterAll(async () => {
  delete process.env['RATCHET_HARNESS_KEY'];
  await standIn.close();
});

/** A project from the example, its endpoint pointed at the stand-in, initialized. */
const project = (edit?: (yaml: string) => string) => harnessProject(standIn, edit);
const params = harnessParams;

const run = runHarness;

const ledgerOf = (dir: string, id: number) =>
  JSON.parse(readFileSync(join(dir, RUNS_DIR, String(id).padStart(4, '0'), LEDGER_FILE), 'utf8')) as Ledger;

describe('harness task through the proxy', () => {
  it('counts tokens from responses, keeps a cost cut at an equal score and a score gain', async () => {
    const dir = await project();
    const before = standIn.calls.length;
    const { exps } = await run(dir, [
      // 7 of the 8 worked examples teach skills the prompt already states: dropping them cuts tokens, not score.
      {
        hypothesis: 'drop the redundant worked examples',
        files: { 'params.yaml': params(dir, { examples_arithmetic: '0', examples_reversal: '0' }) },
      },
      // The missing skill instructions and the format line raise the score.
      {
        hypothesis: 'state every skill and ask for the bare result',
        files: {
          'params.yaml': params(dir, {
            examples_arithmetic: '0',
            examples_reversal: '0',
            skill_conversion: 'true',
            skill_counting: 'true',
            format_instruction: 'true',
          }),
        },
      },
    ]);
    const [base, cut, gain] = exps;
    expect(base!.decision).toBe('kept');
    expect(cut!.decision, cut!.reason).toBe('kept');
    expect(cut!.reason).toMatch(/^cuts tokens_per_task by \d+\.\d% .* at a score not worse than the best/);
    expect(cut!.metrics!['task_score']).toBeCloseTo(base!.metrics!['task_score']!, 12);
    expect(cut!.metrics!['tokens_per_task']!).toBeLessThan(0.9 * base!.metrics!['tokens_per_task']!);
    expect(gain!.decision, gain!.reason).toBe('kept');
    expect(gain!.metrics!['task_score']!).toBeGreaterThan(cut!.metrics!['task_score']!);
    // The ledger's tokens are the model's own usage: the stand-in's count of what it served, request for request.
    const served = standIn.calls.slice(before);
    const ledgers = [1, 2, 3].map((id) => ledgerOf(dir, id));
    const counted = ledgers.reduce((s, l) => s + l.total.tokens, 0);
    const cached = ledgers.reduce((s, l) => s + l.total.cached, 0);
    const requests = ledgers.reduce((s, l) => s + l.total.requests, 0);
    expect(requests - cached).toBe(served.length);
    const fresh = served.reduce((s, c) => s + c.promptTokens + c.completionTokens, 0);
    expect(counted).toBeGreaterThanOrEqual(fresh);
    // tokens_per_task is the mean over the public tasks of what the proxy attributed to each.
    const pub = (await import('../../src/data/ingest.js')).readManifest(dir).counts.public;
    const l1 = ledgers[0]!;
    const publicIds = readFileSync(join(dir, '.ratchet', 'data', 'public.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',')[0]!);
    expect(publicIds).toHaveLength(pub);
    const mean = publicIds.reduce((s, id) => s + (l1.tasks[id]?.tokens ?? 0), 0) / pub;
    expect(base!.metrics!['tokens_per_task']).toBeCloseTo(mean, 9);
    // Every request and response is in the experiment's raw trace; the key is nowhere under .ratchet.
    const trace = readFileSync(join(dir, RUNS_DIR, '0001', MODEL_TRACE_FILE), 'utf8');
    expect(trace.trim().split('\n').length).toBe(l1.total.requests);
    expect(trace).toContain('"task":"t');
    expect(trace).not.toContain(KEY);
  }, 600_000);

  it('never lets the key into the sandbox, nor any host but the proxy', async () => {
    const dir = await project();
    const port = standIn.port;
    // A harness that hunts for the key and tries to reach the model directly (and the internet), then answers.
    const attack = `
import os, glob, json, socket, urllib.request, csv
found = {"env": dict(os.environ)}
for p in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
    try: found[p] = open(p, "rb").read().decode("utf-8", "replace")
    except Exception as e: found[p] = type(e).__name__
tries = {}
for host, port in (("127.0.0.1", ${port}), ("1.1.1.1", 443), ("10.0.2.2", 80)):
    s = socket.socket(); s.settimeout(2)
    try: s.connect((host, port)); tries[host] = "connected"
    except Exception as e: tries[host] = type(e).__name__
    finally: s.close()
try: urllib.request.urlopen("${standIn.url}/models", timeout=2); tries["url"] = "reached"
except Exception as e: tries["url"] = type(e).__name__
# the proxy, through the forwarder, with the placeholder key only
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/models")
tries["proxy"] = json.load(urllib.request.urlopen(req, timeout=5))["data"][0]["id"]
out = os.environ["RATCHET_OUTPUT"]
json.dump({"found": found, "tries": tries}, open(out + "/loot.json", "w"))
for split in ("public", "private"):
    rows = list(csv.DictReader(open(os.environ["RATCHET_" + split.upper()])))
    with open(out + "/" + split + ".csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["task_id", "prediction"])
        for r in rows: w.writerow([r["task_id"], ""])
`;
    const { exps } = await run(dir, [
      { hypothesis: 'look for the key and a way out', files: { 'harness.py': attack } },
    ]);
    const out = join(dir, RUNS_DIR, String(exps[1]!.id).padStart(4, '0'), 'output');
    const loot = readFileSync(join(out, 'loot.json'), 'utf8');
    expect(loot).not.toContain(KEY);
    const { tries, found } = JSON.parse(loot) as {
      tries: Record<string, string>;
      found: { env: Record<string, string> };
    };
    expect(found.env['OPENAI_API_KEY']).toBe('ratchet-proxy-holds-the-key');
    expect(tries['127.0.0.1']).not.toBe('connected');
    expect(tries['1.1.1.1']).not.toBe('connected');
    expect(tries['10.0.2.2']).not.toBe('connected');
    expect(tries['url']).not.toBe('reached');
    expect(tries['proxy']).toBe('ratchet-stand-in');
  }, 600_000);

  it('enforces the experiment token cap and rejects answers made around the model', async () => {
    const dir = await project((y) =>
      y.replace('tokens_per_experiment: 400000', 'tokens_per_experiment: 1500'),
    );
    const { exps } = await run(dir, [
      {
        hypothesis: 'answer the arithmetic tasks in Python instead of asking the model',
        files: {
          'harness.py': `
import csv, os, re
out = os.environ["RATCHET_OUTPUT"]
for split in ("public", "private"):
    rows = list(csv.DictReader(open(os.environ["RATCHET_" + split.upper()])))
    with open(out + "/" + split + ".csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["task_id", "prediction"])
        for r in rows:
            m = re.match(r"What is (\\d+) ([*+-]) (\\d+)\\?", r["input"])
            w.writerow([r["task_id"], str(eval(m.group(1) + m.group(2) + m.group(3))) if m else ""])
`,
        },
      },
    ]);
    // The cap is checked before each request on what was used: the experiment stops at most one request past it,
    // and every later request gets a 429 (the harness then leaves that task's answer empty).
    const l = ledgerOf(dir, 1);
    const largest = Math.max(...Object.values(l.tasks).map((u) => u.tokens));
    expect(l.total.refused).toBeGreaterThan(40);
    expect(l.total.tokens).toBeGreaterThanOrEqual(1500);
    expect(l.total.tokens).toBeLessThanOrEqual(1500 + largest);
    expect(exps[0]!.metrics!['task_score']).toBeLessThan(0.3);
    expect(exps[1]!.decision).toBe('rejected');
    expect(exps[1]!.reason).toMatch(
      /model-bypass: \d+ of \d+ correctly answered tasks made no model request/,
    );
  }, 600_000);
});

/**
 * The smaller findings, each through a real entry point (the loop with a proposer class, the command proposer
 * with a CLI agent in the sandbox, the MCP server over stdio, the openai proposer against a scripted endpoint,
 * the CLI): invisible hypotheses, crashed experiments in the phase gate, refused agent tool calls as journal
 * events, the custom evaluator's skipped bootstrap, and features.json checks that could not be made.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { proposerFactory } from '../src/cli/proposers.js';
import { initProject } from '../src/contract/init.js';
import { Journal } from '../src/journal/store.js';
import { NO_BOOTSTRAP_NOTE } from '../src/loop/keep.js';
import { experimentDir, runLoop } from '../src/loop/run.js';
import type { Proposal, ProposeContext, Proposer } from '../src/proposers/types.js';
import { writeReport } from '../src/report/index.js';
import {
  agentProject,
  journalOf,
  PARAMS,
  type PolicyAnswer,
  type SeenRequest,
  type StandInServer,
  startChatServer,
  toolResults,
} from './agents/helpers.js';
import { CLI, cli, gitOut, makeProject, tempDir } from './helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript, ScriptedProposer } from './helpers/scripted.js';

/** 25 zero-width spaces: 25 characters long, nothing to read. */
const ZWSP25 = '\u200b'.repeat(25);
/** Format characters of every kind the rule must not count (zero-width joiners, word joiner, BOM, filler). */
const INVISIBLE_MIX = '\u200b\u200c\u200d\u2060\ufeff\u3164\u00ad'.repeat(4);

/** Writes each step's files into the worktree and answers with its hypothesis (no checks of its own). */
class StepProposer implements Proposer {
  readonly name = 'steps';
  private i = 0;
  constructor(private readonly steps: { hypothesis: string; files: Record<string, string> }[]) {}
  async propose(ctx: ProposeContext): Promise<Proposal> {
    const step = this.steps[this.i++]!;
    for (const [p, c] of Object.entries(step.files)) writeFileSync(join(ctx.worktree, p), c);
    return { hypothesis: step.hypothesis };
  }
  async observe(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('hypotheses count visible characters; features.json checks that could not be made are recorded', () => {
  it('the loop rejects an invisible hypothesis, strips terminal escapes, and shows unchecked features.json', {
    timeout: 400_000,
  }, async () => {
    const dir = await makeProject({ rows: 1500 });
    const noise = predictingScript(NOISE_PREDICTIONS);
    const marker = (name: string) =>
      `import os\nopen(os.path.join(os.environ["RATCHET_OUTPUT"], "${name}"), "w").write("ran")\n`;
    const features = (body: string) =>
      `import os\nopen(os.path.join(os.environ["RATCHET_OUTPUT"], "features.json"), "w").write(${body})\n`;
    const proposer = new StepProposer([
      { hypothesis: ZWSP25, files: { 'train.py': marker('zwsp-ran.txt') + noise } },
      { hypothesis: INVISIBLE_MIX, files: { 'train.py': marker('mix-ran.txt') + noise } },
      {
        hypothesis: '\u001b[2J\u001b[H\u001b[31mpredict from a row hash\u001b[0m\u0007\r\u202e',
        files: { 'train.py': noise },
      },
      {
        hypothesis: 'features.json that is not JSON',
        files: { 'train.py': features('"[not json"') + noise },
      },
      {
        hypothesis: 'a features.json of two megabytes',
        files: { 'train.py': features('"[" + ",".join(["\\"x\\""] * 500000) + "]"') + noise },
      },
    ]);
    const s = await runLoop({ projectDir: dir, proposer: async () => proposer, maxExperiments: 6 });
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(s.runId);
    j.close();
    expect(exps).toHaveLength(6);
    const [base, zw, mix, esc, badJson, big] = exps;

    // hypothesis-required: 25 zero-width spaces, and a mix of format characters, never reach the sandbox.
    for (const [e, file] of [
      [zw!, 'zwsp-ran.txt'],
      [mix!, 'mix-ran.txt'],
    ] as const) {
      expect(e.decision).toBe('rejected');
      expect(e.reason).toMatch(/^hypothesis-required: no hypothesis/);
      expect(e.sandboxStatus).toBe('skipped');
      expect(() => readFileSync(join(experimentDir(dir, e.id), 'output', file))).toThrow();
    }
    expect(zw!.hypothesis).toBe('');
    // Terminal escapes and control/format characters are gone before the hypothesis is stored or printed.
    expect(esc!.hypothesis).toBe('predict from a row hash');
    expect(['kept', 'reverted']).toContain(esc!.decision);
    const log = cli(['log', '--dir', dir], dir);
    expect(log.code).toBe(0);
    expect(log.stdout).toContain('predict from a row hash');
    expect(log.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u200b\u202e]/);
    const commitMsgs = gitOut(dir, ['log', '--format=%B', s.branch]);
    expect(commitMsgs).not.toContain('\u001b');

    // features.json: checked for the baseline (the example's train.py writes it), recorded as not checked
    // with the why when it is absent, not JSON or too large.
    const fc = (e: (typeof exps)[number]) => e.meta?.['featureCheck'] as { status: string; reason: string };
    expect(fc(base!)).toMatchObject({ status: 'checked' });
    expect(fc(base!).reason).toMatch(/\d+ columns checked against the leakage scan/);
    expect(fc(esc!)).toMatchObject({ status: 'not_checked' });
    expect(fc(esc!).reason).toMatch(/no features\.json in the output folder/);
    expect(fc(badJson!).reason).toMatch(/features\.json is not valid JSON/);
    expect(fc(big!).reason).toMatch(/features\.json is \d+ bytes, over the 1048576-byte limit/);
    expect(fc(zw!)).toBeUndefined(); // rejected before it ran: nothing to check

    const show = cli(['show', String(esc!.id), '--dir', dir], dir);
    expect(show.stdout).toMatch(/features: {3}NOT CHECKED: no features\.json in the output folder/);
    expect(show.stdout).not.toContain('\u001b');
    const showJson = JSON.parse(cli(['show', String(big!.id), '--dir', dir, '--json'], dir).stdout);
    expect(showJson.feature_check).toMatchObject({ status: 'not_checked' });
    expect(showJson.feature_check.reason).toMatch(/over the 1048576-byte limit/);
    const status = cli(['status', '--dir', dir], dir);
    expect(status.stdout).toContain('features check: 3 of 4 experiments not checked');
    const statusJson = JSON.parse(cli(['status', '--dir', dir, '--json'], dir).stdout);
    expect(statusJson.features).toEqual({ checked: 1, not_checked: 3 });
    const report = await writeReport(dir, { outDir: tempDir() });
    const md = readFileSync(report.markdown, 'utf8');
    expect(md).toContain('features check: 3 of 4 experiments not checked');
    expect(md).toContain(`#${esc!.id}: no features.json in the output folder`);
  });

  it('the command proposer refuses an agent answer of zero-width spaces (hypothesis-required)', {
    timeout: 300_000,
  }, async () => {
    const agentDir = tempDir('ratchet-zwsp-agent-');
    mkdirSync(agentDir, { recursive: true });
    // A CLI agent that makes a real change and answers with a hypothesis of 25 zero-width spaces.
    writeFileSync(
      join(agentDir, 'agent.py'),
      `import json, os
if os.access("/workspace/params.yaml", os.W_OK):
    open("/workspace/params.yaml", "w").write(${JSON.stringify(PARAMS.rf)})
json.dump({"hypothesis": "${'\\u200b'.repeat(25)}", "conclusion": "it taught nothing we can read"}, open("/output/answer.json", "w"))
`,
    );
    const dir = await agentProject({
      rows: 1500,
      command: `python ${join(agentDir, 'agent.py')}`,
      mounts: [agentDir],
    });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('command'), maxExperiments: 2 });
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps).toHaveLength(2);
    // The random forest never ran: the proposal was refused at every attempt.
    expect(exps[1]!.decision).toBe('rejected');
    expect(exps[1]!.sandboxStatus).toBe('skipped');
    expect(exps[1]!.reason).toMatch(
      /hypothesis-required: .*no hypothesis \(25 invisible or control characters/,
    );
    // Two refused attempts (agent.attempts defaults to 2), then the rejected experiment's own trip.
    expect(
      events.filter((e) => e.kind === 'guardrail' && e.guardrail === 'hypothesis-required'),
    ).toHaveLength(3);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: structured MCP tool output, checked field by field
type Out = any;

const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
});

async function mcp(dir: string) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--dir', dir],
    env: { ...(process.env as Record<string, string>), NO_COLOR: '1' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'ratchet-small-guards', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return async (name: string, args: Record<string, unknown> = {}): Promise<Out> => {
    const r = await client.callTool({ name, arguments: args }, undefined, {
      timeout: 300_000,
      resetTimeoutOnProgress: true,
    });
    return r.structuredContent;
  };
}

const refused = (out: Out): string[] => out.refusals.map((r: { guardrail: string }) => r.guardrail);

describe('MCP: invisible hypotheses and crashed experiments do not get past the discipline', () => {
  it('start_experiment refuses zero-width hypotheses; a crash tries no model family (phase-gate)', {
    timeout: 400_000,
  }, async () => {
    const dir = await agentProject({
      rows: 1500,
      agent: [
        'discipline:',
        '  phases: [{ name: explore-families, file: params.yaml, key: model, distinct: 2 }]',
      ],
    });
    const call = await mcp(dir);

    // Before a run is open: 25 zero-width spaces do not open one.
    let r = await call('start_experiment', { hypothesis: ZWSP25 });
    expect(r).toMatchObject({ accepted: false, opened: false });
    expect(refused(r)).toEqual(['hypothesis-required']);
    expect((await call('get_status')).run).toBeNull();

    const opened = await call('open_run');
    expect(opened.baseline).toMatchObject({ decision: 'kept' });
    const wt = opened.worktree as string;
    const train = readFileSync(join(wt, 'train.py'), 'utf8');

    // A new family whose training crashes: it runs (and crashes), but tries nothing.
    writeFileSync(join(wt, 'params.yaml'), PARAMS.rf);
    writeFileSync(join(wt, 'train.py'), `raise SystemExit("crashed on purpose")\n${train}`);
    r = await call('start_experiment', {
      hypothesis: 'a random forest should rank people out of work better than the linear model',
    });
    expect(r.accepted).toBe(true);
    expect(r.experiment.decision).toBe('crashed');
    await call('log_conclusion', { conclusion: 'the training script crashed before it trained anything' });
    expect((await call('get_status')).phase).toMatchObject({ tried: ['logistic_regression'], remaining: 1 });

    // Tuning the linear model's C while the phase is still in force: refused, with an invisible hypothesis
    // refused as well; nothing runs.
    const params = join(wt, 'params.yaml');
    writeFileSync(params, readFileSync(params, 'utf8').replace('C: 1.0', 'C: 0.3'));
    r = await call('start_experiment', { hypothesis: INVISIBLE_MIX });
    expect(refused(r)).toEqual(['hypothesis-required', 'phase-gate']);
    r = await call('start_experiment', { hypothesis: 'a smaller C regularises the linear model more' });
    expect(refused(r)).toEqual(['phase-gate']);
    expect(r.refusals[0].message).toMatch(/run so far: logistic_regression \(1 of 2\)/);
    const history = (await call('get_history')).experiments;
    expect(history.map((e: { decision: string }) => e.decision)).toEqual(['kept', 'crashed']);
  });
});

let server: StandInServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe('openai proposer: refused tool calls are journal events', () => {
  it('reads of the vault, writes to the contract and outside the surface are recorded as agent.refused', {
    timeout: 300_000,
  }, async () => {
    const calls: PolicyAnswer['toolCalls'] = [
      { name: 'read_file', args: { path: '.ratchet/vault/public.parquet' } },
      { name: 'read_file', args: { path: '../../vault/private.parquet' } },
      { name: 'write_file', args: { path: 'ratchet.yaml', content: 'version: 1\n' } },
      { name: 'write_file', args: { path: '../../../ratchet.yaml', content: 'version: 1\n' } },
      { name: 'write_file', args: { path: 'notes.txt', content: 'x' } },
      { name: 'write_file', args: { path: 'params.yaml', content: PARAMS.rf } },
      { name: 'finish', args: { hypothesis: ZWSP25 } },
      {
        name: 'finish',
        args: { hypothesis: 'a random forest should rank people out of work better than the linear model' },
      },
    ];
    let i = 0;
    server = await startChatServer((req: SeenRequest) =>
      (req.body.tools ?? []).length === 0
        ? { content: 'the forest changed little' }
        : { toolCalls: [calls[i++ % calls.length]!] },
    );
    const dir = await agentProject({
      rows: 1500,
      agent: ['openai:', `  base_url: ${server.url}`, '  model: m'],
    });
    const s = await runLoop({ projectDir: dir, proposer: proposerFactory('openai'), maxExperiments: 2 });
    const { exps, events } = journalOf(dir, s.runId);
    expect(exps).toHaveLength(2);
    // The invisible finish was refused; the experiment ran with the readable hypothesis.
    expect(exps[1]!.hypothesis).toBe(
      'a random forest should rank people out of work better than the linear model',
    );
    const answers = toolResults(server.requests.filter((r) => (r.body.tools ?? []).length > 0).at(-1)!);
    expect(answers[6].refused[0]).toMatchObject({ guardrail: 'hypothesis-required' });

    const refusals = events.filter((e) => e.kind === 'agent.refused');
    expect(refusals.map((e) => [e.guardrail, e.data?.['tool'], e.data?.['path']])).toEqual([
      ['vault-isolation', 'read_file', '.ratchet/vault/public.parquet'],
      ['vault-isolation', 'read_file', '../../vault/private.parquet'],
      ['contract-integrity', 'write_file', 'ratchet.yaml'],
      ['contract-integrity', 'write_file', '../../../ratchet.yaml'],
      ['write-surface', 'write_file', 'notes.txt'],
    ]);
    // Tied to the experiment being proposed, and visible where people look.
    expect(refusals.every((e) => e.experimentId === exps[1]!.id && e.runId === s.runId)).toBe(true);
    expect(exps[1]!.meta?.['agent']).toMatchObject({ tool_refusals: 5, refused: 1 });
    const show = cli(['show', String(exps[1]!.id), '--dir', dir], dir);
    expect(show.stdout).toMatch(
      /agent\.refused \[vault-isolation\]: openai proposer: read_file\(".ratchet\/vault\/public\.parquet"\) refused/,
    );
    expect(show.stdout).toMatch(/agent\.refused \[contract-integrity\]: .*write_file\("ratchet\.yaml"\)/);
    const showJson = JSON.parse(cli(['show', String(exps[1]!.id), '--dir', dir, '--json'], dir).stdout);
    expect(showJson.events.filter((e: { kind: string }) => e.kind === 'agent.refused')).toHaveLength(5);
    const md = readFileSync((await writeReport(dir, { outDir: tempDir() })).markdown, 'utf8');
    expect(md).toMatch(/vault-isolation \| 2 \|/);
  });
});

describe('custom evaluator: the keep rule says the paired bootstrap was skipped', () => {
  it('every decision with a custom evaluator names the skipped bootstrap', { timeout: 300_000 }, async () => {
    const dir = await makeProject({
      rows: 1500,
      noInit: true,
      contract: (y) =>
        y.replace(
          'metric:\n  primary: auroc\n  also: [average_precision, log_loss, brier, accuracy, f1]\n',
          'metric:\n  primary: auc_eval\n  direction: maximize\n',
        ) + 'evaluator:\n  command: python eval.py\n  files: [eval.py]\n  timeout: 2m\n',
    });
    writeFileSync(
      join(dir, 'eval.py'),
      `import json, os
import pandas as pd
from sklearn.metrics import roc_auc_score
h = os.environ["RATCHET_HOLDOUT"]
base = os.path.join(os.environ["RATCHET_OUTPUT"], h)
pred = pd.read_parquet(base + ".parquet") if os.path.exists(base + ".parquet") else pd.read_csv(base + ".csv")
pred["row_id"] = pred["row_id"].astype(str)
labels = pd.read_parquet(os.path.join(os.environ["RATCHET_VAULT"], h + ".parquet"))
m = labels.merge(pred, left_on="id", right_on="row_id")
print(json.dumps({"auc_eval": roc_auc_score(m["label"].astype(int), m["prediction"])}))
`,
    );
    await initProject(dir);
    const params = readFileSync(join(dir, 'params.yaml'), 'utf8');
    const proposer = new ScriptedProposer([
      // A change that may win, one that certainly loses, one that barely moves: each decision names the skip.
      { hypothesis: 'gradient boosting instead of the linear model', files: { 'params.yaml': PARAMS.hgb } },
      { hypothesis: 'noise instead of a model', files: { 'train.py': predictingScript(NOISE_PREDICTIONS) } },
      {
        hypothesis: 'a weaker linear model',
        files: { 'params.yaml': params.replace('C: 1.0', 'C: 0.0001') },
      },
    ]);
    const s = await runLoop({ projectDir: dir, proposer: async () => proposer, maxExperiments: 4 });
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(s.runId);
    j.close();
    expect(exps).toHaveLength(4);
    for (const e of exps.slice(1)) {
      expect(['kept', 'reverted']).toContain(e.decision);
      expect(e.reason).toContain(NO_BOOTSTRAP_NOTE);
      expect(e.probImprovement).toBeNull();
    }
    expect(NO_BOOTSTRAP_NOTE).toBe(
      'paired bootstrap skipped: the custom evaluator gives no per-row predictions; decided on the score difference and the noise test only',
    );
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    expect(readme.replace(/\s+/g, ' ')).toContain(NO_BOOTSTRAP_NOTE);
  });
});

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { initProject } from '../../src/contract/init.js';
import { type EventRecord, type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { makeProject, ROOT } from '../helpers/project.js';

/** Folder of the stand-in agents. */
export const FIXTURES = join(ROOT, 'test', 'agents', 'fixtures');
/** The stand-in CLI agent (Python, run inside the sandbox like a real agent). */
export const STANDIN = join(FIXTURES, 'standin_agent.py');

/**
 * A project made from the bundled example with an `agent` section.
 * @param agent extra YAML lines under `agent:` (indented by two spaces)
 * @param command the agent command; `{dir}` is replaced by the project folder. Default: the stand-in agent.
 * @param mounts extra read-only mounts of the agent (`{dir}` is the project folder); the stand-ins' folder is one
 */
export async function agentProject(
  opts: { variant?: string; agent?: string[]; command?: string; rows?: number; mounts?: string[] } = {},
): Promise<string> {
  const dir = await makeProject({ rows: opts.rows ?? 2000, noInit: true });
  const command = (opts.command ?? `python ${STANDIN} ${opts.variant ?? 'good'} {dir}`).replaceAll(
    '{dir}',
    dir,
  );
  const yaml = [
    'agent:',
    `  command: ${JSON.stringify(command)}`,
    `  mounts: ${JSON.stringify([FIXTURES, ...(opts.mounts ?? []).map((m) => m.replaceAll('{dir}', dir))])}`,
    '  timeout: 2m',
    ...(opts.agent ?? []).map((l) => `  ${l}`),
  ].join('\n');
  writeFileSync(
    join(dir, 'program.md'),
    '# Directions\nPrefer tree ensembles; keep every run under a minute. Explain each change in one sentence.\n',
  );
  writeFileSync(join(dir, 'ratchet.yaml'), `${readFileSync(join(dir, 'ratchet.yaml'), 'utf8')}${yaml}\n`);
  await initProject(dir);
  return dir;
}

/** The experiments and events of a run (read-only). */
export function journalOf(dir: string, runId: string): { exps: ExperimentRecord[]; events: EventRecord[] } {
  const j = Journal.open(dir, { readonly: true });
  try {
    return { exps: j.listExperiments(runId), events: j.listEvents({ runId }) };
  } finally {
    j.close();
  }
}

/** The call folders the command proposer wrote for a run (briefs, answers, logs), oldest first. */
export function callDirs(dir: string, runId: string): string[] {
  const root = join(dir, '.ratchet', 'proposers', runId, 'calls');
  return readdirSync(root)
    .sort()
    .map((n) => join(root, n));
}

/** A chat request as the stand-in server saw it. */
export interface SeenRequest {
  headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON request
  body: any;
}

/** What a scripted policy answers: tool calls or content, and the usage to report. */
export interface PolicyAnswer {
  content?: string;
  toolCalls?: { name: string; args: Record<string, unknown> }[];
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Reply with this HTTP status instead (an error body). */
  status?: number;
}

/** A stand-in OpenAI-compatible chat server on loopback, answering from a scripted policy. */
export interface StandInServer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** Start a stand-in `/v1/chat/completions` server on 127.0.0.1 (a random port). */
export async function startChatServer(
  policy: (req: SeenRequest, n: number) => PolicyAnswer,
): Promise<StandInServer> {
  const requests: SeenRequest[] = [];
  let calls = 0;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end('{"error":"not found"}');
        return;
      }
      const seen: SeenRequest = { headers: req.headers, body: JSON.parse(raw) };
      requests.push(seen);
      const a = policy(seen, calls++);
      if (a.status) {
        res
          .writeHead(a.status, { 'content-type': 'application/json' })
          .end('{"error":{"message":"scripted error"}}');
        return;
      }
      const message: Record<string, unknown> = { role: 'assistant', content: a.content ?? null };
      if (a.toolCalls?.length) {
        message['tool_calls'] = a.toolCalls.map((t, i) => ({
          id: `call_${calls}_${i}`,
          type: 'function',
          function: { name: t.name, arguments: JSON.stringify(t.args) },
        }));
      }
      const usage = a.usage ?? { prompt_tokens: 1000, completion_tokens: 100 };
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: `chatcmpl-${calls}`,
          object: 'chat.completion',
          model: seen.body.model,
          choices: [{ index: 0, message, finish_reason: a.toolCalls?.length ? 'tool_calls' : 'stop' }],
          usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The tool results (parsed) of a chat request's messages, in order. */
// biome-ignore lint/suspicious/noExplicitAny: parsed tool results
export function toolResults(req: SeenRequest): any[] {
  return (req.body.messages as { role: string; content: string }[])
    .filter((m) => m.role === 'tool')
    .map((m) => JSON.parse(m.content));
}

/** Params files the stand-in models write: one per model family. */
export const PARAMS = {
  hgb: 'model: hist_gradient_boosting\nhist_gradient_boosting:\n  learning_rate: 0.08\n  max_iter: 150\n  max_leaf_nodes: 31\nscale_numeric: true\ndrop_columns: [id]\ncategorical_columns: []\n',
  rf: 'model: random_forest\nrandom_forest:\n  n_estimators: 150\n  max_depth: 10\n  min_samples_leaf: 5\nscale_numeric: true\ndrop_columns: [id]\ncategorical_columns: []\n',
  lr: 'model: logistic_regression\nlogistic_regression:\n  C: 0.05\n  max_iter: 2000\nscale_numeric: true\ndrop_columns: [id]\ncategorical_columns: []\n',
  et: 'model: extra_trees\nextra_trees:\n  n_estimators: 150\n  max_depth: 12\n  min_samples_leaf: 3\nscale_numeric: true\ndrop_columns: [id]\ncategorical_columns: []\n',
} as const;

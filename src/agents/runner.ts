/**
 * Running a CLI coding agent (Claude Code, Codex, aider, a script) in the sandbox: the worktree writable at
 * /workspace (read-only when it only has to conclude), its `.git` pointer read-only, the brief read-only at
 * /brief, the answer folder writable at /output, the splits' features and the raw traces read-only, the vault,
 * the raw data file and the journal absent (even inside a folder the contract mounts), the network only when
 * the contract says so, and the contract's time and memory caps.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONTRACT_FILE, type Contract } from '../contract/load.js';
import { SPLITS_DIR } from '../contract/splits.js';
import { DATA_DIR, VAULT_DIR } from '../data/ingest.js';
import { agentDecoys } from '../guardrails/canary.js';
import { JOURNAL_FILE } from '../journal/store.js';
import { RUNS_DIR } from '../loop/paths.js';
import { type PythonRuntime, runSandboxed, type SandboxResult } from '../sandbox/index.js';
import { RatchetError } from '../util/errors.js';
import type { AgentSettings } from './settings.js';
import { parseReportedUsage, type Usage, usageFromAgentOutput } from './usage.js';

/** Where things appear inside the agent's sandbox. */
export const AGENT_PATHS = {
  workspace: '/workspace',
  brief: '/brief',
  answer: '/output',
  traces: '/traces',
  data: '/data',
} as const;

/** System folders already bound read-only in every sandbox (a mount inside them is skipped). */
const SYSTEM_TREES = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];

/** Largest answer file read, bytes. */
const MAX_ANSWER_BYTES = 256 * 1024;

/** What an agent answered (every field optional: the rules decide what is missing). */
export interface AgentAnswer {
  hypothesis?: string;
  conclusion?: string;
  previousConclusion?: string;
  /** What the call used, from the answer or the agent's own JSON output. */
  usage: Usage | null;
  /** Problems reading the answer (a bad answer.json...), for the agent's next brief. */
  problems: string[];
}

function readSmall(path: string): string | null {
  if (!existsSync(path)) return null;
  const st = lstatSync(path);
  if (!st.isFile() || st.size > MAX_ANSWER_BYTES) return null;
  return readFileSync(path, 'utf8');
}

/**
 * Read an agent's answer folder: `answer.json` ({hypothesis, conclusion, previous_conclusion, usage}) or the
 * plain-text files hypothesis.md|txt, conclusion.md|txt, previous_conclusion.md|txt. Symlinks and files over
 * 256 KiB are ignored.
 */
export function readAnswer(dir: string, stdout = ''): AgentAnswer {
  const problems: string[] = [];
  let json: Record<string, unknown> = {};
  const raw = readSmall(join(dir, 'answer.json'));
  if (raw !== null) {
    try {
      const v = JSON.parse(raw) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
      else problems.push('answer.json is not a JSON object');
    } catch (e) {
      problems.push(`answer.json is not valid JSON: ${(e as Error).message}`);
    }
  }
  const text = (key: string, files: string[]): string | undefined => {
    const v = json[key];
    if (typeof v === 'string' && v.trim()) return v.trim();
    for (const f of files) {
      const t = readSmall(join(dir, f));
      if (t?.trim()) return t.trim();
    }
    return undefined;
  };
  const out: AgentAnswer = {
    usage: parseReportedUsage(json['usage']) ?? usageFromAgentOutput(stdout),
    problems,
  };
  const h = text('hypothesis', ['hypothesis.md', 'hypothesis.txt']);
  const c = text('conclusion', ['conclusion.md', 'conclusion.txt']);
  const p = text('previous_conclusion', ['previous_conclusion.md', 'previous_conclusion.txt']);
  if (h !== undefined) out.hypothesis = h;
  if (c !== undefined) out.conclusion = c;
  if (p !== undefined) out.previousConclusion = p;
  return out;
}

/** Private prediction files under the traces folder (hidden from agents: nobody needs them to learn). */
function privateTraceFiles(runsDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 3) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.isFile() && /private/i.test(e.name)) out.push(p);
    }
  };
  walk(runsDir, 0);
  return out;
}

/** One agent call. */
export interface AgentCall {
  mode: 'propose' | 'conclude';
  contract: Contract;
  settings: AgentSettings;
  python: PythonRuntime;
  worktree: string;
  /** Folder holding the brief (mounted read-only at /brief). */
  briefDir: string;
  /** Empty folder for the answer (mounted read-write at /output). */
  answerDir: string;
  /** Files receiving the agent's stdout and stderr. */
  stdoutPath: string;
  stderrPath: string;
  signal?: AbortSignal;
}

/** The result of an agent call. */
export interface AgentRun {
  sandbox: SandboxResult;
  answer: AgentAnswer;
  stdout: string;
  stderr: string;
}

/**
 * Run the contract's agent command once in the sandbox and read its answer.
 * @throws RatchetError when `agent.command` is missing or a mount does not exist (bad contract)
 */
export async function runAgent(call: AgentCall): Promise<AgentRun> {
  const { contract, settings } = call;
  if (!settings.command) {
    throw new RatchetError('the command proposer needs the agent command', {
      file: CONTRACT_FILE,
      field: 'agent.command',
      hint: 'add agent: { command: \'claude -p "$(cat "$RATCHET_BRIEF")" --output-format json --dangerously-skip-permissions\', network: true, env: [ANTHROPIC_API_KEY] }',
    });
  }
  const project = contract.projectDir;
  const readOnly: { host: string; target: string }[] = [{ host: call.briefDir, target: AGENT_PATHS.brief }];
  const gitFile = join(call.worktree, '.git');
  if (existsSync(gitFile)) readOnly.push({ host: gitFile, target: `${AGENT_PATHS.workspace}/.git` });
  const env: Record<string, string> = {
    RATCHET_MODE: call.mode,
    RATCHET_BRIEF: `${AGENT_PATHS.brief}/BRIEF.md`,
    RATCHET_BRIEF_DIR: AGENT_PATHS.brief,
    RATCHET_ANSWER_DIR: AGENT_PATHS.answer,
    RATCHET_WORKSPACE: AGENT_PATHS.workspace,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
  };
  for (const f of ['train.csv', 'public.csv', 'private.csv']) {
    const host = join(project, DATA_DIR, f);
    if (!existsSync(host)) continue;
    readOnly.push({ host, target: `${AGENT_PATHS.data}/${f}` });
    env[`RATCHET_${f.split('.')[0]!.toUpperCase()}`] = `${AGENT_PATHS.data}/${f}`;
  }
  readOnly.push(...(await agentDecoys(contract))); // canaries: decoy holdout labels at /data/.vault
  const runsDir = join(project, RUNS_DIR);
  if (existsSync(runsDir)) {
    readOnly.push({ host: runsDir, target: AGENT_PATHS.traces });
    env['RATCHET_TRACES'] = AGENT_PATHS.traces;
  }
  for (const [i, m] of settings.mounts.entries()) {
    if (!existsSync(m)) {
      throw new RatchetError(`agent mount ${m} does not exist`, {
        file: CONTRACT_FILE,
        field: `agent.mounts.${i}`,
        hint: 'give an existing absolute folder (e.g. where the agent CLI is installed) or remove it',
      });
    }
    if (SYSTEM_TREES.some((t) => m === t || m.startsWith(`${t}/`))) continue;
    readOnly.push({ host: m, target: m });
  }
  for (const name of settings.env) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  const hidden = [
    resolve(project, contract.data.source), // the raw data: every label, holdouts included
    join(project, VAULT_DIR),
    join(project, SPLITS_DIR), // earlier splits' vaults
    join(project, JOURNAL_FILE),
    join(project, `${JOURNAL_FILE}-wal`),
    join(project, `${JOURNAL_FILE}-shm`),
    ...privateTraceFiles(runsDir),
  ];
  const sandbox = await runSandboxed({
    argv: ['/bin/sh', '-c', settings.command],
    workdir: call.worktree,
    workdirWritable: call.mode === 'propose',
    readOnly,
    outputDir: call.answerDir,
    env,
    python: call.python,
    timeoutMs: settings.timeoutMs,
    memoryBytes: settings.memoryBytes,
    maxOutputBytes: 64 * 1024 * 1024,
    network: settings.network,
    stdoutPath: call.stdoutPath,
    stderrPath: call.stderrPath,
    hiddenPaths: hidden.filter((p) => existsSync(p)),
    ...(call.signal ? { signal: call.signal } : {}),
  });
  const read = (p: string) => (existsSync(p) && statSync(p).isFile() ? readFileSync(p, 'utf8') : '');
  const stdout = read(call.stdoutPath);
  const stderr = read(call.stderrPath);
  return { sandbox, answer: readAnswer(call.answerDir, stdout), stdout, stderr };
}

/**
 * One experiment's model session (docs/ARCHITECTURE.md, "Harness tasks"): the host proxy on a private Unix socket,
 * and what the sandbox needs to reach it: the socket and the forwarder (python/model_shim.py) bound read-only, the
 * forwarder started before the harness command, and `OPENAI_BASE_URL` pointing at it. The API key is read from the
 * host's environment by the proxy alone; the sandbox gets a placeholder.
 */

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { writeFileAtomic } from '../util/fs.js';
import { packageDir } from '../util/paths.js';
import { parseDuration } from '../util/units.js';
import { type Ledger, startProxy } from './proxy.js';

/** The run folder's file with the proxy's counts (host side). */
export const LEDGER_FILE = 'model_ledger.json';
/** The run folder's raw model trace (every request and response). */
export const MODEL_TRACE_FILE = 'model_trace.jsonl';
/** The project folder of the response cache. */
export const MODEL_CACHE_DIR = '.ratchet/model-cache';
/** What the sandbox's `OPENAI_API_KEY` holds: a placeholder, never the key. */
export const PLACEHOLDER_KEY = 'ratchet-proxy-holds-the-key';
/** The forwarder's port inside the sandbox (its own loopback: no clash between sandboxes). */
export const SANDBOX_MODEL_PORT = 18080;

/** A started session. */
export interface ModelSession {
  /** Host path of the proxy's socket. */
  socketPath: string;
  /** Stop the proxy, write the ledger into the run folder, remove the socket's folder. */
  close(): Promise<Ledger>;
}

/**
 * Start the model proxy of one run of a harness task.
 * @param runDir the experiment's (or baseline run's) folder: the trace and the ledger go there
 * @param cache `fresh`: the model answers every request (the answers still fill the cache); for noise runs
 * @throws Error when the socket cannot be created
 */
export async function startModelSession(
  contract: Contract,
  runDir: string,
  cache: 'replay' | 'fresh' = 'replay',
): Promise<ModelSession> {
  const h = contract.harness!;
  // A short private folder for the socket: sun_path holds 108 bytes, and a project path can be longer.
  const dir = mkdtempSync(join(tmpdir(), 'rtx-'));
  chmodSync(dir, 0o700);
  const socketPath = join(dir, 'm.sock');
  const proxy = await startProxy({
    socketPath,
    endpoint: h.endpoint,
    model: h.model,
    apiKey: process.env[h.key_env] || null,
    prices: h.prices,
    caps: h.caps,
    cacheDir: h.cache ? join(contract.projectDir, MODEL_CACHE_DIR) : null,
    cacheRead: cache === 'replay',
    timeoutMs: parseDuration(h.request_timeout),
    tracePath: join(runDir, MODEL_TRACE_FILE),
  });
  return {
    socketPath,
    close: async () => {
      const ledger = await proxy.close();
      writeFileAtomic(join(runDir, LEDGER_FILE), `${JSON.stringify(ledger, null, 2)}\n`);
      rmSync(dir, { recursive: true, force: true });
      return ledger;
    },
  };
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * What a harness run's sandbox spec adds: the binds (socket and forwarder, read-only), the environment, and the
 * wrapper that starts the forwarder and waits (≤ 10 s) until it listens before the harness command runs.
 * @param socket the proxy's host socket, or undefined when no session was started (an executor other than local)
 * @throws Error when there is no session: the proxy listens on this machine, so only the local executor runs a harness
 */
export function harnessSandbox(
  contract: Contract,
  socket: string | undefined,
  unsafe: boolean,
): {
  binds: { host: string; target: string }[];
  env: Record<string, string>;
  wrap: (command: string) => string;
} {
  if (!socket)
    throw new Error(
      'a harness task runs on the local executor only: its model proxy listens on this machine (executor.kind: local)',
    );
  const shimHost = join(packageDir(), 'python', 'model_shim.py');
  const inside = unsafe
    ? { socket, shim: shimHost, ready: `${socket}.ready`, port: 20000 + Math.floor(Math.random() * 40000) }
    : {
        socket: '/ratchet/model.sock',
        shim: '/ratchet/model_shim.py',
        ready: '/tmp/.ratchet-model-ready',
        port: SANDBOX_MODEL_PORT,
      };
  return {
    binds: unsafe
      ? []
      : [
          { host: socket, target: inside.socket },
          { host: shimHost, target: inside.shim },
        ],
    env: {
      OPENAI_BASE_URL: `http://127.0.0.1:${inside.port}/v1`,
      OPENAI_API_KEY: PLACEHOLDER_KEY,
      RATCHET_MODEL: contract.harness!.model,
      RATCHET_MODEL_SOCKET: inside.socket,
    },
    wrap: (command) =>
      `python -I ${quote(inside.shim)} ${quote(inside.socket)} ${inside.port} ${quote(inside.ready)} & ` +
      `n=0; while [ ! -e ${quote(inside.ready)} ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; ${command}`,
  };
}

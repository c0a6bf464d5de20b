import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, type CliResult, ROOT } from '../helpers/project.js';

/** The MLflow server's venv (see scripts/setup.sh --with-mlflow). */
export const MLFLOW_BIN = join(ROOT, '.venv-mlflow', 'bin', 'mlflow');

/** A running MLflow tracking server. */
export interface MlflowServer {
  uri: string;
  stop(): Promise<void>;
}

/** A free TCP port on the loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function healthy(uri: string): Promise<boolean> {
  try {
    const r = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok;
  } catch {
    return false;
  }
}

/**
 * The MLflow server the tests use: `$MLFLOW_TEST_URI` (started by `.ci/run`) when set, else a fresh
 * `mlflow server` from `.venv-mlflow` on a free loopback port with a temporary SQLite store and proxied
 * artifacts (never a skip: a missing MLflow fails the test with the fix).
 */
export async function mlflowServer(): Promise<MlflowServer> {
  const given = process.env['MLFLOW_TEST_URI'];
  if (given) {
    if (!(await healthy(given))) throw new Error(`MLFLOW_TEST_URI=${given} does not answer /health`);
    return { uri: given.replace(/\/+$/, ''), stop: async () => {} };
  }
  if (!existsSync(MLFLOW_BIN))
    throw new Error(
      `no MLflow at ${MLFLOW_BIN}: run \`bash scripts/setup.sh --with-mlflow\` (or set MLFLOW_TEST_URI)`,
    );
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-mlflow-'));
  const child: ChildProcess = spawn(
    MLFLOW_BIN,
    [
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--workers',
      '1',
      '--backend-store-uri',
      `sqlite:///${join(dir, 'mlflow.db')}`,
      '--serve-artifacts',
      '--artifacts-destination',
      join(dir, 'artifacts'),
    ],
    {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group: stop() ends the server and every worker it forked
      env: { ...process.env, MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const uri = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  while (!(await healthy(uri))) {
    if (child.exitCode !== null) throw new Error(`mlflow server exited (${child.exitCode}): ${stderr}`);
    if (Date.now() - t0 > 120_000) {
      process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`mlflow server did not answer within 120 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    uri,
    stop: async () => {
      const group = (sig: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          // already gone
        }
      };
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        group('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      group('SIGKILL'); // workers that outlive the main process
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP server that accepts connections and never answers: what a hung MLflow looks like. */
export async function hangingServer(): Promise<{
  uri: string;
  hits: () => number;
  stop: () => Promise<void>;
}> {
  let hits = 0;
  const server: Server = createServer(() => {
    hits++; // never respond
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    uri: `http://127.0.0.1:${port}`,
    hits: () => hits,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Run the compiled CLI without blocking the test's event loop (unlike `cli`, so servers living in the test
 * process keep answering), with extra environment variables.
 */
export function runCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  onStdout?: (soFar: string) => void,
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    onStdout?.(stdout);
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

/**
 * A TCP-level stand-in for a tracking server that goes away and comes back: an HTTP proxy to `target` on a
 * fixed loopback port that listens only while "up" (down = connection refused, like a stopped server).
 */
export async function switchableProxy(target: string): Promise<{
  uri: string;
  up: () => Promise<void>;
  down: () => Promise<void>;
}> {
  const t = new URL(target);
  const port = await freePort();
  let server: Server | null = null;
  const make = () =>
    createServer((req, res) => {
      const fwd = request(
        { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    });
  return {
    uri: `http://127.0.0.1:${port}`,
    up: async () => {
      if (server) return;
      server = make();
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));
    },
    down: async () => {
      if (!server) return;
      const s = server;
      server = null;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

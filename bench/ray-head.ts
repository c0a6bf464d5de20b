/**
 * A Ray head on the loopback for the Ray executor's tests and benchmark (test/executors/ray.test.ts, bench/ray.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { packageDir } from '../src/util/paths.js';

/** The Ray head's venv (see scripts/setup.sh --with-ray). */
export const RAY_BIN = join(packageDir(), '.venv-ray', 'bin', 'ray');

/** A free TCP port on the loopback (closed again: the caller binds it next). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running Ray head: its dashboard's address (the Jobs REST API) and its auth token ('' when auth is off). */
export interface RayHead {
  address: string;
  token: string;
  stop(): Promise<void>;
}

/** GET a Jobs API route with the head's token (GETs are fine through fetch; see src/executors/ray-client.ts). */
export async function rayGet<T>(head: { address: string; token: string }, path: string): Promise<T> {
  const r = await fetch(`${head.address}${path}`, {
    headers: head.token ? { Authorization: `Bearer ${head.token}` } : {},
    signal: AbortSignal.timeout(10_000),
  });
  if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}: ${await r.text()}`);
  return (await r.json()) as T;
}

async function answers(address: string, token: string): Promise<boolean> {
  try {
    await rayGet({ address, token }, '/api/version');
    return true;
  } catch {
    return false;
  }
}

/** Pids whose session id is `sid` (a head started with setsid, and everything it started that kept its session). */
function sessionPids(sid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * The Ray head the tests use: `$RAY_TEST_ADDRESS` (started by `.ci/run`, its token in `$RAY_TEST_TOKEN`) when
 * set, else a fresh head from `.venv-ray` on free loopback ports with token auth and a private temp folder (never
 * a skip: a missing Ray fails the test with the fix).
 */
export async function rayHead(): Promise<RayHead> {
  const given = process.env['RAY_TEST_ADDRESS'];
  if (given) {
    const token = process.env['RAY_TEST_TOKEN'] ?? '';
    const address = given.replace(/\/+$/, '');
    if (!(await answers(address, token)))
      throw new Error(`RAY_TEST_ADDRESS=${given} does not answer /api/version (with RAY_TEST_TOKEN)`);
    return { address, token, stop: async () => {} };
  }
  if (!existsSync(RAY_BIN))
    throw new Error(
      `no Ray at ${RAY_BIN}: run \`bash scripts/setup.sh --with-ray\` (or set RAY_TEST_ADDRESS and RAY_TEST_TOKEN)`,
    );
  const token = randomBytes(24).toString('hex');
  const dir = mkdtempSync('/tmp/ratchet-ray-');
  const [gcs, dashboard, client, agent, agentGrpc, metrics, runtimeEnv, nodeManager, objectManager] =
    await Promise.all(Array.from({ length: 9 }, () => freePort()));
  const child: ChildProcess = spawn(
    RAY_BIN,
    [
      'start',
      '--head',
      '--block',
      '--node-ip-address=127.0.0.1',
      `--port=${gcs}`,
      '--dashboard-host=127.0.0.1',
      `--dashboard-port=${dashboard}`,
      `--ray-client-server-port=${client}`,
      `--dashboard-agent-listen-port=${agent}`,
      `--dashboard-agent-grpc-port=${agentGrpc}`,
      `--metrics-export-port=${metrics}`,
      `--runtime-env-agent-port=${runtimeEnv}`,
      `--node-manager-port=${nodeManager}`,
      `--object-manager-port=${objectManager}`,
      '--num-cpus=2',
      '--num-gpus=1', // GPU jobs' tests on a machine without GPUs (stand-in device nodes)
      '--object-store-memory=200000000',
      '--disable-usage-stats',
      `--temp-dir=${dir}`,
    ],
    {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own session: stop() ends the head and every process it started
      env: { ...process.env, RAY_AUTH_MODE: 'token', RAY_AUTH_TOKEN: token },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const address = `http://127.0.0.1:${dashboard}`;
  const stop = async () => {
    const kill = (sig: NodeJS.Signals) => {
      for (const pid of sessionPids(child.pid!)) {
        try {
          process.kill(pid, sig);
        } catch {
          // gone
        }
      }
    };
    kill('SIGTERM');
    for (let i = 0; i < 50 && sessionPids(child.pid!).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  while (!(await answers(address, token))) {
    if (child.exitCode !== null) throw new Error(`ray start exited (${child.exitCode}): ${stderr}`);
    if (Date.now() - t0 > 120_000) {
      await stop();
      throw new Error(`the Ray head did not answer within 120 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { address, token, stop };
}

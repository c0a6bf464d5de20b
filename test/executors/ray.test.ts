import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RayHead, rayGet, rayHead } from '../../bench/ray-head.js';
import { initProject } from '../../src/contract/init.js';
import { RayExecutor, rayConfig } from '../../src/executors/ray.js';
import { experimentDir } from '../../src/loop/paths.js';
import { preflight } from '../../src/loop/preflight.js';
import { makeProject } from '../helpers/project.js';
import { predictingScript } from '../helpers/scripted.js';
import { runCli } from '../tracking/server.js';

/**
 * The Ray executor (src/executors/) against a real Ray head on the loopback: `$RAY_TEST_ADDRESS` from `.ci/run`,
 * or one these tests start from `.venv-ray` (scripts/setup.sh --with-ray). No mocks: jobs are submitted through
 * the Jobs REST API, run under bubblewrap on the worker, and their state is checked through the same API.
 */

let head: RayHead;
beforeAll(async () => {
  head = await rayHead();
}, 180_000);
afterAll(async () => {
  await head?.stop();
});

/** Makes this file's project names (they name the jobs) unique on a head that outlives it (CI's). */
const TAG = Math.random().toString(36).slice(2, 8);
/** A contract transform: a unique project name and the test head as the executor. */
const onRay =
  (name: string, extra = '') =>
  (yaml: string) =>
    `${yaml.replace(/^name: .*$/m, `name: ${name}-${TAG}`)}\nexecutor:\n  kind: ray\n  address: ${head.address}\n  token_env: RAY_TEST_TOKEN\n${extra}`;
const env = () => ({ RAY_TEST_TOKEN: head.token });

interface Job {
  submission_id: string;
  status: string;
  metadata?: Record<string, string> | null;
}
const jobsOf = async (name: string) =>
  (await rayGet<Job[]>(head, '/api/jobs/')).filter((j) =>
    j.submission_id?.startsWith(`ratchet-${name}-${TAG}-`),
  );

interface LogEntry {
  id: number;
  run: string;
  seq: number;
  decision: string;
  reason: string;
  score: number | null;
  duration_s: number;
}
async function experiments(dir: string, run: string): Promise<LogEntry[]> {
  const r = await runCli(['log', '--dir', dir, '--json'], dir);
  return (JSON.parse(r.stdout) as LogEntry[]).filter((e) => e.run === run);
}

/** A train.py that prints and then sleeps (until Ratchet stops it). */
const SLOW = `import time
print("[slow] started", flush=True)
for _ in range(3000):
    time.sleep(0.1)
`;

describe('the Ray executor', () => {
  let loopDir = '';
  let localBaseline = 0;

  it('runs the experiment loop on the cluster and scores the baseline exactly as the local executor does', async () => {
    loopDir = await makeProject({ rows: 1500, contract: onRay('ray-loop') });
    const local = await runCli(
      ['run', '--dir', loopDir, '--executor', 'local', '--experiments', '1', '--run', 'local1', '--json'],
      loopDir,
      env(),
    );
    expect(local.code, local.stderr).toBe(0);
    localBaseline = JSON.parse(local.stdout).baselineScore;
    expect(localBaseline).toBeGreaterThan(0.5);

    const ray = await runCli(
      ['run', '--dir', loopDir, '--executor', 'ray', '--experiments', '2', '--run', 'ray1', '--json'],
      loopDir,
      env(),
    );
    expect(ray.code, ray.stderr).toBe(0);
    const s = JSON.parse(ray.stdout);
    expect(s.status).toBe('finished');
    expect(s.experiments).toBe(2);
    expect(s.baselineScore).toBe(localBaseline);

    const exps = await experiments(loopDir, 'ray1');
    expect(exps.map((e) => e.seq)).toEqual([1, 2]);
    expect(exps[0]!.decision).toBe('kept');
    expect(['kept', 'reverted']).toContain(exps[1]!.decision);
    // The command's output came back through the job's log, and the result names the Ray job.
    const trace = experimentDir(loopDir, exps[0]!.id);
    expect(readFileSync(join(trace, 'stdout.log'), 'utf8')).toMatch(/\[train\] wrote \/output\/public/);
    const sandbox = JSON.parse(readFileSync(join(trace, 'sandbox.json'), 'utf8'));
    expect(sandbox.status).toBe('ok');
    expect(sandbox.sandboxed).toBe(true);
    expect(sandbox.message).toMatch(/Ray job ratchet-ray-loop-\w+-e\d+-s\d+-/);
    expect(
      existsSync(join(trace, 'output', 'public.parquet')) || existsSync(join(trace, 'output', 'public.csv')),
    ).toBe(true);
    // Through the REST API: the probe and both experiments, all succeeded.
    const jobs = await jobsOf('ray-loop');
    expect(jobs.filter((j) => j.metadata?.['ratchet'] === 'experiment').map((j) => j.status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    expect(jobs.filter((j) => j.metadata?.['ratchet'] === 'probe').map((j) => j.status)).toEqual([
      'SUCCEEDED',
    ]);
  });

  it('ratchet check runs the probe job, then the baseline on the cluster; a worker without bubblewrap is refused', async () => {
    const r = await runCli(
      ['check', '--dir', loopDir, '--runs', '1', '--seeds', 'same', '--json'],
      loopDir,
      env(),
    );
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.executor.kind).toBe('ray');
    expect(c.executor.probe).toMatch(/proved the cage/);
    expect(c.mean).toBe(localBaseline);

    const broken = await makeProject({
      rows: 600,
      contract: onRay('ray-nobwrap', '  bwrap: /nonexistent/bwrap\n'),
    });
    const refused = await runCli(['check', '--dir', broken, '--runs', '1'], broken, env());
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/executor\.kind: the Ray workers cannot sandbox experiments/);
    expect(refused.stderr).toMatch(/bubblewrap \(\/nonexistent\/bwrap\) is not installed on the Ray worker/);
    expect(refused.stderr).toMatch(/fix: install bubblewrap on every Ray worker node/);
    const run = await runCli(['run', '--dir', broken, '--experiments', '1', '--run', 'b1'], broken, env());
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/the Ray workers cannot sandbox experiments/);
    expect(await experiments(broken, 'b1')).toEqual([]);
    // No experiment job was ever submitted for it: only the probe.
    expect((await jobsOf('ray-nobwrap')).every((j) => j.metadata?.['ratchet'] === 'probe')).toBe(true);
  });

  it('the kill switch stops the remote job within seconds, and the timeout stops it too (STOPPED through the REST API)', async () => {
    const dir = await makeProject({ rows: 600, trainPy: SLOW, contract: onRay('ray-stop') });
    const running = runCli(['run', '--dir', dir, '--experiments', '1', '--run', 's1', '--json'], dir, env());
    let job: Job | undefined;
    for (let i = 0; i < 240 && !job; i++) {
      await new Promise((r) => setTimeout(r, 500));
      job = (await jobsOf('ray-stop')).find(
        (j) => j.metadata?.['ratchet'] === 'experiment' && j.status === 'RUNNING',
      );
    }
    expect(job, 'the experiment job never ran').toBeDefined();
    const t0 = Date.now();
    const stop = await runCli(['stop', '--dir', dir], dir);
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    let status = '';
    while (Date.now() - t0 < 20_000) {
      status = (await rayGet<Job>(head, `/api/jobs/${job!.submission_id}`)).status;
      if (status === 'STOPPED') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const stoppedAfterMs = Date.now() - t0;
    expect(status).toBe('STOPPED');
    expect(stoppedAfterMs).toBeLessThan(10_000);
    const s = JSON.parse((await running).stdout);
    expect(s.status).toBe('stopped');

    // The timeout: the job is stopped after 5 s of running, and the experiment records it.
    const t1 = Date.now();
    const timed = await runCli(
      ['run', '--dir', dir, '--experiments', '1', '--run', 't1', '--timeout', '5s', '--json'],
      dir,
      env(),
    );
    expect(Date.now() - t1).toBeLessThan(60_000);
    const exps = await experiments(dir, 't1');
    expect(exps.map((e) => e.decision)).toEqual(['timeout']);
    expect(exps[0]!.reason).toMatch(
      /killed after 5 s wall-clock timeout \(Ray job ratchet-ray-stop-\w+-e\d+-s\d+-\w+ on .+ stopped/,
    );
    expect(JSON.parse(timed.stdout).status).toBe('failed');
    const jobs = (await jobsOf('ray-stop')).filter((j) => j.metadata?.['ratchet'] === 'experiment');
    expect(jobs.map((j) => j.status)).toEqual(['STOPPED', 'STOPPED']);
  });

  it('a job cannot read outside its sandbox or reach the network; the experiment records the attempt', async () => {
    const dashboard = new URL(head.address);
    const attack = (vault: string) => `import os, socket, sys
for p in ["/etc/shadow", ${JSON.stringify(vault)}, "/root/.ray/auth_token"]:
    try:
        data = open(p, "rb").read(64)
        print("LEAKED read", p, data[:16], flush=True)
    except Exception as e:
        print("blocked read", p, type(e).__name__, flush=True)
for host, port in [(${JSON.stringify(dashboard.hostname)}, ${dashboard.port}), ("1.1.1.1", 443)]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("LEAKED connect", host, port, flush=True)
    except Exception as e:
        print("blocked connect", host, port, type(e).__name__, flush=True)
leaked = [k for k in os.environ if k.startswith("RAY") or "TOKEN" in k]
print("LEAKED env" if leaked else "blocked env", leaked, flush=True)
# The interpreter is bound at its own path: when the project lives under /tmp, so does its venv.
mine = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.executable)]
print("tmp holds", [n for n in os.listdir("/tmp") if not any(m.startswith("/tmp/" + n + "/") for m in mine)], flush=True)
sys.exit(3)
`;
    // The attack names the vault's real path on this machine (the worker is this machine too).
    const dir = await makeProject({ rows: 600, noInit: true });
    const vaultFile = join(dir, '.ratchet', 'vault', 'public.parquet');
    writeFileSync(join(dir, 'train.py'), attack(vaultFile));
    writeFileSync(
      join(dir, 'ratchet.yaml'),
      onRay('ray-attack')(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')),
    );
    await initProject(dir);
    expect(existsSync(vaultFile)).toBe(true);

    const r = await runCli(['run', '--dir', dir, '--experiments', '1', '--run', 'a1', '--json'], dir, env());
    expect(JSON.parse(r.stdout).status).toBe('failed');
    const exps = await experiments(dir, 'a1');
    expect(exps.map((e) => e.decision)).toEqual(['crashed']);
    expect(exps[0]!.reason).toMatch(/exited with code 3/);
    const out = readFileSync(join(experimentDir(dir, exps[0]!.id), 'stdout.log'), 'utf8');
    expect(out).not.toMatch(/LEAKED/);
    expect(out).toContain('blocked read /etc/shadow');
    expect(out).toContain(`blocked read ${vaultFile}`);
    expect(out).toContain('blocked read /root/.ray/auth_token');
    expect(out).toContain(`blocked connect ${dashboard.hostname} ${dashboard.port}`);
    expect(out).toContain('blocked connect 1.1.1.1 443');
    expect(out).toContain('blocked env []');
    expect(out).toContain('tmp holds []');
    expect(out).not.toContain(head.token);
  });

  it('a job that asks for a GPU reserves it (entrypoint_num_gpus) and its sandbox sees the node Ray assigned, nothing else of /dev', async () => {
    // No GPU on this machine: the head advertises one (`--num-gpus 1`, as .ci/run and bench/ray-head.ts start it),
    // Ray sets CUDA_VISIBLE_DEVICES=0 for the job, and the entry script binds the stand-in node nvidia0 from a
    // folder the executor writes into the job's spec (a test-only option).
    const show =
      'import json\nprint("DEV=" + json.dumps(sorted(os.listdir("/dev"))))\nprint("READ=" + open("/dev/nvidia0").read())\nprint("CUDA=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))';
    const dir = await makeProject({
      rows: 400,
      trainPy: predictingScript('df["row_id"].astype(int) % 7 / 7', show),
      contract: onRay('ray-gpu'),
    });
    const ready = await preflight(dir, { unsafe: false });
    const dev = mkdtempSync(join(tmpdir(), 'ratchet-ray-dev-'));
    for (const n of ['nvidia0', 'nvidia1', 'nvidiactl', 'nvidia-uvm', 'sda'])
      writeFileSync(join(dev, n), `stand-in ${n}`);
    const runDir = join(dir, '.ratchet', 'gpu-test');
    mkdirSync(join(runDir, 'output'), { recursive: true });
    process.env['RAY_TEST_TOKEN'] = head.token;
    try {
      const contract = { ...ready.contract, resources: { gpus: 1 } };
      if (contract.executor.kind !== 'ray') throw new Error('the project is not on the Ray executor');
      const r = await new RayExecutor(contract, ready.python, rayConfig(contract.executor), 1, {
        devDir: dev,
      }).run({
        contract,
        worktree: dir,
        runDir,
        outputDir: join(runDir, 'output'),
        seed: 1,
        experimentId: 0,
        timeoutMs: 120_000,
      });
      expect(
        r.status,
        `${r.message} (without --num-gpus 1 the head assigns no GPU: .ci/run, bench/ray-head.ts)`,
      ).toBe('ok');
      const out = readFileSync(join(runDir, 'stdout.log'), 'utf8');
      const seen = JSON.parse(/DEV=(.*)/.exec(out)![1]!) as string[];
      expect(seen.filter((n) => n.startsWith('nvidia')).sort()).toEqual([
        'nvidia-uvm',
        'nvidia0',
        'nvidiactl',
      ]);
      expect(seen).not.toContain('sda');
      expect(out).toContain('READ=stand-in nvidia0');
      expect(out).toContain('CUDA=0');
      expect(existsSync(join(runDir, 'output', 'public.csv'))).toBe(true);
      const jobs = (await jobsOf('ray-gpu')).filter((j) => j.metadata?.['ratchet'] === 'experiment');
      // (The Jobs API does not list entrypoint_num_gpus; CUDA_VISIBLE_DEVICES=0 is Ray's word that it reserved one.)
      expect(jobs.map((j) => j.status)).toEqual(['SUCCEEDED']);
    } finally {
      rmSync(dev, { recursive: true, force: true });
    }
  });
});

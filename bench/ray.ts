/**
 * Benchmark of the Ray executor (docs/ARCHITECTURE.md, "Ray executor"): the same baseline training job through the
 * local executor and through the Ray executor on a Ray head started on the loopback (bench/ray-head.ts, from
 * `.venv-ray`: `bash scripts/setup.sh --with-ray`), `reps` times each, one at a time. Prints each executor's median
 * wall time per job, the Ray executor's overhead (target ≤ 1 s) and experiments per hour, and how much of that
 * overhead is Ray's own (a bare `true` job through the same Jobs API). Printed, not asserted.
 *
 * Run: `npm run bench -- ray`, or `node dist/bench/ray.js` after `npm run build`.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initProject } from '../src/contract/init.js';
import { RayExecutorSchema } from '../src/contract/schema.js';
import { executorFor } from '../src/executors/index.js';
import { RayJobsClient } from '../src/executors/ray-client.js';
import type { Executor } from '../src/loop/executor.js';
import { preflight } from '../src/loop/preflight.js';
import { packageDir } from '../src/util/paths.js';
import { rayHead } from './ray-head.js';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Time `reps` runs of the example's baseline (3,000 rows) through each executor and print the figures.
 * @throws Error when no Ray head can be started (the message says how to install one) or a run fails
 */
export async function benchRay(reps = 5): Promise<void> {
  console.log(
    '\n## Ray executor: per-experiment overhead vs the local executor (target ≤ 1 s), experiments per hour',
  );
  const head = await rayHead();
  try {
    const example = join(packageDir(), 'examples', 'gsoep-outwork');
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-ray-'));
    for (const f of ['ratchet.yaml', 'train.py', 'params.yaml', 'search_space.yaml', 'program.md'])
      copyFileSync(join(example, f), join(dir, f));
    const lines = readFileSync(join(example, 'data.csv'), 'utf8').split('\n').slice(0, 3001);
    writeFileSync(join(dir, 'data.csv'), `${lines.join('\n')}\n`);
    await initProject(dir);
    const ready = await preflight(dir, { unsafe: false });
    process.env['RATCHET_BENCH_RAY_TOKEN'] = head.token;
    const contract = {
      ...ready.contract,
      executor: RayExecutorSchema.parse({
        kind: 'ray',
        address: head.address,
        token_env: 'RATCHET_BENCH_RAY_TOKEN',
      }),
    };
    const local = executorFor(ready.contract, ready.python, false, 1, 'local');
    const ray = executorFor(contract, ready.python, false, 1, 'ray');
    const t0 = performance.now();
    const probe = await ray.prepare?.();
    console.log(
      `probe job (once per run): ${((performance.now() - t0) / 1000).toFixed(2)} s (${probe?.summary ?? ''})`,
    );
    const time = async (ex: Executor, name: string): Promise<number[]> => {
      const walls: number[] = [];
      for (let i = 0; i < reps; i++) {
        const runDir = join(dir, '.ratchet', 'bench-ray', `${name}-${i}`);
        const outputDir = join(runDir, 'output');
        mkdirSync(outputDir, { recursive: true });
        const t = performance.now();
        const r = await ex.run({
          contract: name === 'ray' ? contract : ready.contract,
          worktree: dir,
          runDir,
          outputDir,
          seed: ready.contract.split.seed + i,
          experimentId: 0,
          timeoutMs: 300_000,
        });
        if (r.status !== 'ok') throw new Error(`${name} run ${i + 1}: ${r.status}: ${r.message}`);
        walls.push(performance.now() - t);
      }
      return walls;
    };
    // Ray's own floor: a bare job (`true`, no working folder, no sandbox) through the same Jobs API, timed from
    // the submit to its end as seen by polling every 20 ms. What the Ray executor adds beyond it is Ratchet's.
    const client = new RayJobsClient({ address: head.address, token: head.token });
    const bare: number[] = [];
    for (let i = 0; i < reps; i++) {
      const id = `ratchet-bench-bare-${Date.now()}-${i}`;
      const t = performance.now();
      await client.submit({
        entrypoint: 'true',
        submission_id: id,
        runtime_env: { env_vars: {} },
        entrypoint_num_cpus: 1,
        metadata: {},
      });
      while (!['SUCCEEDED', 'FAILED', 'STOPPED'].includes((await client.job(id)).status))
        await new Promise((res) => setTimeout(res, 20));
      bare.push(performance.now() - t);
    }
    const l = await time(local, 'local');
    const r = await time(ray, 'ray');
    const ml = median(l) / 1000;
    const mr = median(r) / 1000;
    const f = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
    console.log(
      `local executor: ${f(l)} s (median ${ml.toFixed(2)} s, ${Math.round(3600 / ml)} experiments/hour)`,
    );
    console.log(
      `ray executor:   ${f(r)} s (median ${mr.toFixed(2)} s, ${Math.round(3600 / mr)} experiments/hour)`,
    );
    const mb = median(bare) / 1000;
    console.log(`overhead per experiment: ${(mr - ml).toFixed(2)} s (target ≤ 1 s)`);
    console.log(
      `  of which Ray's own floor (a bare \`true\` job through the Jobs API, submit to end): ${f(bare)} s, median ${mb.toFixed(2)} s; Ratchet's share ${(mr - ml - mb).toFixed(2)} s (packages, the entry script, the sandbox's start, the log channel)`,
    );
  } finally {
    await head.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchRay();

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalExecutor } from '../src/loop/executor.js';
import { preflight } from '../src/loop/preflight.js';
import { runOverSeeds } from '../src/loop/seeds.js';
import { makeProject } from './helpers/project.js';

/**
 * runOverSeeds (src/loop/seeds.ts): the one "run this tree over k seeds and score it" loop of the baseline, the
 * confirmation runs and the audit, through the real local executor (bubblewrap) on a real project.
 */

/** A train.py whose predictions depend on RATCHET_SEED; seed 13 crashes, seed 17 writes an invalid file. */
const TRAIN = `import os, sys, pandas as pd
seed = int(os.environ["RATCHET_SEED"])
if seed == 13:
    print("seed 13 is unlucky", file=sys.stderr)
    sys.exit(3)
out = os.environ["RATCHET_OUTPUT"]
for name, path in (("public", os.environ["RATCHET_PUBLIC"]), ("private", os.environ["RATCHET_PRIVATE"])):
    df = pd.read_csv(path, dtype={"row_id": str})
    p = ((df["row_id"].astype(int) * 7919 + seed * 101) % 1009) / 1009
    if seed == 17:
        p = p * 0 + float("nan")
    pd.DataFrame({"row_id": df["row_id"], "prediction": p}).to_csv(os.path.join(out, name + ".csv"), index=False)
`;

describe('runOverSeeds', () => {
  it('runs each seed through the executor and scores it; stops at the first run that fails, saying where', async () => {
    const dir = await makeProject({ rows: 800, trainPy: TRAIN });
    const ready = await preflight(dir, { unsafe: false });
    const executor = new LocalExecutor(ready.python);
    expect(executor.slotClass).toMatch(/^local:sandbox:1x[1-9]\d*$/);
    const base = {
      executor,
      contract: ready.contract,
      manifest: ready.manifest,
      worktree: dir,
      timeoutMs: 120_000,
      binDir: ready.python.binDir,
    };
    const seen: number[] = [];
    const ok = await runOverSeeds({
      ...base,
      seeds: [1, 2, 3],
      runDir: (i) => join(dir, '.ratchet', 'test-seeds', 'ok', String(i)),
      onRun: (r) => seen.push(r.seed),
    });
    expect(ok.failure).toBeNull();
    expect(seen).toEqual([1, 2, 3]);
    expect(ok.runs.map((r) => r.index)).toEqual([0, 1, 2]);
    const scores = ok.runs.map((r) => r.evaluation.score);
    expect(new Set(scores).size).toBe(3); // the seed reached the command
    expect(ok.runs.every((r) => r.sandbox.status === 'ok' && r.sandbox.sandboxed)).toBe(true);
    expect(existsSync(join(ok.runs[0]!.outputDir, 'public.csv'))).toBe(true);

    const crash = await runOverSeeds({
      ...base,
      seeds: [1, 13, 2],
      runDir: (i) => join(dir, '.ratchet', 'test-seeds', 'crash', String(i)),
    });
    expect(crash.runs).toHaveLength(1);
    expect(crash.failure).toMatchObject({ index: 1, seed: 13, step: 'execute' });
    expect(crash.failure!.sandbox.status).toBe('failed');
    expect(existsSync(join(dir, '.ratchet', 'test-seeds', 'crash', '2'))).toBe(false); // never started

    const invalid = await runOverSeeds({
      ...base,
      seeds: [17],
      runDir: (i) => join(dir, '.ratchet', 'test-seeds', 'invalid', String(i)),
    });
    expect(invalid.runs).toHaveLength(0);
    expect(invalid.failure).toMatchObject({ index: 0, seed: 17, step: 'evaluate' });
    expect(invalid.failure!.message).toMatch(/nan|NaN|missing|finite/i);
  }, 180_000);

  it('the kill switch stops the running job: the failure is an aborted execute', async () => {
    const slow = `import time\ntime.sleep(60)\n`;
    const dir = await makeProject({ rows: 400, trainPy: slow });
    const ready = await preflight(dir, { unsafe: false });
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 1500);
    const r = await runOverSeeds({
      executor: new LocalExecutor(ready.python),
      contract: ready.contract,
      manifest: ready.manifest,
      worktree: dir,
      timeoutMs: 120_000,
      seeds: [1, 2],
      runDir: (i) => join(dir, '.ratchet', 'test-seeds', 'stop', String(i)),
      signal: ac.signal,
    });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.failure).toMatchObject({ index: 0, step: 'execute' });
    expect(r.failure!.sandbox.status).toBe('aborted');
  }, 120_000);
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSandboxed } from '../../src/sandbox/index.js';
import { expectNoSecret, type Fixture, makeFixture, runPy } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(() => fx.cleanup());

describe('runSandboxed: normal runs', () => {
  it('runs a training-like script: reads data, imports sklearn, writes /output, stdout lands in its file', async () => {
    const result = await runSandboxed(fx.spec(['python', 'train.py']));
    const stdout = readFileSync(fx.spec([]).stdoutPath, 'utf8');
    const stderr = readFileSync(fx.spec([]).stderrPath, 'utf8');
    expect(result, stderr).toMatchObject({ status: 'ok', exitCode: 0, signal: null, sandboxed: true });
    expect(result.message).toBe('exited with code 0');
    expect(stdout).toContain('trained rows=40');
    const csv = readFileSync(join(fx.outputDir, 'public.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('id,score');
    expect(csv).toHaveLength(41);
  });

  it('reports a non-zero exit as failed with its code', async () => {
    const run = await runPy(fx, 'import sys\nprint("boom", file=sys.stderr)\nsys.exit(3)\n');
    expect(run.result).toMatchObject({ status: 'failed', exitCode: 3, signal: null });
    expect(run.result.message).toBe('exited with code 3');
    expect(run.stderr).toContain('boom');
    expectNoSecret(fx, run);
  });
});

describe('runSandboxed: common training machinery works inside', () => {
  it('multiprocessing, joblib (sklearn n_jobs=2), numpy, /tmp and /dev/shm', async () => {
    const run = await runPy(
      fx,
      `import json, multiprocessing as mp, os, tempfile
import numpy as np
from sklearn.ensemble import RandomForestClassifier
def sq(x):
    return x * x
with mp.Pool(2) as p:
    pooled = p.map(sq, range(5))
X = np.random.RandomState(0).rand(200, 3); y = (X[:, 0] > 0.5).astype(int)
rf = RandomForestClassifier(n_estimators=8, n_jobs=2, random_state=0).fit(X, y)
with tempfile.NamedTemporaryFile() as f:
    f.write(b'x')
json.dump({'pooled': pooled, 'score': rf.score(X, y), 'cpus': os.cpu_count()}, open('/output/result.json', 'w'))
`,
    );
    expect(run.result.status, run.stderr).toBe('ok');
    expect(run.seen.pooled).toEqual([0, 1, 4, 9, 16]);
    expect(run.seen.score).toBeGreaterThan(0.9);
  });
});

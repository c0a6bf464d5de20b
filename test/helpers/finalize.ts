import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initProject } from '../../src/contract/init.js';
import { runLoop } from '../../src/loop/run.js';
import { makeProject } from './project.js';
import { ScriptedProposer, type ScriptedStep } from './scripted.js';

/**
 * A deterministic scorer for `ratchet finalize`'s tests: no training, no seed, a linear score of the holdout's
 * features whose weights live in three files of the surface: `a.txt` (group A, multiplied by the factor in
 * `scale.txt`), `b.txt` (group B). With group A empty the scale changes nothing, so a change of `scale.txt` only
 * helps on top of a change of `a.txt`: a gain that does not hold alone.
 */
export const LINEAR_TRAIN_PY = `import os, numpy as np, pandas as pd

def weights(name):
    out = {}
    for line in open(name):
        line = line.split("#")[0].strip()
        if line:
            k, v = line.split()
            out[k] = float(v)
    return out

a, b = weights("a.txt"), weights("b.txt")
scale = float(open("scale.txt").read().split()[0])
out = os.environ["RATCHET_OUTPUT"]
for name, path in (("public", os.environ["RATCHET_PUBLIC"]), ("private", os.environ["RATCHET_PRIVATE"])):
    df = pd.read_csv(path, dtype={"row_id": str})
    s = (df["row_id"].astype(int) * 7919 % 1009) / 1009 * 1e-3
    for k, w in a.items():
        s = s + scale * w * df[k]
    for k, w in b.items():
        s = s + w * df[k]
    p = 1 / (1 + np.exp(-(s - s.mean())))
    pd.DataFrame({"row_id": df["row_id"], "prediction": p}).to_csv(os.path.join(out, name + ".csv"), index=False)
print("wrote predictions")
`;

export const A0 = '# group A: feature weight (scaled by scale.txt)\n';
export const B0 = '# group B: feature weight\n';

/** The changes: A and B independent, C stacked on A (the same lines), D helps only with A (another file). */
export const STEPS: Record<'A' | 'B' | 'C' | 'D', ScriptedStep> = {
  A: {
    hypothesis: 'women are more often out of work: weight female',
    files: { 'a.txt': `${A0}female 1.0\n` },
  },
  B: {
    hypothesis: 'older people are more often out of work: weight age',
    files: { 'b.txt': `${B0}age 0.03\n` },
  },
  C: {
    hypothesis: 'household income lowers the chance of being out of work',
    files: { 'a.txt': `${A0}female 1.0\nhhninc -0.3\n` },
  },
  D: { hypothesis: 'group A deserves full weight: scale 1.0', files: { 'scale.txt': '1.0\n' } },
};

/** A project scored by {@link LINEAR_TRAIN_PY}, run with the scripted steps; returns its folder and run id. */
export async function linearRun(
  steps: ScriptedStep[],
  runId: string,
  rows = 12000,
): Promise<{ dir: string; runId: string }> {
  const dir = await makeProject({
    rows,
    trainPy: LINEAR_TRAIN_PY,
    noInit: true,
    contract: (y) =>
      y.replace(
        'surface: [params.yaml, train.py]',
        'surface: [params.yaml, train.py, a.txt, b.txt, scale.txt]',
      ),
  });
  writeFileSync(join(dir, 'a.txt'), A0);
  writeFileSync(join(dir, 'b.txt'), B0);
  writeFileSync(join(dir, 'scale.txt'), '0.5\n');
  await initProject(dir);
  await runLoop({
    projectDir: dir,
    runId,
    proposer: async () => new ScriptedProposer(steps),
    maxExperiments: steps.length + 1,
    experimentTimeoutMs: 120_000,
  });
  return { dir, runId };
}

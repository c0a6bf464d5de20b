/**
 * A custom evaluator: a locked command of the contract that runs outside the sandbox, reads the run's
 * artifacts and prints a metrics JSON. A metric printed by the sandboxed code is never trusted.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initProject } from '../src/contract/init.js';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { makeProject } from './helpers/project.js';
import { ScriptedProposer } from './helpers/scripted.js';

const EVAL = `import json, os, sys
import pandas as pd
from sklearn.metrics import roc_auc_score
holdout = os.environ["RATCHET_HOLDOUT"]
pred = pd.read_parquet(os.path.join(os.environ["RATCHET_OUTPUT"], holdout + ".parquet"))
pred["row_id"] = pred["row_id"].astype(str)
labels = pd.read_parquet(os.path.join(os.environ["RATCHET_VAULT"], holdout + ".parquet"))
m = labels.merge(pred, left_on="id", right_on="row_id")
if len(m) != len(labels):
    sys.exit("predictions do not cover the holdout")
print("evaluating", len(m), "rows", file=sys.stderr)
print(json.dumps({"auc_eval": roc_auc_score(m["label"].astype(int), m["prediction"]), "rows": len(m)}))
`;

describe('custom evaluator', () => {
  it('scores experiments with the locked command, ignores what the sandbox prints, refuses edits to it', async () => {
    const dir = await makeProject({
      rows: 3000,
      noInit: true,
      contract: (y) =>
        y.replace(
          'metric:\n  primary: auroc\n  also: [average_precision, log_loss, brier, accuracy, f1]\n',
          'metric:\n  primary: auc_eval\n  direction: maximize\n',
        ) + 'evaluator:\n  command: python eval.py\n  files: [eval.py]\n  timeout: 2m\n',
    });
    writeFileSync(join(dir, 'eval.py'), EVAL);
    await initProject(dir);
    const fake = (train: string) => `print("auc_eval: 0.9999")\n${train}`;
    const lgbm =
      'model: lightgbm\nlightgbm:\n  n_estimators: 150\n  learning_rate: 0.05\n  num_leaves: 15\ndrop_columns: [id]\n';
    const { readFileSync } = await import('node:fs');
    const train = readFileSync(join(dir, 'train.py'), 'utf8').replace(
      'from __future__ import annotations\n',
      '',
    );
    const proposer = new ScriptedProposer([
      {
        hypothesis: 'lightgbm, and claim a great score',
        files: { 'params.yaml': lgbm, 'train.py': `from __future__ import annotations\n${fake(train)}` },
      },
      {
        hypothesis: 'move the goalposts',
        files: { 'eval.py': EVAL.replace('roc_auc_score(', '1 + 0 * roc_auc_score(') },
      },
    ]);
    const s = await runLoop({ projectDir: dir, proposer: async () => proposer, maxExperiments: 3 });
    const j = Journal.open(dir, { readonly: true });
    const [base, cand, cheat] = j.listExperiments(s.runId);
    j.close();
    expect(base!.metrics['auc_eval']).toBeGreaterThan(0.6);
    expect(base!.metrics['rows']).toBeGreaterThan(400);
    expect(cand!.score).toBeLessThan(0.99);
    expect(cand!.score).toBe(cand!.metrics['auc_eval']);
    expect(cand!.reason).toMatch(
      /paired bootstrap skipped: the custom evaluator gives no per-row predictions/,
    );
    expect(cheat).toMatchObject({ decision: 'rejected' });
    expect(cheat!.reason).toMatch(/contract-integrity: .*eval.py/);
  });

  it('an evaluator that fails makes the experiment invalid with its message', async () => {
    const dir = await makeProject({
      rows: 1500,
      noInit: true,
      contract: (y) =>
        y.replace(
          'metric:\n  primary: auroc\n  also: [average_precision, log_loss, brier, accuracy, f1]\n',
          'metric:\n  primary: auc_eval\n  direction: maximize\n',
        ) + 'evaluator:\n  command: python eval.py\n  files: [eval.py]\n',
    });
    writeFileSync(join(dir, 'eval.py'), 'import sys\nsys.exit("no such benchmark")\n');
    await initProject(dir);
    const s = await runLoop({
      projectDir: dir,
      proposer: async () => new ScriptedProposer([]),
      maxExperiments: 1,
    });
    expect(s.status).toBe('failed');
    expect(s.reason).toMatch(/invalid: the custom evaluator exited with code 1: no such benchmark/);
  });
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { resolvePython } from '../sandbox/python.js';
import { RatchetError } from '../util/errors.js';
import { packageDir } from '../util/paths.js';
import { DATA_DIR, type Progress, type SplitManifest } from './ingest.js';

/** Vault file (in the project's `.ratchet/vault`) of a holdout's reward-model predictions. */
export function qhatFile(split: 'public' | 'private'): string {
  return `qhat_${split}.parquet`;
}

/** What the reward-model script reports. */
export interface RewardModelFit {
  /** The model fitted: logistic (0/1 rewards), ridge, or constant (one reward value in the training logs). */
  kind: 'logistic' | 'ridge' | 'constant';
  /** Columns of its design matrix. */
  features: number;
  /** Whether numeric context x action products were included. */
  interactions: boolean;
  /** Training rows it was fitted on. */
  rows: number;
}

/**
 * Fit the reward model q(x, a) of a bandit task on the training split and write its predictions for every
 * holdout context and action into `vaultDir` (`qhat_public.parquet`, `qhat_private.parquet`: `id` and one
 * `q__<action>` column per action). It runs Ratchet's own script (python/reward_model.py) with the project's
 * Python, OUTSIDE the sandbox, at `ratchet init`: no candidate can see or influence it (docs/ARCHITECTURE.md,
 * "Tier 2: off-policy evaluation").
 * @param dataDir the folder of the split files (train.parquet, <split>_features.parquet)
 * @param vaultDir the vault folder the predictions are written into
 * @returns what was fitted, or null when `ope.reward_model` is `none`
 * @throws RatchetError when the script fails (with its last stderr lines) or the interpreter is missing
 */
export async function fitRewardModel(
  contract: Contract,
  manifest: SplitManifest,
  dataDir: string,
  vaultDir: string,
  progress: Progress,
): Promise<RewardModelFit | null> {
  const kind = contract.ope?.reward_model ?? 'auto';
  if (kind === 'none') return null;
  const py = await resolvePython({
    ...(contract.run.python ? { explicit: contract.run.python } : {}),
    projectDir: contract.projectDir,
    installDir: packageDir(),
  });
  const script = join(packageDir(), 'python', 'reward_model.py');
  if (!existsSync(script)) throw new Error(`internal: ${script} is missing from the installation`);
  progress(
    `fitting the reward model q(x, a) on the training logs (${kind}) for dm and the doubly robust estimators`,
  );
  const args = JSON.stringify({
    train: join(dataDir, 'train.parquet'),
    public: join(dataDir, 'public_features.parquet'),
    private: join(dataDir, 'private_features.parquet'),
    out_dir: vaultDir,
    id: manifest.idColumn,
    target: manifest.targetColumn,
    action: contract.data.action,
    propensity: contract.data.propensity,
    actions: manifest.classes,
    kind,
  });
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      py.executable,
      ['-I', script, args],
      {
        cwd: contract.projectDir,
        maxBuffer: 1 << 20,
        timeout: 30 * 60_000,
        env: { ...process.env, PYTHONHASHSEED: '0' },
      },
      (err, stdout, stderr) => {
        if (err) {
          const tail = String(stderr).trim().split('\n').slice(-3).join(' | ');
          reject(
            new RatchetError(`the reward model could not be fitted: ${tail || err.message}`, {
              file: `${DATA_DIR}/train.parquet`,
              field: 'ope.reward_model',
              hint: 'check the logs (context columns, rewards), or set ope.reward_model: none to use ips and snips only',
            }),
          );
        } else resolve(String(stdout));
      },
    );
  });
  const fit = JSON.parse(out.trim().split('\n').pop() ?? '{}') as RewardModelFit;
  progress(
    `reward model: ${fit.kind} on ${fit.rows} logged rows, ${fit.features} features${fit.interactions ? ' (context x action products included)' : ''}`,
  );
  return fit;
}

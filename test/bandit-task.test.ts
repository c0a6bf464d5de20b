/**
 * The bandit task end to end on the bundled open-bandit example (real Open Bandit Dataset logs): the split keeps
 * the holdouts' logged decisions in the vault, Ratchet's reward model, policy files against the logs, the trust
 * guardrail, and tier 2 (submit's evidence and review's gate) through the CLI.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyExample, initProject } from '../src/contract/init.js';
import { type Contract, loadContract } from '../src/contract/load.js';
import { openDuck, readRows } from '../src/data/duck.js';
import { readManifest, type SplitManifest } from '../src/data/ingest.js';
import { evaluateOutput } from '../src/evaluator/evaluate.js';
import { alignPredictions } from '../src/evaluator/predictions.js';
import { scoreInput } from '../src/evaluator/score.js';
import { RatchetError } from '../src/util/errors.js';
import { cli, ROOT, tempDir } from './helpers/project.js';

const PY = join(ROOT, '.venv', 'bin', 'python');
const K = 80;

async function columns(path: string): Promise<string[]> {
  const duck = await openDuck();
  try {
    return (await readRows(duck.con, `DESCRIBE SELECT * FROM read_parquet('${path}')`)).map((r) =>
      String(r['column_name']),
    );
  } finally {
    duck.close();
  }
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const duck = await openDuck();
  try {
    return await readRows(duck.con, sql);
  } finally {
    duck.close();
  }
}

/**
 * Write a policy for both holdouts with Python: `rows(position, index)` is a Python expression giving an 80-vector
 * of probabilities per row (numpy as np, `pos` the row's position, `i` its index).
 */
function writePolicy(dir: string, out: string, expr: string): void {
  mkdirSync(out, { recursive: true });
  const script = `
import numpy as np, pandas as pd
for name in ("public", "private"):
    h = pd.read_parquet(".ratchet/data/%s_features.parquet" % name)
    rows = []
    for i, pos in enumerate(h["position"].astype(int)):
        rows.append(np.asarray(${expr}, dtype=float))
    f = pd.DataFrame(np.array(rows), columns=["proba_%d" % a for a in range(${K})])
    f.insert(0, "impression_id", h["impression_id"].to_numpy())
    f.to_parquet("${out}/%s.parquet" % name, index=False)
`;
  execFileSync(PY, ['-c', script], { cwd: dir });
}

describe('bandit task on the open-bandit example', () => {
  let dir: string;
  let contract: Contract;
  let manifest: SplitManifest;
  beforeAll(async () => {
    dir = tempDir('ratchet-bandit-');
    copyExample('open-bandit', dir);
    await initProject(dir);
    contract = loadContract(dir);
    manifest = readManifest(dir);
  }, 300_000);

  it('keeps the holdouts’ logged actions, propensities and rewards in the vault only', async () => {
    expect(manifest.task).toBe('bandit');
    expect(manifest.classes).toEqual(Array.from({ length: K }, (_, i) => String(i)));
    const pub = await columns(join(dir, '.ratchet/data/public_features.parquet'));
    for (const hidden of ['item_id', 'propensity_score', 'click']) expect(pub).not.toContain(hidden);
    expect(pub).toContain('position');
    const train = await columns(join(dir, '.ratchet/data/train.parquet'));
    for (const logged of ['item_id', 'propensity_score', 'click']) expect(train).toContain(logged);
    const csvHeader = readFileSync(join(dir, '.ratchet/data/private.csv'), 'utf8').split('\n')[0]!;
    expect(csvHeader).not.toMatch(/item_id|propensity_score|click/);
    const vault = await columns(join(dir, '.ratchet/vault/public.parquet'));
    expect(vault).toEqual(expect.arrayContaining(['id', 'label', 'a__item_id', 'p__propensity_score']));
    const q = await columns(join(dir, '.ratchet/vault/qhat_public.parquet'));
    expect(q.filter((c) => c.startsWith('q__'))).toHaveLength(K);
    const lock = JSON.parse(readFileSync(join(dir, 'ratchet.lock'), 'utf8')) as {
      splits: Record<string, string>;
    };
    expect(Object.keys(lock.splits)).toEqual(
      expect.arrayContaining(['.ratchet/vault/qhat_public.parquet', '.ratchet/vault/qhat_private.parquet']),
    );
  });

  it('estimates the logging policy itself at its mean logged reward (ips = snips = mean click)', async () => {
    const out = join(dir, 'out-uniform');
    writePolicy(dir, out, `np.full(${K}, 1.0 / ${K})`);
    const ev = await evaluateOutput(contract, manifest, out);
    expect(ev.status).toBe('ok');
    if (ev.status !== 'ok') return;
    const [row] = await query(
      `SELECT avg(label) AS m, count(*) AS n FROM read_parquet('${join(dir, '.ratchet/vault/public.parquet')}')`,
    );
    const mean = Number(row!['m']);
    expect(ev.metrics['ips']).toBeCloseTo(mean, 12);
    expect(ev.metrics['snips']).toBeCloseTo(mean, 12);
    // Every importance weight is 1: the effective sample size is every row.
    expect(ev.metrics['ope_ess']).toBeCloseTo(Number(row!['n']), 6);
    expect(ev.metrics['ope_max_weight']).toBeCloseTo(1, 12);
    // dm is the mean over rows of the reward model's average over actions; dr adds the mean residual.
    const [q] = await query(
      `SELECT avg((${Array.from({ length: K }, (_, a) => `q__${a}`).join(' + ')}) / ${K}) AS dm FROM read_parquet('${join(dir, '.ratchet/vault/qhat_public.parquet')}')`,
    );
    expect(ev.metrics['dm']).toBeCloseTo(Number(q!['dm']), 10);
    expect(Number.isFinite(ev.metrics['dr'])).toBe(true);
    expect(ev.trust).toEqual([]);
  });

  it('refuses a policy file that is not a policy, naming the file, the rows and the fix', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'sum',
        `np.full(${K}, 0.9 / ${K})`,
        /public\.parquet: a policy's probabilities must sum to 1 .* normalize each row/,
      ],
      [
        'negative',
        `np.r_[-0.5, np.full(${K - 1}, 1.5 / ${K - 1})]`,
        /proba_0 must be a probability in \[0, 1\]/,
      ],
    ];
    for (const [name, expr, message] of cases) {
      const out = join(dir, `out-${name}`);
      writePolicy(dir, out, expr);
      const ev = await evaluateOutput(contract, manifest, out);
      expect(ev.status, name).toBe('invalid');
      if (ev.status === 'invalid') expect(ev.reason).toMatch(message);
    }
    const out = join(dir, 'out-columns');
    writePolicy(dir, out, `np.full(${K}, 1.0 / ${K})`);
    execFileSync(PY, [
      '-c',
      `import pandas as pd; f = pd.read_parquet("${out}/public.parquet").drop(columns=["proba_7"]); f.to_parquet("${out}/public.parquet", index=False)`,
    ]);
    const ev = await evaluateOutput(contract, manifest, out);
    expect(ev.status).toBe('invalid');
    if (ev.status === 'invalid') expect(ev.reason).toMatch(/missing proba_7/);
  });

  it('does not trust a policy that strays too far from the logging policy', async () => {
    const out = join(dir, 'out-greedy');
    writePolicy(dir, out, `np.eye(${K})[3]`); // always item 3: weight 80 on its rows, 0 elsewhere
    const aligned = await alignPredictions({
      predictionsPath: join(out, 'public.parquet'),
      labelsPath: join(dir, '.ratchet/vault/public.parquet'),
      manifest,
    });
    expect(aligned.ok).toBe(true);
    if (!aligned.ok) return;
    const strict: Contract = {
      ...contract,
      ope: { ...contract.ope!, trust: { ...contract.ope!.trust, min_ess_fraction: 0.05 } },
    };
    const s = scoreInput(strict, aligned.input);
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    // Kish's ESS of weights 80 on m rows and 0 elsewhere is m: the rows where item 3 was logged.
    const [row] = await query(
      `SELECT count(*) FILTER (WHERE a__item_id = '3') AS m, count(*) AS n FROM read_parquet('${join(dir, '.ratchet/vault/public.parquet')}')`,
    );
    expect(s.metrics['ope_ess']).toBeCloseTo(Number(row!['m']), 9);
    expect(s.metrics['ope_max_weight']).toBeCloseTo(K, 9);
    expect(s.trust.some((t) => /effective sample size/.test(t))).toBe(true);
    // The same policy under the example's own thresholds (1% of rows) is trusted when m / n >= 1%.
    const loose = scoreInput(contract, aligned.input);
    expect(loose.ok && loose.trust.some((t) => /effective sample size/.test(t))).toBe(
      Number(row!['m']) / Number(row!['n']) < 0.01,
    );
  });

  it('runs the loop, submits with tier-2 evidence, and lets review promote only a candidate', () => {
    const run = cli(['run', '--experiments', '3', '--json'], dir);
    expect(run.code, run.stderr).toBe(0);
    const sub = cli(['submit', '--json'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const s = JSON.parse(sub.stdout) as {
      experiment: number;
      tier2: {
        primary: string;
        estimates: { name: string; value: number; low: number; high: number }[];
        production: number;
        candidate: boolean;
        untrusted: string[];
      };
    };
    expect(s.tier2.primary).toBe('dr');
    expect(s.tier2.estimates.map((e) => e.name)).toEqual(['dr', 'ips', 'snips', 'dm', 'sndr', 'switch_dr']);
    for (const e of s.tier2.estimates) expect(e.low).toBeLessThanOrEqual(e.high);
    expect(s.tier2.candidate).toBe(
      s.tier2.estimates[0]!.low > s.tier2.production && s.tier2.untrusted.length === 0,
    );
    const list = cli(['review'], dir);
    expect(list.stdout).toMatch(/tier-2 evidence on the private logs/);
    const promote = cli(
      ['review', String(s.experiment), '--promote', '--note', 'checked the estimators'],
      dir,
    );
    if (s.tier2.candidate) expect(promote.code, promote.stderr).toBe(0);
    else {
      expect(promote.code).not.toBe(0);
      expect(promote.stderr).toMatch(/is not a tier-2 candidate/);
      const reject = cli(
        ['review', String(s.experiment), '--reject', '--note', 'not better than production'],
        dir,
      );
      expect(reject.code, reject.stderr).toBe(0);
    }
  }, 600_000);
});

describe('bandit contract and logs: clear errors', () => {
  /** A copy of the example with its contract edited and (optionally) 400 rows of its logs with one propensity changed. */
  function project(edit: (yaml: string) => string, badPropensity?: string): string {
    const dir = tempDir('ratchet-bandit-bad-');
    copyExample('open-bandit', dir);
    writeFileSync(join(dir, 'ratchet.yaml'), edit(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')));
    if (badPropensity !== undefined) {
      execFileSync(PY, [
        '-c',
        `import pandas as pd, numpy as np
f = pd.read_parquet("${join(dir, 'logs.parquet')}").head(400)
f["propensity_score"] = f["propensity_score"].astype(object)
f.loc[f["impression_id"] == 17, "propensity_score"] = ${badPropensity}
f["propensity_score"] = f["propensity_score"].astype(float)
f.to_parquet("${join(dir, 'small.parquet')}", index=False)`,
      ]);
    }
    return dir;
  }
  async function initError(dir: string): Promise<RatchetError> {
    try {
      await initProject(dir);
    } catch (e) {
      return e as RatchetError;
    }
    throw new Error('init succeeded');
  }

  it('names the propensity that is not a probability, its row id and the fix', async () => {
    if (!existsSync(PY)) throw new Error(`${PY} is missing: run scripts/setup.sh`);
    for (const bad of ['-0.0125', '0', '1.5', 'np.nan']) {
      const dir = project((y) => y.replace('source: logs.parquet', 'source: small.parquet'), bad);
      const e = await initError(dir);
      expect(e).toBeInstanceOf(RatchetError);
      expect(e.message).toMatch(
        /propensity of row id 17 is .*: a logging propensity must be a probability in \(0, 1\]/,
      );
      expect(e.field).toBe('data.propensity');
    }
  });

  it('refuses a bandit contract without its action column, and action columns on other tasks', async () => {
    const noAction = project((y) => y.replace(/ {2}action: item_id\n/, ''));
    const e = await initError(noAction);
    expect(e.field).toBe('data.action');
    expect(e.message).toMatch(/needs the column of the action/);
    const binary = project((y) =>
      y
        .replace('task: bandit', 'task: regression')
        .replace('primary: dr', 'primary: rmse')
        .replace('also: [ips, snips, dm, sndr, switch_dr]', 'also: []'),
    );
    const e2 = await initError(binary);
    expect(e2.field).toBe('data.action');
    expect(e2.message).toMatch(/only applies to bandit tasks/);
  });
});

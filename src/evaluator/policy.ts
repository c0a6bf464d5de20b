/**
 * A bandit task's predictions: the candidate policy pi_e(a | x) for every holdout context, as one
 * `proba_<action>` column per action, aligned with the vault's logged decisions (reward, logged action, logging
 * propensity) and the reward model's q(x, a) (docs/ARCHITECTURE.md, "Tier 2: off-policy evaluation").
 */

import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CSV_BUFFER, ident, isParquet, lit, readDoubleColumns, readRows, readStrings } from '../data/duck.js';
import type { SplitManifest } from '../data/ingest.js';
import { qhatFile } from '../data/reward-model.js';
import type { BanditInput } from '../metrics/index.js';

/** Rows of a policy must sum to 1 within this (what the estimators accept). */
export const POLICY_SUM_TOLERANCE = 1e-6;

/** A policy file aligned with the logs, or the reason it cannot be scored. */
export type AlignedPolicy = { ok: true; input: BanditInput; rows: number } | { ok: false; reason: string };

async function examples(con: DuckDBConnection, sql: string): Promise<string> {
  return (await readStrings(con, sql)).map((v) => JSON.stringify(v)).join(', ');
}

/**
 * Validate a bandit predictions file and align it with the vault, row for row (vault order).
 * Checks, in order: the id column and every `proba_<action>` column are present; every holdout id appears exactly
 * once and no other id does; every probability is a finite number in [0, 1]; each row sums to 1 within
 * {@link POLICY_SUM_TOLERANCE}. The rewards, logged actions and propensities come from the vault (a candidate
 * never sees the holdouts'), q(x, a) from the vault's reward-model file when present.
 * @param file the predictions file's name for messages; `source` its relation (typed Parquet or all-text CSV)
 * @returns the estimators' input, or `{ ok: false, reason }` naming the file, the problem, example ids and the fix
 */
export async function alignPolicy(
  con: DuckDBConnection,
  predictionsPath: string,
  labelsPath: string,
  manifest: SplitManifest,
  tag: string,
): Promise<AlignedPolicy> {
  const file = basename(predictionsPath);
  const fail = (reason: string): AlignedPolicy => ({ ok: false, reason });
  const actions = manifest.classes ?? [];
  const k = actions.length;
  const idCol = manifest.idColumn;
  const P = `pol_${tag}`;
  const L = `log_${tag}`;
  const Q = `qh_${tag}`;
  const actionCol = manifest.vault.action;
  const propensityCol = manifest.vault.propensity;
  if (!actionCol || !propensityCol) return fail('internal: the split manifest names no action or propensity');
  const parquet = isParquet(predictionsPath);
  const reader = parquet
    ? `read_parquet(${lit(predictionsPath)})`
    : `read_csv(${lit(predictionsPath)}, header = true, all_varchar = true, auto_detect = true, ${CSV_BUFFER})`;
  try {
    await con.run(`DROP TABLE IF EXISTS ${P}; DROP TABLE IF EXISTS ${L}; DROP TABLE IF EXISTS ${Q}`);
    try {
      await con.run(`CREATE TABLE ${P} AS SELECT * FROM ${reader}`);
    } catch (e) {
      return fail(
        `${file} is not a readable ${parquet ? 'Parquet file' : 'CSV'}: ${(e as Error).message.split('\n')[0]}`,
      );
    }
    const cols = (await readRows(con, `DESCRIBE ${P}`)).map((r) => String(r['column_name']));
    const probaCols = actions.map((a) => `proba_${a}`);
    if (!cols.includes(idCol)) return fail(`${file} has no ${idCol} column (the holdout's ids)`);
    const absent = probaCols.filter((c) => !cols.includes(c));
    if (absent.length > 0)
      return fail(
        `${file} must give the policy's probability of every action as proba_<action> columns; missing ${absent.slice(0, 5).join(', ')}${absent.length > 5 ? ` and ${absent.length - 5} more` : ''} (${k} actions)`,
      );
    await con.run(
      `CREATE TABLE ${L} AS SELECT *, file_row_number AS __i FROM read_parquet(${lit(labelsPath)}, file_row_number = true)`,
    );
    const id = `${P}.${ident(idCol)}::VARCHAR`;
    const st = (
      await readRows(
        con,
        `SELECT (SELECT count(*) FROM ${L}) AS expected, count(*) AS got, count(*) FILTER (WHERE ${id} IS NULL) AS null_ids,
           count(${id}) - count(DISTINCT ${id}) AS dups FROM ${P}`,
      )
    )[0]!;
    const expected = Number(st['expected']);
    if (Number(st['null_ids']) > 0) return fail(`${file} has ${st['null_ids']} rows with an empty ${idCol}`);
    if (Number(st['dups']) > 0) {
      const d = await examples(con, `SELECT ${id} FROM ${P} GROUP BY 1 HAVING count(*) > 1 LIMIT 3`);
      return fail(`${file} repeats ids (e.g. ${d}); write each holdout id once`);
    }
    const missing = await examples(con, `SELECT ${L}.id FROM ${L} ANTI JOIN ${P} ON ${L}.id = ${id} LIMIT 3`);
    const unknown = await examples(con, `SELECT ${id} FROM ${P} ANTI JOIN ${L} ON ${L}.id = ${id} LIMIT 3`);
    if (missing || unknown || Number(st['got']) !== expected)
      return fail(
        `${file} has ${st['got']} rows for ${expected} holdout ids${missing ? `; missing ids e.g. ${missing}` : ''}${unknown ? `; ids not in the holdout e.g. ${unknown}` : ''}`,
      );
    const num = (c: string) => `TRY_CAST(${P}.${ident(c)} AS DOUBLE)`;
    for (const c of probaCols) {
      const bad = await examples(
        con,
        `SELECT ${id} FROM ${P} WHERE ${num(c)} IS NULL OR NOT isfinite(${num(c)}) OR ${num(c)} < 0 OR ${num(c)} > 1 LIMIT 3`,
      );
      if (bad) return fail(`${file}: ${c} must be a probability in [0, 1]; ids ${bad} are not`);
    }
    // Summed in chunks of 100 columns (DuckDB's expression depth).
    const chunks: string[] = [];
    for (let i = 0; i < probaCols.length; i += 100)
      chunks.push(
        `(${probaCols
          .slice(i, i + 100)
          .map(num)
          .join(' + ')})`,
      );
    const sum = chunks.join(' + ');
    const off = await readRows(
      con,
      `SELECT ${id} AS id, ${sum} AS s FROM ${P} WHERE abs((${sum}) - 1) > ${POLICY_SUM_TOLERANCE} LIMIT 3`,
    );
    if (off.length > 0)
      return fail(
        `${file}: a policy's probabilities must sum to 1 in each row; ids ${off.map((r) => `${JSON.stringify(String(r['id']))} (sum ${Number(r['s']).toPrecision(6)})`).join(', ')} do not: normalize each row`,
      );
    const actionTable = actions.map((a, i) => `(${lit(a)}, ${i})`).join(', ');
    await con.run(
      `DROP TABLE IF EXISTS act_${tag}; CREATE TABLE act_${tag}(a VARCHAR, k INTEGER); INSERT INTO act_${tag} VALUES ${actionTable}`,
    );
    const logs = await readDoubleColumns(
      con,
      `SELECT ${L}.label::DOUBLE, act_${tag}.k::DOUBLE, ${L}.${ident(`p__${propensityCol}`)}::DOUBLE
       FROM ${L} LEFT JOIN act_${tag} ON act_${tag}.a = ${L}.${ident(`a__${actionCol}`)} ORDER BY ${L}.__i`,
      3,
    );
    const n = expected;
    const policy = new Float64Array(n * k);
    for (let j = 0; j < k; j += 64) {
      const part = probaCols.slice(j, j + 64);
      const out = await readDoubleColumns(
        con,
        `SELECT ${part.map(num).join(', ')} FROM ${L} JOIN ${P} ON ${L}.id = ${id} ORDER BY ${L}.__i`,
        part.length,
      );
      part.forEach((_, c) => {
        const col = out[c]!;
        for (let i = 0; i < n; i++) policy[i * k + j + c] = col[i]!;
      });
    }
    const input: BanditInput = {
      task: 'bandit',
      y: logs[0]!,
      action: Int32Array.from(logs[1]!),
      pscore: logs[2]!,
      k,
      policy,
    };
    const qPath = join(
      dirname(labelsPath),
      qhatFile(basename(labelsPath).startsWith('private') ? 'private' : 'public'),
    );
    if (existsSync(qPath)) {
      const qhat = new Float64Array(n * k);
      await con.run(`CREATE TABLE ${Q} AS SELECT * FROM read_parquet(${lit(qPath)})`);
      for (let j = 0; j < k; j += 64) {
        const part = actions.slice(j, j + 64).map((a) => `${Q}.${ident(`q__${a}`)}::DOUBLE`);
        const out = await readDoubleColumns(
          con,
          `SELECT ${part.join(', ')} FROM ${L} JOIN ${Q} ON ${L}.id = ${Q}.id ORDER BY ${L}.__i`,
          part.length,
        );
        if (out[0]!.length !== n)
          return fail(
            'internal: the reward model does not cover every holdout id: run `ratchet init --force`',
          );
        part.forEach((_, c) => {
          const col = out[c]!;
          for (let i = 0; i < n; i++) qhat[i * k + j + c] = col[i]!;
        });
      }
      input.qhat = qhat;
    }
    return { ok: true, input, rows: n };
  } finally {
    await con
      .run(
        `DROP TABLE IF EXISTS ${P}; DROP TABLE IF EXISTS ${L}; DROP TABLE IF EXISTS ${Q}; DROP TABLE IF EXISTS act_${tag}`,
      )
      .catch(() => undefined);
  }
}

/**
 * A harness task's predictions (docs/ARCHITECTURE.md, "Harness tasks"): one answer per holdout task
 * (`<id>,prediction`), graded outside the sandbox against the expected answers in the vault, with the tokens and
 * cost the host proxy counted for each task (the run folder's ledger, which the sandbox cannot write).
 */

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CSV_BUFFER, ident, isParquet, lit, readRows, readStrings } from '../data/duck.js';
import type { SplitManifest } from '../data/ingest.js';
import type { Ledger } from '../harness/proxy.js';
import { LEDGER_FILE } from '../harness/session.js';
import type { HarnessInput } from '../metrics/index.js';

/** An answers file aligned with the expected answers, or the reason it cannot be graded. */
export type AlignedAnswers = { ok: true; input: HarnessInput; rows: number } | { ok: false; reason: string };

/**
 * The grading rule: answers compare equal after trimming, lowercasing, collapsing runs of whitespace and dropping
 * one trailing period ("391." equals " 391 "). Exact match on that form scores 1, anything else 0.
 */
export function normalizeAnswer(text: string | null): string {
  return (text ?? '').trim().toLowerCase().replace(/\s+/g, ' ').replace(/\.$/, '').trim();
}

/**
 * Validate a harness's answers file and grade it, task by task, in vault order.
 * @param predictionsPath `<run>/output/<split>.csv|parquet`; the ledger is read from `<run>/model_ledger.json`
 * @returns per-task scores, tokens and cost, or the reason (missing file columns, ids missing, repeated or unknown,
 *   no ledger)
 */
export async function alignAnswers(
  con: DuckDBConnection,
  predictionsPath: string,
  labelsPath: string,
  manifest: SplitManifest,
  tag: string,
): Promise<AlignedAnswers> {
  const file = basename(predictionsPath);
  const fail = (reason: string): AlignedAnswers => ({ ok: false, reason });
  const idCol = manifest.idColumn;
  const P = `ans_${tag}`;
  const L = `exp_${tag}`;
  const reader = isParquet(predictionsPath)
    ? `read_parquet(${lit(predictionsPath)})`
    : `read_csv(${lit(predictionsPath)}, header = true, all_varchar = true, auto_detect = true, ${CSV_BUFFER})`;
  const examples = async (sql: string) =>
    (await readStrings(con, sql)).map((v) => JSON.stringify(v)).join(', ');
  try {
    await con.run(`DROP TABLE IF EXISTS ${P}; DROP TABLE IF EXISTS ${L}`);
    try {
      await con.run(`CREATE TABLE ${P} AS SELECT * FROM ${reader}`);
    } catch (e) {
      return fail(`${file} is not readable: ${(e as Error).message.split('\n')[0]}`);
    }
    const cols = (await readRows(con, `DESCRIBE ${P}`)).map((r) => String(r['column_name']));
    if (!cols.includes(idCol) || !cols.includes('prediction'))
      return fail(`${file} must have the columns ${idCol},prediction; it has ${cols.join(',')}`);
    await con.run(
      `CREATE TABLE ${L} AS SELECT *, file_row_number AS __i FROM read_parquet(${lit(labelsPath)}, file_row_number = true)`,
    );
    const id = `${P}.${ident(idCol)}::VARCHAR`;
    const dups = await examples(`SELECT ${id} FROM ${P} GROUP BY 1 HAVING count(*) > 1 LIMIT 3`);
    if (dups) return fail(`${file} repeats task ids (e.g. ${dups}); answer each task once`);
    const missing = await examples(`SELECT ${L}.id FROM ${L} ANTI JOIN ${P} ON ${L}.id = ${id} LIMIT 3`);
    const unknown = await examples(`SELECT ${id} FROM ${P} ANTI JOIN ${L} ON ${L}.id = ${id} LIMIT 3`);
    if (missing || unknown)
      return fail(
        `${file} does not answer exactly the holdout's tasks${missing ? `; missing e.g. ${missing}` : ''}${unknown ? `; not in the holdout e.g. ${unknown}` : ''}`,
      );
    const rows = await readRows(
      con,
      `SELECT ${L}.id AS id, ${L}.label::VARCHAR AS expected, ${P}.prediction::VARCHAR AS answer
       FROM ${L} JOIN ${P} ON ${L}.id = ${id} ORDER BY ${L}.__i`,
    );
    const ledgerPath = join(dirname(dirname(predictionsPath)), LEDGER_FILE);
    if (!existsSync(ledgerPath))
      return fail('no model ledger for this run: a harness reaches its model only through Ratchet’s proxy');
    const ledger = JSON.parse(readFileSync(ledgerPath, 'utf8')) as Ledger;
    const n = rows.length;
    const input: HarnessInput = {
      task: 'harness',
      y: Float64Array.from({ length: n }, (_, i) => i),
      score: new Float64Array(n),
      tokens: new Float64Array(n),
      cost: new Float64Array(n),
      requests: new Float64Array(n),
    };
    // Tokens a request did not attribute to a holdout task (no header, or an id of no holdout task) are spread evenly
    // over every holdout task of both holdouts: leaving the header out, or naming another task, never lowers the cost.
    const holdoutIds = new Set(
      (
        await Promise.all(
          ['public.parquet', 'private.parquet'].map((f) =>
            readStrings(con, `SELECT id FROM read_parquet(${lit(join(dirname(labelsPath), f))})`),
          ),
        )
      )
        .flat()
        .map(String),
    );
    let strayTokens = 0;
    let strayCost = 0;
    for (const [task, u] of Object.entries(ledger.tasks))
      if (!holdoutIds.has(task)) {
        strayTokens += u.tokens;
        strayCost += u.costUsd;
      }
    const share = holdoutIds.size > 0 ? 1 / holdoutIds.size : 0;
    rows.forEach((r, i) => {
      input.score[i] =
        normalizeAnswer(String(r['answer'] ?? '')) === normalizeAnswer(String(r['expected'])) ? 1 : 0;
      const u = ledger.tasks[String(r['id'])];
      input.tokens[i] = (u?.tokens ?? 0) + strayTokens * share;
      input.cost[i] = (u?.costUsd ?? 0) + strayCost * share;
      input.requests![i] = u?.requests ?? 0;
    });
    return { ok: true, input, rows: n };
  } finally {
    await con.run(`DROP TABLE IF EXISTS ${P}; DROP TABLE IF EXISTS ${L}`).catch(() => undefined);
  }
}

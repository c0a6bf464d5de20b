import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Contract } from '../contract/load.js';
import { CONTRACT_FILE } from '../contract/load.js';
import { RatchetError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { DATA_DIR, SPILL_DIR, type SplitManifest, VAULT_DIR } from './ingest.js';
import { type LeakFinding, scanSplits } from './leakage.js';

/** Project-relative path of the leakage findings of `ratchet init` (read by check, run and the evaluator). */
export const LEAKAGE_FILE = `${DATA_DIR}/leakage.json`;

/**
 * Run the leakage and data-integrity scan on a project's fresh splits and save the findings.
 * @returns every finding (block and warn)
 */
export async function scanProject(contract: Contract, manifest: SplitManifest): Promise<LeakFinding[]> {
  const root = contract.projectDir;
  // A task suite's inputs are free text and its answers have no distribution to leak: the tabular scan does not
  // apply (the answers are in the vault all the same).
  if (manifest.task === 'harness') {
    writeFileAtomic(join(root, LEAKAGE_FILE), '[]\n');
    return [];
  }
  const findings = await scanSplits(
    {
      train: join(root, DATA_DIR, 'train.csv'),
      public: join(root, DATA_DIR, 'public.csv'),
      private: join(root, DATA_DIR, 'private.csv'),
      publicLabels: join(root, VAULT_DIR, 'public.parquet'),
      privateLabels: join(root, VAULT_DIR, 'private.parquet'),
      idColumn: manifest.idColumn,
      target: manifest.targetColumn,
      // Ranking relevance and bandit rewards are scanned as numeric targets.
      task: manifest.task === 'ranking' || manifest.task === 'bandit' ? 'regression' : manifest.task,
      positiveClass: manifest.positiveClass,
      ...(contract.data.time ? { time: contract.data.time } : {}),
      ...(contract.data.group ? { group: contract.data.group } : {}),
      strategy: contract.split.strategy,
      trainOnly: [manifest.vault.action, manifest.vault.propensity].filter(
        (c): c is string => typeof c === 'string',
      ),
    },
    { spillDir: join(root, SPILL_DIR) },
  );
  writeFileAtomic(join(root, LEAKAGE_FILE), `${JSON.stringify(findings, null, 2)}\n`);
  return findings;
}

/** The findings saved by `ratchet init` (empty when the project predates the scan). */
export function readFindings(projectDir: string): LeakFinding[] {
  const p = join(projectDir, LEAKAGE_FILE);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as LeakFinding[]) : [];
}

/**
 * Stop when a blocking finding stands: target leakage, temporal ordering and group overlap can never be
 * overridden (docs/ARCHITECTURE.md, "Guardrails"), so the fix is in the data or the contract.
 * @throws RatchetError (exit 3) naming the column, the number that tripped and the fix
 */
export function refuseBlockingFindings(findings: LeakFinding[]): void {
  const block = findings.filter((f) => f.severity === 'block');
  if (block.length === 0) return;
  const first = block[0]!;
  const more =
    block.length > 1
      ? ` (and ${block.length - 1} more: ${block
          .slice(1)
          .map((f) => `${f.guardrail}${f.column ? ` on ${f.column}` : ''}`)
          .join(', ')})`
      : '';
  throw new RatchetError(`${first.guardrail}: ${first.message}${more}`, {
    file: CONTRACT_FILE,
    ...(first.column ? { field: 'data.drop' } : {}),
    hint:
      first.column && first.guardrail === 'target-leakage'
        ? `add ${first.column} to data.drop in ratchet.yaml and re-run ratchet init --force (${first.hint})`
        : first.hint,
    exitCode: 3,
  });
}

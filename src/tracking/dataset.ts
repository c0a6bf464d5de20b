import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { readLock } from '../contract/lock.js';
import { readManifest, type SplitManifest } from '../data/ingest.js';

/**
 * The project's data as MLflow dataset inputs (`/api/2.0/mlflow/runs/log-inputs`): one dataset per split
 * (train, public, private), each with a digest of the split's locked files (ratchet.lock), the data file it
 * came from as its source, the feature schema as an MLflow ColSpec, and the split, its role and its row count
 * as input tags (`mlflow.data.context` = training | validation | test). Every experiment's run logs all three,
 * so MLflow shows which frozen data a score was measured on.
 */

/** One dataset input of a run, in the REST API's shape. */
export interface DatasetInput {
  dataset: {
    name: string;
    /** ≤ 36 characters (MLflow's limit): the first 32 hex digits of a SHA-256 over the split's locked files. */
    digest: string;
    source_type: string;
    /** JSON: `{"uri": "<absolute path of the data file>"}` (MLflow's local source). */
    source: string;
    /** JSON: MLflow ColSpec of the columns. */
    schema: string;
    /** JSON: rows, balance and the full SHA-256 of each locked file of the split. */
    profile: string;
  };
  tags: { key: string; value: string }[];
}

/** The three splits, their MLflow context and their locked files. */
export const SPLITS = [
  { split: 'train', context: 'training', files: ['.ratchet/data/train.csv'] },
  {
    split: 'public',
    context: 'validation',
    files: ['.ratchet/data/public.csv', '.ratchet/vault/public.parquet'],
  },
  {
    split: 'private',
    context: 'test',
    files: ['.ratchet/data/private.csv', '.ratchet/vault/private.parquet'],
  },
] as const;

/** MLflow ColSpec type of a DuckDB column type. */
export function colspecType(duckType: string): string {
  const t = duckType.toUpperCase();
  if (/^(BIGINT|HUGEINT|UBIGINT|UINTEGER|INT8|LONG)/.test(t)) return 'long';
  if (/^(INTEGER|INT|SMALLINT|TINYINT|USMALLINT|UTINYINT|INT4|INT2)/.test(t)) return 'integer';
  if (/^(FLOAT|REAL|FLOAT4)/.test(t)) return 'float';
  if (/^(DOUBLE|DECIMAL|NUMERIC|FLOAT8)/.test(t)) return 'double';
  if (/^BOOL/.test(t)) return 'boolean';
  if (/^(DATE|TIMESTAMP|TIME)/.test(t)) return 'datetime';
  return 'string';
}

/**
 * The dataset inputs of a project from its lock and split manifest.
 * @param lockSplits ratchet.lock's `splits` (project-relative path → SHA-256)
 * @throws Error naming the split file missing from the lock
 */
export function datasetInputs(
  projectDir: string,
  projectName: string,
  manifest: SplitManifest,
  lockSplits: Record<string, string>,
): DatasetInput[] {
  const columns = [
    ...manifest.columns.map((c) => ({ name: c.name, type: colspecType(c.type), required: true })),
    {
      name: manifest.targetColumn,
      type: manifest.task === 'regression' ? 'double' : 'string',
      required: true,
    },
  ];
  const schema = JSON.stringify({ mlflow_colspec: columns });
  const source = JSON.stringify({ uri: resolve(projectDir, manifest.source.path) });
  return SPLITS.map(({ split, context, files }) => {
    const hashes: Record<string, string> = {};
    for (const f of files) {
      const h = lockSplits[f];
      if (!h) throw new Error(`ratchet.lock has no hash of ${f}: re-run \`ratchet init\``);
      hashes[f] = h;
    }
    const digest = createHash('sha256')
      .update(files.map((f) => `${f}=${hashes[f]}\n`).join(''))
      .digest('hex')
      .slice(0, 32);
    const rows = manifest.counts[split];
    return {
      dataset: {
        name: `${projectName}/${split}`,
        digest,
        source_type: 'local',
        source,
        schema,
        profile: JSON.stringify({
          num_rows: rows,
          balance: manifest.balance[split],
          source_sha256: manifest.source.sha256,
          sha256: hashes,
        }),
      },
      tags: [
        { key: 'mlflow.data.context', value: context },
        { key: 'ratchet.split', value: split },
        { key: 'ratchet.rows', value: String(rows) },
      ],
    };
  });
}

/**
 * {@link datasetInputs} read from the project folder (ratchet.lock and .ratchet/data/split.json).
 * @throws RatchetError when the project is not initialised, Error when the lock lacks a split file
 */
export function projectDatasets(projectDir: string, projectName: string): DatasetInput[] {
  return datasetInputs(projectDir, projectName, readManifest(projectDir), readLock(projectDir).splits);
}

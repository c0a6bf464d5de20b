import { describe, expect, it } from 'vitest';
import type { SplitManifest } from '../../src/data/ingest.js';
import type { ExperimentRecord } from '../../src/journal/store.js';
import { colspecType, datasetInputs } from '../../src/tracking/dataset.js';
import { experimentPayload, tierPayload } from '../../src/tracking/payload.js';

const manifest = {
  version: 1,
  source: { path: 'data/all.csv', sha256: 'f'.repeat(64), rows: 100 },
  task: 'binary',
  idColumn: 'row_id',
  generatedId: true,
  targetColumn: 'y',
  columns: [
    { name: 'row_id', type: 'BIGINT' },
    { name: 'age', type: 'DOUBLE' },
    { name: 'city', type: 'VARCHAR' },
  ],
  droppedNullTarget: 0,
  classes: ['0', '1'],
  positiveClass: '1',
  strategy: 'random',
  seed: 1,
  counts: { train: 60, public: 20, private: 20 },
  vault: { outcomes: [], groups: [], query: null },
  balance: { train: 0.5, public: 0.5, private: 0.5 },
} as unknown as SplitManifest;

const lock = {
  '.ratchet/data/train.csv': 'a'.repeat(64),
  '.ratchet/data/public.csv': 'b'.repeat(64),
  '.ratchet/vault/public.parquet': 'c'.repeat(64),
  '.ratchet/data/private.csv': 'd'.repeat(64),
  '.ratchet/vault/private.parquet': 'e'.repeat(64),
};

const rec = {
  id: 3,
  runId: 'r',
  seq: 2,
  proposer: 'search',
  hypothesis: 'h',
  params: { model: { lr: 0.1 } },
  meta: {},
  decision: 'kept',
  reason: 'better',
  score: 0.8,
  bestBefore: 0.7,
  delta: 0.1,
  ciLow: null,
  ciHigh: null,
  probImprovement: null,
  commitSha: 'abc',
  parentSha: 'def',
  files: ['params.yaml'],
  sandboxStatus: 'ok',
  sandboxMessage: '',
  exitCode: 0,
  sandboxed: true,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:05.000Z',
  durationMs: 5000,
  executeMs: 4000,
  conclusion: null,
  metrics: { auroc: 0.8, 'ndcg@10': 0.4 },
} as unknown as ExperimentRecord;

describe('MLflow dataset inputs (pure)', () => {
  it('one input per split: digest ≤ 36 characters from the lock, context and rows as tags, ColSpec schema', () => {
    const d = datasetInputs('/p', 'proj', manifest, lock);
    expect(d.map((x) => x.dataset.name)).toEqual(['proj/train', 'proj/public', 'proj/private']);
    expect(d.map((x) => x.tags.find((t) => t.key === 'mlflow.data.context')!.value)).toEqual([
      'training',
      'validation',
      'test',
    ]);
    expect(d.map((x) => x.tags.find((t) => t.key === 'ratchet.rows')!.value)).toEqual(['60', '20', '20']);
    for (const x of d) expect(x.dataset.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(d.map((x) => x.dataset.digest)).size).toBe(3);
    expect(JSON.parse(d[0]!.dataset.source)).toEqual({ uri: '/p/data/all.csv' });
    expect(JSON.parse(d[1]!.dataset.profile).sha256).toEqual({
      '.ratchet/data/public.csv': 'b'.repeat(64),
      '.ratchet/vault/public.parquet': 'c'.repeat(64),
    });
    expect(JSON.parse(d[0]!.dataset.schema).mlflow_colspec).toEqual([
      { name: 'row_id', type: 'long', required: true },
      { name: 'age', type: 'double', required: true },
      { name: 'city', type: 'string', required: true },
      { name: 'y', type: 'string', required: true },
    ]);
    // A changed split file changes its digest.
    const other = datasetInputs('/p', 'proj', manifest, {
      ...lock,
      '.ratchet/vault/private.parquet': '0'.repeat(64),
    });
    expect(other[2]!.dataset.digest).not.toBe(d[2]!.dataset.digest);
    expect(other[0]!.dataset.digest).toBe(d[0]!.dataset.digest);
  });

  it('a lock without a split file: an error naming the file and the fix', () => {
    const { '.ratchet/vault/public.parquet': _, ...partial } = lock;
    expect(() => datasetInputs('/p', 'proj', manifest, partial)).toThrow(
      'ratchet.lock has no hash of .ratchet/vault/public.parquet: re-run `ratchet init`',
    );
  });

  it('maps DuckDB types to MLflow ColSpec types', () => {
    expect(
      ['BIGINT', 'INTEGER', 'FLOAT', 'DOUBLE', 'DECIMAL(10,2)', 'BOOLEAN', 'DATE', 'VARCHAR', 'BLOB'].map(
        colspecType,
      ),
    ).toEqual(['long', 'integer', 'float', 'double', 'double', 'boolean', 'datetime', 'string', 'string']);
  });
});

describe('MLflow payload names (pure)', () => {
  it('public_<metric> for every metric, never a bare name; private_<metric> only once submitted', () => {
    const p = experimentPayload(rec, { branch: 'ratchet/r', proposer: 'search' });
    const keys = p.metrics.map((m) => m.key);
    expect(keys).toContain('public_auroc');
    expect(keys).toContain('public_ndcg@10');
    expect(keys.filter((k) => !k.startsWith('public_') && !k.startsWith('ratchet.'))).toEqual([]);
    expect(tierPayload(rec, { submission: null, review: null })).toEqual({ metrics: [], tags: [] });
    const t = tierPayload(rec, {
      submission: {
        id: 9,
        ts: '2026-01-02T00:00:00.000Z',
        runId: 'r',
        experimentId: 3,
        commitSha: 'abc',
        public: 0.8,
        private: 0.75,
        gap: 0.05,
        metrics: { auroc: 0.75, 'ndcg@10': 0.3 },
      },
      review: null,
    });
    expect(t.metrics.map((m) => [m.key, m.value])).toEqual([
      ['private_auroc', 0.75],
      ['private_ndcg@10', 0.3],
      ['ratchet.gap', 0.05],
    ]);
  });
});

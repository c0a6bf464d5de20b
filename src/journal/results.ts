import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { ExperimentRecord } from './store.js';

/** Project-relative path of the tab-separated results log (one row per experiment, like autoresearch's). */
export const RESULTS_FILE = '.ratchet/results.tsv';

const HEADER = [
  'experiment',
  'run',
  'seq',
  'commit',
  'score',
  'delta',
  'decision',
  'seconds',
  'proposer',
  'hypothesis',
];

const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v).replace(/[\t\r\n]+/g, ' '));

/**
 * Rewrite `.ratchet/results.tsv` from the journal's experiments (atomically): after a crash the file may
 * miss the last row; the journal is the record.
 */
export function rewriteResults(projectDir: string, experiments: ExperimentRecord[]): void {
  const lines = [HEADER.join('\t'), ...experiments.map(row)];
  writeFileAtomic(join(projectDir, RESULTS_FILE), `${lines.join('\n')}\n`);
}

function row(e: ExperimentRecord): string {
  return [
    e.id,
    e.runId,
    e.seq,
    (e.commitSha ?? e.parentSha).slice(0, 12),
    e.score === null ? '' : e.score.toFixed(6),
    e.delta === null ? '' : e.delta.toFixed(6),
    e.decision,
    (e.durationMs / 1000).toFixed(1),
    e.proposer,
    e.hypothesis,
  ]
    .map(cell)
    .join('\t');
}

/**
 * Append one experiment to `.ratchet/results.tsv` (writing the header first when the file is new).
 * One `appendFileSync` per row, so a reader never sees half a row.
 */
export function appendResult(projectDir: string, e: ExperimentRecord): void {
  const path = join(projectDir, RESULTS_FILE);
  const head = existsSync(path) ? '' : `${HEADER.join('\t')}\n`;
  appendFileSync(path, `${head}${row(e)}\n`);
}

import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
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
 * Append one experiment to `.ratchet/results.tsv` (writing the header first when the file is new).
 * One `appendFileSync` per row, so a reader never sees half a row.
 */
export function appendResult(projectDir: string, e: ExperimentRecord): void {
  const path = join(projectDir, RESULTS_FILE);
  const row = [
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
  const head = existsSync(path) ? '' : `${HEADER.join('\t')}\n`;
  appendFileSync(path, `${head}${row}\n`);
}

import { describe, expect, it } from 'vitest';
import type { ExperimentRecord } from '../../src/journal/store.js';
import { historyEntry } from '../../src/loop/tally.js';

const record = (meta: Record<string, unknown> | null): ExperimentRecord =>
  ({
    id: 7,
    seq: 3,
    decision: 'kept',
    hypothesis: 'h',
    meta,
    files: ['train.py'],
  }) as unknown as ExperimentRecord;

describe('historyEntry: what a run session keeps in memory of an experiment', () => {
  it('leaves out the meta only the journal reads and keeps the rest (runs, tree, agent)', () => {
    const meta = {
      timings: { propose: 1.2, check: 40.1 },
      predictions: { 'public.csv': 'ab'.repeat(32) },
      featureCheck: { status: 'not_checked' },
      runs: [0.71, 0.7],
      tree: 'f'.repeat(40),
      agent: { proposer: 'mcp' },
    };
    const e = record(meta);
    const kept = historyEntry(e);
    expect(kept.meta).toEqual({ runs: [0.71, 0.7], tree: 'f'.repeat(40), agent: { proposer: 'mcp' } });
    expect(kept.files).toEqual(['train.py']);
    expect(kept.id).toBe(7);
    expect(e.meta).toBe(meta); // the journal's record is not changed
    expect(Object.keys(e.meta!)).toContain('timings');
  });

  it('returns the record itself when there is nothing to leave out', () => {
    const e = record({ runs: [0.7] });
    expect(historyEntry(e)).toBe(e);
    const bare = record(null);
    expect(historyEntry(bare)).toBe(bare);
  });
});

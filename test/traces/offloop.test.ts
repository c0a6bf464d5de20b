import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { QUERY_LIMITS, QueryRunner } from '../../src/traces/offloop.js';
import type { SqlResult } from '../../src/traces/sql.js';
import { addBigEvents, addFinishedRun } from '../helpers/journal.js';

/**
 * The query process's memory limit holds however fast a query allocates: the kernel refuses its data segment
 * beyond QUERY_LIMITS.dataMb (RLIMIT_DATA), so the limit does not depend on the runner's resident-memory
 * poll catching the growth in time (on a loaded machine a 50 ms poll can be late by hundreds of MB).
 */

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ratchet-offloop-'));
  const j = Journal.open(dir);
  addFinishedRun(j);
  // 40 events of 256 KiB: group_concat over their self-join builds a 420 MB string.
  addBigEvents(j, 'r1', 40, 256);
  j.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Resident memory of a process, MB (0 when it is gone). */
function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return (Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096) / 2 ** 20;
  } catch {
    return 0;
  }
}

describe('the query process memory limit', () => {
  it('holds with the resident-memory poll out of the way: a 420 MB group_concat fails inside the process', {
    timeout: 60_000,
  }, async () => {
    // The poll reads once a minute: only the data-segment limit can stop this query in time.
    const runner = new QueryRunner({ pollMs: 60_000 });
    try {
      const events = () =>
        runner.run<SqlResult>({ kind: 'sql', projectDir: dir, sql: 'SELECT count(*) FROM events', opts: {} });
      expect((await events()).rows).toEqual([[40]]);
      const pid = runner.pid;
      expect(pid).toBeGreaterThan(0);
      // The limit is the kernel's, on the query process itself.
      const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
      expect(limits).toMatch(new RegExp(`Max data size\\s+${QUERY_LIMITS.dataMb * 2 ** 20}\\s`));
      let peak = 0;
      const poll = setInterval(() => {
        peak = Math.max(peak, rssMb(pid));
      }, 5);
      const started = performance.now();
      const err = await runner
        .run<SqlResult>(
          {
            kind: 'sql',
            projectDir: dir,
            sql: 'SELECT length(group_concat(a.message)) FROM events a, events b',
            opts: {},
          },
          { timeoutMs: 30_000 },
        )
        .then(
          (r) => r,
          (e: Error) => e,
        );
      clearInterval(poll);
      process.stderr.write(
        `group_concat with the poll off: ${(performance.now() - started).toFixed(0)} ms, peak RSS ${peak.toFixed(0)} MB\n`,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe(
        `the query used over ${QUERY_LIMITS.memoryMb} MB of memory and was stopped`,
      );
      // Resident memory cannot pass the data limit by more than the code and shared libraries mapped.
      expect(peak).toBeLessThan(QUERY_LIMITS.dataMb + 40);
      // The query process survived its failed allocation and still answers.
      expect(runner.pid).toBe(pid);
      expect((await events()).rows).toEqual([[40]]);
    } finally {
      runner.close();
    }
  });
});

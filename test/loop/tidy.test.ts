import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Decision, ExperimentOutcome } from '../../src/journal/store.js';
import { CHECKS_DIR, ORPHANS_DIR, PRUNED_NOTE, TraceTidy, tidyTraces } from '../../src/loop/tidy.js';
import { Xoshiro128 } from '../../src/metrics/index.js';
import { tempDir } from '../helpers/project.js';

/**
 * The incremental trace tidy (TraceTidy, one per run session) against the full scan (tidyTraces): two copies of a
 * project's traces folder go through the same history of experiments (several directions recording out of id
 * order, crashes, output-size rejections, confirmation runs, `ratchet check` measurements, a `ratchet gc` and a
 * person deleting folders), one tidied by each, and after every tidy both did exactly the same.
 */

const RUNS = '.ratchet/runs';
const pad = (id: number) => String(id).padStart(4, '0');

/** An in-memory journal: recorded outcomes, `listOutcomes({ fromId })` as the Journal answers it. */
class FakeJournal {
  readonly rows: ExperimentOutcome[] = [];
  /** Rows handed out by listOutcomes, all calls together. */
  read = 0;
  listOutcomes(opts: { fromId?: number } = {}): ExperimentOutcome[] {
    const out = this.rows.filter((r) => r.id >= (opts.fromId ?? 0)).sort((a, b) => a.id - b.id);
    this.read += out.length;
    return out;
  }
}

/** Every file and folder under `dir` (relative), orphans named without the time suffix of their move. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      out.push(relative(dir, p).replace(/^(\.ratchet\/orphans\/\d+)-\d+/, '$1'));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Apply one filesystem change to both copies. */
function both(dirs: string[], f: (dir: string) => void): void {
  for (const d of dirs) f(d);
}

describe('TraceTidy', () => {
  it('orphans and prunes exactly what a full scan would, step after step', () => {
    const full = tempDir();
    const inc = tempDir();
    const dirs = [full, inc];
    both(dirs, (d) => mkdirSync(join(d, RUNS), { recursive: true }));
    const rng = new Xoshiro128(7);
    const journal = new FakeJournal();
    const keepLast = 3;
    const tidy = new TraceTidy(inc, keepLast);
    const active = new Set<number>();
    let nextId = 1;
    let prunedTotal = 0;
    let orphanedTotal = 0;
    const start = () => {
      const id = nextId++;
      active.add(id);
      both(dirs, (d) => {
        const out = join(d, RUNS, pad(id), 'output');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, 'public.csv'), `id,prediction\n1,0.${id}\n`);
        if (id % 7 === 0) {
          mkdirSync(join(d, RUNS, pad(id), 'confirm-1', 'output'), { recursive: true });
          writeFileSync(join(d, RUNS, pad(id), 'confirm-1', 'output', 'public.csv'), 'id,prediction\n');
        }
      });
    };
    const finish = (id: number) => {
      active.delete(id);
      const u = rng.nextFloat();
      const decision: Decision = id === 1 || u < 0.15 ? 'kept' : u < 0.8 ? 'reverted' : 'crashed';
      const sandboxStatus = decision === 'crashed' && rng.nextFloat() < 0.5 ? 'output_limit' : 'ok';
      journal.rows.push({ id, decision, sandboxStatus });
    };
    let fullRead = 0;
    let incRead = 0;
    const compare = (step: number) => {
      let before = journal.read;
      const a = tidyTraces(full, join(full, RUNS), journal.listOutcomes(), keepLast, active);
      fullRead += journal.read - before;
      before = journal.read;
      const b = tidy.tidy(journal, active);
      incRead += journal.read - before;
      const rel = (r: typeof a, root: string) => ({
        orphaned: r.orphaned,
        pruned: r.pruned.map((p) => ({ ...p, dir: relative(root, p.dir) })),
      });
      expect(rel(b, inc), `step ${step}`).toEqual(rel(a, full));
      expect(tree(inc), `step ${step}`).toEqual(tree(full));
      prunedTotal += a.pruned.length;
      orphanedTotal += a.orphaned.length;
    };
    // A crash of an earlier process left a half-written folder; an older run recorded #1..#3 (one interrupted).
    start();
    finish(1);
    start();
    finish(2);
    start(); // #3: never recorded, no longer under way: an orphan
    active.delete(3);
    compare(0);
    const running: number[] = [];
    for (let step = 1; step <= 160; step++) {
      // Four directions: each step one experiment starts and a random one under way finishes (out of id order).
      start();
      running.push(nextId - 1);
      if (running.length > 4) finish(running.splice(rng.nextInt(running.length), 1)[0]!);
      if (step % 40 === 0) {
        // The kill switch: one experiment under way aborted, its folder left without a row.
        const aborted = running.splice(rng.nextInt(running.length), 1)[0]!;
        active.delete(aborted);
      }
      if (step % 25 === 0)
        both(dirs, (d) => {
          // `ratchet check` measured again: its folders, the older ones' outputs prunable.
          const c = join(d, CHECKS_DIR, `check-${1000 + step}-42`, '0', 'output');
          mkdirSync(c, { recursive: true });
          writeFileSync(join(c, 'public.csv'), 'id,prediction\n');
        });
      if (step === 70) {
        // `ratchet gc --keep-last 0` pruned an old reverted experiment's outputs behind the run's back; a person
        // deleted two old trace folders.
        const old = journal.rows.filter((r) => r.decision === 'reverted').slice(-2)[0]!.id;
        both(dirs, (d) => {
          rmSync(join(d, RUNS, pad(old), 'output', 'public.csv'));
          writeFileSync(join(d, RUNS, pad(old), PRUNED_NOTE), 'gc\n');
          rmSync(join(d, RUNS, pad(5)), { recursive: true, force: true });
          rmSync(join(d, RUNS, pad(6)), { recursive: true, force: true });
        });
      }
      if (step === 90) {
        // A folder appears that no experiment of this run made (another process's crash): orphaned like a scan.
        both(dirs, (d) => mkdirSync(join(d, RUNS, '9999', 'output'), { recursive: true }));
      }
      compare(step);
    }
    expect(prunedTotal).toBeGreaterThan(60);
    // The incremental tidy read the rows from the oldest experiment under way on, not the history each time.
    expect(incRead).toBeLessThan(fullRead / 5);
    expect(orphanedTotal).toBe(1 + 4 + 1);
    expect(existsSync(join(inc, ORPHANS_DIR))).toBe(true);
  });

  it('reads only the journal rows it may not have seen, and never stats a folder it knows pruned', () => {
    const dir = tempDir();
    const journal = new FakeJournal();
    const tidy = new TraceTidy(dir, 2);
    for (let id = 1; id <= 300; id++) {
      mkdirSync(join(dir, RUNS, pad(id), 'output'), { recursive: true });
      writeFileSync(join(dir, RUNS, pad(id), 'output', 'public.csv'), 'id,prediction\n');
      journal.rows.push({ id, decision: id === 1 ? 'kept' : 'reverted', sandboxStatus: 'ok' });
      tidy.tidy(journal);
    }
    // One new row per tidy (plus the first), not the whole history each time.
    expect(journal.read).toBe(300);
    expect(existsSync(join(dir, RUNS, pad(298), PRUNED_NOTE))).toBe(true);
    expect(existsSync(join(dir, RUNS, pad(299), 'output', 'public.csv'))).toBe(true);
    // A note removed from a folder it pruned is not looked for again (the full scan would prune it anew):
    // the incremental tidy remembers what it pruned instead of stat-ing every old folder.
    rmSync(join(dir, RUNS, pad(10), PRUNED_NOTE));
    writeFileSync(join(dir, RUNS, pad(10), 'output', 'public.csv'), 'id,prediction\n');
    expect(tidy.tidy(journal).pruned).toEqual([]);
    expect(tidyTraces(dir, join(dir, RUNS), journal.listOutcomes(), 2).pruned.map((p) => p.id)).toEqual([10]);
  });

  it('with a least interval, a tidy that soon after the last one does nothing, and the next one later catches up', async () => {
    const dir = tempDir();
    const journal = new FakeJournal();
    const tidy = new TraceTidy(dir, 1, 300);
    const add = (id: number) => {
      mkdirSync(join(dir, RUNS, pad(id), 'output'), { recursive: true });
      writeFileSync(join(dir, RUNS, pad(id), 'output', 'public.csv'), 'id,prediction\n');
      journal.rows.push({ id, decision: 'reverted', sandboxStatus: 'ok' });
    };
    add(1);
    add(2);
    // The first tidy always runs (a crashed run's orphans go aside before any proposer looks).
    mkdirSync(join(dir, RUNS, pad(9)), { recursive: true });
    expect(tidy.tidy(journal).orphaned).toEqual([9]);
    add(3);
    const soon = tidy.tidy(journal);
    expect(soon).toEqual({ orphaned: [], pruned: [] });
    expect(existsSync(join(dir, RUNS, pad(2), 'output', 'public.csv'))).toBe(true);
    await new Promise((r) => setTimeout(r, 350));
    // Later: what the skipped tidy would have pruned is pruned now (only the newest output is kept).
    expect(tidy.tidy(journal).pruned.map((p) => p.id)).toEqual([2]);
    expect(existsSync(join(dir, RUNS, pad(3), 'output', 'public.csv'))).toBe(true);
  });
});

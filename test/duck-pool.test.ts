import { describe, expect, it } from 'vitest';
import { readRows } from '../src/data/duck.js';
import { DuckPool } from '../src/data/duck-pool.js';
import { evalDuckCount } from '../src/loop/session.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('DuckPool: the DuckDBs the directions of a run share', () => {
  it('lends at most `size` instances at once, serves waiters first come first served, and each lease is a working DuckDB', async () => {
    const pool = await DuckPool.open(2, 1);
    try {
      let lentMax = 0;
      const order: number[] = [];
      const gates: (() => void)[] = [];
      const users = Array.from({ length: 5 }, (_, i) =>
        pool.use(async (duck) => {
          order.push(i);
          lentMax = Math.max(lentMax, pool.lent);
          await new Promise<void>((r) => gates.push(r));
          const [row] = await readRows(duck.con, `SELECT ${i} + 1 AS n`);
          return Number(row!['n']);
        }),
      );
      await tick();
      expect(order).toEqual([0, 1]); // two lent, three waiting
      expect(pool.lent).toBe(2);
      while (gates.length > 0 || order.length < 5) {
        gates.shift()?.();
        await tick();
      }
      expect(await Promise.all(users)).toEqual([1, 2, 3, 4, 5]);
      expect(order).toEqual([0, 1, 2, 3, 4]);
      expect(lentMax).toBe(2);
      expect(pool.lent).toBe(0);
    } finally {
      pool.close();
    }
  });

  it('takes the instance back when its user throws, and refuses leases once closed', async () => {
    const pool = await DuckPool.open(1, 1);
    await expect(
      pool.use(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(pool.lent).toBe(0);
    // The single instance is free again: a second user gets it without waiting.
    expect(await pool.use(async (d) => Number((await readRows(d.con, 'SELECT 7 AS n'))[0]!['n']))).toBe(7);
    pool.close();
    pool.close(); // idempotent
    await expect(pool.use(async () => 1)).rejects.toThrow('the DuckDB pool is closed');
  });

  it('refuses a size that is not a positive whole number', async () => {
    await expect(DuckPool.open(0, 1)).rejects.toThrow('a DuckDB pool needs a positive size, got 0');
    expect(() => new DuckPool([])).toThrow('at least one instance');
  });

  it('a run holds one DuckDB per two cores, never more than its directions, at least one', () => {
    expect(evalDuckCount(1, 2)).toBe(1);
    expect(evalDuckCount(64, 2)).toBe(1);
    expect(evalDuckCount(64, 1)).toBe(1);
    expect(evalDuckCount(64, 16)).toBe(8);
    expect(evalDuckCount(3, 16)).toBe(3);
  });
});

import { describe, expect, it } from 'vitest';
import { JEMALLOC_CONF, JEMALLOC_CONF_VAR } from '../src/data/allocator.js';
import { openDuck, readRows } from '../src/data/duck.js';

describe("DuckDB's allocator options", () => {
  it('are not left in the environment for child processes, and DuckDB works with them', async () => {
    expect(JEMALLOC_CONF).toMatch(/dirty_decay_ms:0/);
    expect(process.env[JEMALLOC_CONF_VAR]).toBeUndefined();
    const duck = await openDuck(2);
    try {
      const [r] = await readRows(duck.con, 'SELECT sum(i)::DOUBLE AS s FROM range(1000000) t(i)');
      expect(r!['s']).toBe(499999500000);
    } finally {
      duck.close();
    }
    expect(process.env[JEMALLOC_CONF_VAR]).toBeUndefined();
  });
});

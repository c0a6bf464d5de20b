import { describe, expect, it } from 'vitest';
import { openDuck, readDoubles } from '../src/data/duck.js';
import { cyrb53 } from '../src/data/hash.js';
import {
  assignSplits,
  assignSplitsSql,
  cyrb53Sql,
  PRIVATE,
  PUBLIC,
  type SplitInput,
  TRAIN,
} from '../src/data/split.js';

const ids = Array.from({ length: 10_000 }, (_, i) => `r${i}`);
const fractions = { train: 0.6, public: 0.2, private: 0.2 };
const count = (codes: Uint8Array, c: number) => codes.reduce((a, x) => a + (x === c ? 1 : 0), 0);

describe('assignSplits', () => {
  it('is deterministic for a seed, different across seeds, and hits the fractions exactly', () => {
    const a = assignSplits({ strategy: 'random', seed: 7, fractions, ids });
    const b = assignSplits({ strategy: 'random', seed: 7, fractions, ids });
    const c = assignSplits({ strategy: 'random', seed: 8, fractions, ids });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect([count(a, TRAIN), count(a, PUBLIC), count(a, PRIVATE)]).toEqual([6000, 2000, 2000]);
  });

  it('does not depend on row order', () => {
    const shuffled = [...ids].reverse();
    const a = assignSplits({ strategy: 'random', seed: 3, fractions, ids });
    const b = assignSplits({ strategy: 'random', seed: 3, fractions, ids: shuffled });
    const byId = new Map(shuffled.map((id, i) => [id, b[i]]));
    expect(ids.every((id, i) => byId.get(id) === a[i])).toBe(true);
  });

  it('stratified keeps the class balance in every split', () => {
    const labels = ids.map((_, i) => (i % 10 === 0 ? 'pos' : 'neg'));
    const codes = assignSplits({ strategy: 'stratified', seed: 1, fractions, ids, labels });
    for (const s of [TRAIN, PUBLIC, PRIVATE]) {
      let pos = 0;
      let n = 0;
      codes.forEach((c, i) => {
        if (c === s) {
          n++;
          if (labels[i] === 'pos') pos++;
        }
      });
      expect(pos / n).toBeCloseTo(0.1, 3);
    }
  });

  it('temporal puts every holdout row after every train row, private last', () => {
    const times = Float64Array.from(ids, (_, i) => (i * 7919) % 10_000);
    const codes = assignSplits({ strategy: 'temporal', seed: 1, fractions, ids, times });
    const maxOf = (c: number) => Math.max(...[...times].filter((_, i) => codes[i] === c));
    const minOf = (c: number) => Math.min(...[...times].filter((_, i) => codes[i] === c));
    expect(maxOf(TRAIN)).toBeLessThan(minOf(PUBLIC));
    expect(maxOf(PUBLIC)).toBeLessThan(minOf(PRIVATE));
  });

  it('group never splits a group and lands near the fractions', () => {
    const groups = ids.map((_, i) => `g${Math.floor(i / 5)}`);
    const codes = assignSplits({ strategy: 'group', seed: 1, fractions, ids, groups });
    const seen = new Map<string, number>();
    groups.forEach((g, i) => {
      const prev = seen.get(g);
      if (prev !== undefined) expect(codes[i]).toBe(prev);
      seen.set(g, codes[i]!);
    });
    expect(count(codes, PUBLIC)).toBeGreaterThan(1950);
    expect(count(codes, PUBLIC)).toBeLessThan(2050);
    expect(count(codes, PRIVATE)).toBeGreaterThan(1950);
  });

  it('refuses a strategy without its column', () => {
    expect(() => assignSplits({ strategy: 'group', seed: 1, fractions, ids })).toThrow(/needs a group value/);
  });
});

describe('assignSplitsSql', () => {
  /** Load rows into DuckDB as table `t` (file order = __row) and compare the SQL assignment with assignSplits. */
  async function both(input: SplitInput): Promise<{ js: Uint8Array; sql: Uint8Array }> {
    const duck = await openDuck();
    try {
      await duck.con.run('CREATE TABLE t (__row BIGINT, id VARCHAR, y VARCHAR, tm DOUBLE, g VARCHAR)');
      const app = await duck.con.createAppender('t');
      input.ids.forEach((id, i) => {
        app.appendBigInt(BigInt(i));
        app.appendVarchar(id);
        app.appendVarchar(input.labels?.[i] ?? '');
        app.appendDouble(input.times?.[i] ?? 0);
        const g = input.groups?.[i];
        if (g === undefined || g === '\u0000null') app.appendNull();
        else app.appendVarchar(g);
        app.endRow();
      });
      app.closeSync();
      await assignSplitsSql(duck.con, {
        strategy: input.strategy,
        seed: input.seed,
        fractions: input.fractions,
        table: 't',
        row: '__row',
        id: 'id',
        label: 'y',
        time: 'tm',
        group: 'g',
      });
      const codes = await readDoubles(duck.con, 'SELECT split::DOUBLE FROM assign ORDER BY __row');
      return { js: assignSplits(input), sql: Uint8Array.from(codes) };
    } finally {
      duck.close();
    }
  }
  // Ids with astral characters (surrogate pairs in JavaScript), accents and plain digits.
  const mixed = Array.from({ length: 3000 }, (_, i) =>
    i % 3 === 0 ? `${i}` : i % 3 === 1 ? `é${i}😀` : `id-${i}-\u{1F600}\u00e9\uFFFD`,
  );

  it('cyrb53Sql equals cyrb53 on ASCII, BMP and astral strings, for several seeds', async () => {
    const strs = ['', 'a', '0', 'x'.repeat(300), '\uE000\uFFFF', '😀', 'a\u0301', ...mixed.slice(0, 200)];
    const duck = await openDuck();
    try {
      await duck.con.run('CREATE TABLE s (i INTEGER, v VARCHAR)');
      const app = await duck.con.createAppender('s');
      strs.forEach((v, i) => {
        app.appendInteger(i);
        app.appendVarchar(v);
        app.endRow();
      });
      app.closeSync();
      for (const seed of [0, 1, 42, -7, 2 ** 32 + 5]) {
        const got = await readDoubles(duck.con, `SELECT ${cyrb53Sql('v', seed)}::DOUBLE FROM s ORDER BY i`);
        expect([...got]).toEqual(strs.map((v) => cyrb53(v, seed)));
      }
    } finally {
      duck.close();
    }
  });

  it('random and stratified give the same codes as assignSplits', async () => {
    for (const seed of [1, 7]) {
      const r = await both({ strategy: 'random', seed, fractions, ids: mixed });
      expect(r.sql).toEqual(r.js);
    }
    const labels = mixed.map((_, i) => (i % 7 === 0 ? 'pos' : i % 5 === 0 ? 'mid' : 'neg'));
    const s = await both({ strategy: 'stratified', seed: 3, fractions, ids: mixed, labels });
    expect(s.sql).toEqual(s.js);
  });

  it('temporal gives the same codes as assignSplits, ties in time broken by the hash', async () => {
    const times = Float64Array.from(mixed, (_, i) => (i % 50 === 0 ? -0 : Math.floor(i / 10)));
    const r = await both({ strategy: 'temporal', seed: 5, fractions, ids: mixed, times });
    expect(r.sql).toEqual(r.js);
  });

  it('group gives the same codes as assignSplits, empty groups as one group', async () => {
    const groups = mixed.map((_, i) => (i % 97 === 0 ? '\u0000null' : `g${(i * 31) % 211}`));
    const r = await both({ strategy: 'group', seed: 2, fractions, ids: mixed, groups });
    expect(r.sql).toEqual(r.js);
    const sizes = mixed.map((_, i) => `s${Math.floor(Math.sqrt(i))}`); // groups of growing size
    const u = await both({ strategy: 'group', seed: 9, fractions, ids: mixed, groups: sizes });
    expect(u.sql).toEqual(u.js);
  });
});

/**
 * The seeded PRNG (xoshiro128**) and the radix sorts.
 */

import { describe, expect, it } from 'vitest';
import { CountOverflowError, Xoshiro128 } from '../../src/metrics/random.js';
import { argsortFloat64, sortFloat64 } from '../../src/metrics/sort.js';

describe('Xoshiro128', () => {
  it('matches the reference C implementation (prng.di.unimi.it/xoshiro128starstar.c)', () => {
    // Outputs of the reference code compiled with gcc, from state {1, 2, 3, 4}.
    const g = Xoshiro128.fromState([1, 2, 3, 4]);
    const got = Array.from({ length: 10 }, () => g.nextUint32());
    expect(got).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
    const h = Xoshiro128.fromState([0x9e3779b9, 0x243f6a88, 0xb7e15162, 0xdeadbeef]);
    for (let i = 0; i < 1000; i++) h.nextUint32();
    expect(Array.from({ length: 5 }, () => h.nextUint32())).toEqual([
      2541037969, 1849389561, 1502624387, 2643130287, 1638949829,
    ]);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const a = new Xoshiro128(42);
    const b = new Xoshiro128(42);
    const c = new Xoshiro128(43);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(sa);
    // seeds that differ only above 2^32 give different streams too
    expect(new Xoshiro128(2 ** 40 + 1).nextUint32()).not.toBe(new Xoshiro128(1).nextUint32());
    expect(() => new Xoshiro128(-1)).toThrow(RangeError);
    expect(() => new Xoshiro128(1.5)).toThrow(RangeError);
  });

  it('nextFloat is in [0, 1) with mean ~1/2', () => {
    const g = new Xoshiro128(1);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = g.nextFloat();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
  });

  it('nextInt is uniform (chi-square) and in range for small and large bounds', () => {
    const g = new Xoshiro128(9);
    for (const k of [1, 2, 7, 10]) {
      const counts = new Float64Array(k);
      const draws = 20_000 * k;
      for (let i = 0; i < draws; i++) counts[g.nextInt(k)]!++;
      const e = draws / k;
      let chi2 = 0;
      for (const c of counts) chi2 += ((c - e) * (c - e)) / e;
      // 99.9% quantile of chi-square with k - 1 <= 9 degrees of freedom is < 28
      expect(chi2, `k=${k}`).toBeLessThan(28);
    }
    for (const n of [2 ** 21, 2 ** 21 + 1, 3_000_000, 2 ** 31 + 5, 2 ** 32]) {
      let max = 0;
      let below = 0;
      let bad = 0;
      for (let i = 0; i < 20_000; i++) {
        const v = g.nextInt(n);
        if (!(Number.isInteger(v) && v >= 0 && v < n)) bad++;
        max = Math.max(max, v);
        if (v < n / 2) below++;
      }
      expect(bad, `draws outside [0, ${n})`).toBe(0);
      expect(max).toBeGreaterThan(n * 0.99);
      expect(Math.abs(below / 20_000 - 0.5)).toBeLessThan(0.02);
    }
    expect(() => g.nextInt(0)).toThrow(RangeError);
    expect(() => g.nextInt(2 ** 32 + 1)).toThrow(RangeError);
  });

  it('fillUniformInts equals exact Lemire rejection computed with BigInt', () => {
    // Bounds where the double product is inexact (> 2^21), including ones where rejection (and so the
    // exact fallback path) is frequent, e.g. 2^31 + 1 rejects almost half of all draws.
    for (const bound of [7, 2 ** 21, 3_000_000, 2 ** 31 + 1, 3_000_000_019, 2 ** 32]) {
      const count = 20_000;
      const out = new Uint32Array(count);
      new Xoshiro128(77).fillUniformInts(bound, out);
      const ref = new Xoshiro128(77);
      const n = BigInt(bound);
      const threshold = (2n ** 32n - n) % n;
      const expected: number[] = [];
      while (expected.length < count) {
        const m = BigInt(ref.nextUint32()) * n;
        if ((m & 0xffffffffn) < threshold) continue;
        expected.push(Number(m >> 32n));
      }
      expect(Array.from(out), `bound ${bound}`).toEqual(expected);
    }
  });

  it('multinomial counts sum to n, match nextInt draws, and the byte version agrees', () => {
    for (const n of [1, 5, 1000, 5000]) {
      const f = new Float64Array(n);
      new Xoshiro128(5).multinomialCounts(n, f);
      const u = new Uint8Array(n);
      new Xoshiro128(5).multinomialCountsU8(n, u);
      const manual = new Float64Array(n);
      const g = new Xoshiro128(5);
      for (let i = 0; i < n; i++) manual[g.nextInt(n)]!++;
      expect(Array.from(f)).toEqual(Array.from(manual));
      expect(Array.from(u)).toEqual(Array.from(f));
      expect(f.reduce((s, v) => s + v, 0)).toBe(n);
    }
    // the multiplicity of a row is Binomial(n, 1/n) ~ Poisson(1): about e^-1 of rows are never drawn
    const n = 200_000;
    const c = new Float64Array(n);
    new Xoshiro128(11).multinomialCounts(n, c);
    let zeros = 0;
    for (const v of c) if (v === 0) zeros++;
    expect(Math.abs(zeros / n - Math.exp(-1))).toBeLessThan(0.005);
  });

  it('the byte counter refuses to wrap around', () => {
    // 600 draws over 2 rows: each row is drawn ~300 > 255 times
    const out = new Uint8Array(2);
    expect(() => new Xoshiro128(1).multinomialCountsU8(2, out, 600)).toThrow(CountOverflowError);
    expect(new CountOverflowError(2)).toBeInstanceOf(RangeError); // the bootstrap redraws on RangeError
    const f = new Float64Array(2);
    new Xoshiro128(1).multinomialCounts(2, f, 600);
    expect(f[0]! + f[1]!).toBe(600);
    expect(f[0]!).toBeGreaterThan(255);
  });
});

describe('radix sorts', () => {
  const special = [
    0,
    -0,
    1,
    -1,
    0.5,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2.2250738585072014e-308,
    1e-320,
    0.1,
    0.1,
    0.1,
    3,
    -3,
  ];

  it('sortFloat64 equals the native numeric sort, special values included', () => {
    const g = new Xoshiro128(2);
    for (const n of [0, 1, 2, 17, 5000]) {
      const a = new Float64Array(n + special.length);
      for (let i = 0; i < n; i++) a[i] = (g.nextFloat() - 0.5) * 10 ** (g.nextInt(40) - 20);
      a.set(special, n);
      const mine = a.slice();
      sortFloat64(mine);
      const native = a.slice().sort();
      expect(Array.from(mine).map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual(
        Array.from(native).map((v) => (Object.is(v, -0) ? '-0' : v)),
      );
    }
  });

  it('sorts probabilities (skipped trivial passes) and heavy ties', () => {
    const g = new Xoshiro128(3);
    const a = Float64Array.from({ length: 20_000 }, () => Math.round(g.nextFloat() * 20) / 20);
    const mine = a.slice();
    sortFloat64(mine);
    expect(Array.from(mine)).toEqual(Array.from(a.slice().sort()));
  });

  it('sortFloat64 sorts a view in place (keys made over its own bytes) and leaves the rest of the buffer alone', () => {
    const g = new Xoshiro128(5);
    for (const len of [3000, 3001]) {
      // Odd and even counts of non-trivial passes end in either buffer: both must land in the view.
      const buf = Float64Array.from({ length: len + 10 }, () => g.nextFloat() * (len % 2 ? 1 : -1e6));
      const before = buf.slice();
      const view = buf.subarray(5, len + 5);
      sortFloat64(view);
      expect(Array.from(view)).toEqual(Array.from(before.subarray(5, len + 5).sort()));
      expect(Array.from(buf.subarray(0, 5))).toEqual(Array.from(before.subarray(0, 5)));
      expect(Array.from(buf.subarray(len + 5))).toEqual(Array.from(before.subarray(len + 5)));
    }
  });

  it('argsortFloat64 is a stable ascending argsort', () => {
    const g = new Xoshiro128(4);
    const a = Float64Array.from({ length: 3000 }, () => g.nextInt(50) / 7 - 3);
    a.set(special, 100);
    const order = argsortFloat64(a);
    // ascending by value, -0 before +0 (as the native sort), ties by original index
    const expected = Array.from({ length: a.length }, (_, i) => i).sort(
      (i, j) => a[i]! - a[j]! || Number(Object.is(a[j], -0)) - Number(Object.is(a[i], -0)) || i - j,
    );
    expect(Array.from(order)).toEqual(expected);
  });
});

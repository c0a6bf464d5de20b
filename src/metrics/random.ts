/**
 * Seeded pseudo-random numbers for the bootstrap: xoshiro128** 1.0 (Blackman & Vigna,
 * "Scrambled linear pseudorandom number generators", ACM TOMS 2021; reference C code at
 * https://prng.di.unimi.it/xoshiro128starstar.c), seeded through splitmix32.
 *
 * Everything here is deterministic for a seed across platforms: only 32-bit integer operations
 * (`Math.imul`, shifts, xor) and exact double arithmetic are used.
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_M32 = 1 / TWO_POW_32;
const TWO_POW_M16 = 1 / 65536;
/** Largest n for which `x * n` (x < 2^32) is exact in a double (one multiplication suffices). */
const LEMIRE_MAX_N = 2 ** 21;

/** One step of splitmix32 (a 32-bit variant of Steele, Lea & Flood's SplitMix); returns [state, output]. */
function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z = (z ^ (z >>> 15)) >>> 0;
  return [s, z];
}

/**
 * xoshiro128** generator: period 2^128 - 1, 32-bit outputs.
 * Construct with any integer seed in [0, 2^53); the same seed always gives the same stream.
 */
export class Xoshiro128 {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /**
   * @param seed a non-negative safe integer; its low and high 32-bit halves both feed the state.
   * @throws RangeError when `seed` is not a non-negative safe integer.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    }
    let st = (seed >>> 0) ^ 0x6a09e667;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    let out: number;
    [st, out] = splitmix32(st);
    this.s0 = out;
    [st, out] = splitmix32(st ^ hi);
    this.s1 = out;
    [st, out] = splitmix32(st);
    this.s2 = out;
    [st, out] = splitmix32(st ^ Math.imul(hi, 0x85ebca6b));
    this.s3 = out;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /**
   * A generator started from an explicit xoshiro128** state (four uint32 words, not all zero); for
   * checking the implementation against the reference test vectors.
   * @throws RangeError for an all-zero state.
   */
  static fromState(state: readonly [number, number, number, number]): Xoshiro128 {
    if ((state[0] | state[1] | state[2] | state[3]) === 0)
      throw new RangeError('the all-zero state is invalid');
    const g = new Xoshiro128(0);
    [g.s0, g.s1, g.s2, g.s3] = state.map((v) => v | 0) as [number, number, number, number];
    return g;
  }

  /** Next 32-bit unsigned integer, uniform on [0, 2^32). */
  nextUint32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return result;
  }

  /** Next double uniform on [0, 1) with 53 random bits. */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * Next integer uniform on [0, n), exactly (no modulo bias): Lemire's multiply-and-reject
   * ("Fast random integer generation in an interval", ACM TOMACS 2019) on one 32-bit output.
   * @throws RangeError unless n is an integer in [1, 2^32].
   */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`nextInt bound must be an integer in [1, 2^32], got ${n}`);
    }
    const one = this.scratch;
    this.fillUniformInts(n, one, 1);
    return one[0]!;
  }

  private readonly scratch = new Uint32Array(1);

  /**
   * Fills `out[0..count-1]` with integers uniform on [0, bound), exactly; the same stream as `count`
   * calls of `nextInt(bound)`. The generator state lives in locals for the hot loop.
   * @throws RangeError unless bound is an integer in [1, 2^32] and count <= out.length.
   */
  fillUniformInts(bound: number, out: Uint32Array, count: number = out.length): void {
    if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) {
      throw new RangeError(`bound must be an integer in [1, 2^32], got ${bound}`);
    }
    if (!(count <= out.length))
      throw new RangeError(`count ${count} exceeds the buffer length ${out.length}`);
    // Lemire's method needs hi = floor(x * bound / 2^32) and lo = (x * bound) mod 2^32 exactly.
    // The double product is exact for bound <= 2^21 (first loop). Above (second loop), it is off by
    // at most 2^10, which can only matter when lo lands within 2^11 of a multiple of 2^32 or of the
    // rejection threshold: those rare draws (probability ~ 2^-20 + bound / 2^32) are redone with an
    // exact split product. The xoshiro128** step is inlined in both loops (state in locals).
    const threshold = (TWO_POW_32 - bound) % bound;
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    if (bound <= LEMIRE_MAX_N) {
      for (let i = 0; i < count; i++) {
        const m5 = Math.imul(s1, 5);
        const x = Math.imul((m5 << 7) | (m5 >>> 25), 9) >>> 0;
        const t = s1 << 9;
        const n2 = s2 ^ s0;
        const n3 = s3 ^ s1;
        s1 = s1 ^ n2;
        s0 = s0 ^ n3;
        s2 = n2 ^ t;
        s3 = (n3 << 11) | (n3 >>> 21);
        const m = x * bound;
        const hi = Math.floor(m * TWO_POW_M32);
        if (m - hi * TWO_POW_32 < threshold) {
          i--; // rejected (probability < bound / 2^32): draw again
          continue;
        }
        out[i] = hi;
      }
    } else {
      const lowGuard = threshold + 2048;
      const highGuard = TWO_POW_32 - 2048;
      for (let i = 0; i < count; i++) {
        const m5 = Math.imul(s1, 5);
        const x = Math.imul((m5 << 7) | (m5 >>> 25), 9) >>> 0;
        const t = s1 << 9;
        const n2 = s2 ^ s0;
        const n3 = s3 ^ s1;
        s1 = s1 ^ n2;
        s0 = s0 ^ n3;
        s2 = n2 ^ t;
        s3 = (n3 << 11) | (n3 >>> 21);
        const m = x * bound;
        const hi = Math.floor(m * TWO_POW_M32);
        const lo = m - hi * TWO_POW_32;
        if (lo >= lowGuard && lo < highGuard) {
          out[i] = hi;
          continue;
        }
        // Rare path: the exact product x * bound = a * 2^16 + b with a, b < 2^48.
        const a = (x >>> 16) * bound;
        const b = (x & 0xffff) * bound;
        const ah = Math.floor(a * TWO_POW_M16);
        const c = (a - ah * 65536) * 65536 + b;
        const ch = Math.floor(c * TWO_POW_M32);
        if (c - ch * TWO_POW_32 < threshold) {
          i--; // rejected: draw again
          continue;
        }
        out[i] = ah + ch;
      }
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /**
   * Multinomial bootstrap counts: draws `draws` row indices (default n, the ordinary bootstrap)
   * uniformly with replacement from [0, n) and writes into `out[0..n-1]` how many times each row was
   * drawn (so the counts sum to `draws`). O(n + draws) time; consumes the same random stream as
   * `draws` calls of `nextInt(n)`.
   * @param out a Float64Array of length >= n; its first n entries are overwritten.
   * @throws RangeError unless n is an integer in [1, 2^32] and `out` is long enough.
   */
  multinomialCounts(n: number, out: Float64Array, draws: number = n): void {
    if (out.length < n) throw new RangeError(`counts buffer has length ${out.length} < n = ${n}`);
    out.fill(0, 0, n);
    const buf = this.indexBuffer();
    for (let done = 0; done < draws; done += buf.length) {
      const m = Math.min(buf.length, draws - done);
      this.fillUniformInts(n, buf, m);
      for (let i = 0; i < m; i++) out[buf[i]!]! += 1;
    }
  }

  /**
   * As `multinomialCounts`, into bytes: an eighth of the memory traffic in the bootstrap's hot loop.
   * A count above 255 cannot be stored (for draws = n its probability is below n / 256!, i.e. it
   * never happens in practice): the method then throws a `CountOverflowError` (a RangeError) after
   * consuming the draws, and the caller redraws.
   */
  multinomialCountsU8(n: number, out: Uint8Array, draws: number = n): void {
    if (out.length < n) throw new RangeError(`counts buffer has length ${out.length} < n = ${n}`);
    out.fill(0, 0, n);
    const buf = this.indexBuffer();
    let overflow = false;
    for (let done = 0; done < draws; done += buf.length) {
      const m = Math.min(buf.length, draws - done);
      this.fillUniformInts(n, buf, m);
      for (let i = 0; i < m; i++) {
        const j = buf[i]!;
        const c = out[j]! + 1;
        out[j] = c;
        if (c > 255) overflow = true;
      }
    }
    if (overflow) throw new CountOverflowError(n);
  }

  private buffer: Uint32Array | null = null;

  /** The reusable index buffer of the multinomial samplers (allocated once, 16 KiB). */
  private indexBuffer(): Uint32Array {
    if (this.buffer === null) this.buffer = new Uint32Array(INDEX_CHUNK);
    return this.buffer;
  }
}

/** Raised by `multinomialCountsU8` when a row was drawn more than 255 times. */
export class CountOverflowError extends RangeError {
  constructor(n: number) {
    super(`a multinomial count over ${n} rows exceeded 255 (probability < n / 256!)`);
    this.name = 'CountOverflowError';
  }
}

/** Indices drawn per chunk by the multinomial samplers (a 16 KiB buffer that stays in L1). */
const INDEX_CHUNK = 4096;

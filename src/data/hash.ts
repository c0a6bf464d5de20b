/**
 * cyrb53: a fast, well-mixed 53-bit string hash (public domain, bryc, 2018;
 * https://github.com/bryc/code/blob/master/jshash/experimental/cyrb53.js).
 * Used to order rows and groups for splits: deterministic across platforms and Node versions,
 * unlike DuckDB's `hash()`, whose values are not promised to stay the same between releases.
 * @param key the text to hash (a row id or group value)
 * @param seed the split seed (integer)
 * @returns an integer in [0, 2^53)
 */
export function cyrb53(key: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

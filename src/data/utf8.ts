import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Find the first byte of a file that is not valid UTF-8, reading it in 1 MiB chunks.
 * A multi-byte sequence that is cut off, has a bad continuation byte, is overlong, encodes a surrogate or
 * goes past U+10FFFF is invalid; the offset reported is that of the sequence's first byte.
 * @param path a file to check
 * @returns the 0-based byte offset of the first invalid sequence, or null when the whole file is UTF-8
 * @throws the fs error when the file cannot be read
 */
export function firstInvalidUtf8(path: string): number | null {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let base = 0; // file offset of buf[0]
    let start = 0; // offset of the current sequence's lead byte
    let need = 0; // continuation bytes still expected
    let lo = 0x80;
    let hi = 0xbf; // allowed range of the next continuation byte
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, base);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const b = buf[i]!;
        if (need > 0) {
          if (b < lo || b > hi) return start;
          need--;
          lo = 0x80;
          hi = 0xbf;
          continue;
        }
        if (b < 0x80) continue;
        start = base + i;
        if (b >= 0xc2 && b <= 0xdf) need = 1;
        else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          if (b === 0xe0) lo = 0xa0; // no overlong forms
          if (b === 0xed) hi = 0x9f; // no surrogates
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          if (b === 0xf0) lo = 0x90;
          if (b === 0xf4) hi = 0x8f;
        } else return start;
      }
      base += n;
    }
    return need > 0 ? start : null;
  } finally {
    closeSync(fd);
  }
}

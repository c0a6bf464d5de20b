/**
 * Host-side handling of what a sandboxed command leaves behind: the size of its output folder, the removal of
 * entries a host reader must never follow, and capped copies of its stdout/stderr.
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import { chmod, lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** Every entry is charged at least this many bytes, so a flood of empty files also reaches the cap. */
const MIN_ENTRY_BYTES = 4096;

/**
 * Total size of a folder tree in bytes, without following symlinks: for each entry (folders included) the larger
 * of its apparent size, its allocated blocks, and 4 KiB. Entries that vanish while walking are skipped.
 * Stops early and returns a value above `stopAbove` once that is exceeded.
 */
export async function treeBytes(dir: string, stopAbove = Number.POSITIVE_INFINITY): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    let names: string[];
    try {
      names = await readdir(cur);
    } catch {
      continue;
    }
    for (const name of names) {
      const p = join(cur, name);
      try {
        const st = await lstat(p);
        total += Math.max(st.size, st.blocks * 512, MIN_ENTRY_BYTES);
        if (st.isDirectory()) stack.push(p);
      } catch {
        // removed meanwhile
      }
      if (total > stopAbove) return total;
    }
  }
  return total;
}

/**
 * Make an output folder safe for host readers after a run: delete symlinks, FIFOs, sockets and device nodes
 * (a symlink could point a reader at the vault; a FIFO could hang it) and clear setuid/setgid/sticky bits.
 * @returns the relative paths of removed entries.
 */
export async function sanitizeOutput(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    let names: string[];
    try {
      names = await readdir(join(dir, rel));
    } catch {
      continue;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      try {
        const st = await lstat(p);
        if (st.isDirectory()) {
          stack.push(r);
          if (st.mode & 0o7000) await chmod(p, st.mode & 0o777);
        } else if (st.isFile()) {
          if (st.mode & 0o7000) await chmod(p, st.mode & 0o777);
        } else {
          await unlink(p);
          removed.push(r);
        }
      } catch {
        // vanished or not removable: nothing to do
      }
    }
  }
  return removed.sort();
}

/** A stream copied into a file up to a byte cap, the rest counted and dropped. */
export interface CappedLog {
  /** Resolves when the stream ended (or was destroyed) and the file is closed. */
  done: Promise<void>;
  /** Bytes dropped after the cap. */
  dropped(): number;
  /** Last bytes seen (kept even past the cap), for error messages. */
  tail(): string;
  /** Stop reading now (the stream is destroyed); `done` resolves soon after. */
  stop(): void;
}

/**
 * Copy `stream` into a new file at `path` (truncating it), keeping the first `capBytes` bytes. If more arrived,
 * a note `[ratchet: <name> truncated after N bytes; M more bytes dropped]` is appended when the stream ends.
 */
export function captureCapped(stream: Readable, path: string, capBytes: number, name: string): CappedLog {
  const fd = openSync(path, 'w', 0o644);
  let written = 0;
  let dropped = 0;
  let tail = Buffer.alloc(0);
  let closed = false;
  const finish = (): void => {
    if (closed) return;
    closed = true;
    if (dropped > 0) {
      writeSync(
        fd,
        `\n[ratchet: ${name} truncated after ${capBytes} bytes; ${dropped} more bytes dropped]\n`,
      );
    }
    closeSync(fd);
  };
  const done = new Promise<void>((res) => {
    stream.on('data', (chunk: Buffer) => {
      if (closed) return;
      const room = capBytes - written;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        writeSync(fd, part);
        written += part.length;
      }
      dropped += Math.max(0, chunk.length - Math.max(room, 0));
      tail = Buffer.concat([tail, chunk]).subarray(-2048);
    });
    stream.on('close', () => {
      finish();
      res();
    });
    stream.on('error', () => {
      finish();
      res();
    });
  });
  return {
    done,
    dropped: () => dropped,
    tail: () => tail.toString('utf8'),
    stop: () => stream.destroy(),
  };
}

/**
 * Host-side handling of what a sandboxed command leaves behind: the size of its output folder, the removal of
 * entries a host reader must never follow, and capped copies of its stdout/stderr.
 */

import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, lstatSync, openSync, readdirSync, writeSync } from 'node:fs';
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { removeNoFollow } from '../util/fs.js';

/** Every entry is charged at least this many bytes, so a flood of empty files also reaches the cap. */
const MIN_ENTRY_BYTES = 4096;
/**
 * Longest absolute path the host walks into (bytes). Deeper entries (the kernel refuses paths over 4096 bytes,
 * so host code could neither list nor remove them) are deleted whole, by `rm -rf`, which walks relative to
 * open folders.
 */
export const MAX_HOST_PATH = 3000;

/** List a folder; one the sandboxed code made unlistable (e.g. chmod 0311) is made u+rwx first. Null if it cannot be. */
async function listDir(p: string): Promise<string[] | null> {
  try {
    return await readdir(p);
  } catch {
    try {
      const st = await lstat(p);
      if (!st.isDirectory()) return null;
      await chmod(p, (st.mode & 0o777) | 0o700);
      return await readdir(p);
    } catch {
      return null;
    }
  }
}

/**
 * Total size of a folder tree in bytes, without following symlinks: for each entry (folders included) the larger
 * of its apparent size, its allocated blocks, and 4 KiB. Entries that vanish while walking are skipped; folders
 * made unlistable are made u+rwx and counted.
 * Stops early and returns a value above `stopAbove` once that is exceeded.
 */
export async function treeBytes(dir: string, stopAbove = Number.POSITIVE_INFINITY): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    const names = await listDir(cur);
    if (!names) continue;
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

/** What {@link secureTree} did. */
export interface SecureReport {
  /** Relative paths deleted: symlinks, FIFOs, sockets, devices, and subtrees too deep or not listable. */
  removed: string[];
  /** Entries it could not make safe (relative path: reason); empty when the tree is safe. */
  problems: string[];
}

/** Delete a subtree the host cannot walk (too deep): GNU rm walks relative to open folders and never follows links. */
function removeDeep(p: string): boolean {
  removeNoFollow(p);
  try {
    lstatSync(p);
  } catch {
    return true;
  }
  const r = spawnSync('rm', ['-rf', '--one-file-system', '--', p], { stdio: 'ignore' });
  try {
    lstatSync(p);
    return false;
  } catch {
    return r.status === 0 || r.status === 1;
  }
}

/**
 * Make a folder tree safe for host readers, whatever modes and entries the sandboxed code left, never following
 * a link and never throwing: every folder is made listable (u+rwx; `dirMode` when given), symlinks, FIFOs,
 * sockets and device nodes are deleted, subtrees deeper than {@link MAX_HOST_PATH} are deleted whole,
 * set-id/sticky bits are cleared (files get `fileMode` when given).
 */
export function secureTree(dir: string, opts: { fileMode?: number; dirMode?: number } = {}): SecureReport {
  const removed: string[] = [];
  const problems: string[] = [];
  const fix = (p: string, mode: number, rel: string) => {
    try {
      chmodSync(p, mode);
    } catch (e) {
      problems.push(`${rel || '.'}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory()) return { removed, problems: ['.: not a folder'] };
    fix(dir, opts.dirMode ?? (st.mode & 0o777) | 0o700, '');
  } catch (e) {
    return { removed, problems: [`.: ${(e as Error).message}`] };
  }
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const abs = rel ? join(dir, rel) : dir;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (e) {
      if (rel && removeDeep(abs)) removed.push(rel);
      else problems.push(`${rel || '.'}: cannot be listed (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      continue;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      if (Buffer.byteLength(p) > MAX_HOST_PATH) {
        if (removeDeep(p)) removed.push(r);
        else problems.push(`${r}: too deep and could not be removed`);
        continue;
      }
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p);
      } catch {
        continue; // vanished
      }
      if (st.isDirectory()) {
        fix(p, opts.dirMode ?? (st.mode & 0o777) | 0o700, r);
        stack.push(r);
      } else if (st.isFile()) {
        const want = opts.fileMode ?? st.mode & 0o777;
        if ((st.mode & 0o7777) !== want) fix(p, want, r);
      } else {
        removeNoFollow(p);
        try {
          lstatSync(p);
          problems.push(`${r}: a special file that could not be removed`);
        } catch {
          removed.push(r);
        }
      }
    }
  }
  return { removed: removed.sort(), problems };
}

/**
 * Make an output folder safe for host readers after a run: make every folder listable (u+rwx, so a chmod 0311
 * cannot hide anything), delete symlinks, FIFOs, sockets and device nodes (a symlink could point a reader at
 * the vault; a FIFO could hang it) and subtrees too deep to walk, and clear setuid/setgid/sticky bits.
 * Never throws.
 * @returns the relative paths of removed entries.
 */
export async function sanitizeOutput(dir: string): Promise<string[]> {
  return secureTree(dir).removed;
}

/**
 * Make an output folder read-only evidence: {@link secureTree} with folders 0755 and files 0444 (readable by
 * `ratchet traces grep` and the studio whatever the sandboxed code did). Never throws.
 */
export function protectTree(dir: string): SecureReport {
  return secureTree(dir, { fileMode: 0o444, dirMode: 0o755 });
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

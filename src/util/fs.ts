import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  existsSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { RatchetError } from './errors.js';

/**
 * Write a file atomically: write a sibling temporary file, then rename it over the target,
 * so a reader never sees a half-written file and a crash leaves the old content.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * SHA-256 of a file's bytes, as 64 lowercase hex characters. Streams, so large files are fine; the read buffer is
 * sized to the file (64 KiB to 1 MiB): a 1 MiB buffer for each of a run's small prediction files was most of the
 * hashing's cost at 30 experiments a second (bench/scale.ts).
 * @throws Error (rejects) when the file cannot be read
 */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 1 << 20;
    try {
      size = statSync(path).size;
    } catch {
      // the stream below reports it
    }
    createReadStream(path, { highWaterMark: Math.min(1 << 20, Math.max(1 << 16, size + 1)) })
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** SHA-256 of a string or bytes, as hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Create a folder (and parents) if missing; returns the path. */
export function ensureDir(path: string): string {
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
  return path;
}

/**
 * Delete a file or a folder tree without ever following a symlink (a link is unlinked, never entered). Folders
 * are made u+rwx first, so a tree the sandboxed code locked down (chmod 0311, 0000) is still removed. Missing
 * paths are fine; anything that cannot be removed is left in place silently (the caller re-checks).
 */
export function removeNoFollow(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isDirectory()) {
    try {
      unlinkSync(path);
    } catch {
      // gone or not removable
    }
    return;
  }
  try {
    chmodSync(path, (st.mode & 0o7777) | 0o700);
  } catch {
    // not ours: try anyway
  }
  let names: string[] = [];
  try {
    names = readdirSync(path);
  } catch {
    // unlistable: rmdir below fails and leaves it
  }
  for (const n of names) removeNoFollow(join(path, n));
  try {
    rmdirSync(path);
  } catch {
    // not empty or not removable
  }
}

/**
 * Resolve `rel` under `root` and check, with lstat, that no existing component on the way is a symlink (or
 * anything but a folder, for the parents).
 * @throws RatchetError naming the path when `rel` is absolute, climbs out with `..`, or crosses a link
 */
function safeUnder(root: string, rel: string): string {
  const norm = normalize(rel);
  if (rel === '' || isAbsolute(norm) || norm === '..' || norm.startsWith(`..${sep}`)) {
    throw new RatchetError(`${rel} is not a path inside ${root}`, {
      file: rel,
      hint: 'give a relative path without ..',
    });
  }
  const parts = norm.split(sep).filter((p) => p !== '' && p !== '.');
  let cur = root;
  for (const [i, part] of parts.entries()) {
    cur = join(cur, part);
    let st: ReturnType<typeof lstatSync> | null = null;
    try {
      st = lstatSync(cur);
    } catch {
      st = null;
    }
    if (!st) continue;
    if (st.isSymbolicLink()) {
      throw new RatchetError(
        `${parts.slice(0, i + 1).join('/')} is a symbolic link: Ratchet never writes or reads through links in the worktree`,
        {
          file: parts.slice(0, i + 1).join('/'),
          hint: 'replace the link with a regular file (git checkout -- <file>)',
        },
      );
    }
    if (i < parts.length - 1 && !st.isDirectory()) {
      throw new RatchetError(`${parts.slice(0, i + 1).join('/')} is not a folder`, {
        file: parts.slice(0, i + 1).join('/'),
        hint: 'remove it or restore it from git',
      });
    }
  }
  return join(root, ...parts);
}

/**
 * Write `data` to `root/rel` without following any link: every existing component under `root` is checked with
 * lstat, missing parent folders are created, and the file is opened with O_NOFOLLOW (and O_NONBLOCK, so a FIFO
 * never blocks). Only a regular file with a single link is overwritten (truncated after the checks).
 * @throws RatchetError naming the path when a component is a link, the target is not a regular file
 *   (FIFO, device, folder) or has other hard links
 */
export function writeFileNoFollow(root: string, rel: string, data: string | Uint8Array): void {
  const path = safeUnder(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  safeUnder(root, rel); // the folders just made are folders, not links
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      0o644,
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RatchetError(
      `cannot write ${rel}: ${code === 'ELOOP' ? 'it is a symbolic link' : (e as Error).message}`,
      {
        file: rel,
        hint: 'replace it with a regular file (git checkout -- <file>)',
      },
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink > 1) {
      throw new RatchetError(
        `cannot write ${rel}: it is ${st.isFile() ? 'a file with other hard links' : 'not a regular file'}`,
        {
          file: rel,
          hint: 'replace it with a regular file (git checkout -- <file>)',
        },
      );
    }
    ftruncateSync(fd, 0);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read `root/rel` as UTF-8 without following any link and only when it is a regular file (never a FIFO).
 * @param maxBytes when given, a larger file is not read (null): what an agent wrote cannot make the host read
 *   gigabytes
 * @returns the text, or null when the file is missing, a link, crosses a link, is not a regular file, or is over
 *   `maxBytes`
 */
export function readFileNoFollow(root: string, rel: string, maxBytes?: number): string | null {
  let path: string;
  try {
    path = safeUnder(root, rel);
  } catch {
    return null;
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || (maxBytes !== undefined && stat.size > maxBytes)) return null;
    return readFileSync(fd, 'utf8');
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

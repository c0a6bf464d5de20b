/**
 * The Ray job's log, read on the orchestrator (docs/ARCHITECTURE.md, "Ray executor"): the command's stdout and
 * stderr lines (tagged by the entry script, `python/ray_entry.py`), its result, and its output folder sent back
 * as a zip in base64 lines. Everything in the log is untrusted: frames carry the job's nonce (which the sandboxed
 * command never sees, and whose lines are all tagged, so it cannot forge one), the result is validated, the
 * output is size-capped and hashed, and its entries are written only as regular files under the output folder
 * (no absolute path, no `..`, no link, no duplicate).
 */

import { closeSync, constants, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import * as z from 'zod';
import type { SandboxResult } from '../sandbox/types.js';
import { sha256 } from '../util/fs.js';

/** Most entries an output zip may hold. */
const MAX_ENTRIES = 100_000;
/** Longest entry name, bytes, and deepest nesting. */
const MAX_NAME_BYTES = 1024;
const MAX_DEPTH = 64;
/** Lines of the log that are neither the command's nor a frame, kept for error messages. */
const MAX_OTHER_LINES = 200;

/** The output channel refused what the job sent; `oversize` when only its size was wrong. */
export class ChannelError extends Error {
  /** True when only the size was wrong (the experiment is then `output_limit`, as a local output over its cap). */
  readonly oversize: boolean;
  constructor(message: string, oversize = false) {
    super(message);
    this.name = 'ChannelError';
    this.oversize = oversize;
  }
}

const TreeSchema = z
  .object({
    peakBytes: z.number().nonnegative(),
    peakTasks: z.number().nonnegative(),
    ticks: z.number().nonnegative(),
    cpuMs: z.number().nonnegative(),
    maxTickCpuMs: z.number().nonnegative(),
  })
  .strict();

/** The result frame the entry script prints (the fields of a SandboxResult). */
export const ResultFrameSchema = z
  .object({
    status: z.enum([
      'ok',
      'failed',
      'timeout',
      'aborted',
      'output_limit',
      'memory_limit',
      'process_limit',
      'sandbox_error',
    ]),
    exitCode: z.number().int().nullable(),
    signal: z.string().max(32).nullable(),
    wallMs: z.number().nonnegative(),
    sandboxed: z.literal(true),
    message: z.string().max(4000),
    tree: TreeSchema.optional(),
  })
  .strict();

const OutputFrameSchema = z
  .object({
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    files: z.number().int().nonnegative(),
  })
  .strict();

const StartFrameSchema = z.looseObject({ host: z.string().max(256) });

/** Where the parsed log goes and its caps. */
export interface JobLogOptions {
  /** The job's nonce (frames carry it). */
  nonce: string;
  /** Receives the command's stdout text as it comes. */
  onStdout: (text: string) => void;
  /** Receives the command's stderr text as it comes. */
  onStderr: (text: string) => void;
  /** Largest output payload accepted, bytes (the zip, before base64). */
  maxPayloadBytes: number;
}

/**
 * An incremental reader of a job's log: feed it the whole log each time it is fetched (Ray's `/logs` route
 * returns everything so far); it handles only the complete lines it has not seen, and the last line too once
 * the job has ended.
 */
export class JobLog {
  /** The start frame (the entry script is running), null before it. */
  start: { host: string } | null = null;
  /** The result frame, null until the entry script printed it. */
  result: SandboxResult | null = null;
  /** The output payload (the zip), once its frames ended and its size and hash matched. */
  payload: Uint8Array | null = null;
  /** Why the log could not be read as the protocol says (the first problem), null when fine. */
  problem: ChannelError | null = null;
  /** Lines that are not the command's and not frames (Ray's own messages, the entry script's errors). */
  readonly other: string[] = [];
  private offset = 0;
  private output: { meta: z.infer<typeof OutputFrameSchema>; parts: string[]; length: number } | null = null;
  private outputDone = false;
  private readonly prefix: string;

  constructor(private readonly opts: JobLogOptions) {
    this.prefix = `@@ratchet:${opts.nonce}:`;
  }

  /**
   * Read what is new in `log` (the whole log so far). A log shorter than what was read (Ray rotated it) is read
   * again from its start.
   * @param final the job has ended: the last line counts even without a newline
   */
  feed(log: string, final = false): void {
    if (log.length < this.offset) this.offset = 0;
    let end = log.lastIndexOf('\n') + 1;
    if (final) end = log.length;
    if (end <= this.offset) return;
    const chunk = log.slice(this.offset, end);
    this.offset = end;
    const lines = chunk.split('\n');
    if (chunk.endsWith('\n')) lines.pop();
    for (const line of lines) this.line(line);
  }

  private fail(message: string, oversize = false): void {
    this.problem ??= new ChannelError(message, oversize);
  }

  private line(line: string): void {
    if (this.output && !this.outputDone && !line.startsWith(this.prefix)) {
      if (!/^[A-Za-z0-9+/=]*$/.test(line)) {
        this.fail('the output payload holds a line that is not base64');
        this.output = null;
        this.outputDone = true;
        return;
      }
      this.output.length += line.length;
      if (this.output.length > Math.ceil((this.opts.maxPayloadBytes * 4) / 3) + 4) {
        this.fail(`the output payload is larger than ${this.opts.maxPayloadBytes} bytes`, true);
        this.output = null;
        this.outputDone = true;
        return;
      }
      this.output.parts.push(line);
      return;
    }
    const tag = line.slice(0, 2);
    if (this.start && (tag === 'O|' || tag === 'o|')) {
      this.opts.onStdout(tag === 'O|' ? `${line.slice(2)}\n` : line.slice(2));
      return;
    }
    if (this.start && (tag === 'E|' || tag === 'e|')) {
      this.opts.onStderr(tag === 'E|' ? `${line.slice(2)}\n` : line.slice(2));
      return;
    }
    if (line.startsWith(this.prefix)) {
      this.frame(line.slice(this.prefix.length));
      return;
    }
    if (this.other.length < MAX_OTHER_LINES) this.other.push(line.slice(0, 2000));
  }

  private frame(text: string): void {
    const problem = this.readFrame(text);
    if (problem) this.fail(problem.message, problem.oversize);
  }

  /** Handle one frame; returns what was wrong with it (null when fine). */
  private readFrame(text: string): ChannelError | null {
    const space = text.indexOf(' ');
    const kind = space < 0 ? text : text.slice(0, space);
    const body = space < 0 ? '' : text.slice(space + 1);
    const json = (): unknown => {
      try {
        return JSON.parse(body);
      } catch {
        return undefined;
      }
    };
    const bad = (message: string, oversize = false) => new ChannelError(message, oversize);
    switch (kind) {
      case 'start': {
        const r = StartFrameSchema.safeParse(json());
        if (this.start || !r.success) return bad('a second or malformed start frame');
        this.start = { host: r.data.host };
        return null;
      }
      case 'output': {
        const r = OutputFrameSchema.safeParse(json());
        if (!this.start || this.output || this.outputDone || !r.success) {
          return bad('a second or malformed output frame');
        }
        if (r.data.bytes > this.opts.maxPayloadBytes) {
          this.outputDone = true;
          return bad(
            `the output payload (${r.data.bytes} bytes) is larger than ${this.opts.maxPayloadBytes} bytes`,
            true,
          );
        }
        this.output = { meta: r.data, parts: [], length: 0 };
        return null;
      }
      case 'end-output': {
        const o = this.output;
        this.outputDone = true;
        if (!o) return null;
        this.output = null;
        const data = Buffer.from(o.parts.join(''), 'base64');
        if (data.length !== o.meta.bytes) {
          return bad(`the output payload has ${data.length} bytes, its frame says ${o.meta.bytes}`);
        }
        if (sha256(data) !== o.meta.sha256) return bad('the output payload does not match its SHA-256');
        this.payload = new Uint8Array(data.buffer, data.byteOffset, data.length);
        return null;
      }
      case 'result': {
        const r = ResultFrameSchema.safeParse(json());
        if (this.result || !r.success) return bad('a second or malformed result frame');
        const { tree, ...rest } = r.data;
        this.result = { ...rest, ...(tree ? { tree } : {}) };
        return null;
      }
      default:
        return bad(`an unknown frame "${kind.slice(0, 40)}"`);
    }
  }
}

/**
 * Check one zip entry name: relative, `/`-separated, no empty, `.` or `..` segment, no backslash, NUL or
 * control character, not too long or deep.
 * @throws ChannelError naming the entry
 */
export function checkEntryName(name: string): void {
  const show = JSON.stringify(name.slice(0, 200));
  const bare = name.endsWith('/') ? name.slice(0, -1) : name;
  if (bare === '' || Buffer.byteLength(name) > MAX_NAME_BYTES || /[\u0000-\u001f\\]/.test(name)) {
    throw new ChannelError(`the output holds an entry with a bad name: ${show}`);
  }
  const parts = bare.split('/');
  if (parts.length > MAX_DEPTH) throw new ChannelError(`the output holds an entry nested too deep: ${show}`);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ChannelError(`the output holds an entry outside its folder: ${show}`);
  }
}

/**
 * Unpack an output zip into `outputDir` (an empty folder): every entry's name is checked first, the declared
 * sizes must sum to at most `maxBytes`, and files are created new (O_EXCL, O_NOFOLLOW), so nothing can be written
 * outside the folder or through a link. On any refusal nothing is written.
 * @param maxBytes cap on the unpacked output, bytes
 * @returns the number of files and bytes written
 * @throws ChannelError (oversize when only the size is wrong) for a zip the channel refuses
 */
export function unpackOutput(
  zip: Uint8Array,
  outputDir: string,
  maxBytes: number,
): { files: number; bytes: number } {
  let total = 0;
  let count = 0;
  const seen = new Set<string>();
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, {
      filter: (f) => {
        checkEntryName(f.name);
        if (++count > MAX_ENTRIES)
          throw new ChannelError(`the output holds more than ${MAX_ENTRIES} entries`);
        const key = f.name.replace(/\/$/, '');
        if (seen.has(key)) throw new ChannelError(`the output holds ${JSON.stringify(key)} twice`);
        seen.add(key);
        total += f.originalSize;
        if (total > maxBytes) {
          throw new ChannelError(`the output is larger than the cap of ${maxBytes} bytes`, true);
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof ChannelError) throw e;
    throw new ChannelError(`the output payload is not a valid zip: ${(e as Error).message}`);
  }
  const names = Object.keys(files);
  // A name may not be both a file and a folder of another entry.
  const dirs = new Set<string>();
  for (const n of names) {
    const parts = n.replace(/\/$/, '').split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const n of names) {
    if (!n.endsWith('/') && dirs.has(n))
      throw new ChannelError(`the output holds ${JSON.stringify(n)} as a file and a folder`);
  }
  let bytes = 0;
  for (const n of names.sort()) {
    const path = join(outputDir, ...n.replace(/\/$/, '').split('/'));
    if (n.endsWith('/')) {
      mkdirSync(path, { recursive: true });
      continue;
    }
    mkdirSync(join(path, '..'), { recursive: true });
    const data = files[n]!;
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      0o644,
    );
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    } finally {
      closeSync(fd);
    }
    bytes += data.length;
  }
  return { files: names.filter((n) => !n.endsWith('/')).length, bytes };
}

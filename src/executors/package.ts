/**
 * The package of one Ray job (docs/ARCHITECTURE.md, "Ray executor"): a zip built from an explicit allowlist, and
 * the bubblewrap command line the worker runs it with.
 *
 * What ships: the worktree's tracked files (the tree CHECK approved) under `workspace/`; the files the local
 * sandbox would bind read-only (the split FEATURE files and the canary decoys of `executeSpec`) under
 * `binds/<sandbox path>`; Ratchet's entry script. Nothing else: never `.ratchet/vault` (a bind source inside it
 * is refused here, as the local sandbox refuses it), never the raw data file, never an untracked or ignored file.
 *
 * The cage: `bwrapArgs`, the local sandbox's own code, builds the argv for a staging folder laid out like the
 * worker's job folder; the staging paths are then replaced by placeholders the entry script fills in on the
 * worker (`@@RATCHET_JOB@@` the unpacked package, `@@RATCHET_OUTPUT@@` a fresh output folder, and the pipe
 * descriptors of bwrap's status and seccomp filter). A job that asks for GPUs gets two more: where its GPUs' device
 * binds go and their indices (the orchestrator cannot know the worker's devices; the entry script binds the ones Ray
 * assigned the job).
 */

import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { type Zippable, zipSync } from 'fflate';
import { VAULT_DIR } from '../data/ingest.js';
import { git } from '../git/git.js';
import { bwrapArgs, innerArgv, isWithin } from '../sandbox/args.js';
import { seccompFilter } from '../sandbox/seccomp.js';
import type { SandboxSpec } from '../sandbox/types.js';
import { sha256 } from '../util/fs.js';
import { packageDir } from '../util/paths.js';

/** The job's folders on the worker, filled in by the entry script. */
export const PLACEHOLDERS = {
  job: '@@RATCHET_JOB@@',
  output: '@@RATCHET_OUTPUT@@',
  outside: '@@RATCHET_OUTSIDE@@',
  rayAddress: '@@RATCHET_RAY_ADDRESS@@',
  statusFd: '@@RATCHET_STATUS_FD@@',
  /** The data package's folder on the worker (a `py_modules` entry: shipped once per content, not per job). */
  data: '@@RATCHET_DATA@@',
  seccompFd: '@@RATCHET_SECCOMP_FD@@',
  /**
   * A whole argument where the GPUs' `--dev-bind host target` triples go (after the minimal `/dev` is made, before
   * it turns read-only); only in the cage of a job that asks for GPUs.
   */
  gpuDevices: '@@RATCHET_GPU_DEVICES@@',
  /** The indices of the job's GPUs (CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES in the sandbox's environment). */
  gpuIds: '@@RATCHET_GPU_IDS@@',
} as const;

/** The stand-in device bind of a GPU job's staged spec: its triple becomes {@link PLACEHOLDERS.gpuDevices}. */
const GPU_STAGE_TARGET = '/dev/nvidia-ratchet-gpus';

/** Name of the entry script at the package's root. */
export const ENTRY_SCRIPT = 'ratchet_entry.py';
/** Folder of the worktree's files in the package. */
export const WORKSPACE_PREFIX = 'workspace/';
/** Folder of the read-only bind sources in the data package (`binds/data/train.csv` for `/data/train.csv`). */
export const BINDS_PREFIX = 'binds';
/** The data package's marker at its root: the entry script finds the package's folder on the worker by it. */
export const DATA_MARKER = 'ratchet_data.json';
/**
 * Largest zip shipped, bytes: the Ray head keeps packages in its GCS, whose messages are capped at 500 MiB by
 * default (100 MiB on older releases).
 */
export const MAX_PACKAGE_BYTES = 450 * 1024 * 1024;
/** Largest sum of the files read into a package, bytes (they are held in memory while it is built). */
const MAX_INPUT_BYTES = 2 * 1024 * 1024 * 1024;
/** A fixed time for every zip entry, so the same files make the same package (and the same hash). */
const ZIP_MTIME = new Date('2000-01-01T00:00:00Z');

/** The cage the entry script starts: bubblewrap's options (with placeholders) and the program run inside. */
export interface Cage {
  /** `bwrap` and its options, up to and including the `--` before the program; placeholders as in {@link PLACEHOLDERS}. */
  bwrap: string[];
  /** The program bwrap runs: the fd closer, prlimit with the contract's limits, then the command. */
  inner: string[];
  /** The seccomp filter per architecture (Node's names: x64, arm64), base64; the worker takes its own. */
  seccomp: Record<string, string>;
}

/** One zip for the cluster's package store. */
export interface Zip {
  /** The zip's bytes. */
  zip: Uint8Array;
  /** SHA-256 of the zip, hex. */
  sha256: string;
  /** The package's name in the cluster's store: `_ray_pkg_<sha256>.zip` (content-addressed). */
  name: string;
  /** Every path in the zip, sorted. */
  entries: string[];
}

/**
 * A built job: the tree package (the job's `working_dir`: the approved tree and the entry script, new for every
 * change) and the data package (a `py_modules` entry: the split feature files and decoys the local sandbox mounts,
 * with {@link DATA_MARKER}; the same bytes for every job of a split, so it is uploaded once and the cluster keeps it).
 */
export interface JobPackage extends Zip {
  /** The data package (null when the job mounts no file). */
  data: Zip | null;
  /** The command line the worker runs. */
  cage: Cage;
}

/** Options of {@link buildJobPackage}. */
export interface PackageOptions {
  /** The sandbox spec the local executor would run (`executeSpec`): binds, env, limits, command. */
  spec: SandboxSpec;
  /** The project root: no shipped file may lie in its `.ratchet/vault`. */
  projectDir: string;
  /** Worktree-relative paths of the files to ship under `workspace/` (e.g. {@link trackedFiles}). */
  files: string[];
  /** GPUs the job asks for (the contract's `resources.gpus`; 0 or absent: none, and the cage binds no device). */
  gpus?: number;
}

/**
 * The worktree's tracked files: the index of the worktree, which CHECK staged as the approved tree (regular files
 * only: symlinks and submodules are never shipped, and CHECK's tree-integrity refuses them anyway).
 * @throws Error when git cannot read the worktree
 */
export async function trackedFiles(worktree: string): Promise<string[]> {
  const out = await git(worktree, ['ls-files', '-s', '-z']);
  const files: string[] = [];
  for (const rec of out.split('\0')) {
    const m = /^(\d{6}) [0-9a-f]+ (\d)\t(.+)$/s.exec(rec);
    if (m?.[2] !== '0') continue;
    if (m[1] === '100644' || m[1] === '100755') files.push(m[3]!);
  }
  return files.sort();
}

/**
 * Read `root/rel` only when every component is a real folder and the file a regular file (no link is followed,
 * no FIFO opened).
 * @throws Error naming the path otherwise
 */
function readRegular(root: string, rel: string): Buffer {
  const norm = posix.normalize(rel);
  if (isAbsolute(norm) || norm === '..' || norm.startsWith('../') || norm.includes('\0')) {
    throw new Error(`refusing to ship ${rel}: not a path inside ${root}`);
  }
  const parts = norm.split('/');
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    if (!lstatSync(cur).isDirectory()) throw new Error(`refusing to ship ${rel}: ${cur} is not a folder`);
  }
  const fd = openSync(join(root, norm), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`refusing to ship ${rel}: not a regular file`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Build the job's package and its cage from the local executor's spec.
 * @returns the zip, its hash and name, its entries and the worker's command line
 * @throws Error when a bind source lies in the vault or is not a regular file, a shipped file cannot be read, the
 *   package is larger than {@link MAX_PACKAGE_BYTES}, or the spec is invalid (see `bwrapArgs`)
 */
export function buildJobPackage(opts: PackageOptions): JobPackage {
  const { spec } = opts;
  const vault = realOrSelf(join(opts.projectDir, VAULT_DIR));
  let inputBytes = 0;
  const adder = (files: Zippable) => (path: string, data: Buffer) => {
    inputBytes += data.length;
    if (inputBytes > MAX_INPUT_BYTES) {
      throw new Error(`the job package would hold more than ${MAX_INPUT_BYTES} bytes before compression`);
    }
    files[path] = [new Uint8Array(data.buffer, data.byteOffset, data.length), { mtime: ZIP_MTIME }];
  };
  const tree: Zippable = {};
  const addTree = adder(tree);
  for (const rel of opts.files) addTree(`${WORKSPACE_PREFIX}${rel}`, readRegular(spec.workdir, rel));
  addTree(ENTRY_SCRIPT, readFileSync(join(packageDir(), 'python', 'ray_entry.py')));
  const data: Zippable = {};
  const addData = adder(data);
  for (const b of spec.readOnly) {
    const real = realOrSelf(b.host);
    if (isWithin(vault, real))
      throw new Error(`refusing to ship ${b.host}: it lies in the vault (${VAULT_DIR})`);
    if (!lstatSync(real).isFile()) throw new Error(`refusing to ship ${b.host}: not a regular file`);
    addData(`${BINDS_PREFIX}${b.target}`, readRegular(dirname(real), real.slice(dirname(real).length + 1)));
  }
  const dataZip =
    spec.readOnly.length > 0
      ? zipOf({
          ...data,
          [DATA_MARKER]: [
            new TextEncoder().encode(`${JSON.stringify({ files: Object.keys(data).sort() })}\n`),
            { mtime: ZIP_MTIME },
          ],
        })
      : null;
  return { ...zipOf(tree), data: dataZip, cage: buildCage(spec, opts.gpus ?? 0) };
}

/**
 * Zip files deterministically (fixed times): the same files make the same bytes, hence the same name.
 * @throws Error when the zip is larger than {@link MAX_PACKAGE_BYTES}
 */
function zipOf(files: Zippable): Zip {
  const zip = zipSync(files, { level: 6, mtime: ZIP_MTIME });
  if (zip.length > MAX_PACKAGE_BYTES) {
    throw new Error(
      `a job package is ${zip.length} bytes; the Ray head accepts at most ${MAX_PACKAGE_BYTES} (the split files are too large to ship)`,
    );
  }
  const hash = sha256(zip);
  return { zip, sha256: hash, name: `_ray_pkg_${hash}.zip`, entries: Object.keys(files).sort() };
}

/**
 * The worker's command line for `spec`: `bwrapArgs` run on a staging folder shaped like the job's folder on the
 * worker (`workspace/`, `binds/...`, `output/`), with the staging paths replaced by placeholders. With `gpus` > 0 the
 * staged spec carries one stand-in device bind and `CUDA_VISIBLE_DEVICES` / `NVIDIA_VISIBLE_DEVICES`, so the local
 * sandbox's code puts them where it puts a local run's; the bind becomes {@link PLACEHOLDERS.gpuDevices} and the
 * variables' value {@link PLACEHOLDERS.gpuIds}, which the entry script fills in with the GPUs Ray assigned the job.
 * A spec's own device binds (the orchestrator's devices) never ship. Without GPUs the command line is the local
 * sandbox's, placeholders aside.
 * @param gpus GPUs the job asks for (0: none)
 * @throws Error for an invalid spec (see `bwrapArgs`), or when a staging path survives the replacement
 */
export function buildCage(spec: SandboxSpec, gpus = 0): Cage {
  const stage = realpathSync(mkdtempSync(join(tmpdir(), 'ratchet-ray-stage-')));
  try {
    const workdir = join(stage, 'workspace');
    const outputDir = join(stage, 'output');
    mkdirSync(workdir);
    mkdirSync(outputDir);
    // The bind sources come from the data package, unpacked in a folder of its own on the worker.
    const dataStage = join(stage, 'data-package');
    const readOnly = spec.readOnly.map((b) => {
      const host = join(dataStage, BINDS_PREFIX, b.target);
      mkdirSync(dirname(host), { recursive: true });
      writeFileSync(host, '');
      return { host, target: b.target };
    });
    const staged: SandboxSpec = {
      ...spec,
      workdir,
      outputDir,
      readOnly,
      stdoutPath: join(stage, 'stdout.log'),
      stderrPath: join(stage, 'stderr.log'),
      unsafeNoSandbox: false,
    };
    delete staged.signal;
    delete staged.devices;
    const gpuStage = join(stage, 'gpu-devices');
    if (gpus > 0) {
      writeFileSync(gpuStage, '');
      staged.devices = [{ host: gpuStage, target: GPU_STAGE_TARGET }];
      staged.env = {
        ...spec.env,
        CUDA_VISIBLE_DEVICES: PLACEHOLDERS.gpuIds,
        NVIDIA_VISIBLE_DEVICES: PLACEHOLDERS.gpuIds,
      };
    }
    const filters = { x64: seccompFilter('x64'), arm64: seccompFilter('arm64') };
    const argv = bwrapArgs(staged, { jsonStatusFd: 3, seccompFd: 4 });
    const inner = innerArgv(staged);
    const head = argv.slice(0, argv.length - inner.length);
    if (head[head.length - 1] !== '--' || argv.slice(head.length).join('\0') !== inner.join('\0')) {
      throw new Error('the sandbox command line does not end with the inner program');
    }
    let staging = head;
    if (gpus > 0) {
      const at = head.findIndex(
        (a, i) => a === '--dev-bind' && head[i + 1] === gpuStage && head[i + 2] === GPU_STAGE_TARGET,
      );
      if (at < 0) throw new Error("the sandbox command line has no place for the job's GPUs");
      staging = [...head.slice(0, at), PLACEHOLDERS.gpuDevices, ...head.slice(at + 3)];
    }
    const bwrap = staging.map((a, i) => {
      if (a === PLACEHOLDERS.gpuDevices) return a;
      if (staging[i - 1] === '--json-status-fd') return PLACEHOLDERS.statusFd;
      if (staging[i - 1] === '--seccomp') return PLACEHOLDERS.seccompFd;
      if (a === outputDir || a.startsWith(`${outputDir}/`))
        return PLACEHOLDERS.output + a.slice(outputDir.length);
      if (a === dataStage || a.startsWith(`${dataStage}/`))
        return PLACEHOLDERS.data + a.slice(dataStage.length);
      if (a === stage || a.startsWith(`${stage}/`)) return PLACEHOLDERS.job + a.slice(stage.length);
      return a;
    });
    if (bwrap.some((a) => a.includes(stage))) throw new Error('a staging path was left in the command line');
    const seccomp: Record<string, string> = {};
    for (const [arch, f] of Object.entries(filters)) if (f) seccomp[arch] = f.toString('base64');
    return { bwrap, inner, seccomp };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return posix.normalize(p);
  }
}

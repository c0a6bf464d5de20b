/**
 * The bubblewrap command line for a SandboxSpec, and the small wrapper that runs first inside it.
 *
 * Layout (an allowlist; `/` itself is never bound): system folders /usr, /bin, /sbin, /lib* read-only (symlinks
 * recreated as symlinks), a few /etc files, a fresh /proc (PID namespace) and a minimal /dev (read-only, with a
 * size-capped /dev/shm), a size-capped /tmp, the Python prefixes, the worktree read-only at /workspace (read-write
 * only with `workdirWritable`, for a coding agent at PROPOSE), the data
 * binds read-only, the output folder read-write at /output, hidden paths covered, and finally the root tmpfs
 * remounted read-only so nothing else is writable.
 */

import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_MAX_PROCESSES,
  DEFAULT_MEMORY_BYTES,
  DEFAULT_TMP_BYTES,
  MAX_SHM_BYTES,
  OUTPUT_DIR,
  type SandboxSpec,
  WORKSPACE_DIR,
} from './types.js';

/** System folders bound read-only when they are folders, recreated as symlinks when they are symlinks (merged /usr). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** The /etc allowlist bound read-only when present. */
const ETC_FILES = [
  '/etc/ld.so.cache',
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/localtime',
  '/etc/alternatives',
  '/etc/hosts',
];
/** Extra /etc entries bound only when the network is shared (name resolution, TLS roots). */
const ETC_NETWORK_FILES = [
  '/etc/resolv.conf',
  '/etc/host.conf',
  '/etc/gai.conf',
  '/etc/services',
  '/etc/protocols',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
];
/** Sandbox paths a read-only bind may not land on or inside. */
const RESERVED_TREES = ['/proc', '/dev', OUTPUT_DIR, '/etc', ...SYSTEM_DIRS];
/** Sandbox paths a read-only bind may not replace (inside them is fine). */
const RESERVED_EXACT = ['/', WORKSPACE_DIR, '/tmp'];
/** Fallback PATH after the Python binDir. */
const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';
/** Extra wall-clock seconds between the RLIMIT_CPU soft (SIGXCPU) and hard (SIGKILL) limits. */
const CPU_HARD_GRACE_S = 5;

/**
 * Bash snippet run first (as `bash -c SCRIPT name prog args...`): closes every inherited descriptor above 2
 * (bubblewrap and Node pass on any descriptor that is not close-on-exec), then execs `prog args...`. `prog` is
 * `env -u PWD -u OLDPWD -u SHLVL`, which drops the variables bash itself adds before the command sees them.
 */
export const CLOSE_FDS_SCRIPT =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: this is bash, not a template
  'for f in /proc/self/fd/*; do n=${f##*/}; case "$n" in 0|1|2) ;; *) eval "exec $n>&-" ;; esac; done; ' +
  'exec "$@"';

/** The resource limits of a spec with defaults applied. Bytes and seconds. */
export interface Limits {
  /** RLIMIT_AS, bytes. */
  memoryBytes: number;
  /** RLIMIT_CPU soft limit, seconds (the hard limit is 5 s more). */
  cpuSeconds: number;
  /** RLIMIT_FSIZE, bytes. */
  maxFileBytes: number;
  /** Size of the /tmp tmpfs, bytes. */
  tmpBytes: number;
  /** Size of the /dev/shm tmpfs, bytes. */
  shmBytes: number;
  /** Cap on the output folder's total size, bytes. */
  maxOutputBytes: number;
  /** Cap on the tree's tasks (processes + threads); also RLIMIT_NPROC. */
  maxProcesses: number;
}

/**
 * Apply the defaults to a spec's limits.
 * @throws Error if a given limit is not a positive finite number
 */
export function resolveLimits(spec: SandboxSpec): Limits {
  const pos = (name: string, v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new Error(`sandbox: ${name} must be a positive number, got ${String(v)}`);
    }
    return Math.ceil(v);
  };
  const tmpBytes = pos('tmpBytes', spec.tmpBytes, DEFAULT_TMP_BYTES);
  return {
    memoryBytes: pos('memoryBytes', spec.memoryBytes, DEFAULT_MEMORY_BYTES),
    cpuSeconds: pos('cpuSeconds', spec.cpuSeconds, Math.ceil(spec.timeoutMs / 1000) * 2),
    maxFileBytes: pos('maxFileBytes', spec.maxFileBytes, DEFAULT_MAX_FILE_BYTES),
    tmpBytes,
    shmBytes: Math.min(tmpBytes, MAX_SHM_BYTES),
    maxOutputBytes: pos('maxOutputBytes', spec.maxOutputBytes, DEFAULT_MAX_OUTPUT_BYTES),
    maxProcesses: pos('maxProcesses', spec.maxProcesses, DEFAULT_MAX_PROCESSES),
  };
}

/**
 * Check a spec for programming errors (the things no run could fix).
 * @throws Error naming the field: empty argv, missing workdir/outputDir, bad timeout, bad env key, missing or
 *   misplaced read-only bind, relative stdout/stderr paths, bad limits.
 */
export function validateSpec(spec: SandboxSpec): void {
  if (!Array.isArray(spec.argv) || spec.argv.length === 0 || spec.argv.some((a) => typeof a !== 'string')) {
    throw new Error('sandbox: argv must be a non-empty array of strings');
  }
  if (spec.argv.some((a) => a.includes('\0')))
    throw new Error('sandbox: argv must not contain NUL characters');
  if (spec.argv[0] === '') throw new Error('sandbox: argv[0] must not be empty');
  if (!Number.isFinite(spec.timeoutMs) || spec.timeoutMs <= 0) {
    throw new Error(
      `sandbox: timeoutMs must be a positive number of milliseconds, got ${String(spec.timeoutMs)}`,
    );
  }
  requireDir('workdir', spec.workdir);
  requireDir('outputDir', spec.outputDir);
  for (const p of ['stdoutPath', 'stderrPath'] as const) {
    if (typeof spec[p] !== 'string' || !isAbsolute(spec[p]))
      throw new Error(`sandbox: ${p} must be an absolute path`);
    if (!existsSync(dirname(spec[p])))
      throw new Error(`sandbox: the folder of ${p} does not exist: ${spec[p]}`);
  }
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`sandbox: bad environment variable name "${k}"`);
    if (typeof v !== 'string' || v.includes('\0'))
      throw new Error(`sandbox: env ${k} must be a string without NUL`);
  }
  for (const { host, target } of spec.readOnly ?? []) {
    if (!isAbsolute(host) || !existsSync(host))
      throw new Error(`sandbox: read-only bind source is missing: ${host}`);
    checkTarget(target);
  }
  for (const p of spec.hiddenPaths ?? []) {
    if (!isAbsolute(p)) throw new Error(`sandbox: hidden path must be absolute: ${p}`);
  }
  for (const { host, target } of spec.devices ?? []) {
    if (!/^\/dev\/nvidia[A-Za-z0-9-]*$/.test(target))
      throw new Error(`sandbox: a device bind target must be /dev/nvidia…, not ${target}`);
    const st = isAbsolute(host) && existsSync(host) ? statSync(host) : null;
    if (!st || !(st.isCharacterDevice() || st.isFile()))
      throw new Error(`sandbox: device bind source is not a device node: ${host}`);
  }
  resolveLimits(spec);
}

function requireDir(field: string, path: string): void {
  if (typeof path !== 'string' || !isAbsolute(path))
    throw new Error(`sandbox: ${field} must be an absolute path`);
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new Error(`sandbox: ${field} does not exist or is not a folder: ${path}`);
  }
}

function checkTarget(target: string): void {
  if (typeof target !== 'string' || !target.startsWith('/') || posix.normalize(target) !== target) {
    throw new Error(`sandbox: read-only bind target must be an absolute, normalized path: ${target}`);
  }
  if (target.length > 1 && target.endsWith('/'))
    throw new Error(`sandbox: bind target has a trailing slash: ${target}`);
  if (RESERVED_EXACT.includes(target) || RESERVED_TREES.some((r) => isWithin(r, target))) {
    throw new Error(`sandbox: read-only bind target ${target} would cover a path the sandbox reserves`);
  }
}

/** True when `p` equals `root` or lies inside it (both absolute, normalized). */
export function isWithin(root: string, p: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * The environment the command sees: `spec.env`, plus PATH (Python's binDir first), `HOME=/tmp`, `LANG=C.UTF-8`
 * where `spec.env` does not set them. Returned sorted by name so the argv is stable.
 */
export function sandboxEnv(spec: SandboxSpec): [string, string][] {
  const base: Record<string, string> = {
    PATH: spec.python ? `${spec.python.binDir}:${SYSTEM_PATH}` : SYSTEM_PATH,
    HOME: '/tmp',
    LANG: 'C.UTF-8',
  };
  const env = { ...base, ...(spec.env ?? {}) };
  return Object.keys(env)
    .sort()
    .map((k) => [k, env[k]!] as [string, string]);
}

/** Absolute path of an executable in the usual system folders (first hit), or null. */
export function systemBinary(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * The program run first inside the sandbox (and in unsafe mode on the host): bash closes inherited descriptors,
 * then `prlimit` sets RLIMIT_AS/CPU/FSIZE/NPROC/CORE and execs `spec.argv` (looked up on PATH).
 * @param extraPrefix programs inserted between the fd closer and prlimit (e.g. `setpriv --pdeathsig KILL`).
 *   RLIMIT_NPROC is set only in the sandbox (its own user namespace counts from zero); on the host (unsafe mode)
 *   it would count every process of the user, so there the watchdog alone caps the task count.
 */
export function innerArgv(spec: SandboxSpec, extraPrefix: string[] = []): string[] {
  const lim = resolveLimits(spec);
  const bash = systemBinary('bash') ?? '/bin/bash';
  const prlimit = systemBinary('prlimit') ?? '/usr/bin/prlimit';
  return [
    bash,
    '-c',
    CLOSE_FDS_SCRIPT,
    'ratchet-sandbox',
    systemBinary('env') ?? '/usr/bin/env',
    '-u',
    'PWD',
    '-u',
    'OLDPWD',
    '-u',
    'SHLVL',
    '--',
    ...extraPrefix,
    prlimit,
    `--as=${lim.memoryBytes}`,
    `--cpu=${lim.cpuSeconds}:${lim.cpuSeconds + CPU_HARD_GRACE_S}`,
    `--fsize=${lim.maxFileBytes}`,
    ...(spec.unsafeNoSandbox ? [] : [`--nproc=${lim.maxProcesses}`]),
    '--core=0',
    '--',
    ...spec.argv,
  ];
}

/** Whether bubblewrap can create (and then forbid) user namespaces here; decides `--unshare-user --disable-userns`. */
let usernsCache: boolean | undefined;
function usernsAvailable(): boolean {
  if (usernsCache === undefined) {
    try {
      usernsCache = Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim()) > 0;
    } catch {
      usernsCache = false;
    }
  }
  return usernsCache;
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return posix.normalize(p);
  }
}

interface Bind {
  /** bwrap flag: --ro-bind, --ro-bind-try or --bind. */
  flag: string;
  source: string;
  target: string;
}

/** Options of `bwrapArgs` that are about how it is spawned rather than about the spec. */
export interface BwrapArgsOptions {
  /** Pass `--json-status-fd N` (runSandboxed uses 3 to learn the child pid and exit code). */
  jsonStatusFd?: number;
  /** Pass `--seccomp N`: descriptor N carries the filter from `seccompFilter()` (runSandboxed uses 4). */
  seccompFd?: number;
}

/**
 * The exact bubblewrap argv (starting with `bwrap`) that runs `spec`. Deterministic for a given spec and host
 * file system (it reads the file system: symlinked system folders, realpaths of bind sources, hidden paths).
 * @throws Error for an invalid spec (see `validateSpec`), a bind of `/`, or a bind that would expose a hidden path.
 */
export function bwrapArgs(spec: SandboxSpec, opts: BwrapArgsOptions = {}): string[] {
  validateSpec(spec);
  const lim = resolveLimits(spec);
  const a: string[] = ['bwrap', '--unshare-all'];
  if (spec.network) a.push('--share-net');
  if (usernsAvailable()) a.push('--unshare-user', '--disable-userns');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'ratchet-sandbox');
  if (opts.jsonStatusFd !== undefined) a.push('--json-status-fd', String(opts.jsonStatusFd));
  if (opts.seccompFd !== undefined) a.push('--seccomp', String(opts.seccompFd));
  // --clearenv acts while arguments are parsed, so it must come before every --setenv.
  a.push('--clearenv');
  for (const [k, v] of sandboxEnv(spec)) a.push('--setenv', k, v);

  const binds: Bind[] = [];
  for (const d of SYSTEM_DIRS) {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(d);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) a.push('--symlink', readlinkSync(d), d);
    else if (st.isDirectory()) binds.push({ flag: '--ro-bind', source: d, target: d });
  }
  for (const f of spec.network ? [...ETC_FILES, ...ETC_NETWORK_FILES] : ETC_FILES) {
    binds.push({ flag: '--ro-bind-try', source: f, target: f });
  }
  const systemBindCount = binds.length;

  // Python prefixes at their own paths, outermost first; skip those already inside a bound tree.
  const prefixes = [...new Set((spec.python?.prefixes ?? []).map((p) => posix.normalize(p)))].sort(
    (x, y) => x.length - y.length,
  );
  const boundTrees = binds.filter((b) => b.flag === '--ro-bind').map((b) => b.target);
  for (const p of prefixes) {
    if (!isAbsolute(p)) throw new Error(`sandbox: Python prefix must be absolute: ${p}`);
    if (p === '/') throw new Error('sandbox: refusing to bind / as a Python prefix');
    if (boundTrees.some((t) => isWithin(t, p))) continue;
    if (RESERVED_EXACT.includes(p) || ['/proc', '/dev', '/etc', OUTPUT_DIR].some((r) => isWithin(r, p))) {
      throw new Error(`sandbox: Python prefix ${p} collides with a path the sandbox reserves`);
    }
    if (!existsSync(p)) throw new Error(`sandbox: Python prefix does not exist: ${p}`);
    binds.push({ flag: '--ro-bind', source: p, target: p });
    boundTrees.push(p);
  }
  binds.push({
    flag: spec.workdirWritable ? '--bind' : '--ro-bind',
    source: spec.workdir,
    target: WORKSPACE_DIR,
  });
  for (const { host, target } of spec.readOnly ?? []) binds.push({ flag: '--ro-bind', source: host, target });
  binds.push({ flag: '--bind', source: spec.outputDir, target: OUTPUT_DIR });

  const masks = hiddenMasks(spec, binds);

  for (const [i, b] of binds.entries()) {
    a.push(b.flag, b.source, b.target);
    if (i === systemBindCount - 1) {
      // The command runs as host uid 0 (without capabilities): a writable /proc/sys would let it set global
      // sysctls such as kernel.core_pattern (a host root escape), so /proc is read-only; /proc/keys is hidden.
      a.push(
        '--proc',
        '/proc',
        '--ro-bind',
        '/dev/null',
        '/proc/keys',
        '--remount-ro',
        '/proc',
        '--dev',
        '/dev',
      );
      // GPUs: their device nodes only (src/sandbox/gpu.ts), before /dev turns read-only.
      for (const d of spec.devices ?? []) a.push('--dev-bind', d.host, d.target);
      // bwrap 0.8: --size applies to the NEXT --tmpfs, so it must come before it.
      a.push('--size', String(lim.shmBytes), '--tmpfs', '/dev/shm', '--remount-ro', '/dev');
      a.push('--size', String(lim.tmpBytes), '--tmpfs', '/tmp');
    }
  }
  a.push(...masks);
  // The root is a tmpfs bwrap made; without this anything could be written to /, /data, /workspace's parents...
  a.push('--remount-ro', '/');
  a.push('--chdir', WORKSPACE_DIR, '--', ...innerArgv(spec));
  return a;
}

/**
 * Cover each hidden path that lies inside a bound folder; refuse binds whose source is, or is inside, a path of
 * `spec.hiddenPaths`. `<workdir>/.ratchet` is covered too, but may still be bound on purpose (e.g. a data file in
 * `.ratchet/data`). Compares realpaths, so a symlink to the vault is caught.
 */
function hiddenMasks(spec: SandboxSpec, binds: Bind[]): string[] {
  const strict = new Set<string>();
  for (const p of spec.hiddenPaths ?? []) strict.add(realOrSelf(p));
  const hidden = new Set(strict);
  const dotRatchet = join(spec.workdir, '.ratchet');
  if (existsSync(dotRatchet)) hidden.add(realOrSelf(dotRatchet));
  const out: string[] = [];
  for (const b of binds) {
    if (b.flag === '--ro-bind-try' && !existsSync(b.source)) continue;
    const src = realOrSelf(b.source);
    if (src === '/') throw new Error(`sandbox: refusing to bind ${b.source} (it resolves to /)`);
    for (const h of strict) {
      if (isWithin(h, src)) {
        throw new Error(`sandbox: refusing to bind ${b.source}: it is or lies inside the hidden path ${h}`);
      }
    }
    for (const h of hidden) {
      if (h === src || !isWithin(src, h) || !existsSync(h)) continue;
      const target = posix.join(b.target, h.slice(src.length));
      if (lstatSync(h).isDirectory()) out.push('--size', '4096', '--tmpfs', target, '--remount-ro', target);
      else out.push('--ro-bind', '/dev/null', target);
    }
  }
  return out;
}

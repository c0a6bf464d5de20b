/**
 * Types and defaults shared by the sandbox modules.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Default RLIMIT_AS (address space), bytes. */
export const DEFAULT_MEMORY_BYTES = 8 * GiB;
/** Default RLIMIT_FSIZE (largest file the command may write), bytes. */
export const DEFAULT_MAX_FILE_BYTES = 2 * GiB;
/** Default size of the `/tmp` tmpfs, bytes. */
export const DEFAULT_TMP_BYTES = 512 * MiB;
/** Upper bound on the size of the `/dev/shm` tmpfs, bytes (it is `min(tmpBytes, this)`). */
export const MAX_SHM_BYTES = 128 * MiB;
/** Default cap on the total size of the output folder, bytes. */
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * GiB;
/** Default cap on the tasks (processes and threads together) of a sandboxed process tree. */
export const DEFAULT_MAX_PROCESSES = 256;
/** How much of each of stdout and stderr is kept in its file, bytes. */
export const MAX_LOG_BYTES = 10 * MiB;

/** Where the worktree appears inside the sandbox (read-only; the command's working directory). */
export const WORKSPACE_DIR = '/workspace';
/** Where the output folder appears inside the sandbox (the only writable host folder). */
export const OUTPUT_DIR = '/output';

/**
 * A Python interpreter to expose inside the sandbox, as found by `resolvePython`.
 * All paths are absolute host paths; they are bound read-only at the same paths inside the sandbox.
 */
export interface PythonRuntime {
  /** Absolute host path of the interpreter (not symlink-resolved, so a venv keeps working), e.g. `/p/.venv/bin/python`. */
  executable: string;
  /** Folder of `executable`; put first on PATH inside the sandbox so `python` finds it. */
  binDir: string;
  /** Host folders to bind read-only at the same path: venv prefix, base prefix, and their realpaths. */
  prefixes: string[];
}

/**
 * Everything needed to run one command in the sandbox. Sizes are bytes, times milliseconds unless named otherwise.
 */
export interface SandboxSpec {
  /** The command, e.g. `['python', 'train.py']`; `argv[0]` is looked up on PATH inside the sandbox. */
  argv: string[];
  /** Host path of the worktree; mounted read-only at `/workspace`, the working directory. Must exist. */
  workdir: string;
  /**
   * Mount the worktree read-WRITE at `/workspace` (default false: read-only). For a coding agent at PROPOSE, which
   * must edit the code; never for an experiment's command. Everything else stays as it is: the other binds are
   * read-only, the hidden paths are covered, and a `readOnly` bind inside `/workspace` (e.g. its `.git` file) stays
   * read-only on top of the writable tree.
   */
  workdirWritable?: boolean;
  /**
   * Extra read-only binds (data files or folders). `host` must exist; `target` must be an absolute, normalized
   * path outside `/proc`, `/dev`, `/output`, `/etc` and the system folders, and not `/`, `/workspace` or `/tmp`.
   */
  readOnly: { host: string; target: string }[];
  /** Host folder (created by the caller) mounted read-write at `/output`. Must exist. */
  outputDir: string;
  /**
   * The only environment the command sees. PATH (Python's binDir first), `HOME=/tmp` and `LANG=C.UTF-8` are added
   * unless this sets them; PWD, OLDPWD and SHLVL are never passed. Keys must match `[A-Za-z_][A-Za-z0-9_]*`;
   * values must not contain NUL. In unsafe mode one more variable, RATCHET_SANDBOX_TOKEN, tags the run's processes.
   */
  env: Record<string, string>;
  /**
   * Host device nodes bound into the sandbox's `/dev` (GPUs, see src/sandbox/gpu.ts): `target` must be
   * `/dev/nvidia…`; `host` a character device (or a regular file standing in for one in tests). Nothing else of the
   * host's `/dev` is ever bound.
   */
  devices?: { host: string; target: string }[];
  /** Interpreter bound read-only at the same paths; its binDir goes first on PATH. */
  python?: PythonRuntime;
  /** Wall-clock limit, ms; on expiry the whole process tree is killed and the status is `timeout`. */
  timeoutMs: number;
  /**
   * Memory cap of the whole process tree, bytes; default 8 GiB. Held for the tree together by the host watchdog
   * (sum of the processes' resident/proportional memory, every 200 ms; over it the tree is killed with status
   * `memory_limit`) and per process by RLIMIT_AS (a backstop: an allocation past it fails in that process).
   */
  memoryBytes?: number;
  /**
   * Cap on the tree's tasks (processes and threads together); default 256. Enforced by the watchdog (status
   * `process_limit`) and by RLIMIT_NPROC, which binds only when the command does not run as root.
   */
  maxProcesses?: number;
  /** RLIMIT_CPU soft limit, seconds (SIGXCPU; hard limit +5 s, SIGKILL); default `ceil(timeoutMs/1000)*2`. */
  cpuSeconds?: number;
  /** RLIMIT_FSIZE, bytes; default 2 GiB. */
  maxFileBytes?: number;
  /** Size of the `/tmp` tmpfs, bytes; default 512 MiB. `/dev/shm` gets `min(tmpBytes, 128 MiB)`. */
  tmpBytes?: number;
  /** Cap on the total size of `outputDir` (polled while running, checked at the end); exceeded => `output_limit`. Default 4 GiB. */
  maxOutputBytes?: number;
  /** `false` => no network at all (own loopback only). `true` => the host's network (`--share-net`). */
  network: boolean;
  /** Host file receiving the command's stdout (truncated at 10 MiB, with a note at the end). */
  stdoutPath: string;
  /** Host file receiving the command's stderr (truncated at 10 MiB, with a note at the end). */
  stderrPath: string;
  /** Kill switch: when aborted, the whole tree is killed within a second and the status is `aborted`. */
  signal?: AbortSignal;
  /**
   * Host paths that must never be reachable from the command (e.g. the vault). A bind whose source is, or lies
   * inside, one of them is refused (Error, symlinks resolved); one lying inside a bound folder is covered by an
   * empty read-only tmpfs (folders) or `/dev/null` (files). `<workdir>/.ratchet` is always covered in the
   * worktree, but files inside it may still be bound on purpose through `readOnly` (e.g. `.ratchet/data/...`).
   */
  hiddenPaths?: string[];
  /**
   * Run WITHOUT bubblewrap (only when the person explicitly asked): same env/cwd semantics with host paths
   * (cwd = workdir, paths in env unchanged), rlimits still applied, a detached process group killed with kill(-pgid).
   */
  unsafeNoSandbox?: boolean;
}

/** How a sandboxed run ended. */
export type SandboxStatus =
  | 'ok'
  | 'failed'
  | 'timeout'
  | 'aborted'
  | 'output_limit'
  | 'memory_limit'
  | 'process_limit'
  | 'sandbox_error';

/** What the process-tree watchdog measured during a run. */
export interface TreeUsage {
  /** Largest memory of the whole tree seen, bytes (PSS near the cap, otherwise the RSS sum). */
  peakBytes: number;
  /** Largest number of tasks (processes and threads) seen in the tree. */
  peakTasks: number;
  /** Measurements taken (one per 200 ms). */
  ticks: number;
  /** Host CPU time the measurements used in all, ms. */
  cpuMs: number;
  /** Host CPU time of the dearest measurement, ms. */
  maxTickCpuMs: number;
}

/** The outcome of `runSandboxed`. */
export interface SandboxResult {
  /**
   * `ok` exit 0; `failed` non-zero exit or killed by a signal it caused (rlimits); `timeout` wall clock;
   * `aborted` kill switch; `output_limit` output folder over its cap; `memory_limit` / `process_limit` the process
   * tree together over the memory / task cap (killed by the watchdog); `sandbox_error` the sandbox could not start.
   */
  status: SandboxStatus;
  /** Exit code of the command (bubblewrap reports death by signal N as 128+N), or null when Ratchet killed it. */
  exitCode: number | null;
  /** Signal name, e.g. `SIGKILL` (tree killed by Ratchet) or `SIGXCPU` (decoded from exit code 128+N); else null. */
  signal: string | null;
  /** Wall-clock duration, ms. */
  wallMs: number;
  /** false when run with `unsafeNoSandbox`. */
  sandboxed: boolean;
  /** Human-readable summary, e.g. `exited with code 1` or `killed after 120 s wall-clock timeout`. */
  message: string;
  /** The watchdog's figures (absent when the command never started). */
  tree?: TreeUsage;
}

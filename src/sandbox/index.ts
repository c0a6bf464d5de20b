/**
 * The sandbox: runs an experiment's command under bubblewrap with the worktree and data read-only, one writable
 * output folder, the vault absent, no network, new namespaces, no capabilities, a cleared environment, a small
 * seccomp filter, and wall-clock, memory (of the whole process tree), process-count, CPU, file-size, tmpfs and
 * output-size limits. See docs/ARCHITECTURE.md ("Sandbox").
 *
 * Threat notes: the command runs as host uid 0 without capabilities inside a user namespace (when root starts
 * Ratchet), so everything writable is listed explicitly: /output, a size-capped /tmp and /dev/shm. /, /dev and
 * /proc are read-only (a writable /proc/sys would allow kernel.core_pattern, a host escape).
 */

export { type BwrapArgsOptions, bwrapArgs } from './args.js';
export { type TreeLimitMechanism, treeLimitMechanism } from './cgroup.js';
export { probeSandbox } from './probe.js';
export { resolvePython } from './python.js';
export { runSandboxed } from './run.js';
export { DENIED_SYSCALLS, seccompFilter } from './seccomp.js';
export {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_MAX_PROCESSES,
  DEFAULT_MEMORY_BYTES,
  DEFAULT_TMP_BYTES,
  MAX_LOG_BYTES,
  OUTPUT_DIR,
  type PythonRuntime,
  type SandboxResult,
  type SandboxSpec,
  type SandboxStatus,
  type TreeUsage,
  WORKSPACE_DIR,
} from './types.js';

/**
 * A small seccomp filter (classic BPF, as bubblewrap's `--seccomp FD` expects) that denies the few system calls a
 * capability-less sandbox can still misuse:
 * - `keyctl`, `add_key`, `request_key`: the kernel keyrings are not namespaced by bubblewrap; the command would
 *   inherit (and could read) the session keyring of the process that started Ratchet;
 * - `bpf`, `userfaultfd`, `perf_event_open`, `io_uring_*`: large kernel attack surface no training job needs;
 * - `ptrace`, `process_vm_readv`, `process_vm_writev`: the command could stop or rewrite the sandbox's pid 1
 *   (bubblewrap's init) and so hang the run until its timeout, or read another process's memory.
 * Denied calls fail with EPERM. System calls of a foreign ABI (i386 or x32 on x86-64) are all denied, since their
 * numbers differ. Only x86-64 and arm64 are covered; elsewhere no filter is returned.
 */

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
/** Offsets in `struct seccomp_data`. */
const OFF_NR = 0;
const OFF_ARCH = 4;
/** x32 system calls on x86-64 have this bit set. */
const X32_SYSCALL_BIT = 0x40000000;

interface ArchTable {
  auditArch: number;
  denied: Record<string, number>;
  x32: boolean;
}

const IO_URING = { io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427 };

const ARCHES: Record<string, ArchTable> = {
  x64: {
    auditArch: 0xc000003e,
    x32: true,
    denied: {
      add_key: 248,
      request_key: 249,
      keyctl: 250,
      perf_event_open: 298,
      bpf: 321,
      userfaultfd: 323,
      ptrace: 101,
      process_vm_readv: 310,
      process_vm_writev: 311,
      ...IO_URING,
    },
  },
  arm64: {
    auditArch: 0xc00000b7,
    x32: false,
    denied: {
      add_key: 217,
      request_key: 218,
      keyctl: 219,
      perf_event_open: 241,
      bpf: 280,
      userfaultfd: 282,
      ptrace: 117,
      process_vm_readv: 270,
      process_vm_writev: 271,
      ...IO_URING,
    },
  },
};

/** Names of the system calls the filter denies (for docs and `ratchet show`). */
export const DENIED_SYSCALLS = Object.keys(ARCHES.x64!.denied);

/**
 * The compiled filter for this machine's architecture (`process.arch`), as the bytes of a `struct sock_filter`
 * array (8 bytes per instruction, little-endian), or null on an architecture it does not know.
 */
export function seccompFilter(arch: string = process.arch): Buffer | null {
  const table = ARCHES[arch];
  if (!table) return null;
  const nrs = Object.values(table.denied);
  // Layout: 0 ld arch; 1 jeq arch ? 3 : 2; 2 ret deny; 3 ld nr; [x32 check]; one jeq per call; ret allow; ret deny.
  const prog: [number, number, number, number][] = [];
  prog.push([BPF_LD_W_ABS, 0, 0, OFF_ARCH]);
  prog.push([BPF_JMP_JEQ_K, 1, 0, table.auditArch]);
  prog.push([BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM]);
  prog.push([BPF_LD_W_ABS, 0, 0, OFF_NR]);
  const checks = (table.x32 ? 1 : 0) + nrs.length;
  const denyIndex = prog.length + checks + 1;
  if (table.x32) prog.push([BPF_JMP_JGE_K, denyIndex - prog.length - 1, 0, X32_SYSCALL_BIT]);
  for (const nr of nrs) prog.push([BPF_JMP_JEQ_K, denyIndex - prog.length - 1, 0, nr]);
  prog.push([BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW]);
  prog.push([BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM]);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}

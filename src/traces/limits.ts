/**
 * Time and memory limits of a trace query (SQL over the journal, grep over the traces), shared by the runner
 * that enforces them (offloop.ts) and the query process that reports hitting them (sql.ts).
 */
export const QUERY_LIMITS = {
  /** Default time limit of one query, ms. */
  defaultTimeoutMs: 5_000,
  /** Longest time limit a caller may ask for, ms. */
  maxTimeoutMs: 30_000,
  /**
   * Memory of the query process, MB. Enforced twice: the kernel refuses the process data beyond it
   * (RLIMIT_DATA, so an allocation fails at once, however fast it grows and however loaded the machine), and
   * the runner stops the query when its resident memory, read every {@link QUERY_LIMITS.pollMs} ms, is above it.
   */
  memoryMb: 200,
  /** V8 heap of the query process (--max-old-space-size), MB. */
  heapMb: 128,
  /** How often the resident memory is read, ms. */
  pollMs: 50,
} as const;

/** The error message of a query stopped at its memory limit. */
export function memoryLimitMessage(what: 'the query' | 'the search'): string {
  return `${what} used over ${QUERY_LIMITS.memoryMb} MB of memory and was stopped`;
}

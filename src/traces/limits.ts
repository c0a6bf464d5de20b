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
   * Resident memory of the query process above which the query is stopped, MB: the runner reads it every
   * {@link QUERY_LIMITS.pollMs} ms. A read can come late (a query may allocate hundreds of MB between two reads
   * on a loaded machine), so the kernel also holds the process to {@link QUERY_LIMITS.dataMb}.
   */
  memoryMb: 200,
  /**
   * The query process's data-segment limit (RLIMIT_DATA), MB: an allocation beyond it fails at once inside the
   * process, however fast the query allocates. It counts mapped writable memory, touched or not, and Node maps
   * about 40 MB more than it touches (thread stacks, allocator arenas), so a query gets that much less than the
   * resident cap alone would allow; in exchange the process's resident memory cannot pass the cap by more than
   * its code and shared libraries, whatever the poll sees.
   */
  dataMb: 200,
  /** V8 heap of the query process (--max-old-space-size), MB. */
  heapMb: 128,
  /** How often the resident memory is read, ms. */
  pollMs: 50,
} as const;

/** The error message of a query stopped at its memory limit. */
export function memoryLimitMessage(what: 'the query' | 'the search'): string {
  return `${what} used over ${QUERY_LIMITS.memoryMb} MB of memory and was stopped`;
}

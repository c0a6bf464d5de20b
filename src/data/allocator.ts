/**
 * Options of DuckDB's memory allocator in Ratchet's own process (issue 10: peak RSS of a step ≤ 300 MB).
 *
 * DuckDB's library bundles jemalloc (symbols prefixed `duckdb_je_`), which reads extra options from the
 * environment variable {@link JEMALLOC_CONF_VAR} once, when the library is loaded. This module sets it on
 * import, so it must be imported before `@duckdb/node-api` (src/data/duck.ts does so first), and
 * {@link allocatorConfigured} (called by duck.ts once the library is loaded) removes it again, so child
 * processes (a training command's own DuckDB, which bundles the same jemalloc) never inherit it. A value the user set is left alone (and kept).
 */

/** The environment variable DuckDB's bundled jemalloc reads its options from. */
export const JEMALLOC_CONF_VAR = 'DUCKDB_JE_MALLOC_CONF';

/**
 * jemalloc options for DuckDB. `dirty_decay_ms:0`: freed pages go back to the system at once, where DuckDB's
 * own setting keeps them for up to 5 s; `muzzy_decay_ms:0`: with MADV_DONTNEED (pages freed with MADV_FREE stay
 * in the RSS until the kernel is short of memory); `tcache_max:8388608`: each thread keeps a few freed blocks of
 * up to 8 MiB (DuckDB's 256 KiB buffer blocks, the 8 MiB CSV buffers) for reuse, so that immediate purging does
 * not fault the same pages in again and again. DuckDB frees and allocates buffer blocks all the time (spilled
 * tables read back, sorts, COPY row groups), and the pages it kept were the bulk of the non-array RSS. Measured
 * with `ratchet init` at 3M rows per holdout (bench/memory.ts): peak RSS 297 to 330 MB with DuckDB's
 * defaults, about 250 MB with these; CPU time within a few % (with `dirty_decay_ms:0` alone: 245 MB, but
 * +25 % CPU time in system calls and page faults). DuckDB's other options (one arena per two cores, the
 * oversize threshold) stay: the environment is read after them and only overrides what it names.
 */
export const JEMALLOC_CONF = 'dirty_decay_ms:0,muzzy_decay_ms:0,tcache_max:8388608';

const ours = process.env[JEMALLOC_CONF_VAR] === undefined;
if (ours) process.env[JEMALLOC_CONF_VAR] = JEMALLOC_CONF;

/** Remove {@link JEMALLOC_CONF_VAR} from the environment if this module set it (DuckDB's library has read it). */
export function allocatorConfigured(): void {
  if (ours && process.env[JEMALLOC_CONF_VAR] === JEMALLOC_CONF) delete process.env[JEMALLOC_CONF_VAR];
}

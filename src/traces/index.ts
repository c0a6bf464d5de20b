/** Traces for proposers: grep over every experiment's raw files, read-only SQL over the journal. */
export {
  GREP_LIMITS,
  type GrepMatch,
  type GrepQuery,
  type GrepResult,
  grepTraces,
  traceFolders,
} from './grep.js';
export {
  closeQueryRunner,
  journalQuery,
  type OffLoopOptions,
  QUERY_LIMITS,
  QueryRunner,
  queryTimeout,
  traceGrep,
  warmQueryRunner,
} from './offloop.js';
export { isPrivateEvent, queryJournal, SQL_LIMITS, SQL_SCHEMA, type SqlResult } from './sql.js';

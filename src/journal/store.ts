import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { type AbTestRecord, abTestsStamp, selectAbTests, upsertAbTest } from './ab.js';
import { insertReview, type ReviewRecord, selectReviews } from './reviews.js';

/** Project-relative path of the journal. */
export const JOURNAL_FILE = '.ratchet/ratchet.db';

/** Decisions an experiment can end with (docs/glossary.md, "decision"). */
export const DECISIONS = ['kept', 'reverted', 'crashed', 'timeout', 'invalid', 'rejected'] as const;
export type Decision = (typeof DECISIONS)[number];

/** What the trace tidy needs of a recorded experiment ({@link Journal.listOutcomes}). */
export type ExperimentOutcome = Pick<ExperimentRecord, 'id' | 'decision' | 'sandboxStatus'>;

/** One finished experiment as stored in the journal. */
export interface ExperimentRecord {
  id: number;
  runId: string;
  /** 1-based position within the run (the baseline is 1). */
  seq: number;
  proposer: string;
  hypothesis: string;
  params: Record<string, unknown> | null;
  meta: Record<string, unknown> | null;
  decision: Decision;
  /** Why: the keep rule's arithmetic, the guardrail that tripped, the crash message. */
  reason: string;
  /** Public primary metric (null when there is no valid score). */
  score: number | null;
  /** Best public score before this experiment (null for the baseline). */
  bestBefore: number | null;
  /** Gain over the best, in the metric's direction (positive = better). */
  delta: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  probImprovement: number | null;
  /**
   * The test that decided stage 2 of the keep rule ('delong' | 'paired-z' | 'bootstrap' | 'none'; null for
   * the baseline, a rejected or failed experiment, and journals written before it was recorded).
   */
  keepTest?: string | null;
  /**
   * The direction (1-based lane of `ratchet run --directions N`) the experiment ran in; null or absent in a run
   * with one direction (docs/ARCHITECTURE.md, "Parallel directions").
   */
  direction?: number | null;
  /** Commit of a kept experiment on the ratchet branch. */
  commitSha: string | null;
  /** Commit the change was made on (the best kept commit at the time). */
  parentSha: string;
  /** Files the change touched (project-relative). */
  files: string[];
  /** Sandbox outcome: ok | failed | timeout | aborted | output_limit | sandbox_error | skipped. */
  sandboxStatus: string;
  sandboxMessage: string;
  exitCode: number | null;
  /** False when the command ran with --unsafe-no-sandbox. */
  sandboxed: boolean;
  startedAt: string;
  endedAt: string;
  /** Whole experiment, ms. */
  durationMs: number;
  /** Sandboxed command only, ms. */
  executeMs: number | null;
  conclusion: string | null;
  /** All public metrics. */
  metrics: Record<string, number>;
}

/** A run of the loop. */
export interface RunRecord {
  id: string;
  branch: string;
  worktree: string;
  baseCommit: string;
  proposer: string;
  /** running | finished | stopped | failed | escalated */
  status: string;
  stopReason: string | null;
  startedAt: string;
  endedAt: string | null;
  unsafe: boolean;
  pid: number | null;
  /** Budgets and options the run started with. */
  config: Record<string, unknown>;
  /**
   * Wall-clock time the run has been active, ms, summed over its active periods (a resumed run continues it),
   * as of `activeAt`; null for runs recorded before it was kept.
   */
  activeMs: number | null;
  /** When `activeMs` was last written (ISO), or null. */
  activeAt: string | null;
}

/** The agents' token and cost usage in one budget period of the project (only a person opens a new one). */
export interface AgentBudgetRecord {
  /** 1-based period number (0 before anything was counted). */
  period: number;
  openedAt: string | null;
  /** Why a person opened this period (empty for the first). */
  note: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  calls: number;
}

/** A journal event: guardrail trips, escalations, run lifecycle, progress. */
export interface EventRecord {
  id: number;
  ts: string;
  runId: string | null;
  experimentId: number | null;
  kind: string;
  severity: 'info' | 'warning' | 'error';
  guardrail: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

/** A private-holdout score of one experiment (tier 2). */
export interface SubmissionRecord {
  id: number;
  ts: string;
  runId: string;
  experimentId: number;
  commitSha: string | null;
  public: number;
  private: number;
  /** public - private, in the metric's direction: positive means the public holdout flattered the model. */
  gap: number;
  metrics: Record<string, number>;
}

/** A run-to-run noise measurement of the baseline. */
export interface NoiseRecord {
  id: number;
  ts: string;
  commitSha: string;
  metric: string;
  /** same-seed | varied-seed */
  kind: string;
  scores: number[];
  /** Output folders of the runs (absolute), so the keep rule can reuse their predictions. */
  outputs: string[];
  mean: number;
  sd: number;
  /**
   * The executor slot class the runs were measured in (e.g. `local:sandbox:2x1`: two at once, one thread each;
   * docs/ARCHITECTURE.md, "Parallel directions"); null for measurements recorded before slot classes (one at a time).
   */
  slotClass?: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, branch TEXT NOT NULL, worktree TEXT NOT NULL, base_commit TEXT NOT NULL,
  proposer TEXT NOT NULL, status TEXT NOT NULL, stop_reason TEXT, started_at TEXT NOT NULL, ended_at TEXT,
  unsafe INTEGER NOT NULL DEFAULT 0, pid INTEGER, config TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS experiments (
  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,
  proposer TEXT NOT NULL, hypothesis TEXT NOT NULL, params TEXT, meta TEXT,
  decision TEXT NOT NULL CHECK (decision IN ('kept','reverted','crashed','timeout','invalid','rejected')),
  reason TEXT NOT NULL, score REAL, best_before REAL, delta REAL, ci_low REAL, ci_high REAL, prob_improvement REAL,
  commit_sha TEXT, parent_sha TEXT NOT NULL, files TEXT NOT NULL DEFAULT '[]',
  sandbox_status TEXT NOT NULL, sandbox_message TEXT NOT NULL DEFAULT '', exit_code INTEGER,
  sandboxed INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT NOT NULL, duration_ms REAL NOT NULL,
  execute_ms REAL, conclusion TEXT, keep_test TEXT, direction INTEGER, row_version INTEGER,
  UNIQUE (run_id, seq)
);
CREATE TABLE IF NOT EXISTS metrics (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id), holdout TEXT NOT NULL, name TEXT NOT NULL,
  value REAL NOT NULL, PRIMARY KEY (experiment_id, holdout, name)
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, ts TEXT NOT NULL, run_id TEXT, experiment_id INTEGER, kind TEXT NOT NULL,
  severity TEXT NOT NULL, guardrail TEXT, message TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, id);
CREATE INDEX IF NOT EXISTS events_run_kind ON events(run_id, kind, id);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, id);
CREATE TABLE IF NOT EXISTS submissions (
  id INTEGER PRIMARY KEY, ts TEXT NOT NULL, run_id TEXT NOT NULL, experiment_id INTEGER NOT NULL,
  commit_sha TEXT, public REAL NOT NULL, private REAL NOT NULL, gap REAL NOT NULL, metrics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_budget (
  id INTEGER PRIMARY KEY, opened_at TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
  input_tokens REAL NOT NULL DEFAULT 0, output_tokens REAL NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
  calls INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS noise (
  id INTEGER PRIMARY KEY, ts TEXT NOT NULL, commit_sha TEXT NOT NULL, metric TEXT NOT NULL, kind TEXT NOT NULL,
  scores TEXT NOT NULL, mean REAL NOT NULL, sd REAL NOT NULL, outputs TEXT NOT NULL DEFAULT '[]'
);
`;

/**
 * The next row version of an experiment row (see `Journal.experimentsVersion`): one more than the highest so far,
 * read inside the statement that writes the row (SQLite runs one writer at a time, so versions follow commit order).
 */
const NEXT_ROW_VERSION = '(SELECT coalesce(max(row_version), 0) + 1 FROM experiments)';

/** Indexes that find the highest row version and a run's rows changed since a version without a scan. */
const ROW_VERSION_INDEXES = `
CREATE INDEX IF NOT EXISTS experiments_row_version ON experiments(row_version);
CREATE INDEX IF NOT EXISTS experiments_run_row_version ON experiments(run_id, row_version);
`;

type Row = Record<string, unknown>;

/**
 * Journal tables whose raw rows {@link Journal.tableRows} hands out, for building a copy of the journal
 * (traces/sql.ts copies their public part into the in-memory database agents query). The submissions and
 * reviews tables are never handed out raw.
 */
export const COPYABLE_TABLES = ['runs', 'experiments', 'metrics', 'events', 'noise'] as const;
/** One of {@link COPYABLE_TABLES}. */
export type CopyableTable = (typeof COPYABLE_TABLES)[number];

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
const parse = <T>(v: unknown): T | null => (typeof v === 'string' ? (JSON.parse(v) as T) : null);
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * What a reader may do with the journal: every query, no write. The orchestrator's {@link Journal} is the one writer
 * (every write is one of its methods: no SQL outside src/journal); status, log, the Studio, the report, the tracker's
 * health, the agents' budgets and the keep rule's noise read through this type, so the compiler refuses a write
 * there (docs/ARCHITECTURE.md, "The journal").
 */
export type JournalReader = Pick<
  Journal,
  | 'isOpen'
  | 'getMeta'
  | 'agentBudget'
  | 'getRun'
  | 'listRuns'
  | 'listExperiments'
  | 'experimentsVersion'
  | 'experimentsStamp'
  | 'listOutcomes'
  | 'getExperiment'
  | 'listEvents'
  | 'latestEvent'
  | 'changeStamp'
  | 'alignmentStamp'
  | 'tableRows'
  | 'listReviews'
  | 'listAbTests'
  | 'listSubmissions'
  | 'latestNoise'
>;

/**
 * The experiment journal: SQLite in WAL mode, so the Studio, the MCP server and `ratchet status`
 * read it while a run writes it. The orchestrator is its single writer.
 */
export class Journal {
  /**
   * The SQLite connection, an ECMAScript private field: no code outside this class can reach it, so every
   * query on the journal lives in src/journal behind a named method.
   */
  readonly #db: Database.Database;
  /**
   * Whether experiment rows carry `row_version` (see {@link experimentsVersion}): always once a writer opened the
   * journal; a journal last written before row versions and opened read-only has none.
   */
  readonly #rowVersions: boolean;

  private constructor(db: Database.Database, rowVersions: boolean) {
    this.#db = db;
    this.#rowVersions = rowVersions;
  }

  /**
   * Open (and create or migrate) the journal of a project.
   * @param readonly open without write access (readers: status, log, studio)
   */
  static open(projectDir: string, opts: { readonly?: boolean } = {}): Journal {
    const path = join(projectDir, JOURNAL_FILE);
    if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, {
      readonly: opts.readonly ?? false,
      fileMustExist: opts.readonly ?? false,
    });
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Created or migrated in one IMMEDIATE transaction: two writers opening an older journal at once (a run and
      // an MCP server) take turns, and the second finds the columns the first added instead of failing on a
      // duplicate column; a migration that fails leaves the journal as it was.
      db.transaction(() => {
        db.exec(SCHEMA);
        // Journals written before a column existed get it added (columns are only ever added).
        const cols = (db.prepare('PRAGMA table_info(noise)').all() as { name: string }[]).map((c) => c.name);
        if (!cols.includes('outputs'))
          db.exec("ALTER TABLE noise ADD COLUMN outputs TEXT NOT NULL DEFAULT '[]'");
        if (!cols.includes('slot_class')) db.exec('ALTER TABLE noise ADD COLUMN slot_class TEXT');
        const runCols = (db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map(
          (c) => c.name,
        );
        if (!runCols.includes('active_ms')) db.exec('ALTER TABLE runs ADD COLUMN active_ms REAL');
        if (!runCols.includes('active_at')) db.exec('ALTER TABLE runs ADD COLUMN active_at TEXT');
        const expCols = (db.prepare('PRAGMA table_info(experiments)').all() as { name: string }[]).map(
          (c) => c.name,
        );
        if (!expCols.includes('keep_test')) db.exec('ALTER TABLE experiments ADD COLUMN keep_test TEXT');
        if (!expCols.includes('direction')) db.exec('ALTER TABLE experiments ADD COLUMN direction INTEGER');
        if (!expCols.includes('row_version'))
          db.exec('ALTER TABLE experiments ADD COLUMN row_version INTEGER');
        db.exec(ROW_VERSION_INDEXES);
      }).immediate();
    }
    const rowVersions = (db.prepare('PRAGMA table_info(experiments)').all() as { name: string }[]).some(
      (c) => c.name === 'row_version',
    );
    return new Journal(db, rowVersions);
  }

  /** Close the connection (the journal object is unusable afterwards; see {@link isOpen}). */
  close(): void {
    this.#db.close();
  }

  /** False once {@link close} has run (the connection is closed). */
  get isOpen(): boolean {
    return this.#db.open;
  }

  /** Run `fn` in one transaction: all of its writes land, or none. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  /** A value of the journal's key-value table, or null. */
  getMeta(key: string): string | null {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return row ? String(row['value']) : null;
  }

  /** Set a value of the journal's key-value table. */
  setMeta(key: string, value: string): void {
    this.#db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run(key, value);
  }

  /** Reserve the next experiment id (ids are never reused, even when an experiment is interrupted). */
  reserveExperimentId(): number {
    return this.transaction(() => {
      const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'next_experiment_id'").get() as
        | Row
        | undefined;
      const maxRow = this.#db.prepare('SELECT coalesce(max(id), 0) AS m FROM experiments').get() as Row;
      const next = Math.max(Number(row?.['value'] ?? 1), Number(maxRow['m']) + 1);
      this.#db
        .prepare("INSERT OR REPLACE INTO meta(key, value) VALUES ('next_experiment_id', ?)")
        .run(String(next + 1));
      return next;
    });
  }

  /** Insert a new run. */
  createRun(run: Omit<RunRecord, 'endedAt' | 'stopReason' | 'activeMs' | 'activeAt'>): void {
    this.#db
      .prepare(
        `INSERT INTO runs (id, branch, worktree, base_commit, proposer, status, started_at, unsafe, pid, config)
         VALUES (@id, @branch, @worktree, @baseCommit, @proposer, @status, @startedAt, @unsafe, @pid, @config)`,
      )
      .run({ ...run, unsafe: run.unsafe ? 1 : 0, config: JSON.stringify(run.config) });
  }

  /**
   * Update a run's lifecycle fields (and its proposer's name, known once the proposer is built).
   * @param id the run's id (no row changes when it is unknown)
   * @param fields the fields to set; the others keep their values
   */
  updateRun(
    id: string,
    fields: Partial<Pick<RunRecord, 'status' | 'stopReason' | 'endedAt' | 'pid' | 'proposer'>>,
  ): void {
    const cols: Record<string, string> = {
      status: 'status',
      stopReason: 'stop_reason',
      endedAt: 'ended_at',
      pid: 'pid',
      proposer: 'proposer',
    };
    const sets = Object.keys(fields).map((k) => `${cols[k]} = @${k}`);
    if (sets.length === 0) return;
    this.#db.prepare(`UPDATE runs SET ${sets.join(', ')} WHERE id = @id`).run({ ...fields, id });
  }

  /** Record how long a run has been active so far (ms, summed over its active periods), as of `at`. */
  setActiveMs(id: string, activeMs: number, at: string): void {
    this.#db.prepare('UPDATE runs SET active_ms = ?, active_at = ? WHERE id = ?').run(activeMs, at, id);
  }

  /**
   * The agents' usage in the project's current budget period (zeros, period 0, when nothing was counted yet
   * or the journal predates the table).
   */
  agentBudget(): AgentBudgetRecord {
    let row: Row | undefined;
    try {
      row = this.#db.prepare('SELECT * FROM agent_budget ORDER BY id DESC LIMIT 1').get() as Row | undefined;
    } catch {
      row = undefined; // a read-only journal written before the table existed
    }
    if (!row) {
      return { period: 0, openedAt: null, note: '', inputTokens: 0, outputTokens: 0, costUsd: 0, calls: 0 };
    }
    return {
      period: Number(row['id']),
      openedAt: String(row['opened_at']),
      note: String(row['note']),
      inputTokens: Number(row['input_tokens']),
      outputTokens: Number(row['output_tokens']),
      costUsd: Number(row['cost_usd']),
      calls: Number(row['calls']),
    };
  }

  /**
   * Count agent usage in the current budget period, atomically: `add` sums it in, `raise` lifts each field to
   * at least the given value (agents that report cumulative totals) and counts one call.
   */
  countAgentUsage(
    u: { inputTokens: number; outputTokens: number; costUsd: number; calls: number },
    mode: 'add' | 'raise',
  ): AgentBudgetRecord {
    return this.transaction(() => {
      if (this.agentBudget().period === 0) {
        this.#db.prepare('INSERT INTO agent_budget (opened_at) VALUES (?)').run(new Date().toISOString());
      }
      const sql =
        mode === 'add'
          ? `UPDATE agent_budget SET input_tokens = input_tokens + @inputTokens, output_tokens = output_tokens + @outputTokens,
               cost_usd = cost_usd + @costUsd, calls = calls + @calls WHERE id = (SELECT max(id) FROM agent_budget)`
          : `UPDATE agent_budget SET input_tokens = max(input_tokens, @inputTokens), output_tokens = max(output_tokens, @outputTokens),
               cost_usd = max(cost_usd, @costUsd), calls = calls + 1 WHERE id = (SELECT max(id) FROM agent_budget)`;
      this.#db.prepare(sql).run(u);
      return this.agentBudget();
    });
  }

  /** Open a new agent budget period (usage back to zero), with the person's note. Returns the new period. */
  openAgentBudget(note: string): AgentBudgetRecord {
    this.#db
      .prepare('INSERT INTO agent_budget (opened_at, note) VALUES (?, ?)')
      .run(new Date().toISOString(), note);
    return this.agentBudget();
  }

  /** A run by id, or the most recent run when id is omitted. */
  getRun(id?: string): RunRecord | null {
    const row = (
      id
        ? this.#db.prepare('SELECT * FROM runs WHERE id = ?').get(id)
        : this.#db.prepare('SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1').get()
    ) as Row | undefined;
    return row ? toRun(row) : null;
  }

  /** All runs, oldest first. */
  listRuns(): RunRecord[] {
    return (this.#db.prepare('SELECT * FROM runs ORDER BY started_at, rowid').all() as Row[]).map(toRun);
  }

  /**
   * Record a finished experiment with its metrics and events, atomically.
   * @throws when (run_id, seq) is already recorded: an experiment is never recorded twice
   */
  recordExperiment(e: ExperimentRecord, events: Omit<EventRecord, 'id' | 'experimentId'>[] = []): void {
    this.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO experiments (id, run_id, seq, proposer, hypothesis, params, meta, decision, reason, score,
             best_before, delta, ci_low, ci_high, prob_improvement, commit_sha, parent_sha, files, sandbox_status,
             sandbox_message, exit_code, sandboxed, started_at, ended_at, duration_ms, execute_ms, conclusion, keep_test, direction,
             row_version)
           VALUES (@id, @runId, @seq, @proposer, @hypothesis, @params, @meta, @decision, @reason, @score,
             @bestBefore, @delta, @ciLow, @ciHigh, @probImprovement, @commitSha, @parentSha, @files, @sandboxStatus,
             @sandboxMessage, @exitCode, @sandboxed, @startedAt, @endedAt, @durationMs, @executeMs, @conclusion, @keepTest, @direction,
             ${NEXT_ROW_VERSION})`,
        )
        .run({
          ...e,
          params: json(e.params),
          meta: json(e.meta),
          files: JSON.stringify(e.files),
          sandboxed: e.sandboxed ? 1 : 0,
          keepTest: e.keepTest ?? null,
          direction: e.direction ?? null,
        });
      const m = this.#db.prepare(
        'INSERT INTO metrics (experiment_id, holdout, name, value) VALUES (?, ?, ?, ?)',
      );
      for (const [name, value] of Object.entries(e.metrics)) {
        if (Number.isFinite(value)) m.run(e.id, 'public', name, value);
      }
      for (const ev of events) this.addEvent({ ...ev, experimentId: e.id });
    });
  }

  /** Set the conclusion of a recorded experiment (what was learned); the row gets a new row version. */
  setConclusion(id: number, conclusion: string): void {
    this.#db
      .prepare(`UPDATE experiments SET conclusion = ?, row_version = ${NEXT_ROW_VERSION} WHERE id = ?`)
      .run(conclusion, id);
  }

  /**
   * Experiments, oldest first; of one run when runId is given. Their public metrics come from one query for all of
   * them (one query per experiment took ~150 ms of the ~250 ms this took at 3,600 experiments).
   * @param opts.changedAfter only the run's experiments whose row version is above this one (recorded or concluded
   *   since a live reader's last look, see {@link experimentsVersion}; needs `runId` and a journal with row versions)
   * @throws Error for `changedAfter` without a run or on a journal without row versions
   */
  listExperiments(runId?: string, opts: { changedAfter?: number } = {}): ExperimentRecord[] {
    if (opts.changedAfter !== undefined) {
      if (!runId) throw new Error('listExperiments: changedAfter needs a run');
      return this.changedExperiments(runId, opts.changedAfter);
    }
    if (runId === undefined) {
      return this.withMetrics(
        this.#db.prepare('SELECT * FROM experiments ORDER BY id').all() as Row[],
        this.#db
          .prepare(
            "SELECT experiment_id AS id, name, value FROM metrics WHERE holdout = 'public' ORDER BY experiment_id, name",
          )
          .all() as Row[],
      );
    }
    return this.withMetrics(
      this.#db.prepare('SELECT * FROM experiments WHERE run_id = ? ORDER BY id').all(runId) as Row[],
      this.#db
        .prepare(
          `SELECT m.experiment_id AS id, m.name, m.value FROM metrics m JOIN experiments e ON e.id = m.experiment_id
           WHERE m.holdout = 'public' AND e.run_id = ? ORDER BY m.experiment_id, m.name`,
        )
        .all(runId) as Row[],
    );
  }

  /**
   * Experiment rows as records, each with its public metrics.
   * @param rows experiment rows; @param ms metric rows `{ id, name, value }` covering them (others are ignored)
   */
  private withMetrics(rows: Row[], ms: Row[]): ExperimentRecord[] {
    const metrics = new Map<number, Record<string, number>>();
    for (const m of ms) {
      const id = Number(m['id']);
      let into = metrics.get(id);
      if (!into) {
        into = {};
        metrics.set(id, into);
      }
      into[String(m['name'])] = Number(m['value']);
    }
    return rows.map((r) => this.toExperiment(r, metrics.get(Number(r['id'])) ?? {}));
  }

  /** The run's experiments whose row version is above `after`, by ascending id (see {@link listExperiments}). */
  private changedExperiments(runId: string, after: number): ExperimentRecord[] {
    if (!this.#rowVersions)
      throw new Error(
        'listExperiments: this journal has no row versions (a writer adds them when it opens it)',
      );
    const rows = this.#db
      .prepare('SELECT * FROM experiments WHERE run_id = ? AND row_version > ? ORDER BY id')
      .all(runId, after) as Row[];
    if (rows.length === 0) return [];
    const ms = this.#db
      .prepare(
        `SELECT m.experiment_id AS id, m.name, m.value FROM experiments e JOIN metrics m ON m.experiment_id = e.id
         WHERE e.run_id = ? AND e.row_version > ? AND m.holdout = 'public' ORDER BY m.experiment_id, m.name`,
      )
      .all(runId, after) as Row[];
    return this.withMetrics(rows, ms);
  }

  /**
   * What a live reader of one run compares to know whether to read again, and what to ask for: how many
   * experiments the run has, the highest id, and the highest row version. Every experiment row gets a row version
   * when it is recorded and a new one whenever its conclusion is set (the only change a row ever has, see
   * {@link setConclusion}), from one journal-wide counter that only grows (the highest so far plus one, assigned
   * inside the writing statement, so in commit order). The rows that changed since a look are then exactly those
   * with a higher version (`listExperiments(run, { changedAfter })`), found through an index.
   * A journal last written before row versions and opened read-only has none: `version` is then null, and
   * `legacy` (the total length of the run's conclusions, a scan) tells a change instead.
   */
  experimentsVersion(runId: string): {
    count: number;
    maxId: number;
    version: number | null;
    legacy: number;
  } {
    if (this.#rowVersions) {
      const row = this.#db
        .prepare(
          'SELECT count(*) AS n, coalesce(max(id), 0) AS m, coalesce(max(row_version), 0) AS v FROM experiments WHERE run_id = ?',
        )
        .get(runId) as Row;
      return { count: Number(row['n']), maxId: Number(row['m']), version: Number(row['v']), legacy: 0 };
    }
    const row = this.#db
      .prepare(
        'SELECT count(*) AS n, coalesce(max(id), 0) AS m, coalesce(sum(length(conclusion)), 0) AS c FROM experiments WHERE run_id = ?',
      )
      .get(runId) as Row;
    return { count: Number(row['n']), maxId: Number(row['m']), version: null, legacy: Number(row['c']) };
  }

  /**
   * A cheap fingerprint of every recorded experiment: their count and largest id. An experiment is recorded once,
   * finished, with its decision and metrics, so what is computed from those changes only with it (the Studio's
   * harness front, the alignment). One run's experiments: {@link experimentsVersion}.
   */
  experimentsStamp(): string {
    const all = this.#db
      .prepare('SELECT count(*) AS n, coalesce(max(id), 0) AS m FROM experiments')
      .get() as Row;
    return `${all['n']}/${all['m']}`;
  }

  /**
   * Id, decision and sandbox status of every experiment (all runs), oldest first: what the trace tidy reads before
   * each experiment, without building whole records (at 3,600 experiments ~8 ms instead of ~250 ms). These fields
   * never change once an experiment is recorded (only its conclusion does), so an incremental reader asks only for
   * the ids it may not have seen.
   * @param opts.fromId only experiments whose id is at least this (default: all)
   */
  listOutcomes(opts: { fromId?: number } = {}): ExperimentOutcome[] {
    const rows = this.#db
      .prepare('SELECT id, decision, sandbox_status FROM experiments WHERE id >= ? ORDER BY id')
      .all(opts.fromId ?? 0) as Row[];
    return rows.map((r) => ({
      id: Number(r['id']),
      decision: r['decision'] as Decision,
      sandboxStatus: String(r['sandbox_status']),
    }));
  }

  /** One experiment by id, or null. */
  getExperiment(id: number): ExperimentRecord | null {
    const row = this.#db.prepare('SELECT * FROM experiments WHERE id = ?').get(id) as Row | undefined;
    if (!row) return null;
    const metrics: Record<string, number> = {};
    for (const m of this.#db
      .prepare("SELECT name, value FROM metrics WHERE experiment_id = ? AND holdout = 'public' ORDER BY name")
      .all(id) as Row[]) {
      metrics[String(m['name'])] = Number(m['value']);
    }
    return this.toExperiment(row, metrics);
  }

  /** Append an event. */
  addEvent(ev: Omit<EventRecord, 'id'>): number {
    const info = this.#db
      .prepare(
        `INSERT INTO events (ts, run_id, experiment_id, kind, severity, guardrail, message, data)
         VALUES (@ts, @runId, @experimentId, @kind, @severity, @guardrail, @message, @data)`,
      )
      .run({ ...ev, data: json(ev.data) });
    return Number(info.lastInsertRowid);
  }

  /**
   * Events after `afterId` (for live readers), oldest first; of one run when runId is given, of one experiment
   * when experimentId is given.
   * @param opts.last only the newest this many (still oldest first)
   */
  listEvents(
    opts: { runId?: string; afterId?: number; kinds?: string[]; experimentId?: number; last?: number } = {},
  ): EventRecord[] {
    const where: string[] = ['id > @afterId'];
    if (opts.runId) where.push('run_id = @runId');
    if (opts.experimentId !== undefined) where.push('experiment_id = @experimentId');
    if (opts.kinds?.length)
      where.push(`kind IN (${opts.kinds.map((k) => `'${k.replaceAll("'", "''")}'`).join(',')})`);
    const params = {
      afterId: opts.afterId ?? 0,
      runId: opts.runId ?? null,
      experimentId: opts.experimentId ?? null,
    };
    if (opts.last !== undefined) {
      // Of one run and some kinds: the (run_id, kind, id) index finds them, then they are sorted (`+id`), instead of
      // walking every event of the run backwards (~15 ms at 5,000 experiments for the Studio's notable events).
      const order = opts.runId && opts.kinds?.length ? '+id' : 'id';
      const rows = this.#db
        .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY ${order} DESC LIMIT @last`)
        .all({ ...params, last: Math.max(0, Math.floor(opts.last)) }) as Row[];
      return rows.reverse().map(toEvent);
    }
    const rows = this.#db
      .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id`)
      .all(params) as Row[];
    return rows.map(toEvent);
  }

  /**
   * The newest event of one of `kinds`, optionally only among those whose data has a non-null `dataKey`
   * (a top-level key of the event's JSON data), and only of one run when `runId` is given.
   * @returns the event, or null when there is none
   */
  latestEvent(kinds: readonly string[], opts: { dataKey?: string; runId?: string } = {}): EventRecord | null {
    if (kinds.length === 0) return null;
    const where = [`kind IN (${kinds.map(() => '?').join(', ')})`];
    const params: unknown[] = [...kinds];
    if (opts.runId !== undefined) {
      where.push('run_id = ?');
      params.push(opts.runId);
    }
    if (opts.dataKey === undefined) {
      // The newest of each kind is one step down an index ((kind, id), or (run_id, kind, id) for one run), then the
      // newest of those: never a walk of the table, even when no event of these kinds exists (the run's stop
      // check asks for the project's escalation before every experiment).
      const one = this.#db.prepare(
        `SELECT max(id) AS id FROM events WHERE kind = ?${opts.runId !== undefined ? ' AND run_id = ?' : ''}`,
      );
      let newest = 0;
      for (const k of kinds) {
        const r = one.get(...(opts.runId !== undefined ? [k, opts.runId] : [k])) as { id: number | null };
        newest = Math.max(newest, r.id ?? 0);
      }
      if (newest === 0) return null;
      const row = this.#db.prepare('SELECT * FROM events WHERE id = ?').get(newest) as Row | undefined;
      return row ? toEvent(row) : null;
    }
    where.push('json_extract(data, ?) IS NOT NULL');
    params.push(`$."${opts.dataKey.replaceAll('"', '""')}"`);
    const row = this.#db
      .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT 1`)
      .get(...params) as Row | undefined;
    return row ? toEvent(row) : null;
  }

  /**
   * A cheap fingerprint of the journal's content: it changes when an event is added, an experiment is
   * recorded or concluded, a submission is made or a run's status or end changes (the Studio polls it).
   */
  changeStamp(): string {
    const row = this.#db
      .prepare(
        `SELECT (SELECT coalesce(max(id), 0) FROM events) AS e, (SELECT count(*) FROM experiments) AS x,
        (SELECT ${this.#rowVersions ? 'coalesce(max(row_version), 0)' : 'coalesce(sum(length(conclusion)), 0)'} FROM experiments) AS c,
        (SELECT count(*) FROM submissions) AS s,
        (SELECT coalesce(group_concat(id || ':' || status || ':' || coalesce(ended_at, ''), ','), '') FROM runs) AS r`,
      )
      .get() as Row;
    return `${row['e']}/${row['x']}/${row['c']}/${row['s']}/${row['r']}`;
  }

  /**
   * A cheap fingerprint of what tier 3's alignment is computed from: the imported A/B tests and the experiments
   * (an experiment's offline delta is fixed when it is recorded). The Studio recomputes the alignment only when it
   * changes.
   */
  alignmentStamp(): string {
    return `${this.experimentsStamp()}/${abTestsStamp(this.#db)}`;
  }

  /**
   * Every row of one table as stored (column name → value, JSON columns as text), in insertion order: the
   * material for a copy of the journal. Callers that copy for agents filter out what agents must not see
   * (traces/sql.ts drops private metrics and private events).
   * @throws Error for a name outside {@link COPYABLE_TABLES} (the type already refuses it); SqliteError when
   *   the table is missing
   */
  tableRows(table: CopyableTable): Record<string, unknown>[] {
    if (!(COPYABLE_TABLES as readonly string[]).includes(table))
      throw new Error(`not a copyable table: ${table}`);
    return this.#db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all() as Row[];
  }

  /**
   * Record a reviewer's decision (tier 2), creating the `reviews` table on first use. Callers check the
   * review first (tiers/review.ts) and usually wrap this and its `review` event in {@link transaction}.
   * @returns the review's id
   * @throws SqliteError for a row that breaks the table's checks or a read-only journal
   */
  addReview(r: Omit<ReviewRecord, 'id'>): number {
    return insertReview(this.#db, r);
  }

  /**
   * Reviews, oldest first; of one run when `runId` is given. Works on a read-only journal.
   * @returns the reviews (empty when none was ever recorded)
   */
  listReviews(runId?: string): ReviewRecord[] {
    return selectReviews(this.#db, runId);
  }

  /**
   * Store an imported A/B test (tier 3), replacing the one with the same test id, creating the `ab_tests` table on
   * first use. Callers check the test first (tiers/ab-import.ts) and wrap this and its event in {@link transaction}.
   * @returns the test it replaced, or null when the id was new
   */
  putAbTest(t: AbTestRecord): AbTestRecord | null {
    return upsertAbTest(this.#db, t);
  }

  /**
   * Imported A/B tests (tier 3), by test id. Works on a read-only journal.
   * @returns the tests (empty when none was ever imported)
   */
  listAbTests(): AbTestRecord[] {
    return selectAbTests(this.#db);
  }

  /** Record a private-holdout score. */
  addSubmission(s: Omit<SubmissionRecord, 'id'>): number {
    const info = this.#db
      .prepare(
        `INSERT INTO submissions (ts, run_id, experiment_id, commit_sha, public, private, gap, metrics)
         VALUES (@ts, @runId, @experimentId, @commitSha, @public, @private, @gap, @metrics)`,
      )
      .run({ ...s, metrics: JSON.stringify(s.metrics) });
    return Number(info.lastInsertRowid);
  }

  /** Submissions, oldest first; of one run when runId is given. */
  listSubmissions(runId?: string): SubmissionRecord[] {
    const rows = (
      runId
        ? this.#db.prepare('SELECT * FROM submissions WHERE run_id = ? ORDER BY id').all(runId)
        : this.#db.prepare('SELECT * FROM submissions ORDER BY id').all()
    ) as Row[];
    return rows.map((r) => ({
      id: Number(r['id']),
      ts: String(r['ts']),
      runId: String(r['run_id']),
      experimentId: Number(r['experiment_id']),
      commitSha: (r['commit_sha'] as string | null) ?? null,
      public: Number(r['public']),
      private: Number(r['private']),
      gap: Number(r['gap']),
      metrics: parse<Record<string, number>>(r['metrics']) ?? {},
    }));
  }

  /** Record a noise measurement. */
  addNoise(n: Omit<NoiseRecord, 'id'>): void {
    this.#db
      .prepare(
        'INSERT INTO noise (ts, commit_sha, metric, kind, scores, mean, sd, outputs, slot_class) VALUES (@ts, @commitSha, @metric, @kind, @scores, @mean, @sd, @outputs, @slotClass)',
      )
      .run({
        ...n,
        scores: JSON.stringify(n.scores),
        outputs: JSON.stringify(n.outputs),
        slotClass: n.slotClass ?? null,
      });
  }

  /**
   * The latest noise measurement of a metric, of one kind when given and measured in one executor slot class when
   * given (see {@link NoiseRecord.slotClass}), or null.
   */
  latestNoise(metric: string, kind?: string, slotClass?: string): NoiseRecord | null {
    const where = ['metric = ?', ...(kind ? ['kind = ?'] : []), ...(slotClass ? ['slot_class = ?'] : [])];
    const args = [metric, ...(kind ? [kind] : []), ...(slotClass ? [slotClass] : [])];
    const row = this.#db
      .prepare(`SELECT * FROM noise WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT 1`)
      .get(...args) as Row | undefined;
    if (!row) return null;
    return {
      id: Number(row['id']),
      ts: String(row['ts']),
      commitSha: String(row['commit_sha']),
      metric: String(row['metric']),
      kind: String(row['kind']),
      scores: parse<number[]>(row['scores']) ?? [],
      outputs: parse<string[]>(row['outputs']) ?? [],
      mean: Number(row['mean']),
      sd: Number(row['sd']),
      slotClass: (row['slot_class'] as string | null | undefined) ?? null,
    };
  }

  /** A stored row as a record, with its public metrics (name → value, by name). */
  private toExperiment(r: Row, metrics: Record<string, number>): ExperimentRecord {
    return {
      id: Number(r['id']),
      runId: String(r['run_id']),
      seq: Number(r['seq']),
      proposer: String(r['proposer']),
      hypothesis: String(r['hypothesis']),
      params: parse<Record<string, unknown>>(r['params']),
      meta: parse<Record<string, unknown>>(r['meta']),
      decision: r['decision'] as Decision,
      reason: String(r['reason']),
      score: num(r['score']),
      bestBefore: num(r['best_before']),
      delta: num(r['delta']),
      ciLow: num(r['ci_low']),
      ciHigh: num(r['ci_high']),
      probImprovement: num(r['prob_improvement']),
      keepTest: (r['keep_test'] as string | null | undefined) ?? null,
      direction: num(r['direction']),
      commitSha: (r['commit_sha'] as string | null) ?? null,
      parentSha: String(r['parent_sha']),
      files: parse<string[]>(r['files']) ?? [],
      sandboxStatus: String(r['sandbox_status']),
      sandboxMessage: String(r['sandbox_message']),
      exitCode: num(r['exit_code']),
      sandboxed: Number(r['sandboxed']) === 1,
      startedAt: String(r['started_at']),
      endedAt: String(r['ended_at']),
      durationMs: Number(r['duration_ms']),
      executeMs: num(r['execute_ms']),
      conclusion: (r['conclusion'] as string | null) ?? null,
      metrics,
    };
  }
}

function toEvent(r: Row): EventRecord {
  return {
    id: Number(r['id']),
    ts: String(r['ts']),
    runId: (r['run_id'] as string | null) ?? null,
    experimentId: num(r['experiment_id']),
    kind: String(r['kind']),
    severity: r['severity'] as EventRecord['severity'],
    guardrail: (r['guardrail'] as string | null) ?? null,
    message: String(r['message']),
    data: parse<Record<string, unknown>>(r['data']),
  };
}

function toRun(r: Row): RunRecord {
  return {
    id: String(r['id']),
    branch: String(r['branch']),
    worktree: String(r['worktree']),
    baseCommit: String(r['base_commit']),
    proposer: String(r['proposer']),
    status: String(r['status']),
    stopReason: (r['stop_reason'] as string | null) ?? null,
    startedAt: String(r['started_at']),
    endedAt: (r['ended_at'] as string | null) ?? null,
    unsafe: Number(r['unsafe']) === 1,
    pid: num(r['pid']),
    config: parse<Record<string, unknown>>(r['config']) ?? {},
    activeMs: num(r['active_ms']),
    activeAt: (r['active_at'] as string | null | undefined) ?? null,
  };
}

/**
 * Types and thresholds of the leakage and data-integrity scanner (`src/data/leakage.ts`).
 */

/** The guardrail a finding trips (ids of the guardrail registry, docs/ARCHITECTURE.md, "Guardrails"). */
export type LeakGuardrail =
  | 'target-leakage'
  | 'id-like'
  | 'duplicate-rows'
  | 'temporal-ordering'
  | 'group-overlap';

/** One thing the scanner found wrong with the splits. */
export interface LeakFinding {
  /** Guardrail id: the registry entry this finding trips. */
  guardrail: LeakGuardrail;
  /** The column at fault, or null for a finding about whole rows (duplicates). */
  column: string | null;
  /** One sentence with the number that tripped it. */
  message: string;
  /** What to do about it. */
  hint: string;
  /** `block` stops init/check (and rejects a model that uses the column); `warn` is recorded only. */
  severity: 'block' | 'warn';
  /** The numbers behind the message (statistic, threshold, rows, examples), for the journal and reports. */
  evidence: Record<string, unknown>;
}

/** What {@link scanSplits} reads: the files `ratchet init` wrote and the contract's column roles. */
export interface ScanInput {
  /** CSV of the train split (features, id and target). */
  train: string;
  /** CSV of the public holdout (features and id, no target). */
  public: string;
  /** CSV of the private holdout (features and id, no target). */
  private: string;
  /** Vault Parquet file of the public holdout's labels (columns id, label). */
  publicLabels: string;
  /** Vault Parquet file of the private holdout's labels (columns id, label). */
  privateLabels: string;
  /** The row id column (never scanned as a feature). */
  idColumn: string;
  /** The target column (in train only). */
  target: string;
  /** The contract's task: which single-feature statistics apply (AUROC and purity, or correlations). */
  task: 'binary' | 'multiclass' | 'regression';
  /** Binary: the positive label as text (null: the larger of the two sorted labels). */
  positiveClass: string | null;
  /** Time column (numbers, dates or timestamps), when the contract declares one. */
  time?: string;
  /** Group column (e.g. a person id), when the contract declares one. */
  group?: string;
  /** The split strategy the splits were made with. */
  strategy: 'random' | 'stratified' | 'temporal' | 'group';
  /**
   * Columns of the train split only (a bandit task's logged action and propensity: part of the training logs,
   * hidden in the holdouts), never scanned as features.
   */
  trainOnly?: string[];
}

/**
 * Every number the scanner compares against, with its default in {@link DEFAULT_THRESHOLDS}.
 * A statistic "trips" when it is at or above its threshold (or above, for shares of rows).
 */
export interface LeakThresholds {
  /** Single-feature target tests need at least this many train rows (default 50). */
  minRows: number;
  /** Classification: a class needs this many train rows (and so does the rest) for its AUROC (default 10). */
  minClassRows: number;
  /** Binary/multiclass, numeric feature: max(AUROC, 1 − AUROC) of the raw value; one-vs-rest macro for multiclass (default 0.99). */
  auroc: number;
  /**
   * Classification: purity of the value → label mapping (share of rows whose label is the majority label of
   * their value, or of their value range for numeric features) (default 0.99).
   */
  purity: number;
  /**
   * Classification: a purity also has to beat the majority-class rate: (purity − base) / (1 − base) must reach
   * this, so a constant column on a 99.5 % majority class does not trip (default 0.9).
   */
  purityLift: number;
  /** Purity: only values with at least this many rows count (default 10). */
  minValueRows: number;
  /** Purity / correlation ratio: the values that count must cover at least this share of the rows (default 0.5). */
  minValueCoverage: number;
  /** A feature whose distinct values are at least this share of its non-empty rows is near-unique: no value purity (default 0.9). */
  nearUnique: number;
  /**
   * Classification, numeric feature, range purity: rows sorted by the value, consecutive values with the same
   * majority label form a run; a run of at least this many rows is a value range of its own, shorter runs join
   * a neighbouring range (default 20).
   */
  minRunRows: number;
  /** Regression: |Pearson|, |Spearman| or, for categorical features, the correlation ratio at or above this (default 0.99). */
  correlation: number;
  /** Shifted target: share of rows where the feature equals the previous or next row's target (default 0.99). */
  shiftedMatch: number;
  /** Shifted target: chance-corrected agreement (Cohen's kappa) must also reach this (default 0.9). */
  shiftedKappa: number;
  /** Shifted target: the rows compared must be at least this share of the rows that have a neighbour (default 0.5). */
  shiftedCoverage: number;
  /**
   * Single-feature target tests and the shifted-target comparison use at most this many train rows (a
   * deterministic hash sample); a near-perfect predictor is just as plain on 100,000 rows (default 100,000).
   */
  maxRows: number;
  /** id-like: distinct values at or above this share of all rows, in train and holdouts together (default 0.99). */
  idDistinct: number;
  /** id-like: a numeric column that rises (or falls) between this share of consecutive train rows is a row counter (default 0.99). */
  idMonotonic: number;
  /** id-like: not checked on fewer rows than this (default 50). */
  idMinRows: number;
  /** Duplicates: warn when more than this share of a holdout's rows also appear in train (default 0.005). */
  duplicateWarn: number;
  /** Duplicates: block when more than this share (default 0.05). */
  duplicateBlock: number;
  /** Temporal ordering: block when more than this share of train rows is later than the earliest holdout row (default 0: any). */
  temporalShare: number;
  /** Group overlap: block when more than this share of holdout rows belongs to a group that has train rows (default 0: any). */
  groupShare: number;
}

/** The defaults of {@link LeakThresholds} (see each field). */
export const DEFAULT_THRESHOLDS: Readonly<LeakThresholds> = Object.freeze({
  minRows: 50,
  minClassRows: 10,
  auroc: 0.99,
  purity: 0.99,
  purityLift: 0.9,
  minValueRows: 10,
  minValueCoverage: 0.5,
  nearUnique: 0.9,
  minRunRows: 20,
  correlation: 0.99,
  shiftedMatch: 0.99,
  shiftedKappa: 0.9,
  shiftedCoverage: 0.5,
  maxRows: 100_000,
  idDistinct: 0.99,
  idMonotonic: 0.99,
  idMinRows: 50,
  duplicateWarn: 0.005,
  duplicateBlock: 0.05,
  temporalShare: 0,
  groupShare: 0,
});

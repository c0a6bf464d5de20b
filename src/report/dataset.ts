/**
 * The report's "Data and splits" section: the data file, its size, the task and target, the split, and the
 * target's distribution in train and the public holdout.
 *
 * Facts come from the split manifest `ratchet init` wrote (`.ratchet/data/split.json`, locked). Class
 * counts (or the target's summary statistics) are computed from the train file (`.ratchet/data/train.csv`,
 * which holds the target) and the public holdout's labels (`.ratchet/vault/public.parquet`, which the host
 * evaluator reads for every experiment). The private holdout appears by its size only: its labels are never
 * read, and the manifest's private balance is not shown.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Contract } from '../contract/load.js';
import { ident, openDuck, readerFor, readRows } from '../data/duck.js';
import { DATA_DIR, type SplitManifest, VAULT_DIR } from '../data/ingest.js';

/** Count and share of one class in one split. */
export interface ClassShare {
  label: string;
  count: number;
  /** count / rows of the split (0..1). */
  share: number;
}

/** Summary of a numeric target in one split (same units as the target). */
export interface TargetSummary {
  rows: number;
  mean: number;
  /** Sample standard deviation (n − 1). */
  sd: number;
  min: number;
  q25: number;
  median: number;
  q75: number;
  max: number;
}

/** What the report says about the data. */
export interface DatasetFacts {
  /** The data file as the contract names it. */
  source: string;
  /** Rows of the data file with a target (after dropping empty targets). */
  rows: number;
  /** Rows dropped at init because the target was empty. */
  droppedNullTarget: number;
  /** Feature columns handed to the experiments (the id included, the target excluded). */
  columns: number;
  task: string;
  target: string;
  idColumn: string;
  /** Binary: the label counted as positive. */
  positiveClass: string | null;
  split: {
    /** random | stratified | temporal | group (as the contract says). */
    strategy: string;
    seed: number;
    /** The column the strategy uses (group or time), when there is one. */
    column: string | null;
    fractions: { train: number; public: number; private: number };
    /** Rows per split. */
    counts: { train: number; public: number; private: number };
  };
  /** Classification: classes per split (train and public only). */
  classes: { train: ClassShare[]; public: ClassShare[] } | null;
  /** Regression (and ranking relevance): the target's summary in train and public. */
  target_summary: { train: TargetSummary; public: TargetSummary } | null;
  /** Why the class balance or the target summary could not be computed, when it could not. */
  note: string | null;
  /**
   * Column roles of the baseline's params file as committed in the project (date, high-cardinality and left-out
   * columns, decided at `ratchet init` for a scaffolded project); absent when the file has none of the keys.
   */
  roles?: { date: string[]; highCardinality: string[]; drop: string[] };
}

/** The column-role keys of the project's params file (null when it is missing, unreadable or has none). */
export function readRoles(contract: Contract): DatasetFacts['roles'] | null {
  const path = join(contract.projectDir, contract.search?.params_file ?? 'params.yaml');
  if (!existsSync(path)) return null;
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
  const p = doc as Record<string, unknown>;
  if (!('date_columns' in p || 'high_cardinality_columns' in p || 'drop_columns' in p)) return null;
  const names = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    date: names(p.date_columns),
    highCardinality: names(p.high_cardinality_columns),
    drop: names(p.drop_columns),
  };
}

/**
 * Describe the data a run was split from.
 * @param splitRoot the project root, or the kept copy of the split the run ran on (`.ratchet/splits/v<k>`)
 * @returns the facts; a distribution that cannot be read (files missing) leaves `classes`/`target_summary`
 *   null with the reason in `note` instead of throwing
 */
export async function describeDataset(
  contract: Contract,
  manifest: SplitManifest,
  splitRoot: string,
): Promise<DatasetFacts> {
  const strategy = manifest.strategy;
  const column =
    strategy === 'group'
      ? (contract.data.group ?? null)
      : strategy === 'temporal'
        ? (contract.data.time ?? null)
        : strategy === 'stratified'
          ? manifest.targetColumn
          : null;
  const facts: DatasetFacts = {
    source: manifest.source.path,
    rows: manifest.source.rows,
    droppedNullTarget: manifest.droppedNullTarget,
    columns: manifest.columns.length,
    task: manifest.task,
    target: manifest.targetColumn,
    idColumn: manifest.idColumn,
    positiveClass: manifest.positiveClass,
    split: {
      strategy,
      seed: manifest.seed,
      column,
      fractions: { ...contract.split.fractions } as DatasetFacts['split']['fractions'],
      counts: { ...manifest.counts },
    },
    classes: null,
    target_summary: null,
    note: null,
  };
  const roles = readRoles(contract);
  if (roles) facts.roles = roles;
  const train = join(splitRoot, DATA_DIR, 'train.csv');
  const pub = join(splitRoot, VAULT_DIR, 'public.parquet');
  if (!existsSync(train) || !existsSync(pub)) {
    facts.note = 'the split files are not on disk (re-split or removed): no class balance';
    return facts;
  }
  const t = ident(manifest.targetColumn);
  const duck = await openDuck(1);
  try {
    if (manifest.task === 'binary' || manifest.task === 'multiclass') {
      const count = async (sql: string): Promise<ClassShare[]> => {
        const rows = await readRows(duck.con, sql);
        const total = rows.reduce((a, r) => a + Number(r['n']), 0);
        const byLabel = new Map(rows.map((r) => [String(r['label']), Number(r['n'])]));
        const labels = manifest.classes ?? [...byLabel.keys()].sort();
        return labels.map((label) => {
          const n = byLabel.get(label) ?? 0;
          return { label, count: n, share: total > 0 ? n / total : 0 };
        });
      };
      facts.classes = {
        train: await count(
          `SELECT ${t}::VARCHAR AS label, count(*) AS n FROM ${readerFor(train, true)} GROUP BY 1`,
        ),
        public: await count(
          `SELECT label::VARCHAR AS label, count(*) AS n FROM ${readerFor(pub)} GROUP BY 1`,
        ),
      };
    } else {
      const summary = async (from: string, col: string): Promise<TargetSummary> => {
        const c = `TRY_CAST(${col} AS DOUBLE)`;
        const [r] = await readRows(
          duck.con,
          `SELECT count(${c}) AS n, avg(${c}) AS mean, stddev_samp(${c}) AS sd, min(${c}) AS lo,
             quantile_cont(${c}, 0.25) AS q25, quantile_cont(${c}, 0.5) AS q50, quantile_cont(${c}, 0.75) AS q75,
             max(${c}) AS hi FROM ${from}`,
        );
        const num = (k: string) => (r?.[k] === null || r?.[k] === undefined ? Number.NaN : Number(r[k]));
        return {
          rows: num('n'),
          mean: num('mean'),
          sd: num('sd'),
          min: num('lo'),
          q25: num('q25'),
          median: num('q50'),
          q75: num('q75'),
          max: num('hi'),
        };
      };
      facts.target_summary = {
        train: await summary(readerFor(train, true), t),
        public: await summary(readerFor(pub), 'label'),
      };
    }
  } catch (e) {
    facts.note = `the class balance could not be computed: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    duck.close();
  }
  return facts;
}

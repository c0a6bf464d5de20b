/**
 * The leakage and data-integrity scanner Ratchet runs at `init` and `check`
 * (docs/ARCHITECTURE.md, "Data: the split, the vault and the holdouts", and "Guardrails").
 *
 * {@link scanSplits} reads the splits `ratchet init` wrote (train with the target, holdouts without it, holdout
 * labels from the vault) into DuckDB and reports:
 * - `target-leakage` (block): a feature that alone predicts the target almost perfectly on train (AUROC,
 *   value or range purity, |Pearson|/|Spearman|, correlation ratio), including copies and one-to-one recodings
 *   of the target, and a feature equal to the previous or next row's target along time within group;
 * - `id-like` (warn): a unique (or ≥ 99 % distinct) integer or token column that is not the id, or a row counter;
 * - `duplicate-rows` (warn above 0.5 %, block above 5 % of a holdout): holdout rows repeating a train row;
 * - `temporal-ordering` (block): train rows later than holdout rows under a random or stratified split;
 * - `group-overlap` (block): groups with rows in train and in a holdout.
 *
 * {@link scanFeatureNames} then tells which of the features a model says it used are known leaks.
 */
import { limitForColumns, openDuck } from './duck.js';
import { scanDuplicates, scanGroups, scanIdLike, scanTemporal } from './leakage/integrity.js';
import { headerNames, loadSplits } from './leakage/load.js';
import { prepareSample, type ScanContext, scanTargetLeakage } from './leakage/target.js';
import {
  DEFAULT_THRESHOLDS,
  type LeakFinding,
  type LeakGuardrail,
  type LeakThresholds,
  type ScanInput,
} from './leakage/types.js';

export type { LeakFinding, LeakGuardrail, LeakThresholds, ScanInput } from './leakage/types.js';
export { DEFAULT_THRESHOLDS } from './leakage/types.js';

/** Options of {@link scanSplits}. */
export interface ScanOptions {
  /** Thresholds to change; the rest keep {@link DEFAULT_THRESHOLDS}. */
  thresholds?: Partial<LeakThresholds>;
  /** Called after each step with its name and wall-clock milliseconds (load, target, id-like, duplicates, ...). */
  onStep?: (step: string, ms: number) => void;
  /** Called with every target-leakage statistic computed, tripped or not (column, test, value): for calibration. */
  onStatistic?: (column: string, test: string, value: number) => void;
  /** Folder under which DuckDB spills (see `openDuck`); default the system's temporary folder. */
  spillDir?: string;
}

/** Report order of the guardrails (most serious first within a severity). */
const ORDER: LeakGuardrail[] = [
  'target-leakage',
  'temporal-ordering',
  'group-overlap',
  'duplicate-rows',
  'id-like',
];

/**
 * Scan the splits for leakage and integrity problems.
 *
 * Target checks run on the train split (a deterministic sample of `maxRows` rows when it is larger); the
 * shifted-target check runs over all labelled rows (train plus holdouts joined with their vault labels), ordered
 * by `time` (when given), then by id when the ids are numbers rising along the train file (row numbers), else
 * in file order, within `group` (when given).
 * The temporal check runs when `time` is given and the strategy is not `group`; the group check when `group` is
 * given and the strategy is not `temporal` (each strategy promises one kind of independence; see
 * {@link scanTemporal} and {@link scanGroups} in `leakage/integrity.ts`).
 * @returns findings, `block` first, then by guardrail and column; empty when the splits are clean
 * @throws Error when a file cannot be read, or the id/target/time/group column is missing
 */
export async function scanSplits(input: ScanInput, opts: ScanOptions = {}): Promise<LeakFinding[]> {
  const th: LeakThresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const duck = await openDuck(2, opts.spillDir ? { spillDir: opts.spillDir } : {});
  const second = await duck.connect();
  try {
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const out = await fn();
      opts.onStep?.(name, performance.now() - t0);
      return out;
    };
    // Wide data needs more of DuckDB's memory (CSV buffers, row groups): the limit grows with the columns.
    await limitForColumns(duck.con, headerNames(input.train).length);
    const frame = await step('load', () => loadSplits(duck.con, input));
    const ctx: ScanContext = {
      con: duck.con,
      input,
      frame,
      th,
      onStatistic: opts.onStatistic,
      onStep: opts.onStep,
      cons: [duck.con, second],
    };
    await step('sample', () => prepareSample(ctx));
    const findings = [
      ...(await step('target-leakage', () => scanTargetLeakage(ctx))),
      ...(await step('id-like', () => scanIdLike(ctx))),
      ...(await step('duplicate-rows', () => scanDuplicates(ctx))),
      ...(await step('temporal-ordering', () => scanTemporal(ctx))),
      ...(await step('group-overlap', () => scanGroups(ctx))),
    ];
    return sortFindings(findings);
  } finally {
    second.closeSync();
    duck.close();
  }
}

function sortFindings(findings: LeakFinding[]): LeakFinding[] {
  return [...findings].sort(
    (a, b) =>
      (a.severity === b.severity ? 0 : a.severity === 'block' ? -1 : 1) ||
      ORDER.indexOf(a.guardrail) - ORDER.indexOf(b.guardrail) ||
      (a.column ?? '').localeCompare(b.column ?? ''),
  );
}

/** How a model's feature name matched a flagged column. */
export type FeatureMatch = 'exact' | 'prefixed' | 'encoded';

/**
 * Does a model's feature name refer to `column`? `exact`: the same name; `prefixed`: a scikit-learn
 * ColumnTransformer name (`num__age`); `encoded`: a one-hot or similar derived name (`sex_male`, `sex=male`,
 * `cat__sex_male`).
 */
export function matchFeature(feature: string, column: string): FeatureMatch | null {
  if (feature === column) return 'exact';
  const cut = feature.indexOf('__');
  const bare = cut > 0 ? feature.slice(cut + 2) : feature;
  if (bare === column) return 'prefixed';
  for (const sep of ['_', '=', ':']) {
    if (bare.length > column.length + 1 && bare.startsWith(column + sep)) return 'encoded';
  }
  return null;
}

/**
 * Which of the features a model says it used (e.g. the names in a `features.json` it wrote) are columns the
 * scan flagged (`target-leakage` or `id-like`). A feature matches a column by its exact name, a scikit-learn
 * transformer prefix (`num__x`) or a one-hot suffix (`x_value`, `x=value`); an exact match wins over a derived one.
 * @param features the model's feature names
 * @param findings what {@link scanSplits} returned
 * @returns one finding per used flagged column, with the original guardrail and severity; empty when none
 */
export function scanFeatureNames(features: string[], findings: LeakFinding[]): LeakFinding[] {
  const flagged = findings.filter(
    (f) => f.column !== null && (f.guardrail === 'target-leakage' || f.guardrail === 'id-like'),
  );
  const out: LeakFinding[] = [];
  const seen = new Set<string>();
  for (const feature of features) {
    const exact = flagged.filter((f) => f.column === feature);
    const matches = (exact.length > 0 ? exact : flagged)
      .map((f) => ({ f, how: matchFeature(feature, f.column!) }))
      .filter((m): m is { f: LeakFinding; how: FeatureMatch } => m.how !== null);
    for (const { f, how } of matches) {
      const key = `${f.guardrail}\u0000${f.column}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const orig = f.message.charAt(0).toLowerCase() + f.message.slice(1);
      out.push({
        guardrail: f.guardrail,
        column: f.column,
        message: `The model uses feature "${feature}"${how === 'exact' ? '' : ` (from column "${f.column}")`}, and ${orig}`,
        hint: f.hint,
        severity: f.severity,
        evidence: { feature, matchedAs: how, finding: f.evidence },
      });
    }
  }
  return sortFindings(out);
}

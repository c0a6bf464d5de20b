/**
 * Sizing of the scaffolded search space and baseline to the data and the experiment timeout, so that no
 * point of the space should outlast the timeout on the 2 threads train.py uses. The cost model is coarse and
 * deliberately pessimistic (seconds per row × feature × tree level, calibrated on a laptop and doubled):
 * a bound that is too tight costs a little accuracy, one that is too loose wastes a whole experiment.
 */

/** Bounds written into search_space.yaml and params.yaml (template placeholders). */
export interface Sizing {
  rows: number;
  /** Feature columns after the calendar expansion of dates (an estimate of the model's input width). */
  columns: number;
  /**
   * Trees a booster fits per iteration, and the logistic regression's coefficient columns: the number of classes
   * of a multiclass target, else 1.
   */
  classes: number;
  timeoutSeconds: number;
  /** Upper bound of n_estimators for random_forest and extra_trees. */
  forestTreesHigh: number;
  /** Upper bound of max_depth for the forests. */
  forestDepthHigh: number;
  /** Rows each forest tree is fitted on (`max_samples`), or null for all rows (no subsampling). */
  forestMaxSamples: number | null;
  /** Upper bound of max_iter for hist_gradient_boosting. */
  hgbIterHigh: number;
  /** Upper bound of n_estimators for lightgbm. */
  lgbmTreesHigh: number;
  /** max_iter of the logistic regression (baseline and search). */
  logisticMaxIter: number;
  /** One line per bound that the data made tighter than the small-data default. */
  bounded: string[];
}

/** Above this many train rows the data counts as large (the header says so). */
export const LARGE_ROWS = 200_000;
/** Threads train.py gives its models (N_JOBS). */
const THREADS = 2;
/** Share of the timeout the worst point of the space may spend fitting (the rest: reading, predicting). */
const FIT_SHARE = 0.4;
/** Seconds per sampled row × candidate feature × tree level for one forest tree (pessimistic). */
const K_FOREST = 1e-7;
/** Seconds per row × feature × boosting iteration, histogram boosters (pessimistic). */
const K_BOOST = 2e-8;
/** Seconds per row × input column × lbfgs iteration, logistic regression (pessimistic). */
const K_LINEAR = 5e-9;
/** The widest max_features of the forests' space (a share of the columns). */
const FOREST_MAX_FEATURES = 0.8;
/** Small-data defaults (the template's ranges, unchanged below ~50k rows). */
const DEFAULT = { forestTrees: 500, forestDepth: 24, hgbIter: 300, lgbmTrees: 600, logisticIter: 2000 };

/**
 * Size the search space to the train split and the experiment timeout.
 * @param rows train rows (> 0)
 * @param columns feature columns after date expansion (> 0)
 * @param timeoutSeconds the contract's `budgets.experiment_timeout` in seconds
 * @param classes classes of a multiclass target (LightGBM and HistGradientBoosting fit one tree per class and
 *   iteration, and the multinomial logistic regression's gradient has a column per class); 1 otherwise
 * @returns the bounds and what was bounded (empty `bounded` for data the defaults already fit)
 */
export function sizeSearchSpace(rows: number, columns: number, timeoutSeconds: number, classes = 1): Sizing {
  const n = Math.max(1, rows);
  const p = Math.max(1, columns);
  const k = classes > 2 ? Math.floor(classes) : 1;
  const fitBudget = FIT_SHARE * timeoutSeconds * THREADS; // thread-seconds the worst point may use
  const bounded: string[] = [];

  // Forests: trees × sampled rows × candidate features × depth.
  let forestTrees = DEFAULT.forestTrees;
  let forestDepth = DEFAULT.forestDepth;
  let forestMaxSamples: number | null = null;
  const forestCost = (trees: number, sampled: number, depth: number) =>
    trees * sampled * FOREST_MAX_FEATURES * p * depth * K_FOREST;
  if (forestCost(forestTrees, n, forestDepth) > fitBudget) {
    forestTrees = 300;
    forestDepth = n > LARGE_ROWS ? 16 : 20;
    const fit = Math.floor(fitBudget / (forestTrees * FOREST_MAX_FEATURES * p * forestDepth * K_FOREST));
    if (fit < n) {
      forestMaxSamples = Math.max(1000, Math.min(n, fit));
      if (forestCost(forestTrees, forestMaxSamples, forestDepth) > fitBudget)
        forestTrees = Math.max(
          100,
          Math.floor(fitBudget / (forestMaxSamples * FOREST_MAX_FEATURES * p * forestDepth * K_FOREST)),
        );
    }
    bounded.push(
      `forests: n_estimators ≤ ${forestTrees}, max_depth ≤ ${forestDepth}` +
        (forestMaxSamples !== null ? `, each tree on max_samples = ${forestMaxSamples} rows` : ''),
    );
  }
  // Histogram boosters: iterations × rows × features.
  const boostIters = (want: number) =>
    Math.max(50, Math.min(want, Math.floor(fitBudget / (n * p * k * K_BOOST))));
  const hgbIter = boostIters(DEFAULT.hgbIter);
  const lgbmTrees = boostIters(DEFAULT.lgbmTrees);
  if (hgbIter < DEFAULT.hgbIter) bounded.push(`hist_gradient_boosting: max_iter ≤ ${hgbIter}`);
  if (lgbmTrees < DEFAULT.lgbmTrees) bounded.push(`lightgbm: n_estimators ≤ ${lgbmTrees}`);
  // Logistic regression (lbfgs): iterations × rows × columns.
  const logisticIter = Math.max(
    100,
    Math.min(DEFAULT.logisticIter, Math.floor(fitBudget / (n * p * k * K_LINEAR))),
  );
  if (logisticIter < DEFAULT.logisticIter)
    bounded.push(`logistic_regression: lbfgs max_iter = ${logisticIter}`);
  return {
    rows: n,
    columns: p,
    classes: k,
    timeoutSeconds,
    forestTreesHigh: forestTrees,
    forestDepthHigh: forestDepth,
    forestMaxSamples,
    hgbIterHigh: hgbIter,
    lgbmTreesHigh: lgbmTrees,
    logisticMaxIter: logisticIter,
    bounded,
  };
}

/** The search_space.yaml header lines explaining the sizing (each starts with `# `). */
export function sizingComment(s: Sizing): string {
  const minutes = (s.timeoutSeconds / 60).toFixed(s.timeoutSeconds % 60 === 0 ? 0 : 1);
  const lines = [
    `# Sized by \`ratchet init\` for ${s.rows} train rows × ${s.columns} feature columns (dates counted as their`,
    ...(s.classes > 1
      ? [`# calendar features) × ${s.classes} classes (boosters fit a tree per class and iteration), and an`]
      : ['# calendar features) and an']),
    `# experiment timeout of ${minutes} min on ${THREADS} threads: by a pessimistic cost estimate, the slowest`,
    `# point of the space fits in at most ${Math.round(FIT_SHARE * 100)}% of the timeout.`,
  ];
  if (s.bounded.length === 0) lines.push('# The small-data ranges fit that budget; nothing was bounded.');
  else {
    lines.push('# Bounded for this size:');
    for (const b of s.bounded) lines.push(`#   ${b}`);
  }
  if (s.rows > LARGE_ROWS)
    lines.push(
      `# Above ${LARGE_ROWS} rows LightGBM and HistGradientBoosting are the families that scale; the forests are`,
      '# kept but subsampled.',
    );
  return lines.join('\n');
}

const classesText = (s: Sizing) => (s.classes > 1 ? ` × ${s.classes} classes` : '');

/** One line for the init output. */
export function sizingNote(s: Sizing): string {
  return s.bounded.length === 0
    ? `sizing: ${s.rows} rows × ${s.columns} columns${classesText(s)} fit the search space's default ranges within the ${s.timeoutSeconds}s timeout`
    : `sizing: ${s.rows} rows × ${s.columns} columns${classesText(s)}, ${s.timeoutSeconds}s timeout: ${s.bounded.join('; ')}`;
}

/** Template placeholder values for search_space.yaml and params.yaml. */
export function sizingValues(s: Sizing): Record<string, string> {
  return {
    SIZING: sizingComment(s),
    FOREST_TREES_HIGH: String(s.forestTreesHigh),
    FOREST_TREES_LOW: String(Math.min(100, s.forestTreesHigh)),
    FOREST_DEPTH_HIGH: String(s.forestDepthHigh),
    // Kept by the search proposer (a chosen family's section of the base params.yaml is merged, not replaced).
    FOREST_SECTIONS:
      s.forestMaxSamples === null
        ? ''
        : [
            `# Each forest tree is fitted on ${s.forestMaxSamples} sampled rows (sized to the timeout; see search_space.yaml).`,
            'random_forest:',
            `  max_samples: ${s.forestMaxSamples}`,
            'extra_trees:',
            '  bootstrap: true   # max_samples needs bootstrap sampling',
            `  max_samples: ${s.forestMaxSamples}`,
            '',
          ].join('\n'),
    HGB_ITER_HIGH: String(s.hgbIterHigh),
    LGBM_TREES_HIGH: String(s.lgbmTreesHigh),
    // The portfolio's fixed configurations (search_space.yaml), inside the sized ranges.
    PF_LGBM_TREES: String(Math.min(300, s.lgbmTreesHigh)),
    PF_HGB_ITER: String(Math.min(200, s.hgbIterHigh)),
    PF_FOREST_TREES: String(Math.min(300, s.forestTreesHigh)),
    LOGISTIC_MAX_ITER: String(s.logisticMaxIter),
  };
}

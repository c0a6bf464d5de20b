import * as z from 'zod';
import { AgentSchema } from './agent.js';

/**
 * The contract (`ratchet.yaml`): the task, the data, the frozen metric, what may be edited and the budgets.
 * Everything a run is judged by is declared here and locked by SHA-256 at `ratchet init`.
 */

/** Prediction task. */
export const TaskSchema = z.enum(['binary', 'multiclass', 'regression', 'ranking', 'bandit', 'harness']);

const duration = z
  .union([z.string().min(1), z.number().positive()])
  .describe('a duration: a number of seconds or text such as 90s, 5m, 1h30m');
const size = z
  .union([z.string().min(1), z.number().positive()])
  .describe('a size: bytes or text such as 8GiB');
const glob = z
  .string()
  .min(1)
  .describe('a path or glob relative to the project root, e.g. train.py or src/**/*.py');

/** Where the data is and which columns play which role. */
export const DataSchema = z
  .object({
    source: z.string().min(1).describe('CSV or Parquet file, relative to the project root'),
    target: z.string().min(1).describe('column to predict'),
    id: z
      .string()
      .min(1)
      .optional()
      .describe('unique row id column; when absent Ratchet numbers the rows in file order as row_id'),
    time: z.string().min(1).optional().describe('time column: required by the temporal split'),
    group: z
      .string()
      .min(1)
      .optional()
      .describe('group column (e.g. a person id): required by the group split'),
    outcome_columns: z
      .array(z.string().min(1))
      .default([])
      .describe('per-row outcomes (e.g. revenue) hidden with the labels and used by proxies; never features'),
    query: z
      .string()
      .min(1)
      .optional()
      .describe('ranking: the query (or session) column the rows are ranked within'),
    drop: z
      .array(z.string().min(1))
      .default([])
      .describe('columns left out of every split (e.g. a column the leakage scan flagged)'),
    action: z
      .string()
      .min(1)
      .optional()
      .describe(
        'bandit: the action the logging policy took (hidden in the holdouts; the policy is judged off-policy)',
      ),
    propensity: z
      .string()
      .min(1)
      .optional()
      .describe(
        'bandit: the logging policy’s probability of the action it took, in (0, 1] (hidden in the holdouts)',
      ),
    positive_class: z
      .union([z.string(), z.number(), z.boolean()])
      .optional()
      .describe(
        'binary only: the label that counts as positive (default: the larger of the two sorted labels)',
      ),
  })
  .strict();

/** How rows are assigned to train, public holdout and private holdout. */
export const SplitSchema = z
  .object({
    strategy: z.enum(['random', 'stratified', 'temporal', 'group']).default('random'),
    seed: z.number().int().nonnegative().default(0),
    fractions: z
      .object({
        train: z.number().gt(0).lt(1),
        public: z.number().gt(0).lt(1),
        private: z.number().gt(0).lt(1),
      })
      .strict()
      .default({ train: 0.6, public: 0.2, private: 0.2 }),
  })
  .strict();

/** The frozen metric: one primary metric decides; the others are reported. */
export const MetricSchema = z
  .object({
    primary: z.string().min(1).describe('metric name (auroc, log_loss, rmse, ndcg@10, ...) or "composite"'),
    composite: z
      .string()
      .min(1)
      .optional()
      .describe(
        'with primary: composite, the score as an expression over metrics and proxies, e.g. 0.6*auroc + 0.4*profit',
      ),
    direction: z
      .enum(['maximize', 'minimize'])
      .optional()
      .describe("defaults to the metric's natural direction; a different value is refused"),
    also: z
      .array(z.string().min(1))
      .default([])
      .describe('other metrics computed and logged on every experiment'),
  })
  .strict();

/** A business proxy computed per row from the holdout (seed 000: "composite metric with a business proxy"). */
export const ProxySchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('cost_matrix'),
      tp: z.number(),
      fp: z.number(),
      fn: z.number(),
      tn: z.number(),
      threshold: z.number().gt(0).lt(1).default(0.5),
    })
    .strict()
    .describe('binary: mean value per decision from a cost matrix at a threshold'),
  z
    .object({ kind: z.literal('column_mean'), column: z.string().min(1) })
    .strict()
    .describe('mean of a hidden per-row outcome column (data.outcome_columns)'),
  z
    .object({
      kind: z.literal('top_fraction_mean'),
      column: z.string().min(1),
      fraction: z.number().gt(0).lte(1),
    })
    .strict()
    .describe('mean of an outcome column over the rows the model scores highest (the top fraction)'),
]);

/** A constraint: any change that breaks one is rejected whatever its score. */
export const ConstraintSchema = z.union([
  z
    .object({ metric: z.string().min(1), min: z.number().optional(), max: z.number().optional() })
    .strict()
    .describe('a floor and/or ceiling on a metric or proxy'),
  z
    .object({
      fairness: z.enum([
        'demographic_parity_difference',
        'equal_opportunity_difference',
        'equalized_odds_difference',
      ]),
      group: z.string().min(1),
      max: z.number().nonnegative(),
      threshold: z.number().gt(0).lt(1).default(0.5),
    })
    .strict()
    .describe('binary: a fairness gate across the groups of a column (fairlearn definitions)'),
  z
    .object({
      per_group: z.string().min(1),
      group: z.string().min(1),
      min: z.number().optional(),
      max: z.number().optional(),
    })
    .strict()
    .describe('a metric floor/ceiling that must hold in every group of a column'),
]);

/** The keep rule: a change is kept only when it clears both the minimum delta and the paired bootstrap. */
export const KeepSchema = z
  .object({
    min_delta: z.number().nonnegative().default(0).describe('the gain must exceed this, in metric units'),
    confidence: z
      .number()
      .gt(0.5)
      .lt(1)
      .default(0.95)
      .describe('the lower end of the bootstrap interval of the gain at this level must be above zero'),
    resamples: z.number().int().min(100).max(100_000).default(1000).describe('paired bootstrap resamples'),
    test: z
      .enum(['auto', 'bootstrap'])
      .default('auto')
      .describe(
        "the significance test of stage 2: 'auto' uses DeLong's test for a plain auroc, the paired z-test for a mean " +
          "of per-row losses (log_loss, brier, accuracy, rmse, mae, mape) and the paired bootstrap otherwise; 'bootstrap' always bootstraps",
      ),
    noise_z: z
      .number()
      .nonnegative()
      .default(1.8)
      .describe(
        'one-sided normal quantile of the noise test: the gain must exceed noise_z times the noise of the compared ' +
          'quantity, from the run-to-run σ measured by ratchet check --determinism (1.8 ≈ 96.4%)',
      ),
    confirm_runs: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(4)
      .describe(
        'when σ > 0, a candidate that passed the gain and bootstrap tests is re-run with this many other seeds ' +
          'and kept only if its mean beats the best mean by the noise test; 0 tests the single run instead',
      ),
  })
  .strict();

/** When to stop a run and hand it to a person (docs/ARCHITECTURE.md, "Escalation"). */
/** How many experiments' outputs (predictions) stay on disk: see docs/ARCHITECTURE.md, "Retention". */
export const RetentionSchema = z
  .object({
    keep_last: z
      .number()
      .int()
      .min(0)
      .default(20)
      .describe(
        'output folders kept for the newest N experiments that were not kept; kept experiments (the baseline and the best among them) always keep theirs',
      ),
  })
  .strict()
  .describe('pruning of old experiment outputs and check outputs');

/** What one experiment needs of the machine besides CPU and memory (docs/ARCHITECTURE.md, "Sandbox"). */
export const ResourcesSchema = z
  .object({
    gpus: z
      .number()
      .int()
      .min(0)
      .max(64)
      .default(0)
      .describe(
        'GPUs per experiment: the sandbox binds that many NVIDIA device nodes (and nothing else of /dev) and sets CUDA_VISIBLE_DEVICES; parallel directions get disjoint GPUs when there are enough; the Ray executor requests entrypoint_num_gpus and binds the GPUs Ray assigned the job on the worker',
      ),
  })
  .strict()
  .describe('GPUs per experiment');

/** Most directions a run may have (`MAX_DIRECTIONS` of src/loop/session.ts is this bound). */
export const DIRECTIONS_LIMIT = 64;

/** Parallel directions of a run (docs/ARCHITECTURE.md, "Parallel directions"). */
export const ParallelSchema = z
  .object({
    directions: z
      .number()
      .int()
      .min(1)
      .max(DIRECTIONS_LIMIT)
      .default(1)
      .describe(
        'directions a run explores at once, each on its own branch and worktree with its own proposer; budgets are shared (`ratchet run --directions N` overrides it)',
      ),
    briefs: z
      .array(z.string().max(4000))
      .max(DIRECTIONS_LIMIT)
      .default([])
      .describe(
        "text for each direction's agent (the k-th for direction k), shown in its brief beside program.md: e.g. 'feature engineering only', 'try gradient boosting'",
      ),
    budget: z
      .enum(['even', 'verified-gains'])
      .default('even')
      .describe(
        "how the shared experiment budget goes to the directions: even (each takes the next experiment when free), or verified-gains (directions whose keeps survive the keep rule's confirmation get more; a direction whose share of what is left falls below one experiment pauses)",
      ),
    adopt_best: z
      .boolean()
      .default(true)
      .describe(
        "before each experiment, a direction whose best another direction's best beats by the keep rule (noise included) moves onto that commit (recorded as a direction.adopted event)",
      ),
  })
  .strict()
  .describe('how many experiments run at once');

export const SuspicionSchema = z
  .object({
    max_headroom_closed: z
      .number()
      .gt(0)
      .lte(1)
      .default(0.8)
      .describe(
        'a single change that closes more than this share of the gap to a perfect score is suspicious',
      ),
    near_perfect: z
      .number()
      .nonnegative()
      .default(0.001)
      .describe('a score within this distance of the perfect score is suspicious (a leak, not a model)'),
    row_order_corr: z
      .number()
      .gt(0)
      .lte(1)
      .default(0.5)
      .describe(
        'predictions correlated with the holdout row order beyond this (when labels are not) are suspicious',
      ),
    consecutive_trips: z
      .number()
      .int()
      .positive()
      .default(3)
      .describe('guardrail trips in a row that escalate'),
    plateau: z
      .number()
      .int()
      .nonnegative()
      .default(20)
      .describe('escalate when the budget ran out and the last this-many experiments kept nothing (0 = off)'),
    max_gap: z
      .number()
      .optional()
      .describe('escalate at submit when public minus private (in the metric direction) exceeds this'),
  })
  .strict();

/** The command the sandbox runs for every experiment. */
export const RunSchema = z
  .object({
    command: z.string().min(1).describe('e.g. python train.py; run with the worktree as cwd'),
    python: z
      .string()
      .min(1)
      .optional()
      .describe('interpreter to put first on PATH (default: .venv/bin/python)'),
    network: z.boolean().default(false).describe('allow network access inside the sandbox'),
  })
  .strict();

/**
 * A custom evaluator (for tasks no built-in metric fits: bits per byte, a task-suite harness): a locked
 * command that runs OUTSIDE the sandbox after each experiment, reads the experiment's output folder and
 * prints a JSON object of metrics as its last stdout line. Its files are locked with the contract.
 */
export const EvaluatorSchema = z
  .object({
    command: z
      .string()
      .min(1)
      .describe('run in the project root with RATCHET_OUTPUT, RATCHET_HOLDOUT and RATCHET_VAULT set'),
    files: z.array(z.string().min(1)).min(1).describe("the evaluator's own files (locked with the contract)"),
    timeout: duration.default('10m'),
  })
  .strict();

/** Hard limits; a run stops when any of them is reached. */
export const BudgetsSchema = z
  .object({
    max_experiments: z.number().int().positive().default(50),
    max_wall_clock: duration.default('8h'),
    experiment_timeout: duration.default('10m'),
    max_consecutive_failures: z.number().int().positive().default(5),
    memory: size
      .default('8GiB')
      .describe(
        'memory cap of the sandboxed process tree together (watchdog or cgroup v2; RLIMIT_AS per process)',
      ),
    processes: z
      .number()
      .int()
      .positive()
      .default(256)
      .describe('cap on the sandboxed tree’s processes and threads together (a fork bomb is killed)'),
    disk: size.default('4GiB').describe('cap on what one experiment may write into its output folder'),
  })
  .strict();

/** The built-in search proposer's configuration. */
export const SearchSchema = z
  .object({
    space: z.string().min(1).describe('search space YAML, relative to the project root (frozen)'),
    params_file: z
      .string()
      .min(1)
      .describe('the params file the search proposer writes (must be in the surface)'),
  })
  .strict();

/** The local executor: bubblewrap on this machine (docs/ARCHITECTURE.md, "Executors"). */
export const LocalExecutorSchema = z
  .object({
    kind: z.literal('local').describe('run every experiment under bubblewrap on this machine'),
  })
  .strict();

/** The Ray executor: every experiment a Ray job, sandboxed on the worker (docs/ARCHITECTURE.md, "Ray executor"). */
export const RayExecutorSchema = z
  .object({
    kind: z
      .literal('ray')
      .describe('run every experiment as a Ray job (Jobs REST API), under bubblewrap on the worker'),
    address: z
      .url({ protocol: /^https?$/ })
      .default('http://127.0.0.1:8265')
      .describe(
        "the Ray dashboard's address (the Jobs REST API); an unauthenticated Jobs API runs any code: keep it on loopback, or use token auth and TLS",
      ),
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .default('RAY_AUTH_TOKEN')
      .describe(
        'environment variable holding the Ray auth token, sent as Authorization: Bearer (when unset: the file named by RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token)',
      ),
    num_cpus: z
      .number()
      .positive()
      .max(1024)
      .default(1)
      .describe(
        'CPUs each job reserves on the cluster (entrypoint_num_cpus); RATCHET_THREADS is its whole part',
      ),
    bwrap: z
      .string()
      .min(1)
      .default('bwrap')
      .describe(
        'bubblewrap on the workers: an absolute path, or a name looked up in /usr/bin, /bin, /usr/sbin, /sbin and /usr/local/bin',
      ),
    max_output: size
      .default('256MiB')
      .describe(
        'cap on the output folder a job sends back through its logs (uncompressed; also capped by budgets.disk); more rejects the experiment',
      ),
    start_timeout: duration
      .default('5m')
      .describe('how long a job may wait for the cluster to start it (PENDING) before it is stopped'),
  })
  .strict();

/** Where experiments run: this machine (default) or a Ray cluster. */
export const ExecutorSchema = z
  .discriminatedUnion('kind', [LocalExecutorSchema, RayExecutorSchema])
  .describe('where experiments run: local (default) or ray (`ratchet run --executor` overrides the kind)');

/**
 * Trust thresholds of off-policy estimates (docs/ARCHITECTURE.md, "Tier 2: off-policy evaluation"): an estimate
 * that breaks one cannot decide a keep, whatever its value.
 */
export const TrustSchema = z
  .object({
    min_ess_fraction: z
      .number()
      .gt(0)
      .lte(1)
      .default(0.01)
      .describe('effective sample size (Kish) as a share of the holdout rows, at least'),
    max_weight: z.number().gt(0).default(1000).describe('largest importance weight pi_e / pi_b, at most'),
    max_unsupported: z
      .number()
      .min(0)
      .lte(1)
      .default(0.05)
      .describe('mean policy mass on actions the logging policy never took, at most'),
    max_disagreement: z
      .number()
      .min(0)
      .default(0.5)
      .describe('spread of the estimators (max - min) relative to the primary estimate, at most'),
  })
  .strict();

/** Off-policy evaluation of a bandit task: the reward model, the trust thresholds and the tier-2 gate. */
export const OpeSchema = z
  .object({
    reward_model: z
      .enum(['auto', 'logistic', 'ridge', 'none'])
      .default('auto')
      .describe(
        'q(x, a) for dm, dr, sndr and switch_dr, fitted by Ratchet on the training split at init (auto: logistic for 0/1 rewards, ridge otherwise; none: only ips and snips)',
      ),
    trust: TrustSchema.default({
      min_ess_fraction: 0.01,
      max_weight: 1000,
      max_unsupported: 0.05,
      max_disagreement: 0.5,
    }),
    confidence: z
      .number()
      .gt(0.5)
      .lt(1)
      .default(0.95)
      .describe('tier-2 gate: the estimate’s lower bound at this confidence must beat the logging policy'),
    resamples: z
      .number()
      .int()
      .min(100)
      .max(100000)
      .default(1000)
      .describe('bootstrap resamples of the interval'),
  })
  .strict();

/**
 * Offline–online alignment (docs/ARCHITECTURE.md, "Tier 3: A/B results and alignment"): whether the offline metric's
 * gains have predicted the imported A/B tests' online wins, and whether a run may start when they have not.
 */
export const AlignmentSchema = z
  .object({
    required: z
      .boolean()
      .default(false)
      .describe(
        'refuse to start a run (an escalation a person resolves) unless `ratchet align` judges the metric aligned with the imported A/B tests',
      ),
    precision: z
      .number()
      .gt(0)
      .lte(1)
      .default(0.8)
      .describe('share of online wins the promotion threshold must reach'),
    win: z
      .enum(['significant', 'positive'])
      .default('significant')
      .describe("what counts as an online win: the test's interval above 0, or its effect above 0"),
  })
  .strict();

/**
 * A harness task's model and objectives (docs/ARCHITECTURE.md, "Harness tasks"): the OpenAI-compatible endpoint the
 * host proxy forwards to (the sandbox never reaches it, nor sees the key), prices, caps, the response cache and the
 * multi-objective keep rule.
 */
export const HarnessSchema = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/ })
      .describe(
        'base URL of the OpenAI-compatible API, reached by the host proxy only, e.g. http://127.0.0.1:8400/v1',
      ),
    model: z
      .string()
      .min(1)
      .describe('model name sent to the endpoint (the proxy overrides what the harness sends)'),
    key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .default('OPENAI_API_KEY')
      .describe(
        'host environment variable holding the API key; the proxy adds it, the sandbox never sees it',
      ),
    prices: z
      .object({
        input_per_mtok: z.number().min(0).default(0).describe('USD per million prompt tokens'),
        output_per_mtok: z.number().min(0).default(0).describe('USD per million completion tokens'),
      })
      .strict()
      .default({ input_per_mtok: 0, output_per_mtok: 0 }),
    caps: z
      .object({
        tokens_per_task: z.number().int().positive().default(20000).describe('a task past this gets 429s'),
        tokens_per_experiment: z
          .number()
          .int()
          .positive()
          .default(2_000_000)
          .describe('an experiment past this gets 429s for every further request'),
        requests_per_task: z.number().int().positive().default(20),
      })
      .strict()
      .default({ tokens_per_task: 20000, tokens_per_experiment: 2_000_000, requests_per_task: 20 }),
    cache: z
      .boolean()
      .default(true)
      .describe(
        'replay identical requests from a cache keyed by their hash (deterministic reruns; tokens still counted)',
      ),
    request_timeout: duration.default('60s'),
    keep: z
      .object({
        cost_metric: z.enum(['tokens_per_task', 'cost_per_task']).default('tokens_per_task'),
        cost_ceiling: z
          .number()
          .positive()
          .optional()
          .describe('a score gain is kept only while the cost metric stays at or below this'),
        cost_margin: z
          .number()
          .gt(0)
          .lt(1)
          .default(0.1)
          .describe(
            'a change that cuts the cost metric by more than this share is kept when the score is not worse',
          ),
        non_inferiority: z
          .number()
          .min(0)
          .default(0.02)
          .describe('"not worse": the paired lower bound of the score change is above minus this margin'),
      })
      .strict()
      .default({ cost_metric: 'tokens_per_task', cost_margin: 0.1, non_inferiority: 0.02 }),
  })
  .strict();

/** The whole contract. */
export const ContractSchema = z
  .object({
    version: z.literal(1),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore only')
      .describe('project name, used in branch and MLflow experiment names'),
    task: TaskSchema,
    data: DataSchema,
    split: SplitSchema.default({
      strategy: 'random',
      seed: 0,
      fractions: { train: 0.6, public: 0.2, private: 0.2 },
    }),
    metric: MetricSchema,
    keep: KeepSchema.default({
      min_delta: 0,
      confidence: 0.95,
      resamples: 1000,
      test: 'auto',
      noise_z: 1.8,
      confirm_runs: 4,
    }),
    surface: z
      .array(glob)
      .min(1)
      .describe('what a proposer may edit; anything else in a diff rejects the experiment'),
    frozen: z
      .array(glob)
      .default([])
      .describe('files locked with the contract (ratchet.yaml is always locked)'),
    run: RunSchema,
    budgets: BudgetsSchema.default({
      max_experiments: 50,
      max_wall_clock: '8h',
      experiment_timeout: '10m',
      max_consecutive_failures: 5,
      memory: '8GiB',
      processes: 256,
      disk: '4GiB',
    }),
    search: SearchSchema.optional(),
    evaluator: EvaluatorSchema.optional().describe(
      'a custom evaluator command instead of the built-in metrics',
    ),
    proxies: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), ProxySchema).default({}),
    constraints: z.array(ConstraintSchema).default([]),
    suspicion: SuspicionSchema.default({
      max_headroom_closed: 0.8,
      near_perfect: 0.001,
      row_order_corr: 0.5,
      consecutive_trips: 3,
      plateau: 20,
    }),
    agent: AgentSchema.optional().describe('how LLM proposers are briefed and bounded'),
    retention: RetentionSchema.default({ keep_last: 20 }),
    parallel: ParallelSchema.default({ directions: 1, briefs: [], budget: 'even', adopt_best: true }),
    resources: ResourcesSchema.default({ gpus: 0 }),
    executor: ExecutorSchema.default({ kind: 'local' }),
    alignment: AlignmentSchema.default({ required: false, precision: 0.8, win: 'significant' }),
    harness: HarnessSchema.optional().describe(
      'harness only: the model behind the host proxy and the objectives',
    ),
    ope: OpeSchema.optional().describe(
      'bandit only: off-policy evaluation (defaults filled for a bandit task)',
    ),
  })
  .strict();

/** A parsed, defaults-filled contract as written in YAML. */
export type ContractInput = z.input<typeof ContractSchema>;
/** A validated contract (raw form: durations and sizes still as written). */
export type ContractDoc = z.output<typeof ContractSchema>;
export type Task = z.infer<typeof TaskSchema>;

/** JSON Schema of `ratchet.yaml`, for editors (yaml-language-server) and docs. */
export function contractJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ContractSchema, { io: 'input' }) as Record<string, unknown>;
}

/** The contract's `executor` section with its defaults filled in. */
export type ExecutorDoc = z.output<typeof ExecutorSchema>;
/** The contract's `executor` section when its kind is `ray`. */
export type RayExecutorDoc = z.output<typeof RayExecutorSchema>;

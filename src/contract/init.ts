import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import {
  DATA_DIR,
  GENERATED_ID,
  type Progress,
  type SplitManifest,
  splitData,
  VAULT_DIR,
} from '../data/ingest.js';
import type { LeakFinding } from '../data/leakage.js';
import { fitRewardModel } from '../data/reward-model.js';
import { refuseBlockingFindings, scanProject } from '../data/scan.js';
import { foreignRepo, git, repoTop } from '../git/git.js';
import { loadSearchSpace, SearchSpaceError } from '../proposers/search/space.js';
import { RatchetError } from '../util/errors.js';
import { packageDir } from '../util/paths.js';
import { fillContract } from './fill.js';
import { CONTRACT_FILE, type Contract, globMatch, loadContract } from './load.js';
import {
  computeLock,
  contractFiles,
  LOCK_FILE,
  type Lock,
  listProjectFiles,
  readLock,
  writeLock,
} from './lock.js';
import { type ColumnRoles, decideRoles, profileColumns, rolesNotes, rolesYaml } from './roles.js';
import type { Task } from './schema.js';
import { type Sizing, sizeSearchSpace, sizingNote, sizingValues } from './sizing.js';
import {
  archiveSplit,
  recordSplitVersion,
  resplitPlan,
  resplitRefusal,
  restoreSplit,
  SPLITS_DIR,
} from './splits.js';

/** Options of `ratchet init --data`: scaffold a contract and a working baseline for any CSV/Parquet file. */
export interface ScaffoldOptions {
  /** Data file (absolute, or relative to the project). */
  data: string;
  target: string;
  task: Task;
  id?: string;
  time?: string;
  group?: string;
  /** Ranking: the query column (rows are ranked within a query; the split keeps queries whole). */
  query?: string;
  split?: 'random' | 'stratified' | 'temporal' | 'group';
  metric?: string;
  seed?: number;
  positiveClass?: string;
}

/** Default primary metric and extra metrics per task. */
const DEFAULT_METRICS: Record<Task, { primary: string; also: string[]; minDelta: number }> = {
  binary: {
    primary: 'auroc',
    also: ['average_precision', 'log_loss', 'brier', 'accuracy', 'f1'],
    minDelta: 0.001,
  },
  multiclass: { primary: 'log_loss', also: ['accuracy', 'f1_macro', 'auroc_ovr'], minDelta: 0 },
  regression: { primary: 'rmse', also: ['mae', 'r2'], minDelta: 0 },
  ranking: { primary: 'ndcg@10', also: ['ndcg', 'mrr', 'map@10'], minDelta: 0 },
  // Off-policy: doubly robust decides; the other estimators are reported (and their spread is a trust check).
  bandit: { primary: 'dr', also: ['ips', 'snips', 'dm', 'sndr', 'switch_dr'], minDelta: 0 },
  harness: { primary: 'task_score', also: ['tokens_per_task', 'cost_per_task'], minDelta: 0 },
};

/** Names of the bundled examples (folders under examples/). */
export function listExamples(): string[] {
  const dir = join(packageDir(), 'examples');
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, CONTRACT_FILE)))
        .map((e) => e.name)
    : [];
}

/**
 * Copy a bundled example (its contract, code, data and docs) into `projectDir`.
 * @throws RatchetError for an unknown example or a folder that already holds a contract
 */
export function copyExample(name: string, projectDir: string, force = false): void {
  const src = join(packageDir(), 'examples', name);
  if (!existsSync(join(src, CONTRACT_FILE))) {
    throw new RatchetError(`no bundled example named "${name}"`, {
      hint: `use one of: ${listExamples().join(', ')}`,
    });
  }
  if (existsSync(join(projectDir, CONTRACT_FILE)) && !force) {
    throw new RatchetError(`${projectDir} already has a ${CONTRACT_FILE}`, {
      file: CONTRACT_FILE,
      hint: 'use an empty folder, or --force to overwrite',
    });
  }
  cpSync(src, projectDir, { recursive: true, filter: (p) => !/__pycache__|\.ratchet/.test(p) });
}

function yamlScalar(v: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v) && !/^(true|false|yes|no|null|on|off)$/i.test(v)
    ? v
    : JSON.stringify(v);
}

/** The text of a scaffolded `ratchet.yaml` (commented, so a person can read and adjust it). */
export function scaffoldContractText(name: string, dataRel: string, o: ScaffoldOptions): string {
  const m = DEFAULT_METRICS[o.task];
  const primary = o.metric ?? m.primary;
  const strategy =
    o.task === 'ranking'
      ? 'group'
      : (o.split ??
        (o.group ? 'group' : o.time ? 'temporal' : o.task === 'regression' ? 'random' : 'stratified'));
  const group = o.task === 'ranking' ? o.query : o.group;
  const lines = [
    '# Ratchet contract: the frozen evaluation for this project. Locked at `ratchet init`.',
    '# yaml-language-server: $schema=https://ratchet.dev/schema/ratchet.schema.json',
    'version: 1',
    `name: ${yamlScalar(name)}`,
    `task: ${o.task}`,
    'data:',
    `  source: ${yamlScalar(dataRel)}`,
    `  target: ${yamlScalar(o.target)}`,
    ...(o.id
      ? [`  id: ${yamlScalar(o.id)}`]
      : [`  # id: <unique row id column>   (absent: Ratchet numbers the rows as ${GENERATED_ID})`]),
    ...(o.time ? [`  time: ${yamlScalar(o.time)}`] : []),
    ...(group ? [`  group: ${yamlScalar(group)}`] : []),
    ...(o.query ? [`  query: ${yamlScalar(o.query)}`] : []),
    ...(o.positiveClass !== undefined ? [`  positive_class: ${JSON.stringify(o.positiveClass)}`] : []),
    'split:',
    `  strategy: ${strategy}`,
    `  seed: ${o.seed ?? 42}`,
    '  fractions: { train: 0.6, public: 0.2, private: 0.2 }',
    'metric:',
    `  primary: ${primary}`,
    `  also: [${m.also.filter((x) => x !== primary).join(', ')}]`,
    'keep:',
    `  min_delta: ${primary === m.primary ? m.minDelta : 0}   # the gain must exceed this...`,
    '  confidence: 0.95        # ...and a paired bootstrap over public-holdout rows must find it real',
    '  resamples: 1000',
    'surface: [params.yaml, train.py]   # what a proposer may edit',
    'frozen: [search_space.yaml]        # locked with the contract',
    'run:',
    '  command: python train.py',
    'budgets:',
    '  max_experiments: 50',
    '  max_wall_clock: 8h',
    '  experiment_timeout: 10m',
    '  max_consecutive_failures: 5',
    '  memory: 8GiB',
    'search:',
    '  space: search_space.yaml',
    '  params_file: params.yaml',
    '',
  ];
  return lines.join('\n');
}

/**
 * First line of a scaffolded params.yaml / search_space.yaml whose column roles and sizing are still the
 * small-data defaults: `ratchet init` replaces such a file after the split (a person's edit that keeps the
 * line is replaced too; delete the line to keep a file as it is).
 */
export const PENDING_MARK =
  '# ratchet init: pending (column roles and sizing are filled in from the train split; delete this line to keep the file as is)';

/** The tabular template for an output file; a task-specific one (params.regression.yaml.tmpl) wins. */
function templatePath(out: string, learn: string): string {
  const tdir = join(packageDir(), 'templates', 'tabular');
  const dot = out.lastIndexOf('.');
  const specific = join(tdir, `${out.slice(0, dot)}.${learn}${out.slice(dot)}.tmpl`);
  return existsSync(specific) ? specific : join(tdir, `${out}.tmpl`);
}

/** Placeholder values of params.yaml and search_space.yaml for given roles and sizing. */
function scaffoldValues(roles: ColumnRoles, sizing: Sizing, query?: string): Record<string, string> {
  // A ranking task's query id is a key, not a feature.
  return { ...sizingValues(sizing), COLUMN_ROLES: rolesYaml(roles, query ? [query] : []), PENDING: '' };
}

/**
 * Placeholder values of params.yaml and search_space.yaml before the split is known: no column roles and the
 * small-data sizing (10k rows × 20 columns, 10-minute timeout), without the pending mark.
 * @param query a ranking task's query column (dropped from the features)
 */
export function scaffoldDefaultValues(query?: string): Record<string, string> {
  return scaffoldValues(
    { date: [], drop: [], highCardinality: [], rows: 0 },
    sizeSearchSpace(10_000, 20, 600),
    query,
  );
}

/** Calendar features train.py derives from one date column (see templates/tabular/train.py.tmpl). */
const CALENDAR_FEATURES = 8;

/**
 * After the split: decide the column roles from the train split and size the search space to its rows,
 * columns and the experiment timeout, then rewrite the scaffolded params file and search space when they
 * still carry {@link PENDING_MARK}. Prints the roles and the sizing.
 * @returns the roles and sizing, or null when no file was pending
 */
export async function sizeScaffold(
  contract: Contract,
  manifest: SplitManifest,
  progress: Progress,
): Promise<{ roles: ColumnRoles; sizing: Sizing } | null> {
  const root = contract.projectDir;
  const files = [contract.search?.params_file ?? 'params.yaml', contract.search?.space ?? 'search_space.yaml']
    .map((rel) => ({ rel, abs: join(root, rel) }))
    .filter((f) => existsSync(f.abs) && readFileSync(f.abs, 'utf8').startsWith(PENDING_MARK));
  if (files.length === 0) return null;
  const notFeatures = [
    manifest.idColumn,
    manifest.targetColumn,
    ...(contract.data.query ? [contract.data.query] : []),
  ];
  const { profiles, rows } = await profileColumns(join(root, DATA_DIR, 'train.csv'), notFeatures);
  const roles = decideRoles(profiles, rows);
  const dropped = new Set(roles.drop.map((d) => d.column));
  const high = new Set(roles.highCardinality);
  const columns = profiles
    .filter((p) => !dropped.has(p.name))
    .reduce((sum, p) => {
      if (roles.date.includes(p.name)) return sum + CALENDAR_FEATURES;
      if (/^(VARCHAR|BOOLEAN)$/i.test(p.type) && !high.has(p.name)) return sum + Math.max(1, p.distinct);
      return sum + 1;
    }, 0);
  const classes = contract.task === 'multiclass' ? (manifest.classes?.length ?? 1) : 1;
  const sizing = sizeSearchSpace(rows, columns, contract.limits.experimentTimeoutMs / 1000, classes);
  const learn = contract.task === 'ranking' ? 'regression' : contract.task;
  const values = scaffoldValues(roles, sizing, contract.data.query);
  for (const f of files) {
    const out = basename(f.rel).includes('search') ? 'search_space.yaml' : 'params.yaml';
    writeFileSync(f.abs, renderTemplate(readFileSync(templatePath(out, learn), 'utf8'), values));
  }
  for (const line of rolesNotes(roles)) progress(line);
  progress(sizingNote(sizing));
  return { roles, sizing };
}

/** Fill `{{KEY}}` placeholders of a template. */
export function renderTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (m, k: string) => (k in values ? values[k]! : m));
}

/** Result of {@link scaffoldProject}. */
export interface ScaffoldResult {
  /** Project-relative files written (a filled `ratchet.yaml` is named with what was filled). */
  written: string[];
  /** Files that existed and were kept as they are (the person's edits win). */
  keptFiles: string[];
  /** Flags not applied because ratchet.yaml already sets the field (see fill.ts). */
  ignoredFlags: string[];
}

/**
 * Write `ratchet.yaml`, `train.py`, `params.yaml` and `search_space.yaml` for a new dataset, from the
 * tabular templates. A file that exists is never overwritten (with or without `--force`): an existing
 * `ratchet.yaml` gets only the fields it lacks from the flags ({@link fillContract}), and an existing
 * `train.py` whose POSITIVE_CLASS is empty gets the positive class. Delete a file to scaffold it afresh.
 * @throws RatchetError when the data file does not exist
 */
export function scaffoldProject(projectDir: string, o: ScaffoldOptions): ScaffoldResult {
  if (o.task === 'bandit' && !existsSync(join(projectDir, CONTRACT_FILE))) {
    throw new RatchetError('there is no bandit scaffold to generate from flags', {
      field: '--task',
      hint: 'start from `ratchet init --example open-bandit` (a policy learner, its contract and search space), then point data.source, data.target, data.action and data.propensity in ratchet.yaml at your logs and run `ratchet init --force`',
    });
  }
  const dataAbs = resolve(projectDir, o.data);
  if (!existsSync(dataAbs)) {
    throw new RatchetError(`data file ${o.data} does not exist`, {
      field: '--data',
      hint: 'give the path of a CSV or Parquet file',
    });
  }
  const dataRel = relative(projectDir, dataAbs);
  const name =
    basename(resolve(projectDir))
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'project';
  const written: string[] = [];
  const keptFiles: string[] = [];
  let ignoredFlags: string[] = [];
  const write = (rel: string, text: string) => {
    const p = join(projectDir, rel);
    if (existsSync(p)) {
      keptFiles.push(rel);
      return;
    }
    writeFileSync(p, text);
    written.push(rel);
  };
  const source = dataRel.startsWith('..') ? dataAbs : dataRel;
  const contractPath = join(projectDir, CONTRACT_FILE);
  if (existsSync(contractPath)) {
    const before = readFileSync(contractPath, 'utf8');
    const group = o.task === 'ranking' ? o.query : o.group;
    const fill = fillContract(before, [
      { path: ['task'], flag: '--task', value: o.task },
      { path: ['data', 'source'], flag: '--data', value: source },
      { path: ['data', 'target'], flag: '--target', value: o.target },
      { path: ['data', 'id'], flag: '--id', value: o.id },
      { path: ['data', 'time'], flag: '--time', value: o.time },
      { path: ['data', 'group'], flag: '--group', value: group },
      { path: ['data', 'query'], flag: '--query', value: o.query },
      { path: ['data', 'positive_class'], flag: '--positive-class', value: o.positiveClass },
      { path: ['split', 'strategy'], flag: '--split', value: o.split },
      { path: ['split', 'seed'], flag: '--seed', value: o.seed },
      { path: ['metric', 'primary'], flag: '--metric', value: o.metric },
    ]);
    ignoredFlags = fill.kept;
    if (fill.filled.length) {
      writeFileSync(contractPath, fill.text);
      written.push(`${CONTRACT_FILE} (filled ${fill.filled.join(', ')})`);
    } else keptFiles.push(CONTRACT_FILE);
  } else write(CONTRACT_FILE, scaffoldContractText(name, source, o));
  // A ranking model here is a regression on the relevance: its predictions are the scores rows are ranked by.
  const learn = o.task === 'ranking' ? 'regression' : o.task;
  const values = {
    TARGET: o.target,
    ID: o.id ?? GENERATED_ID,
    TASK: learn,
    POSITIVE_CLASS: o.positiveClass ?? '',
    // the split's columns: an ensemble's out-of-fold folds keep a group together, or follow time
    GROUP: (o.task === 'ranking' ? o.query : o.group) ?? '',
    TIME: o.time ?? '',
  };
  for (const out of ['train.py', 'params.yaml', 'search_space.yaml']) {
    const tmpl = templatePath(out, learn);
    // Values land inside Python string literals in train.py: escape them as JSON (a valid Python string body).
    // params.yaml and search_space.yaml get small-data defaults and the pending mark: init sizes them to the
    // train split (sizeScaffold) before it locks the contract.
    const vals = out.endsWith('.py')
      ? Object.fromEntries(Object.entries(values).map(([k, v]) => [k, JSON.stringify(v).slice(1, -1)]))
      : {
          ...values,
          ...scaffoldDefaultValues(o.query),
          PENDING: `${PENDING_MARK}\n`,
        };
    write(out, renderTemplate(readFileSync(tmpl, 'utf8'), vals));
  }
  // An earlier scaffold without a positive class: give train.py the one now known (nothing else changes).
  const trainPy = join(projectDir, 'train.py');
  if (o.positiveClass !== undefined && keptFiles.includes('train.py')) {
    const py = readFileSync(trainPy, 'utf8');
    const empty = /^POSITIVE_CLASS = ""(.*)$/m;
    if (empty.test(py)) {
      writeFileSync(trainPy, py.replace(empty, `POSITIVE_CLASS = ${JSON.stringify(o.positiveClass)}$1`));
      keptFiles.splice(keptFiles.indexOf('train.py'), 1);
      written.push('train.py (POSITIVE_CLASS filled)');
    }
  }
  return { written, keptFiles, ignoredFlags };
}

/** Lines Ratchet needs in the project's .gitignore. */
function ensureGitignore(projectDir: string, extra: string[]): void {
  const path = join(projectDir, '.gitignore');
  const have = existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .map((l) => l.trim())
    : [];
  const want = ['.ratchet/', '__pycache__/', ...extra].filter((l) => !have.includes(l));
  if (want.length === 0) return;
  const sep = have.length > 0 && have[have.length - 1] !== '' ? '\n' : '';
  appendFileSync(path, `${sep}${want.join('\n')}\n`);
}

/** Options of {@link initProject}. */
export interface InitOptions {
  /**
   * Give the project a git repository of its own when its folder sits inside another repository (the demo always
   * does). Without it, init refuses there rather than commit into someone else's history.
   */
  ownRepo?: boolean;
  /** Re-split a project that has runs even though its data or contract changed (the old split is kept). */
  force?: boolean;
}

/**
 * Make sure the project folder is the top level of its own git repository, creating one when there is none (or,
 * with `ownRepo`, when the folder is inside another repository).
 * @throws RatchetError when the folder is inside another repository and `ownRepo` is not set
 */
async function ownRepository(projectDir: string, ownRepo: boolean, progress: Progress): Promise<void> {
  const outer = await refuseForeignRepo(projectDir, ownRepo);
  if (outer !== null || (await repoTop(projectDir)) === null) {
    progress('creating a git repository');
    await git(projectDir, ['init', '-q', '-b', 'main']);
  }
}

/**
 * Refuse a project folder inside another git repository unless `ownRepo` is set (checked before anything is
 * written, so a refused init leaves nothing behind).
 * @returns the enclosing repository's top level, or null when the folder is its own repository or in none
 * @throws RatchetError naming the enclosing repository and the `--own-repo` fix
 */
export async function refuseForeignRepo(projectDir: string, ownRepo: boolean): Promise<string | null> {
  if (!existsSync(projectDir)) return null;
  const outer = await foreignRepo(projectDir);
  if (outer !== null && !ownRepo) {
    throw new RatchetError(`${projectDir} is inside the git repository ${outer}`, {
      hint:
        `Ratchet commits its contract and keeps ratchet/<run> branches in the project's own repository and never ` +
        `commits into ${outer}: pass --own-repo to give ${projectDir} a repository of its own (then add it to ` +
        `${outer}'s .gitignore), or run ratchet init in a folder outside ${outer}`,
      exitCode: 2,
    });
  }
  return outer;
}

/** Result of {@link initProject}. */
export interface InitResult {
  /** When a forced re-split kept the earlier split: its version and the new one. */
  resplit?: { kept: number; version: number; changed: string[] };
  contract: Contract;
  /** Leakage scan warnings (blocking findings stop init). */
  findings: LeakFinding[];
  manifest: SplitManifest;
  lock: Lock;
  /** The commit holding the contract, lock and scaffold. */
  commit: string;
}

/**
 * `ratchet init`: validate the contract, keep the raw data out of git, split the data (holdout labels to the
 * vault), lock the contract, and commit the contract, lock and editable files, so the ratchet branch has a
 * clean base. Creates the git repository when there is none.
 * A project that has runs is never re-split silently: when its data or contract changed, init refuses (nothing
 * changed) unless `force`, and then keeps the earlier split as a version (see splits.ts).
 * @throws RatchetError for an invalid contract, unreadable data, a tracked data file, or a re-split of a project
 *   with runs without `force` (exit code 3)
 */
export async function initProject(
  projectDir: string,
  progress: Progress = () => {},
  opts: InitOptions = {},
): Promise<InitResult> {
  const contract = loadContract(projectDir);
  await ownRepository(projectDir, Boolean(opts.ownRepo), progress);
  const plan = await resplitPlan(projectDir, contract);
  if (plan && !opts.force) throw resplitRefusal(plan);
  if (plan) {
    progress(`keeping the current split as version ${plan.version} (${SPLITS_DIR}/v${plan.version})`);
    archiveSplit(projectDir, plan.version);
  }
  try {
    const res = await initSplitAndLock(projectDir, contract, progress);
    if (!plan) return res;
    const version = recordSplitVersion(projectDir, plan);
    progress(`split version ${version}: earlier runs are scored on version ${plan.version} by submit`);
    return { ...res, resplit: { kept: plan.version, version, changed: plan.changed } };
  } catch (e) {
    if (plan) restoreSplit(projectDir, plan.version);
    throw e;
  }
}

/** The project's current lock when it records the same hashes as `fresh` (only its time would differ), else null. */
function unchangedLock(projectDir: string, fresh: Lock): Lock | null {
  let old: Lock;
  try {
    old = readLock(projectDir);
  } catch {
    return null;
  }
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
  return same(old.contract, fresh.contract) && same(old.splits, fresh.splits) ? old : null;
}

/**
 * Validate the search space before it is locked (its portfolio included): a mistake is named now, with the file,
 * each field and its fix, rather than at the first `ratchet run`.
 * @throws RatchetError (exit 2) carrying every issue of the file
 */
function checkSearchSpace(projectDir: string, space: string): void {
  try {
    loadSearchSpace(resolve(projectDir, space));
  } catch (e) {
    if (!(e instanceof SearchSpaceError)) throw e;
    throw new RatchetError(e.message, {
      file: space,
      ...(e.issues[0]?.path ? { field: e.issues[0].path } : {}),
      hint: 'correct each field listed, then run ratchet init --force (it locks the files as they are)',
    });
  }
}

async function initSplitAndLock(
  projectDir: string,
  contract: Contract,
  progress: Progress,
): Promise<InitResult> {
  const dataRel = relative(projectDir, resolve(projectDir, contract.data.source));
  const inside = !dataRel.startsWith('..');
  if (inside && (await git(projectDir, ['ls-files', '--', dataRel])).trim()) {
    throw new RatchetError(
      `${dataRel} is tracked by git: every holdout label would be visible to the sandbox`,
      {
        file: dataRel,
        hint: `git rm --cached ${dataRel} && git commit -m "untrack data" (Ratchet then ignores it)`,
        exitCode: 3,
      },
    );
  }
  contractFiles(contract); // a frozen glob that matches nothing fails here, before the (slow) split
  ensureGitignore(projectDir, inside ? [dataRel] : []);
  const manifest = await splitData(contract, progress);
  if (contract.task === 'bandit')
    await fitRewardModel(
      contract,
      manifest,
      join(projectDir, DATA_DIR),
      join(projectDir, VAULT_DIR),
      progress,
    );
  progress(
    'scanning for leakage (target proxies, shifted targets, id-like columns, duplicates, time and group overlap)',
  );
  const findings = await scanProject(contract, manifest);
  for (const f of findings.filter((x) => x.severity === 'warn'))
    progress(`warning ${f.guardrail}: ${f.message} (${f.hint})`);
  refuseBlockingFindings(findings);
  await sizeScaffold(contract, manifest, progress);
  if (contract.search) checkSearchSpace(projectDir, contract.search.space);
  const fresh = await computeLock(contract);
  // Nothing changed (an `init --force` over an intact project): keep the lock as it is, so no empty commit.
  const lock = unchangedLock(projectDir, fresh) ?? fresh;
  if (lock === fresh) writeLock(projectDir, lock);
  progress(
    `locked ${Object.keys(lock.contract).length} contract files and ${Object.keys(lock.splits).length} split files`,
  );
  const paths = [
    '.gitignore',
    LOCK_FILE,
    ...Object.keys(lock.contract),
    ...contract.surface.filter((g) => !/[*?]/.test(g)),
    // Files a surface glob matches (e.g. prompts/**): a worktree holds only what is committed.
    ...listProjectFiles(projectDir).filter(
      (f) => f !== dataRel && contract.surface.some((g) => /[*?]/.test(g) && globMatch(g, f)),
    ),
  ].filter((p, i, a) => a.indexOf(p) === i && existsSync(join(projectDir, p)));
  await git(projectDir, ['add', '--', ...paths]);
  const staged = (await git(projectDir, ['diff', '--cached', '--name-only'])).trim();
  if (staged) {
    await git(projectDir, [
      'commit',
      '-q',
      '--no-verify',
      '-m',
      `ratchet: init contract ${contract.name}`,
      '--',
      ...paths,
    ]);
  }
  const commit = (await git(projectDir, ['rev-parse', 'HEAD'])).trim();
  return { contract, manifest, lock, commit, findings };
}

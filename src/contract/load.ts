import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type * as z from 'zod';
import { metricSpec, metricsForTask, parseComposite } from '../metrics/index.js';
import type { Direction } from '../proposers/types.js';
import { RatchetError } from '../util/errors.js';
import { parseBytes, parseDuration } from '../util/units.js';
import { type ContractDoc, ContractSchema } from './schema.js';

/** File name of the contract in a project root. */
export const CONTRACT_FILE = 'ratchet.yaml';

/** A validated contract with its quantities parsed into numbers. */
export interface Contract extends ContractDoc {
  /** Absolute project root (the folder that holds ratchet.yaml). */
  projectDir: string;
  /** Primary metric direction, resolved from the metric when not written. */
  direction: Direction;
  /** Budgets in machine units. */
  limits: {
    maxExperiments: number;
    /** Total wall clock of a run, ms. */
    maxWallClockMs: number;
    /** Per-experiment wall clock, ms. */
    experimentTimeoutMs: number;
    maxConsecutiveFailures: number;
    /** Memory cap of the sandboxed process tree together (and RLIMIT_AS of each process), bytes. */
    memoryBytes: number;
    /** Cap on the sandboxed tree's processes and threads together. */
    maxProcesses: number;
    /** Cap on the size of an experiment's output folder, bytes. */
    diskBytes: number;
  };
}

/** A few expected keys per section, used to suggest the fix for a misspelt key. */
function issueHint(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `remove ${issue.keys.map((k) => `"${k}"`).join(', ')} or fix the spelling (see the JSON Schema: ratchet schema)`;
    case 'invalid_type':
      return `give a ${issue.expected} here`;
    case 'invalid_value':
      return `use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
    case 'too_big':
      return boundHint(issue, issue.path.join('.'));
    default:
      return 'see `ratchet schema` for the expected form';
  }
}

/** The fix for a value out of bounds: what a valid value looks like (not the bound's message again). */
function boundHint(issue: z.core.$ZodIssue, field: string): string {
  const i = issue as {
    code: string;
    origin?: string;
    minimum?: unknown;
    maximum?: unknown;
    inclusive?: boolean;
  };
  const small = i.code === 'too_small';
  const bound = String(small ? i.minimum : i.maximum);
  if (i.origin === 'string') return small ? 'give a non-empty value' : `give at most ${bound} characters`;
  if (i.origin === 'array' || i.origin === 'set')
    return small ? `give at least ${bound} item(s)` : `give at most ${bound} item(s)`;
  if (small && bound === '0' && !i.inclusive) {
    if (/clock|timeout|window|interval/.test(field)) return 'give a positive duration, e.g. 90s, 30m or 2h';
    if (/memory|disk/.test(field)) return 'give a positive size, e.g. 512MiB or 8GiB';
    return 'give a positive number (greater than 0), e.g. 10';
  }
  const op = small ? (i.inclusive ? 'at least' : 'greater than') : i.inclusive ? 'at most' : 'less than';
  return `give a number ${op} ${bound}`;
}

/**
 * Validate a contract document already parsed from YAML.
 * @param raw the parsed YAML value
 * @param projectDir absolute project root
 * @param file name to cite in errors
 * @throws RatchetError naming the file, the field and the fix (first problem found)
 */
export function validateContract(raw: unknown, projectDir: string, file = CONTRACT_FILE): Contract {
  const parsed = ContractSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || '(top level)';
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    throw new RatchetError(missing ? 'required field is missing' : issue.message, {
      file,
      field,
      hint: missing ? `add ${field} (see ratchet schema)` : issueHint(issue),
    });
  }
  const doc = parsed.data;
  const err = (field: string, message: string, hint: string) =>
    new RatchetError(message, { file, field, hint });

  const known = (name: string) => {
    try {
      metricSpec(name, doc.task);
      return true;
    } catch {
      return false;
    }
  };
  const validNames = () =>
    `${metricsForTask(doc.task)
      .map((m) => m.name)
      .join(
        ', ',
      )}${Object.keys(doc.proxies).length ? `, or a proxy: ${Object.keys(doc.proxies).join(', ')}` : ''}`;
  let direction: Direction;
  if (doc.evaluator) {
    // The custom evaluator defines its own metric names; the direction cannot be inferred.
    if (!doc.metric.direction) {
      throw err(
        'metric.direction',
        `the custom evaluator's metric ${doc.metric.primary} needs a direction`,
        'write direction: maximize or minimize',
      );
    }
    direction = doc.metric.direction;
  } else if (doc.metric.primary === 'composite') {
    if (!doc.metric.composite) {
      throw err(
        'metric.composite',
        'primary: composite needs the expression',
        'e.g. composite: "0.6*auroc + 0.4*profit_per_decision"',
      );
    }
    let vars: string[];
    try {
      vars = parseComposite(doc.metric.composite).variables;
    } catch (e) {
      throw err(
        'metric.composite',
        (e as Error).message,
        'use numbers, metric and proxy names, + - * /, min(), max() and parentheses',
      );
    }
    for (const v of vars) {
      if (!known(v) && !(v in doc.proxies))
        throw err(
          'metric.composite',
          `"${v}" is neither a metric of task ${doc.task} nor a proxy`,
          `use one of: ${validNames()}`,
        );
    }
    direction = doc.metric.direction ?? 'maximize';
  } else {
    if (doc.metric.composite) {
      throw err(
        'metric.composite',
        'a composite expression is only used with primary: composite',
        'set primary: composite or remove composite',
      );
    }
    let spec: ReturnType<typeof metricSpec>;
    try {
      spec = metricSpec(doc.metric.primary, doc.task);
    } catch {
      throw err(
        'metric.primary',
        `unknown metric "${doc.metric.primary}" for task ${doc.task}`,
        `use one of: ${metricsForTask(doc.task)
          .map((m) => m.name)
          .join(', ')}, or composite`,
      );
    }
    if (doc.metric.direction && doc.metric.direction !== spec.direction) {
      throw err(
        'metric.direction',
        `${spec.name} is ${spec.direction}d, not ${doc.metric.direction}d`,
        `write direction: ${spec.direction} or remove the field`,
      );
    }
    direction = spec.direction;
  }
  for (const [name, proxy] of Object.entries(doc.proxies)) {
    if (proxy.kind === 'cost_matrix' && doc.task !== 'binary') {
      throw err(
        `proxies.${name}`,
        'a cost_matrix proxy needs a binary task',
        'use column_mean or top_fraction_mean',
      );
    }
    if (proxy.kind !== 'cost_matrix' && !doc.data.outcome_columns.includes(proxy.column)) {
      throw err(
        `proxies.${name}.column`,
        `"${proxy.column}" is not in data.outcome_columns`,
        `add it to data.outcome_columns (it is then hidden with the labels)`,
      );
    }
  }
  for (const [i, c] of doc.constraints.entries()) {
    if ('metric' in c) {
      if (!known(c.metric) && !(c.metric in doc.proxies))
        throw err(`constraints.${i}.metric`, `unknown metric "${c.metric}"`, `use one of: ${validNames()}`);
      if (c.min === undefined && c.max === undefined)
        throw err(`constraints.${i}`, 'a constraint needs min or max', 'add min: or max:');
    } else if ('fairness' in c) {
      if (doc.task !== 'binary')
        throw err(
          `constraints.${i}.fairness`,
          'fairness gates need a binary task',
          'use per_group floors instead',
        );
    } else {
      if (!known(c.per_group))
        throw err(
          `constraints.${i}.per_group`,
          `unknown metric "${c.per_group}"`,
          `use one of: ${validNames()}`,
        );
      if (c.min === undefined && c.max === undefined)
        throw err(`constraints.${i}`, 'a constraint needs min or max', 'add min: or max:');
    }
  }
  if (doc.task === 'ranking') {
    if (!doc.data.query)
      throw err('data.query', 'a ranking task needs the query column', 'name it in data.query');
    if (doc.split.strategy !== 'group' || doc.data.group !== doc.data.query) {
      throw err(
        'split.strategy',
        'ranking splits whole queries',
        `set split.strategy: group and data.group: ${doc.data.query}`,
      );
    }
  } else if (doc.data.query) {
    throw err('data.query', 'data.query only applies to ranking tasks', 'remove it or use task: ranking');
  }
  if (doc.task === 'bandit') {
    if (!doc.data.action)
      throw err(
        'data.action',
        'a bandit task needs the column of the action the logging policy took',
        'name it in data.action (e.g. item_id)',
      );
    if (!doc.data.propensity)
      throw err(
        'data.propensity',
        'a bandit task needs the logging propensities (the probability of the logged action)',
        'name the column in data.propensity (e.g. propensity_score)',
      );
    for (const role of ['action', 'propensity'] as const) {
      const col = doc.data[role];
      if (col === doc.data.target || col === doc.data.id)
        throw err(
          `data.${role}`,
          `"${col}" is also the ${col === doc.data.target ? 'target (reward)' : 'id'} column`,
          `name another column in data.${role}`,
        );
    }
    if (doc.evaluator)
      throw err(
        'evaluator',
        'a bandit task is scored by the built-in off-policy estimators',
        'remove evaluator',
      );
    if (doc.split.strategy === 'stratified')
      throw err(
        'split.strategy',
        'a bandit task has rewards, not class labels, to stratify on',
        'use random, temporal or group',
      );
    if (!doc.ope)
      doc.ope = {
        reward_model: 'auto',
        trust: { min_ess_fraction: 0.01, max_weight: 1000, max_unsupported: 0.05, max_disagreement: 0.5 },
        confidence: 0.95,
        resamples: 1000,
      };
  } else {
    for (const role of ['action', 'propensity'] as const)
      if (doc.data[role] !== undefined)
        throw err(
          `data.${role}`,
          `data.${role} only applies to bandit tasks`,
          'remove it or use task: bandit',
        );
    if (doc.ope) throw err('ope', 'ope only applies to bandit tasks', 'remove it or use task: bandit');
  }
  if (doc.task === 'harness') {
    if (!doc.harness)
      throw err(
        'harness',
        'a harness task needs its model: the endpoint the host proxy forwards to',
        'add harness: { endpoint: http://127.0.0.1:8400/v1, model: <name> }',
      );
    if (doc.evaluator) throw err('evaluator', 'a harness task is graded by Ratchet', 'remove evaluator');
    if (doc.run.network)
      throw err(
        'run.network',
        'a harness reaches its model only through the host proxy: the sandbox keeps no network',
        'remove run.network',
      );
    if (doc.split.strategy === 'stratified')
      throw err(
        'split.strategy',
        'a task suite has answers, not classes, to stratify on',
        'use random or group',
      );
  } else if (doc.harness)
    throw err('harness', 'harness only applies to harness tasks', 'remove it or use task: harness');
  for (const [i, name] of doc.evaluator ? [] : doc.metric.also.entries()) {
    try {
      metricSpec(name, doc.task);
    } catch {
      throw err(
        `metric.also.${i}`,
        `unknown metric "${name}" for task ${doc.task}`,
        `use one of: ${metricsForTask(doc.task)
          .map((m) => m.name)
          .join(', ')}`,
      );
    }
  }
  const f = doc.split.fractions;
  if (Math.abs(f.train + f.public + f.private - 1) > 1e-9) {
    throw err(
      'split.fractions',
      `fractions add up to ${f.train + f.public + f.private}, not 1`,
      'make train + public + private = 1',
    );
  }
  if (doc.split.strategy === 'temporal' && !doc.data.time) {
    throw err(
      'data.time',
      'the temporal split needs a time column',
      'name it in data.time or use another split.strategy',
    );
  }
  if (doc.split.strategy === 'group' && !doc.data.group) {
    throw err(
      'data.group',
      'the group split needs a group column',
      'name it in data.group or use another split.strategy',
    );
  }
  if (doc.split.strategy === 'stratified' && doc.task === 'regression') {
    throw err(
      'split.strategy',
      'a stratified split needs class labels',
      'use random, temporal or group for regression',
    );
  }
  if (doc.data.positive_class !== undefined && doc.task !== 'binary') {
    throw err('data.positive_class', 'positive_class only applies to binary tasks', 'remove it');
  }
  if (doc.search && !doc.surface.some((g) => globMatch(g, doc.search!.params_file))) {
    throw err(
      'search.params_file',
      `${doc.search.params_file} is not in the surface, so the search proposer could not edit it`,
      `add ${doc.search.params_file} to surface`,
    );
  }
  const parse = <T>(field: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      throw err(field, (e as Error).message, 'e.g. 90s, 5m, 2h for durations; 8GiB for sizes');
    }
  };
  return {
    ...doc,
    projectDir,
    direction,
    limits: {
      maxExperiments: doc.budgets.max_experiments,
      maxWallClockMs: parse('budgets.max_wall_clock', () => parseDuration(doc.budgets.max_wall_clock)),
      experimentTimeoutMs: parse('budgets.experiment_timeout', () =>
        parseDuration(doc.budgets.experiment_timeout),
      ),
      maxConsecutiveFailures: doc.budgets.max_consecutive_failures,
      memoryBytes: parse('budgets.memory', () => parseBytes(doc.budgets.memory)),
      maxProcesses: doc.budgets.processes,
      diskBytes: parse('budgets.disk', () => parseBytes(doc.budgets.disk)),
    },
  };
}

/** The first line of a YAML parser message without its own (possibly out-of-range) "at line N, column M". */
function yamlMessage(message: string): string {
  return message
    .split('\n')[0]!
    .replace(/\s*at line \d+, column \d+:?\s*$/, '')
    .trim();
}

/**
 * " at line L, column C" for a YAML error position, clamped to the file: an error found at the end of the
 * file (e.g. an unclosed bracket) is placed on the file's last line, never on a line after it.
 */
export function yamlPlace(text: string, pos: { line: number; col: number } | undefined): string {
  if (!pos) return '';
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const n = Math.max(1, lines.length);
  if (pos.line <= n) return ` at line ${pos.line}, column ${pos.col}`;
  return ` at line ${n}, column ${(lines[n - 1] ?? '').length + 1} (the end of the file)`;
}

/**
 * Read and validate `ratchet.yaml` in a project root.
 * @throws RatchetError when the file is missing, is not valid YAML, or breaks the schema
 */
export function loadContract(projectDir: string): Contract {
  const path = join(projectDir, CONTRACT_FILE);
  if (!existsSync(path)) {
    throw new RatchetError(`no ${CONTRACT_FILE} in ${projectDir}`, {
      file: CONTRACT_FILE,
      hint: 'run `ratchet init --data <file> --target <column> --task <binary|multiclass|regression>` or cd into a project',
    });
  }
  const text = readFileSync(path, 'utf8');
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new RatchetError(`not valid YAML${yamlPlace(text, e.linePos?.[0])}: ${yamlMessage(e.message)}`, {
      file: CONTRACT_FILE,
      hint: 'fix the YAML syntax at the line shown',
    });
  }
  return validateContract(doc.toJS(), projectDir);
}

/**
 * Match a project-relative path against a glob of the surface / frozen lists.
 * Supports `*` (within a path segment), `**` (any number of segments) and `?`.
 */
export function globMatch(glob: string, path: string): boolean {
  return globToRegExp(glob).test(path.replace(/^\.\//, ''));
}

/** Compile a glob to an anchored RegExp (see {@link globMatch}). */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  const g = glob.replace(/^\.\//, '');
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*') {
      if (g[i + 1] === '*') {
        const slash = g[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

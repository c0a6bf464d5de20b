/**
 * The search space of Ratchet's built-in `search` proposer: schema, loader and JSON Schema export.
 *
 * A search space is a YAML file (the contract's `search.space`, frozen) like:
 *
 * ```yaml
 * params_file: params.yaml
 * space:
 *   model:
 *     type: categorical
 *     choices: [logistic_regression, lightgbm]
 *     conditional:                # parameters that exist only when model == <choice>
 *       lightgbm:
 *         n_estimators: { type: int, low: 50, high: 600, log: true }
 *   scale_numeric: { type: categorical, choices: [true, false] }
 * ```
 *
 * A trial's params are nested like the space: the conditional parameters of a choice live in a
 * mapping named after the choice (`model: lightgbm`, `lightgbm: {n_estimators: 312}`), and Optuna
 * names them by their dotted path (`lightgbm.n_estimators`).
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';

/** A value a categorical parameter may take. */
export type ChoiceValue = string | number | boolean | null;

/** A real-valued parameter: uniform in [low, high], log-uniform with `log`, or on a grid with `step`. */
export interface FloatParam {
  type: 'float';
  low: number;
  high: number;
  log?: boolean;
  step?: number;
}

/** An integer parameter in [low, high], optionally log-uniform or on a grid with `step`. */
export interface IntParam {
  type: 'int';
  low: number;
  high: number;
  log?: boolean;
  step?: number;
}

/** A choice among values; `conditional` holds the parameters that exist only for some choices. */
export interface CategoricalParam {
  type: 'categorical';
  choices: ChoiceValue[];
  /** Keyed by the choice (as text: `lightgbm`, `true`, `3`); nested under that key in the params file. */
  conditional?: Record<string, ParamSpace>;
}

/** One parameter of the space. */
export type ParamSpec = FloatParam | IntParam | CategoricalParam;

/** Parameters by name (a level of the space). */
export type ParamSpace = Record<string, ParamSpec>;

/** A parsed, validated search space file. */
export interface SearchSpace {
  /** The params file the trials are written to, relative to the worktree (informative; the contract's `search.params_file` decides). */
  params_file?: string;
  /** The parameters, in file order. */
  space: ParamSpace;
  /**
   * Configurations tried first, in order, right after the baseline and before TPE's own samples: points known to
   * do well on most tabular data (a fixed portfolio, as AutoGluon's presets start with fixed configurations). Each
   * is a params object nested like the space (`model: lightgbm`, `lightgbm: {num_leaves: 31}`); every value must
   * lie in the space, and a parameter it leaves out is sampled. TPE learns from their scores like any trial's.
   */
  portfolio?: Record<string, unknown>[];
  /** Ensembles the proposer builds from the best trials (see {@link EnsembleSpec}); absent: no ensembles. */
  ensemble?: EnsembleSpec;
}

/**
 * The search space's `ensemble` section: when and how the search proposer proposes an ensemble of the best kept
 * experiment's model(s) and the best finished trials of the model families (docs/ARCHITECTURE.md, "Ensembles").
 * With `weights: oof` (the default) the training script fits the members' weights by ensemble selection over their
 * out-of-fold predictions on the train split (Caruana et al. 2004, "Ensemble selection from libraries of models",
 * ICML), so every competitive family joins at once; with `weights: equal` one family joins per proposal and the keep
 * rule judges each addition. The training script must accept `model: ensemble` (the scaffold's does).
 */
export interface EnsembleSpec {
  /** The top-level categorical parameter whose values are the families to combine (default `model`). */
  by: string;
  /** Most models in one ensemble (2–8, default 4). */
  members: number;
  /** Finished trials before the first ensemble (default 8). */
  after: number;
  /** Finished trials between two ensemble proposals (default 5). */
  every: number;
  /**
   * A family joins only when its best trial's public score is at most this fraction of the incumbent's score worse
   * than the incumbent's (default 1; 0.1 suits `weights: equal`, where an average with a much weaker model seldom
   * helps): the members' run time is the price of a weak one.
   */
  within: number;
  /** `oof`: weights fitted by the training script on out-of-fold predictions (default); `equal`: equal weights. */
  weights: 'oof' | 'equal';
  /** Folds of the out-of-fold predictions with `weights: oof` (2–20, default 5): each member is fitted folds + 1 times. */
  folds: number;
  /**
   * With `weights: oof`, the share of the weight the kept model keeps (0 ≤ anchor < 1, default 0.5; 0: none): the
   * ensemble is this much the kept model and the rest ensemble selection's weights. The closer a candidate's
   * predictions are to the kept model's, the smaller the variance of their paired difference, so the public holdout
   * confirms a real gain with fewer rows (DeLong et al. 1988: the covariance term); the ratchet takes the step.
   */
  anchor: number;
}

/** One problem found in a search space file. */
export interface SpaceIssue {
  /** YAML path of the offending field, e.g. `space.model.conditional.lightgbm.num_leaves.low`. */
  path: string;
  /** What is wrong. */
  message: string;
  /** How to fix it. */
  fix: string;
}

/** A search space file that cannot be used; `message` names the file, each field's path and the fix. */
export class SearchSpaceError extends Error {
  /** The file that was read. */
  readonly file: string;
  /** Every problem found, in file order. */
  readonly issues: SpaceIssue[];

  constructor(file: string, issues: SpaceIssue[]) {
    const lines = issues.map((i) => `  - ${i.path || '(top level)'}: ${i.message}; fix: ${i.fix}`);
    super(`invalid search space ${file}:\n${lines.join('\n')}`);
    this.name = 'SearchSpaceError';
    this.file = file;
    this.issues = issues;
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The text under which a choice keys its `conditional` section and its params mapping. */
export function choiceKey(value: ChoiceValue): string {
  return value === null ? 'null' : String(value);
}

const FIX = 'fix';

const finite = z.number().refine(Number.isFinite, { message: 'must be a finite number' });

const FloatSchema = z.strictObject({
  type: z.literal('float'),
  low: finite.describe('lower bound (inclusive)'),
  high: finite.describe('upper bound (inclusive)'),
  log: z.boolean().optional().describe('sample on a log scale (needs low > 0)'),
  step: finite.optional().describe('grid step (not with log)'),
});

const IntSchema = z.strictObject({
  type: z.literal('int'),
  low: finite.describe('lower bound (inclusive)'),
  high: finite.describe('upper bound (inclusive)'),
  log: z.boolean().optional().describe('sample on a log scale (needs low > 0)'),
  step: finite.optional().describe('grid step (not with log)'),
});

const ChoiceSchema = z.union([z.string(), finite, z.boolean(), z.null()]);

const CategoricalSchema = z.strictObject({
  type: z.literal('categorical'),
  choices: z.array(ChoiceSchema).min(1).describe('the values to choose from'),
  get conditional() {
    return z
      .record(z.string(), ParamSpaceSchema)
      .optional()
      .describe(
        'parameters that exist only for a choice, keyed by the choice; nested under that key in params',
      );
  },
});

const ParamSchema = z.discriminatedUnion('type', [FloatSchema, IntSchema, CategoricalSchema]);

const ParamSpaceSchema: z.ZodType<ParamSpace> = z.record(z.string(), ParamSchema);

/*
 * Rules across fields (bounds, choices, names). They run over the raw document, beside the zod
 * schema, so that a file with both kinds of mistakes gets every issue reported in one go.
 */

type Raw = Record<string, unknown>;

function isRaw(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function numericIssues(p: Raw, at: string[], out: RawIssue[]): void {
  const { low, high, log, step } = p;
  if (p.type === 'int') {
    for (const key of ['low', 'high', 'step'] as const) {
      const v = p[key];
      if (isNum(v) && !Number.isInteger(v)) {
        out.push({
          path: [...at, key],
          message: `${key} is ${v}, not an integer`,
          fix: 'use a whole number or type: float',
        });
      }
    }
  }
  if (isNum(low) && isNum(high) && !(low < high)) {
    out.push({
      path: [...at, 'high'],
      message: `high (${high}) must be greater than low (${low})`,
      fix: 'swap or widen the bounds',
    });
  }
  if (log === true && isNum(low) && low <= 0) {
    out.push({
      path: [...at, 'low'],
      message: `log scale needs low > 0, got ${low}`,
      fix: 'raise low above 0 or drop `log: true`',
    });
  }
  if (log === true && step !== undefined) {
    out.push({
      path: [...at, 'step'],
      message: 'log and step cannot be combined',
      fix: 'keep either `log: true` or `step`',
    });
  }
  if (isNum(step) && step <= 0) {
    out.push({
      path: [...at, 'step'],
      message: `step must be positive, got ${step}`,
      fix: 'use a step greater than 0',
    });
  }
}

function levelIssues(level: unknown, at: string[], out: RawIssue[]): void {
  if (!isRaw(level)) return;
  const names = Object.keys(level);
  if (names.length === 0) {
    out.push({ path: at, message: 'no parameters', fix: 'list at least one parameter' });
  }
  const owners = new Map<string, string>();
  for (const name of names) {
    const spec = level[name];
    const here = [...at, name];
    if (!NAME_RE.test(name)) {
      out.push({
        path: here,
        message: `parameter name '${name}' is not a plain identifier (dots are reserved for nesting)`,
        fix: 'use letters, digits, _ or -, starting with a letter or _',
      });
    }
    if (!isRaw(spec)) continue;
    if (spec.type === 'float' || spec.type === 'int') numericIssues(spec, here, out);
    if (spec.type !== 'categorical') continue;
    const choices = Array.isArray(spec.choices) ? (spec.choices as ChoiceValue[]) : [];
    const keys = choices.map((c) => (isRaw(c) || Array.isArray(c) ? '' : choiceKey(c)));
    keys.forEach((k, i) => {
      if (k !== '' && keys.indexOf(k) !== i) {
        out.push({
          path: [...here, 'choices', String(i)],
          message: `choice ${JSON.stringify(choices[i])} is listed twice`,
          fix: 'remove the copy',
        });
      }
    });
    if (!isRaw(spec.conditional)) continue;
    for (const [key, sub] of Object.entries(spec.conditional)) {
      const subAt = [...here, 'conditional', key];
      if (!keys.includes(key)) {
        out.push({
          path: subAt,
          message: `'${key}' is not one of the choices [${keys.join(', ')}]`,
          fix: 'name each conditional section after one of the choices, or add the choice',
        });
      }
      // A conditional section becomes a key beside its parameter in the params file: no clashes.
      if (names.includes(key)) {
        out.push({
          path: subAt,
          message: `section '${key}' would share its key in the params file with the parameter '${key}'`,
          fix: 'rename the parameter or the choice',
        });
      }
      const other = owners.get(key);
      if (other !== undefined) {
        out.push({
          path: subAt,
          message: `section '${key}' is also a conditional section of '${other}'`,
          fix: 'rename one of the choices so each section has its own key',
        });
      }
      owners.set(key, name);
      levelIssues(sub, subAt, out);
    }
  }
}

/** Whether a value of a params file is one of a categorical parameter's choices (booleans and numbers apart). */
function isChoice(value: unknown, choices: readonly ChoiceValue[]): boolean {
  return choices.some((c) => c === value && (typeof c === 'boolean') === (typeof value === 'boolean'));
}

/**
 * Check one portfolio configuration against a level of the (already valid) space: each key is a parameter of
 * the level or the section of a choice the configuration makes, and each value lies in its parameter's range or
 * choices. Parameters left out are allowed (the sampler fills them).
 */
function portfolioIssues(entry: Raw, level: ParamSpace, at: string[], out: RawIssue[]): void {
  const sections = new Map<string, string>(); // section key -> the parameter whose choice opens it
  for (const [name, spec] of Object.entries(level)) {
    if (spec.type === 'categorical') {
      for (const key of Object.keys(spec.conditional ?? {})) sections.set(key, name);
    }
  }
  for (const [key, value] of Object.entries(entry)) {
    const here = [...at, key];
    const spec = level[key];
    if (spec === undefined) {
      const owner = sections.get(key);
      if (owner === undefined) {
        out.push({
          path: here,
          message: `'${key}' is not a parameter of the space here`,
          fix: `use one of ${[...Object.keys(level), ...sections.keys()].join(', ')}`,
        });
        continue;
      }
      const chosen = entry[owner];
      if (chosen === undefined || choiceKey(chosen as ChoiceValue) !== key) {
        out.push({
          path: here,
          message: `section '${key}' is given but ${owner} is ${chosen === undefined ? 'not set' : JSON.stringify(chosen)}`,
          fix: `set ${owner}: ${key} in this configuration, or remove the section`,
        });
        continue;
      }
      const ownerSpec = level[owner] as CategoricalParam;
      if (!isRaw(value)) {
        out.push({
          path: here,
          message: `expected a mapping, got ${describeValue(value)}`,
          fix: 'write the section as a mapping',
        });
        continue;
      }
      portfolioIssues(value, ownerSpec.conditional?.[key] ?? {}, here, out);
      continue;
    }
    if (spec.type === 'categorical') {
      if (!isChoice(value, spec.choices)) {
        out.push({
          path: here,
          message: `${describeValue(value)} is not one of the choices`,
          fix: `use one of ${spec.choices.map((c) => JSON.stringify(c)).join(', ')}`,
        });
      }
      continue;
    }
    if (!isNum(value) || (spec.type === 'int' && !Number.isInteger(value))) {
      out.push({
        path: here,
        message: `expected ${spec.type === 'int' ? 'a whole number' : 'a number'}, got ${describeValue(value)}`,
        fix: `write a ${spec.type === 'int' ? 'whole number' : 'number'} from ${spec.low} to ${spec.high}`,
      });
      continue;
    }
    if (value < spec.low || value > spec.high) {
      out.push({
        path: here,
        message: `${value} is outside [${spec.low}, ${spec.high}]`,
        fix: `use a value from ${spec.low} to ${spec.high}, or widen the range in space`,
      });
    }
  }
}

interface RawIssue {
  path: string[];
  message: string;
  fix: string;
}

const count = (low: number, high: number) => z.number().int().min(low).max(high);

const EnsembleSchema = z.strictObject({
  by: z
    .string()
    .min(1)
    .default('model')
    .describe('top-level categorical parameter naming the families to combine'),
  members: count(2, 8).default(4).describe('most models in one ensemble'),
  after: count(1, 10_000).default(8).describe('finished trials before the first ensemble'),
  every: count(1, 10_000).default(5).describe('finished trials between two ensemble proposals'),
  within: z
    .number()
    .gt(0)
    .max(10)
    .default(1)
    .describe("a family joins only when its best score is at most this fraction of the incumbent's worse"),
  weights: z
    .enum(['oof', 'equal'])
    .default('oof')
    .describe('oof: weights fitted on out-of-fold predictions of the train split; equal: equal weights'),
  folds: count(2, 20).default(5).describe('folds of the out-of-fold predictions (weights: oof)'),
  anchor: z
    .number()
    .min(0)
    .lt(1)
    .default(0.5)
    .describe("the kept model's share of an ensemble's weight (weights: oof; 0: none)"),
});

/** Zod schema of a search space file. */
export const SearchSpaceSchema = z
  .strictObject({
    params_file: z
      .string()
      .min(1)
      .optional()
      .describe('the params file trials are written to (relative to the worktree)'),
    space: ParamSpaceSchema,
    portfolio: z
      .array(z.record(z.string(), z.unknown()))
      .optional()
      .describe(
        'configurations tried first, in order, after the baseline: params objects nested like the space, values inside it',
      ),
    ensemble: EnsembleSchema.optional().describe(
      "ensembles of the best kept model and the best trial of another family, proposed between TPE's trials",
    ),
  })
  .describe("Search space of Ratchet's built-in search proposer (Optuna TPE)");

/** JSON Schema (draft 2020-12) of a search space file, for editors and docs. */
export function searchSpaceJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(SearchSpaceSchema, { unrepresentable: 'any' }) as Record<string, unknown>;
}

function yamlPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part as string];
  }
  return node;
}

const ALLOWED_KEYS: Record<string, string> = {
  float: 'type, low, high, log, step',
  int: 'type, low, high, log, step',
  categorical: 'type, choices, conditional',
};

/** A number past a bound of the schema (e.g. `ensemble.members: 1` is below 2), with the fix. */
function outOfBounds(
  path: string,
  value: unknown,
  side: 'below' | 'above',
  bound: number | bigint,
  rest: string,
): SpaceIssue {
  return { path, message: `${describeValue(value)} is ${side} ${bound}`, fix: `use ${bound} ${rest}` };
}

function toSpaceIssue(issue: z.core.$ZodIssue, root: unknown): SpaceIssue {
  const path = yamlPath(issue.path);
  const last = issue.path[issue.path.length - 1];
  const value = valueAt(root, issue.path);
  switch (issue.code) {
    case 'custom':
      return { path, message: issue.message, fix: String(issue.params?.[FIX] ?? 'correct the value') };
    case 'unrecognized_keys': {
      const here = valueAt(root, issue.path) as { type?: unknown } | undefined;
      const allowed =
        issue.path.length === 0
          ? 'params_file, space, portfolio, ensemble'
          : issue.path[0] === 'ensemble'
            ? Object.keys(EnsembleSchema.shape).join(', ')
            : (ALLOWED_KEYS[String(here?.type)] ?? 'type and the keys of that type');
      const keys = issue.keys.map((k) => `'${k}'`).join(', ');
      return {
        path,
        message: `unknown key ${keys}`,
        fix: `remove or rename it; allowed keys here: ${allowed}`,
      };
    }
    case 'invalid_union':
      if (last === 'type' || (issue as { note?: string }).note?.includes('discriminator')) {
        const type = last === 'type' ? value : valueAt(value, ['type']);
        return {
          path: last === 'type' ? path : yamlPath([...issue.path, 'type']),
          message: type === undefined ? 'type is missing' : `type is ${describeValue(type)}`,
          fix: 'set type to float, int or categorical',
        };
      }
      if (last === 'choices' || typeof last === 'number') {
        return {
          path,
          message: `a choice is ${describeValue(value)}`,
          fix: 'use strings, numbers, booleans or null',
        };
      }
      return { path, message: issue.message, fix: 'set type to float, int or categorical with its keys' };
    case 'invalid_type': {
      const expected =
        issue.expected === 'record' || issue.expected === 'object' ? 'a mapping' : issue.expected;
      if (value === undefined) {
        return { path, message: `missing ${expected}`, fix: `add ${String(last ?? 'it')}: <${expected}>` };
      }
      return {
        path,
        message: `expected ${expected}, got ${describeValue(value)}`,
        fix: `write ${expected === 'number' ? 'a number' : expected}`,
      };
    }
    case 'too_small':
      if (last === 'choices') {
        return { path, message: 'choices is empty', fix: 'list at least one choice' };
      }
      if (issue.origin === 'number') return outOfBounds(path, value, 'below', issue.minimum, 'or more');
      return { path, message: issue.message, fix: 'use a longer value' };
    case 'too_big':
      if (issue.origin === 'number') return outOfBounds(path, value, 'above', issue.maximum, 'or less');
      return { path, message: issue.message, fix: 'use a shorter value' };
    case 'invalid_value':
      return {
        path,
        message: `${describeValue(value)} is not allowed`,
        fix: `use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
      };
    default:
      return { path, message: issue.message, fix: 'correct the value' };
  }
}

/**
 * Validate an already-parsed search space document.
 * @param doc the parsed YAML (or JSON) document
 * @param file the file name to quote in errors
 * @throws SearchSpaceError naming the file, the YAML path of every bad field and its fix
 */
export function parseSearchSpace(doc: unknown, file = 'search_space.yaml'): SearchSpace {
  const result = SearchSpaceSchema.safeParse(doc);
  const semantic: RawIssue[] = [];
  if (isRaw(doc)) {
    levelIssues(doc.space, ['space'], semantic);
    if (result.success && semantic.length === 0 && isRaw(doc.space) && Array.isArray(doc.portfolio)) {
      doc.portfolio.forEach((entry, i) => {
        if (isRaw(entry)) portfolioIssues(entry, doc.space as ParamSpace, ['portfolio', String(i)], semantic);
      });
    }
    if (result.success && semantic.length === 0 && result.data.ensemble) {
      const by = result.data.ensemble.by;
      const spec = (result.data.space as ParamSpace)[by];
      if (spec?.type !== 'categorical' || !spec.conditional) {
        semantic.push({
          path: ['ensemble', 'by'],
          message: `'${by}' is not a top-level categorical parameter with conditional sections`,
          fix: 'name the parameter that chooses the model family (e.g. model), or remove the ensemble section',
        });
      }
    }
  }
  if (result.success && semantic.length === 0) return result.data as SearchSpace;
  const issues = [
    ...(result.success ? [] : result.error.issues.map((i) => toSpaceIssue(i, doc))),
    ...semantic.map((i) => ({
      path: yamlPath(i.path.map((p) => (/^\d+$/.test(p) ? Number(p) : p))),
      message: i.message,
      fix: i.fix,
    })),
  ];
  const seen = new Set<string>();
  throw new SearchSpaceError(
    file,
    issues
      .filter((i) => {
        const key = `${i.path}|${i.message}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  );
}

/**
 * Read, parse and validate a search space YAML file.
 * @throws SearchSpaceError when the file is missing, is not valid YAML, or does not match the schema
 */
export function loadSearchSpace(path: string): SearchSpace {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SearchSpaceError(path, [
      {
        path: '',
        message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        fix: "create it, or point the contract's search.space at the right file",
      },
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new SearchSpaceError(
      path,
      doc.errors.map((e) => ({
        path: '',
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        fix: 'correct the YAML at that line',
      })),
    );
  }
  return parseSearchSpace(doc.toJS(), path);
}

/** Every Optuna parameter name the space can produce (dotted paths), in file order. */
export function parameterNames(space: ParamSpace, prefix = ''): string[] {
  const names: string[] = [];
  for (const [name, spec] of Object.entries(space)) {
    names.push(prefix + name);
    if (spec.type === 'categorical') {
      for (const [key, sub] of Object.entries(spec.conditional ?? {})) {
        names.push(...parameterNames(sub, `${prefix}${key}.`));
      }
    }
  }
  return names;
}

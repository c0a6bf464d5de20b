/**
 * Composite scores and business proxies (docs/ARCHITECTURE.md, "The metric engine"): a composite score is an
 * expression over metrics and business proxies, e.g. `0.6*ndcg@10 + 0.4*revenue_per_session`.
 *
 * 1. A small, safe expression language, parsed by a hand-written lexer and recursive-descent parser
 *    (no eval, no Function, no property access: the only names are variables and min/max):
 *
 *      expr    := term (('+' | '-') term)*              left-associative
 *      term    := unary (('*' | '/') unary)*            left-associative
 *      unary   := '-' unary | primary
 *      primary := NUMBER | NAME | ('min' | 'max') '(' expr (',' expr)+ ')' | '(' expr ')'
 *      NUMBER  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]  |  '.' digits [exponent]
 *      NAME    := [A-Za-z_][A-Za-z0-9_]* ['@' digits]   (auroc, f1_macro, ndcg@10, profit_per_decision)
 *
 *    Precedence and associativity are those of ordinary arithmetic (and of JavaScript/C); unary minus
 *    binds tighter than * and /. Evaluation is IEEE double arithmetic in the tree's order.
 *
 * 2. Business proxies computed per row from the holdout, each with a prepared weighted form for the
 *    bootstrap: `cost_matrix` (mean value per decision), `column_mean` (mean of a value column) and
 *    `top_fraction_mean` (mean value over the rows the model ranks in its top fraction).
 *
 * 3. Composite evaluation from prepared per-variable evaluators, so that `pairedBootstrapPrepared`
 *    bootstraps a composite with the same resampled units for every part.
 */

import { argsortFloat64 } from './sort.js';
import { CompensatedSum, weightedMean } from './sum.js';
import type { MetricDirection, WeightedMetric } from './types.js';
import { validateWeights } from './validate.js';

// ------------------------------------------------------------------------------------------------
// Expressions

/** A binary operator of the expression language. */
export type BinaryOperator = '+' | '-' | '*' | '/';

/**
 * A node of a parsed expression. `pos` is the 0-based character offset in the source text where the
 * node starts (for an operator node: the operator's offset), used in evaluation errors.
 */
export type Expr =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'variable'; name: string; pos: number }
  | { kind: 'negate'; arg: Expr; pos: number }
  | { kind: 'binary'; op: BinaryOperator; left: Expr; right: Expr; pos: number }
  | { kind: 'call'; fn: 'min' | 'max'; args: Expr[]; pos: number };

/** Longest expression text accepted (characters). */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Deepest nesting of parentheses, calls and unary minus accepted. */
export const MAX_EXPRESSION_DEPTH = 64;

/**
 * A syntax error in an expression: where (0-based character offset), what the parser expected there,
 * and what it found. `message` reads "expression error at position 7: expected ..., found '.'";
 * `pointer` is the source line with a caret under the position, for display.
 */
export class ExpressionError extends Error {
  /** 0-based character offset of the error in the expression text. */
  readonly position: number;
  /** What the parser expected at `position`. */
  readonly expected: string;
  /** What it found there (a quoted token or "the end of the expression"). */
  readonly found: string;
  /** The expression and a caret under `position`. */
  readonly pointer: string;

  constructor(text: string, position: number, expected: string, found: string) {
    super(`expression error at position ${position}: expected ${expected}, found ${found}`);
    this.name = 'ExpressionError';
    this.position = position;
    this.expected = expected;
    this.found = found;
    this.pointer = `${text}\n${' '.repeat(position)}^`;
  }
}

type TokenKind = 'number' | 'name' | 'op' | '(' | ')' | ',' | 'end' | 'invalid';

interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
  value?: number;
}

const NUMBER_RE = /(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*(?:@[0-9]+)?/y;
const FUNCTIONS = new Set(['min', 'max']);

/** The lexer: one token at a time from `pos`; an unknown character becomes an 'invalid' token. */
function lex(text: string, from: number): Token {
  let pos = from;
  while (
    pos < text.length &&
    (text[pos] === ' ' || text[pos] === '\t' || text[pos] === '\n' || text[pos] === '\r')
  )
    pos++;
  if (pos >= text.length) return { kind: 'end', text: '', pos };
  const c = text[pos]!;
  if (c === '+' || c === '-' || c === '*' || c === '/') return { kind: 'op', text: c, pos };
  if (c === '(' || c === ')' || c === ',') return { kind: c, text: c, pos };
  NUMBER_RE.lastIndex = pos;
  const num = NUMBER_RE.exec(text);
  if (num !== null) return { kind: 'number', text: num[0], pos, value: Number(num[0]) };
  NAME_RE.lastIndex = pos;
  const name = NAME_RE.exec(text);
  if (name !== null) return { kind: 'name', text: name[0], pos };
  const cp = text.codePointAt(pos)!;
  return { kind: 'invalid', text: String.fromCodePoint(cp), pos };
}

function describeToken(t: Token): string {
  return t.kind === 'end' ? 'the end of the expression' : `'${t.text}'`;
}

class Parser {
  private tok: Token;
  private depth = 0;

  constructor(private readonly text: string) {
    this.tok = lex(text, 0);
  }

  /** The current token's kind (a call, so that TypeScript does not narrow it across `advance`). */
  private kind(): TokenKind {
    return this.tok.kind;
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = lex(this.text, t.pos + t.text.length);
    return t;
  }

  private fail(expected: string, at: Token = this.tok): never {
    throw new ExpressionError(this.text, at.pos, expected, describeToken(at));
  }

  private enter(at: Token): void {
    if (++this.depth > MAX_EXPRESSION_DEPTH) {
      throw new ExpressionError(
        this.text,
        at.pos,
        `at most ${MAX_EXPRESSION_DEPTH} levels of nesting`,
        describeToken(at),
      );
    }
  }

  parseAll(): Expr {
    const e = this.parseSum();
    if (this.tok.kind !== 'end') this.fail('an operator (+ - * /) or the end of the expression');
    return e;
  }

  private parseSum(): Expr {
    let left = this.parseProduct();
    while (this.tok.kind === 'op' && (this.tok.text === '+' || this.tok.text === '-')) {
      const op = this.advance();
      const right = this.parseProduct();
      left = { kind: 'binary', op: op.text as BinaryOperator, left, right, pos: op.pos };
    }
    return left;
  }

  private parseProduct(): Expr {
    let left = this.parseUnary();
    while (this.tok.kind === 'op' && (this.tok.text === '*' || this.tok.text === '/')) {
      const op = this.advance();
      const right = this.parseUnary();
      left = { kind: 'binary', op: op.text as BinaryOperator, left, right, pos: op.pos };
    }
    return left;
  }

  private parseUnary(): Expr {
    if (this.tok.kind === 'op' && this.tok.text === '-') {
      const op = this.advance();
      this.enter(op);
      const arg = this.parseUnary();
      this.depth--;
      return { kind: 'negate', arg, pos: op.pos };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    if (t.kind === 'number') {
      this.advance();
      if (!Number.isFinite(t.value!)) this.fail('a finite number', t);
      return { kind: 'number', value: t.value!, pos: t.pos };
    }
    if (t.kind === 'name') {
      this.advance();
      if (FUNCTIONS.has(t.text)) return this.parseCall(t);
      if (this.tok.kind === '(') {
        this.fail(`a metric or proxy name, or min(...) / max(...) (unknown function '${t.text}')`, t);
      }
      return { kind: 'variable', name: t.text, pos: t.pos };
    }
    if (t.kind === '(') {
      this.advance();
      this.enter(t);
      const e = this.parseSum();
      if (this.tok.kind !== ')') this.fail("an operator (+ - * /) or ')'");
      this.advance();
      this.depth--;
      return e;
    }
    return this.fail("a number, a metric or proxy name, min(, max(, '(' or '-'");
  }

  private parseCall(name: Token): Expr {
    if (this.kind() !== '(') this.fail(`'(' after ${name.text}`);
    this.enter(this.advance());
    const args = [this.parseSum()];
    while (this.kind() === ',') {
      this.advance();
      args.push(this.parseSum());
    }
    if (this.kind() !== ')') {
      this.fail(
        args.length < 2
          ? `',' (${name.text} takes at least two arguments)`
          : "an operator (+ - * /), ',' or ')'",
      );
    }
    if (args.length < 2) this.fail(`',' (${name.text} takes at least two arguments)`);
    this.advance();
    this.depth--;
    return { kind: 'call', fn: name.text as 'min' | 'max', args, pos: name.pos };
  }
}

/**
 * Parses an expression of the composite language (grammar in the module doc).
 * @param text e.g. `0.6*ndcg@10 + 0.4*revenue_per_session`, `min(auroc, 0.9) - 0.1*ece`.
 * @returns the expression tree.
 * @throws ExpressionError (position, expected, found) for anything outside the grammar, e.g.
 *   `process.exit()` (position 7: '.' where an operator or the end was expected), an unknown function,
 *   a dangling operator, unbalanced parentheses, a non-finite literal, more than
 *   MAX_EXPRESSION_DEPTH nested levels or more than MAX_EXPRESSION_LENGTH characters.
 */
export function parseExpression(text: string): Expr {
  if (typeof text !== 'string') throw new TypeError('parseExpression: the expression must be a string');
  if (text.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(
      text.slice(0, 80),
      0,
      `at most ${MAX_EXPRESSION_LENGTH} characters`,
      `${text.length} characters`,
    );
  }
  return new Parser(text).parseAll();
}

/**
 * The variable names (metric and proxy names) an expression reads, each once, in order of first
 * appearance (left to right).
 */
export function variables(expr: Expr): string[] {
  const seen = new Set<string>();
  const walk = (e: Expr): void => {
    if (e.kind === 'variable') seen.add(e.name);
    else if (e.kind === 'negate') walk(e.arg);
    else if (e.kind === 'binary') {
      walk(e.left);
      walk(e.right);
    } else if (e.kind === 'call') for (const a of e.args) walk(a);
  };
  walk(expr);
  return [...seen];
}

const PRECEDENCE: Record<BinaryOperator, number> = { '+': 1, '-': 1, '*': 2, '/': 2 };

/**
 * Canonical text of an expression with the fewest parentheses that keep its tree: parsing the
 * result gives the same tree (up to positions). Numbers are written as JavaScript's shortest
 * round-trip form.
 */
export function formatExpression(expr: Expr): string {
  const fmt = (e: Expr, parentPrec: number, rightOperand: boolean): string => {
    switch (e.kind) {
      case 'number':
        return String(e.value);
      case 'variable':
        return e.name;
      case 'negate':
        return `-${fmt(e.arg, 3, false)}`;
      case 'call':
        return `${e.fn}(${e.args.map((a) => fmt(a, 0, false)).join(', ')})`;
      case 'binary': {
        const p = PRECEDENCE[e.op];
        const s = `${fmt(e.left, p, false)} ${e.op} ${fmt(e.right, p, true)}`;
        return p < parentPrec || (p === parentPrec && rightOperand) ? `(${s})` : s;
      }
    }
  };
  return fmt(expr, 0, false);
}

type Compiled = (values: Float64Array) => number;

/** Compiles a tree into closures over a dense vector of variable values (indexed as in `names`). */
function compile(expr: Expr, names: readonly string[]): Compiled {
  const index = new Map(names.map((n, i) => [n, i]));
  const build = (e: Expr): Compiled => {
    switch (e.kind) {
      case 'number': {
        const v = e.value;
        return () => v;
      }
      case 'variable': {
        const i = index.get(e.name)!;
        return (x) => x[i]!;
      }
      case 'negate': {
        const a = build(e.arg);
        return (x) => -a(x);
      }
      case 'call': {
        const args = e.args.map(build);
        const f = e.fn === 'min' ? Math.min : Math.max;
        return (x) => {
          let r = args[0]!(x);
          for (let j = 1; j < args.length; j++) r = f(r, args[j]!(x));
          return r;
        };
      }
      case 'binary': {
        const l = build(e.left);
        const r = build(e.right);
        const pos = e.pos;
        switch (e.op) {
          case '+':
            return (x) => l(x) + r(x);
          case '-':
            return (x) => l(x) - r(x);
          case '*':
            return (x) => l(x) * r(x);
          case '/':
            return (x) => {
              const a = l(x);
              const b = r(x);
              if (b === 0) throw new RangeError(`composite: division by zero (the '/' at position ${pos})`);
              return a / b;
            };
        }
      }
    }
  };
  return build(expr);
}

function finiteResult(v: number): number {
  if (!Number.isFinite(v)) throw new RangeError(`composite: the expression evaluates to ${v}`);
  return v;
}

/**
 * Evaluates an expression in IEEE double arithmetic, in the tree's order.
 * @param values the value of every variable (own properties only: `constructor` or `__proto__` are
 *   ordinary names, never looked up on Object.prototype).
 * @returns the finite value.
 * @throws Error when a variable has no value; RangeError when a value is not a finite number, on a
 *   division by zero (naming the operator's position), or when the result is not finite.
 */
export function evaluate(expr: Expr, values: Readonly<Record<string, number>>): number {
  const names = variables(expr);
  const x = new Float64Array(names.length);
  names.forEach((name, i) => {
    if (!Object.hasOwn(values, name)) throw new Error(`composite: no value for '${name}'`);
    const v = values[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new RangeError(
        `composite: the value of '${name}' is ${String(v)}; values must be finite numbers`,
      );
    }
    x[i] = v;
  });
  return finiteResult(compile(expr, names)(x));
}

// ------------------------------------------------------------------------------------------------
// Composite scores

/**
 * The direction of a composite score: 'maximize' unless the user says otherwise (a composite is
 * written as a score to raise, e.g. revenue or NDCG; a cost composite is declared 'minimize').
 * @throws RangeError for anything but undefined, 'maximize' or 'minimize'.
 */
export function compositeDirection(direction?: MetricDirection): MetricDirection {
  if (direction === undefined) return 'maximize';
  if (direction !== 'maximize' && direction !== 'minimize') {
    throw new RangeError(`composite: direction must be 'maximize' or 'minimize', got ${String(direction)}`);
  }
  return direction;
}

/** A parsed composite score: its text, tree, variables and direction. */
export interface Composite {
  text: string;
  expr: Expr;
  /** The metric and proxy names it reads, in order of first appearance. */
  variables: string[];
  direction: MetricDirection;
}

/**
 * Parses a composite score and fixes its direction (`compositeDirection`).
 * @throws ExpressionError for a syntax error; RangeError for a bad direction.
 */
export function parseComposite(text: string, direction?: MetricDirection): Composite {
  const expr = parseExpression(text);
  return { text, expr, variables: variables(expr), direction: compositeDirection(direction) };
}

/**
 * The weighted evaluation of a composite for the bootstrap: every variable's prepared evaluator is
 * called with the same weights (so all parts see the same resample), then the expression is
 * evaluated on their values, exactly as `evaluate` would.
 * @param expr the parsed expression.
 * @param evaluators a prepared evaluator per variable (e.g. `prepareMetric(name, input)` for a metric,
 *   `prepareProxy(def, data)` for a proxy); all must take weights over the same units (rows, or
 *   queries: wrap per-row evaluators of a ranking task with `rowEvaluatorByQuery`).
 * @returns `(weights) => composite value`; it throws a RangeError where a part is undefined, on a
 *   division by zero or a non-finite result (the bootstrap redraws such a resample).
 * @throws Error naming the variables that have no evaluator.
 */
export function prepareComposite(
  expr: Expr,
  evaluators: Readonly<Record<string, WeightedMetric>>,
): WeightedMetric {
  const names = variables(expr);
  const missing = names.filter((n) => !Object.hasOwn(evaluators, n) || typeof evaluators[n] !== 'function');
  if (missing.length > 0)
    throw new Error(`composite: no evaluator for ${missing.map((m) => `'${m}'`).join(', ')}`);
  const fns = names.map((n) => evaluators[n]!);
  const run = compile(expr, names);
  const x = new Float64Array(names.length);
  return (weights) => {
    for (let i = 0; i < fns.length; i++) {
      const v = fns[i]!(weights);
      if (!Number.isFinite(v)) throw new RangeError(`composite: '${names[i]}' evaluates to ${v}`);
      x[i] = v;
    }
    return finiteResult(run(x));
  };
}

/**
 * Adapts a per-row evaluator to per-query weights (ranking tasks): query j's weight is given to each
 * of its rows, so a row-level proxy is resampled with its query (the cluster bootstrap's semantics).
 * @param fn an evaluator of n per-row weights.
 * @param query n query indices in 0..q-1.
 * @returns an evaluator of q per-query weights (null = unweighted).
 */
export function rowEvaluatorByQuery(fn: WeightedMetric, query: Int32Array): WeightedMetric {
  const n = query.length;
  let q = 0;
  for (let i = 0; i < n; i++) {
    if (!(query[i]! >= 0)) throw new RangeError(`rowEvaluatorByQuery: query[${i}] = ${query[i]} is not >= 0`);
    if (query[i]! + 1 > q) q = query[i]! + 1;
  }
  const rows = new Float64Array(n);
  return (weights) => {
    if (weights === null) return fn(null);
    validateWeights('rowEvaluatorByQuery', weights, q);
    for (let i = 0; i < n; i++) rows[i] = weights[query[i]!]!;
    return fn(rows);
  };
}

// ------------------------------------------------------------------------------------------------
// Business proxies

/** Value of each decision outcome, e.g. profit: { tp: 120, fp: -30, fn: -80, tn: 0 }. */
export interface CostMatrix {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** A business proxy computed per row from the holdout (see the functions of each kind). */
export type ProxyDefinition =
  | { kind: 'cost_matrix'; matrix: CostMatrix; threshold?: number }
  | { kind: 'column_mean'; column: string }
  | { kind: 'top_fraction_mean'; column: string; fraction: number };

/** The holdout data a proxy reads. */
export interface ProxyData {
  /** n binary labels (0/1): needed by cost_matrix. */
  y?: Uint8Array;
  /** n model scores or probabilities: thresholded by cost_matrix, ranked by top_fraction_mean. */
  p?: Float64Array;
  /** Numeric per-row columns of the holdout by name (column_mean, top_fraction_mean). */
  columns?: Readonly<Record<string, Float64Array>>;
}

function proxyFail(msg: string): never {
  throw new RangeError(msg);
}

function checkFiniteArray(what: string, a: Float64Array, n: number): void {
  if (!(a instanceof Float64Array)) proxyFail(`${what} must be a Float64Array`);
  if (a.length !== n) proxyFail(`${what} has ${a.length} rows, expected ${n}`);
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(a[i]!)) proxyFail(`${what}[${i}] is ${a[i]}; values must be finite`);
}

/**
 * Per-row values of a cost matrix: with the decision d = (p > threshold), row i is worth tp (y = 1,
 * d), fp (y = 0, d), fn (y = 1, not d) or tn (y = 0, not d). (Elkan 2001, "The foundations of
 * cost-sensitive learning", IJCAI: the expected value of decisions under a cost/benefit matrix.)
 * @throws RangeError for invalid labels, scores, matrix or threshold.
 */
export function costMatrixTerms(
  y: Uint8Array,
  p: Float64Array,
  matrix: CostMatrix,
  threshold = 0.5,
): Float64Array {
  if (!(y instanceof Uint8Array)) proxyFail('cost_matrix: y must be a Uint8Array of 0/1 labels');
  const n = y.length;
  if (n === 0) proxyFail('cost_matrix: no rows');
  checkFiniteArray('cost_matrix: p', p, n);
  for (const k of ['tp', 'fp', 'fn', 'tn'] as const) {
    if (typeof matrix?.[k] !== 'number' || !Number.isFinite(matrix[k])) {
      proxyFail(`cost_matrix: matrix.${k} must be a finite number, got ${String(matrix?.[k])}`);
    }
  }
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    proxyFail(`cost_matrix: threshold must be a finite number, got ${String(threshold)}`);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const yi = y[i]!;
    if (yi > 1) proxyFail(`cost_matrix: y[${i}] = ${yi} is not a binary label (0 or 1)`);
    const d = p[i]! > threshold;
    out[i] = yi === 1 ? (d ? matrix.tp : matrix.fn) : d ? matrix.fp : matrix.tn;
  }
  return out;
}

/**
 * Prepared cost-matrix proxy: the weighted mean value per decision, sum_i w_i value_i / sum_i w_i
 * (numpy.average of `costMatrixTerms`), e.g. profit_per_decision.
 * @returns an evaluator of n per-row weights (null = each row once); it validates the weights.
 * @throws as `costMatrixTerms`.
 */
export function prepareCostMatrix(
  y: Uint8Array,
  p: Float64Array,
  matrix: CostMatrix,
  threshold = 0.5,
): WeightedMetric {
  const terms = costMatrixTerms(y, p, matrix, threshold);
  return (weights) => {
    if (weights !== null) validateWeights('cost_matrix', weights, terms.length);
    return weightedMean(terms, weights);
  };
}

/**
 * Prepared column mean: sum_i w_i value_i / sum_i w_i (numpy.average). Model-independent unless
 * the column is derived from the predictions; useful as a normaliser, e.g. the lift
 * `top_revenue / mean_revenue`.
 * @throws RangeError for an empty column or a non-finite value.
 */
export function prepareColumnMean(values: Float64Array): WeightedMetric {
  if (values?.length === 0) proxyFail('column_mean: no rows');
  checkFiniteArray('column_mean: column', values, values?.length ?? 0);
  return (weights) => {
    if (weights !== null) validateWeights('column_mean', weights, values.length);
    return weightedMean(values, weights);
  };
}

/**
 * Prepared top-fraction mean: the weighted mean of `value` over the rows the model ranks in its top
 * `fraction` (by descending `score`), i.e. over the first C = fraction * W units of weight (W the
 * total weight). A group of tied scores straddling the cut enters with the share of its weight that
 * fits, every tied row in the same proportion, so the value never depends on the order of the rows;
 * this is the upper-tail mean with a fractional boundary atom of the expected shortfall (Acerbi &
 * Tasche 2002, "On the coherence of expected shortfall", J. Banking & Finance 26:1487). With unit
 * weights and fraction * n an integer m, and no tie at the cut, it is the plain mean of the top m
 * rows' values.
 * @param value n finite values (e.g. revenue per row).
 * @param score n finite model scores.
 * @param fraction in (0, 1].
 * @returns an evaluator of n per-row weights (null = each row once); it validates the weights.
 * @throws RangeError for invalid arrays or fraction.
 */
export function prepareTopFractionMean(
  value: Float64Array,
  score: Float64Array,
  fraction: number,
): WeightedMetric {
  const n = value?.length ?? 0;
  if (n === 0) proxyFail('top_fraction_mean: no rows');
  checkFiniteArray('top_fraction_mean: column', value, n);
  checkFiniteArray('top_fraction_mean: score', score, n);
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1)) {
    proxyFail(`top_fraction_mean: fraction must be in (0, 1], got ${String(fraction)}`);
  }
  const order = argsortFloat64(score); // ascending; walked from the end
  const groupStart = new Uint8Array(n); // 1 at the descending walk's last row of a tie group
  for (let t = 0; t < n; t++) groupStart[t] = t === 0 || score[order[t - 1]!]! !== score[order[t]!]! ? 1 : 0;
  return (weights) => {
    if (weights !== null) validateWeights('top_fraction_mean', weights, n);
    let W: number;
    if (weights === null) W = n;
    else {
      const s = new CompensatedSum();
      for (let i = 0; i < n; i++) s.add(weights[i]!);
      W = s.value;
    }
    const cut = fraction * W;
    const acc = new CompensatedSum();
    let taken = 0;
    let gw = 0;
    let gv = 0;
    for (let t = n - 1; t >= 0; t--) {
      const r = order[t]!;
      const w = weights === null ? 1 : weights[r]!;
      gw += w;
      gv += w * value[r]!;
      if (groupStart[t] === 1) {
        if (gw > 0) {
          if (taken + gw <= cut) {
            acc.add(gv);
            taken += gw;
          } else {
            acc.add(((cut - taken) / gw) * gv);
            taken = cut;
          }
        }
        if (taken >= cut) break;
        gw = 0;
        gv = 0;
      }
    }
    return acc.value / cut;
  };
}

/**
 * Prepares a business proxy on the holdout: `cost_matrix` (needs y and p; threshold default 0.5),
 * `column_mean` (needs the column) or `top_fraction_mean` (needs the column and p).
 * @returns an evaluator of n per-row weights (null = each row once), for `prepareComposite` and the
 *   bootstrap.
 * @throws RangeError for an unknown kind, missing or invalid data, or invalid parameters.
 */
export function prepareProxy(def: ProxyDefinition, data: ProxyData): WeightedMetric {
  const column = (name: string): Float64Array => {
    const c =
      data.columns !== undefined && Object.hasOwn(data.columns, name) ? data.columns[name] : undefined;
    if (c === undefined) proxyFail(`${def.kind}: no column '${name}' in the holdout data`);
    return c;
  };
  switch (def?.kind) {
    case 'cost_matrix':
      if (data.y === undefined || data.p === undefined) proxyFail('cost_matrix: needs labels y and scores p');
      return prepareCostMatrix(data.y, data.p, def.matrix, def.threshold ?? 0.5);
    case 'column_mean':
      return prepareColumnMean(column(def.column));
    case 'top_fraction_mean':
      if (data.p === undefined) proxyFail('top_fraction_mean: needs the model scores p');
      return prepareTopFractionMean(column(def.column), data.p, def.fraction);
    default:
      return proxyFail(
        `unknown proxy kind '${String((def as { kind?: unknown })?.kind)}'; valid kinds: cost_matrix, column_mean, top_fraction_mean`,
      );
  }
}

/**
 * Computes a business proxy once (see `prepareProxy`), optionally under n per-row weights.
 * @throws as `prepareProxy`, and RangeError for invalid weights.
 */
export function computeProxy(def: ProxyDefinition, data: ProxyData, weights?: Float64Array): number {
  return prepareProxy(def, data)(weights ?? null);
}

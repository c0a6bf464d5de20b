/**
 * Composite scores: the expression parser (precedence, errors with positions, nothing outside the
 * grammar), evaluation, business proxies against hand computations and the numpy references of
 * generate_fixtures.py (proxies.json), and the composite's weighted evaluation and bootstrap.
 */

import { describe, expect, it } from 'vitest';
import {
  compositeDirection,
  computeProxy,
  costMatrixTerms,
  type Expr,
  ExpressionError,
  evaluate,
  formatExpression,
  MAX_EXPRESSION_DEPTH,
  type ProxyDefinition,
  parseComposite,
  parseExpression,
  prepareColumnMean,
  prepareComposite,
  prepareCostMatrix,
  prepareProxy,
  prepareTopFractionMean,
  rowEvaluatorByQuery,
  variables,
} from '../../src/metrics/composite.js';
import {
  type BinaryInput,
  computeMetric,
  pairedBootstrap,
  pairedBootstrapPrepared,
  prepareMetric,
  type RankingInput,
  Xoshiro128,
} from '../../src/metrics/index.js';
import { close, loadFixtureFile } from './helpers.js';

const value = (text: string, values: Record<string, number> = {}) => evaluate(parseExpression(text), values);

/** The tree without positions, for shape comparisons. */
function shape(e: Expr): unknown {
  switch (e.kind) {
    case 'number':
      return e.value;
    case 'variable':
      return e.name;
    case 'negate':
      return ['neg', shape(e.arg)];
    case 'binary':
      return [e.op, shape(e.left), shape(e.right)];
    case 'call':
      return [e.fn, ...e.args.map(shape)];
  }
}

function syntaxError(text: string): ExpressionError {
  try {
    parseExpression(text);
  } catch (err) {
    if (err instanceof ExpressionError) return err;
    throw err;
  }
  throw new Error(`'${text}' parsed without error`);
}

describe('parseExpression', () => {
  it('follows arithmetic precedence and left associativity', () => {
    expect(value('1 + 2 * 3')).toBe(7);
    expect(value('(1 + 2) * 3')).toBe(9);
    expect(value('2 - 3 - 4')).toBe(-5);
    expect(value('2 - (3 - 4)')).toBe(3);
    expect(value('8 / 4 / 2')).toBe(1);
    expect(value('8 / (4 / 2)')).toBe(4);
    expect(value('-2 * 3 + -4')).toBe(-10);
    expect(value('--2')).toBe(2);
    expect(value('2 * -3')).toBe(-6);
    expect(value('2 - -3')).toBe(5);
    expect(value('1 - 2 * 3 / 4 + 5')).toBe(1 - (2 * 3) / 4 + 5);
    expect(value('min(1, 2) + max(3, 4) * 2')).toBe(9);
    expect(value('max(1, min(5, 2), 0.5)')).toBe(2);
    expect(value('.5 + 1. + 1e-3 + 2.5E+2')).toBe(0.5 + 1 + 1e-3 + 250);
    expect(shape(parseExpression('a + b * c'))).toEqual(['+', 'a', ['*', 'b', 'c']]);
    expect(shape(parseExpression('a * b + c'))).toEqual(['+', ['*', 'a', 'b'], 'c']);
    expect(shape(parseExpression('a - b - c'))).toEqual(['-', ['-', 'a', 'b'], 'c']);
    expect(shape(parseExpression('-a * b'))).toEqual(['*', ['neg', 'a'], 'b']);
  });

  it('reads metric and proxy names, ndcg@k included, and lists them once', () => {
    const c = parseComposite('0.6*ndcg@10 + 0.4*revenue_per_session - 0.1*min(f1_macro, ndcg@10)');
    expect(c.variables).toEqual(['ndcg@10', 'revenue_per_session', 'f1_macro']);
    expect(variables(parseExpression('2 * 3'))).toEqual([]);
    expect(c.direction).toBe('maximize');
    expect(evaluate(c.expr, { 'ndcg@10': 0.5, revenue_per_session: 12, f1_macro: 0.7 })).toBe(
      0.6 * 0.5 + 0.4 * 12 - 0.1 * Math.min(0.7, 0.5),
    );
    const e = parseExpression('auroc\t*\n(1 - ece)');
    expect(shape(e)).toEqual(['*', 'auroc', ['-', 1, 'ece']]);
    expect(e.pos).toBe(6); // the '*'
  });

  it('reports the position, what was expected and what was found', () => {
    const cases: Array<[string, number, RegExp, string]> = [
      ['1 +', 3, /a number, a metric or proxy name/, 'the end of the expression'],
      ['', 0, /a number, a metric or proxy name/, 'the end of the expression'],
      ['auroc * (f1 + 1', 15, /an operator \(\+ - \* \/\) or '\)'/, 'the end of the expression'],
      ['auroc 0.5', 6, /an operator \(\+ - \* \/\) or the end of the expression/, "'0.5'"],
      ['2auroc', 1, /an operator/, "'auroc'"],
      ['auroc)', 5, /an operator/, "')'"],
      ['min(auroc)', 9, /',' \(min takes at least two arguments\)/, "')'"],
      ['max auroc', 4, /'\(' after max/, "'auroc'"],
      ['max(1, 2', 8, /an operator \(\+ - \* \/\), ',' or '\)'/, 'the end of the expression'],
      ['1 * * 2', 4, /a number/, "'*'"],
      ['+1', 0, /a number/, "'+'"],
      ['ndcg@', 4, /an operator/, "'@'"],
      ['1e999', 0, /a finite number/, "'1e999'"],
      ['a ^ 2', 2, /an operator/, "'^'"],
      ['a ≥ 2', 2, /an operator/, "'≥'"],
    ];
    for (const [text, pos, expected, found] of cases) {
      const err = syntaxError(text);
      expect(err.position, text).toBe(pos);
      expect(err.expected, text).toMatch(expected);
      expect(err.found, text).toBe(found);
      expect(err.message, text).toBe(
        `expression error at position ${pos}: expected ${err.expected}, found ${found}`,
      );
      expect(err.pointer, text).toBe(`${text}\n${' '.repeat(pos)}^`);
    }
  });

  it('rejects anything outside the grammar: no calls, property access, strings or statements', () => {
    const rejected: Array<[string, number]> = [
      ['process.exit()', 7],
      ['exit()', 0],
      ['eval("1")', 0],
      ['Function("return 1")()', 0],
      ['constructor.constructor("x")()', 11],
      ['auroc; process.exit(1)', 5],
      ['a[0]', 1],
      ['`x`', 0],
      ['"auroc"', 0],
      ['a = 1', 2],
      ['a => a', 2],
      ['import("fs")', 0],
      ['this', -1],
      ['min', 3],
      ['1 // comment', 3],
    ];
    for (const [text, pos] of rejected) {
      if (pos < 0) {
        // a plain name is a variable: parsing succeeds, evaluation asks for its value
        expect(() => value(text)).toThrow(`composite: no value for '${text}'`);
        continue;
      }
      expect(syntaxError(text).position, text).toBe(pos);
    }
    expect(syntaxError('exit()').expected).toMatch(/unknown function 'exit'/);
    // Object.prototype names are ordinary variables, looked up only as own properties
    expect(() => value('constructor + toString')).toThrow("composite: no value for 'constructor'");
    expect(value('__proto__ * 2', JSON.parse('{"__proto__": 3}'))).toBe(6);
  });

  it('bounds nesting and length', () => {
    const deep = `${'('.repeat(MAX_EXPRESSION_DEPTH)}1${')'.repeat(MAX_EXPRESSION_DEPTH)}`;
    expect(value(deep)).toBe(1);
    const tooDeep = `${'('.repeat(MAX_EXPRESSION_DEPTH + 1)}1${')'.repeat(MAX_EXPRESSION_DEPTH + 1)}`;
    expect(syntaxError(tooDeep).position).toBe(MAX_EXPRESSION_DEPTH);
    expect(syntaxError('-'.repeat(100) + '1').expected).toMatch(/levels of nesting/);
    expect(syntaxError(`1${' + 1'.repeat(2000)}`).expected).toMatch(/at most 4096 characters/);
    expect(value(`1${' + 1'.repeat(1000)}`)).toBe(1001); // long flat sums are not nesting
  });

  it('formatExpression round-trips the tree with minimal parentheses', () => {
    for (const text of [
      'a + b * c',
      '(a + b) * c',
      'a - (b - c)',
      'a - b - c',
      'a / (b * c)',
      '-(a + b)',
      '- -a',
      'min(a, max(b, 2.5)) * -ndcg@10',
      '0.6 * ndcg@10 + 0.4 * revenue_per_session',
    ]) {
      const e = parseExpression(text);
      const f = formatExpression(e);
      expect(shape(parseExpression(f)), `${text} -> ${f}`).toEqual(shape(e));
    }
    expect(formatExpression(parseExpression('((a)) + (b * (c))'))).toBe('a + b * c');
    expect(formatExpression(parseExpression('a - (b + c)'))).toBe('a - (b + c)');
  });
});

describe('evaluate', () => {
  it('needs a finite value for every variable and a non-zero divisor', () => {
    expect(() => value('auroc + ece', { auroc: 0.8 })).toThrow("composite: no value for 'ece'");
    expect(() => value('auroc', { auroc: Number.NaN })).toThrow(RangeError);
    expect(() => value('1 / (auroc - 0.8)', { auroc: 0.8 })).toThrow(
      "composite: division by zero (the '/' at position 2)",
    );
    expect(() => value('1e300 * 1e300')).toThrow(/evaluates to Infinity/);
    expect(value('0 / 5')).toBe(0);
  });

  it('composite direction: maximize unless the user says otherwise', () => {
    expect(compositeDirection()).toBe('maximize');
    expect(compositeDirection('minimize')).toBe('minimize');
    expect(parseComposite('cost_per_decision', 'minimize').direction).toBe('minimize');
    // biome-ignore lint/suspicious/noExplicitAny: an invalid direction on purpose
    expect(() => compositeDirection('up' as any)).toThrow(/direction must be/);
  });
});

interface ProxyCase {
  kind: 'cost_matrix' | 'column_mean' | 'top_fraction_mean';
  matrix?: string;
  threshold?: number;
  column?: string;
  fraction?: number;
  weights: 'none' | 'sample_weight' | 'multiplicity';
  scores?: 'p' | 'p_ties';
  expected: number;
}

interface ProxyFixture {
  y: number[];
  p: number[];
  p_ties: number[];
  columns: Record<string, number[]>;
  weights: Record<string, number[]>;
  matrices: Record<string, { tp: number; fp: number; fn: number; tn: number }>;
  cases: ProxyCase[];
}

describe('business proxies', () => {
  it('cost matrix: hand computation', () => {
    const y = Uint8Array.of(1, 0, 1, 0);
    const p = Float64Array.of(0.9, 0.8, 0.3, 0.1); // tp, fp, fn, tn at 0.5
    const profit = { tp: 120, fp: -30, fn: -80, tn: 0 };
    expect(Array.from(costMatrixTerms(y, p, profit))).toEqual([120, -30, -80, 0]);
    const fn = prepareCostMatrix(y, p, profit);
    expect(fn(null)).toBe((120 - 30 - 80 + 0) / 4);
    expect(fn(Float64Array.of(2, 1, 0, 1))).toBe((240 - 30 + 0) / 4);
    // threshold 0.2 decides yes for rows 0..2: tp, fp, tp, tn
    expect(prepareCostMatrix(y, p, profit, 0.2)(null)).toBe((120 - 30 + 120 + 0) / 4);
    expect(() => costMatrixTerms(y, p, { ...profit, tn: Number.NaN })).toThrow(/matrix.tn must be a finite/);
    expect(() => costMatrixTerms(Uint8Array.of(1, 2, 0, 0), p, profit)).toThrow(/y\[1\] = 2/);
  });

  it('top-fraction mean: hand computation, ties shared at the cut, weights as multiplicities', () => {
    const v = Float64Array.from({ length: 10 }, (_, i) => 10 * (i + 1)); // 10..100
    const s = Float64Array.from({ length: 10 }, (_, i) => i); // row 9 ranks first
    expect(prepareTopFractionMean(v, s, 0.2)(null)).toBe((100 + 90) / 2);
    expect(prepareTopFractionMean(v, s, 0.25)(null)).toBe((100 + 90 + 0.5 * 80) / 2.5);
    expect(prepareTopFractionMean(v, s, 1)(null)).toBe(55);
    // rows 7 and 8 tie below row 9: a cut at 2 rows takes half of each
    const t = s.slice();
    t[7] = 8;
    expect(prepareTopFractionMean(v, t, 0.2)(null)).toBe((100 + 0.5 * (80 + 90)) / 2);
    // integer weights equal the rows repeated
    const w = Float64Array.of(0, 1, 2, 0, 3, 1, 0, 2, 1, 1);
    const reps = Array.from(w).flatMap((k, i) => Array<number>(k).fill(i));
    const rv = Float64Array.from(reps, (i) => v[i]!);
    const rs = Float64Array.from(reps, (i) => t[i]!);
    for (const f of [0.1, 0.2, 0.3, 0.55, 1]) {
      expect(
        close(prepareTopFractionMean(v, t, f)(w), prepareTopFractionMean(rv, rs, f)(null), 1e-15),
        `${f}`,
      ).toBe(true);
    }
    expect(() => prepareTopFractionMean(v, s, 0)).toThrow(/fraction must be in \(0, 1\]/);
    expect(() => prepareTopFractionMean(v, s, 1.5)).toThrow(RangeError);
    expect(() => prepareTopFractionMean(v, s.subarray(1), 0.5)).toThrow(/score has 9 rows, expected 10/);
  });

  const fx = loadFixtureFile<ProxyFixture>('proxies');
  const data = {
    y: Uint8Array.from(fx.y),
    p: Float64Array.from(fx.p),
    columns: Object.fromEntries(Object.entries(fx.columns).map(([k, v]) => [k, Float64Array.from(v)])),
  };
  const weightsOf = (name: string) => (name === 'none' ? undefined : Float64Array.from(fx.weights[name]!));

  it(`match the numpy references (${fx.cases.length} cases)`, () => {
    expect(fx.cases.length).toBeGreaterThanOrEqual(60);
    for (const c of fx.cases) {
      const p = c.scores === 'p_ties' ? Float64Array.from(fx.p_ties) : data.p;
      let def: ProxyDefinition;
      if (c.kind === 'cost_matrix')
        def = { kind: 'cost_matrix', matrix: fx.matrices[c.matrix!]!, threshold: c.threshold! };
      else if (c.kind === 'column_mean') def = { kind: 'column_mean', column: c.column! };
      else def = { kind: 'top_fraction_mean', column: c.column!, fraction: c.fraction! };
      const actual = computeProxy(def, { ...data, p }, weightsOf(c.weights));
      expect(close(actual, c.expected), `${JSON.stringify(c)}: ${actual}`).toBe(true);
    }
  });

  it('prepareProxy checks its data', () => {
    expect(() => prepareProxy({ kind: 'column_mean', column: 'nope' }, data)).toThrow(/no column 'nope'/);
    expect(() => prepareProxy({ kind: 'column_mean', column: 'toString' }, data)).toThrow(
      /no column 'toString'/,
    );
    expect(() =>
      prepareProxy({ kind: 'cost_matrix', matrix: { tp: 1, fp: 0, fn: 0, tn: 0 } }, { p: data.p }),
    ).toThrow(/needs labels y and scores p/);
    // biome-ignore lint/suspicious/noExplicitAny: an invalid kind on purpose
    expect(() => prepareProxy({ kind: 'lift' } as any, data)).toThrow(/unknown proxy kind 'lift'/);
    const bad = data.columns.revenue!.slice();
    bad[3] = Number.POSITIVE_INFINITY;
    expect(() => prepareColumnMean(bad)).toThrow(/column\[3\] is Infinity/);
    expect(() => prepareColumnMean(data.columns.revenue!)(new Float64Array(3))).toThrow(
      /weights have 3 rows/,
    );
  });
});

describe('composite weighted evaluation and bootstrap', () => {
  const rng = new Xoshiro128(31);
  const n = 2000;
  const y = new Uint8Array(n);
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  const revenue = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.nextFloat() < 0.3 ? 1 : 0;
    const z = y[i]! + rng.nextFloat() - 0.5;
    pa[i] = 1 / (1 + Math.exp(-(z + rng.nextFloat() - 0.5)));
    pb[i] = 1 / (1 + Math.exp(-(1.3 * z + rng.nextFloat() - 0.5)));
    revenue[i] = Math.round(100 * (1 + 3 * y[i]! + rng.nextFloat())) / 100;
  }
  const a: BinaryInput = { task: 'binary', y, p: pa };
  const b: BinaryInput = { task: 'binary', y, p: pb };
  const composite = parseComposite('0.5 * auroc + 0.01 * profit_per_decision + 0.001 * top_revenue');
  const profit: ProxyDefinition = { kind: 'cost_matrix', matrix: { tp: 50, fp: -10, fn: -20, tn: 0 } };
  const top: ProxyDefinition = { kind: 'top_fraction_mean', column: 'revenue', fraction: 0.1 };
  const evaluators = (x: BinaryInput) => ({
    auroc: prepareMetric('auroc', x),
    profit_per_decision: prepareProxy(profit, { y, p: x.p }),
    top_revenue: prepareProxy(top, { p: x.p, columns: { revenue } }),
  });

  it('equals the formula of its parts, unweighted and under weights', () => {
    const fa = prepareComposite(composite.expr, evaluators(a));
    const parts = evaluators(a);
    const w = new Float64Array(n);
    new Xoshiro128(8).multinomialCounts(n, w);
    for (const weights of [null, w]) {
      const expected =
        0.5 * parts.auroc(weights) +
        0.01 * parts.profit_per_decision(weights) +
        0.001 * parts.top_revenue(weights);
      expect(fa(weights)).toBe(expected);
    }
    expect(fa(null)).toBe(
      0.5 * computeMetric('auroc', a) +
        0.01 * computeProxy(profit, { y, p: pa }) +
        0.001 * computeProxy(top, { p: pa, columns: { revenue } }),
    );
    expect(() => prepareComposite(composite.expr, { auroc: parts.auroc })).toThrow(
      "composite: no evaluator for 'profit_per_decision', 'top_revenue'",
    );
  });

  it('bootstraps deterministically, with every part on the same resample', () => {
    const opts = { resamples: 300, confidence: 0.95, seed: 2024 };
    const fa = prepareComposite(composite.expr, evaluators(a));
    const fb = prepareComposite(composite.expr, evaluators(b));
    const r1 = pairedBootstrapPrepared(composite.text, composite.direction, n, fa, fb, opts);
    const r2 = pairedBootstrapPrepared(composite.text, composite.direction, n, fa, fb, opts);
    expect(r2).toEqual(r1);
    expect(r1.delta).toBe(fb(null) - fa(null));
    expect(r1.delta).toBeGreaterThan(0);
    expect(r1.low).toBeLessThanOrEqual(r1.delta);
    expect(r1.high).toBeGreaterThanOrEqual(r1.delta);
    const r3 = pairedBootstrapPrepared(composite.text, composite.direction, n, fa, fb, {
      ...opts,
      seed: 2025,
    });
    expect(r3.low).not.toBe(r1.low);
    // same model twice: exactly no difference
    const same = pairedBootstrapPrepared(
      'c',
      'maximize',
      n,
      fa,
      prepareComposite(composite.expr, evaluators(a)),
      opts,
    );
    expect([same.delta, same.low, same.high, same.probImprovement]).toEqual([0, 0, 0, 0]);
    // minimize flips what counts as a win
    const down = pairedBootstrapPrepared('c', 'minimize', n, fa, fb, opts);
    expect(down.probImprovement).toBeCloseTo(1 - r1.probImprovement, 10);
  });

  it('a one-metric composite bootstraps exactly like the metric (generic route)', () => {
    const opts = { resamples: 200, confidence: 0.9, seed: 5 };
    const c = parseComposite('log_loss', 'minimize');
    const fa = prepareComposite(c.expr, { log_loss: prepareMetric('log_loss', a) });
    const fb = prepareComposite(c.expr, { log_loss: prepareMetric('log_loss', b) });
    expect(pairedBootstrapPrepared(c.text, c.direction, n, fa, fb, opts)).toEqual(
      pairedBootstrap('log_loss', a, b, opts),
    );
    expect(() => pairedBootstrapPrepared('c', 'maximize', 0, fa, fb, opts)).toThrow(
      /units must be an integer >= 1/,
    );
  });

  it('ranking composites resample queries; row proxies follow their query', () => {
    const r = new Xoshiro128(77);
    const q = 60;
    const query: number[] = [];
    const rel: number[] = [];
    const sa: number[] = [];
    const sb: number[] = [];
    const spend: number[] = [];
    for (let j = 0; j < q; j++) {
      const m = 2 + r.nextInt(10);
      for (let t = 0; t < m; t++) {
        const g = r.nextInt(3);
        query.push(j);
        rel.push(g);
        sa.push(g + 2 * r.nextFloat());
        sb.push(g + 1.5 * r.nextFloat());
        spend.push(1 + g * r.nextFloat());
      }
    }
    const mk = (p: number[]): RankingInput => ({
      task: 'ranking',
      y: Float64Array.from(rel),
      p: Float64Array.from(p),
      query: Int32Array.from(query),
    });
    const qa = mk(sa);
    const qb = mk(sb);
    const c = parseComposite('0.6*ndcg@10 + 0.4*revenue_per_session');
    const build = (x: RankingInput) =>
      prepareComposite(c.expr, {
        'ndcg@10': prepareMetric('ndcg@10', x),
        revenue_per_session: rowEvaluatorByQuery(
          prepareProxy(
            { kind: 'top_fraction_mean', column: 'spend', fraction: 0.2 },
            {
              p: x.p,
              columns: { spend: Float64Array.from(spend) },
            },
          ),
          x.query,
        ),
      });
    const fa = build(qa);
    const fb = build(qb);
    const w = Float64Array.from({ length: q }, (_, j) => j % 3);
    const rowW = Float64Array.from(query, (j) => w[j]!);
    const top = prepareTopFractionMean(Float64Array.from(spend), qa.p, 0.2);
    expect(fa(w)).toBe(0.6 * prepareMetric('ndcg@10', qa)(w) + 0.4 * top(rowW));
    const opts = { resamples: 200, confidence: 0.95, seed: 1 };
    const res = pairedBootstrapPrepared(c.text, c.direction, q, fa, fb, opts);
    expect(res).toEqual(pairedBootstrapPrepared(c.text, c.direction, q, fa, fb, opts));
    expect(res.resamples).toBe(200);
    expect(() => fa(new Float64Array(query.length).fill(1))).toThrow(/weights have \d+ rows, expected 60/);
  });
});

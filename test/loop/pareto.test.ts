import { describe, expect, it } from 'vitest';
import { costOf, type HarnessKeep, paretoKeep, scoreLowerBound } from '../../src/loop/pareto.js';
import type { HarnessInput } from '../../src/metrics/index.js';

/** The harness task's score/cost keep rule, as a table (pure: no sandbox, no model). */

function input(score: number[], tokens: number[]): HarnessInput {
  return {
    task: 'harness',
    y: Float64Array.from(score, (_, i) => i),
    score: Float64Array.from(score),
    tokens: Float64Array.from(tokens),
    cost: Float64Array.from(tokens, (t) => t * 1e-6),
  };
}
const keep: HarnessKeep = { cost_metric: 'tokens_per_task', cost_margin: 0.1, non_inferiority: 0.02 };
const ones = (n: number, v = 1) => Array.from({ length: n }, () => v);
const best = input(ones(40), ones(40, 300));
const standard = (decision: 'kept' | 'reverted' | 'rejected', fromKeepRule = true) => ({
  decision,
  reason: 'score alone',
  fromKeepRule,
});

describe('paretoKeep', () => {
  const rows: [string, HarnessKeep, HarnessInput, ReturnType<typeof standard>, 'kept' | 'reverted' | null][] =
    [
      [
        'a cost cut over the margin at the same score is kept',
        keep,
        input(ones(40), ones(40, 200)),
        standard('reverted'),
        'kept',
      ],
      ['a cut under the margin is not', keep, input(ones(40), ones(40, 280)), standard('reverted'), null],
      [
        'a cut with a worse score is not (one task of 40 lost: lower bound < -0.02)',
        keep,
        input([0, ...ones(39)], ones(40, 200)),
        standard('reverted'),
        null,
      ],
      [
        'a cut with one task lost is kept under a wider margin',
        { ...keep, non_inferiority: 0.1 },
        input([0, ...ones(39)], ones(40, 200)),
        standard('reverted'),
        'kept',
      ],
      [
        'a guardrail decision is never changed',
        keep,
        input(ones(40), ones(40, 10)),
        standard('rejected', false),
        null,
      ],
      [
        'a rejection by the rule itself stays',
        keep,
        input(ones(40), ones(40, 10)),
        standard('rejected'),
        null,
      ],
      [
        'a score gain over the ceiling is reverted',
        { ...keep, cost_ceiling: 250 },
        input(ones(40), ones(40, 260)),
        standard('kept'),
        'reverted',
      ],
      [
        'a score gain under the ceiling stands',
        { ...keep, cost_ceiling: 250 },
        input(ones(40), ones(40, 240)),
        standard('kept'),
        null,
      ],
      [
        'cost_per_task as the cost metric',
        { ...keep, cost_metric: 'cost_per_task' },
        input(ones(40), ones(40, 200)),
        standard('reverted'),
        'kept',
      ],
    ];
  for (const [name, k, cand, std, want] of rows)
    it(name, () => {
      const d = paretoKeep(k, best, cand, std, 0.95);
      expect(d?.decision ?? null).toBe(want);
      if (want === 'kept') expect(d!.reason).toMatch(/^cuts (tokens|cost)_per_task by 33\.3% \(/);
    });

  it('computes the paired lower bound as mean − z·sd/√n', () => {
    const b = input([1, 1, 0, 1], ones(4));
    const c = input([1, 0, 1, 1], ones(4));
    // d = [0, -1, 1, 0]: mean 0, sd sqrt(2/3), z(0.95) = 1.6448536
    expect(scoreLowerBound(b, c, 0.95)).toBeCloseTo((-1.6448536269514722 * Math.sqrt(2 / 3)) / 2, 9);
    expect(costOf(keep, b)).toBe(1);
    expect(() => scoreLowerBound(b, input([1], [1]), 0.95)).toThrow(/answers 1 tasks, the best 4/);
  });
});

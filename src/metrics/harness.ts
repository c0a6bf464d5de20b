/**
 * The harness task (Meta-Harness mode, docs/ARCHITECTURE.md, "Harness tasks"): a task suite answered by an LLM
 * harness. Each holdout task has a score (1 for an exact match of the normalized answer, else 0; see
 * src/evaluator/harness.ts) and the tokens and cost the host proxy counted from the model's responses for it. Every
 * metric is a mean over tasks of a per-task term, so the paired bootstrap and the paired z-test resample tasks.
 * - `task_score`: mean per-task score (maximize);
 * - `tokens_per_task`: mean tokens (prompt + completion, as the model's `usage` reported them) per task (minimize);
 * - `cost_per_task`: mean cost per task in US dollars at the contract's prices (minimize).
 */

import type { MetricImpl } from './impl.js';
import { meanMetric } from './mean.js';
import type { HarnessInput, MetricSpec } from './types.js';

/**
 * Throws a RangeError unless the per-task arrays have the same length and hold finite values (scores in [0, 1],
 * tokens and cost ≥ 0), naming the first bad task index.
 */
export function validateHarness(input: HarnessInput): void {
  const n = input.y.length;
  for (const field of ['score', 'tokens', 'cost'] as const) {
    const v = input[field];
    if (v.length !== n) throw new RangeError(`harness: ${field} has ${v.length} values for ${n} tasks`);
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      const ok = Number.isFinite(x) && x >= 0 && (field !== 'score' || x <= 1);
      if (!ok)
        throw new RangeError(
          `harness: ${field}[${i}] = ${x}: ${field === 'score' ? 'a task score is in [0, 1]' : `${field} must be a finite number >= 0`}`,
        );
    }
  }
}

function harnessMean(
  name: string,
  field: 'score' | 'tokens' | 'cost',
  direction: 'maximize' | 'minimize',
  description: string,
): MetricImpl<HarnessInput> {
  const spec: MetricSpec = { name, task: 'harness', direction, needsProba: false, description };
  return meanMetric<HarnessInput>(
    spec,
    validateHarness,
    (input) => input.y.length,
    (input, start, end, out) => {
      const v = input[field];
      for (let i = start; i < end; i++) out[i - start] = v[i]!;
    },
  );
}

/** The harness task's metrics. */
export const HARNESS_METRICS: ReadonlyArray<MetricImpl<HarnessInput>> = [
  harnessMean(
    'task_score',
    'score',
    'maximize',
    'mean per-task score (exact match of the normalized answer)',
  ),
  harnessMean(
    'tokens_per_task',
    'tokens',
    'minimize',
    "mean tokens per task (prompt + completion, from the model's usage, counted by the host proxy)",
  ),
  harnessMean('cost_per_task', 'cost', 'minimize', 'mean cost per task in USD at the contract prices'),
];

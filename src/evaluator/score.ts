import type { Contract } from '../contract/load.js';
import {
  type BanditInput,
  banditDiagnostics,
  computeFairness,
  computeMetric,
  computeProxy,
  evaluate,
  metricSpec,
  type ProxyData,
  type ProxyDefinition,
  parseComposite,
  perGroup,
  prepareComposite,
  prepareMetric,
  prepareProxy,
  trustFindings,
  type WeightedMetric,
} from '../metrics/index.js';
import type { ScoredInput } from './predictions.js';

/** The name the composite score is recorded under. */
export const COMPOSITE = 'composite';

/** What the evaluator makes of one holdout's predictions. */
export type ScoreResult =
  | {
      ok: true;
      /** Every metric, proxy, the composite (when defined) and each constraint's measured value. */
      metrics: Record<string, number>;
      /** The primary score (a metric or the composite). */
      score: number;
      /** Constraints the predictions break, one sentence each (empty when all hold). */
      violations: string[];
      /**
       * Reported-only metrics (`metric.also`, read by nothing else) that are undefined on these rows, with the
       * reason (e.g. auroc_ovr when a class is absent from the holdout). They never fail the experiment.
       */
      undefinedMetrics: Record<string, string>;
      /**
       * Bandit: the trust thresholds (contract `ope.trust`) the off-policy estimate breaks, one sentence each; an
       * estimate that breaks one cannot decide a keep. Empty for other tasks.
       */
      trust: string[];
      /**
       * Harness: correct answers to tasks that made no model request attributed to them (a harness answers through
       * its model; computing answers around it would optimize nothing the contract measures). Empty otherwise.
       */
      bypass: string[];
    }
  | { ok: false; reason: string };

/** The contract's proxy definition in the metric engine's form. */
function proxyDef(contract: Contract, name: string): ProxyDefinition {
  const p = contract.proxies[name]!;
  if (p.kind === 'cost_matrix')
    return {
      kind: 'cost_matrix',
      matrix: { tp: p.tp, fp: p.fp, fn: p.fn, tn: p.tn },
      threshold: p.threshold,
    };
  return p.kind === 'column_mean'
    ? { kind: 'column_mean', column: p.column }
    : { kind: 'top_fraction_mean', column: p.column, fraction: p.fraction };
}

/** The per-row data a proxy reads. */
function proxyData(input: ScoredInput): ProxyData {
  return {
    ...(input.task === 'binary' ? { y: input.y } : {}),
    ...(input.task === 'binary' || input.task === 'regression' || input.task === 'ranking'
      ? { p: input.p }
      : {}),
    columns: input.extra?.outcomes ?? {},
  };
}

/** Metric names a contract needs computed: primary (unless composite), also, and those the composite and constraints read. */
export function neededMetrics(contract: Contract): string[] {
  const names = new Set<string>();
  const isMetric = (n: string) => !(n in contract.proxies) && n !== COMPOSITE;
  if (isMetric(contract.metric.primary)) names.add(contract.metric.primary);
  for (const n of contract.metric.also) names.add(n);
  if (contract.metric.composite)
    for (const v of parseComposite(contract.metric.composite).variables) if (isMetric(v)) names.add(v);
  for (const c of contract.constraints) {
    if ('metric' in c && isMetric(c.metric)) names.add(c.metric);
    if ('per_group' in c) names.add(c.per_group);
  }
  return [...names];
}

/**
 * Score aligned predictions with everything the contract defines: metrics, business proxies, the composite
 * score, and the constraints (floors, ceilings, fairness gates across groups, per-group floors).
 * @returns the values and the violated constraints, or the reason the predictions cannot be scored
 */
export function scoreInput(contract: Contract, input: ScoredInput, classNames?: string[]): ScoreResult {
  const metrics: Record<string, number> = {};
  const undefinedMetrics: Record<string, string> = {};
  let trust: string[] = [];
  const reportedOnly = reportedOnlyMetrics(contract);
  try {
    for (const n of neededMetrics(contract)) {
      if (input.task === 'multiclass' && !input.proba && metricSpec(n, contract.task).needsProba) {
        if (n === contract.metric.primary) {
          return {
            ok: false,
            reason: `the primary metric ${n} needs proba_<class> columns; the predictions have labels only`,
          };
        }
        continue;
      }
      if (!reportedOnly.has(n)) {
        metrics[n] = computeMetric(n, input);
        continue;
      }
      try {
        metrics[n] = computeMetric(n, input);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        undefinedMetrics[n] = withClassNames(e.message, classNames);
      }
    }
    for (const name of Object.keys(contract.proxies))
      metrics[name] = computeProxy(proxyDef(contract, name), proxyData(input));
    if (contract.metric.composite)
      metrics[COMPOSITE] = evaluate(parseComposite(contract.metric.composite).expr, metrics);
    if (input.task === 'bandit') trust = trustOf(contract, input, metrics);
  } catch (e) {
    return { ok: false, reason: `cannot score: ${withClassNames((e as Error).message, classNames)}` };
  }
  const violations: string[] = [];
  const bound = (label: string, v: number, min?: number, max?: number) => {
    if (min !== undefined && !(v >= min))
      violations.push(`${label} ${v.toFixed(4)} is below its floor ${min}`);
    if (max !== undefined && !(v <= max))
      violations.push(`${label} ${v.toFixed(4)} is above its ceiling ${max}`);
  };
  try {
    for (const c of contract.constraints) {
      if ('metric' in c) bound(c.metric, metrics[c.metric]!, c.min, c.max);
      else if ('fairness' in c) {
        if (input.task !== 'binary') continue;
        const v = computeFairness(c.fairness, input, input.extra!.groups[c.group]!, {
          threshold: c.threshold,
        });
        metrics[`${c.fairness}[${c.group}]`] = v;
        bound(`${c.fairness} across ${c.group}`, v, undefined, c.max);
      } else {
        if (input.task !== 'binary') continue;
        const values = Object.values(
          perGroup(c.per_group, input, input.extra!.groups[c.group]!, { undefinedAs: 'nan' }),
        );
        const finite = values.filter((x) => Number.isFinite(x));
        const worstLow = Math.min(...finite);
        const worstHigh = Math.max(...finite);
        metrics[`${c.per_group}[min over ${c.group}]`] = worstLow;
        if (c.min !== undefined)
          bound(`${c.per_group} in the worst group of ${c.group}`, worstLow, c.min, undefined);
        if (c.max !== undefined)
          bound(`${c.per_group} in the worst group of ${c.group}`, worstHigh, undefined, c.max);
      }
    }
  } catch (e) {
    return { ok: false, reason: `cannot check the constraints: ${(e as Error).message}` };
  }
  const score = metrics[contract.metric.primary];
  if (score === undefined || !Number.isFinite(score)) {
    return { ok: false, reason: `the primary score ${contract.metric.primary} is not a finite number` };
  }
  return { ok: true, metrics, score, violations, undefinedMetrics, trust, bypass: bypassOf(input) };
}

/** Harness tasks answered correctly with no model request attributed to them, as one finding (or none). */
export function bypassOf(input: ScoredInput): string[] {
  if (input.task !== 'harness' || !input.requests) return [];
  let correct = 0;
  let bypassed = 0;
  for (let i = 0; i < input.score.length; i++) {
    if (!(input.score[i]! > 0)) continue;
    correct += 1;
    if (input.requests[i] === 0) bypassed += 1;
  }
  return bypassed > 0
    ? [
        `${bypassed} of ${correct} correctly answered tasks made no model request attributed to them (header X-Ratchet-Task): a harness answers through its model, every request naming its task`,
      ]
    : [];
}

/**
 * The trust diagnostics of an off-policy estimate (Kish's effective sample size, the largest importance weight,
 * the policy's mass on actions this holdout's logs never took, the estimators' spread), recorded as metrics
 * (`ope_ess`, `ope_max_weight`, `ope_unsupported`, `ope_disagreement`), and the thresholds they break.
 */
function trustOf(contract: Contract, input: BanditInput, metrics: Record<string, number>): string[] {
  const logged = new Uint8Array(input.k);
  for (let i = 0; i < input.action.length; i++) logged[input.action[i]!] = 1;
  const d = banditDiagnostics(input, logged);
  metrics['ope_ess'] = d.ess;
  metrics['ope_max_weight'] = d.maxWeight;
  metrics['ope_unsupported'] = d.unsupportedMass;
  metrics['ope_disagreement'] = d.disagreement;
  return contract.ope ? trustFindings(d, contract.ope.trust) : [];
}

/** Metrics of `metric.also` that nothing but the report reads (not the primary, the composite or a constraint). */
function reportedOnlyMetrics(contract: Contract): Set<string> {
  const read = new Set<string>([contract.metric.primary]);
  if (contract.metric.composite)
    for (const v of parseComposite(contract.metric.composite).variables) read.add(v);
  for (const c of contract.constraints) {
    if ('metric' in c) read.add(c.metric);
    if ('per_group' in c) read.add(c.per_group);
  }
  return new Set(contract.metric.also.filter((n) => !read.has(n)));
}

/**
 * The metric engine names classes by their index (0..k-1, in the manifest's label order); a person knows the
 * labels. Rewrites "class <i> of k = <k>" into "class "<label>" (<i> of k = <k>)".
 */
function withClassNames(message: string, classNames?: string[]): string {
  if (!classNames) return message;
  return message.replace(/class (\d+) of k = (\d+)/g, (m, i: string, k: string) => {
    const name = classNames[Number(i)];
    return name === undefined ? m : `class ${JSON.stringify(name)} (index ${i} of k = ${k})`;
  });
}

/** Floors and ceilings on reported metrics (the constraints a custom evaluator's numbers can be checked against). */
export function metricViolations(contract: Contract, metrics: Record<string, number>): string[] {
  const out: string[] = [];
  for (const c of contract.constraints) {
    if (!('metric' in c)) continue;
    const v = metrics[c.metric];
    if (v === undefined) out.push(`${c.metric} was not reported`);
    else if (c.min !== undefined && !(v >= c.min))
      out.push(`${c.metric} ${v.toFixed(4)} is below its floor ${c.min}`);
    else if (c.max !== undefined && !(v <= c.max))
      out.push(`${c.metric} ${v.toFixed(4)} is above its ceiling ${c.max}`);
  }
  return out;
}

/**
 * The primary score as a weighted evaluator, for the paired bootstrap: the metric's prepared form, or for a
 * composite the expression over prepared metrics and proxies.
 */
export function preparePrimary(contract: Contract, input: ScoredInput): WeightedMetric {
  if (!contract.metric.composite) return prepareMetric(contract.metric.primary, input);
  const c = parseComposite(contract.metric.composite);
  const evaluators: Record<string, WeightedMetric> = {};
  for (const v of c.variables) {
    evaluators[v] =
      v in contract.proxies ? prepareProxy(proxyDef(contract, v), proxyData(input)) : prepareMetric(v, input);
  }
  return prepareComposite(c.expr, evaluators);
}

import type { Trip } from '../guardrails/registry.js';
import { type SuspicionSettings, scoreJump } from '../guardrails/suspicion.js';
import type { Decision } from '../journal/store.js';
import type { MetricInput } from '../metrics/index.js';
import { confirmKeep, decideKeep, type KeepRule, type KeepVerdict, type Runs } from './keep.js';

/**
 * DECIDE (docs/ARCHITECTURE.md, "The loop"): a pure function of the keep rule (with its measured noise), the
 * scores and per-row predictions of the best model and the candidate, and what the guardrails found on the
 * candidate's predictions → the decision and its reason. No I/O: the confirmation runs over seeds, when the keep
 * rule asks for them, are run by the caller and handed back in.
 */

/** What the guardrails found on a scored candidate (every trip, overridden ones included). */
export interface Findings {
  /** Predictions copied from the decoy labels planted in the sandbox (a cheating attempt: never overridable). */
  canary: Trip[];
  /** Columns the model said it used that the leakage scan blocks. */
  leaks: Trip[];
  /** Floors, ceilings and fairness gates the predictions break (ignored for the baseline: it defines the start). */
  constraints: Trip[];
  /** Constant predictions, row-order artefacts: a person must look (overridable). */
  sanity: Trip[];
}

/** Inputs of {@link decide}. */
export interface DecideInput {
  rule: KeepRule;
  /** The contract's suspicion settings (the score-jump guardrail). */
  suspicion: SuspicionSettings;
  /** The baseline: the committed code as it is, kept when its predictions pass the guardrails. */
  baseline: boolean;
  /** The best kept experiment (null for the baseline). */
  best: { score: number; input: MetricInput | null; runs: Runs } | null;
  /** The candidate's public score and aligned per-row predictions (null with a custom evaluator). */
  candidate: { score: number; input: MetricInput | null };
  findings: Findings;
  /** Guardrails the person overrode for this run: id → reason (only overridable guardrails take effect). */
  isOverridden: (t: Trip) => boolean;
  /**
   * Stages 1–2 of the keep rule when already computed (e.g. a bootstrap in a worker, which gives the same
   * verdict as {@link decideKeep}); computed here otherwise.
   */
  verdict?: KeepVerdict;
  /** The confirmation runs over seeds (the candidate's own run first), or why they stopped. */
  confirmation?: { runs: Runs } | { failure: string };
}

/** A decision with its reason. */
export interface Decided {
  status: 'decided';
  decision: Decision;
  reason: string;
  /** Set when a person must look (a cheating attempt, insane predictions, an unexplained jump): why. */
  escalate: string | null;
  /** The keep rule's verdict (with the confirmation's arithmetic when it ran); null when a guardrail decided. */
  verdict: KeepVerdict | null;
  /** Trips found while deciding (the score jump), to record with the experiment. */
  trips: Trip[];
}

/** The keep rule's single run passed and asks for confirmation runs over seeds before it can decide. */
export interface NeedsConfirmation {
  status: 'confirm';
  verdict: KeepVerdict;
}

const joinTrips = (ts: Trip[]) => ts.map((t) => `${t.guardrail}: ${t.message}`).join('; ');

/**
 * The guardrails' part of DECIDE: the decision the findings force whatever the score, in order of gravity —
 * decoy labels copied (rejected, escalated), leaking columns used (rejected), constraints broken (rejected;
 * not for the baseline), insane predictions not overridden (rejected, escalated) — or null when none applies.
 */
export function screen(
  findings: Findings,
  baseline: boolean,
  isOverridden: (t: Trip) => boolean,
): Decided | null {
  const rejected = (ts: Trip[], escalate: boolean): Decided => {
    const reason = joinTrips(ts);
    return {
      status: 'decided',
      decision: 'rejected',
      reason,
      escalate: escalate ? reason : null,
      verdict: null,
      trips: [],
    };
  };
  if (findings.canary.length > 0) return rejected(findings.canary, true);
  if (findings.leaks.length > 0) return rejected(findings.leaks, false);
  if (!baseline && findings.constraints.length > 0) return rejected(findings.constraints, false);
  const insane = findings.sanity.filter((t) => !isOverridden(t));
  if (insane.length > 0) return rejected(insane, true);
  return null;
}

/**
 * DECIDE: what happens to a scored candidate.
 *  1. {@link screen}: guardrail findings decide first.
 *  2. The baseline is kept.
 *  3. The keep rule's stages 1–2 ({@link decideKeep}); when it asks for confirmation over seeds and none is given,
 *     returns `confirm`; with the confirmation runs, stage 3 ({@link confirmKeep}) decides, and a confirmation that
 *     stopped early reverts.
 *  4. A keep that noise and history cannot explain (the score-jump guardrail) is rejected and escalated unless the
 *     person overrode it.
 * @throws RangeError when a non-baseline input has no best (a caller's error)
 */
export function decide(x: DecideInput): Decided | NeedsConfirmation {
  const screened = screen(x.findings, x.baseline, x.isOverridden);
  if (screened) return screened;
  if (x.baseline)
    return {
      status: 'decided',
      decision: 'kept',
      reason: `baseline ${x.rule.metric} ${x.candidate.score.toFixed(6)}`,
      escalate: null,
      verdict: null,
      trips: [],
    };
  const best = x.best;
  if (!best) throw new RangeError('decide: a candidate needs the best kept experiment to compare with');
  let verdict = x.verdict ?? decideKeep(x.rule, best, x.candidate);
  let decision: Decision = verdict.keep ? 'kept' : 'reverted';
  let reason = verdict.reason;
  if (verdict.needsConfirmation) {
    const c = x.confirmation;
    if (!c) return { status: 'confirm', verdict };
    if ('failure' in c) {
      decision = 'reverted';
      reason = `${reason}; ${c.failure}`;
    } else {
      const v = confirmKeep(x.rule, best.runs, c.runs);
      decision = v.keep ? 'kept' : 'reverted';
      reason = `${reason}; ${v.reason}`;
      verdict = {
        ...verdict,
        ciLow: v.ciLow,
        ciHigh: v.ciHigh,
        probImprovement: v.probImprovement,
        test: v.test,
        gain: v.meanGain,
      };
    }
  }
  const trips: Trip[] = [];
  let escalate: string | null = null;
  const jump =
    decision === 'kept'
      ? scoreJump(x.rule.metric, x.rule.direction, best.score, x.candidate.score, x.suspicion)
      : null;
  if (jump) {
    trips.push(jump);
    if (!x.isOverridden(jump)) {
      decision = 'rejected';
      reason = `${jump.guardrail}: ${jump.message} (${reason})`;
      escalate = reason;
    }
  }
  return { status: 'decided', decision, reason, escalate, verdict, trips };
}

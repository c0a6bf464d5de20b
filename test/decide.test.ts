import { describe, expect, it } from 'vitest';
import type { Trip } from '../src/guardrails/registry.js';
import { type DecideInput, decide, type Findings } from '../src/loop/decide.js';
import { type KeepRule, type KeepVerdict, NO_BOOTSTRAP_NOTE } from '../src/loop/keep.js';
import { binary, oneRunRule } from './keep-fixtures.js';

/**
 * DECIDE is a pure function (src/loop/decide.ts): every row of these tables runs in milliseconds, with no Python,
 * no sandbox, no git and no journal.
 */

const SUSPICION = { max_headroom_closed: 0.8, near_perfect: 0.001, row_order_corr: 0.95 };
const none: Findings = { canary: [], leaks: [], constraints: [], sanity: [] };
const trip = (guardrail: string, message = `${guardrail} fired`): Trip => ({ guardrail, message });
const noOverride = () => false;

/** A candidate scored by a custom evaluator (numbers only: no per-row predictions). */
function input(over: Partial<DecideInput> & { score?: number; bestScore?: number } = {}): DecideInput {
  const { score = 0.75, bestScore = 0.7, ...rest } = over;
  return {
    rule: oneRunRule('auroc', 0.01),
    suspicion: SUSPICION,
    baseline: false,
    best: { score: bestScore, input: null, runs: { scores: [bestScore], inputs: [null] } },
    candidate: { score, input: null },
    findings: none,
    isOverridden: noOverride,
    ...rest,
  };
}

/** A rule with measured seed noise and confirmation runs. */
const confirmRule = (): KeepRule => ({
  ...oneRunRule('auroc', 0.01),
  noiseSd: 0.002,
  confirmRuns: 2,
  noiseFrom: { kind: 'varied-seed', runs: 3 },
});

describe('decide: guardrail findings decide first, in order of gravity', () => {
  const cases: {
    name: string;
    findings: Partial<Findings>;
    baseline?: boolean;
    overridden?: string[];
    decision: string;
    escalated: boolean;
    reason: RegExp;
  }[] = [
    {
      name: 'copied decoy labels: rejected and escalated, before everything else',
      findings: { canary: [trip('canary')], leaks: [trip('target-leak')], sanity: [trip('sanity')] },
      decision: 'rejected',
      escalated: true,
      reason: /^canary: canary fired$/,
    },
    {
      name: 'a leaking column used: rejected, not escalated',
      findings: { leaks: [trip('target-leak')], constraints: [trip('constraint')] },
      decision: 'rejected',
      escalated: false,
      reason: /^target-leak: /,
    },
    {
      name: 'a broken constraint: rejected whatever the score',
      findings: { constraints: [trip('constraint', 'recall 0.40 < floor 0.50')] },
      decision: 'rejected',
      escalated: false,
      reason: /recall 0\.40 < floor 0\.50/,
    },
    {
      name: 'the baseline defines the start: a broken constraint does not reject it',
      findings: { constraints: [trip('constraint')] },
      baseline: true,
      decision: 'kept',
      escalated: false,
      reason: /^baseline auroc 0\.750000$/,
    },
    {
      name: 'insane predictions: rejected and escalated',
      findings: { sanity: [trip('sanity', 'every prediction is 0.5')] },
      decision: 'rejected',
      escalated: true,
      reason: /every prediction is 0\.5/,
    },
    {
      name: 'insane predictions the person overrode: the keep rule decides',
      findings: { sanity: [trip('sanity')] },
      overridden: ['sanity'],
      decision: 'kept',
      escalated: false,
      reason: /gain \+0\.05000 > 0\.01000 \(min delta\)/,
    },
    {
      name: 'a canary cannot be overridden',
      findings: { canary: [trip('canary')] },
      overridden: ['canary'],
      decision: 'rejected',
      escalated: true,
      reason: /^canary: /,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decide(
        input({
          findings: { ...none, ...c.findings },
          ...(c.baseline ? { baseline: true, best: null } : {}),
          // Only overridable guardrails may be overridden (the experiment's `overridden` checks the registry).
          isOverridden: (t) => (c.overridden ?? []).includes(t.guardrail) && t.guardrail !== 'canary',
        }),
      );
      expect(d.status).toBe('decided');
      if (d.status !== 'decided') return;
      expect(d.decision).toBe(c.decision);
      expect(d.escalate !== null).toBe(c.escalated);
      if (c.escalated) expect(d.escalate).toBe(d.reason);
      expect(d.reason).toMatch(c.reason);
    });
  }
});

describe('decide: the keep rule', () => {
  it('reverts a gain below the minimum delta, keeps one above it (no per-row data: the note says so)', () => {
    const low = decide(input({ score: 0.705 }));
    const high = decide(input({ score: 0.75 }));
    expect(low).toMatchObject({ status: 'decided', decision: 'reverted', escalate: null });
    expect(high).toMatchObject({ status: 'decided', decision: 'kept' });
    if (low.status !== 'decided' || high.status !== 'decided') return;
    expect(low.reason).toMatch(/gain \+0\.005000 does not exceed 0\.01000 \(min delta\)/);
    expect(high.reason).toContain(NO_BOOTSTRAP_NOTE);
    expect(high.verdict).toMatchObject({ keep: true, test: 'none' });
    expect(high.verdict!.gain).toBeCloseTo(0.05, 12);
  });

  it('a metric to minimize: a lower rmse is the gain', () => {
    const rule = { ...oneRunRule('rmse', 0.01), direction: 'minimize' as const };
    const better = decide(input({ rule, bestScore: 1.0, score: 0.9 }));
    const worse = decide(input({ rule, bestScore: 1.0, score: 1.1 }));
    expect(better).toMatchObject({ decision: 'kept' });
    expect(worse).toMatchObject({ decision: 'reverted' });
  });

  it("with per-row predictions, DeLong's test decides a binary AUROC", () => {
    const weak = binary(2000, 0.6, 2);
    const strong = binary(2000, 1.6, 3);
    const d = decide(
      input({
        best: { score: 0.7, input: weak, runs: { scores: [0.7], inputs: [weak] } },
        candidate: { score: 0.85, input: strong },
      }),
    );
    expect(d).toMatchObject({ status: 'decided', decision: 'kept' });
    if (d.status !== 'decided') return;
    expect(d.verdict!.test).toBe('delong');
    expect(d.reason).toMatch(/DeLong P\(better\) 1\.000 ≥ 0\.95/);
  });

  it('a verdict computed elsewhere (a worker) is used as given', () => {
    const verdict: KeepVerdict = {
      keep: false,
      gain: 0.05,
      threshold: 0.01,
      ciLow: -0.01,
      ciHigh: 0.11,
      probImprovement: 0.9,
      test: 'bootstrap',
      reason: 'gain +0.05 > 0.01 but not significant: paired bootstrap P(better) 0.900 < 0.95',
      needsConfirmation: false,
    };
    const d = decide(input({ verdict }));
    expect(d).toMatchObject({ decision: 'reverted', reason: verdict.reason, verdict });
  });

  it('throws when a candidate has no best to compare with', () => {
    expect(() => decide(input({ best: null }))).toThrow(RangeError);
  });
});

describe('decide: confirmation over seeds', () => {
  const best = { score: 0.7, input: null, runs: { scores: [0.7, 0.701, 0.699], inputs: [null, null, null] } };

  it('a single run that gains asks for confirmation runs; one that loses is reverted at once', () => {
    const ask = decide(input({ rule: confirmRule(), best, score: 0.72 }));
    expect(ask.status).toBe('confirm');
    if (ask.status === 'confirm') expect(ask.verdict.needsConfirmation).toBe(true);
    expect(decide(input({ rule: confirmRule(), best, score: 0.69 }))).toMatchObject({ decision: 'reverted' });
  });

  it('confirmed runs keep (the verdict carries the mean gain); runs that fall back revert', () => {
    const first = decide(input({ rule: confirmRule(), best, score: 0.72 }));
    if (first.status !== 'confirm') throw new Error('expected confirm');
    const base = input({ rule: confirmRule(), best, score: 0.72, verdict: first.verdict });
    const good = decide({
      ...base,
      confirmation: { runs: { scores: [0.72, 0.719, 0.721], inputs: [null, null, null] } },
    });
    expect(good).toMatchObject({ status: 'decided', decision: 'kept' });
    if (good.status === 'decided') {
      expect(good.verdict!.gain).toBeCloseTo(0.02, 12);
      expect(good.reason).toMatch(/^single-run gain .*; confirmed: mean gain \+0\.02000 over 3 vs 3 seeds/);
    }
    const bad = decide({
      ...base,
      confirmation: { runs: { scores: [0.72, 0.69, 0.7], inputs: [null, null, null] } },
    });
    expect(bad).toMatchObject({ status: 'decided', decision: 'reverted' });
    if (bad.status === 'decided') expect(bad.reason).toMatch(/not confirmed over seeds/);
  });

  it('a confirmation that stopped early reverts and says why', () => {
    const first = decide(input({ rule: confirmRule(), best, score: 0.72 }));
    if (first.status !== 'confirm') throw new Error('expected confirm');
    const d = decide({
      ...input({ rule: confirmRule(), best, score: 0.72 }),
      verdict: first.verdict,
      confirmation: { failure: 'confirmation run 2 did not finish (timeout)' },
    });
    expect(d).toMatchObject({ status: 'decided', decision: 'reverted' });
    if (d.status === 'decided') expect(d.reason).toMatch(/; confirmation run 2 did not finish \(timeout\)$/);
  });
});

describe('decide: a keep that noise and history cannot explain', () => {
  it('is rejected and escalated (suspicious-score), with the trip recorded', () => {
    const d = decide(input({ bestScore: 0.7, score: 0.9995 }));
    expect(d).toMatchObject({ status: 'decided', decision: 'rejected' });
    if (d.status !== 'decided') return;
    expect(d.reason).toMatch(/^suspicious-score: auroc 0\.999500 is within 0\.001 of perfect/);
    expect(d.escalate).toBe(d.reason);
    expect(d.trips.map((t) => t.guardrail)).toEqual(['suspicious-score']);
  });

  it('is kept when the person overrode the guardrail (the trip is still recorded)', () => {
    const d = decide(
      input({ bestScore: 0.7, score: 0.97, isOverridden: (t) => t.guardrail === 'suspicious-score' }),
    );
    expect(d).toMatchObject({ status: 'decided', decision: 'kept', escalate: null });
    if (d.status === 'decided') expect(d.trips.map((t) => t.guardrail)).toEqual(['suspicious-score']);
  });

  it('a reverted change is never checked for a jump', () => {
    const d = decide(input({ bestScore: 0.7, score: 0.9995, verdict: { ...keepNothing(), gain: 0.2995 } }));
    expect(d).toMatchObject({ decision: 'reverted', trips: [] });
  });
});

function keepNothing(): KeepVerdict {
  return {
    keep: false,
    gain: 0,
    threshold: 0.01,
    ciLow: null,
    ciHigh: null,
    probImprovement: null,
    test: 'none',
    reason: 'not kept',
    needsConfirmation: false,
  };
}

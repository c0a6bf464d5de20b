import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Xoshiro128 } from '../../src/metrics/index.js';
import { type CompositeFit, fitComposite, leastSquares } from '../../src/tiers/align-fit.js';
import type { AlignPair } from '../../src/tiers/align-pairs.js';
import { cli, makeProject, ROOT } from '../helpers/project.js';
import { recordHistory } from '../helpers/tiers.js';

/** `ratchet align --fit`: composite weights fitted to the A/B history, judged out of sample. */

function normal(rng: Xoshiro128): number {
  const u = Math.max(rng.nextFloat(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

function pair(i: number, parts: Record<string, number>, online: number, offline: number): AlignPair {
  return {
    testId: `t${i}`,
    experimentId: i + 2,
    commitSha: null,
    offline,
    online,
    onlineLow: online - 0.1,
    onlineHigh: online + 0.1,
    parts,
  };
}

describe('fitComposite', () => {
  it('solves least squares as numpy does', () => {
    const rng = new Xoshiro128(5);
    const x = Array.from({ length: 12 }, () => [normal(rng), normal(rng) * 10, normal(rng) * 0.01]);
    const y = x.map((r) => 0.3 * r[0]! - 0.02 * r[1]! + 40 * r[2]! + normal(rng) * 0.1);
    const ours = leastSquares(x, y);
    const py = JSON.parse(
      execFileSync(join(ROOT, '.venv', 'bin', 'python'), [
        '-c',
        `import json, numpy as np; x = np.array(json.loads('${JSON.stringify(x)}')); y = np.array(json.loads('${JSON.stringify(y)}')); print(json.dumps(np.linalg.lstsq(x, y, rcond=None)[0].tolist()))`,
      ]).toString(),
    ) as number[];
    for (const [j, c] of ours.entries()) expect(c).toBeCloseTo(py[j]!, 6);
  });

  it('recovers the weights of an exact relation and writes them as a composite expression', () => {
    const rng = new Xoshiro128(1);
    const pairs = Array.from({ length: 10 }, (_, i) => {
      const a = normal(rng);
      const b = normal(rng);
      return pair(i, { a, b }, 2 * a - b, a);
    });
    const fit = fitComposite(pairs) as CompositeFit;
    expect(fit.parts).toEqual(['a', 'b']);
    expect(fit.weights['a']).toBeCloseTo(2 / 3, 9);
    expect(fit.weights['b']).toBeCloseTo(-1 / 3, 9);
    expect(fit.expression).toBe('0.667*a - 0.333*b');
    expect(fit.tauLeaveOneOut).toBeCloseTo(1, 9);
  });

  it('beats the current metric out of sample when online value depends on a part it ignores', () => {
    const rng = new Xoshiro128(7);
    const pairs = Array.from({ length: 40 }, (_, i) => {
      const auroc = normal(rng) * 0.01;
      const profit = normal(rng) * 5;
      const online = auroc / 0.01 + (2 * profit) / 5 + normal(rng) * 0.5;
      return pair(i, { auroc, profit }, online, auroc);
    });
    const fit = fitComposite(pairs, ['auroc', 'profit']) as CompositeFit;
    expect(fit.n).toBe(40);
    expect(fit.tauLeaveOneOut!).toBeGreaterThan(fit.tauCurrent! + 0.15);
    expect(fit.tauInSample!).toBeGreaterThanOrEqual(fit.tauLeaveOneOut! - 1e-12);
    // profit's weight per unit is 2/5 per 1/0.01 of auroc's: w_profit / w_auroc = 0.4 / 100 = 0.004 (noisy).
    expect(fit.weights['profit']! / fit.weights['auroc']!).toBeGreaterThan(0.002);
    expect(fit.weights['profit']! / fit.weights['auroc']!).toBeLessThan(0.008);
  });

  it('refuses to fit more weights than the tests support', () => {
    const pairs = Array.from({ length: 5 }, (_, i) => pair(i, { a: i, b: i * i, c: 1 / (i + 1) }, i, i));
    const r = fitComposite(pairs);
    expect('reason' in r && r.reason).toMatch(
      /5 paired tests recorded a, b, c; a fit of 3 weights needs at least 6/,
    );
    expect('reason' in fitComposite([])).toBe(true);
  });
});

describe('ratchet align --fit', () => {
  it('proposes weights from the journal’s recorded metrics and says how to accept them', async () => {
    const dir = await makeProject({ rows: 1500 });
    const sim = cli(
      [
        'ab',
        'simulate',
        '--tests',
        '24',
        '--alignment',
        '0.9',
        '--seed',
        '4',
        '--shape',
        'arms',
        '--out',
        join(dir, 'ab.csv'),
        '--truth',
        join(dir, 't.json'),
      ],
      dir,
    );
    expect(sim.code, sim.stderr).toBe(0);
    const truth = (
      JSON.parse(readFileSync(join(dir, 't.json'), 'utf8')) as {
        tests: { experiment: string; offline: number }[];
      }
    ).tests;
    const rng = new Xoshiro128(9);
    recordHistory(
      dir,
      'h',
      truth.map((t) => ({
        ...t,
        metrics: { auroc: 0.7 + t.offline, log_loss: 0.5 + normal(rng) * 0.01 },
      })),
    );
    expect(cli(['ab', 'import', join(dir, 'ab.csv')], dir).code).toBe(0);
    const r = cli(['align', '--fit', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const fit = (JSON.parse(r.stdout) as { fit: CompositeFit }).fit;
    expect(fit.parts).toEqual(['auroc', 'log_loss']);
    expect(Math.abs(fit.weights['auroc']!)).toBeGreaterThan(Math.abs(fit.weights['log_loss']!));
    const text = cli(['align', '--fit'], dir);
    expect(text.stdout).toContain(`composite: "${fit.expression}"`);
    expect(text.stdout).toMatch(/to accept it, a person edits ratchet.yaml and runs `ratchet init --force`/);
    // The contract is untouched.
    expect(readFileSync(join(dir, 'ratchet.yaml'), 'utf8')).not.toMatch(/composite/);
  }, 300_000);
});

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { summarize, welchEffect } from '../../src/tiers/ab-stats.js';
import { kendallTauB, spearmanRho } from '../../src/tiers/align-stats.js';
import { cli, makeProject } from '../helpers/project.js';
import { EXAMPLE_AB, recordExperiments, sha, TRUTH } from '../helpers/tiers.js';

/**
 * `ratchet ab import`, `ratchet ab simulate` and `ratchet align` end to end: the built CLI on a real project made by
 * `ratchet init`, whose journal gets the experiments the shipped example history names (examples/ab-history).
 */

let dir = '';
beforeAll(async () => {
  dir = await makeProject({ rows: 1500 });
  recordExperiments(dir);
});

const json = (args: string[]) => {
  const r = cli([...args, '--json'], dir);
  return { ...r, body: JSON.parse(r.stdout) };
};

describe('ratchet ab import', () => {
  it('imports the example history: per-arm summaries, Welch effects as computed from the file', () => {
    const r = json(['ab', 'import', EXAMPLE_AB, '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const tests = r.body.tests as {
      testId: string;
      shape: string;
      experiment: string;
      replaced: boolean;
      effect: { diff: number; ciLow: number; ciHigh: number; df: number; method: string };
    }[];
    expect(tests.map((t) => t.testId)).toEqual(TRUTH.tests.map((t) => t.testId));
    const rows = readFileSync(EXAMPLE_AB, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    for (const t of tests) {
      expect(t.shape).toBe('arms');
      expect(t.effect.method).toBe('welch');
      const arm = (v: string) => {
        const row = rows.find((x) => x[0] === t.testId && x[1] === v)!;
        return { variant: v, n: Number(row[2]), mean: Number(row[3]), sd: Number(row[4]) };
      };
      const want = welchEffect(arm('treatment'), arm('control'));
      expect(t.effect.diff).toBeCloseTo(want.diff, 12);
      expect(t.effect.ciLow).toBeCloseTo(want.ciLow, 12);
      expect(t.effect.df).toBeCloseTo(want.df, 9);
    }
    expect(tests.every((t) => !t.replaced)).toBe(true);
  });

  it('prints a table, and a re-import replaces the tests and records it as events', () => {
    const r = cli(['ab', 'import', EXAMPLE_AB, '--dir', dir], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/t01 \(replaced\)/);
    expect(r.stdout).toMatch(/12 A\/B tests imported \(12 replaced an earlier import\)/);
    const j = Journal.open(dir, { readonly: true });
    try {
      expect(j.listAbTests()).toHaveLength(12);
      expect(j.listEvents({ kinds: ['ab.imported'] })).toHaveLength(12);
      const replaced = j.listEvents({ kinds: ['ab.replaced'] });
      expect(replaced).toHaveLength(12);
      expect(replaced[0]!.data?.['replaced']).toBeTruthy();
    } finally {
      j.close();
    }
  });

  it('per-unit rows with pre use CUPED; a ratio metric uses the delta method', () => {
    const units = join(dir, 'units.csv');
    const r0 = cli(
      [
        'ab',
        'simulate',
        '--tests',
        '2',
        '--seed',
        '4',
        '--units',
        '300',
        '--pre-beta',
        '0.8',
        '--out',
        units,
        '--first-experiment',
        '50',
      ],
      dir,
    );
    expect(r0.code, r0.stderr).toBe(0);
    // Other test ids than the example's (a re-import would replace those).
    writeFileSync(units, readFileSync(units, 'utf8').replaceAll(/^t(\d+),/gm, 'u$1,'));
    const r = json(['ab', 'import', units, '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.body.tests.map((t: { effect: { method: string } }) => t.effect.method)).toEqual([
      'cuped',
      'cuped',
    ]);
    expect(r.body.tests[0].effect.varianceReduction).toBeGreaterThan(0.2);
    const lines = ['test_id,variant,numerator,denominator'];
    for (let i = 0; i < 40; i++) lines.push(`r1,${i % 2 ? 'control' : 'treatment'},${i % 5},${1 + (i % 3)}`);
    writeFileSync(join(dir, 'ratio.csv'), `${lines.join('\n')}\n`);
    const ratio = json(['ab', 'import', join(dir, 'ratio.csv'), '--dir', dir]);
    expect(ratio.code, ratio.stderr).toBe(0);
    const e = ratio.body.tests[0];
    expect(e.metric).toBe('ratio');
    expect(e.effect.method).toBe('delta');
    const rows = lines.slice(1).map((l) => l.split(','));
    const ratioOf = (v: string) => {
      const mine = rows.filter((x) => x[1] === v);
      return mine.reduce((a, x) => a + Number(x[2]), 0) / mine.reduce((a, x) => a + Number(x[3]), 0);
    };
    expect(e.effect.diff).toBeCloseTo(ratioOf('treatment') - ratioOf('control'), 12);
  });

  it('names the control with --control', () => {
    writeFileSync(join(dir, 'named.csv'), 'test_id,variant,n,mean,sd\nq1,old,100,5,1\nq1,new,100,5.5,1\n');
    const r = json(['ab', 'import', join(dir, 'named.csv'), '--dir', dir, '--control', 'old']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.body.tests[0].control.variant).toBe('old');
    expect(r.body.tests[0].effect.diff).toBeCloseTo(0.5, 12);
    const want = welchEffect(
      { variant: 'new', n: 100, mean: 5.5, sd: 1 },
      { variant: 'old', n: 100, mean: 5, sd: 1 },
    );
    expect(r.body.tests[0].effect.ciHigh).toBeCloseTo(want.ciHigh, 12);
  });

  const bad: [string, string, RegExp, RegExp][] = [
    [
      'missing arm',
      'test_id,variant,n,mean,sd\nt7,treatment,100,1,1\nt8,control,10,1,1\nt8,b,10,1,1\n',
      /test t7 has no control arm/,
      /add its control row or name it with --control/,
    ],
    [
      'negative sd',
      'test_id,variant,n,mean,sd\nt1,control,100,1,1\nt1,treatment,100,1,-0.5\n',
      /row 2 \(line 3\) \(test t1, arm treatment\): sd must be >= 0/,
      /standard deviation/,
    ],
    [
      'missing column',
      'test_id,variant,n,mean\nt1,control,100,1\nt1,treatment,100,1\n',
      /missing column sd/,
      /per-arm summaries need/,
    ],
    [
      'no value column',
      'test_id,variant,score\nt1,control,1\n',
      /missing column value/,
      /per-unit rows need/,
    ],
    [
      'n < 2',
      'test_id,variant,n,mean,sd\nt1,control,1,1,1\nt1,treatment,100,1,1\n',
      /row 1 .*n must be a whole number >= 2/,
      /at least 2 units/,
    ],
    [
      'non-finite value',
      'test_id,variant,value\nt1,control,1\nt1,control,2\nt1,treatment,inf\nt1,treatment,3\n',
      /row 3 .*value "inf" is not a finite number/,
      /finite number/,
    ],
    [
      'text value',
      'test_id,variant,value\nt1,control,1\nt1,control,abc\n',
      /row 2 .*value "abc" is not a finite number/,
      /finite number/,
    ],
    [
      'denominator <= 0',
      'test_id,variant,numerator,denominator\nt1,control,1,1\nt1,control,1,0\nt1,treatment,1,1\n',
      /row 2 .*denominator must be > 0/,
      /drop units/,
    ],
    [
      'duplicate arms',
      'test_id,variant,n,mean,sd\nt1,control,100,1,1\nt1,control,50,1,1\nt1,treatment,100,1,1\n',
      /test t1 has 2 rows for arm control/,
      /one row per arm/,
    ],
    [
      'three arms',
      'test_id,variant,n,mean,sd\nt1,control,100,1,1\nt1,a,100,1,1\nt1,b,100,1,1\n',
      /test t1 has 3 arms/,
      /split it/,
    ],
    [
      'one unit in an arm',
      'test_id,variant,value\nt1,control,1\nt1,control,2\nt1,treatment,3\n',
      /test t1, arm treatment has 1 unit/,
      /drop the test/,
    ],
  ];
  for (const [name, csv, message, fix] of bad) {
    it(`refuses ${name}, naming the file and the fix (exit 2, nothing stored)`, () => {
      const file = join(dir, `bad-${name.replaceAll(/\W/g, '-')}.csv`);
      writeFileSync(file, csv);
      const before = Journal.open(dir, { readonly: true });
      const count = before.listAbTests().length;
      before.close();
      const r = cli(['ab', 'import', file, '--dir', dir], dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(fix);
      const j = json(['ab', 'import', file, '--dir', dir]);
      expect(j.code).toBe(2);
      expect(j.body.error.file).toBe(file);
      expect(j.body.error.hint).toMatch(fix);
      const after = Journal.open(dir, { readonly: true });
      expect(after.listAbTests()).toHaveLength(count);
      after.close();
    });
  }
});

describe('ratchet align', () => {
  it('pairs the example history with its experiments and reports every number in --json', () => {
    const r = json(['align', '--dir', dir, '--resamples', '500']);
    expect(r.code, r.stderr).toBe(0);
    const b = r.body;
    const points = b.points as {
      testId: string;
      experimentId: number;
      offline: number;
      online: number;
      parts: Record<string, number>;
    }[];
    expect(b.n).toBe(12);
    expect(points.map((p) => p.experimentId)).toEqual(TRUTH.tests.map((t) => Number(t.experiment)));
    for (const p of points) {
      const truth = TRUTH.tests.find((t) => t.testId === p.testId)!;
      expect(p.offline).toBeCloseTo(truth.offline, 12);
      expect(p.parts['auroc']).toBeCloseTo(truth.offline, 9);
      expect(p.parts['log_loss']).toBeCloseTo(-truth.offline / 2, 9);
    }
    const x = points.map((p) => p.offline);
    const y = points.map((p) => p.online);
    expect(b.kendallTau.value).toBeCloseTo(kendallTauB(x, y), 12);
    expect(b.spearmanRho.value).toBeCloseTo(spearmanRho(x, y), 12);
    expect(b.kendallTau.interval.low).toBeLessThan(b.kendallTau.value);
    expect(b.kendallTau.interval.high).toBeGreaterThan(b.kendallTau.value);
    const agree = points.filter((p) => Math.sign(p.offline) === Math.sign(p.online)).length;
    expect(b.signAgreement.agree).toBe(agree);
    expect(typeof b.slope.slope).toBe('number');
    expect(b.threshold.precision).toBe(0.8);
    expect(b.verdict).toMatch(
      b.ready ? /offline wins translate into online wins/ : /not ready for agentic optimization/,
    );
    // The example pairs are unpaired only for the tests that name experiments the journal does not have.
    expect(b.unpaired.map((u: { testId: string }) => u.testId)).toEqual(expect.arrayContaining(['q1', 'r1']));
    expect(Object.keys(b.parts)).toEqual(['auroc', 'log_loss']);
    // Same seed, same intervals; another seed, other intervals.
    expect(json(['align', '--dir', dir, '--resamples', '500']).body.kendallTau).toEqual(b.kendallTau);
    expect(
      json(['align', '--dir', dir, '--resamples', '500', '--seed', '9']).body.kendallTau.interval,
    ).not.toEqual(b.kendallTau.interval);
  });

  it('prints the verdict, the calibration slope, the threshold and a scatter plot', () => {
    const r = cli(['align', '--dir', dir, '--resamples', '300'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sign agreement \d+\/12/);
    expect(r.stdout).toMatch(/calibration slope/);
    expect(r.stdout).toMatch(/promotion threshold/);
    expect(r.stdout).toMatch(/offline delta \(tier 1\) →/);
    expect(r.stdout.split('\n').filter((l) => /[ox1-9]/.test(l) && /[|+]/.test(l)).length).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/q1: names no experiment/);
  });

  it('links by commit prefix, flags a metric whose online results disagree, and says when there are too few tests', async () => {
    const other = await makeProject({ rows: 1500 });
    recordExperiments(other);
    // Online effects opposite to the offline deltas: no alignment.
    const lines = ['test_id,variant,n,mean,sd,experiment'];
    for (const t of TRUTH.tests) {
      const id = Number(t.experiment);
      lines.push(`${t.testId},control,5000,10,1,${sha(id).slice(0, 8)}`);
      lines.push(`${t.testId},treatment,5000,${10 - t.offline * 10},1,${sha(id).slice(0, 8)}`);
    }
    writeFileSync(join(other, 'ab.csv'), `${lines.join('\n')}\n`);
    expect(cli(['ab', 'import', 'ab.csv', '--dir', other], other).code).toBe(0);
    const r = cli(['align', '--dir', other, '--json', '--resamples', '300'], other);
    const b = JSON.parse(r.stdout);
    expect(b.n).toBe(12);
    expect(b.ready).toBe(false);
    expect(b.verdict).toMatch(/^this metric is not ready for agentic optimization: sign agreement 0\/12/);
    expect(b.kendallTau.value).toBeCloseTo(-1, 12);
    expect(b.threshold.value).toBeNull();
    const text = cli(['align', '--dir', other, '--resamples', '300'], other);
    expect(text.stdout).toMatch(/none: no offline gain reaches that share/);

    const few = await makeProject({ rows: 1500 });
    recordExperiments(few);
    writeFileSync(join(few, 'ab.csv'), `${lines.slice(0, 7).join('\n')}\n`);
    expect(cli(['ab', 'import', 'ab.csv', '--dir', few], few).code).toBe(0);
    const f = JSON.parse(cli(['align', '--dir', few, '--json'], few).stdout);
    expect(f.n).toBe(3);
    expect(f.ready).toBeNull();
    expect(f.verdict).toMatch(/too few tests to judge: 3 A\/B tests/);
  });

  it('refuses a project with no imported tests, with the fix', async () => {
    const empty = await makeProject({ rows: 1500 });
    recordExperiments(empty);
    const r = cli(['align', '--dir', empty], empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no A\/B tests imported yet/);
    expect(r.stderr).toMatch(/ratchet ab import/);
  });
});

describe('ratchet ab simulate', () => {
  it('writes the shipped example exactly (seed 2024, 12 tests, per-arm summaries)', () => {
    const out = join(dir, 'again.csv');
    const r = cli(
      [
        'ab',
        'simulate',
        '--tests',
        '12',
        '--alignment',
        '0.8',
        '--seed',
        '2024',
        '--shape',
        'arms',
        '--out',
        out,
      ],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(EXAMPLE_AB, 'utf8'));
  });
  it('refuses an alignment outside [-1, 1]', () => {
    const r = cli(['ab', 'simulate', '--alignment', '2', '--out', join(dir, 'x.csv')], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--alignment must be a number in \[-1, 1\]/);
  });
  it('per-arm summaries are the mean and sd of the simulated units', () => {
    const units = join(dir, 'u1.csv');
    const arms = join(dir, 'a1.csv');
    cli(['ab', 'simulate', '--tests', '1', '--seed', '3', '--units', '50', '--out', units], dir);
    cli(
      ['ab', 'simulate', '--tests', '1', '--seed', '3', '--units', '50', '--shape', 'arms', '--out', arms],
      dir,
    );
    const vals = readFileSync(units, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
      .filter((x) => x[1] === 'control')
      .map((x) => Number(x[2]));
    const s = summarize(vals);
    const row = readFileSync(arms, 'utf8').split('\n')[1]!.split(',');
    expect(Number(row[3])).toBeCloseTo(s.mean, 6);
    expect(Number(row[4])).toBeCloseTo(s.sd, 6);
  });
});

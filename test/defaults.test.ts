import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPositiveClass } from '../src/contract/positive.js';
import { sampleSd } from '../src/loop/baseline.js';
import { cli, gitOut, tempDir } from './helpers/project.js';

/** A binary table: x is informative, `leak` copies the target; labels as given. */
function binaryCsv(dir: string, labels: [string, string], rows = 600): void {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const lines = ['x,b,leak,y'];
  for (let i = 0; i < rows; i++) {
    const y = rnd() < 0.4 ? 1 : 0;
    lines.push(`${(rnd() + 0.4 * y).toFixed(6)},${rnd() < 0.5 ? 'u' : 'v'},${labels[y]},${labels[y]}`);
  }
  writeFileSync(join(dir, 'data.csv'), `${lines.join('\n')}\n`);
}

describe('the positive class of a binary target', () => {
  it('is defaulted only when the labels say it: {0,1} → 1, {false,true} → true', () => {
    expect(defaultPositiveClass(['0', '1'])).toBe('1');
    expect(defaultPositiveClass(['0.0', '1.0'])).toBe('1.0');
    expect(defaultPositiveClass(['False', 'True'])).toBe('True');
    expect(defaultPositiveClass(['false', 'true'])).toBe('true');
    expect(defaultPositiveClass(['no', 'yes'])).toBeNull();
    expect(defaultPositiveClass(['1', '2'])).toBeNull();
    expect(defaultPositiveClass(['0', '1', '2'])).toBeNull();
  });

  it('labels 0/1 without --positive-class: init says it chose 1 and the scaffold runs (check passes)', {
    timeout: 180_000,
  }, () => {
    const d = tempDir();
    binaryCsv(d, ['0', '1']);
    const init = cli(['init', '--data', 'data.csv', '--target', 'y', '--task', 'binary'], d);
    // the leak guard refuses first: its fix is an edit to ratchet.yaml, so the scaffold stays for it
    expect(init.code).toBe(3);
    expect(init.stdout).toContain(
      'positive class "1" (labels "0" and "1"; --positive-class "0" picks the other)',
    );
    expect(init.stdout).toMatch(/kept the scaffold \(ratchet\.yaml, train\.py/);
    expect(existsSync(join(d, '.git'))).toBe(false);
    expect(readFileSync(join(d, 'train.py'), 'utf8')).toMatch(/^POSITIVE_CLASS = "1"/m);
    const yaml = readFileSync(join(d, 'ratchet.yaml'), 'utf8');
    writeFileSync(
      join(d, 'ratchet.yaml'),
      yaml.replace('  target: y\n', '  target: y\n  drop: [leak]   # mine\n'),
    );
    const again = cli(['init', '--data', 'data.csv', '--target', 'y', '--task', 'binary', '--force'], d);
    expect(again.code, again.stderr).toBe(0);
    const check = cli(['check', '--runs', '1', '--seeds', 'same', '--json'], d);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({
      metric: 'auroc',
      runs: [{ score: expect.any(Number) }],
    });
  });

  it('labels that do not say (no/yes) are refused with the labels and the flag to pass', () => {
    const d = tempDir();
    binaryCsv(d, ['no', 'yes']);
    const r = cli(['init', '--data', 'data.csv', '--target', 'y', '--task', 'binary'], d);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /the binary target y has the labels "no" and "yes": which one is the positive class\?/,
    );
    expect(r.stderr).toMatch(/fix: name it: --positive-class "yes"/);
    expect(existsSync(join(d, 'ratchet.yaml'))).toBe(false);
  });
});

describe('init --force keeps the person’s ratchet.yaml', () => {
  it('flags fill only what is missing; edits and comments stay; nothing changed → no commit', {
    timeout: 180_000,
  }, () => {
    const d = tempDir();
    binaryCsv(d, ['0', '1']);
    // an earlier scaffold made without a positive class (as Ratchet once did), with the person's edits
    expect(cli(['init', '--data', 'data.csv', '--target', 'y', '--task', 'binary'], d).code).toBe(3);
    const yaml = readFileSync(join(d, 'ratchet.yaml'), 'utf8').replace(/^ {2}positive_class: .*\n/m, '');
    writeFileSync(
      join(d, 'ratchet.yaml'),
      yaml.replace('  target: y\n', '  target: y\n  drop: [leak]   # mine\n'),
    );
    const py = readFileSync(join(d, 'train.py'), 'utf8').replace(
      /^POSITIVE_CLASS = "1"/m,
      'POSITIVE_CLASS = ""',
    );
    writeFileSync(join(d, 'train.py'), py);
    const r = cli(
      [
        'init',
        '--data',
        'data.csv',
        '--target',
        'other',
        '--task',
        'binary',
        '--positive-class',
        '1',
        '--force',
      ],
      d,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ratchet.yaml (filled data.positive_class = "1")');
    expect(r.stdout).toContain('train.py (POSITIVE_CLASS filled)');
    expect(r.stdout).toContain('not applied: --target "other" (ratchet.yaml has data.target = "y")');
    const after = readFileSync(join(d, 'ratchet.yaml'), 'utf8');
    expect(after).toMatch(/drop: \[ ?leak ?\] +# mine/);
    expect(after).toMatch(/target: y/);
    expect(after).toMatch(/positive_class: "1"/);
    expect(readFileSync(join(d, 'train.py'), 'utf8')).toMatch(/^POSITIVE_CLASS = "1"/m);
    const head = gitOut(d, ['rev-parse', 'HEAD']);
    const twice = cli(['init', '--force'], d);
    expect(twice.code, twice.stderr).toBe(0);
    expect(gitOut(d, ['rev-parse', 'HEAD'])).toBe(head);
    expect(gitOut(d, ['status', '--porcelain'])).toBe('');
  });
});

describe('a multiclass holdout without one class (temporal split)', () => {
  it('init warns with the label; check passes; auroc_ovr is reported undefined, named by its label', {
    timeout: 240_000,
  }, () => {
    const d = tempDir();
    // "rare" occurs only in the first 200 days: a temporal split leaves it out of both holdouts
    const lines = ['day,x,z,kind'];
    let s = 11;
    const rnd = () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s / 2 ** 31;
    };
    for (let i = 0; i < 900; i++) {
      const x = rnd();
      const kind = i < 200 && rnd() < 0.3 ? 'rare' : x < 0.5 ? 'low' : 'high';
      const date = new Date(Date.UTC(2020, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
      lines.push(`${date},${(x + rnd() * 0.2).toFixed(6)},${rnd().toFixed(6)},${kind}`);
    }
    writeFileSync(join(d, 'data.csv'), `${lines.join('\n')}\n`);
    const init = cli(
      ['init', '--data', 'data.csv', '--target', 'kind', '--task', 'multiclass', '--time', 'day'],
      d,
    );
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/warning: the public holdout has no rows of class "rare" \(temporal split\)/);
    const check = cli(['check', '--runs', '1', '--seeds', 'same'], d);
    expect(check.code, check.stderr + check.stdout).toBe(0);
    const run = cli(['run', '--experiments', '1'], d);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const show = JSON.parse(cli(['show', '1', '--json'], d).stdout);
    expect(show.decision).toBe('kept');
    expect(show.metrics).toHaveProperty('log_loss');
    expect(show.metrics).not.toHaveProperty('auroc_ovr');
    expect(show.undefined_metrics.auroc_ovr).toMatch(
      /class "rare" \(index \d of k = 3\) does not occur in y/,
    );
    const text = cli(['show', '1'], d).stdout;
    expect(text).toMatch(/auroc_ovr undefined on the public holdout: .*class "rare"/);
    // the report's winner-vs-baseline table says so too
    const rep = cli(['report', '--out', join(d, 'rep')], d);
    expect(rep.code, rep.stderr).toBe(0);
    expect(readFileSync(join(d, 'rep', 'report.md'), 'utf8')).toMatch(
      /\| auroc_ovr \| higher is better \| — \| — \| undefined: auroc_ovr is undefined: class "rare"/,
    );
  });
});

describe('rounding is not noise', () => {
  it('a spread at floating-point rounding level counts as zero; a real one is kept', () => {
    const a = 0.7168726645587813;
    // the same score summed in another order: 1 ulp apart
    expect(sampleSd([a, a + Number.EPSILON * a, a])).toBe(0);
    expect(sampleSd([1234.5, 1234.5 + 1e-10])).toBe(0); // relative to |mean| for large-valued metrics (rmse)
    expect(sampleSd([a, a + 1e-6])).toBeCloseTo(1e-6 / Math.SQRT2, 12);
    expect(sampleSd([a])).toBe(0);
  });
});

describe('the search space is validated before it is locked', () => {
  it('init --force over a portfolio value outside the space fails naming the file, the field and the fix; fixed, it locks', {
    timeout: 120_000,
  }, () => {
    const d = tempDir();
    let seed = 3;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const lines = ['x,b,y'];
    for (let i = 0; i < 400; i++) {
      const y = rnd() < 0.4 ? 1 : 0;
      lines.push(`${(rnd() + 0.4 * y).toFixed(6)},${rnd() < 0.5 ? 'u' : 'v'},${y}`);
    }
    writeFileSync(join(d, 'data.csv'), `${lines.join('\n')}\n`);
    const init = cli(['init', '--data', 'data.csv', '--target', 'y', '--task', 'binary'], d);
    expect(init.code, init.stderr).toBe(0);
    const space = readFileSync(join(d, 'search_space.yaml'), 'utf8');
    expect(space).toMatch(/^portfolio:$/m);
    const head = gitOut(d, ['rev-parse', 'HEAD']);
    const lock = readFileSync(join(d, 'ratchet.lock'), 'utf8');

    writeFileSync(join(d, 'search_space.yaml'), space.replace('num_leaves: 31,', 'num_leaves: 300,'));
    const bad = cli(['init', '--force', '--json'], d);
    expect(bad.code).toBe(2);
    const err = JSON.parse(bad.stdout).error;
    expect(err).toMatchObject({ file: 'search_space.yaml', field: 'portfolio[0].lightgbm.num_leaves' });
    expect(err.message).toMatch(
      /portfolio\[0\]\.lightgbm\.num_leaves: 300 is outside \[8, 128\]; fix: use a value from 8 to 128/,
    );
    expect(err.hint).toMatch(/ratchet init --force/);
    // Nothing was locked or committed with the bad file.
    expect(readFileSync(join(d, 'ratchet.lock'), 'utf8')).toBe(lock);
    expect(gitOut(d, ['rev-parse', 'HEAD'])).toBe(head);

    writeFileSync(join(d, 'search_space.yaml'), space.replace('num_leaves: 31,', 'num_leaves: 63,'));
    const good = cli(['init', '--force'], d);
    expect(good.code, good.stderr).toBe(0);
    expect(readFileSync(join(d, 'ratchet.lock'), 'utf8')).not.toBe(lock);
  });
});

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StudioServer, startStudio } from '../src/studio/server.js';
import { launchChromium } from './helpers/chromium.js';
import { CLI, cli, cliAsync, EXAMPLE, makeProject, ROOT, tempDir } from './helpers/project.js';

/**
 * Messages a new user meets, through the compiled CLI (issue 9, findings 3 and 4): one "not a Ratchet
 * project" error with a non-zero exit everywhere, JSON errors under --json, one count of kept changes, one
 * word for the gain, the gap in the metric's direction, and the other message defects.
 */

/** A minimized primary metric (log_loss): the gap must read "private better/worse", never a bare sign. */
const minimize = (yaml: string) =>
  yaml.replace('primary: auroc', 'primary: log_loss').replace('log_loss, brier', 'auroc, brier');

let dir: string;
let runOut: string;
let sub: { public: number; private: number; gap: number };
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  dir = await makeProject({ rows: 1500, contract: minimize });
  const run = cli(['run', '--experiments', '4', '--timeout', '120s', '--run', 'msgs'], dir);
  expect(run.code, run.stderr).toBe(0);
  runOut = run.stdout;
  const s = cli(['submit', '--run', 'msgs', '--json'], dir);
  expect(s.code, s.stderr).toBe(0);
  sub = JSON.parse(s.stdout);
}, 600_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The expected wording of a stored gap (public − private in the metric's direction; > 0 = private worse). */
function expectedGap(gap: number, digits: number): string {
  return `private ${gap > 0 ? 'worse' : 'better'} by ${Math.abs(gap).toFixed(digits)}`;
}

describe('outside a project', () => {
  const commands = [
    ['status'],
    ['log'],
    ['show', '1'],
    ['stop'],
    ['check'],
    ['run'],
    ['submit'],
    ['report'],
    ['review'],
    ['studio'],
    ['audit', 'noise'],
    ['mlflow', 'status'],
    ['mlflow', 'sync'],
    ['traces', 'grep', 'x'],
    ['traces', 'sql', 'select 1'],
    ['mcp'],
  ];
  it('every project command says "not a Ratchet project" (folder and fix) and exits 2', () => {
    const empty = tempDir();
    for (const args of commands) {
      const r = cli(args, empty);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`not a Ratchet project: ${empty} has no ratchet.yaml`);
      expect(r.stderr, args.join(' ')).toMatch(/fix: run `ratchet init --data <file>/);
      expect(r.stdout, args.join(' ')).toBe('');
    }
    expect(readdirSync(empty)).toEqual([]); // nothing written there either
  });

  it('with --json the same error is one JSON object on stdout, with the same exit code', () => {
    const empty = tempDir();
    for (const args of [['status'], ['log'], ['show', '1'], ['stop'], ['mlflow', 'status'], ['check']]) {
      const r = cli([...args, '--json'], empty);
      expect(r.code, args.join(' ')).toBe(2);
      const j = JSON.parse(r.stdout);
      expect(j, args.join(' ')).toEqual({
        error: {
          message: `not a Ratchet project: ${empty} has no ratchet.yaml`,
          file: null,
          field: null,
          hint: expect.stringMatching(/ratchet init --data/),
          exitCode: 2,
        },
      });
      expect(r.stderr, args.join(' ')).toBe('');
    }
  });
});

describe('errors inside a project', () => {
  it('--json errors are JSON on stdout with the exit code of the text form (2 bad input, 3 integrity)', () => {
    const bad = cli(['run', '--experiments', '0', '--json'], dir);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error).toMatchObject({
      message: '--experiments must be a positive integer, got "0"',
      field: '--experiments',
      hint: expect.stringMatching(/whole number of at least 1/),
      exitCode: 2,
    });
    const text = cli(['run', '--experiments', '0'], dir);
    expect(text.code).toBe(2);
    // The field is not repeated in front of a message that already names it.
    expect(text.stderr).toMatch(/^ratchet: --experiments must be a positive integer, got "0"\n {2}fix: /);
    expect(text.stderr).not.toMatch(/--experiments: --experiments/);

    // Commander's own errors too (exit 1, as without --json).
    const unknown = cli(['status', '--json', '--bogus'], dir);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout).error).toMatchObject({
      message: "unknown option '--bogus'",
      exitCode: 1,
    });
    expect(cli(['status', '--bogus'], dir)).toMatchObject({ code: 1, stdout: '' });

    const contract = join(dir, 'ratchet.yaml');
    const original = readFileSync(contract, 'utf8');
    try {
      writeFileSync(contract, original.replace('min_delta: 0.0005', 'min_delta: 0.0'));
      const changed = cli(['run', '--experiments', '2', '--json'], dir);
      expect(changed.code).toBe(3);
      expect(JSON.parse(changed.stdout).error).toMatchObject({
        message: expect.stringMatching(/locked file changed since ratchet init: ratchet.yaml/),
        exitCode: 3,
      });
    } finally {
      writeFileSync(contract, original);
    }
  });

  it('a YAML error at the end of the file names a line inside the file', () => {
    const d = tempDir();
    const yaml = `${readFileSync(join(EXAMPLE, 'ratchet.yaml'), 'utf8').trimEnd()}\nextra: [1, 2\n`;
    writeFileSync(join(d, 'ratchet.yaml'), yaml);
    const lines = yaml.trimEnd().split('\n').length;
    const r = cli(['status'], d);
    expect(r.code).toBe(2);
    const m = r.stderr.match(/not valid YAML at line (\d+), column (\d+)/);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(lines);
    expect(Number(m![1])).toBe(lines);
  });

  it("a negative budget's fix says what a valid value looks like, not the error again", () => {
    const d = tempDir();
    const base = readFileSync(join(EXAMPLE, 'ratchet.yaml'), 'utf8');
    writeFileSync(join(d, 'ratchet.yaml'), base.replace('max_wall_clock: 1h', 'max_wall_clock: -5'));
    const clock = cli(['status'], d);
    expect(clock.code).toBe(2);
    expect(clock.stderr).toMatch(
      /budgets\.max_wall_clock: .*\n {2}fix: give a positive duration, e\.g\. 90s, 30m or 2h/,
    );
    expect(clock.stderr.split('fix:')[1]).not.toMatch(/Too small/);
    writeFileSync(join(d, 'ratchet.yaml'), base.replace('max_experiments: 30', 'max_experiments: -3'));
    const n = cli(['status', '--json'], d);
    expect(n.code).toBe(2);
    expect(JSON.parse(n.stdout).error).toMatchObject({
      file: 'ratchet.yaml',
      field: 'budgets.max_experiments',
      hint: 'give a positive number (greater than 0), e.g. 10',
    });
  });

  it('non-UTF-8 data is named with the offset of its first bad byte, and the failed init removes its scaffold', () => {
    const d = tempDir();
    const lines = readFileSync(join(EXAMPLE, 'data.csv'), 'utf8').split('\n').slice(0, 301);
    const before = Buffer.byteLength(`${lines.slice(0, 14).join('\n')}\n`, 'utf8');
    // Line 15 of the file gets a Latin-1 "é" (one byte 0xE9) at its start, as a spreadsheet export would.
    lines[14] = `\u00e9${lines[14]}`;
    writeFileSync(join(d, 'data.csv'), Buffer.from(lines.join('\n'), 'latin1'));
    writeFileSync(join(d, 'notes.txt'), 'mine\n');
    const r = cli(['init', '--data', 'data.csv', '--target', 'outwork', '--task', 'binary'], d);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`data.csv is not UTF-8 text (first bad byte at offset ${before})`);
    expect(r.stderr).toMatch(/fix: re-encode it, e\.g\. iconv -f latin1 -t utf-8 data\.csv/);
    expect(r.stderr).not.toMatch(/CSV Error/);
    // Nothing of the half-made scaffold is left: no contract, no train.py, no .git; the user's files stay.
    expect(readdirSync(d).sort()).toEqual(['data.csv', 'notes.txt']);
    expect(readFileSync(join(d, 'notes.txt'), 'utf8')).toBe('mine\n');
  });
});

describe('init --dir <a folder that does not exist>', () => {
  it('makes the folder (no stack trace); a failed init removes every folder it made', () => {
    const d = tempDir();
    const data = join(EXAMPLE, 'data.csv');
    const bad = cli(
      ['init', '--dir', 'new/deeper', '--data', data, '--target', 'no_such_column', '--task', 'binary'],
      d,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no_such_column/);
    expect(bad.stderr).not.toMatch(/ENOENT|\n\s+at /);
    expect(readdirSync(d)).toEqual([]); // `new` was made by this call: gone again
    const ok = cli(
      [
        'init',
        '--dir',
        'new/deeper',
        '--data',
        data,
        '--target',
        'outwork',
        '--task',
        'binary',
        '--id',
        'row_id',
      ],
      d,
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(readdirSync(join(d, 'new', 'deeper'))).toEqual(
      expect.arrayContaining(['ratchet.yaml', 'train.py', '.git']),
    );
  });
});

describe('one count of kept changes, one word for the gain, the gap in the metric direction', () => {
  it('the closing line, status, status --json and report agree on the kept changes (+ baseline)', () => {
    const m = runOut.match(/(\d+) experiments, (\d+) kept changes? \(\+ baseline\)/);
    expect(m, runOut).not.toBeNull();
    expect(Number(m![1])).toBe(4);
    const kept = Number(m![2]);
    const keptWords = `${kept} kept change${kept === 1 ? '' : 's'} (+ baseline)`;
    const status = cli(['status', '--run', 'msgs'], dir);
    expect(status.stdout).toContain(`experiments: 4: ${keptWords}`);
    const sj = JSON.parse(cli(['status', '--run', 'msgs', '--json'], dir).stdout);
    expect(sj.experiments).toMatchObject({ total: 4, baseline: 1, kept });
    const log = JSON.parse(cli(['log', '--run', 'msgs', '--json'], dir).stdout) as {
      seq: number;
      decision: string;
    }[];
    expect(log.filter((e) => e.decision === 'kept' && e.seq > 1)).toHaveLength(kept);
    const rj = JSON.parse(cli(['report', '--run', 'msgs', '--json'], dir).stdout);
    expect(rj.counts).toMatchObject({ total: 4, baseline: 1, kept });
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain(keptWords);
  });

  it('log and show say "gain", never "delta"', () => {
    const log = cli(['log', '--run', 'msgs'], dir);
    expect(log.stdout.split('\n')[0]).toMatch(/\bgain\b/);
    expect(log.stdout).not.toMatch(/delta/);
    const entries = JSON.parse(cli(['log', '--run', 'msgs', '--json'], dir).stdout);
    expect(entries[1].gain).toBe(entries[1].delta);
    const show = cli(['show', String(entries[1].id)], dir);
    expect(show.stdout).toMatch(/^score: +\d\.\d{4} {2}gain [+-]\d\.\d{4}/m);
    // The score line names the gain (the keep rule's reason may still cite its min_delta setting).
    expect(show.stdout.split('\n').find((l) => l.startsWith('score:'))).not.toMatch(/delta/);
  });

  it('submit, status and the report word the gap in the metric direction (log_loss: lower is better)', () => {
    expect(sub.gap).toBeCloseTo(sub.private - sub.public, 12); // minimize: gap > 0 means private worse
    const again = cli(['submit', '--run', 'msgs'], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      `log_loss (minimize): public ${sub.public.toFixed(6)}  private ${sub.private.toFixed(6)}: ${expectedGap(sub.gap, 6)}`,
    );
    expect(again.stdout).not.toMatch(/public − private/);
    const status = cli(['status', '--run', 'msgs'], dir).stdout;
    expect(status).toContain(`(${expectedGap(sub.gap, 4)})`);
    expect(status).not.toMatch(/gap [+-]/);
    cli(['report', '--run', 'msgs'], dir);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain(expectedGap(sub.gap, 6));
    expect(md).not.toMatch(/public − private/);
  });

  it('the Studio shows the same kept count, the gap in words and the unmeasured-noise warning', async () => {
    const studio: StudioServer = await startStudio({ projectDir: dir, port: 0, pollMs: 250 });
    cleanups.push(() => studio.close());
    const sj = JSON.parse(cli(['status', '--run', 'msgs', '--json'], dir).stdout);
    const kept = sj.experiments.kept as number;
    const { context, close } = await launchChromium();
    cleanups.push(close);
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${studio.port}/?run=msgs`);
    await page.waitForSelector('#kept-count');
    expect(await page.textContent('#kept-count')).toBe(
      `${kept} kept change${kept === 1 ? '' : 's'} (+ baseline)`,
    );
    expect(await page.textContent('#best')).toContain(`(${expectedGap(sub.gap, 4)})`);
    expect(await page.textContent('#noise-note')).toMatch(
      /^WARNING noise not measured: .*run ratchet check$/,
    );
  });
});

describe('small message defects', () => {
  it("the README's Studio port is the CLI's default", () => {
    const help = spawnSync(process.execPath, [CLI, 'studio', '--help'], { encoding: 'utf8' }).stdout;
    const port = help.match(/--port <n>.*\(default: "(\d+)"\)/s)?.[1];
    expect(port).toBe('4500');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`ratchet studio [--port ${port}]`);
    expect(readme).not.toMatch(/8731/);
  });

  it('a run stopped by SIGTERM says "stopped: received SIGTERM" once, not "stopped: stopped:"', async () => {
    const p = await makeProject({ rows: 1000 });
    const { child, done } = cliAsync(['run', '--experiments', '30', '--run', 'term'], p);
    let out = '';
    child.stdout?.on('data', (b) => {
      out += b;
    });
    const t0 = Date.now();
    while (!/\[ ?2\/30\]/.test(out) && Date.now() - t0 < 240_000)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const r = await done;
    expect(r.stdout).toMatch(/run term stopped: received SIGTERM\. /);
    expect(r.stdout).not.toMatch(/stopped: stopped:/);
    const status = cli(['status', '--run', 'term'], p).stdout;
    expect(status).toMatch(/^ {2}received SIGTERM$/m);
    expect(status).not.toMatch(/stopped: stopped:/);
    cli(['report', '--run', 'term'], p);
    const md = readFileSync(join(p, 'report.md'), 'utf8');
    expect(md).toContain('run term stopped: received SIGTERM');
    expect(md).toContain('_stopped: received SIGTERM.');
    expect(md).not.toMatch(/stopped: stopped:/);
  });
});

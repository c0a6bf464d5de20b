import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initProject } from '../src/contract/init.js';
import { cli, makeProject } from './helpers/project.js';

/**
 * Noise is measured by default (issue 9, finding 2), through the compiled CLI: `ratchet check` runs the
 * baseline with the same seed AND with varied seeds, every keep decision names the rule that decided, and
 * status and the report say plainly when σ is unknown.
 */

/** A seed-sensitive baseline: a small random forest (its trees depend on RATCHET_SEED). */
async function seedSensitiveProject(): Promise<string> {
  const dir = await makeProject({ rows: 1500, noInit: true });
  writeFileSync(
    join(dir, 'params.yaml'),
    'model: random_forest\nrandom_forest:\n  n_estimators: 15\n  max_depth: 6\nscale_numeric: true\n',
  );
  await initProject(dir);
  return dir;
}

interface Entry {
  seq: number;
  score: number | null;
  reason: string;
}

const decided = (dir: string) =>
  (JSON.parse(cli(['log', '--json'], dir).stdout) as Entry[]).filter((e) => e.seq > 1 && e.score !== null);

describe('ratchet check measures noise by default', () => {
  it('runs the baseline with the same seed and with varied seeds; the keep rule then says it is noise-aware', async () => {
    const dir = await seedSensitiveProject();
    const check = cli(['check', '--runs', '2'], dir);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/running the baseline 2 times \(same-seed\)/);
    expect(check.stdout).toMatch(/running the baseline 2 times \(varied-seed\)/);
    expect(check.stdout).toMatch(/^auroc +same-seed /m);
    expect(check.stdout).toMatch(/^auroc +varied-seed /m);
    expect(check.stdout).toMatch(/keep rule: noise-aware \(σ=\d\.\de-\d+ from 2 varied-seed runs\)/);
    expect(check.stdout).toMatch(/next: ratchet run/);

    const run = cli(['run', '--experiments', '3', '--timeout', '120s'], dir);
    expect(run.code, run.stderr).toBe(0);
    const entries = decided(dir);
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries)
      expect(e.reason).toMatch(/; rule: noise-aware \(σ=\d\.\de-\d+ from 2 varied-seed runs\)$/);
    const status = cli(['status'], dir).stdout;
    expect(status).toMatch(/noise sd \d\.\d\de-\d+ over 2 varied-seed runs: the keep rule is noise-aware/);
    expect(status).not.toMatch(/WARNING/);
    const report = JSON.parse(cli(['report', '--json'], dir).stdout);
    expect(report.noise.note.measured).toBe(true);
    expect(report.noise.measurements.map((m: { kind: string }) => m.kind).sort()).toEqual([
      'same-seed',
      'varied-seed',
    ]);
  });

  it('without ratchet check, every decision says "min_delta only (σ unknown)" and status and report warn', async () => {
    const dir = await makeProject({ rows: 1000 });
    const run = cli(['run', '--experiments', '3', '--timeout', '120s'], dir);
    expect(run.code, run.stderr).toBe(0);
    const entries = decided(dir);
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries)
      expect(e.reason).toMatch(/; rule: min_delta only \(σ unknown: run ratchet check\)$/);
    const status = cli(['status'], dir).stdout;
    expect(status).toMatch(
      /WARNING noise not measured: gains below min_delta 0\.0005 are kept on min_delta alone and cannot be told from seed luck; run ratchet check/,
    );
    expect(JSON.parse(cli(['status', '--json'], dir).stdout).noise_note.measured).toBe(false);
    cli(['report'], dir);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(
      /WARNING noise not measured: .*run ratchet check/,
    );

    // --determinism is kept as an alias of the default (both kinds); an unknown --seeds is refused.
    const both = cli(['check', '--determinism', '--runs', '1', '--json'], dir);
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout).estimates.map((e: { kind: string }) => e.kind)).toEqual([
      'same-seed',
      'varied-seed',
    ]);
    const bad = cli(['check', '--seeds', 'random', '--json'], dir);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error).toMatchObject({
      message: '--seeds must be same, varied or both, got "random"',
      field: '--seeds',
    });
  });

  it('a same-seed-only check of a deterministic baseline is not taken for measured seed noise', async () => {
    const dir = await makeProject({ rows: 1000 });
    const check = cli(['check', '--seeds', 'same', '--runs', '2'], dir);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).not.toMatch(/varied-seed/);
    expect(check.stdout).toMatch(
      /keep rule: min_delta only \(σ=0 from 2 same-seed runs: deterministic; seed noise not measured/,
    );
    expect(check.stdout).toMatch(
      /seed noise not measured: gains below min_delta 0\.0005 may be seed luck\. next: ratchet check --seeds varied/,
    );
    expect(check.stdout).not.toMatch(/next: ratchet run/);
    const status = JSON.parse(cli(['status', '--json'], dir).stdout);
    expect(status.run).toBeNull();
    const run = cli(['run', '--experiments', '2', '--timeout', '120s'], dir);
    expect(run.code, run.stderr).toBe(0);
    for (const e of decided(dir))
      expect(e.reason).toMatch(
        /; rule: min_delta only \(σ=0 from 2 same-seed runs: deterministic; seed noise not measured/,
      );
    expect(cli(['status'], dir).stdout).toMatch(
      /WARNING seed noise not measured \(the same-seed runs agree exactly: deterministic\)/,
    );
  });
});

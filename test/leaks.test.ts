/**
 * Leakage guardrails at `ratchet init`, on the real bundled data with planted leaks: each stops init with an
 * error naming the column, the number and the fix, and the fix works.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, makeProject } from './helpers/project.js';

/** Add a column computed from each row (cells by header name) to the project's data.csv. */
function addColumn(dir: string, name: string, f: (row: Record<string, string>, i: number) => string): void {
  const lines = readFileSync(join(dir, 'data.csv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const out = [`${lines[0]},${name}`];
  lines.slice(1).forEach((l, i) => {
    const cells = l.split(',');
    out.push(`${l},${f(Object.fromEntries(header.map((h, j) => [h, cells[j]!])), i)}`);
  });
  writeFileSync(join(dir, 'data.csv'), `${out.join('\n')}\n`);
}

describe('leakage guardrails at init', () => {
  it('a renamed copy of the target stops init (target-leakage, never overridable); data.drop fixes it', async () => {
    const dir = await makeProject({ rows: 3000, noInit: true });
    addColumn(dir, 'status_code', (r) => (r['outwork'] === '1' ? 'OUT' : 'IN'));
    const r = cli(['init'], dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/target-leakage: .*status_code/);
    expect(r.stderr).toMatch(/fix: add status_code to data\.drop in ratchet\.yaml/);
    expect(cli(['run', '--experiments', '1'], dir).code).not.toBe(0);
    writeFileSync(
      join(dir, 'ratchet.yaml'),
      readFileSync(join(dir, 'ratchet.yaml'), 'utf8').replace(
        '  group: id\n',
        '  group: id\n  drop: [status_code]\n',
      ),
    );
    const ok = cli(['init'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(join(dir, '.ratchet/data/train.csv'), 'utf8').split('\n')[0]).not.toMatch(
      /status_code/,
    );
  });

  it('a random split of panel data puts the same person in train and holdouts (group-overlap)', async () => {
    const dir = await makeProject({
      rows: 3000,
      noInit: true,
      contract: (y) => y.replace('strategy: group', 'strategy: random'),
    });
    const r = cli(['init'], dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/group-overlap/);
  });

  it('the clean bundled example passes the scan, and check reports it', async () => {
    const dir = await makeProject({ rows: 3000 });
    const r = cli(['check', '--runs', '1'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/leakage scan: (clean|\d+ warning)/);
  });
});

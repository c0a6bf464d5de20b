import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { sha256 } from '../../src/util/fs.js';
import { cli, gitOut, makeProject, tempDir, writeExampleData } from '../helpers/project.js';
import { ScriptedProposer } from '../helpers/scripted.js';

/** SHA-256 of every file under the split's folders and of the lock, by project-relative path. */
function splitState(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sub of ['.ratchet/data', '.ratchet/vault']) {
    for (const f of readdirSync(join(dir, sub)).sort())
      out[`${sub}/${f}`] = sha256(readFileSync(join(dir, sub, f)));
  }
  out['ratchet.lock'] = sha256(readFileSync(join(dir, 'ratchet.lock')));
  return out;
}

const baselineRun = async (dir: string) =>
  (await runLoop({ projectDir: dir, proposer: async () => new ScriptedProposer([]), maxExperiments: 1 }))
    .runId;

function runConfig(dir: string, runId: string): Record<string, unknown> {
  const j = Journal.open(dir, { readonly: true });
  try {
    return j.getRun(runId)!.config;
  } finally {
    j.close();
  }
}

describe('ratchet init never silently re-splits a project that has runs', () => {
  it('refuses (nothing changed); --force keeps the old split as version 1; each run is submitted on its own split', {
    timeout: 400_000,
  }, async () => {
    const dir = await makeProject({ rows: 1500 });
    const first = await baselineRun(dir);
    expect(runConfig(dir, first)['splitVersion']).toBe(1);
    // what the first run scores on its own split, measured on a copy made before anything changes
    const copy = join(tempDir(), 'copy');
    cpSync(dir, copy, { recursive: true });
    const expected = JSON.parse(cli(['submit', '--dir', copy, '--run', first, '--json'], copy).stdout);
    expect(Number.isFinite(expected.private)).toBe(true);

    // the data changes, and init is run again
    writeExampleData(join(dir, 'data.csv'), 1700);
    const before = splitState(dir);
    const head = gitOut(dir, ['rev-parse', 'HEAD']);
    const refused = cli(['init'], dir);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/the project has 1 run and data\.csv \(the data changed\)/);
    expect(refused.stderr).toMatch(/pass --force to re-split and keep the current split as version 1/);
    expect(splitState(dir)).toEqual(before);
    expect(gitOut(dir, ['rev-parse', 'HEAD'])).toBe(head);
    expect(existsSync(join(dir, '.ratchet', 'splits'))).toBe(false);

    // --force: a new split; the old one is kept as version 1
    const forced = cli(['init', '--force', '--json'], dir);
    expect(forced.code, forced.stderr).toBe(0);
    const out = JSON.parse(forced.stdout);
    expect(out.resplit).toMatchObject({ kept: 1, version: 2 });
    expect(splitState(dir)['.ratchet/vault/private.parquet']).not.toBe(
      before['.ratchet/vault/private.parquet'],
    );
    expect(splitState(join(dir, '.ratchet', 'splits', 'v1'))).toEqual(before);

    // a new run records version 2
    const second = await baselineRun(dir);
    expect(runConfig(dir, second)['splitVersion']).toBe(2);

    // submit: the first run on its own split (the same score as before the re-split), the second on the new one
    const a = cli(['submit', '--dir', dir, '--run', first, '--json'], dir);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ run: first, fresh: true, private: expected.private });
    const b = cli(['submit', '--dir', dir, '--run', second, '--json'], dir);
    expect(b.code, b.stderr).toBe(0);
    const bj = JSON.parse(b.stdout);
    expect(bj).toMatchObject({ run: second, fresh: true });
    expect(Number.isFinite(bj.private)).toBe(true);
    const j = Journal.open(dir, { readonly: true });
    expect(j.listEvents({ kinds: ['split.version'] }).map((e) => e.data?.['version'])).toEqual([2]);
    j.close();
  });
});

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../src/journal/store.js';
import { CLI, cli, EXAMPLE, gitOut, makeProject } from './helpers/project.js';

function processesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** Journal, results.tsv and branch agree, with no experiment recorded twice. */
function expectConsistent(dir: string, runId: string, total: number): void {
  const j = Journal.open(dir, { readonly: true });
  const exps = j.listExperiments(runId);
  const run = j.getRun(runId)!;
  j.close();
  expect(exps.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  expect(new Set(exps.map((e) => e.id)).size).toBe(total);
  expect(run.status).toBe('finished');
  const tsv = readFileSync(join(dir, '.ratchet/results.tsv'), 'utf8').trim().split('\n').slice(1);
  expect(tsv.map((l) => Number(l.split('\t')[0]))).toEqual(exps.map((e) => e.id));
  const kept = exps.filter((e) => e.decision === 'kept');
  const onBranch = gitOut(dir, [
    'log',
    '--format=%(trailers:key=Ratchet-Experiment,valueonly)',
    `main..${run.branch}`,
  ])
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
  expect(onBranch).toEqual(kept.map((e) => e.id));
  expect(gitOut(dir, ['rev-parse', run.branch]).trim()).toBe(kept.at(-1)!.commitSha);
  expect(gitOut(dir, ['status', '--porcelain'])).toBe('');
}

describe('crash safety: kill -9 of the orchestrator, then `ratchet run` resumes', () => {
  it('during EXECUTE: the sandbox dies with it; the resumed run records every experiment once', async () => {
    const marker = `ratchet-crash-marker-${process.pid}`;
    const real = readFileSync(join(EXAMPLE, 'train.py'), 'utf8').replace(
      'from __future__ import annotations\n',
      '',
    );
    const trainPy = `from __future__ import annotations
import os, subprocess, sys, time
if os.environ.get("RATCHET_EXPERIMENT") == "2":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "${marker}"], start_new_session=True)
    time.sleep(600)
${real}`;
    const dir = await makeProject({ rows: 1500, trainPy });
    const child = spawn(process.execPath, [CLI, 'run', '--experiments', '4', '--run', 'crashy'], {
      cwd: dir,
      stdio: 'ignore',
    });
    expect(await waitFor(() => processesWith(marker).length > 0, 60_000)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    // bubblewrap's --die-with-parent takes the whole sandboxed tree down with the orchestrator.
    expect(await waitFor(() => processesWith(marker).length === 0, 3000)).toBe(true);
    const resumed = cli(['run'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming run crashy/);
    expectConsistent(dir, 'crashy', 4);
  });

  for (const point of ['record:after-commit', 'record:after-journal']) {
    it(`during RECORD (${point}): nothing recorded is lost, nothing is recorded twice, the branch matches the journal`, async () => {
      const dir = await makeProject({ rows: 1500 });
      const crashed = cli(['run', '--experiments', '3', '--run', 'r'], dir, { RATCHET_FAILPOINT: point });
      expect(crashed.code).toBeNull(); // killed by SIGKILL
      const j = Journal.open(dir, { readonly: true });
      const before = j.listExperiments('r').length;
      j.close();
      expect(before).toBe(point === 'record:after-commit' ? 0 : 1);
      const resumed = cli(['run'], dir);
      expect(resumed.code, resumed.stderr).toBe(0);
      expectConsistent(dir, 'r', 3);
    });
  }
});

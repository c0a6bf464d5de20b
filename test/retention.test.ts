/**
 * Retention end to end: a real run (the scaffold's train.py writes Parquet predictions and is scored), pruning of
 * old outputs after each experiment, `ratchet gc` with --dry-run and --keep-last, and a pruned experiment shown
 * as such.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../src/journal/store.js';
import { runLoop } from '../src/loop/run.js';
import { cli, makeProject, tempDir } from './helpers/project.js';
import { NOISE_PREDICTIONS, predictingScript, ScriptedProposer } from './helpers/scripted.js';

const out = (dir: string, id: number) => join(dir, '.ratchet/runs', String(id).padStart(4, '0'), 'output');

describe('retention', () => {
  it('keeps kept experiments and the last N others, gc --dry-run deletes nothing, gc deletes the rest', async () => {
    const dir = await makeProject({
      rows: 1500,
      contract: (y) => `${y.trimEnd()}\nretention:\n  keep_last: 1\n`,
    });
    // Four changes that write signal-free predictions: each is reverted.
    const proposer = new ScriptedProposer(
      [1, 2, 3, 4].map((k) => ({
        hypothesis: `noise ${k}`,
        files: { 'train.py': predictingScript(NOISE_PREDICTIONS, `# variant ${k}`) },
      })),
    );
    const s = await runLoop({ projectDir: dir, proposer: async () => proposer, maxExperiments: 5 });
    const j = Journal.open(dir, { readonly: true });
    const exps = j.listExperiments(s.runId);
    const events = j.listEvents({}).filter((e) => e.kind === 'retention.pruned');
    j.close();
    expect(exps.map((e) => e.decision)).toEqual(['kept', 'reverted', 'reverted', 'reverted', 'reverted']);
    // The scaffold's train.py wrote Parquet, and it was scored.
    expect(existsSync(join(out(dir, 1), 'public.parquet'))).toBe(true);
    expect(existsSync(join(out(dir, 1), 'public.csv'))).toBe(false);
    expect(exps[0]!.score!).toBeGreaterThan(0.6);
    // Before experiments 4 and 5, retention (keep_last 1) pruned #2 then #3; #4 and #5 are the newest.
    expect(existsSync(join(out(dir, 2), 'public.csv'))).toBe(false);
    expect(existsSync(join(out(dir, 3), 'public.csv'))).toBe(false);
    expect(existsSync(join(out(dir, 4), 'public.csv'))).toBe(true);
    expect(existsSync(join(out(dir, 5), 'public.csv'))).toBe(true);
    expect(events.flatMap((e) => (e.data as { experiments: number[] }).experiments)).toEqual([2, 3]);
    expect(events[0]!.message).toMatch(/predictions pruned by retention: 1 experiment\(s\) \(#2\)/);

    const dry = cli(['gc', '--keep-last', '0', '--dry-run', '--json'], dir);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as {
      removed: { id: number; bytes: number }[];
      bytes_would_free: number;
    };
    expect(plan.removed.map((r) => r.id)).toEqual([4, 5]);
    expect(plan.bytes_would_free).toBeGreaterThan(0);
    expect(existsSync(join(out(dir, 4), 'public.csv'))).toBe(true);

    const gc = cli(['gc', '--keep-last', '0'], dir);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/removed #4 outputs/);
    expect(gc.stdout).toMatch(/freed [\d.]+ MiB \(\d+ bytes\) in 2 folder\(s\)/);
    expect(existsSync(join(out(dir, 4), 'public.csv'))).toBe(false);
    expect(existsSync(join(out(dir, 5), 'public.csv'))).toBe(false);
    // The kept baseline keeps its predictions whatever keep_last says.
    expect(existsSync(join(out(dir, 1), 'public.parquet'))).toBe(true);
    expect(cli(['gc', '--keep-last', '0'], dir).stdout).toMatch(/nothing to remove/);

    const show = cli(['show', '2'], dir);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/outputs: +predictions pruned by retention/);
    expect(cli(['show', '1'], dir).stdout).toMatch(/outputs: +on disk/);
  });

  it('gc outside a project and with a bad --keep-last says what is wrong', async () => {
    const empty = tempDir();
    const r = cli(['gc'], empty);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ratchet\.yaml/);
    const dir = await makeProject({ rows: 300, noInit: true });
    const bad = cli(['gc', '--keep-last', 'many'], dir);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--keep-last must be a whole number/);
  });
});

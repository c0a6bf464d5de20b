import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { cli, makeProject, tempDir } from '../helpers/project.js';
import { ScriptedProposer } from '../helpers/scripted.js';

/** `ratchet export`: only a promoted candidate goes to an A/B test, with its patch, its evidence and the way back. */
describe('ratchet export', () => {
  it('refuses an unreviewed or rejected experiment and exports a promoted one', async () => {
    const dir = await makeProject({ rows: 8000 });
    // A baseline and one real gain (a gradient-boosted model instead of the logistic regression), kept.
    const s = await runLoop({
      projectDir: dir,
      proposer: async () =>
        new ScriptedProposer([
          {
            hypothesis: 'lightgbm',
            files: {
              'params.yaml':
                'model: lightgbm\nlightgbm:\n  n_estimators: 200\n  learning_rate: 0.05\n  num_leaves: 15\n',
            },
          },
        ]),
      maxExperiments: 2,
      experimentTimeoutMs: 120_000,
    });
    expect(s.status).toBe('finished');
    const sub = cli(['submit', '--json'], dir);
    expect(sub.code, sub.stderr).toBe(0);
    const id = (JSON.parse(sub.stdout) as { experiment: number }).experiment;
    expect(id).toBe(2);
    const out = join(tempDir('ratchet-export-'), 'ab');

    const unreviewed = cli(['export', String(id), '--out', out], dir);
    expect(unreviewed.code).toBe(3);
    expect(unreviewed.stderr).toMatch(
      /has not been promoted at tier 2: only a promoted candidate goes to an A\/B test/,
    );
    expect(existsSync(out)).toBe(false);

    expect(cli(['review', String(id), '--reject', '--note', 'not convinced'], dir).code).toBe(0);
    const rejected = cli(['export', String(id), '--out', out], dir);
    expect(rejected.code).toBe(3);
    expect(rejected.stderr).toMatch(/was rejected by .* \(not convinced\)/);

    expect(cli(['review', String(id), '--promote', '--note', 'holds on private'], dir).code).toBe(0);
    const ok = cli(['export', String(id), '--out', out, '--json'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout) as { commitSha: string; baseCommit: string; files: string[] };
    expect(r.files).toEqual(['change.patch', 'evidence.json', 'AB.md']);
    const evidence = JSON.parse(readFileSync(join(out, 'evidence.json'), 'utf8')) as {
      experiment: number;
      commit: string;
      private: { score: number } | null;
      review: { note: string };
    };
    expect(evidence.experiment).toBe(id);
    expect(evidence.commit).toBe(r.commitSha);
    expect(typeof evidence.private?.score).toBe('number');
    expect(evidence.review.note).toBe('holds on private');
    // The patch takes the base commit to the candidate's tree exactly.
    const check = tempDir('ratchet-export-apply-');
    execFileSync('git', ['clone', '-q', dir, check]);
    execFileSync('git', ['checkout', '-q', r.baseCommit], { cwd: check });
    execFileSync('git', ['apply', join(out, 'change.patch')], { cwd: check });
    execFileSync('git', ['add', '-A'], { cwd: check });
    const applied = execFileSync('git', ['write-tree'], { cwd: check }).toString().trim();
    const want = execFileSync('git', ['rev-parse', `${r.commitSha}^{tree}`], { cwd: dir })
      .toString()
      .trim();
    expect(applied).toBe(want);
    expect(readFileSync(join(out, 'AB.md'), 'utf8')).toContain(`<test id>,treatment,<n>,<mean>,<sd>,${id}`);
    const j = Journal.open(dir, { readonly: true });
    try {
      expect(j.listEvents({ kinds: ['export'] })).toHaveLength(1);
    } finally {
      j.close();
    }
    // An existing, non-empty folder is never written over.
    expect(cli(['export', String(id), '--out', out], dir).stderr).toMatch(/is not empty/);
  }, 300_000);
});

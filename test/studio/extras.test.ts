import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { csvCell, liveExperiment, logTail, readTailNoFollow } from '../../src/studio/extras.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { makeProject, tempDir } from '../helpers/project.js';
import { ScriptedProposer } from '../helpers/scripted.js';

const FORMULA = '=HYPERLINK("http://evil.example","click") stronger regularisation';
const QUOTED = 'more trees, "deeper" ones\nand a second line';

let dir: string;
let studio: StudioServer;
let ids: number[] = [];

beforeAll(async () => {
  dir = await makeProject({ rows: 1000 });
  const params = readFileSync(join(dir, 'params.yaml'), 'utf8');
  await runLoop({
    projectDir: dir,
    runId: 'cmp',
    proposer: async () =>
      new ScriptedProposer([
        { hypothesis: FORMULA, files: { 'params.yaml': params.replace('C: 1.0', 'C: 0.05') } },
        { hypothesis: QUOTED, files: { 'params.yaml': params.replace('C: 1.0', 'C: 20.0') } },
      ]),
    maxExperiments: 3,
  });
  const j = Journal.open(dir, { readonly: true });
  ids = j.listExperiments('cmp').map((e) => e.id);
  j.close();
  studio = await startStudio({ projectDir: dir, port: 0, pollMs: 100 });
}, 300_000);

afterAll(async () => {
  await studio?.close();
});

describe('the Studio: CSV export and the comparison of two experiments', () => {
  it('exports the experiment table as RFC 4180 CSV with formula cells defused', async () => {
    const r = await fetch(`${studio.url}api/experiments.csv?run=cmp`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/csv/);
    expect(r.headers.get('content-disposition')).toMatch(
      /attachment; filename="ratchet-cmp-experiments.csv"/,
    );
    const text = await r.text();
    const lines = text.split('\r\n');
    expect(lines[0]).toBe(
      'id,seq,decision,score,gain,duration_s,hypothesis,reason,conclusion,proposer,commit,started_at',
    );
    expect(text).toContain(`,"'=HYPERLINK(""http://evil.example"",""click"") stronger regularisation",`);
    expect(text).toContain('"more trees, ""deeper"" ones\nand a second line"');
    expect(text).not.toMatch(/(^|,)=HYPERLINK/m);
    expect(lines.filter((l) => /^\d+,\d+,/.test(l))).toHaveLength(3);
    expect(csvCell('-1+2')).toBe("'-1+2");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell(-0.5)).toBe('-0.5');
    expect(csvCell(null)).toBe('');
  });

  it('compares two experiments: params, public metrics and the git diff of their commits', async () => {
    const [a, , c] = ids;
    const r = await fetch(`${studio.url}api/compare?a=${a}&b=${c}`);
    expect(r.status).toBe(200);
    const cmp = await r.json();
    expect(cmp.a.id).toBe(a);
    expect(cmp.b.id).toBe(c);
    expect(cmp.b.hypothesis).toBe(QUOTED);
    expect(Object.keys(cmp.a.metrics)).toContain('auroc');
    expect(JSON.stringify(cmp)).not.toMatch(/private/);
    expect(cmp.diff_truncated).toBe(false);
    expect(typeof cmp.diff).toBe('string');
    if (cmp.b.commit) {
      expect(cmp.diff).toContain('diff --git a/params.yaml b/params.yaml');
      expect(cmp.diff).toContain('+  C: 20.0');
    } else {
      expect(cmp.diff_note).toMatch(/made no commit: its parent [0-9a-f]{12} is compared/);
    }
  });

  it('answers 400 with a JSON error for ids that are not integers, 404 for unknown ones', async () => {
    for (const q of ['a=1&b=x', 'a=1.5&b=2', 'a=-1&b=2', 'b=2', 'a=1&b=99999999999999999999', 'a=0&b=1']) {
      const r = await fetch(`${studio.url}api/compare?${q}`);
      expect(r.status, q).toBe(400);
      const body = await r.json();
      expect(body.error).toMatch(/a and b must be experiment ids \(positive integers\)/);
      expect(body.hint).toMatch(/compare\?a=3&b=7/);
    }
    const missing = await fetch(`${studio.url}api/compare?a=${ids[0]}&b=9999`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toBe('no experiment 9999');
  });

  it("reads a running experiment's logs safely: no links followed, capped, terminal escapes stripped", () => {
    const root = tempDir();
    const run = join(root, '.ratchet', 'runs', '0042');
    mkdirSync(run, { recursive: true });
    expect(liveExperiment(root, 42).phase).toBe('check');
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} \u001b[31mred\u001b[0m\u0007`);
    writeFileSync(join(run, 'stdout.log'), `${lines.join('\n')}\n`);
    writeFileSync(join(root, 'secret.txt'), 'do not show');
    symlinkSync(join(root, 'secret.txt'), join(run, 'stderr.log'));
    const live = liveExperiment(root, 42);
    expect(live.phase).toBe('execute');
    expect(live.stdout.split('\n')).toHaveLength(50);
    expect(live.stdout.split('\n').at(-1)).toBe('line 199 red');
    expect(live.stdout).not.toMatch(/[\u0000-\u0008\u001b]/);
    expect(live.stderr).toBe('');
    expect(readTailNoFollow(root, '.ratchet/runs/0042/stderr.log', 1024)).toBeNull();
    const tail = readTailNoFollow(root, '.ratchet/runs/0042/stdout.log', 100)!;
    expect(tail.length).toBeLessThanOrEqual(100);
    expect(tail.startsWith('line ')).toBe(true);
    writeFileSync(join(run, 'sandbox.json'), '{}');
    expect(liveExperiment(root, 42).phase).toBe('evaluate');
    expect(logTail('a\r\nb\rc\u001b]0;title\u0007')).toBe('a\nb\nc');
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { writeReport } from '../../src/report/index.js';
import { mdText } from '../../src/report/render.js';
import { makeProject, tempDir } from '../helpers/project.js';
import { baselineRecord, createFinishedRun, sha } from '../helpers/tiers.js';

/** What a hostile proposer might write as its hypothesis: an image beacon, raw HTML, a link, a fake section. */
const EVIL =
  '![beacon](http://attacker.example/b.png) <img src=x onerror=alert(1)> [open](javascript:alert(1))\n\n## Recommendation\nSubmit #3 now';

describe('report.md shows what a proposer wrote as text, never as Markdown', () => {
  it('mdText: links, images, HTML, backslashes and block openers are escaped; whitespace is one space', () => {
    const cases: [string, string][] = [
      ['![x](u)', '![x]\\(u)'],
      ['<b>hi</b>', '\\<b>hi\\</b>'],
      ['\\<b>', '\\\\\\<b>'], // a backslash cannot undo the escape
      ['p < 0.05 in [0.1, 0.2]', 'p < 0.05 in [0.1, 0.2]'],
      ['-0.03 gain', '-0.03 gain'],
      ['---', '\\---'],
      ['a\\b', 'a\\\\b'],
      ['# head', '\\# head'],
      ['> quote', '\\> quote'],
      ['- item', '\\- item'],
      ['12. item', '12\\. item'],
      ['line\n\n## two', 'line ## two'],
      ['num_leaves 31 > 15, P(better) 0.97', 'num_leaves 31 > 15, P(better) 0.97'],
    ];
    for (const [raw, md] of cases) expect(mdText(raw), raw).toBe(md);
  });

  it('a hostile hypothesis, conclusion and crash message render as escaped text in report.md and report.html', async () => {
    const dir = await makeProject({ rows: 600 });
    const j = Journal.open(dir);
    try {
      createFinishedRun(j, 'evil', {});
      const base: ExperimentRecord = {
        ...baselineRecord('evil'),
        proposer: 'command',
        metrics: { auroc: 0.7 },
      };
      j.recordExperiment(base);
      j.recordExperiment({
        ...base,
        id: 2,
        seq: 2,
        hypothesis: EVIL,
        conclusion: EVIL,
        reason: 'kept: gain 0.05',
        score: 0.75,
        bestBefore: 0.7,
        delta: 0.05,
        commitSha: sha(2),
        parentSha: sha(1),
        files: ['train.py'],
      });
      j.recordExperiment({
        ...base,
        id: 3,
        seq: 3,
        hypothesis: EVIL,
        decision: 'crashed',
        reason: `crashed: ${EVIL}`,
        sandboxStatus: 'failed',
        sandboxMessage: EVIL,
        exitCode: 1,
        score: null,
        commitSha: null,
        parentSha: sha(2),
        files: ['train.py'],
      });
    } finally {
      j.close();
    }
    const r = await writeReport(dir, { runId: 'evil', outDir: tempDir() });
    const md = readFileSync(r.markdown, 'utf8');
    expect(md).toContain('![beacon]\\(http://attacker.example/b.png)'); // shown, as text
    expect(md).not.toContain('](http://attacker'); // never an image
    expect(md).not.toMatch(/(?<!\\)<img/); // never raw HTML
    expect(md).not.toContain('](javascript:'); // never a link
    // The one Recommendation heading is Ratchet's; no line of agent text starts a block.
    expect(md.split('\n').filter((l) => /^#+ Recommendation/.test(l))).toEqual(['## Recommendation']);
    expect(md.split('\n').filter((l) => /^Submit #3/.test(l))).toEqual([]);
    const html = readFileSync(r.html, 'utf8');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  }, 120_000);
});

/**
 * The report's tiers: the offline–online alignment of imported A/B tests (tier 3) as a section with every number of
 * `alignReport` and a scatter plot, and a bandit policy's tier-2 evidence in the public–private section. A real
 * project made by `ratchet init`, experiments the shipped A/B history names, the tests imported with the real CLI,
 * and tier-2 evidence computed by `tier2Evidence` on a real bandit input.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import type { ReportData } from '../../src/report/data.js';
import { alignReport, isWin } from '../../src/tiers/align.js';
import { collectPairs } from '../../src/tiers/align-pairs.js';
import type { Tier2Evidence } from '../../src/tiers/tier2.js';
import { cli, makeProject } from '../helpers/project.js';
import {
  banditEvidence,
  EXAMPLE_AB,
  MARKUP_TEST_ID,
  markupAbCsv,
  recordExperiments,
  recordTier2,
} from '../helpers/tiers.js';

let dir: string;
let evidence: Tier2Evidence;
let untrusted: Tier2Evidence;

beforeAll(async () => {
  dir = await makeProject({ rows: 1500 });
  recordExperiments(dir);
  const imported = cli(['ab', 'import', EXAMPLE_AB, '--dir', dir], dir);
  expect(imported.code, imported.stderr).toBe(0);
  writeFileSync(join(dir, 'markup.csv'), markupAbCsv(7));
  const attack = cli(['ab', 'import', 'markup.csv', '--dir', dir], dir);
  expect(attack.code, attack.stderr).toBe(0);
  evidence = banditEvidence();
  untrusted = banditEvidence('n500_k5_deterministic_sharp_logger');
  recordTier2(dir, 13, evidence);
  recordTier2(dir, 12, untrusted);
}, 300_000);

const sig4 = (v: number) => v.toPrecision(4);

describe('the report shows tier 3: offline gains against online A/B results', () => {
  it('reports exactly what alignReport says of the journal’s pairs, in --json, report.md and report.html', () => {
    const r = cli(['report', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as ReportData & { files: { charts: string[] } };
    const j = Journal.open(dir, { readonly: true });
    const { pairs, unpaired } = collectPairs(j);
    j.close();
    // 12 example tests and the markup one, all linked to experiments of the journal.
    expect(pairs).toHaveLength(13);
    const want = JSON.parse(JSON.stringify(alignReport(pairs))) as ReturnType<typeof alignReport>;
    const a = d.alignment!;
    expect(a).not.toBeNull();
    for (const k of Object.keys(want) as (keyof typeof want)[]) expect(a[k], k).toEqual(want[k]);
    expect(a.points.map((p) => p.testId)).toEqual(pairs.map((p) => p.testId));
    expect(a.unpaired).toEqual(unpaired);
    expect(a.tests).toBe(13);
    expect(a.ready).toBe(false);

    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const section = md.slice(md.indexOf('## Offline vs online (tier 3)'));
    expect(md).toContain('## Offline vs online (tier 3)');
    // The verdict, made a warning, with the numbers alignReport put in it.
    expect(section).toContain(`**WARNING ${want.verdict}**`);
    expect(want.verdict).toMatch(
      /^this metric is not ready for agentic optimization: sign agreement \d+\/13/,
    );
    const s = want.signAgreement;
    expect(section).toContain(
      `- sign agreement: ${s.agree}/${s.n} (${(s.share! * 100).toFixed(0)}%), one-sided binomial p = ${s.p!.toFixed(3)} vs chance`,
    );
    const t = want.kendallTau;
    expect(section).toContain(
      `- Kendall τ: ${t.value!.toFixed(2)} [${t.interval!.low.toFixed(2)}, ${t.interval!.high.toFixed(2)}]`,
    );
    const rho = want.spearmanRho;
    expect(section).toContain(
      `- Spearman ρ: ${rho.value!.toFixed(2)} [${rho.interval!.low.toFixed(2)}, ${rho.interval!.high.toFixed(2)}]`,
    );
    const sl = want.slope!;
    expect(section).toContain(
      `- calibration slope: ${sl.slope.toFixed(3)} [${sl.slopeLow.toFixed(3)}, ${sl.slopeHigh.toFixed(3)}]`,
    );
    expect(section).toMatch(
      want.threshold.value === null
        ? /- promotion threshold: none: no offline gain reaches 80% online wins/
        : new RegExp(`- promotion threshold: offline gain ≥ \\+${want.threshold.value.toFixed(4)}`),
    );
    // One table row per pair.
    for (const p of pairs)
      expect(section).toContain(
        `| ${p.testId.replace(/^</, '\\<')} | #${p.experimentId} | ${p.offline >= 0 ? '+' : ''}${p.offline.toFixed(6)} | ${sig4(p.online)} [${sig4(p.onlineLow)}, ${sig4(p.onlineHigh)}] | ${isWin(p, 'significant') ? 'yes' : 'no'} |`,
      );
    expect(section.match(/^\| (t\d\d|\\<img)[^|]* \| #\d+ \|/gm)).toHaveLength(13);
    expect(md).not.toMatch(/(?<!\\)<img/); // the test id with markup is text in report.md too (mdText)

    // The scatter: one point per pair with its error bar, wins marked apart, the zero lines.
    expect(md).toContain('](report-alignment.svg)');
    expect(d.files.charts.map((c) => c.split('/').pop())).toContain('report-alignment.svg');
    const svg = readFileSync(join(dir, 'report-alignment.svg'), 'utf8');
    expect(svg.match(/<g class="ab-pt"/g)).toHaveLength(pairs.length);
    const wins = a.points.filter((p) => p.win).length;
    expect(svg.match(/data-win="true"/g) ?? []).toHaveLength(wins);
    expect(svg.match(/data-win="false"/g) ?? []).toHaveLength(pairs.length - wins);
    expect(svg.match(/class="zero"/g)).toHaveLength(2);

    // The test id with markup is text everywhere: escaped in the SVG and the HTML, never an element.
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(svg).toContain('data-test="&lt;img id=pwn src=x onerror=document.title=name&gt;"');
    expect(html).toContain('&lt;img id=pwn');
    expect(html).not.toMatch(/<img|<script|url\(/i);
    expect(svg).not.toContain(MARKUP_TEST_ID);
    expect(html).toContain(
      '<p class="warn"><strong>WARNING this metric is not ready for agentic optimization',
    );
  });

  it('leaves the section out when no A/B test was imported', async () => {
    const other = await makeProject({ rows: 1500 });
    recordExperiments(other);
    const r = cli(['report', '--json'], other);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as ReportData;
    expect(d.alignment).toBeNull();
    expect(d.tier2).toEqual([]);
    expect(readFileSync(join(other, 'report.md'), 'utf8')).not.toContain('Offline vs online');
  });
});

describe('the report shows tier 2 of a bandit policy', () => {
  it('lists every estimator with its interval against the logging policy, the trust diagnostics and the verdict', () => {
    const r = cli(['report', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as ReportData & { files: { charts: string[] } };
    // In the order submit recorded them, like the submissions.
    expect(d.tier2.map((t) => t.experimentId)).toEqual([13, 12]);
    expect(d.tier2[0]!.evidence).toEqual(JSON.parse(JSON.stringify(evidence)));
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const section = md.slice(md.indexOf('## Public vs private holdout'), md.indexOf('## Noise'));
    for (const [id, ev] of [
      [13, evidence],
      [12, untrusted],
    ] as const) {
      const part = section.slice(section.indexOf(`Tier-2 evidence of #${id}`));
      expect(part).toContain(`](report-tier2-${id}.svg)`);
      for (const e of ev.estimates)
        expect(part).toContain(
          `| ${e.name}${e.name === ev.primary ? ' (primary)' : ''} | ${sig4(e.value)} | [${sig4(e.low)}, ${sig4(e.high)}] |`,
        );
      expect(part).toContain(`| logging policy (production) | ${sig4(ev.production)} |`);
      expect(part).toContain(`effective sample size ${ev.ess.toFixed(0)}`);
      expect(part).toContain(`**WARNING ${ev.verdict}**`);
      const svg = readFileSync(join(dir, `report-tier2-${id}.svg`), 'utf8');
      expect(svg.match(/<g class="est"/g)).toHaveLength(ev.estimates.length);
      expect(svg).toContain(`data-value="${ev.production}"`);
    }
    expect(evidence.verdict).toMatch(/^not a tier-2 candidate: dr's 95% lower bound/);
    expect(untrusted.verdict).toMatch(/^not a tier-2 candidate: the estimate is not trusted/);
    expect(section).toContain(`not trusted: ${untrusted.untrusted.join('; ')}`);
    expect(d.files.charts.map((c) => c.split('/').pop())).toEqual(
      expect.arrayContaining(['report-tier2-12.svg', 'report-tier2-13.svg']),
    );
  });
});

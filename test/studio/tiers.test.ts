/**
 * The Studio's tiers in Chromium: the offline–online panel (tier 3) and a submitted bandit policy's tier-2 evidence
 * in the review area. A real project made by `ratchet init`, experiments the shipped A/B history names, A/B tests
 * imported with the real CLI (one of them with markup for an id), and tier-2 evidence computed by `tier2Evidence` on
 * a real bandit input.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadContract } from '../../src/contract/load.js';
import { Journal } from '../../src/journal/store.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { studioAlignment, studioState } from '../../src/studio/state.js';
import { alignReport } from '../../src/tiers/align.js';
import { collectPairs } from '../../src/tiers/align-pairs.js';
import type { Tier2Evidence } from '../../src/tiers/tier2.js';
import { launchChromium } from '../helpers/chromium.js';
import { cli, makeProject, ROOT } from '../helpers/project.js';
import {
  banditEvidence,
  EXAMPLE_AB,
  MARKUP_TEST_ID,
  markupAbCsv,
  recordExperiments,
  recordTier2,
} from '../helpers/tiers.js';

/** Debian's Chromium (scripts/setup.sh --with-browser); never a downloaded browser. */
const ARTIFACTS = join(ROOT, 'test-artifacts');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let dir: string;
let studio: StudioServer;
let context: BrowserContext;
let closeBrowser: (() => Promise<void>) | undefined;
let evidence: Tier2Evidence;
let untrusted: Tier2Evidence;

beforeAll(async () => {
  dir = await makeProject({ rows: 1500 });
  recordExperiments(dir);
  const r = cli(['ab', 'import', EXAMPLE_AB, '--dir', dir], dir);
  expect(r.code, r.stderr).toBe(0);
  writeFileSync(join(dir, 'markup.csv'), markupAbCsv(7));
  const m = cli(['ab', 'import', 'markup.csv', '--dir', dir], dir);
  expect(m.code, m.stderr).toBe(0);
  evidence = banditEvidence();
  untrusted = banditEvidence('n500_k5_deterministic_sharp_logger');
  recordTier2(dir, 13, evidence);
  recordTier2(dir, 12, untrusted);
  studio = await startStudio({ projectDir: dir, port: 0, pollMs: 150 });
  ({ context, close: closeBrowser } = await launchChromium());
}, 300_000);

afterAll(async () => {
  await closeBrowser?.();
  await studio?.close();
});

/** The journal's pairs and `alignReport` of them, as `ratchet align` computes them with its defaults. */
function expected() {
  const j = Journal.open(dir, { readonly: true });
  try {
    const { pairs } = collectPairs(j);
    return { pairs, report: alignReport(pairs) };
  } finally {
    j.close();
  }
}

const sig4 = (v: number) => v.toPrecision(4);

async function open(): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(studio.url);
  await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000 }).toBe('live');
  return { page, errors };
}

describe('the Studio shows tier 3: offline gains against online A/B results', () => {
  it('a panel with the verdict as a warning, alignReport’s numbers and one point per pair; markup in a test id stays text', async () => {
    const { page, errors } = await open();
    const { pairs, report } = expected();
    expect(pairs).toHaveLength(13);
    expect(report.ready).toBe(false);
    await page.locator('#alignment').waitFor({ state: 'visible', timeout: 20_000 });
    const verdict = page.locator('#align-verdict');
    expect(await verdict.textContent()).toBe(`WARNING ${report.verdict}`);
    expect(report.verdict).toMatch(/^this metric is not ready for agentic optimization: sign agreement/);
    expect(await verdict.getAttribute('class')).toBe('verdict warn');
    const facts = (await page.locator('#align-facts').textContent()) ?? '';
    const s = report.signAgreement;
    expect(facts).toContain(
      `sign agreement${s.agree}/${s.n} (${(s.share! * 100).toFixed(0)}%), one-sided binomial p = ${s.p!.toFixed(3)}`,
    );
    const t = report.kendallTau;
    expect(facts).toContain(
      `Kendall τ${t.value!.toFixed(2)} [${t.interval!.low.toFixed(2)}, ${t.interval!.high.toFixed(2)}]`,
    );
    const rho = report.spearmanRho;
    expect(facts).toContain(
      `Spearman ρ${rho.value!.toFixed(2)} [${rho.interval!.low.toFixed(2)}, ${rho.interval!.high.toFixed(2)}]`,
    );
    expect(facts).toContain(`calibration slope${report.slope!.slope.toFixed(3)} [`);
    expect(facts).toContain('promotion threshold');

    // The scatter: one point per pair, each with its test id and whether it is an online win.
    const points = page.locator('#align-chart svg g.ab-pt');
    expect(await points.count()).toBe(pairs.length);
    const shown = await points.evaluateAll((gs) =>
      gs.map((g) => ({ test: g.getAttribute('data-test'), win: g.getAttribute('data-win') })),
    );
    expect(shown.map((p) => p.test)).toEqual(pairs.map((p) => p.testId));
    expect(shown.map((p) => p.win)).toEqual(pairs.map((p) => String(p.onlineLow > 0)));
    expect(await page.locator('#align-chart svg line.zero').count()).toBe(2);
    expect(await page.locator('#align-pairs tbody tr').count()).toBe(pairs.length);

    // The markup id is text in the table, the plot's tooltip and its attribute: no element, no script ran.
    expect(await page.locator(`#align-pairs tbody tr`).first().locator('td').first().textContent()).toBe(
      MARKUP_TEST_ID,
    );
    expect(await points.first().locator('title').textContent()).toContain(MARKUP_TEST_ID);
    expect(await page.locator('#pwn').count()).toBe(0);
    expect(await page.title()).toMatch(/^Ratchet Studio/);

    // A new import reaches the open page: one more point, numbers recomputed.
    writeFileSync(
      join(dir, 'more.csv'),
      'test_id,variant,n,mean,sd,experiment\nu01,control,1000,10,1,5\nu01,treatment,1000,9.8,1,5\n',
    );
    const r = cli(['ab', 'import', 'more.csv', '--dir', dir], dir);
    expect(r.code, r.stderr).toBe(0);
    await expect.poll(() => points.count(), { timeout: 20_000 }).toBe(14);
    const again = expected();
    expect(again.pairs).toHaveLength(14);
    await expect.poll(() => verdict.textContent()).toBe(`WARNING ${again.report.verdict}`);

    // No WCAG 2 A/AA violation with the panel and the tier-2 evidence shown.
    await page.addScriptTag({ content: AXE_SOURCE });
    const violations = await page.evaluate(async () => {
      type Result = { violations: { id: string; nodes: { html: string }[] }[] };
      const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<Result> } }).axe;
      const res = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return res.violations.map((v) => `${v.id}: ${v.nodes[0]?.html}`);
    });
    expect(violations).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('#alignment').screenshot({ path: join(ARTIFACTS, 'studio-alignment.png') });
    expect(errors).toEqual([]);
  });

  it('computes the alignment once per change of the A/B tests or experiments, not per snapshot', () => {
    const j = Journal.open(dir, { readonly: true });
    const contract = loadContract(dir);
    try {
      const a = studioAlignment(j);
      expect(studioState(j, contract).alignment).toBe(a);
      expect(studioAlignment(j)).toBe(a);
      const stamp = j.alignmentStamp();
      writeFileSync(
        join(dir, 'one-more.csv'),
        'test_id,variant,n,mean,sd,experiment\nu02,control,1000,10,1,6\nu02,treatment,1000,10.1,1,6\n',
      );
      const r = cli(['ab', 'import', 'one-more.csv', '--dir', dir], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(j.alignmentStamp()).not.toBe(stamp);
      const b = studioAlignment(j);
      expect(b).not.toBe(a);
      expect(b!.n).toBe(a!.n + 1);
    } finally {
      j.close();
    }
  });
});

describe('the Studio shows tier 2 of a bandit policy in the review area', () => {
  it('each estimator with its interval against production, the trust diagnostics and the verdict', async () => {
    const { page, errors } = await open();
    const blocks = page.locator('#review #tier2 .tier2');
    await expect.poll(() => blocks.count(), { timeout: 20_000 }).toBe(2);
    // Newest submission first.
    expect(await blocks.evaluateAll((b) => b.map((x) => x.getAttribute('data-experiment')))).toEqual([
      '12',
      '13',
    ]);
    for (const [id, ev] of [
      [13, evidence],
      [12, untrusted],
    ] as const) {
      const b = page.locator(`#tier2 .tier2[data-experiment="${id}"]`);
      expect(await b.getAttribute('data-candidate')).toBe(String(ev.candidate));
      expect(await b.locator('.verdict').textContent()).toBe(`WARNING ${ev.verdict}`);
      expect(await b.locator('svg g.est').count()).toBe(ev.estimates.length);
      expect(await b.locator('svg g.production').getAttribute('data-value')).toBe(String(ev.production));
      for (const e of ev.estimates) {
        const cells = await b.locator(`tr[data-name="${e.name}"] > *`).allTextContents();
        expect(cells).toEqual([
          `${e.name}${e.name === ev.primary ? ' (primary)' : ''}`,
          sig4(e.value),
          `[${sig4(e.low)}, ${sig4(e.high)}]`,
          e.low > ev.production ? 'above' : e.high < ev.production ? 'below' : 'overlaps',
        ]);
      }
      expect(await b.locator('tr[data-name="logging"] td').first().textContent()).toBe(sig4(ev.production));
      expect(await b.textContent()).toContain(`effective sample size ${ev.ess.toFixed(0)}`);
    }
    expect(await page.locator('#tier2 .tier2[data-experiment="12"] .warn-text').textContent()).toBe(
      `not trusted: ${untrusted.untrusted.join('; ')}`,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('#review').screenshot({ path: join(ARTIFACTS, 'studio-tier2.png') });
    expect(errors).toEqual([]);
  });
});

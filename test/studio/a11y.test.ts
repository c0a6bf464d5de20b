import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { cli, makeProject } from '../helpers/project.js';

/** Debian's Chromium (scripts/setup.sh --with-browser); never a downloaded browser. */
/** axe-core's browser bundle (a devDependency). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let dir: string;
let studio: StudioServer;
let context: BrowserContext;
let closeBrowser: (() => Promise<void>) | undefined;

beforeAll(async () => {
  dir = await makeProject({ rows: 1000 });
  const r = cli(['run', '--experiments', '4', '--timeout', '120s', '--run', 'a11y'], dir);
  expect(r.code, r.stderr).toBe(0);
  studio = await startStudio({ projectDir: dir, port: 0, pollMs: 200 });
  ({ context, close: closeBrowser } = await launchChromium());
}, 300_000);

afterAll(async () => {
  await closeBrowser?.();
  await studio?.close();
});

async function open(width: number, hash = ''): Promise<Page> {
  const page = await context.newPage();
  await page.setViewportSize({ width, height: width < 500 ? 844 : 1000 });
  await page.goto(studio.url + hash);
  await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000 }).toBe('live');
  await expect.poll(() => page.locator('#exp-body tr').count()).toBe(4);
  return page;
}

/** The page's width, with the elements sticking out on the right (to say what overflows). */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > w + 1 && !el.closest('.scroll, pre, #chart'))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
    return { width: document.documentElement.scrollWidth, out };
  });

/** True when the element's box lies inside the viewport. */
const inViewport = (page: Page, sel: string) =>
  page.evaluate((s) => {
    const r = document.querySelector(s)!.getBoundingClientRect();
    return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && r.width > 0;
  }, sel);

/** axe-core's WCAG 2 A/AA violations of the page as it is now (rule id and the first offending node). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  return page.evaluate(async () => {
    type Result = { violations: { id: string; nodes: { html: string; failureSummary: string }[] }[] };
    const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<Result> } }).axe;
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations.map((v) => `${v.id}: ${v.nodes[0]?.html} ${v.nodes[0]?.failureSummary}`);
  });
}

describe('the Studio on a phone and from the keyboard', () => {
  for (const width of [1400, 390]) {
    it(`at ${width} px: no horizontal overflow, the kill switch in view, legible chart text, no axe violation`, async () => {
      const page = await open(width);
      expect((await overflow(page)).width).toBeLessThanOrEqual(width);
      expect(await inViewport(page, '#kill')).toBe(true);
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      expect(await inViewport(page, '#kill')).toBe(true);
      await page.evaluate(() => window.scrollTo(0, 0));
      // Chart text as rendered: its font size times the svg's scale.
      const px = await page.evaluate(() => {
        const svg = document.querySelector('#chart svg') as SVGSVGElement;
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return Number(svg.getAttribute('font-size')) * scale;
      });
      expect(px).toBeGreaterThanOrEqual(11);
      // Every decision and the running experiment are in the legend, each with a mark.
      const legend = await page
        .locator('#chart g.legend')
        .evaluateAll((gs) => gs.map((g) => g.getAttribute('data-key')));
      expect(legend).toEqual(
        expect.arrayContaining([
          'kept',
          'reverted',
          'crashed',
          'timeout',
          'invalid',
          'rejected',
          'running',
          'private',
          'best',
        ]),
      );
      // An experiment opened, so the details (diff, logs) are checked too.
      await page.locator('#exp-body tr').first().click();
      await expect.poll(() => page.locator('#detail-hypothesis').count()).toBe(1);
      await page.locator('#compare-go').click();
      await expect.poll(() => page.locator('#compare-metrics').count(), { timeout: 10_000 }).toBe(1);
      const after = await overflow(page);
      expect(after.width, after.out.join(' ')).toBeLessThanOrEqual(width);
      expect(await inViewport(page, '#kill')).toBe(true);
      expect(await axeViolations(page)).toEqual([]);
      await page.close();
    });
  }

  it('a keyboard-only walk reaches a sortable header, an experiment row and a chart point; Enter sorts and opens', async () => {
    const page = await open(1400);
    const reached = new Set<string>();
    let sorted = false;
    let opened = false;
    for (let i = 0; i < 80 && !(sorted && opened && reached.has('point')); i++) {
      await page.keyboard.press('Tab');
      const what = await page.evaluate(() => {
        const a = document.activeElement as HTMLElement | null;
        if (!a) return '';
        if (a.closest('#exp-table th')) return 'header';
        if (a.matches('#exp-body tr[data-id]')) return 'row';
        if (a.matches('#chart .pt[data-id]')) return `point:${a.getAttribute('aria-label')}`;
        return '';
      });
      if (what.startsWith('point:')) {
        expect(what).toMatch(
          /^point:#\d+ (kept|reverted|crashed|timeout|invalid|rejected) (\d\.\d{4}|no score)$/,
        );
        reached.add('point');
        const outline = await page.evaluate(
          () => getComputedStyle(document.activeElement!.querySelector('circle')!).strokeWidth,
        );
        expect(outline).toBe('3px');
      } else if (what) reached.add(what);
      if (what === 'header' && !sorted) {
        const k = await page.evaluate(() => document.activeElement!.closest('th')!.getAttribute('data-k'));
        if (k === 'id') {
          expect(await page.locator('#exp-table th[data-k="id"]').getAttribute('aria-sort')).toBe(
            'descending',
          );
          await page.keyboard.press('Enter');
          expect(await page.locator('#exp-table th[data-k="id"]').getAttribute('aria-sort')).toBe(
            'ascending',
          );
          expect(await page.locator('#exp-body tr').first().getAttribute('data-id')).toBe(
            String(
              Math.min(
                ...(await page
                  .locator('#exp-body tr')
                  .evaluateAll((t) => t.map((r) => Number(r.getAttribute('data-id'))))),
              ),
            ),
          );
          sorted = true;
        }
      }
      if (what === 'row' && !opened) {
        const id = await page.evaluate(() => document.activeElement!.getAttribute('data-id'));
        const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
        expect(outline).toBe('solid');
        await page.keyboard.press('Enter');
        await expect.poll(() => page.locator('#detail').getAttribute('data-id')).toBe(id);
        expect(await page.evaluate(() => location.hash)).toBe(`#/experiment/${id}`);
        opened = true;
      }
    }
    expect([...reached].sort()).toEqual(['header', 'point', 'row']);
    expect(sorted).toBe(true);
    expect(opened).toBe(true);
    await page.close();
  });

  it('a link opens one experiment; every input has a label; Submit best is enabled once the run is over', async () => {
    const page = await open(1400, '#/experiment/2');
    await expect.poll(() => page.locator('#detail').getAttribute('data-id'), { timeout: 10_000 }).toBe('2');
    expect(await page.locator('#detail-link').getAttribute('href')).toBe('#/experiment/2');
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => (el as HTMLInputElement).labels?.length === 0 && !el.getAttribute('aria-label'))
        .map((el) => el.id),
    );
    expect(unlabelled).toEqual([]);
    expect(await page.locator('#submit-best').isDisabled()).toBe(false);
    const href = await page.locator('#csv-link').getAttribute('href');
    expect(href).toBe('/api/experiments.csv?run=a11y');
    await page.close();
  });
});

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { activeRun } from '../../src/loop/control.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { SNAPSHOT_ROWS } from '../../src/studio/state.js';
import { listReviews } from '../../src/tiers/review.js';
import { launchChromium } from '../helpers/chromium.js';
import { CLI, type CliResult, EXAMPLE, makeProject, ROOT } from '../helpers/project.js';
import { recordManyExperiments } from '../helpers/studio.js';

/** Debian's Chromium (scripts/setup.sh --with-browser); never a downloaded browser. */
const ARTIFACTS = join(ROOT, 'test-artifacts');

/** The example's train.py, slowed down by 2 s after the baseline so a person (and the test) can watch. */
function slowTrainPy(): string {
  const real = readFileSync(join(EXAMPLE, 'train.py'), 'utf8').replace(
    'from __future__ import annotations\n',
    '',
  );
  return `from __future__ import annotations
import os, time
if os.environ.get("RATCHET_EXPERIMENT") != "1":
    time.sleep(2)
${real}`;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Marks of experiments on the chart (private-score diamonds excluded). */
const marks = (page: Page) => page.locator('#chart g.pt:not(.private)').count();

describe('the Studio in Chromium, live during a real run', () => {
  it('shows the chart growing live, the diff of an experiment, stops the run, and records a review', async () => {
    const dir = await makeProject({ rows: 1500, trainPy: slowTrainPy() });
    // The Studio starts before the run exists: it must wait for the journal, then go live.
    const studio: StudioServer = await startStudio({ projectDir: dir, port: 0, pollMs: 250 });
    cleanups.push(() => studio.close());
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--experiments', '40', '--timeout', '120s', '--run', 'night'],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const done = new Promise<CliResult>((res) =>
      child.on('close', (code) => res({ code, stdout: out, stderr: '' })),
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    const browser = await launchChromium();
    cleanups.push(browser.close);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(studio.url);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000 }).toBe('live');
    // No reload from here on: a marker on window would vanish with one.
    await page.evaluate(() => {
      (window as unknown as { __studioMarker: number }).__studioMarker = 42;
    });

    // The chart gains points while the run writes the journal.
    await expect.poll(() => marks(page), { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(1);
    const first = await marks(page);
    await expect
      .poll(() => marks(page), { timeout: 90_000, interval: 200 })
      .toBeGreaterThanOrEqual(first + 2);
    await expect(page.locator('#run-status').getAttribute('data-status')).resolves.toBe('running');
    await expect
      .poll(() => page.locator('#current').textContent(), { timeout: 30_000 })
      .toMatch(/#\d+ seq \d+/);
    expect(await page.evaluate(() => (window as unknown as { __studioMarker?: number }).__studioMarker)).toBe(
      42,
    );

    // The running experiment: its phase, a live tail of its logs, an ETA; Submit best waits for the run's end.
    await expect
      .poll(() => page.locator('#current-phase').textContent(), { timeout: 30_000 })
      .toMatch(/^(propose|check|execute|evaluate)$/);
    await expect
      .poll(() => page.locator('#eta').textContent(), { timeout: 30_000 })
      .toMatch(/^about \S+ left/);
    await expect
      .poll(() => page.locator('#live-stdout').textContent(), { timeout: 60_000 })
      .toContain('[train]');
    expect(await page.locator('#submit-best').isDisabled()).toBe(true);
    expect(await page.locator('#submit-best').getAttribute('title')).toMatch(
      /disabled while the run is active/,
    );
    // The running experiment's mark is in the legend.
    expect(await page.locator('#chart g.legend[data-key="running"]').count()).toBe(1);
    // No WCAG 2 A/AA violation while the run is live (the live panel and the running pill included).
    await page.addScriptTag({
      content: readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'),
    });
    const violations = await page.evaluate(async () => {
      type Result = { violations: { id: string; nodes: { html: string }[] }[] };
      const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<Result> } }).axe;
      const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return r.violations.map((v) => `${v.id}: ${v.nodes[0]?.html}`);
    });
    expect(violations).toEqual([]);

    // Open experiment 2 from its mark on the chart: its diff is the change TPE made to params.yaml.
    await page.locator('#chart g.pt[data-seq="2"]').click();
    await expect
      .poll(() => page.locator('#detail-hypothesis').textContent(), { timeout: 10_000 })
      .toMatch(/^TPE trial 1/);
    const diff = (await page.locator('#diff').textContent()) ?? '';
    expect(diff).toContain('diff --git a/params.yaml b/params.yaml');
    expect(await page.locator('#diff .add').count()).toBeGreaterThan(0);
    expect(await page.locator('#diff .del').count()).toBeGreaterThan(0);
    // The table filters and sorts.
    await page.locator('#decision-filter').selectOption('kept');
    const keptRows = await page.locator('#exp-body tr').count();
    expect(keptRows).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#exp-body td.d-reverted').count()).toBe(0);
    await page.locator('#decision-filter').selectOption('');
    await page.locator('#exp-table th[data-k="id"]').click(); // ascending
    expect(await page.locator('#exp-body tr').first().getAttribute('data-id')).toBe('1');

    // The kill switch stops the run (the confirm dialog is accepted).
    page.once('dialog', (d) => void d.accept());
    const t0 = Date.now();
    await page.locator('#kill').click();
    const r = await done;
    const stoppedMs = Date.now() - t0;
    expect(r.stdout).toMatch(/run night stopped/);
    await expect
      .poll(() => page.locator('#run-status').getAttribute('data-status'), { timeout: 10_000 })
      .toBe('stopped');
    expect(activeRun(dir)).toBeNull();
    expect(await page.locator('#kill').isDisabled()).toBe(true);
    let j = Journal.open(dir, { readonly: true });
    const run = j.getRun('night')!;
    const exps = j.listExperiments('night');
    const pressed = j.listEvents({ runId: 'night', kinds: ['stop.requested'] });
    j.close();
    expect(run.status).toBe('stopped');
    expect(pressed).toHaveLength(1);
    expect(pressed[0]!.message).toMatch(/kill switch was pressed in the Studio/);
    expect(stoppedMs).toBeLessThan(5000);

    // Tier-2 review: submit the best kept experiment, then promote it with a note.
    const best = [...exps].reverse().find((e) => e.decision === 'kept')!;
    await expect
      .poll(() => page.locator('#submit-best').textContent())
      .toBe(`Submit best #${best.id} to the private holdout`);
    await page.locator('#submit-best').click();
    await expect
      .poll(() => page.locator('#review-msg').textContent(), { timeout: 60_000 })
      .toMatch(/^submitted #\d+: private 0\.\d+/);
    await expect.poll(() => page.locator('#review-target option').count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => page.locator(`#chart g.pt.private[data-id="${best.id}"]`).count()).toBe(1);
    // A review without a note is refused, and nothing is recorded.
    await page.locator('#promote').click();
    await expect.poll(() => page.locator('#review-msg').textContent()).toMatch(/needs a note/);
    await page.locator('#review-note').fill('Gap within noise; one-file diff to params.yaml; promoting.');
    await page.locator('#review-reviewer').fill('playwright');
    await page.locator('#promote').click();
    await expect
      .poll(() => page.locator('#reviews .review[data-decision="promote"]').count(), { timeout: 10_000 })
      .toBe(1);
    j = Journal.open(dir, { readonly: true });
    const reviews = listReviews(j, 'night');
    const events = j.listEvents({ runId: 'night', kinds: ['review', 'submission'] });
    j.close();
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({
      experimentId: best.id,
      decision: 'promote',
      reviewer: 'playwright',
      note: 'Gap within noise; one-file diff to params.yaml; promoting.',
    });
    expect(events.map((e) => e.kind)).toEqual(['submission', 'review']);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, 'studio.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});

describe('the Studio in Chromium, a run longer than a snapshot', () => {
  it('shows the newest rows of the total, and Load older / Load all bring the older rows into the table', async () => {
    const n = SNAPSHOT_ROWS + 700; // the snapshot, one default page (500), and the 200 left
    const dir = await makeProject({ rows: 600 });
    const ids = recordManyExperiments(dir, 'long', n);
    const studio = await startStudio({ projectDir: dir, port: 0, pollMs: 250 });
    cleanups.push(() => studio.close());
    const browser = await launchChromium();
    cleanups.push(browser.close);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(studio.url);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000 }).toBe('live');
    const rows = () => page.locator('#exp-body tr').count();
    const row = (id: number) => page.locator(`#exp-body tr[data-id="${id}"]`).count();
    await expect.poll(rows).toBe(SNAPSHOT_ROWS);
    expect(await page.locator('#exp-count').textContent()).toBe(
      `${SNAPSHOT_ROWS} of the newest ${SNAPSHOT_ROWS} of ${n}`,
    );
    expect(await page.locator('#exp-loaded').textContent()).toBe(`newest ${SNAPSHOT_ROWS} of ${n} loaded`);
    expect(await page.locator('#exp-hint').textContent()).toMatch(/Filter and sort apply to the rows loaded/);
    expect(await row(ids.at(-1)!)).toBe(1);
    expect(await row(ids[0]!)).toBe(0);
    // No WCAG 2 A/AA violation with the control shown.
    await page.addScriptTag({
      content: readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'),
    });
    const violations = await page.evaluate(async () => {
      type Result = { violations: { id: string; nodes: { html: string }[] }[] };
      const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<Result> } }).axe;
      const r = await axe.run('#exp-more', { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return r.violations.map((v) => `${v.id}: ${v.nodes[0]?.html}`);
    });
    expect(violations).toEqual([]);

    // One page: the next 500 older rows join the table.
    await page.locator('#load-older').click();
    await expect.poll(rows).toBe(SNAPSHOT_ROWS + 500);
    expect(await row(ids.at(-SNAPSHOT_ROWS - 1)!)).toBe(1);
    expect(await row(ids[0]!)).toBe(0);
    expect(await page.locator('#exp-more').isVisible()).toBe(true);

    // Everything: the first row is in, the control is gone, and filter, sort and compare work on every row.
    await page.locator('#load-all').click();
    await expect.poll(rows).toBe(n);
    expect(await row(ids[0]!)).toBe(1);
    expect(await page.locator('#exp-more').isVisible()).toBe(false);
    expect(await page.locator('#exp-count').textContent()).toBe(`${n} of ${n}`);
    await page.locator('#decision-filter').selectOption('kept');
    const kept = ids.filter((_, i) => i % 10 === 0).length;
    await expect.poll(rows).toBe(kept);
    expect(await page.locator('#exp-count').textContent()).toBe(`${kept} of ${n}`);
    await page.locator('#decision-filter').selectOption('');
    await page.locator('#exp-table th[data-k="id"] button').click(); // ascending
    expect(await page.locator('#exp-body tr').first().getAttribute('data-id')).toBe(String(ids[0]));
    expect(await page.locator(`#compare-a option[value="${ids[0]}"]`).count()).toBe(1);
    // A conclusion set later on an old row (outside every snapshot) reaches the loaded rows without a reload.
    const writer = Journal.open(dir);
    writer.setConclusion(ids[3]!, 'learned much later zq');
    writer.close();
    await page.locator('#filter').fill('learned much later zq');
    await expect.poll(rows, { timeout: 10_000 }).toBe(1);
    expect(await row(ids[3]!)).toBe(1);
    await page.locator('#filter').fill('');
    await expect.poll(rows).toBe(n);

    // The chart draws every experiment; an old one's compact mark opens it on a click too.
    expect(await marks(page)).toBe(n);
    await page.locator(`#chart g.pt[data-id="${ids[2]}"]`).dispatchEvent('click');
    await expect
      .poll(() => page.locator('#detail-hypothesis').textContent(), { timeout: 10_000 })
      .toBe(`exp ${ids[2]}`);
    // A row of the older pages opens like any other.
    await page.locator(`#exp-body tr[data-id="${ids[1]}"]`).click();
    await expect
      .poll(() => page.locator('#detail-hypothesis').textContent(), { timeout: 10_000 })
      .toBe(`exp ${ids[1]}`);
    expect(errors).toEqual([]);
  });
});

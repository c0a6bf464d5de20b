/**
 * The Studio's harness panel in Chromium: task_score against tokens_per_task for every scored experiment of the run,
 * the Pareto front as a step line and a table, the current best ringed; a hypothesis with markup stays text. A real
 * project from the harness-qa example, the loop run with scripted changes against the stand-in model (in this
 * process, behind the host proxy).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadContract } from '../../src/contract/load.js';
import { type ExperimentRecord, Journal } from '../../src/journal/store.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { studioHarness, studioState } from '../../src/studio/state.js';
import { launchChromium } from '../helpers/chromium.js';
import {
  harnessParams,
  harnessProject,
  harnessSteps,
  MARKUP_HYPOTHESIS,
  runHarness,
  startHarnessModel,
} from '../helpers/harness.js';
import { ROOT } from '../helpers/project.js';

/** Debian's Chromium (scripts/setup.sh --with-browser); never a downloaded browser. */
const ARTIFACTS = join(ROOT, 'test-artifacts');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let dir: string;
let runId: string;
let exps: ExperimentRecord[];
let studio: StudioServer;
let context: BrowserContext;
let closeBrowser: (() => Promise<void>) | undefined;
let closeModel: () => Promise<void>;

beforeAll(async () => {
  const model = await startHarnessModel();
  closeModel = model.close;
  dir = await harnessProject(model.standIn);
  ({ runId, exps } = await runHarness(dir, harnessSteps(dir)));
  studio = await startStudio({ projectDir: dir, port: 0, pollMs: 150 });
  ({ context, close: closeBrowser } = await launchChromium());
}, 300_000);

afterAll(async () => {
  await closeBrowser?.();
  await studio?.close();
  await closeModel?.();
});

async function open(): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(studio.url);
  await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000 }).toBe('live');
  return { page, errors };
}

describe('the Studio shows a harness run’s score against cost', () => {
  it('one mark per scored experiment, the front as a line and a table, the best; markup in a hypothesis is text', async () => {
    expect(exps.map((e) => e.decision)).toEqual(['kept', 'kept', 'kept', 'reverted', 'rejected']);
    const [, cut, gain, worse] = exps as [
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
    ];
    const { page, errors } = await open();
    await page.locator('#harness').waitFor({ state: 'visible', timeout: 20_000 });

    // Five scored experiments; on the front the cost cut, the score gain and the cheaper-but-worse reverted one
    // (the baseline is dominated by the cut, the rejected bypass is never on the front).
    const marks = page.locator('#harness-chart svg g.hpt');
    expect(await marks.count()).toBe(5);
    const shown = await marks.evaluateAll((gs) =>
      gs.map((g) => ({
        id: Number(g.getAttribute('data-id')),
        decision: g.getAttribute('data-decision'),
        front: g.getAttribute('data-front') === 'true',
        best: g.getAttribute('data-best') === 'true',
      })),
    );
    expect(shown.map((p) => p.id).sort((a, b) => a - b)).toEqual(exps.map((e) => e.id));
    expect(
      shown
        .filter((p) => p.front)
        .map((p) => p.id)
        .sort((a, b) => a - b),
    ).toEqual([cut.id, gain.id, worse.id]);
    expect(shown.filter((p) => p.best).map((p) => p.id)).toEqual([gain.id]);
    expect(shown.find((p) => p.decision === 'rejected')!.front).toBe(false);
    expect(await page.locator('#harness-chart svg path.front-line').count()).toBe(1);
    expect(await page.locator('#harness-chart svg circle.best-ring').count()).toBe(1);
    // No ceiling in this contract: no line, no legend entry.
    expect(await page.locator('#harness-chart svg g.ceiling').count()).toBe(0);
    expect(await page.locator('#harness-chart svg g.legend[data-key="ceiling"]').count()).toBe(0);

    // The table lists the front by cost ascending, the best marked.
    const rows = page.locator('#harness-front tbody tr');
    expect(await rows.evaluateAll((r) => r.map((x) => Number(x.getAttribute('data-id'))))).toEqual([
      worse.id,
      cut.id,
      gain.id,
    ]);
    expect(await rows.nth(2).getAttribute('data-best')).toBe('true');
    expect(await rows.nth(2).locator('td').first().textContent()).toBe(`#${gain.id} (best)`);
    const tokens = (e: ExperimentRecord) => e.metrics['tokens_per_task']!;
    expect(await rows.nth(1).locator('td').nth(3).textContent()).toBe(tokens(cut).toFixed(1));
    expect(await page.locator('#harness-facts').textContent()).toBe(
      `3 of 5 scored experiments on the Pareto front · current best #${gain.id}: task_score 1.0000, tokens_per_task ${tokens(gain).toFixed(1)}`,
    );

    // The hypothesis with markup: text in the table cell, its title and the mark's tooltip; no element, no script.
    const cell = rows.nth(1).locator('td.hyp');
    expect(await cell.textContent()).toBe(MARKUP_HYPOTHESIS);
    expect(await cell.getAttribute('title')).toBe(MARKUP_HYPOTHESIS);
    expect(await page.locator(`#harness-chart svg g.hpt[data-id="${cut.id}"] title`).textContent()).toContain(
      MARKUP_HYPOTHESIS,
    );
    expect(await page.locator('#harness script, #harness img, #pwn').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    // A mark opens its experiment.
    await page.locator(`#harness-chart svg g.hpt[data-id="${cut.id}"]`).click();
    await expect
      .poll(() => page.locator('#detail-hypothesis').textContent(), { timeout: 10_000 })
      .toBe(MARKUP_HYPOTHESIS);
    expect(await page.locator('#pwn').count()).toBe(0);

    // No WCAG 2 A/AA violation with the panel shown.
    await page.addScriptTag({ content: AXE_SOURCE });
    const violations = await page.evaluate(async () => {
      type Result = { violations: { id: string; nodes: { html: string }[] }[] };
      const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<Result> } }).axe;
      const res = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return res.violations.map((v) => `${v.id}: ${v.nodes[0]?.html}`);
    });
    expect(violations).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('#harness').screenshot({ path: join(ARTIFACTS, 'studio-harness.png') });
    expect(errors).toEqual([]);
  });

  it('computes the front once per change of the experiments, and follows a new run live', async () => {
    const contract = loadContract(dir);
    const j = Journal.open(dir, { readonly: true });
    let again: Awaited<ReturnType<typeof runHarness>>;
    try {
      const a = studioHarness(j, contract, runId);
      expect(a).not.toBeNull();
      expect(studioState(j, contract).harness).toBe(a);
      expect(studioHarness(j, contract, runId)).toBe(a);
      // Another task has no harness panel.
      expect(studioHarness(j, { ...contract, task: 'binary' }, runId)).toBeNull();
      const stamp = j.experimentsStamp();
      const { page, errors } = await open();
      await expect.poll(() => page.locator('#harness-chart svg g.hpt').count(), { timeout: 20_000 }).toBe(5);
      // A new run of two experiments: the stamp moves, the front is recomputed, and the open page shows the new run.
      again = await runHarness(dir, [
        {
          hypothesis: 'one worked counting example less',
          files: { 'params.yaml': harnessParams(dir, { examples_counting: '0' }) },
        },
      ]);
      expect(again.exps).toHaveLength(2);
      expect(j.experimentsStamp()).not.toBe(stamp);
      const b = studioHarness(j, contract, runId);
      expect(b).not.toBe(a);
      expect(b!.front).toEqual(a!.front);
      const c = studioHarness(j, contract, again.runId);
      expect(c!.points.map((p) => p.id)).toEqual(again.exps.map((e) => e.id));
      await expect.poll(() => page.locator('#harness-chart svg g.hpt').count(), { timeout: 20_000 }).toBe(2);
      expect(await page.locator('#harness-front tbody tr').count()).toBe(c!.front.length);
      expect(errors).toEqual([]);
    } finally {
      j.close();
    }
  });
});

import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { finalizeRun } from '../../src/tiers/finalize.js';
import { listReviews } from '../../src/tiers/review.js';
import { submit } from '../../src/tiers/submit.js';
import { launchChromium } from '../helpers/chromium.js';
import { linearRun, STEPS } from '../helpers/finalize.js';

/** Debian's Chromium (scripts/setup.sh --with-browser); never a downloaded browser. */

let dir: string;
let studio: StudioServer;
let guarded: StudioServer;
let branches: { branch: string; holds: boolean; reviewExperiment: number }[];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  // A and C stacked (branch 1, holding the run's best, #5, submitted), B alone (never submitted), D alone
  // (kept on top of A and B; nothing by itself).
  ({ dir } = await linearRun([STEPS.A, STEPS.B, STEPS.D, STEPS.C], 'fin', 12000));
  // Submitted first, so each PR.md can say where the run's private score stands.
  expect((await submit(dir, 'fin')).experiment.id).toBe(5);
  const r = await finalizeRun(dir, { runId: 'fin' });
  branches = r.branches;
  expect(r.branches.map((b) => [b.experiments, b.verdict])).toEqual([
    [[2, 5], 'holds'],
    [[3], 'holds'],
    [[4], 'does not hold alone'],
  ]);
  studio = await startStudio({ projectDir: dir, port: 0, pollMs: 100 });
  guarded = await startStudio({ projectDir: dir, port: 0, token: 'finalize-token-123' });
  cleanups.push(
    () => studio.close(),
    () => guarded.close(),
  );
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** One raw HTTP request. */
function raw(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}
const post = (port: number, path: string, body: unknown, headers: Record<string, string> = {}) =>
  raw(port, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('the Studio shows the finalized branches and promotes one (tier 2)', () => {
  it('the API: state, PR.md, and the promotion guarded like every write', async () => {
    const state = JSON.parse((await raw(studio.port, '/api/state?run=fin')).body);
    expect(
      state.finalized.map((b: { branch: string; submitted: boolean; blocked: string | null }) => [
        b.branch,
        b.submitted,
        b.blocked === null,
      ]),
    ).toEqual([
      [branches[0]!.branch, true, true],
      [branches[1]!.branch, false, false],
      [branches[2]!.branch, false, false],
    ]);
    const pr = await raw(
      studio.port,
      `/api/finalized/pr?run=fin&branch=${encodeURIComponent(branches[1]!.branch)}`,
    );
    expect(pr.status).toBe(200);
    expect(JSON.parse(pr.body).text).toMatch(/## Public–private gap[\s\S]*not in this branch/);
    expect((await raw(studio.port, '/api/finalized/pr?run=fin&branch=../../etc')).status).toBe(404);
    // Every request needs the token where one is set; writes need JSON from the same origin.
    expect((await raw(guarded.port, `/api/finalized/pr?run=fin&branch=${branches[0]!.branch}`)).status).toBe(
      401,
    );
    expect(
      (await post(guarded.port, '/api/finalized/review', { branch: branches[0]!.branch, note: 'x' })).status,
    ).toBe(401);
    const text = await raw(studio.port, '/api/finalized/review', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ branch: branches[0]!.branch, note: 'x' }),
    });
    expect(text.status).toBe(415);
    const cross = await post(
      studio.port,
      '/api/finalized/review',
      { branch: branches[0]!.branch, note: 'x' },
      { origin: 'http://attacker.example' },
    );
    expect(cross.status).toBe(403);
    // A branch that does not hold alone, or whose experiment was never submitted, is not promoted.
    const weak = await post(studio.port, '/api/finalized/review', {
      run: 'fin',
      branch: branches[2]!.branch,
      note: 'looks fine',
    });
    expect(weak.status).toBe(400);
    expect(JSON.parse(weak.body).error).toMatch(/cannot be promoted: does not hold alone/);
    const unsubmitted = await post(studio.port, '/api/finalized/review', {
      run: 'fin',
      branch: branches[1]!.branch,
      note: 'ok',
    });
    expect(JSON.parse(unsubmitted.body).error).toMatch(/experiment 3 has not been submitted/);
    expect(
      (await post(studio.port, '/api/finalized/review', { run: 'fin', branch: 'nope', note: 'ok' })).status,
    ).toBe(400);
    const j = Journal.open(dir, { readonly: true });
    expect(listReviews(j, 'fin')).toEqual([]);
    j.close();
  });

  it('in Chromium: the branches with their verdicts, PR.md on a click, and Promote records the review', async () => {
    const { context, close } = await launchChromium();
    cleanups.push(close);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(studio.url);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000 }).toBe('live');
    await expect.poll(() => page.locator('#finalized').isVisible(), { timeout: 10_000 }).toBe(true);
    const rows = page.locator('#final-table tbody tr');
    await expect.poll(() => rows.count()).toBe(3);
    const row = (i: number) => page.locator(`#final-table tr[data-branch="${branches[i]!.branch}"]`);
    await expect(row(0).getAttribute('data-holds')).resolves.toBe('true');
    await expect(row(2).getAttribute('data-holds')).resolves.toBe('false');
    await expect(row(2).textContent()).resolves.toMatch(/does not hold alone/);
    await expect(row(2).locator('button.final-promote').isDisabled()).resolves.toBe(true);
    await expect(row(1).locator('button.final-promote').isDisabled()).resolves.toBe(true);
    await expect(row(1).textContent()).resolves.toMatch(/was not scored on the private holdout/);
    await expect(row(0).locator('button.final-promote').isDisabled()).resolves.toBe(false);

    // PR.md opens on a click.
    await row(0).locator('button.show-pr').click();
    await expect
      .poll(() => page.locator('#final-pr').textContent())
      .toMatch(/## What the reviewer should check/);
    await expect(page.locator('#final-pr-head').textContent()).resolves.toBe(
      `PR.md of ${branches[0]!.branch}`,
    );

    // Promote without a note is refused; with one, it is recorded on the branch's experiment, and the row shows it.
    await row(0).locator('button.final-promote').click();
    await expect.poll(() => page.locator('#final-msg').textContent()).toMatch(/a review needs a note/);
    await page.locator('#final-note').fill('read both commits and PR.md; the gain holds alone');
    await page.locator('#final-reviewer').fill('ada');
    await row(0).locator('button.final-promote').click();
    await expect
      .poll(() => page.locator('#final-msg').textContent())
      .toBe(`recorded: promote ${branches[0]!.branch} (#5) by ada`);
    await expect
      .poll(() => row(0).locator('td').nth(5).textContent(), { timeout: 10_000 })
      .toBe('promote (#5)');
    const j = Journal.open(dir, { readonly: true });
    const reviews = listReviews(j, 'fin');
    j.close();
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({
      experimentId: 5,
      decision: 'promote',
      reviewer: 'ada',
      note: `finalized branch ${branches[0]!.branch}: read both commits and PR.md; the gain holds alone`,
    });
    expect(errors).toEqual([]);
  });
});

/**
 * A long run in the Studio: a snapshot (`GET /api/state`, the live stream) carries only the run's newest
 * SNAPSHOT_ROWS experiment rows with the run's total and the median duration of every row; `GET /api/experiments`
 * pages the rest, newest first, and refuses a bad `before` or `limit`; the chart and the CSV still hold every
 * experiment. The run is written through the Journal API (test/helpers/studio.ts), not by the loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadContract } from '../../src/contract/load.js';
import { Journal } from '../../src/journal/store.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import {
  MAX_PAGE_ROWS,
  PAGE_ROWS,
  SNAPSHOT_ROWS,
  type StudioExperiment,
  type StudioExperimentsPage,
  studioState,
} from '../../src/studio/state.js';
import { makeProject } from '../helpers/project.js';
import { durationOf, recordManyExperiments } from '../helpers/studio.js';

/** More rows than a snapshot carries and than two default pages, not a multiple of a page. */
const N = 1234;

let dir: string;
let studio: StudioServer;
let ids: number[];

type Page = StudioExperimentsPage;

beforeAll(async () => {
  dir = await makeProject({ rows: 600 });
  ids = recordManyExperiments(dir, 'long', N);
  // An old row, far outside the newest SNAPSHOT_ROWS, submitted and reviewed: its page row carries both.
  const j = Journal.open(dir);
  try {
    const old = j.getExperiment(ids[4]!)!;
    const submission = j.addSubmission({
      ts: new Date().toISOString(),
      runId: 'long',
      experimentId: old.id,
      commitSha: 'a'.repeat(40),
      public: old.score!,
      private: 0.66,
      gap: old.score! - 0.66,
      metrics: { auroc: 0.66 },
    });
    j.addReview({
      ts: new Date().toISOString(),
      runId: 'long',
      experimentId: old.id,
      submissionId: submission,
      decision: 'reject',
      note: 'too far off in private',
      reviewer: 'test',
    });
  } finally {
    j.close();
  }
  studio = await startStudio({ projectDir: dir, port: 0, pollMs: 100 });
}, 120_000);

afterAll(async () => {
  await studio?.close();
});

const get = async (path: string) => {
  const res = await fetch(`http://127.0.0.1:${studio.port}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const median = (v: number[]) => {
  const d = [...v].sort((a, b) => a - b);
  const h = Math.floor(d.length / 2);
  return d.length % 2 ? d[h]! : (d[h - 1]! + d[h]!) / 2;
};

describe('a snapshot of a run with more than SNAPSHOT_ROWS experiments', () => {
  it("holds the newest SNAPSHOT_ROWS rows, the run's total and the median of every row; the chart and the CSV keep every experiment", async () => {
    expect(N).toBeGreaterThan(SNAPSHOT_ROWS);
    const { status, body } = await get('/api/state?run=long');
    expect(status).toBe(200);
    const s = body as unknown as ReturnType<typeof studioState>;
    expect(s.experiments).toHaveLength(SNAPSHOT_ROWS);
    expect(s.experiments.map((e) => e.id)).toEqual(ids.slice(-SNAPSHOT_ROWS));
    expect(s.experimentsTotal).toBe(N);
    expect(s.budgets.experiments.used).toBe(N);
    // Over every row, not only the rows sent (their median would be far higher: durations grow with the id).
    const all = median(ids.map((id) => durationOf(id, 1)));
    expect(s.medianDurationMs).toBe(all);
    expect(median(s.experiments.map((e) => e.duration_s * 1000))).not.toBe(all);
    // The chart draws every experiment of the run, the old ones too.
    expect(s.chart.match(/<g class="pt" data-id="/g)).toHaveLength(N);
    expect(s.chart).toContain(`data-id="${ids[0]}"`);
    // The marks of the rows sent in full (tooltip with the hypothesis, focusable); the older ones compact.
    const mark = (id: number) => new RegExp(`<g class="pt" data-id="${id}"[^]*?</g>`).exec(s.chart)![0];
    expect(s.chart.match(/<g class="pt" [^>]*tabindex="0"/g)).toHaveLength(SNAPSHOT_ROWS);
    expect(mark(ids.at(-SNAPSHOT_ROWS)!)).toMatch(
      /tabindex="0".*: exp \d+<\/title><circle [^>]*r="9" fill="transparent"/,
    );
    expect(mark(ids[0]!)).toBe(
      `<g class="pt" data-id="${ids[0]}" data-seq="1" data-decision="kept"><title>#${ids[0]} (seq 1) kept 0.70000</title><circle cx="64" cy="${/cy="([\d.]+)"/.exec(mark(ids[0]!))![1]}" r="5" fill="#1a7f37"/></g>`,
    );
    expect(mark(ids.at(-SNAPSHOT_ROWS - 1)!)).not.toMatch(/tabindex|exp \d+|r="9"/);
    // About 250 bytes a compact mark: far less than every mark in full.
    expect(s.chart.length).toBeLessThan(SNAPSHOT_ROWS * 400 + (N - SNAPSHOT_ROWS) * 250);
    // The CSV export stays whole: every experiment of the run.
    const csv = await (await fetch(`http://127.0.0.1:${studio.port}/api/experiments.csv?run=long`)).text();
    expect(csv.trimEnd().split('\r\n')).toHaveLength(N + 1);
    // The object form is the same snapshot.
    const j = Journal.open(dir, { readonly: true });
    try {
      const o = studioState(j, loadContract(dir), 'long');
      expect([o.experiments.length, o.experimentsTotal, o.medianDurationMs]).toEqual([SNAPSHOT_ROWS, N, all]);
      expect(o.experiments).toEqual(s.experiments);
    } finally {
      j.close();
    }
  });

  it('is what the live stream sends too: the newest rows, not every row', async () => {
    const ctl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${studio.port}/api/stream?run=long`, { signal: ctl.signal });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let state: { experiments: { id: number }[]; experimentsTotal: number } | null = null;
    try {
      while (!state) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        const m = /event: state\ndata: (.*)\n\n/.exec(buf);
        if (m) state = JSON.parse(m[1]!);
      }
    } finally {
      ctl.abort();
    }
    expect(state!.experiments.map((e) => e.id)).toEqual(ids.slice(-SNAPSHOT_ROWS));
    expect(state!.experimentsTotal).toBe(N);
  });
});

describe('GET /api/experiments', () => {
  it('pages the whole run newest first, each page below the last, without a gap or an overlap', async () => {
    const seen: number[] = [];
    const sizes: number[] = [];
    let before: number | null | undefined;
    do {
      const { status, body } = await get(
        `/api/experiments?run=long&limit=300${before ? `&before=${before}` : ''}`,
      );
      expect(status).toBe(200);
      const p = body as unknown as Page;
      expect([p.run, p.total]).toEqual(['long', N]);
      const got = p.experiments.map((e) => e.id);
      expect(got).toEqual([...got].sort((a, b) => b - a)); // newest first
      if (before) expect(Math.max(...got)).toBeLessThan(before);
      if (p.next !== null) expect(p.next).toBe(got.at(-1));
      seen.push(...got);
      sizes.push(got.length);
      before = p.next;
    } while (before !== null);
    expect(sizes).toEqual([300, 300, 300, 300, 34]);
    expect(seen).toEqual([...ids].reverse());
  });

  it('defaults to PAGE_ROWS rows from the newest; its rows have the shape and values of the snapshot rows', async () => {
    const first = (await get('/api/experiments?run=long')).body as unknown as Page;
    expect(first.experiments).toHaveLength(PAGE_ROWS);
    expect(first.experiments[0]!.id).toBe(ids.at(-1));
    const state = (await get('/api/state?run=long')).body as unknown as { experiments: StudioExperiment[] };
    const newest = state.experiments.at(-1)!;
    expect(first.experiments[0]).toEqual(newest);
    // The latest run when none is named.
    expect(((await get('/api/experiments?limit=1')).body as unknown as Page).experiments[0]).toEqual(newest);
    // The tail: what is below an old id, and the old row's private score and standing review.
    const tail = (await get(`/api/experiments?run=long&before=${ids[10]}`)).body as unknown as Page;
    expect(tail.experiments.map((e) => e.id)).toEqual(ids.slice(0, 10).reverse());
    expect(tail.next).toBeNull();
    const old = tail.experiments.find((e) => e.id === ids[4])!;
    expect([old.private, old.review, old.hypothesis]).toEqual([0.66, 'reject', `exp ${ids[4]}`]);
    // Below the first row: an empty last page.
    const none = (await get(`/api/experiments?run=long&before=${ids[0]}`)).body as unknown as Page;
    expect([none.experiments, none.next, none.total]).toEqual([[], null, N]);
  });

  it('answers 400 naming the parameter and the fix for a bad before or limit, 404 for an unknown run', async () => {
    for (const bad of ['0', '-3', 'abc', '1.5', '', '12x', '99999999999999999999']) {
      const r = await get(`/api/experiments?run=long&before=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect(r.body).toMatchObject({
        field: 'before',
        error: `before must be an experiment id (a positive integer), got ${JSON.stringify(bad)}`,
        hint: expect.stringMatching(/omit before for the newest page/),
      });
    }
    for (const bad of ['0', '-1', 'ten', '2.5', '', String(MAX_PAGE_ROWS + 1)]) {
      const r = await get(`/api/experiments?run=long&limit=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect(r.body).toMatchObject({
        field: 'limit',
        error: `limit must be an integer from 1 to ${MAX_PAGE_ROWS}, got ${JSON.stringify(bad)}`,
        hint: expect.stringMatching(/omit limit/),
      });
    }
    const most = await get(`/api/experiments?run=long&limit=${MAX_PAGE_ROWS}`);
    expect((most.body as unknown as Page).experiments).toHaveLength(N);
    const unknown = await get('/api/experiments?run=nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body['error']).toBe('no run "nope"');
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { runLoop } from '../../src/loop/run.js';
import { type StudioServer, startStudio } from '../../src/studio/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { makeProject } from '../helpers/project.js';
import { ScriptedProposer } from '../helpers/scripted.js';

let studio: StudioServer | null = null;
afterAll(async () => {
  await studio?.close();
});

const outside = () =>
  new ScriptedProposer([{ hypothesis: 'notes outside the surface', files: { 'notes.txt': 'x' } }]);

describe('the Studio clears an escalation', () => {
  it('shows the escalation with a clear button; POST /api/clear needs a note, is journaled, and lets runs go on', {
    timeout: 300_000,
  }, async () => {
    const dir = await makeProject({ rows: 1000 });
    const a = await runLoop({
      projectDir: dir,
      proposer: async () => outside(),
      maxExperiments: 10,
      maxConsecutiveFailures: 100,
    });
    expect(a.status).toBe('escalated');
    // any proposer is refused while escalated
    await expect(
      runLoop({ projectDir: dir, proposer: async () => new ScriptedProposer([]), maxExperiments: 1 }),
    ).rejects.toThrow(/escalated: a person must clear it \(ratchet clear --note/);
    studio = await startStudio({ projectDir: dir, port: 0, pollMs: 100 });
    const page = await (await fetch(studio.url)).text();
    expect(page).toContain('id="clear-escalation"');
    let state = await (await fetch(`${studio.url}api/state`)).json();
    expect(state.status.project_escalation).toMatchObject({
      run: a.runId,
      message: expect.stringMatching(/3 guardrail trips in a row/),
    });
    const post = (body: unknown) =>
      fetch(`${studio!.url}api/clear`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const noNote = await post({ note: '  ' });
    expect(noNote.status).toBe(400);
    expect((await noNote.json()).error).toMatch(/needs a note/);
    // the button, in a real browser (Debian's Chromium): shown while escalated, clears with the note, then hidden
    const { context, close } = await launchChromium();
    try {
      const tab = await context.newPage();
      await tab.goto(studio.url);
      await tab.locator('#escalation').waitFor({ state: 'visible', timeout: 30_000 });
      expect(await tab.locator('#escalation-msg').textContent()).toMatch(/3 guardrail trips in a row/);
      await tab.fill('#clear-note', 'checked the notes file: harmless');
      await tab.click('#clear-escalation');
      await tab.locator('#escalation').waitFor({ state: 'hidden', timeout: 30_000 });
    } finally {
      await close();
    }
    state = await (await fetch(`${studio.url}api/state`)).json();
    expect(state.status.project_escalation).toBeNull();
    expect((await post({ note: 'again' })).status).toBe(400); // nothing is escalated any more
    const j = Journal.open(dir, { readonly: true });
    const ev = j.listEvents({ kinds: ['escalation.cleared'] });
    j.close();
    expect(ev).toHaveLength(1);
    expect(ev[0]!.message).toMatch(/cleared by a person \(studio .*\): checked the notes file: harmless/);
    const b = await runLoop({
      projectDir: dir,
      proposer: async () => new ScriptedProposer([]),
      maxExperiments: 1,
    });
    expect(b.status).toBe('finished');
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadContract } from '../../src/contract/load.js';
import { Journal } from '../../src/journal/store.js';
import { alignmentStatus } from '../../src/tiers/align-gate.js';
import { cli, makeProject } from '../helpers/project.js';
import { type RecordedChange, recordHistory } from '../helpers/tiers.js';

/**
 * The alignment gate: with `alignment.required: true`, `ratchet run` refuses to start (a guardrail event a person
 * sees) until the imported A/B history shows that offline gains predict online wins; `ratchet check` says which.
 */

const recordExperiments = (dir: string, runId: string, truth: RecordedChange[]) =>
  recordHistory(dir, runId, truth);

function simulate(dir: string, alignment: number, first = 2): { experiment: string; offline: number }[] {
  const r = cli(
    ['ab', 'simulate', '--tests', '30', '--alignment', String(alignment), '--seed', '11', '--shape', 'arms']
      .concat(['--first-experiment', String(first)])
      .concat(['--out', join(dir, `ab${alignment}.csv`), '--truth', join(dir, `truth${alignment}.json`)]),
    dir,
  );
  expect(r.code, r.stderr).toBe(0);
  return (
    JSON.parse(readFileSync(join(dir, `truth${alignment}.json`), 'utf8')) as {
      tests: { experiment: string; offline: number }[];
    }
  ).tests;
}

describe('alignment.required', () => {
  it('refuses a run until the A/B history shows alignment, and lets it start once it does', async () => {
    const dir = await makeProject({
      rows: 1500,
      contract: (y) => `${y}alignment: { required: true }\n`,
    });
    // No A/B test imported: nothing shows alignment.
    const none = cli(['run', '--experiments', '1'], dir);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/requires offline–online alignment, and no A\/B tests imported/);

    // An anti-aligned history (offline gains predict online losses): not ready.
    const anti = simulate(dir, -0.9);
    recordExperiments(dir, 'history', anti);
    expect(cli(['ab', 'import', join(dir, 'ab-0.9.csv')], dir).code).toBe(0);
    const status = alignmentStatus(loadContract(dir));
    expect(status.report?.ready).toBe(false);
    const refused = cli(['run', '--experiments', '1'], dir);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/this metric is not ready for agentic optimization/);
    const j = Journal.open(dir, { readonly: true });
    try {
      const events = j.listEvents({ kinds: ['guardrail'] }).filter((e) => e.guardrail === 'alignment');
      expect(events).toHaveLength(2);
      expect(j.listRuns().map((r) => r.id)).toEqual(['history']);
    } finally {
      j.close();
    }

    // The same test ids re-imported, now shipping the changes of a later run whose gains predicted them: it starts.
    recordExperiments(dir, 'history2', simulate(dir, 0.95, 40));
    expect(cli(['ab', 'import', join(dir, 'ab0.95.csv')], dir).code).toBe(0);
    expect(alignmentStatus(loadContract(dir)).report?.ready).toBe(true);
    const ran = cli(['run', '--experiments', '1'], dir);
    expect(ran.code, ran.stderr).toBe(0);
  }, 300_000);

  it('is off by default: the status is reported, nothing is refused', async () => {
    const dir = await makeProject({ rows: 1500 });
    expect(loadContract(dir).alignment.required).toBe(false);
    const anti = simulate(dir, -0.9);
    recordExperiments(dir, 'history', anti);
    expect(cli(['ab', 'import', join(dir, 'ab-0.9.csv')], dir).code).toBe(0);
    const s = alignmentStatus(loadContract(dir));
    expect(s.tests).toBe(30);
    expect(s.message).toMatch(/^alignment over 30 of 30 A\/B tests: this metric is not ready/);
    const ran = cli(['run', '--experiments', '1'], dir);
    expect(ran.code, ran.stderr).toBe(0);
  }, 300_000);
});

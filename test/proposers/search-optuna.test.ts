import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OptunaHelperError, OptunaSession } from '../../src/proposers/search/optuna.js';
import { loadSearchSpace, type SearchSpace } from '../../src/proposers/search/space.js';
import { PYTHON, renderedScaffold, tempDir } from './helpers.js';

const space: SearchSpace = loadSearchSpace(renderedScaffold('templates/tabular/search_space.yaml.tmpl'));
const families = (space.space.model as { choices: string[] }).choices;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function storage(): string {
  const t = tempDir('optuna');
  cleanups.push(t.cleanup);
  return join(t.dir, 'study.db');
}

async function start(
  storagePath: string,
  seed = 42,
  extra: Partial<Parameters<typeof OptunaSession.start>[0]> = {},
) {
  const session = await OptunaSession.start({
    python: PYTHON,
    storagePath,
    studyName: 'test',
    direction: 'maximize',
    seed,
    space,
    ...extra,
  });
  cleanups.push(() => session.close());
  return session;
}

/** A deterministic stand-in for a score, so two runs tell the same values. */
function fakeScore(params: Record<string, unknown>): number {
  const text = JSON.stringify(params);
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) % 1_000_003;
  return 0.7 + (h / 1_000_003) * 0.2;
}

async function runTrials(session: OptunaSession, n: number): Promise<Array<Record<string, unknown>>> {
  const seen: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const { trial, params } = await session.ask();
    seen.push(params);
    await session.tell(trial, fakeScore(params));
  }
  return seen;
}

describe('OptunaSession with the real helper', () => {
  it('asks, tells and reports the best trial', async () => {
    const session = await start(storage());
    expect(session.opened).toMatchObject({ n_trials: 0, resumed: false, sampler_seed: 42 });
    const first = await session.ask();
    expect(first.trial).toBe(0);
    expect(first.startup).toBe(true);
    await session.tell(first.trial, 0.8);
    const second = await session.ask();
    expect(second.trial).toBe(1);
    await session.tell(second.trial, null);
    expect(await session.info()).toMatchObject({ n_trials: 2, n_complete: 1, n_fail: 1 });
    expect(await session.best()).toEqual({ trial: 0, value: 0.8, params: first.params });
  });

  it('gives conditional parameters only for the chosen family, nested under its name', async () => {
    const session = await start(storage(), 7);
    const seenFamilies = new Set<string>();
    for (const params of await runTrials(session, 24)) {
      const model = params.model as string;
      seenFamilies.add(model);
      expect(Object.keys(params).sort()).toEqual(
        [model, 'model', 'onehot_min_frequency', 'scale_numeric'].sort(),
      );
      const expected = Object.keys(
        (space.space.model as { conditional: Record<string, object> }).conditional[model]!,
      );
      expect(Object.keys(params[model] as object).sort()).toEqual(expected.sort());
      for (const other of families.filter((f) => f !== model)) expect(params).not.toHaveProperty(other);
    }
    expect(seenFamilies.size).toBeGreaterThan(2);
  });

  it('proposes the same trials for the same seed and the same tells, past the random start-up', async () => {
    const a = await runTrials(await start(storage(), 123), 14);
    const b = await runTrials(await start(storage(), 123), 14);
    const c = await runTrials(await start(storage(), 124), 14);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('resumes the study from storage after a restart', async () => {
    const path = storage();
    const first = await start(path, 5);
    const before = await runTrials(first, 4);
    const orphan = await first.ask(); // asked, never told: a run that died mid-experiment
    const best = await first.best();
    await first.close();

    const second = await start(path, 5);
    expect(second.opened).toMatchObject({ resumed: true, n_trials: 5, n_complete: 4, failed_stale: 1 });
    expect(second.opened.sampler_seed).not.toBe(5); // no replay of the start-up samples already tried
    expect(await second.best()).toEqual(best);
    const next = await second.ask();
    expect(next.trial).toBe(orphan.trial + 1);
    expect(before).not.toContainEqual(next.params);
    expect(await second.info()).toMatchObject({ n_trials: 6, n_fail: 1, n_running: 1 });
  });

  it('enqueues params (the baseline) as the next trial, leaving values outside the space to TPE', async () => {
    const session = await start(storage());
    const baseline = {
      model: 'logistic_regression',
      logistic_regression: { C: 1, max_iter: 2000 },
      scale_numeric: true,
      onehot_min_frequency: 500, // outside [1, 50]
      drop_columns: ['id'],
    };
    const result = await session.enqueue(baseline);
    expect(result.enqueued).toEqual({
      model: 'logistic_regression',
      'logistic_regression.C': 1,
      scale_numeric: true,
    });
    expect(result.skipped).toEqual([expect.stringMatching(/onehot_min_frequency=500 is outside \[1, 50\]/)]);
    const asked = await session.ask();
    expect(asked.enqueued).toBe(true);
    expect(asked.params).toMatchObject({
      model: 'logistic_regression',
      logistic_regression: { C: 1 },
      scale_numeric: true,
    });
    expect(typeof asked.params.onehot_min_frequency).toBe('number');
  });

  it('answers a bad request with an error and keeps serving', async () => {
    const session = await start(storage());
    await expect(session.tell(99, 0.5)).rejects.toThrow(/refused "tell": cannot tell trial 99/);
    expect(session.alive).toBe(true);
    expect((await session.ask()).trial).toBe(0);
  });

  it('reports a helper that died, quoting its stderr', async () => {
    const session = await start(storage());
    process.kill(session.pid!, 'SIGKILL');
    const err = await session.ask().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptunaHelperError);
    expect((err as Error).message).toMatch(/Optuna helper was killed by SIGKILL/);
    expect((err as Error).message).toContain('[optuna-helper] study'); // its stderr tail
    await expect(session.tell(0, 1)).rejects.toThrow(/killed by SIGKILL; cannot send "tell"/);
    await session.close();
    await session.close(); // twice is fine
  });
});

describe('OptunaSession failures', () => {
  function fakeHelper(body: string): string {
    const t = tempDir('fake-helper');
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'helper.py');
    writeFileSync(path, body);
    return path;
  }
  const base = {
    storagePath: '/tmp/unused.db',
    studyName: 's',
    direction: 'maximize' as const,
    seed: 1,
    space,
  };

  it('says which Python could not be started and how to fix it', async () => {
    const err = await OptunaSession.start({ ...base, python: '/nonexistent/python3' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OptunaHelperError);
    expect((err as Error).message).toMatch(/\/nonexistent\/python3[\s\S]*could not be started[\s\S]*ENOENT/);
    expect((err as Error).message).toMatch(/fix: point the search proposer at a Python with optuna/);
  });

  it('quotes the stderr of a helper that crashes', async () => {
    const helperPath = fakeHelper(
      'import sys\nsys.stdin.readline()\nprint("Traceback: boom, the helper broke", file=sys.stderr)\nsys.exit(3)\n',
    );
    const err = await OptunaSession.start({ ...base, python: PYTHON, helperPath }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptunaHelperError);
    expect((err as Error).message).toMatch(/exited with code 3 while answering "init"/);
    expect((err as Error).message).toContain('Traceback: boom, the helper broke');
  });

  it('times out a helper that does not answer, and kills it', async () => {
    const helperPath = fakeHelper('import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n');
    const err = await OptunaSession.start({
      ...base,
      python: PYTHON,
      helperPath,
      startTimeoutMs: 1500,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/did not answer "init" within 2 s; it was killed/);
  });

  it('rejects a helper that writes something other than JSON', async () => {
    const helperPath = fakeHelper(
      'import sys\nsys.stdin.readline()\nprint("hello", flush=True)\nsys.stdin.readline()\n',
    );
    const err = await OptunaSession.start({ ...base, python: PYTHON, helperPath }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not JSON: hello/);
  });
});

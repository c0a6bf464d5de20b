import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readLock } from '../../src/contract/lock.js';
import { readManifest } from '../../src/data/ingest.js';
import { Journal } from '../../src/journal/store.js';
import { activeRun } from '../../src/loop/control.js';
import { experimentDir } from '../../src/loop/paths.js';
import { startStudio } from '../../src/studio/server.js';
import { listReviews } from '../../src/tiers/review.js';
import { MlflowClient, mlflowKey } from '../../src/tracking/client.js';
import { mlflowHealth } from '../../src/tracking/health.js';
import { flattenParams } from '../../src/tracking/payload.js';
import { mlflowExperimentName, readQueue } from '../../src/tracking/tracker.js';
import { EXAMPLE, makeProject } from '../helpers/project.js';
import {
  freePort,
  hangingServer,
  type MlflowServer,
  mlflowServer,
  runCli,
  switchableProxy,
} from './server.js';

let server: MlflowServer;
let client: MlflowClient;

beforeAll(async () => {
  server = await mlflowServer();
  client = new MlflowClient(server.uri);
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

const suffix = () => randomBytes(4).toString('hex');

function journal(dir: string) {
  const j = Journal.open(dir, { readonly: true });
  try {
    return {
      runs: j.listRuns(),
      exps: j.listExperiments(),
      events: j.listEvents({ kinds: ['mlflow.error', 'observer.error'] }),
      transitions: j
        .listEvents({ kinds: ['mlflow.error', 'mlflow.recovered'] })
        .filter((e) => e.data?.['reachable'] !== undefined),
      submissions: j.listSubmissions(),
      reviews: listReviews(j),
      health: mlflowHealth(j),
    };
  } finally {
    j.close();
  }
}

const journalExists = (dir: string) => existsSync(join(dir, '.ratchet', 'ratchet.db'));

/** MLflow runs of a Ratchet run, keyed by the Ratchet experiment id. */
async function mlflowRuns(runId: string) {
  const exp = await client.getExperimentByName(mlflowExperimentName('gsoep-outwork', runId));
  const runs = exp ? await client.searchRuns([exp.experiment_id]) : [];
  const byId = new Map<number, (typeof runs)[number]>();
  for (const r of runs) {
    const id = Number(r.data.tags.find((t) => t.key === 'ratchet.experiment')?.value);
    expect(byId.has(id), `experiment ${id} logged twice`).toBe(false);
    byId.set(id, r);
  }
  return byId;
}

describe('MLflow tracking of a real run (real MLflow server, real loop)', () => {
  it('logs every experiment as an MLflow run: params (the baseline too), public_<metric>, dataset inputs, tags, patch and logs; submit and review land on the submitted run', async () => {
    const dir = await makeProject({ rows: 1500 });
    const runId = `tracked-${suffix()}`;
    const r = await runCli(['run', '--experiments', '4', '--timeout', '120s', '--run', runId], dir, {
      MLFLOW_TRACKING_URI: server.uri,
    });
    expect(r.code, r.stderr).toBe(0);
    const { exps, events, runs } = journal(dir);
    expect(exps).toHaveLength(4);
    expect(events).toEqual([]);
    expect(readQueue(dir)).toEqual([]);
    const logged = await mlflowRuns(runId);
    expect([...logged.keys()].sort()).toEqual(exps.map((e) => e.id).sort());
    const manifest = readManifest(dir);
    const lock = readLock(dir);
    for (const e of exps) {
      const m = logged.get(e.id)!;
      const tags = Object.fromEntries(m.data.tags.map((t) => [t.key, t.value]));
      expect(m.info.status).toBe(e.decision === 'kept' || e.decision === 'reverted' ? 'FINISHED' : 'FAILED');
      expect(m.info.start_time).toBe(Date.parse(e.startedAt));
      expect(m.info.end_time).toBe(Date.parse(e.endedAt));
      expect(tags['ratchet.hypothesis']).toBe(e.hypothesis);
      expect(tags['ratchet.conclusion']).toBe(e.conclusion ?? '');
      expect(tags['ratchet.decision']).toBe(e.decision);
      expect(tags['ratchet.reason']).toBe(e.reason);
      expect(tags['ratchet.git_sha']).toBe(e.commitSha ?? '');
      expect(tags['mlflow.source.git.commit']).toBe(e.commitSha ?? e.parentSha);
      expect(tags['ratchet.direction']).toBe(runs[0]!.branch);
      expect(tags['ratchet.proposer']).toBe(e.proposer);
      // Metric names say which holdout: public_<metric> for every metric, never the bare name.
      const metrics = Object.fromEntries(m.data.metrics.map((x) => [x.key, x.value]));
      expect(Object.keys(e.metrics).length).toBeGreaterThanOrEqual(6);
      for (const [k, v] of Object.entries(e.metrics)) {
        expect(metrics[mlflowKey(`public_${k}`)], k).toBe(v);
        expect(metrics[mlflowKey(k)], k).toBeUndefined();
      }
      // Params: the proposal's, and for the baseline the params file as committed at the baseline.
      const params = Object.fromEntries(m.data.params.map((p) => [p.key, p.value]));
      const ran =
        e.seq === 1
          ? (parse(
              execFileSync('git', ['show', `${e.commitSha}:params.yaml`], { cwd: dir, encoding: 'utf8' }),
            ) as Record<string, unknown>)
          : e.params;
      const want = Object.fromEntries(flattenParams(ran).map((p) => [p.key, p.value]));
      expect(Object.keys(want).length).toBeGreaterThan(0);
      expect(params).toEqual(want);
      expect(params['model']).toBeTruthy();
      // The dataset inputs, as runs/get returns them: the three splits with digest, source, context and rows.
      const got = await client.getRun(m.info.run_id);
      const inputs = got.inputs.dataset_inputs;
      expect(inputs).toHaveLength(3);
      for (const [split, context, files] of [
        ['train', 'training', ['.ratchet/data/train.csv']],
        ['public', 'validation', ['.ratchet/data/public.csv', '.ratchet/vault/public.parquet']],
        ['private', 'test', ['.ratchet/data/private.csv', '.ratchet/vault/private.parquet']],
      ] as const) {
        const input = inputs.find((i) => i.tags.some((t) => t.key === 'ratchet.split' && t.value === split))!;
        expect(input, split).toBeTruthy();
        const itags = Object.fromEntries(input.tags.map((t) => [t.key, t.value]));
        expect(itags['mlflow.data.context']).toBe(context);
        expect(itags['ratchet.rows']).toBe(String(manifest.counts[split]));
        const digest = createHash('sha256')
          .update(files.map((f) => `${f}=${lock.splits[f]}\n`).join(''))
          .digest('hex')
          .slice(0, 32);
        expect(input.dataset.digest).toBe(digest);
        expect(input.dataset.name).toBe(`gsoep-outwork/${split}`);
        expect(input.dataset.source_type).toBe('local');
        expect(JSON.parse(input.dataset.source)).toEqual({ uri: resolve(dir, 'data.csv') });
        const profile = JSON.parse(input.dataset.profile!);
        expect(profile.num_rows).toBe(manifest.counts[split]);
        for (const f of files) expect(profile.sha256[f]).toBe(lock.splits[f]);
        const cols = JSON.parse(input.dataset.schema!).mlflow_colspec.map((c: { name: string }) => c.name);
        expect(cols).toEqual([...manifest.columns.map((c) => c.name), manifest.targetColumn]);
      }
      const files = (await client.listArtifacts(m.info.run_id)).map((f) => f.path).sort();
      expect(files).toEqual(['experiment.json', 'logs', 'patch.diff']);
      const trace = experimentDir(dir, e.id);
      expect(await client.downloadArtifact(m.info.artifact_uri, 'patch.diff')).toBe(
        readFileSync(join(trace, 'patch.diff'), 'utf8'),
      );
      expect(await client.downloadArtifact(m.info.artifact_uri, 'logs/stdout.log')).toBe(
        readFileSync(join(trace, 'stdout.log'), 'utf8'),
      );
    }

    // Tier 2: `ratchet submit` puts private_<metric> (every metric) next to public_<metric> on the run.
    const sub = await runCli(['submit', '--run', runId], dir, { MLFLOW_TRACKING_URI: server.uri });
    expect(sub.code, sub.stderr).toBe(0);
    const j = journal(dir);
    const s = j.submissions.find((x) => x.runId === runId)!;
    expect(Object.keys(s.metrics).length).toBeGreaterThanOrEqual(6);
    let run = await client.getRun(logged.get(s.experimentId)!.info.run_id);
    const metrics = Object.fromEntries(run.data.metrics.map((x) => [x.key, x.value]));
    for (const [k, v] of Object.entries(s.metrics)) {
      expect(metrics[mlflowKey(`private_${k}`)], k).toBe(v);
      expect(metrics[mlflowKey(`public_${k}`)], k).toBeTypeOf('number');
    }
    expect(metrics['ratchet.gap']).toBeCloseTo(s.gap, 12);
    expect(Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]))['ratchet.submitted']).toBe('true');
    expect(readQueue(dir)).toEqual([]);
    // ... and `ratchet review` its decision and note as tags.
    const note = `gap ${s.gap.toFixed(4)} is small; checked the features — ok`;
    const rev = await runCli(
      ['review', String(s.experimentId), '--promote', '--note', note, '--reviewer', 'ada'],
      dir,
      {
        MLFLOW_TRACKING_URI: server.uri,
      },
    );
    expect(rev.code, rev.stderr).toBe(0);
    run = await client.getRun(logged.get(s.experimentId)!.info.run_id);
    const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
    expect(tags['ratchet.review.decision']).toBe('promote');
    expect(tags['ratchet.review.note']).toBe(note);
    expect(tags['ratchet.review.reviewer']).toBe('ada');
    expect(tags['mlflow.note.content']).toContain(note);
    expect(readQueue(dir)).toEqual([]);
    // Still one MLflow run per experiment.
    expect((await mlflowRuns(runId)).size).toBe(4);
  });

  it('never stops or slows the loop when MLflow hangs or is down, keeps the work, and sends it later', async () => {
    const dir = await makeProject({ rows: 1500 });
    const hang = await hangingServer();
    const hungRun = `hung-${suffix()}`;
    try {
      const r1 = await runCli(['run', '--experiments', '3', '--timeout', '120s', '--run', hungRun], dir, {
        MLFLOW_TRACKING_URI: hang.uri,
      });
      expect(r1.code, r1.stderr).toBe(0);
      expect(hang.hits()).toBeGreaterThan(0);
    } finally {
      await hang.stop();
    }
    let j = journal(dir);
    const run1 = j.runs.find((r) => r.id === hungRun)!;
    expect(run1.status).toBe('finished');
    const e1 = j.exps.filter((e) => e.runId === hungRun);
    expect(e1).toHaveLength(3);
    // RECORD never waited for MLflow: the next experiment started right after the previous one ended
    // (a hung request would otherwise cost its 10 s timeout each time).
    for (let i = 1; i < e1.length; i++)
      expect(Date.parse(e1[i]!.startedAt) - Date.parse(e1[i - 1]!.endedAt)).toBeLessThan(2000);
    // The run's end waited at most the stall bound (3 s) for the hung server.
    expect(Date.parse(run1.endedAt!) - Date.parse(e1[2]!.endedAt)).toBeLessThan(6000);
    expect(
      j.events.some((e) => e.runId === hungRun && /3 experiments not yet in MLflow/.test(e.message)),
    ).toBe(true);
    expect(readQueue(dir).map((q) => q.experimentId)).toEqual(e1.map((e) => e.id));

    // MLflow down (nothing listening): the run goes on, the failure is a journal event, the queue grows.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const downRun = `down-${suffix()}`;
    const r2 = await runCli(['run', '--experiments', '2', '--timeout', '120s', '--run', downRun], dir, {
      MLFLOW_TRACKING_URI: closed,
    });
    expect(r2.code, r2.stderr).toBe(0);
    j = journal(dir);
    expect(j.runs.find((r) => r.id === downRun)!.status).toBe('finished');
    expect(j.events.some((e) => e.runId !== null && /cannot reach MLflow/.test(e.message))).toBe(true);
    expect(readQueue(dir)).toHaveLength(5);
    // The terminal says so once (not once per retry), and once at the end what is left.
    expect(r2.stdout.match(/^warning: cannot reach MLflow at .*the run goes on/gm)).toHaveLength(1);
    expect(r2.stdout).toMatch(/MLflow: 5 experiments not yet in MLflow/);
    expect(r2.stdout).not.toMatch(/answers again/);
    // One outage in the journal, and the Studio shows it as a banner.
    expect(j.transitions.filter((e) => e.runId === downRun).map((e) => e.kind)).toEqual(['mlflow.error']);
    const studio = await startStudio({ projectDir: dir, port: 0 });
    try {
      const state = (await (await fetch(`${studio.url}api/state`)).json()) as {
        mlflow: { reachable: boolean; uri: string } | null;
      };
      expect(state.mlflow).toMatchObject({ reachable: false, uri: closed });
      expect(await (await fetch(studio.url)).text()).toContain('id="mlflow-banner"');
    } finally {
      await studio.close();
    }

    // `ratchet submit` while MLflow is down: the private score waits in the queue too (submit still succeeds).
    const sub = await runCli(['submit', '--run', downRun], dir, { MLFLOW_TRACKING_URI: closed });
    expect(sub.code, sub.stderr).toBe(0);
    expect(readQueue(dir)).toHaveLength(6);
    expect(readQueue(dir)[5]).toMatchObject({ runId: downRun, kind: 'submission' });

    // `ratchet mlflow sync` against a dead server: says so, exit 1, keeps the queue.
    const s1 = await runCli(['mlflow', 'sync', '--uri', closed], dir);
    expect(s1.code).toBe(1);
    expect(s1.stdout).toMatch(/sent 0 of 6 .*6 left/);
    expect(readQueue(dir)).toHaveLength(6);
    expect(readQueue(dir)[0]!.attempts).toBeGreaterThan(0);

    // The next run with MLflow up sends the backlog at its start, then its own experiments.
    const upRun = `up-${suffix()}`;
    const r3 = await runCli(['run', '--experiments', '2', '--timeout', '120s', '--run', upRun], dir, {
      MLFLOW_TRACKING_URI: server.uri,
    });
    expect(r3.code, r3.stderr).toBe(0);
    expect(readQueue(dir)).toEqual([]);
    j = journal(dir);
    for (const id of [hungRun, downRun, upRun]) {
      const want = j.exps.filter((e) => e.runId === id).map((e) => e.id);
      expect([...(await mlflowRuns(id)).keys()].sort()).toEqual(want.sort());
    }
    // The queued submission reached the submitted experiment's run.
    const s = j.submissions.find((x) => x.runId === downRun)!;
    const subRun = (await mlflowRuns(downRun)).get(s.experimentId)!;
    const subMetrics = Object.fromEntries(subRun.data.metrics.map((x) => [x.key, x.value]));
    for (const [k, v] of Object.entries(s.metrics)) expect(subMetrics[mlflowKey(`private_${k}`)], k).toBe(v);
    // The recovery is in the journal: the Studio's banner is gone.
    expect(j.health).toMatchObject({ reachable: true, uri: server.uri });
    // Re-sending whole runs is idempotent: the same MLflow runs are completed, none duplicated; a progress
    // line per experiment (on stderr with --json) and a final summary.
    const s2 = await runCli(['mlflow', 'sync', '--all', '--json'], dir, { MLFLOW_TRACKING_URI: server.uri });
    expect(s2.code, s2.stderr).toBe(0);
    expect(JSON.parse(s2.stdout)).toEqual({
      sent: 7,
      refused: 0,
      left: 0,
      total: 7,
      error: null,
      uri: server.uri,
    });
    const lines = s2.stderr.trim().split('\n');
    expect(lines).toHaveLength(7);
    for (const [i, l] of lines.entries())
      expect(l).toMatch(new RegExp(`^sent ${i + 1}/7: experiment #\\d+ of run `));
    const s3 = await runCli(['mlflow', 'sync', '--run', upRun], dir, { MLFLOW_TRACKING_URI: server.uri });
    expect(s3.code, s3.stderr).toBe(0);
    expect(s3.stdout).toMatch(/^sent 1\/2: experiment #\d+ of run up-.*\nsent 2\/2: .*\nsent 2 of 2 to /);
    for (const id of [hungRun, downRun, upRun]) {
      expect((await mlflowRuns(id)).size).toBe(j.exps.filter((e) => e.runId === id).length);
    }
  });

  it('an outage during a run: one warning line, one recovery line, the run goes on and everything arrives', async () => {
    const dir = await makeProject({ rows: 1500 });
    const proxy = await switchableProxy(server.uri); // down: nothing listens on its port yet
    const runId = `flaky-${suffix()}`;
    let revived: Promise<void> | null = null;
    try {
      const r = await runCli(
        ['run', '--experiments', '4', '--timeout', '120s', '--run', runId],
        dir,
        { MLFLOW_TRACKING_URI: proxy.uri },
        (out) => {
          // The server comes back as soon as the run has said it is gone.
          if (!revived && /cannot reach MLflow/.test(out)) revived = proxy.up();
        },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(revived).not.toBeNull();
      expect(r.stdout.match(/^warning: cannot reach MLflow at /gm)).toHaveLength(1);
      expect(r.stdout.match(/^MLflow at .* answers again/gm)).toHaveLength(1);
      expect(r.stdout.indexOf('cannot reach MLflow')).toBeLessThan(r.stdout.indexOf('answers again'));
    } finally {
      await proxy.down();
    }
    const j = journal(dir);
    expect(j.runs[0]!.status).toBe('finished');
    expect(j.exps).toHaveLength(4);
    expect(j.transitions.map((e) => e.kind)).toEqual(['mlflow.error', 'mlflow.recovered']);
    expect(j.health).toMatchObject({ reachable: true });
    expect(readQueue(dir)).toEqual([]);
    expect([...(await mlflowRuns(runId)).keys()].sort()).toEqual(j.exps.map((e) => e.id).sort());
  });

  it('`ratchet submit` during a run: the run owns the queue, takes the job in and sends private_<metric>', async () => {
    const slow = readFileSync(join(EXAMPLE, 'train.py'), 'utf8').replace(
      'from __future__ import annotations\n',
      'from __future__ import annotations\nimport os, time\nif os.environ.get("RATCHET_EXPERIMENT") != "1":\n    time.sleep(3)\n',
    );
    const dir = await makeProject({ rows: 1500, trainPy: slow });
    const runId = `busy-${suffix()}`;
    const env = { MLFLOW_TRACKING_URI: server.uri };
    const running = runCli(['run', '--experiments', '5', '--timeout', '120s', '--run', runId], dir, env);
    // Once the baseline is kept, submit it while the run goes on.
    const t0 = Date.now();
    const keptYet = () => {
      try {
        return journalExists(dir) && journal(dir).exps.some((e) => e.decision === 'kept');
      } catch {
        return false; // the journal is being created
      }
    };
    while (!keptYet()) {
      expect(Date.now() - t0, 'no kept baseline').toBeLessThan(240_000);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(activeRun(dir)).not.toBeNull();
    const sub = await runCli(['submit', '--run', runId], dir, env);
    expect(sub.code, sub.stderr).toBe(0);
    expect(activeRun(dir), 'the run ended before the submit: nothing tested').not.toBeNull();
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(readQueue(dir)).toEqual([]);
    const j = journal(dir);
    expect(j.exps).toHaveLength(5);
    const s = j.submissions.find((x) => x.runId === runId)!;
    const m = (await mlflowRuns(runId)).get(s.experimentId)!;
    const metrics = Object.fromEntries(m.data.metrics.map((x) => [x.key, x.value]));
    for (const [k, v] of Object.entries(s.metrics)) expect(metrics[mlflowKey(`private_${k}`)], k).toBe(v);
  });

  it('refuses a tracking URI it cannot use, naming the variable and the fix', async () => {
    const dir = await makeProject({ rows: 1000 });
    const r = await runCli(['run', '--experiments', '1'], dir, { MLFLOW_TRACKING_URI: 'databricks' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MLFLOW_TRACKING_URI/);
    expect(r.stderr).toMatch(/fix: set it to the tracking server/);
    const s = await runCli(['mlflow', 'sync'], dir, { MLFLOW_TRACKING_URI: '' });
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/MLFLOW_TRACKING_URI is not set/);
  });
});

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/journal/store.js';
import { experimentDir } from '../../src/loop/experiment.js';
import { MlflowClient } from '../../src/tracking/client.js';
import { flattenParams, mlflowExperimentName, readQueue } from '../../src/tracking/tracker.js';
import { makeProject } from '../helpers/project.js';
import { freePort, hangingServer, type MlflowServer, mlflowServer, runCli } from './server.js';

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
    };
  } finally {
    j.close();
  }
}

/** MLflow runs of a Ratchet run, keyed by the Ratchet experiment id. */
async function mlflowRuns(runId: string) {
  const exp = await client.getExperimentByName(mlflowExperimentName('gsoep-outwork', runId));
  if (!exp) return new Map();
  const runs = await client.searchRuns([exp.experiment_id]);
  const byId = new Map<number, (typeof runs)[number]>();
  for (const r of runs) {
    const id = Number(r.data.tags.find((t) => t.key === 'ratchet.experiment')?.value);
    expect(byId.has(id), `experiment ${id} logged twice`).toBe(false);
    byId.set(id, r);
  }
  return byId;
}

describe('MLflow tracking of a real run (real MLflow server, real loop)', () => {
  it('logs every experiment as an MLflow run: params, all public metrics, tags, patch and logs', async () => {
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
      const metrics = Object.fromEntries(m.data.metrics.map((x) => [x.key, x.value]));
      for (const [k, v] of Object.entries(e.metrics)) expect(metrics[k]).toBe(v);
      expect(Object.keys(e.metrics).length).toBeGreaterThanOrEqual(6);
      const params = Object.fromEntries(m.data.params.map((p) => [p.key, p.value]));
      expect(params).toEqual(Object.fromEntries(flattenParams(e.params).map((p) => [p.key, p.value])));
      if (e.seq > 1) expect(params['model']).toBeTruthy();
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

    // `ratchet mlflow sync` against a dead server: says so, exit 1, keeps the queue.
    const s1 = await runCli(['mlflow', 'sync', '--uri', closed], dir);
    expect(s1.code).toBe(1);
    expect(s1.stdout).toMatch(/sent 0 experiments.*5 left/);
    expect(readQueue(dir)).toHaveLength(5);
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
    // Re-sending whole runs is idempotent: the same MLflow runs are completed, none duplicated.
    const s2 = await runCli(['mlflow', 'sync', '--all', '--json'], dir, { MLFLOW_TRACKING_URI: server.uri });
    expect(s2.code, s2.stderr).toBe(0);
    expect(JSON.parse(s2.stdout)).toMatchObject({ sent: 7, left: 0, error: null });
    for (const id of [hungRun, downRun, upRun]) {
      expect((await mlflowRuns(id)).size).toBe(j.exps.filter((e) => e.runId === id).length);
    }
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

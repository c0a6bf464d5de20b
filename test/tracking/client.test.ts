import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches, LIMITS, MlflowClient, MlflowError, mlflowKey } from '../../src/tracking/client.js';
import { freePort, type MlflowServer, mlflowServer } from './server.js';

let server: MlflowServer;
let client: MlflowClient;

beforeAll(async () => {
  server = await mlflowServer();
  client = new MlflowClient(server.uri);
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

describe('MLflow REST client against a real MLflow server', () => {
  it('gets or creates an experiment idempotently, and reports a missing one as null', async () => {
    const name = `ratchet-test/${randomUUID()}`;
    expect(await client.getExperimentByName(name)).toBeNull();
    const a = await client.getOrCreateExperiment(name, [{ key: 'ratchet.project', value: 'p' }]);
    const b = await client.getOrCreateExperiment(name);
    expect(b).toBe(a);
    const e = await client.getExperimentByName(name);
    expect(e?.experiment_id).toBe(a);
    expect(e?.artifact_location).toMatch(/^mlflow-artifacts:/);
  });

  it('logs params, tags and metrics past the per-request limits, with NaN, @ keys and long values', async () => {
    const exp = await client.getOrCreateExperiment(`ratchet-test/${randomUUID()}`);
    const info = await client.createRun(exp, 'batchy', Date.now(), [
      { key: 'ratchet.experiment', value: '1' },
    ]);
    expect(info.status).toBe('RUNNING');
    const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: String(i) }));
    params.push({ key: 'long', value: 'x'.repeat(7000) });
    const metrics = Array.from({ length: 1500 }, (_, i) => ({
      key: `m${i % 3}`,
      value: i / 7,
      timestamp: 1000 + i,
      step: i,
    }));
    metrics.push({ key: 'ndcg@10', value: 0.5, timestamp: 1, step: 0 });
    metrics.push({ key: 'broken', value: Number.NaN, timestamp: 1, step: 0 });
    const tags = [{ key: 'ratchet.hypothesis', value: 'h'.repeat(9000) }];
    const requests = await client.logBatch(info.run_id, { params, metrics, tags });
    expect(requests).toBeGreaterThanOrEqual(3); // 251 params need 3 requests of ≤ 100
    const run = await client.getRun(info.run_id);
    expect(run.data.params).toHaveLength(251);
    expect(run.data.params.find((p) => p.key === 'long')!.value.length).toBeLessThanOrEqual(
      LIMITS.paramValueChars,
    );
    expect(run.data.tags.find((t) => t.key === 'ratchet.hypothesis')!.value).toMatch(/\[truncated]$/);
    const latest = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
    expect(latest['ndcg_at_10']).toBe(0.5);
    expect(latest['broken']).toBe('NaN');
    expect(latest['m0']).toBeCloseTo(1497 / 7, 10);
    // The full history of a metric landed (500 values of m1).
    const hist = (await client.request(
      'GET',
      `/api/2.0/mlflow/metrics/get-history?run_id=${info.run_id}&metric_key=m1&max_results=10000`,
    )) as { metrics: unknown[] };
    expect(hist.metrics).toHaveLength(500);
    // Re-sending the same batch is harmless (params are immutable but equal; metrics deduplicate).
    await client.logBatch(info.run_id, { params: params.slice(0, 5), metrics: metrics.slice(0, 5) });
    await client.updateRun(info.run_id, 'FINISHED', Date.now());
    expect((await client.getRun(info.run_id)).info.status).toBe('FINISHED');
  });

  it('uploads artifacts through the proxy and lists and downloads them', async () => {
    const exp = await client.getOrCreateExperiment(`ratchet-test/${randomUUID()}`);
    const info = await client.createRun(exp, 'arty', Date.now());
    expect(client.artifactBase(info.artifact_uri)).toMatch(/^\/api\/2\.0\/mlflow-artifacts\/artifacts\//);
    await client.uploadArtifact(info.artifact_uri, 'patch.diff', 'diff --git a/x b/x\n+1\n', 'text/x-diff');
    await client.uploadArtifact(info.artifact_uri, 'logs/std out.log', Buffer.from('héllo\n'));
    const top = await client.listArtifacts(info.run_id);
    expect(top.map((f) => f.path).sort()).toEqual(['logs', 'patch.diff']);
    const logs = await client.listArtifacts(info.run_id, 'logs');
    expect(logs).toEqual([{ path: 'logs/std out.log', is_dir: false, file_size: 7 }]);
    expect(await client.downloadArtifact(info.artifact_uri, 'logs/std out.log')).toBe('héllo\n');
    await expect(client.uploadArtifact('file:///tmp/x', 'a.txt', 'x')).rejects.toMatchObject({
      code: 'ARTIFACTS_NOT_PROXIED',
    });
  });

  it('finds runs by tag (how a retry continues a run instead of duplicating it)', async () => {
    const exp = await client.getOrCreateExperiment(`ratchet-test/${randomUUID()}`);
    const a = await client.createRun(exp, 'a', Date.now(), [{ key: 'ratchet.experiment', value: '7' }]);
    await client.createRun(exp, 'b', Date.now(), [{ key: 'ratchet.experiment', value: '8' }]);
    const found = await client.searchRuns([exp], "tags.`ratchet.experiment` = '7'");
    expect(found.map((r) => r.info.run_id)).toEqual([a.run_id]);
  });

  it('turns server refusals and network failures into MlflowErrors that say whether to retry', async () => {
    const e1 = await client.getRun('no-such-run').catch((e) => e);
    expect(e1).toBeInstanceOf(MlflowError);
    expect(e1.code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(e1.status).toBe(404);
    expect(e1.retryable).toBe(false);
    const exp = await client.getOrCreateExperiment(`ratchet-test/${randomUUID()}`);
    const info = await client.createRun(exp, 'imm', Date.now());
    await client.logBatch(info.run_id, { params: [{ key: 'lr', value: '0.1' }] });
    const e2 = await client.logBatch(info.run_id, { params: [{ key: 'lr', value: '0.2' }] }).catch((e) => e);
    expect(e2.code).toBe('INVALID_PARAMETER_VALUE');
    expect(e2.retryable).toBe(false);
    const down = new MlflowClient(`http://127.0.0.1:${await freePort()}`, { timeoutMs: 2000 });
    const e3 = await down.getExperimentByName('x').catch((e) => e);
    expect(e3).toBeInstanceOf(MlflowError);
    expect(e3.status).toBe(0);
    expect(e3.retryable).toBe(true);
    expect(() => new MlflowClient('file:///tmp/mlruns')).toThrow(/not an http\(s\) URL/);
  });
});

describe('log-batch chunking and key rules (pure)', () => {
  it('respects 100 params+tags, 1000 metrics, 1000 entities and the byte budget per request', () => {
    const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
    const tags = Array.from({ length: 60 }, (_, i) => ({ key: `t${i}`, value: 'v' }));
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i }));
    const b = batches(params, tags, metrics);
    for (const x of b) {
      expect(x.params.length + x.tags.length).toBeLessThanOrEqual(100);
      expect(x.metrics.length).toBeLessThanOrEqual(1000);
      expect(x.params.length + x.tags.length + x.metrics.length).toBeLessThanOrEqual(1000);
      expect(Buffer.byteLength(JSON.stringify(x))).toBeLessThan(1_000_000);
    }
    expect(b.flatMap((x) => x.params)).toHaveLength(150);
    expect(b.flatMap((x) => x.tags)).toHaveLength(60);
    expect(b.flatMap((x) => x.metrics)).toHaveLength(2500);
    const big = Array.from({ length: 90 }, (_, i) => ({ key: `b${i}`, value: 'y'.repeat(5999) }));
    const bb = batches(big, [], []);
    for (const x of bb) expect(Buffer.byteLength(JSON.stringify(x))).toBeLessThan(1_000_000);
    // Duplicate param keys (after sanitising) keep the first value: MLflow refuses duplicates in one batch.
    expect(
      batches(
        [
          { key: 'a@1', value: '1' },
          { key: 'a_at_1', value: '2' },
        ],
        [],
        [],
      )[0]!.params,
    ).toEqual([{ key: 'a_at_1', value: '1' }]);
  });

  it('makes keys MLflow accepts', () => {
    expect(mlflowKey('ndcg@10')).toBe('ndcg_at_10');
    expect(mlflowKey('/abs/../x')).toBe('abs/./x');
    expect(mlflowKey('a+b=c')).toBe('a_b_c');
    expect(mlflowKey('k'.repeat(300))).toHaveLength(250);
  });
});

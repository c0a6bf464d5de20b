import { readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateContract } from '../src/contract/load.js';
import { lit, openDuck, readRows } from '../src/data/duck.js';
import { type SplitManifest, splitData } from '../src/data/ingest.js';
import { evaluateOutput } from '../src/evaluator/evaluate.js';
import { alignPredictions, checkPredictions } from '../src/evaluator/predictions.js';
import { VaultCache } from '../src/evaluator/vault.js';
import { computeMetric } from '../src/metrics/index.js';
import { mkdirp, tempDir } from './helpers/project.js';

interface Fixture {
  dir: string;
  manifest: SplitManifest;
  contract: ReturnType<typeof validateContract>;
  publicIds: string[];
  privateIds: string[];
  labels: Map<string, string>;
}

async function fixture(task: 'binary' | 'multiclass'): Promise<Fixture> {
  const dir = tempDir();
  const classes = task === 'binary' ? ['0', '1'] : ['red', 'green', 'blue'];
  const rows = Array.from(
    { length: 600 },
    (_, i) => `id${i},${(i * 13) % 17},${classes[(i * 7) % classes.length]}`,
  );
  writeFileSync(join(dir, 'data.csv'), `key,x,y\n${rows.join('\n')}\n`);
  const contract = validateContract(
    {
      version: 1,
      name: 'e',
      task,
      data: { source: 'data.csv', target: 'y', id: 'key' },
      split: { strategy: 'random', seed: 5 },
      metric:
        task === 'binary'
          ? { primary: 'auroc', also: ['log_loss', 'accuracy'] }
          : { primary: 'accuracy', also: ['log_loss'] },
      surface: ['train.py'],
      run: { command: 'true' },
    },
    dir,
  );
  const manifest = await splitData(contract);
  const ids = (f: string) =>
    readFileSync(join(dir, '.ratchet/data', f), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]!);
  const labels = new Map<string, string>();
  const duck = await openDuck();
  for (const h of ['public', 'private']) {
    for (const r of await readRows(
      duck.con,
      `SELECT * FROM read_parquet(${lit(join(dir, `.ratchet/vault/${h}.parquet`))})`,
    )) {
      labels.set(String(r['id']), String(r['label']));
    }
  }
  duck.close();
  return { dir, manifest, contract, publicIds: ids('public.csv'), privateIds: ids('private.csv'), labels };
}

const score = (id: string) => ((Number(id.slice(2)) * 2654435761) % 1000) / 1000;

describe('binary predictions', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture('binary');
  });
  const write = (name: string, lines: string[], header = 'key,prediction') => {
    const out = mkdirp(join(f.dir, 'out', name));
    writeFileSync(join(out, 'public.csv'), `${header}\n${lines.join('\n')}\n`);
    writeFileSync(
      join(out, 'private.csv'),
      `key,prediction\n${f.privateIds.map((id) => `${id},${score(id)}`).join('\n')}\n`,
    );
    return out;
  };
  const align = (out: string) =>
    alignPredictions({
      predictionsPath: join(out, 'public.csv'),
      labelsPath: join(f.dir, '.ratchet/vault/public.parquet'),
      manifest: f.manifest,
    });

  it('aligns rows by id whatever their order, and scores them', async () => {
    const lines = [...f.publicIds].reverse().map((id) => `${id},${score(id)}`);
    const out = write('ok', lines);
    const a = await align(out);
    expect(a.ok).toBe(true);
    if (!a.ok || a.input.task !== 'binary') return;
    const y = Uint8Array.from(f.publicIds, (id) => (f.labels.get(id) === '1' ? 1 : 0));
    const p = Float64Array.from(f.publicIds, score);
    // vault order is the public file's order
    expect(Array.from(a.input.y)).toEqual(Array.from(y));
    expect(Array.from(a.input.p)).toEqual(Array.from(p));
    const ev = await evaluateOutput(f.contract, f.manifest, out);
    expect(ev.status).toBe('ok');
    if (ev.status === 'ok') expect(ev.score).toBe(computeMetric('auroc', { task: 'binary', y, p }));
  });

  it('aligns files in vault order (positional path) and in any other order (hash join) the same way', async () => {
    const y = Uint8Array.from(f.publicIds, (id) => (f.labels.get(id) === '1' ? 1 : 0));
    const p = Float64Array.from(f.publicIds, score);
    const inOrder = f.publicIds.map((id) => `${id},${score(id)}`);
    // Vault order, with two neighbours swapped (the positional pairing fails there; the hash join places them).
    const swapped = [...inOrder];
    [swapped[5], swapped[6]] = [swapped[6]!, swapped[5]!];
    const vault = new VaultCache();
    const duck = await openDuck();
    try {
      for (const [name, lines] of [
        ['in order', inOrder],
        ['swapped', swapped],
        ['reversed', [...inOrder].reverse()],
      ] as const) {
        for (const cache of [undefined, vault]) {
          const a = await alignPredictions({
            predictionsPath: join(write(`order-${name}`, [...lines]), 'public.csv'),
            labelsPath: join(f.dir, '.ratchet/vault/public.parquet'),
            manifest: f.manifest,
            con: duck.con,
            ...(cache ? { vault: cache } : {}),
          });
          expect(a.ok, name).toBe(true);
          if (!a.ok || a.input.task !== 'binary') return;
          expect(Array.from(a.input.y), name).toEqual(Array.from(y));
          expect(Array.from(a.input.p), name).toEqual(Array.from(p));
        }
      }
      // In vault order, an id replaced by its neighbour's (one repeated, one missing) is still refused.
      const repeated = inOrder.map((l, i) => (i === 7 ? inOrder[6]! : l));
      const a = await alignPredictions({
        predictionsPath: join(write('repeated', repeated), 'public.csv'),
        labelsPath: join(f.dir, '.ratchet/vault/public.parquet'),
        manifest: f.manifest,
        con: duck.con,
        vault,
      });
      expect(a).toEqual({ ok: false, reason: expect.stringMatching(/repeats ids/) });
    } finally {
      duck.close();
    }
  });

  it("the run's label cache serves unchanged vault files and re-reads a changed one", async () => {
    const dir = tempDir();
    const vaultDir = mkdirp(join(dir, '.ratchet/vault'));
    const duck = await openDuck();
    const copyVault = async (flip: boolean) => {
      for (const h of ['public', 'private']) {
        const src = join(f.dir, `.ratchet/vault/${h}.parquet`);
        const label = flip ? `CASE WHEN label = '1' THEN '0' ELSE '1' END AS label` : 'label';
        await duck.con.run(
          `COPY (SELECT id, ${label} FROM read_parquet(${lit(src)})) TO ${lit(join(vaultDir, `${h}.parquet.tmp`))} (FORMAT parquet)`,
        );
        renameSync(join(vaultDir, `${h}.parquet.tmp`), join(vaultDir, `${h}.parquet`));
      }
    };
    try {
      await copyVault(false);
      const contract = { ...f.contract, projectDir: dir };
      const out = write(
        'cached',
        f.publicIds.map((id) => `${id},${score(id)}`),
      );
      const y = Uint8Array.from(f.publicIds, (id) => (f.labels.get(id) === '1' ? 1 : 0));
      const p = Float64Array.from(f.publicIds, score);
      const vault = new VaultCache();
      const first = await evaluateOutput(contract, f.manifest, out, duck, undefined, { vault });
      const second = await evaluateOutput(contract, f.manifest, out, duck, undefined, { vault });
      expect(vault.reads).toBe(1); // the public labels, once (the private file is only validated)
      if (first.status !== 'ok' || second.status !== 'ok') throw new Error('not scored');
      expect(first.score).toBe(computeMetric('auroc', { task: 'binary', y, p }));
      expect(second.score).toBe(first.score);
      // The same label array twice (DeLong's per-array cache of the best model keeps hitting).
      expect(second.input!.task === 'binary' && first.input!.task === 'binary').toBe(true);
      if (second.input!.task === 'binary' && first.input!.task === 'binary')
        expect(second.input!.y).toBe(first.input!.y);
      // A new vault (labels flipped): read again, never scored with the stale labels.
      await copyVault(true);
      const third = await evaluateOutput(contract, f.manifest, out, duck, undefined, { vault });
      expect(vault.reads).toBe(2);
      if (third.status !== 'ok') throw new Error('not scored');
      const flipped = Uint8Array.from(y, (v) => 1 - v);
      expect(third.score).toBe(computeMetric('auroc', { task: 'binary', y: flipped, p }));
      expect(third.score).not.toBe(first.score);
    } finally {
      duck.close();
    }
  });

  it('a missing file is invalid', async () => {
    const out = mkdirp(join(f.dir, 'out', 'empty'));
    expect(await align(out)).toEqual({
      ok: false,
      reason: expect.stringMatching(/public.csv was not written/),
    });
    writeFileSync(join(out, 'public.csv'), '');
    expect(await align(out)).toEqual({ ok: false, reason: expect.stringMatching(/public.csv is empty/) });
  });

  it('rejects every malformed file with the reason', async () => {
    const good = f.publicIds.map((id) => `${id},${score(id)}`);
    const cases: [string, string[], RegExp, string?][] = [
      ['header', good, /must have the columns key,prediction; it has key,score/, 'key,score'],
      ['nan', good.map((l, i) => (i === 3 ? `${l.split(',')[0]},NaN` : l)), /NaN or infinite/],
      ['inf', good.map((l, i) => (i === 3 ? `${l.split(',')[0]},inf` : l)), /NaN or infinite/],
      ['text', good.map((l, i) => (i === 3 ? `${l.split(',')[0]},high` : l)), /not numbers \(e.g. "high"\)/],
      ['range', good.map((l, i) => (i === 3 ? `${l.split(',')[0]},1.5` : l)), /in \[0, 1\]/],
      ['short', good.slice(1), /has 119 rows for 120 holdout ids; missing ids e.g. "id/],
      ['dup', [...good, good[0]!], /repeats ids/],
      ['wrong ids', good.map((l) => `x${l}`), /missing ids e.g.[\s\S]*ids not in the holdout e.g. "xid/],
      ['private ids', f.privateIds.map((id) => `${id},0.5`), /ids not in the holdout/],
    ];
    const check = (out: string) =>
      checkPredictions({
        predictionsPath: join(out, 'public.csv'),
        labelsPath: join(f.dir, '.ratchet/vault/public.parquet'),
        manifest: f.manifest,
      });
    for (const [name, lines, re, header] of cases) {
      const a = await align(write(name, lines, header));
      expect(a, name).toEqual({ ok: false, reason: expect.stringMatching(re) });
      // Validation without alignment (the private file's) refuses the same files for the same reasons.
      expect(await check(write(name, lines, header)), name).toEqual({
        ok: false,
        reason: expect.stringMatching(re),
      });
    }
    expect(await check(write('good', good))).toEqual({ ok: true, rows: good.length });
    expect(await check(write('good reversed', [...good].reverse()))).toEqual({ ok: true, rows: good.length });
  });

  it('never follows a symlink out of the output folder', async () => {
    const out = mkdirp(join(f.dir, 'out', 'link'));
    symlinkSync(join(f.dir, '.ratchet/vault/public.parquet'), join(out, 'public.csv'));
    expect(await align(out)).toEqual({ ok: false, reason: expect.stringMatching(/symlink/) });
  });

  it('an invalid private file makes the experiment invalid too', async () => {
    const out = write(
      'badpriv',
      f.publicIds.map((id) => `${id},${score(id)}`),
    );
    writeFileSync(join(out, 'private.csv'), 'key,prediction\n');
    const ev = await evaluateOutput(f.contract, f.manifest, out);
    expect(ev).toEqual({ status: 'invalid', reason: expect.stringMatching(/private.csv/) });
  });
});

describe('multiclass predictions', () => {
  it('maps labels to classes, checks probabilities, and rejects unknown classes', async () => {
    const f = await fixture('multiclass');
    expect(f.manifest.classes).toEqual(['blue', 'green', 'red']);
    const out = mkdirp(join(f.dir, 'out'));
    const line = (id: string, label: string, pr: number[]) => `${id},${label},${pr.join(',')}`;
    const header = 'key,prediction,proba_blue,proba_green,proba_red';
    const good = f.publicIds.map((id) =>
      line(id, f.labels.get(id)!, f.labels.get(id) === 'red' ? [0.1, 0.1, 0.8] : [0.4, 0.3, 0.3]),
    );
    writeFileSync(join(out, 'public.csv'), `${header}\n${good.join('\n')}\n`);
    writeFileSync(
      join(out, 'private.csv'),
      `key,prediction\n${f.privateIds.map((id) => `${id},red`).join('\n')}\n`,
    );
    const ev = await evaluateOutput(f.contract, f.manifest, out);
    expect(ev.status).toBe('ok');
    if (ev.status === 'ok') expect(ev.metrics['accuracy']).toBe(1);
    const bad = (lines: string[], h = header) => {
      writeFileSync(join(out, 'public.csv'), `${h}\n${lines.join('\n')}\n`);
      return alignPredictions({
        predictionsPath: join(out, 'public.csv'),
        labelsPath: join(f.dir, '.ratchet/vault/public.parquet'),
        manifest: f.manifest,
      });
    };
    expect(
      await bad(good.map((l, i) => (i === 0 ? l.replace(/,(red|green|blue),/, ',purple,') : l))),
    ).toEqual({
      ok: false,
      reason: expect.stringMatching(/not classes of the target \(e.g. "purple"\)/),
    });
    expect(
      await bad(
        good.map((l) => l.split(',').slice(0, 4).join(',')),
        'key,prediction,proba_blue,proba_green',
      ),
    ).toEqual({
      ok: false,
      reason: expect.stringMatching(/missing proba_red/),
    });
    expect(await bad(good.map((l) => l.replace(/0\.8$/, '0.5')))).toEqual({
      ok: false,
      reason: expect.stringMatching(/sum to 1/),
    });
  });
});

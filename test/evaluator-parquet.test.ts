import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateContract } from '../src/contract/load.js';
import { lit, openDuck } from '../src/data/duck.js';
import { type SplitManifest, splitData } from '../src/data/ingest.js';
import { evaluateOutput } from '../src/evaluator/evaluate.js';
import { mkdirp, tempDir } from './helpers/project.js';

/** Predictions in Parquet: scored exactly like the same CSV, and every guard of the CSV path holds. */

let dir: string;
let manifest: SplitManifest;
let contract: ReturnType<typeof validateContract>;
let publicIds: string[];
let privateIds: string[];

const score = (id: string) => ((Number(id.slice(2)) * 2654435761) % 1000) / 1000;

beforeAll(async () => {
  dir = tempDir();
  const rows = Array.from({ length: 600 }, (_, i) => `id${i},${(i * 13) % 17},${(i * 7) % 2}`);
  writeFileSync(join(dir, 'data.csv'), `key,x,y\n${rows.join('\n')}\n`);
  contract = validateContract(
    {
      version: 1,
      name: 'e',
      task: 'binary',
      data: { source: 'data.csv', target: 'y', id: 'key' },
      split: { strategy: 'random', seed: 5 },
      metric: { primary: 'auroc', also: ['log_loss', 'accuracy'] },
      surface: ['train.py'],
      run: { command: 'true' },
    },
    dir,
  );
  manifest = await splitData(contract);
  const ids = (f: string) =>
    readFileSync(join(dir, '.ratchet/data', f), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]!);
  publicIds = ids('public.csv');
  privateIds = ids('private.csv');
});

/** Write `lines` (`id,value` text) as CSV, then convert it with DuckDB to Parquet using `select`. */
async function parquet(path: string, lines: string[], select = 'key, prediction::DOUBLE AS prediction') {
  const csv = `${path}.src.csv`;
  writeFileSync(csv, `key,prediction\n${lines.join('\n')}\n`);
  const duck = await openDuck();
  try {
    await duck.con.run(
      `COPY (SELECT ${select} FROM read_csv(${lit(csv)}, header = true, all_varchar = true)) TO ${lit(path)} (FORMAT parquet)`,
    );
  } finally {
    duck.close();
  }
}

const good = () => publicIds.map((id) => `${id},${score(id)}`);
const goodPrivate = () => privateIds.map((id) => `${id},${score(id)}`);

/** An output folder with public.parquet from `lines` and a valid private.parquet. */
async function out(name: string, lines: string[], select?: string): Promise<string> {
  const o = mkdirp(join(dir, 'out', name));
  await parquet(join(o, 'public.parquet'), lines, select);
  await parquet(join(o, 'private.parquet'), goodPrivate());
  return o;
}

describe('Parquet predictions', () => {
  it('are scored identically to the same predictions in CSV', async () => {
    const pq = await out('pq', good());
    const csv = mkdirp(join(dir, 'out', 'csv'));
    writeFileSync(join(csv, 'public.csv'), `key,prediction\n${good().join('\n')}\n`);
    writeFileSync(join(csv, 'private.csv'), `key,prediction\n${goodPrivate().join('\n')}\n`);
    const a = await evaluateOutput(contract, manifest, pq);
    const b = await evaluateOutput(contract, manifest, csv);
    expect(a.status).toBe('ok');
    expect(b.status).toBe('ok');
    if (a.status !== 'ok' || b.status !== 'ok') return;
    expect(a.metrics).toEqual(b.metrics);
    expect(Number.isFinite(a.score)).toBe(true);
    expect(Array.from((a.input as { p: Float64Array }).p)).toEqual(
      Array.from((b.input as { p: Float64Array }).p),
    );
  });

  it('aligns by id whatever the order: a reversed file, or two rows swapped, scores as the vault-ordered one', async () => {
    const base = await evaluateOutput(contract, manifest, await out('ordered', good()));
    const swapped = good();
    [swapped[0], swapped[5]] = [swapped[5]!, swapped[0]!];
    for (const [name, lines] of [
      ['reversed', [...good()].reverse()],
      ['swapped', swapped],
    ] as const) {
      const ev = await evaluateOutput(contract, manifest, await out(name, [...lines]));
      expect(ev.status, name).toBe('ok');
      if (ev.status !== 'ok' || base.status !== 'ok') return;
      expect(ev.metrics, name).toEqual(base.metrics);
      expect(Array.from((ev.input as { p: Float64Array }).p), name).toEqual(
        Array.from((base.input as { p: Float64Array }).p),
      );
    }
  });

  it('checks the private file by id as strictly: an unknown id, a repeat or a bad value there is refused', async () => {
    for (const [name, lines, re] of [
      [
        'private unknown',
        [...goodPrivate().slice(1), 'id99999,0.5'],
        /private\.parquet.*ids not in the holdout/,
      ],
      ['private dup', [...goodPrivate().slice(1), goodPrivate()[1]!], /private\.parquet.*repeats ids/],
      [
        'private range',
        goodPrivate().map((l, i) => (i === 2 ? `${l.split(',')[0]},2` : l)),
        /private\.parquet.*in \[0, 1\]/,
      ],
      ['private reversed', [...goodPrivate()].reverse(), null],
    ] as const) {
      const o = mkdirp(join(dir, 'out', name));
      await parquet(join(o, 'public.parquet'), good());
      await parquet(join(o, 'private.parquet'), [...lines]);
      const ev = await evaluateOutput(contract, manifest, o);
      if (re === null) expect(ev.status, name).toBe('ok');
      else expect(ev, name).toEqual({ status: 'invalid', reason: expect.stringMatching(re) });
    }
  });

  it('accepts a float32 prediction column', async () => {
    const o = await out('float32', good(), 'key, prediction::FLOAT AS prediction');
    const ev = await evaluateOutput(contract, manifest, o);
    expect(ev.status).toBe('ok');
  });

  it('refuses every malformed Parquet file with the reason', async () => {
    const cases: [string, string[], RegExp, string?][] = [
      [
        'text type',
        good(),
        /column prediction has type VARCHAR; write it as a float64 column/,
        'key, prediction',
      ],
      [
        'no prediction',
        good(),
        /must have the columns key,prediction; it has key,score/,
        'key, prediction AS score',
      ],
      ['nan', good().map((l, i) => (i === 3 ? `${l.split(',')[0]},NaN` : l)), /NaN or infinite/],
      ['null', good().map((l, i) => (i === 3 ? `${l.split(',')[0]},` : l)), /prediction is null for ids/],
      ['range', good().map((l, i) => (i === 3 ? `${l.split(',')[0]},1.5` : l)), /in \[0, 1\]/],
      ['missing id', good().slice(1), /rows for 120 holdout ids; missing ids e.g. "id/],
      ['extra id', [...good(), 'id99999,0.5'], /ids not in the holdout e.g. "id99999"/],
      ['dup', [...good(), good()[0]!], /repeats ids/],
    ];
    for (const [name, lines, re, select] of cases) {
      const ev = await evaluateOutput(contract, manifest, await out(name, lines, select));
      expect(ev, name).toEqual({ status: 'invalid', reason: expect.stringMatching(re) });
    }
  });

  it('refuses a Parquet file that is a symlink, or is not Parquet at all', async () => {
    const link = mkdirp(join(dir, 'out', 'link'));
    await parquet(join(dir, 'out', 'elsewhere.parquet'), good());
    symlinkSync(join(dir, 'out', 'elsewhere.parquet'), join(link, 'public.parquet'));
    await parquet(join(link, 'private.parquet'), goodPrivate());
    expect(await evaluateOutput(contract, manifest, link)).toEqual({
      status: 'invalid',
      reason: expect.stringMatching(/public.parquet is a symlink/),
    });
    const junk = mkdirp(join(dir, 'out', 'junk'));
    writeFileSync(join(junk, 'public.parquet'), 'key,prediction\nid1,0.5\n');
    await parquet(join(junk, 'private.parquet'), goodPrivate());
    expect(await evaluateOutput(contract, manifest, junk)).toEqual({
      status: 'invalid',
      reason: expect.stringMatching(/public.parquet is not a readable Parquet file/),
    });
  });

  it('refuses an output folder with both public.csv and public.parquet', async () => {
    const o = await out('both', good());
    writeFileSync(join(o, 'public.csv'), `key,prediction\n${good().join('\n')}\n`);
    expect(await evaluateOutput(contract, manifest, o)).toEqual({
      status: 'invalid',
      reason: expect.stringMatching(
        /both public.parquet and public.csv were written to the output folder; write only one/,
      ),
    });
  });
});

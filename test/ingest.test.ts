import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateContract } from '../src/contract/load.js';
import { lit, openDuck, readRows } from '../src/data/duck.js';
import { splitData } from '../src/data/ingest.js';
import { tempDir } from './helpers/project.js';

/** A small contract for a generated dataset. */
function contractFor(dir: string, over: Record<string, any> = {}) {
  const doc = {
    version: 1,
    name: 't',
    task: 'binary',
    data: { source: 'data.csv', target: 'y', id: 'id' },
    split: { strategy: 'stratified', seed: 1 },
    metric: { primary: 'auroc' },
    surface: ['train.py'],
    run: { command: 'python train.py' },
    ...over,
  };
  return validateContract(doc, dir);
}

function writeCsv(dir: string, rows: string[], header = 'id,x,cat,y'): void {
  writeFileSync(join(dir, 'data.csv'), `${header}\n${rows.join('\n')}\n`);
}

const binaryRows = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => `${1000 + i},${(i * 37) % 101},${['a', 'b', 'c'][i % 3]},${i % 4 === 0 ? 'yes' : 'no'}`,
  );

describe('splitData', () => {
  it('writes train with the target, holdouts without it, and labels only in the vault', async () => {
    const dir = tempDir();
    writeCsv(dir, binaryRows(1000));
    const m = await splitData(contractFor(dir));
    expect(m.counts).toEqual({ train: 600, public: 200, private: 200 });
    expect(m.classes).toEqual(['no', 'yes']);
    expect(m.positiveClass).toBe('yes');
    expect(m.balance.public).toBeCloseTo(0.25, 2);
    const train = readFileSync(join(dir, '.ratchet/data/train.csv'), 'utf8').split('\n');
    const pub = readFileSync(join(dir, '.ratchet/data/public.csv'), 'utf8').split('\n');
    expect(train[0]).toBe('id,x,cat,y');
    expect(pub[0]).toBe('id,x,cat');
    expect(pub.filter(Boolean)).toHaveLength(201);
    const duck = await openDuck();
    try {
      const vault = await readRows(
        duck.con,
        `SELECT * FROM read_parquet(${lit(join(dir, '.ratchet/vault/public.parquet'))})`,
      );
      expect(vault).toHaveLength(200);
      expect(Object.keys(vault[0]!)).toEqual(['id', 'label']);
      const pubIds = new Set(
        pub
          .slice(1)
          .filter(Boolean)
          .map((l) => l.split(',')[0]),
      );
      expect(vault.every((r) => pubIds.has(String(r['id'])))).toBe(true);
      const trainIds = new Set(
        train
          .slice(1)
          .filter(Boolean)
          .map((l) => l.split(',')[0]),
      );
      expect(vault.some((r) => trainIds.has(String(r['id'])))).toBe(false);
    } finally {
      duck.close();
    }
    const again = await splitData(contractFor(dir));
    expect(again).toEqual(m);
  });

  it('reads Parquet, numbers rows when there is no id, and drops empty targets', async () => {
    const dir = tempDir();
    writeCsv(dir, [...binaryRows(300), '9999,5,a,'], 'id,x,cat,y');
    const duck = await openDuck();
    await duck.con.run(
      `COPY (SELECT x, cat, y FROM read_csv(${lit(join(dir, 'data.csv'))})) TO ${lit(join(dir, 'data.parquet'))} (FORMAT parquet)`,
    );
    duck.close();
    const c = contractFor(dir, {
      data: { source: 'data.parquet', target: 'y' },
      split: { strategy: 'random', seed: 2 },
    });
    const m = await splitData(c);
    expect(m.generatedId).toBe(true);
    expect(m.idColumn).toBe('row_id');
    expect(m.droppedNullTarget).toBe(1);
    expect(m.counts.train + m.counts.public + m.counts.private).toBe(300);
    expect(readFileSync(join(dir, '.ratchet/data/public.csv'), 'utf8').split('\n')[0]).toBe('row_id,x,cat');
  });

  it('gives clear errors for bad data, and writes nothing', async () => {
    const dir = tempDir();
    writeCsv(dir, binaryRows(50));
    await expect(
      splitData(contractFor(dir, { data: { source: 'data.csv', target: 'label', id: 'id' } })),
    ).rejects.toMatchObject({
      field: 'data.target',
      message: expect.stringMatching(/column "label" is not in data.csv/),
      hint: expect.stringMatching(/id, x, cat, y/),
    });
    await expect(
      splitData(contractFor(dir, { data: { source: 'nope.csv', target: 'y' } })),
    ).rejects.toMatchObject({ field: 'data.source' });
    writeCsv(dir, []);
    await expect(splitData(contractFor(dir))).rejects.toMatchObject({ message: 'the data has no rows' });
    writeCsv(dir, ['1,1,a,yes', '1,2,b,no', '2,3,c,no', '3,3,c,yes']);
    await expect(splitData(contractFor(dir))).rejects.toMatchObject({
      field: 'data.id',
      message: expect.stringMatching(/not unique \(e.g. 1 ×2\)/),
    });
    writeCsv(dir, ['1,1,a,yes', '2,2,b,no', '3,3,c,maybe']);
    await expect(splitData(contractFor(dir))).rejects.toMatchObject({
      field: 'task',
      hint: expect.stringMatching(/multiclass/),
    });
    writeCsv(dir, ['1,1,a,yes', '2,2,b,no']);
    await expect(
      splitData(
        contractFor(dir, { data: { source: 'data.csv', target: 'y', id: 'id', positive_class: 'ja' } }),
      ),
    ).rejects.toMatchObject({
      field: 'data.positive_class',
    });
    await expect(
      splitData(
        contractFor(dir, {
          task: 'regression',
          metric: { primary: 'rmse' },
          split: { strategy: 'random', seed: 1 },
        }),
      ),
    ).rejects.toMatchObject({
      field: 'task',
    });
    expect(existsSync(join(dir, '.ratchet/data/train.csv'))).toBe(false);
    expect(existsSync(join(dir, '.ratchet/vault'))).toBe(false);
  });

  it('temporal split: holdouts are the latest rows', async () => {
    const dir = tempDir();
    const rows = Array.from(
      { length: 500 },
      (_, i) => `${i},${i % 7},2024-01-${String((i % 28) + 1).padStart(2, '0')},${i % 3 === 0 ? 1 : 0}`,
    );
    writeCsv(dir, rows, 'id,x,day,y');
    const m = await splitData(
      contractFor(dir, {
        data: { source: 'data.csv', target: 'y', id: 'id', time: 'day' },
        split: { strategy: 'temporal', seed: 1 },
      }),
    );
    const days = (f: string) =>
      readFileSync(join(dir, '.ratchet/data', f), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[2]!);
    const maxTrain = days('train.csv').sort().at(-1)!;
    const minPublic = days('public.csv').sort()[0]!;
    expect(maxTrain <= minPublic).toBe(true);
    expect(m.strategy).toBe('temporal');
  });
});

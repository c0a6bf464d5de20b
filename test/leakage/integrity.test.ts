import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lit } from '../../src/data/duck.js';
import { type LeakFinding, type ScanInput, scanSplits } from '../../src/data/leakage.js';
import { tempDir } from '../helpers/project.js';
import { derive, duckRun, GSOEP, GSOEP_SPEC, keys, show, split, writeSklearnData } from './helpers.js';

const one = (f: LeakFinding[], guardrail: string, column: string | null) =>
  f.find((x) => x.guardrail === guardrail && x.column === column)!;

describe('id-like columns', () => {
  it('flags a uuid, a shuffled unique number and row counters in GSOEP, nothing else', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      GSOEP,
      csv,
      `* EXCLUDE (__row),
       (SELECT m[1:8] || '-' || m[9:12] || '-' || m[13:16] || '-' || m[17:20] || '-' || m[21:32] FROM (SELECT md5(__row::VARCHAR) AS m)) AS record_uuid,
       (hash(__row) % 1000000000000)::BIGINT AS record_no,
       __row + 1000 AS seq,
       1.7e9 + __row * 0.25 AS loaded_at`,
    );
    const { input } = await split(csv, GSOEP_SPEC);
    const f = await scanSplits(input);
    show('gsoep + id-like plants', f);
    expect(keys(f)).toEqual([
      'id-like:loaded_at:warn',
      'id-like:record_no:warn',
      'id-like:record_uuid:warn',
      'id-like:seq:warn',
    ]);
    expect(one(f, 'id-like', 'record_uuid').message).toMatch(
      /looks like an id: 19,609 distinct values in 19,609 rows/,
    );
    expect(one(f, 'id-like', 'record_no').evidence['kind']).toBe('unique');
    expect(one(f, 'id-like', 'seq').message).toMatch(
      /row counter: it rises between 100\.0% of consecutive train rows/,
    );
    expect(one(f, 'id-like', 'loaded_at').evidence['kind']).toBe('counter');
  });

  it('flags a patient code in breast cancer (rows numbered by Ratchet, which is not flagged)', async () => {
    const sk = tempDir('ratchet-sk-');
    writeSklearnData(sk);
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      join(sk, 'breast_cancer.csv'),
      csv,
      `* EXCLUDE (__row), 'P' || lpad(((__row * 7919) % 100003)::VARCHAR, 6, '0') AS patient_code`,
    );
    const { input } = await split(csv, {
      task: 'binary',
      target: 'diagnosis',
      positive_class: 'malignant',
      strategy: 'stratified',
    });
    expect(input.idColumn).toBe('row_id');
    const f = await scanSplits(input);
    show('breast_cancer + patient_code', f);
    expect(keys(f)).toEqual(['id-like:patient_code:warn']);
  });
});

/** Copy about `percent`% of each holdout's rows (with their vault labels) into train under new ids. */
async function copyHoldoutRowsIntoTrain(input: ScanInput, percent: number): Promise<void> {
  const id = input.idColumn;
  await duckRun(
    `CREATE TABLE t AS SELECT * FROM read_csv(${lit(input.train)}, header = true, all_varchar = true)`,
    `CREATE TABLE h AS
       SELECT p.*, v.label FROM read_csv(${lit(input.public)}, header = true, all_varchar = true) p
         JOIN read_parquet(${lit(input.publicLabels)}) v ON v.id = p.${id}
       UNION ALL
       SELECT p.*, v.label FROM read_csv(${lit(input.private)}, header = true, all_varchar = true) p
         JOIN read_parquet(${lit(input.privateLabels)}) v ON v.id = p.${id}`,
    `INSERT INTO t BY NAME SELECT * EXCLUDE (${id}, label), 'copy-' || ${id} AS ${id}, label AS ${input.target}
       FROM h WHERE hash(${id}) % 1000 < ${percent * 10}`,
    `COPY t TO ${lit(input.train)} (HEADER, DELIMITER ',')`,
  );
}

describe('rows duplicated across train and holdouts', () => {
  const spec = { task: 'binary', target: 'outwork', id: 'row_id', strategy: 'stratified' } as const;

  it('blocks when 10% of each holdout is copied into train with new ids', async () => {
    const { input } = await split(GSOEP, spec);
    await copyHoldoutRowsIntoTrain(input, 10);
    const f = await scanSplits(input);
    show('gsoep + 10% holdout rows copied into train', f);
    expect(keys(f)).toEqual(['duplicate-rows:-:block', 'duplicate-rows:-:block']);
    for (const d of f) {
      expect(d.evidence['trainRepeatShare']).toBe(0);
      expect(d.message).not.toMatch(/repeats/);
      const share = d.evidence['share'] as number;
      expect(share).toBeGreaterThan(0.08);
      expect(share).toBeLessThan(0.12);
      expect(d.message).toMatch(
        /^\d[\d,]* of [\d,]+ (public|private) holdout rows \(\d+\.\d%\) repeat a train row/,
      );
      expect((d.evidence['exampleIds'] as string[]).length).toBe(5);
    }
    expect(f.map((d) => d.evidence['split']).sort()).toEqual(['private', 'public']);
  });

  it('says when train repeats itself too (a small feature space): GSOEP with three columns', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(GSOEP, csv, 'row_id, female, married, kids, outwork');
    const { input } = await split(csv, spec);
    const f = await scanSplits(input);
    show('gsoep, three binary features', f);
    expect(keys(f)).toEqual(['duplicate-rows:-:block', 'duplicate-rows:-:block']);
    expect(f[0]!.message).toMatch(/train itself repeats 100\.0% of its rows/);
    expect(f[0]!.evidence['trainRepeatShare']).toBe(1);
  });

  it('warns when 2% is copied', async () => {
    const { input } = await split(GSOEP, spec);
    await copyHoldoutRowsIntoTrain(input, 2);
    const f = await scanSplits(input);
    show('gsoep + 2% holdout rows copied into train', f);
    expect(keys(f)).toEqual(['duplicate-rows:-:warn', 'duplicate-rows:-:warn']);
  });

  it('under the group contract, copied rows also put their persons in train', async () => {
    const { input } = await split(GSOEP, GSOEP_SPEC);
    await copyHoldoutRowsIntoTrain(input, 10);
    const f = await scanSplits(input);
    expect(keys(f)).toEqual(['duplicate-rows:-:block', 'duplicate-rows:-:block', 'group-overlap:id:block']);
  });
});

describe('reading the splits', () => {
  it('casts a holdout whose numeric column holds stray text, and finds nothing on the clean rest', async () => {
    const { input } = await split(GSOEP, GSOEP_SPEC);
    await duckRun(
      `CREATE TABLE p AS SELECT * FROM read_csv(${lit(input.public)}, header = true, all_varchar = true)`,
      `UPDATE p SET hhninc = 'n/a' WHERE row_id IN (SELECT row_id FROM p LIMIT 3)`,
      `COPY p TO ${lit(input.public)} (HEADER, DELIMITER ',')`,
    );
    expect(await scanSplits(input)).toEqual([]);
  });

  it('keeps a mostly numeric column numeric when its text appears after the sniffer sample (50,000 rows)', async () => {
    const dir = tempDir('ratchet-late-text-');
    const rows = 50_000;
    const f = (name: string) => join(dir, name);
    await duckRun(
      `CREATE TABLE d AS SELECT i::VARCHAR AS id, CASE WHEN i = 49000 THEN 'n/a' ELSE round((hash(i) % 1000000000) / 1000.0, 3)::VARCHAR END AS dose,
         ['a', 'b', 'c'][1 + (hash(i * 7) % 3)::INT] AS arm, ((hash(i * 13) % 100) < 30)::INT::VARCHAR AS y, hash(i * 3) % 10 AS s
       FROM range(${rows}) t(i)`,
      `COPY (SELECT id, dose, arm, y FROM d WHERE s < 6 ORDER BY id::INT) TO ${lit(f('train.csv'))} (HEADER)`,
      `COPY (SELECT id, dose, arm FROM d WHERE s IN (6, 7)) TO ${lit(f('public.csv'))} (HEADER)`,
      `COPY (SELECT id, dose, arm FROM d WHERE s >= 8) TO ${lit(f('private.csv'))} (HEADER)`,
      `COPY (SELECT id, y AS label FROM d WHERE s IN (6, 7)) TO ${lit(f('public.parquet'))} (FORMAT parquet)`,
      `COPY (SELECT id, y AS label FROM d WHERE s >= 8) TO ${lit(f('private.parquet'))} (FORMAT parquet)`,
    );
    const stats = new Set<string>();
    const found = await scanSplits(
      {
        train: f('train.csv'),
        public: f('public.csv'),
        private: f('private.csv'),
        publicLabels: f('public.parquet'),
        privateLabels: f('private.parquet'),
        idColumn: 'id',
        target: 'y',
        task: 'binary',
        positiveClass: '1',
        strategy: 'random',
      },
      { onStatistic: (column, test) => stats.add(`${column}:${test}`) },
    );
    expect(found).toEqual([]);
    expect(stats.has('dose:auroc')).toBe(true); // still numeric despite the stray "n/a"
  });

  it('keeps a mostly numeric column numeric when the sniffer sample sees its text', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      GSOEP,
      csv,
      `* EXCLUDE (__row) REPLACE (CASE WHEN __row % 500 = 7 THEN '?' ELSE hhninc END AS hhninc)`,
    );
    const { input } = await split(csv, GSOEP_SPEC);
    const stats = new Set<string>();
    expect(
      await scanSplits(input, { onStatistic: (column, test) => stats.add(`${column}:${test}`) }),
    ).toEqual([]);
    expect(stats.has('hhninc:auroc')).toBe(true);
  });

  it('names the missing column when the splits do not match the contract', async () => {
    const { input } = await split(GSOEP, GSOEP_SPEC);
    await expect(scanSplits({ ...input, target: 'nope' })).rejects.toThrow(/no target column "nope"/);
    await expect(scanSplits({ ...input, time: 'when' })).rejects.toThrow(/no time column "when"/);
  });
});

describe('temporal ordering and group overlap', () => {
  let sk: string;
  beforeAll(() => {
    sk = tempDir('ratchet-sk-');
    writeSklearnData(sk);
  });

  it('a random split of the GSOEP panel: train years after holdout years, persons in every split', async () => {
    const { input } = await split(GSOEP, { ...GSOEP_SPEC, strategy: 'random' });
    const f = await scanSplits(input);
    show('gsoep random split', f);
    expect(keys(f)).toEqual(['group-overlap:id:block', 'temporal-ordering:year:block']);
    const t = one(f, 'temporal-ordering', 'year');
    expect(t.message).toMatch(
      /train rows \(\d+\.\d%\) are later by "year" than the earliest holdout row \(1984\) under the random split/,
    );
    expect(t.evidence['latestTrain']).toBe('1988');
    const g = one(f, 'group-overlap', 'id');
    expect(g.evidence['sharedGroups']).toBeGreaterThan(1000);
    expect(g.message).toMatch(/holdout groups of "id" \(\d+\.\d%\) also have train rows/);
  });

  it('a stratified split with only a time column: temporal ordering alone', async () => {
    const { input } = await split(GSOEP, {
      task: 'binary',
      target: 'outwork',
      id: 'row_id',
      time: 'year',
      strategy: 'stratified',
    });
    const f = await scanSplits(input);
    expect(keys(f)).toEqual(['temporal-ordering:year:block']);
  });

  it('a random split with only a group column: group overlap alone', async () => {
    const { input } = await split(GSOEP, {
      task: 'binary',
      target: 'outwork',
      id: 'row_id',
      group: 'id',
      strategy: 'random',
    });
    const f = await scanSplits(input);
    expect(keys(f)).toEqual(['group-overlap:id:block']);
  });

  it('dates as text: a random split of diabetes with a visit date is flagged, a temporal split is not', async () => {
    const csv = join(tempDir('ratchet-plant-'), 'data.csv');
    await derive(
      join(sk, 'diabetes.csv'),
      csv,
      `* EXCLUDE (__row), strftime(DATE '2020-01-01' + INTERVAL (__row // 3) DAY, '%Y-%m-%d') AS visit_date`,
    );
    const spec = { task: 'regression', target: 'progression', time: 'visit_date' } as const;
    const random = await scanSplits((await split(csv, { ...spec, strategy: 'random' })).input);
    show('diabetes + visit_date, random split', random);
    expect(keys(random)).toEqual(['temporal-ordering:visit_date:block']);
    const temporal = await scanSplits((await split(csv, { ...spec, strategy: 'temporal' })).input);
    expect(temporal).toEqual([]);
  });
});

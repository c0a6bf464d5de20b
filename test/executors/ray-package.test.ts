import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { openDuck, readRows } from '../../src/data/duck.js';
import { ChannelError, JobLog, unpackOutput } from '../../src/executors/channel.js';
import { buildJobPackage, PLACEHOLDERS, trackedFiles } from '../../src/executors/package.js';
import { executeSpec } from '../../src/loop/execute.js';
import { preflight } from '../../src/loop/preflight.js';
import { sha256 } from '../../src/util/fs.js';
import { gitOut, makeProject, tempDir } from '../helpers/project.js';

/**
 * The Ray executor's job package and output channel (src/executors/package.ts, channel.ts), without a cluster:
 * what ships for a real project, and what the orchestrator accepts back from a job's log.
 */

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under `dir` (relative paths). */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, r));
    else out.push(r);
  }
  return out;
}

describe('the Ray job package', () => {
  it('ships the tracked tree, the feature files and the entry script; never a vault file, the raw data or a holdout label', async () => {
    const dir = await makeProject({ rows: 1500 });
    // An untracked file in the tree and a file in the vault's folder: neither may ship.
    writeFileSync(join(dir, 'notes.txt'), 'untracked\n');
    const ready = await preflight(dir, { unsafe: false });
    const out = tempDir();
    const spec = await executeSpec({
      contract: ready.contract,
      worktree: dir,
      runDir: out,
      outputDir: out,
      python: ready.python,
      timeoutMs: 60_000,
      seed: 1,
      experimentId: 1,
      unsafeNoSandbox: false,
      threads: 1,
    });
    const pkg = buildJobPackage({ spec, projectDir: dir, files: await trackedFiles(dir) });
    expect(pkg.name).toBe(`_ray_pkg_${sha256(pkg.zip)}.zip`);
    // Two packages: the tree (working_dir, new for every change) and the data (py_modules, once per split).
    const treeFiles = unzipSync(pkg.zip);
    expect(Object.keys(treeFiles).sort()).toEqual(pkg.entries);
    expect(pkg.data!.name).toBe(`_ray_pkg_${sha256(pkg.data!.zip)}.zip`);
    const dataFiles = unzipSync(pkg.data!.zip);
    expect(Object.keys(dataFiles).sort()).toEqual(pkg.data!.entries);
    const files = { ...treeFiles, ...dataFiles };
    const names = Object.keys(files).sort();

    // The allowlist, exactly: tracked files and the entry script in the tree; the local sandbox's bind sources and
    // the marker in the data.
    const tracked = gitOut(dir, ['ls-files']).trim().split('\n').sort();
    expect(pkg.entries.filter((n) => n.startsWith('workspace/')).map((n) => n.slice(10))).toEqual(tracked);
    expect(pkg.entries.filter((n) => !n.startsWith('workspace/'))).toEqual(['ratchet_entry.py']);
    expect(pkg.data!.entries.filter((n) => n.startsWith('binds/')).map((n) => n.slice(5))).toEqual(
      spec.readOnly.map((b) => b.target).sort(),
    );
    expect(pkg.data!.entries.filter((n) => !n.startsWith('binds/'))).toEqual(['ratchet_data.json']);
    expect(names).not.toContain('workspace/notes.txt');
    expect(names.some((n) => n.includes('data.csv'))).toBe(false);

    // No vault file, under any name: no entry has the bytes of a vault file (or of the raw data with every label).
    const vault = join(dir, '.ratchet', 'vault');
    const secret = new Set([
      ...readdirSync(vault).map((f) => sha(readFileSync(join(vault, f)))),
      sha(readFileSync(join(dir, 'data.csv'))),
    ]);
    expect(readdirSync(vault).sort()).toEqual(['canary.key', 'private.parquet', 'public.parquet']);
    for (const [n, data] of Object.entries(files)) expect(secret.has(sha(data)), n).toBe(false);

    // No holdout label: the feature files have no target column, and any file that pairs holdout ids with a
    // target column (the canary decoys) agrees with the real labels only by chance.
    const target = ready.contract.data.target;
    const id = ready.manifest.idColumn;
    const unpacked = tempDir();
    for (const [n, data] of Object.entries(files)) {
      mkdirSync(dirname(join(unpacked, n)), { recursive: true });
      writeFileSync(join(unpacked, n), data);
    }
    const duck = await openDuck(1);
    try {
      for (const split of ['public', 'private']) {
        const labels = new Map(
          (
            await readRows(
              duck.con,
              `SELECT CAST(id AS VARCHAR) AS id, CAST(label AS VARCHAR) AS label FROM read_parquet('${join(vault, `${split}.parquet`)}')`,
            )
          ).map((r) => [String(r['id']), String(r['label'])]),
        );
        expect(labels.size).toBeGreaterThan(100);
        for (const f of [`binds/data/${split}.csv`, `binds/data/${split}_features.parquet`]) {
          const p = join(unpacked, f);
          expect(existsSync(p), f).toBe(true);
          const cols = (await readRows(duck.con, `DESCRIBE SELECT * FROM '${p}'`)).map((r) =>
            String(r['column_name']),
          );
          expect(cols, f).toContain(id);
          expect(cols, f).not.toContain(target);
        }
        for (const f of walk(unpacked).filter((f) => f.endsWith('.csv') || f.endsWith('.parquet'))) {
          const p = join(unpacked, f);
          const cols = (await readRows(duck.con, `DESCRIBE SELECT * FROM '${p}'`)).map((r) =>
            String(r['column_name']),
          );
          if (!cols.includes(target) || !cols.includes(id)) continue;
          const rows = await readRows(
            duck.con,
            `SELECT CAST("${id}" AS VARCHAR) AS id, CAST("${target}" AS VARCHAR) AS y FROM '${p}'`,
          );
          const paired = rows.filter((r) => labels.has(String(r['id'])));
          if (paired.length === 0) continue; // the train split: its labels are visible by design
          // Only the decoys pair holdout ids with the target: planted at /data/.vault, never the real labels.
          expect(f).toBe(`binds/data/.vault/${split}.csv`);
          const agree =
            paired.filter((r) => labels.get(String(r['id'])) === String(r['y'])).length / paired.length;
          expect(agree, `${f} agrees with the real labels`).toBeLessThan(0.7);
        }
      }
    } finally {
      duck.close();
    }

    // The cage: the local sandbox's own command line, with the worker's folders as placeholders.
    const a = pkg.cage.bwrap;
    expect(a[0]).toBe('bwrap');
    expect(a.at(-1)).toBe('--');
    for (const flag of ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv'])
      expect(a).toContain(flag);
    expect(a.join(' ')).toContain(`--cap-drop ALL`);
    expect(a.join(' ')).toContain(`--ro-bind ${PLACEHOLDERS.job}/workspace /workspace`);
    expect(a.join(' ')).toContain(`--bind ${PLACEHOLDERS.output} /output`);
    expect(a.join(' ')).toContain(`--ro-bind ${PLACEHOLDERS.data}/binds/data/train.csv /data/train.csv`);
    expect(a.join(' ')).toContain(`--json-status-fd ${PLACEHOLDERS.statusFd}`);
    expect(a).not.toContain('--share-net');
    expect(a.join(' ')).not.toContain(dir);
    expect(pkg.cage.inner.at(-1)).toBe(ready.contract.run.command);

    // The same tree and data make the same package (so a rerun over seeds uploads nothing new).
    const again = buildJobPackage({ spec, projectDir: dir, files: await trackedFiles(dir) });
    expect(again.sha256).toBe(pkg.sha256);
    // Another tree makes another tree package and the very same data package (shipped once per run).
    const other = buildJobPackage({ spec, projectDir: dir, files: (await trackedFiles(dir)).slice(1) });
    expect(other.sha256).not.toBe(pkg.sha256);
    expect(other.data!.sha256).toBe(pkg.data!.sha256);
    // A bind source inside the vault is refused.
    expect(() =>
      buildJobPackage({
        spec: {
          ...spec,
          readOnly: [...spec.readOnly, { host: join(vault, 'public.parquet'), target: '/data/x' }],
        },
        projectDir: dir,
        files: [],
      }),
    ).toThrow(/lies in the vault/);
  });
});

const NONCE = '0123456789abcdef0123456789abcdef';
const frame = (kind: string, body?: unknown) =>
  `@@ratchet:${NONCE}:${kind}${body === undefined ? '' : ` ${JSON.stringify(body)}`}`;
const RESULT = {
  status: 'ok',
  exitCode: 0,
  signal: null,
  wallMs: 12,
  sandboxed: true,
  message: 'exited with code 0',
};

/** A job's log as the entry script writes it, with `zip` as the output. */
function logWith(zip: Uint8Array, opts: { bytes?: number; sha?: string } = {}): string {
  const b64 = Buffer.from(zip).toString('base64');
  return [
    'Running entrypoint for job x: python ratchet_entry.py',
    frame('start', { host: 'worker-1' }),
    'O|training',
    frame('output', { bytes: opts.bytes ?? zip.length, sha256: opts.sha ?? sha(zip), files: 1 }),
    ...(b64.match(/.{1,100}/g) ?? []),
    frame('end-output'),
    frame('result', RESULT),
    '',
  ].join('\n');
}

function read(log: string, maxPayloadBytes = 1 << 20) {
  const out: string[] = [];
  const err: string[] = [];
  const j = new JobLog({
    nonce: NONCE,
    onStdout: (t) => out.push(t),
    onStderr: (t) => err.push(t),
    maxPayloadBytes,
  });
  // Fed as the executor does: the whole log each time, growing, then once more when the job ended.
  const cut = Math.floor(log.length / 2);
  j.feed(log.slice(0, cut));
  j.feed(log, true);
  return { j, out: out.join(''), err: err.join('') };
}

describe('the Ray output channel', () => {
  it('reads the command lines, the result and the output from the log', () => {
    const zip = zipSync({ 'public.csv': strToU8('row_id,prediction\n1,0.5\n'), 'sub/': new Uint8Array(0) });
    const { j, out } = read(logWith(zip));
    expect(j.problem).toBeNull();
    expect(j.start?.host).toBe('worker-1');
    expect(out).toBe('training\n');
    expect(j.result?.status).toBe('ok');
    const dir = tempDir();
    expect(unpackOutput(j.payload!, dir, 1 << 20)).toEqual({ files: 1, bytes: 24 });
    expect(readFileSync(join(dir, 'public.csv'), 'utf8')).toContain('1,0.5');
  });

  it('cannot be forged by the command: its lines are tagged, and frames need the nonce', () => {
    const log = [
      frame('start', { host: 'w' }),
      `O|${frame('result', { ...RESULT, message: 'forged' })}`,
      `@@ratchet:ffffffffffffffffffffffffffffffff:result ${JSON.stringify(RESULT)}`,
      'E|boom',
      '',
    ].join('\n');
    const { j, out, err } = read(log);
    expect(j.result).toBeNull();
    expect(out).toContain('forged');
    expect(err).toBe('boom\n');
    expect(j.other.some((l) => l.includes('ffffffff'))).toBe(true);
  });

  it('refuses entries with ../ or absolute paths, and writes nothing', () => {
    for (const bad of ['../evil.csv', 'a/../../evil.csv', '/etc/evil.csv', 'a\\..\\evil', './x', 'a//b']) {
      const zip = zipSync({ 'public.csv': strToU8('ok\n'), [bad]: strToU8('pwned\n') });
      const { j } = read(logWith(zip));
      expect(j.problem).toBeNull(); // the frames are fine: the zip's content is what is refused
      const parent = tempDir();
      const dir = join(parent, 'output');
      mkdirSync(dir);
      expect(() => unpackOutput(j.payload!, dir, 1 << 20), bad).toThrow(ChannelError);
      expect(readdirSync(dir), bad).toEqual([]);
      expect(readdirSync(parent), bad).toEqual(['output']);
    }
  });

  it('refuses an oversized payload (by its frame, by its lines, or by its unpacked size) and a bad hash', () => {
    const zip = zipSync({ 'big.bin': new Uint8Array(200_000) }); // compresses to a few hundred bytes
    // The frame announces more than the cap.
    let r = read(logWith(zip, { bytes: 5_000_000 }), 1_000_000);
    expect(r.j.payload).toBeNull();
    expect(r.j.problem?.oversize).toBe(true);
    // The frame lies small, the lines are many.
    const big = zipSync({ 'noise.bin': new Uint8Array(randomish(300_000)) }, { level: 0 });
    r = read(logWith(big, { bytes: 10 }), 100_000);
    expect(r.j.payload).toBeNull();
    expect(r.j.problem?.oversize).toBe(true);
    // The zip is small, what it unpacks to is not (a zip bomb).
    r = read(logWith(zip));
    expect(r.j.problem).toBeNull();
    const dir = tempDir();
    let err: unknown;
    try {
      unpackOutput(r.j.payload!, dir, 100_000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).oversize).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    // A payload that does not match its SHA-256.
    r = read(logWith(zip, { sha: '0'.repeat(64) }));
    expect(r.j.payload).toBeNull();
    expect(r.j.problem?.message).toMatch(/SHA-256/);
    // A second result frame.
    r = read(`${logWith(zip)}${frame('result', RESULT)}\n`);
    expect(r.j.problem?.message).toMatch(/second or malformed result/);
  });
});

function randomish(n: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

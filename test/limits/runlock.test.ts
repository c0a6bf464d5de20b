import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processStart } from '../../src/loop/control.js';
import { ROOT, tempDir } from '../helpers/project.js';

const ROUNDS = 100;
const RACERS = 4;

/**
 * One racer: a real node process that, for each round, waits at a barrier (every racer's ready file exists),
 * then calls the compiled acquireRunLock on the round's project and writes whether it won. Winners never
 * release (they stay alive), so a second "winner" in a round is a second live holder.
 */
const RACER = `
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const [controlJs, base, me, rounds, racers] = process.argv.slice(2);
const { acquireRunLock } = await import(controlJs);
for (let r = 0; r < Number(rounds); r++) {
  writeFileSync(join(base, 'ready-' + r + '-' + me), '');
  const t0 = Date.now();
  for (;;) {
    let all = true;
    for (let i = 0; i < Number(racers); i++) if (!existsSync(join(base, 'ready-' + r + '-' + i))) { all = false; break; }
    if (all) break;
    if (Date.now() - t0 > 60000) { console.error('barrier timeout'); process.exit(2); }
  }
  let out;
  try {
    acquireRunLock(join(base, 'p' + r), 'racer-' + me);
    out = 'won';
  } catch (e) {
    out = 'lost: ' + e.message;
  }
  writeFileSync(join(base, 'res-' + r + '-' + me), out);
}
`;

describe('the run lock is atomic', () => {
  it('100 races of 4 real processes: exactly one winner each time, also over a stale or pid-reused lock', async () => {
    const base = tempDir('ratchet-lock-');
    const script = join(base, 'racer.mjs');
    writeFileSync(script, RACER);
    const controlJs = join(ROOT, 'dist', 'src', 'loop', 'control.js');
    // a pid that is certainly dead: a child that has exited
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const deadPid = Number(dead.stdout);
    const myStart = processStart(process.pid)!;
    expect(myStart).toBeGreaterThan(0);
    for (let r = 0; r < ROUNDS; r++) {
      const proj = join(base, `p${r}`, '.ratchet');
      mkdirSync(proj, { recursive: true });
      const stale =
        r % 3 === 1
          ? // the holder died
            { pid: deadPid, runId: 'dead', startedAt: '2026-01-01T00:00:00Z', pidStart: 1, nonce: `dead${r}` }
          : r % 3 === 2
            ? // the pid now belongs to another (live) process: this test's, with another start time
              {
                pid: process.pid,
                runId: 'reused',
                startedAt: '2026-01-01T00:00:00Z',
                pidStart: myStart - 1,
                nonce: `reused${r}`,
              }
            : null;
      if (stale) writeFileSync(join(proj, 'run.json'), `${JSON.stringify(stale)}\n`);
    }
    const children = Array.from({ length: RACERS }, (_, i) =>
      spawn(process.execPath, [script, controlJs, base, String(i), String(ROUNDS), String(RACERS)], {
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    const codes = await Promise.all(
      children.map(
        (c) =>
          new Promise<{ code: number | null; err: string }>((res) => {
            let err = '';
            c.stderr!.on('data', (d) => {
              err += String(d);
            });
            c.on('close', (code) => res({ code, err }));
          }),
      ),
    );
    expect(codes).toEqual(Array.from({ length: RACERS }, () => ({ code: 0, err: '' })));
    const bad: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const results = Array.from({ length: RACERS }, (_, i) =>
        readFileSync(join(base, `res-${r}-${i}`), 'utf8'),
      );
      const winners = results.flatMap((x, i) => (x === 'won' ? [i] : []));
      if (winners.length !== 1) bad.push(`round ${r}: ${winners.length} winners (${results.join(' | ')})`);
      else {
        const held = JSON.parse(readFileSync(join(base, `p${r}`, '.ratchet', 'run.json'), 'utf8'));
        if (held.runId !== `racer-${winners[0]}`) bad.push(`round ${r}: the lock names ${held.runId}`);
        for (const x of results) if (x !== 'won') expect(x).toMatch(/is already active/);
      }
      expect(
        readdirSync(join(base, `p${r}`, '.ratchet')).filter((f) => f.startsWith('run.json.tmp')),
      ).toEqual([]);
    }
    expect(bad).toEqual([]);
  }, 120_000);
});

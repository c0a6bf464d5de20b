import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStudio } from '../../src/studio/server.js';
import { readQueue } from '../../src/tracking/tracker.js';
import { launchChromium } from '../helpers/chromium.js';
import { makeProject } from '../helpers/project.js';
import { type MlflowServer, mlflowServer, runCli } from './server.js';

/** Debian's Chromium (scripts/setup.sh --with-browser); never a downloaded browser. */

let server: MlflowServer;

beforeAll(async () => {
  server = await mlflowServer();
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

/** A "tracking server" that is down (503) and puts markup in its error message. */
async function hostileDownServer(): Promise<{ uri: string; stop: () => Promise<void> }> {
  const s = createServer((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error_code: 'TEMPORARILY_UNAVAILABLE',
        message: `<img id="pwn" src="x" onerror="document.title='pwned'">`,
      }),
    );
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return {
    uri: `http://127.0.0.1:${(s.address() as { port: number }).port}`,
    stop: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

describe('the Studio shows an MLflow outage (real run, real Studio, real Chromium)', () => {
  it('a banner while the tracking server is down, as text (markup in the server error never runs), gone after it recovers', async () => {
    const dir = await makeProject({ rows: 1000 });
    const down = await hostileDownServer();
    try {
      const r = await runCli(['run', '--experiments', '1', '--timeout', '120s', '--run', 'outage'], dir, {
        MLFLOW_TRACKING_URI: down.uri,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.match(/^warning: cannot reach MLflow at /gm)).toHaveLength(1);
    } finally {
      await down.stop();
    }
    expect(readQueue(dir)).toHaveLength(1);

    const studio = await startStudio({ projectDir: dir, port: 0, pollMs: 100 });
    const { context, close } = await launchChromium();
    try {
      const page = await context.newPage();
      await page.goto(studio.url);
      const banner = page.locator('#mlflow-banner');
      await banner.waitFor({ state: 'visible', timeout: 30_000 });
      const text = await banner.textContent();
      expect(text).toContain(`MLflow unreachable since`);
      expect(text).toContain(down.uri);
      expect(text).toContain('ratchet mlflow sync');
      // The server's markup is shown as text, never parsed: no element, no script ran.
      expect(text).toContain('<img id="pwn"');
      expect(await page.locator('#pwn').count()).toBe(0);
      expect(await page.title()).not.toBe('pwned');

      // The queue is sent to a server that answers: the recovery lands in the journal, the banner goes away.
      const s = await runCli(['mlflow', 'sync', '--uri', server.uri], dir);
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout).toMatch(/^sent 1\/1: experiment #1 of run outage$/m);
      await banner.waitFor({ state: 'hidden', timeout: 30_000 });
      expect(await page.locator('#pwn').count()).toBe(0);
    } finally {
      await close();
      await studio.close();
    }
  });
});

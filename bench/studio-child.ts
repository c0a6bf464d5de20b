/**
 * A Studio in a process of its own, for the scale benchmark (bench/scale.ts): as `ratchet studio` runs beside a
 * run, not sharing the orchestrator's event loop. Started with the project folder as its only argument over an IPC
 * channel (`child_process.fork`), it sends `{ port }` once it listens and serves until the parent disconnects. On a
 * message `{ probe: label }` it times one `GET /api/state` from here (a client outside the orchestrator, as a
 * browser is: the time to the last byte, ms) and answers `{ probe: label, ms, cpuMs, bytes }` (`cpuMs`: this
 * process's CPU time meanwhile).
 */
import { startStudio } from '../src/studio/server.js';

const dir = process.argv[2];
if (!dir || !process.send) throw new Error('usage: fork studio-child.js <project> (with an IPC channel)');
const studio = await startStudio({ projectDir: dir, port: 0 });
process.send({ port: studio.port });
process.on('message', (m: { probe?: string }) => {
  if (typeof m.probe !== 'string') return;
  const label = m.probe;
  const t = performance.now();
  const cpu = process.cpuUsage();
  void fetch(`http://127.0.0.1:${studio.port}/api/state`)
    .then(async (res) => {
      const body = await res.text();
      if (!res.ok) throw new Error(`GET /api/state: ${res.status} ${body.slice(0, 200)}`);
      const used = process.cpuUsage(cpu);
      // The CPU this process spent meanwhile (server and client, user + system): wall time well above it is time
      // spent waiting for a core.
      const cpuMs = (used.user + used.system) / 1000;
      process.send?.({ probe: label, ms: performance.now() - t, cpuMs, bytes: body.length });
    })
    .catch((e: Error) => process.send?.({ probe: label, ms: Number.NaN, bytes: 0, error: e.message }));
});
process.on('disconnect', () => {
  void studio.close().then(() => process.exit(0));
});

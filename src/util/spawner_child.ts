/**
 * The child side of {@link execFileLean} (spawner.ts): a small Node process that starts programs for the
 * orchestrator. It receives one request per IPC message, runs it with `execFile` (no shell) and answers with
 * the program's output and exit status. It exits as soon as its parent's IPC channel closes (the parent exited,
 * was killed, or closed it), so it never outlives the orchestrator.
 */
import { execFile } from 'node:child_process';
import type { SpawnReply, SpawnRequest } from './spawner.js';

process.on('disconnect', () => process.exit(0));
process.on('message', (m: SpawnRequest) => {
  const child = execFile(
    m.file,
    m.args,
    { cwd: m.cwd, env: m.env, maxBuffer: m.maxBuffer, encoding: 'utf8', timeout: m.timeoutMs ?? 0 },
    (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string; killed?: boolean }) | null;
      const reply: SpawnReply = e
        ? {
            id: m.id,
            ok: false,
            stdout,
            stderr,
            message: e.message,
            code: e.code ?? null,
            signal: e.signal ?? null,
          }
        : { id: m.id, ok: true, stdout, stderr };
      process.send?.(reply);
    },
  );
  if (m.input !== undefined) child.stdin?.end(m.input);
});

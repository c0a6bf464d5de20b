import { resolve } from 'node:path';
import type { Command } from 'commander';
import { isLoopback, startStudio } from '../../studio/server.js';
import { RatchetError } from '../../util/errors.js';
import { bold, dim } from '../format.js';
import { action } from '../output.js';

/** Options of `ratchet studio`. */
interface StudioCliOptions {
  dir: string;
  port: string;
  host: string;
  token?: string;
}

/** Register `ratchet studio`: the live web page over the journal. */
export function registerStudio(program: Command): void {
  program
    .command('studio')
    .description(
      'a live web page over the journal: score chart, budgets, experiments with diffs and logs, guardrail events, the kill switch and the tier-2 review',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--port <n>', 'TCP port (0 = any free port)', '4500')
    .option('--host <address>', 'interface to bind; anything but loopback requires a token', '127.0.0.1')
    .option('--token <token>', 'require this token (default: none on loopback, a random one elsewhere)')
    .action(
      action(async (o: StudioCliOptions) => {
        const port = Number(o.port);
        if (!/^\d+$/.test(o.port) || port > 65535)
          throw new RatchetError(`--port must be an integer 0..65535, got "${o.port}"`, { field: '--port' });
        const s = await startStudio({
          projectDir: resolve(o.dir),
          host: o.host,
          port,
          ...(o.token ? { token: o.token } : {}),
        });
        const lines = [bold(`Ratchet Studio: ${s.url}`)];
        if (!isLoopback(s.host))
          lines.push(
            `listening on ${s.host}:${s.port}; every request needs the token (Authorization: Bearer <token> or ?token=)`,
          );
        lines.push(dim('live while a run writes the journal; Ctrl-C to quit'));
        process.stdout.write(`${lines.join('\n')}\n`);
        await new Promise<void>((done) => {
          const quit = () => {
            process.off('SIGINT', quit);
            process.off('SIGTERM', quit);
            void s.close().then(done);
          };
          process.on('SIGINT', quit);
          process.on('SIGTERM', quit);
        });
      }),
    );
}

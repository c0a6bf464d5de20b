import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { STAND_IN_MODEL, startStandIn } from '../../harness/stand-in.js';
import { RatchetError } from '../../util/errors.js';
import { bold, dim } from '../format.js';
import { action } from '../output.js';

/** Options of `ratchet stand-in-model`. */
interface StandInCliOptions {
  port: string;
  host: string;
  key?: string;
  model: string;
}

/**
 * Register `ratchet stand-in-model`: a scripted OpenAI-compatible server standing in for a hosted LLM (it is not a
 * language model; its rules are in src/harness/stand-in-rules.ts). It serves until SIGINT or SIGTERM.
 */
export function registerStandIn(program: Command): void {
  program
    .command('stand-in-model')
    .description(
      'a scripted, deterministic OpenAI-compatible server standing in for a hosted LLM (not a language model): for harness examples and tests',
    )
    .option('--port <n>', 'TCP port (0 = any free port)', '8400')
    .option('--host <address>', 'interface to bind', '127.0.0.1')
    .option(
      '--key <key>',
      'the API key clients must send as Authorization: Bearer <key> (default: a random one)',
    )
    .option('--model <name>', 'the one model name it answers to', STAND_IN_MODEL)
    .action(
      action(async (o: StandInCliOptions) => {
        const port = Number(o.port);
        if (!/^\d+$/.test(o.port) || port > 65535)
          throw new RatchetError(`--port must be an integer 0..65535, got "${o.port}"`, { field: '--port' });
        if (o.key === '') throw new RatchetError('--key must not be empty', { field: '--key' });
        const key = o.key ?? `standin-${randomBytes(12).toString('hex')}`;
        const s = await startStandIn({ port, host: o.host, key, model: o.model });
        process.stdout.write(
          [
            bold(`Stand-in model (scripted, not an LLM): ${s.url}`),
            `model: ${s.model}`,
            `key:   ${key}${o.key ? '' : dim(' (random; pass --key to choose one)')}`,
            dim('POST /v1/chat/completions, GET /v1/models; Ctrl-C to quit'),
          ].join('\n') + '\n',
        );
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

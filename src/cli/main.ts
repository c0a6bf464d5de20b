#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { packageDir } from '../util/paths.js';
import { registerAb } from './commands/ab.js';
import { registerAlign } from './commands/align.js';
import { registerAudit } from './commands/audit.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerFinalize } from './commands/finalize.js';
import { registerGc } from './commands/gc.js';
import { registerInit } from './commands/init.js';
import { registerAgents } from './commands/mcp.js';
import { registerMlflow } from './commands/mlflow.js';
import { registerPerson } from './commands/person.js';
import { registerRead } from './commands/read.js';
import { registerReport } from './commands/report.js';
import { registerReview } from './commands/review.js';
import { registerRun } from './commands/run.js';
import { registerStandIn } from './commands/stand-in.js';
import { registerStudio } from './commands/studio.js';
import { registerSubmit } from './commands/submit.js';
import { printJson, reportError, requireProject } from './output.js';

const pkg = JSON.parse(readFileSync(join(packageDir(), 'package.json'), 'utf8')) as { version: string };

const program = new Command();
program
  .name('ratchet')
  .description(
    'An AutoMLOps harness: a frozen contract, a sandbox, hidden holdouts and a git ratchet that keeps only real improvements.',
  )
  .version(pkg.version)
  .showHelpAfterError()
  // Commander's own errors (unknown option, missing argument) follow --json too: JSON on stdout, same exit code.
  .configureOutput({
    outputError: (text, write) =>
      process.argv.includes('--json')
        ? printJson({
            error: {
              message: text.replace(/^error: /, '').trim(),
              file: null,
              field: null,
              hint: 'see ratchet <command> --help',
              exitCode: 1,
            },
          })
        : write(text),
  });

// Every command that works on a project (it has --dir; init and demo make one) refuses, with the same message
// and a non-zero exit, to run in a folder that is not a Ratchet project.
const MAKES_A_PROJECT = new Set(['init', 'demo']);
program.hook('preAction', (_program, cmd) => {
  const o = cmd.opts() as { dir?: unknown; json?: unknown };
  if (MAKES_A_PROJECT.has(cmd.name()) || typeof o.dir !== 'string') return;
  try {
    requireProject(o.dir);
  } catch (e) {
    reportError(e, Boolean(o.json));
    process.exit(process.exitCode ?? 2);
  }
});

registerInit(program);
registerRun(program);
registerRead(program);
registerSubmit(program);
registerDemo(program);
registerAgents(program);
registerReport(program);
registerAudit(program);
registerMlflow(program);
registerStudio(program);
registerReview(program);
registerPerson(program);
registerGc(program);
registerAb(program);
registerAlign(program);
registerExport(program);
registerStandIn(program);
registerFinalize(program);

await program.parseAsync(process.argv);

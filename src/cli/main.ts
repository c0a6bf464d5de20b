#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { packageDir } from '../util/paths.js';
import { registerAudit } from './commands/audit.js';
import { registerDemo } from './commands/demo.js';
import { registerInit } from './commands/init.js';
import { registerAgents } from './commands/mcp.js';
import { registerMlflow } from './commands/mlflow.js';
import { registerPerson } from './commands/person.js';
import { registerRead } from './commands/read.js';
import { registerReport } from './commands/report.js';
import { registerReview } from './commands/review.js';
import { registerRun } from './commands/run.js';
import { registerStudio } from './commands/studio.js';
import { registerSubmit } from './commands/submit.js';

const pkg = JSON.parse(readFileSync(join(packageDir(), 'package.json'), 'utf8')) as { version: string };

const program = new Command();
program
  .name('ratchet')
  .description(
    'An AutoMLOps harness: a frozen contract, a sandbox, hidden holdouts and a git ratchet that keeps only real improvements.',
  )
  .version(pkg.version)
  .showHelpAfterError();

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

await program.parseAsync(process.argv);

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  copyExample,
  initProject,
  listExamples,
  refuseForeignRepo,
  scaffoldProject,
} from '../../contract/init.js';
import { choosePositiveClass } from '../../contract/positive.js';
import { contractJsonSchema, TaskSchema } from '../../contract/schema.js';
import { RatchetError } from '../../util/errors.js';
import { bold, num, table } from '../format.js';
import { action, printJson, progressWriter } from '../output.js';
import { actionUndoingOnFailure } from '../rollback.js';

interface InitOptions {
  dir: string;
  data?: string;
  target?: string;
  task?: string;
  id?: string;
  time?: string;
  group?: string;
  query?: string;
  split?: 'random' | 'stratified' | 'temporal' | 'group';
  metric?: string;
  positiveClass?: string;
  seed?: string;
  example?: string;
  force?: boolean;
  ownRepo?: boolean;
  json?: boolean;
}

/** Register `ratchet init` and `ratchet schema`. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'write (or read) the contract, split the data, put holdout labels in the vault, lock and commit',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--data <file>', 'scaffold a project for this CSV/Parquet file')
    .option('--target <column>', 'column to predict (with --data)')
    .option(
      '--task <task>',
      'binary | multiclass | regression | ranking (with --data); for logged decisions (bandit) start from --example open-bandit',
    )
    .option('--id <column>', 'unique row id column (default: Ratchet numbers rows)')
    .option('--time <column>', 'time column')
    .option('--group <column>', 'group column (e.g. a customer id)')
    .option('--query <column>', 'ranking: the query column rows are ranked within')
    .option('--split <strategy>', 'random | stratified | temporal | group')
    .option('--metric <name>', 'primary metric (default: auroc, log_loss or rmse by task)')
    .option('--positive-class <label>', 'binary: the positive label')
    .option('--seed <n>', 'split seed', undefined)
    .option('--example <name>', `copy a bundled example first (${listExamples().join(', ') || 'none'})`)
    .option(
      '--force',
      're-lock a changed contract / re-split a project that has runs (the old split is kept as a version); scaffold files are never overwritten (flags fill only what ratchet.yaml lacks); with --example, its files are copied over',
    )
    .option(
      '--own-repo',
      'in a folder inside another git repository: give the project a repository of its own',
    )
    .option('--json', 'print the result as JSON')
    .action(
      actionUndoingOnFailure(async (o: InitOptions) => {
        const dir = resolve(o.dir);
        const say = progressWriter(Boolean(o.json));
        // A new project's folder is made (like `git init <dir>`); a failed init removes it again (undoOnFailure).
        if (o.data || o.example) mkdirSync(dir, { recursive: true });
        await refuseForeignRepo(dir, Boolean(o.ownRepo));
        if (o.example) copyExample(o.example, dir, o.force);
        if (o.data) {
          if (!o.target)
            throw new RatchetError('--target is required with --data', {
              field: '--target',
              hint: 'name the column to predict',
            });
          const task = TaskSchema.safeParse(o.task);
          if (!task.success) {
            throw new RatchetError(
              `--task must be binary, multiclass, regression or ranking (got ${o.task ?? 'nothing'})`,
              { field: '--task' },
            );
          }
          if (task.data === 'ranking' && !o.query) {
            throw new RatchetError('a ranking task needs --query <column> (rows are ranked within a query)', {
              field: '--query',
            });
          }
          let positiveClass = o.positiveClass;
          if (task.data === 'binary' && positiveClass === undefined) {
            const chosen = await choosePositiveClass(dir, o.data, o.target);
            if (chosen) {
              positiveClass = chosen.label;
              say(chosen.note);
            }
          }
          const scaffold = scaffoldProject(dir, {
            data: o.data,
            target: o.target,
            task: task.data,
            ...(o.id ? { id: o.id } : {}),
            ...(o.time ? { time: o.time } : {}),
            ...(o.group ? { group: o.group } : {}),
            ...(o.query ? { query: o.query } : {}),
            ...(o.split ? { split: o.split } : {}),
            ...(o.metric ? { metric: o.metric } : {}),
            ...(positiveClass !== undefined ? { positiveClass } : {}),
            ...(o.seed ? { seed: Number(o.seed) } : {}),
          });
          if (scaffold.written.length) say(`wrote ${scaffold.written.join(', ')}`);
          if (scaffold.keptFiles.length)
            say(`kept ${scaffold.keptFiles.join(', ')} as they are (delete a file to scaffold it afresh)`);
          for (const k of scaffold.ignoredFlags) say(`not applied: ${k}; edit ratchet.yaml to change it`);
        }
        const res = await initProject(dir, say, { ownRepo: Boolean(o.ownRepo), force: Boolean(o.force) });
        const m = res.manifest;
        if (o.json) {
          printJson({
            project: res.contract.name,
            commit: res.commit,
            manifest: m,
            lock: res.lock,
            ...(res.resplit ? { resplit: res.resplit } : {}),
          });
          return;
        }
        say('');
        say(
          bold(
            `${res.contract.name}: ${m.task}, target ${m.targetColumn}, id ${m.idColumn}${m.generatedId ? ' (generated)' : ''}`,
          ),
        );
        const bal =
          m.task === 'binary'
            ? `positive rate (${m.positiveClass})`
            : m.task === 'multiclass'
              ? 'largest class share'
              : 'mean target';
        say(
          table([
            ['split', 'rows', bal],
            ['train', String(m.counts.train), num(m.balance.train)],
            ['public', String(m.counts.public), num(m.balance.public)],
            ['private', String(m.counts.private), num(m.balance.private)],
          ]),
        );
        say(
          `split ${m.strategy} (seed ${m.seed}); holdout labels in .ratchet/vault; contract locked in ratchet.lock; committed ${res.commit.slice(0, 12)}`,
        );
        say('next: ratchet check   (runs the baseline and measures noise)');
      }),
    );

  program
    .command('schema')
    .description('print the JSON Schema of ratchet.yaml (for editors)')
    .action(
      action(async () => {
        printJson(contractJsonSchema());
      }),
    );
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadContract } from '../../contract/load.js';
import { cleanHypothesis } from '../../guardrails/hypothesis.js';
import { Journal } from '../../journal/store.js';
import { logEntry, showView, statusView } from '../../journal/views.js';
import { RatchetError } from '../../util/errors.js';
import { formatDuration } from '../../util/units.js';
import {
  bold,
  decisionColour,
  dim,
  gapText,
  keptText,
  num,
  reasonAfter,
  signed,
  table,
  yellow,
} from '../format.js';
import { action, printJson } from '../output.js';

/** Open the journal read-only, or explain that nothing has run yet. */
export function openJournal(dir: string): Journal {
  try {
    return Journal.open(dir, { readonly: true });
  } catch {
    throw new RatchetError('no journal yet', {
      file: '.ratchet/ratchet.db',
      hint: 'run `ratchet run` first',
    });
  }
}

/** Register `status`, `log` and `show`. */
export function registerRead(program: Command): void {
  program
    .command('status')
    .description(
      'where the latest run stands: experiments, best score, budgets, current experiment, submission',
    )
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'a specific run')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { dir: string; run?: string; json?: boolean }) => {
        const dir = resolve(o.dir);
        const contract = loadContract(dir);
        const journal = openJournal(dir);
        try {
          const v = statusView(journal, contract, o.run);
          if (o.json) return printJson(v);
          const pe = v.project_escalation;
          const escLine = pe
            ? `ESCALATED (${pe.at}${pe.run ? `, run ${pe.run}` : ''}): ${pe.message}\n  nothing runs and nothing is submitted until a person clears it: ${pe.clear}\n`
            : '';
          if (!v['run']) return void process.stdout.write(`${escLine}no run yet: ratchet run\n`);
          if (escLine) process.stdout.write(escLine);
          const r = v['run'];
          const lines = [
            bold(
              `run ${r.id} (${r.status}${r.active ? ', active' : ''}) on ${r.branch}, proposer ${r.proposer}${r.unsafe ? ', UNSANDBOXED' : ''}`,
            ),
            r.reason ? `  ${reasonAfter(r.status, r.reason)}` : '',
            `  ${v['metric'].name} (${v['metric'].direction}): baseline ${num(v['baseline'])}, best ${num(v['best']?.score)}${v['best'] ? ` (#${v['best'].id})` : ''}`,
            `  experiments: ${v['experiments'].total}: ${keptText(v['experiments'].kept, v['experiments'].baseline > 0)}, reverted ${v['experiments'].reverted}, crashed ${v['experiments'].crashed}, timeout ${v['experiments'].timeout}, invalid ${v['experiments'].invalid}, rejected ${v['experiments'].rejected}`,
            `  budgets: ${v['budgets'].experiments_left ?? '?'} experiments left; ${formatDuration(v['budgets'].elapsed_s * 1000)} elapsed of ${v['budgets'].max_wall_clock_s ? formatDuration(v['budgets'].max_wall_clock_s * 1000) : '?'}`,
            v['features'].checked + v['features'].not_checked > 0
              ? `  features check: ${v['features'].not_checked} of ${v['features'].checked + v['features'].not_checked} experiments not checked${v['features'].not_checked > 0 ? ' (no readable features.json: see ratchet show <id>)' : ''}`
              : '',
            v['current']
              ? `  running #${v['current'].id}: ${cleanHypothesis(v['current'].hypothesis)} (${formatDuration(v['current'].elapsedMs)})`
              : '',
            v['noise_note'].measured
              ? `  ${v['noise_note'].text}`
              : `  ${yellow(`WARNING ${v['noise_note'].text}`)}`,
            v['submission']
              ? `  submission #${v['submission'].experiment}: public ${num(v['submission'].public)}, private ${num(v['submission'].private)} (${gapText(v['submission'].gap)})`
              : '  not submitted yet: ratchet submit',
            ...v['escalations'].map((e: { message: string }) => `  escalation: ${e.message}`),
            ...(v['directions'] ?? []).map(
              (d) =>
                `  direction ${d.direction} (${d.branch}): ${d.experiments} experiments, ${d.kept} kept, best ${num(d.best?.score ?? null)}${d.best ? ` (#${d.best.id})` : ''}`,
            ),
          ];
          process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
        } finally {
          journal.close();
        }
      }),
    );

  program
    .command('log')
    .description('one line per experiment: decision, score, gain, hypothesis')
    .option('--dir <dir>', 'project folder', '.')
    .option('--run <id>', 'only this run (default: the latest run)')
    .option('--all', 'every run')
    .option('--json', 'print a JSON array of experiments')
    .action(
      action(async (o: { dir: string; run?: string; all?: boolean; json?: boolean }) => {
        const dir = resolve(o.dir);
        const journal = openJournal(dir);
        try {
          const run = o.all ? null : journal.getRun(o.run);
          if (o.run && !run)
            throw new RatchetError(`no run ${o.run}`, { field: '--run', hint: 'see ratchet status' });
          const entries = journal.listExperiments(run?.id).map(logEntry);
          if (o.json) return printJson(entries);
          const withDirections = entries.some((e) => e.direction !== null);
          process.stdout.write(
            `${table([
              [
                'id',
                'seq',
                ...(withDirections ? ['dir'] : []),
                'decision',
                'score',
                'gain',
                'time',
                'hypothesis',
              ],
              ...entries.map((e) => [
                String(e.id),
                String(e.seq),
                ...(withDirections ? [e.direction === null ? '' : `d${e.direction}`] : []),
                decisionColour(e.decision),
                num(e.score),
                signed(e.delta),
                `${e.duration_s.toFixed(1)}s`,
                cleanHypothesis(e.hypothesis),
              ]),
            ])}\n`,
          );
        } finally {
          journal.close();
        }
      }),
    );

  program
    .command('show <id>')
    .description('one experiment: hypothesis, decision and why, metrics, patch, logs')
    .option('--dir <dir>', 'project folder', '.')
    .option('--json', 'print as JSON')
    .action(
      action(async (idText: string, o: { dir: string; json?: boolean }) => {
        const dir = resolve(o.dir);
        const id = Number(idText);
        if (!Number.isInteger(id))
          throw new RatchetError(`"${idText}" is not an experiment id`, { hint: 'see ratchet log' });
        const journal = openJournal(dir);
        try {
          const v = showView(journal, dir, id);
          if (!v) throw new RatchetError(`no experiment ${id}`, { hint: 'see ratchet log' });
          if (o.json) return printJson(v);
          const lines = [
            bold(`#${v['id']} (run ${v['run']}, seq ${v['seq']}) ${decisionColour(v['decision'])}`),
            `hypothesis: ${cleanHypothesis(v['hypothesis'])}`,
            `reason:     ${v['reason']}`,
            ...(v['keep_test'] ? [`keep test:  ${v['keep_test']}`] : []),
            `score:      ${num(v['score'])}${v['delta'] === null ? '' : `  gain ${signed(v['delta'])}`}  (best before ${num(v['best_before'])})`,
            `files:      ${v['files'].join(', ') || '—'}`,
            `sandbox:    ${v['sandbox'].status} ${v['sandbox'].message}${v['sandboxed'] ? '' : ' (UNSANDBOXED)'}`,
            `commit:     ${v['commit'] ?? '—'} (parent ${String(v['parent']).slice(0, 12)})`,
            `metrics:    ${Object.entries(v['metrics'] as Record<string, number>)
              .map(([k, x]) => `${k}=${x.toFixed(6)}`)
              .join('  ')}`,
            ...Object.entries(v['undefined_metrics'] as Record<string, string>).map(
              ([k, why]) => `            ${k} undefined on the public holdout: ${why}`,
            ),
            `features:   ${v['feature_check'] ? `${v['feature_check'].status === 'checked' ? 'checked' : 'NOT CHECKED'}: ${v['feature_check'].reason}` : '— (no score, nothing to check)'}`,
            `trace:      ${v['trace_dir']}`,
            `outputs:    ${v['predictions']}`,
            ...(v['events'].length > 0
              ? [
                  dim('--- events'),
                  ...v['events'].map(
                    (ev) =>
                      `${ev.kind}${ev.guardrail ? ` [${ev.guardrail}]` : ''}: ${cleanHypothesis(ev.message)}`,
                  ),
                ]
              : []),
            '',
            dim('--- patch'),
            v['patch'] || '(empty)',
            dim('--- stdout (tail)'),
            String(v['stdout'] ?? '')
              .split('\n')
              .slice(-15)
              .join('\n'),
            dim('--- stderr (tail)'),
            String(v['stderr'] ?? '')
              .split('\n')
              .slice(-15)
              .join('\n'),
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          journal.close();
        }
      }),
    );
}

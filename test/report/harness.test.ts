/**
 * The report of a harness task: the "Score and cost (harness)" section with the scatter of task_score against
 * tokens_per_task, the Pareto front as a step line and a table, the current best and the cost ceiling, in --json,
 * report.md, report.html and report-harness.svg. A real project from the harness-qa example, the loop run with
 * scripted changes against the stand-in model (in this process, behind the host proxy).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentRecord } from '../../src/journal/store.js';
import type { ReportData } from '../../src/report/data.js';
import {
  harnessProject,
  harnessSteps,
  MARKUP_HYPOTHESIS,
  runHarness,
  startHarnessModel,
} from '../helpers/harness.js';
import { cli } from '../helpers/project.js';

let dir: string;
let exps: ExperimentRecord[];
let close: () => Promise<void>;

beforeAll(async () => {
  const model = await startHarnessModel();
  close = model.close;
  dir = await harnessProject(model.standIn, (y) =>
    y.replace(
      '    cost_metric: tokens_per_task\n',
      '    cost_metric: tokens_per_task\n    cost_ceiling: 320\n',
    ),
  );
  ({ exps } = await runHarness(dir, harnessSteps(dir)));
}, 300_000);

afterAll(async () => {
  await close?.();
});

describe('the report of a harness task shows score against cost', () => {
  it('every scored experiment, the Pareto front, the best and the ceiling; the hypothesis with markup stays text', () => {
    // The run: baseline; a cost cut at the same score (kept); a score gain (kept); cheaper but worse (reverted);
    // answers around the model (rejected, no tokens at all).
    expect(exps.map((e) => e.decision)).toEqual(['kept', 'kept', 'kept', 'reverted', 'rejected']);
    const [base, cut, gain, worse, bypass] = exps as [
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
      ExperimentRecord,
    ];
    const score = (e: ExperimentRecord) => e.metrics['task_score']!;
    const tokens = (e: ExperimentRecord) => e.metrics['tokens_per_task']!;
    expect(score(cut)).toBe(score(base));
    expect(tokens(cut)).toBeLessThan(tokens(base));
    expect(tokens(worse)).toBeLessThan(tokens(cut));
    expect(score(worse)).toBeLessThan(score(cut));
    expect(tokens(gain)).toBeGreaterThan(tokens(cut));
    expect(score(gain)).toBeGreaterThan(score(cut));
    expect(tokens(bypass)).toBe(0);
    expect(score(bypass)).toBeGreaterThanOrEqual(score(worse));

    const r = cli(['report', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as ReportData & { files: { charts: string[] } };
    const h = d.harness!;
    expect(h).not.toBeNull();
    expect(h.score).toBe('task_score');
    expect(h.cost).toBe('tokens_per_task');
    expect(h.ceiling).toBe(320);
    expect(h.points.map((p) => p.id)).toEqual(exps.map((e) => e.id));
    expect(h.points.map((p) => [p.score, p.cost])).toEqual(exps.map((e) => [score(e), tokens(e)]));
    expect(h.unscored).toBe(0);
    // The baseline is dominated by the cost cut (same score, fewer tokens); the rejected bypass, though it
    // costs nothing, is never on the front, so the cheaper-but-worse reverted experiment is.
    expect(h.front).toEqual([worse.id, cut.id, gain.id]);
    expect(h.points.filter((p) => p.front).map((p) => p.id)).toEqual([cut.id, gain.id, worse.id]);
    expect(h.best).toBe(gain.id);
    expect(h.points.find((p) => p.id === cut.id)!.hypothesis).toBe(MARKUP_HYPOTHESIS);

    // report.md: the section, its chart link and the front table (cost ascending).
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const start = md.indexOf('## Score and cost (harness)');
    expect(start).toBeGreaterThan(md.indexOf('## Score progression'));
    const section = md.slice(start, md.indexOf('\n## ', start + 1));
    expect(section).toContain('3 of the 5 scored');
    expect(section).toContain(
      `- current best #${gain.id}: task_score 1.0000, tokens_per_task ${tokens(gain).toFixed(1)}, on the front`,
    );
    expect(section).toContain('- cost ceiling 320.0 (harness.keep.cost_ceiling)');
    expect(section).toContain('](report-harness.svg)');
    expect(section).toContain('| experiment | decision | task_score | tokens_per_task | hypothesis |');
    const rows = section.split('\n').filter((l) => /^\| #\d+/.test(l));
    expect(rows.map((l) => l.split(' | ')[0])).toEqual([
      `| #${worse.id}`,
      `| #${cut.id}`,
      `| #${gain.id} (best)`,
    ]);
    expect(rows[1]).toContain(`| kept | ${score(cut).toFixed(4)} | ${tokens(cut).toFixed(1)} |`);

    // The chart: one mark per scored experiment, the front marked, the step line, the best ringed, the ceiling.
    expect(d.files.charts.map((c) => c.split('/').pop())).toContain('report-harness.svg');
    const svg = readFileSync(join(dir, 'report-harness.svg'), 'utf8');
    expect(svg.match(/<g class="hpt"/g)).toHaveLength(5);
    expect(svg.match(/data-front="true"/g)).toHaveLength(3);
    expect(svg).toContain(`data-id="${bypass.id}" data-seq="5" data-decision="rejected" data-front="false"`);
    expect(svg.match(/class="front-line"/g)).toHaveLength(1);
    expect(svg.match(/data-best="true"/g)).toHaveLength(1);
    expect(svg).toContain(
      `data-id="${gain.id}" data-seq="3" data-decision="kept" data-front="true" data-best="true"`,
    );
    expect(svg).toContain('<g class="ceiling" data-value="320">');
    for (const k of ['kept', 'reverted', 'rejected', 'front', 'best', 'ceiling'])
      expect(svg).toContain(`<g class="legend" data-key="${k}">`);

    // The hypothesis with markup: escaped in the SVG's tooltip and in the HTML table, never an element.
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(svg).toContain('&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img src=x onerror=&quot;');
    expect(svg).not.toMatch(/<script|<img/i);
    expect(html).toContain('<section id="score-and-cost-harness-">');
    expect(html).toContain('<td>drop the worked examples &lt;script&gt;window.__pwned = 1&lt;/script&gt;');
    expect(html).not.toMatch(/<script|<img/i);
  });
});

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Contract, loadContract } from '../contract/load.js';
import { currentSplitVersion, runSplitVersion, splitVersionDir } from '../contract/splits.js';
import { readManifest, type SplitManifest } from '../data/ingest.js';
import { type ExperimentRecord, Journal } from '../journal/store.js';
import { experimentDir } from '../loop/paths.js';
import { resolvePython } from '../sandbox/index.js';
import { RatchetError } from '../util/errors.js';
import { packageDir } from '../util/paths.js';
import { buildReport, plateauWindow, type ReportData, searchContext } from './data.js';
import { describeDataset } from './dataset.js';
import { computeImportance, type ImportanceResult, trialsOf } from './importance.js';
import { nextSteps } from './insights.js';
import { renderHtml, renderMarkdown, reportCharts } from './render.js';
import { winnerPlot } from './winner.js';

export { buildReport, type ReportData, recommend } from './data.js';
export { renderHtml, renderMarkdown, reportCharts, reportSections } from './render.js';

/** File names of the report, in the project folder. */
export const REPORT_MD = 'report.md';
export const REPORT_HTML = 'report.html';
/**
 * The report's charts, written beside report.md and linked from it (report.html inlines them). Stable names:
 * `report-progress.svg` (the score over experiments) and `report-winner.svg` (the winner on the public holdout);
 * with imported A/B tests `report-alignment.svg` (tier 3), `report-tier2-<id>.svg` for each submitted bandit
 * policy's tier-2 evidence, and `report-harness.svg` (score against cost with the Pareto front) for a harness task.
 */
export const REPORT_PROGRESS_SVG = 'report-progress.svg';
export const REPORT_WINNER_SVG = 'report-winner.svg';

/** Result of {@link writeReport}. */
export interface WrittenReport {
  data: ReportData;
  /** Absolute paths of the files written. */
  markdown: string;
  html: string;
  /** Absolute paths of the chart files written (SVG). */
  charts: string[];
}

/** The folder holding the split a run ran on: the project, or the kept copy of an earlier split version. */
function splitRootOf(projectDir: string, journal: Journal, runId: string): string {
  const run = journal.getRun(runId);
  if (!run) return projectDir;
  const v = runSplitVersion(run);
  return v === currentSplitVersion(journal) ? projectDir : splitVersionDir(projectDir, v);
}

/**
 * Complete the journal-only report with the sections that read files or run Python: the data and its splits,
 * parameter importance (python/importance.py, with a timeout) and the winner plot. Each part that fails says
 * why in its own section instead of failing the report.
 */
export async function addReportDetails(
  data: ReportData,
  contract: Contract,
  exps: ExperimentRecord[],
  splitRoot: string,
): Promise<ReportData> {
  let manifest: SplitManifest | null = null;
  try {
    manifest = readManifest(splitRoot);
  } catch {
    manifest = null;
  }
  const d: ReportData = { ...data };
  if (manifest) {
    d.dataset = await describeDataset(
      splitRoot === contract.projectDir ? contract : { ...contract, projectDir: splitRoot },
      manifest,
      splitRoot,
    );
  }
  const best = data.best ? exps.find((e) => e.id === data.best!.id) : undefined;
  if (best && manifest) {
    d.winner = await winnerPlot(
      splitRoot,
      manifest,
      join(experimentDir(contract.projectDir, best.id), 'output'),
      best.id,
      Boolean(contract.evaluator),
    ).catch((e: unknown) => ({ status: 'unavailable' as const, reason: (e as Error).message }));
  } else
    d.winner = { status: 'unavailable', reason: manifest ? 'no kept experiment' : 'the data is not split' };
  const { space, baselineParams } = searchContext(contract);
  let importance: ImportanceResult;
  if (!space) importance = { status: 'unavailable', reason: 'the contract has no search space' };
  else {
    const python = await resolvePython({
      explicit: contract.run.python,
      projectDir: contract.projectDir,
      installDir: packageDir(),
    }).catch(() => null);
    importance = await computeImportance(
      python?.executable ?? null,
      trialsOf(exps, space, baselineParams),
      space,
      contract.direction,
    );
  }
  d.importance = importance;
  d.nextSteps = nextSteps({
    exps,
    stopReason: data.run.reason,
    window: plateauWindow(contract),
    space,
    direction: contract.direction,
    proposer: data.run.proposer,
    importance,
    baselineParams,
  });
  return d;
}

/**
 * Build the morning report of a run and write `report.md`, `report.html` and the chart files
 * (`report-progress.svg`, `report-winner.svg`) into the project folder (or `outDir`). Reads the journal
 * read-only, so it works while a run is still going (an interim report).
 * @param runId the run (default: the latest)
 * @throws RatchetError when there is no journal or no such run, or the contract does not load
 */
export async function writeReport(
  projectDir: string,
  opts: { runId?: string; outDir?: string } = {},
): Promise<WrittenReport> {
  const contract = loadContract(projectDir);
  let journal: Journal;
  try {
    journal = Journal.open(projectDir, { readonly: true });
  } catch {
    throw new RatchetError('no journal yet: nothing to report', {
      file: '.ratchet/ratchet.db',
      hint: 'run `ratchet run` first',
    });
  }
  let data: ReportData;
  let exps: ExperimentRecord[];
  let splitRoot: string;
  try {
    data = buildReport(journal, contract, opts.runId);
    exps = journal.listExperiments(data.run.id);
    splitRoot = splitRootOf(projectDir, journal, data.run.id);
  } finally {
    journal.close();
  }
  data = await addReportDetails(data, contract, exps, splitRoot);
  const dir = opts.outDir ?? projectDir;
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, REPORT_MD);
  const html = join(dir, REPORT_HTML);
  const charts: string[] = [];
  for (const c of reportCharts(data)) {
    const path = join(dir, c.file);
    writeFileSync(path, `${c.svg}\n`);
    charts.push(path);
  }
  writeFileSync(markdown, renderMarkdown(data));
  writeFileSync(html, renderHtml(data));
  return { data, markdown, html, charts };
}

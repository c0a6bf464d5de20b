import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadContract } from '../contract/load.js';
import { Journal } from '../journal/store.js';
import { RatchetError } from '../util/errors.js';
import { buildReport, type ReportData } from './data.js';
import { renderHtml, renderMarkdown } from './render.js';

export { buildReport, type ReportData, recommend } from './data.js';
export { renderHtml, renderMarkdown, reportSections } from './render.js';

/** File names of the report, in the project folder. */
export const REPORT_MD = 'report.md';
export const REPORT_HTML = 'report.html';

/** Result of {@link writeReport}. */
export interface WrittenReport {
  data: ReportData;
  /** Absolute paths of the files written. */
  markdown: string;
  html: string;
}

/**
 * Build the morning report of a run and write `report.md` and `report.html` into the project folder
 * (or `outDir`). Reads the journal read-only, so it works while a run is still going (an interim report).
 * @param runId the run (default: the latest)
 * @throws RatchetError when there is no journal or no such run, or the contract does not load
 */
export function writeReport(
  projectDir: string,
  opts: { runId?: string; outDir?: string } = {},
): WrittenReport {
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
  try {
    data = buildReport(journal, contract, opts.runId);
  } finally {
    journal.close();
  }
  const dir = opts.outDir ?? projectDir;
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, REPORT_MD);
  const html = join(dir, REPORT_HTML);
  writeFileSync(markdown, renderMarkdown(data));
  writeFileSync(html, renderHtml(data));
  return { data, markdown, html };
}

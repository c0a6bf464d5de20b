/**
 * The positive class of a binary target at `ratchet init --data`: given, read from an existing ratchet.yaml, or
 * defaulted when the labels say it plainly ({0, 1} → 1, {false, true} → true); otherwise the person names it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ident, openDuck, readerFor, readStrings } from '../data/duck.js';
import { RatchetError } from '../util/errors.js';
import { CONTRACT_FILE } from './load.js';

/**
 * The positive label when a binary target's two labels leave no doubt: the one that reads as 1 when they are
 * 0 and 1 (as numbers: "0"/"1", "0.0"/"1.0"), the one that reads as true when they are false and true (any case).
 * @param labels the target's distinct labels, as text
 * @returns the positive label as written in the data, or null when the labels do not say
 */
export function defaultPositiveClass(labels: string[]): string | null {
  if (labels.length !== 2) return null;
  const num = labels.map((l) => (l.trim() === '' ? Number.NaN : Number(l)));
  if (num.includes(0) && num.includes(1)) return labels[num.indexOf(1)]!;
  const low = labels.map((l) => l.trim().toLowerCase());
  if (low.includes('false') && low.includes('true')) return labels[low.indexOf('true')]!;
  return null;
}

/**
 * Up to `max` distinct non-empty labels of a column, as text (DuckDB reads CSV and Parquet).
 * @returns the labels, or null when the file or column cannot be read (init's own checks then say why)
 */
export async function targetLabels(dataPath: string, column: string, max = 3): Promise<string[] | null> {
  const duck = await openDuck(1);
  try {
    const v = await readStrings(
      duck.con,
      `SELECT DISTINCT ${ident(column)}::VARCHAR FROM ${readerFor(dataPath, true)} WHERE ${ident(column)} IS NOT NULL AND trim(${ident(column)}::VARCHAR) <> '' LIMIT ${max}`,
    );
    return v.map(String).sort();
  } catch {
    return null;
  } finally {
    duck.close();
  }
}

/**
 * The positive class to scaffold with, and a line saying how it was chosen.
 * @param projectDir the project folder (an existing ratchet.yaml's data.positive_class wins)
 * @param data the data file (absolute or relative to the project)
 * @param target the target column
 * @returns the label and the note, or null when there is nothing to choose (not two labels: init says why)
 * @throws RatchetError (field --positive-class) when the two labels do not say which one is positive
 */
export async function choosePositiveClass(
  projectDir: string,
  data: string,
  target: string,
): Promise<{ label: string; note: string } | null> {
  const contractPath = join(projectDir, CONTRACT_FILE);
  if (existsSync(contractPath)) {
    const have = parseDocument(readFileSync(contractPath, 'utf8')).getIn(['data', 'positive_class']);
    if (have !== undefined && have !== null) return null;
  }
  const labels = await targetLabels(resolve(projectDir, data), target);
  if (labels?.length !== 2) return null;
  const chosen = defaultPositiveClass(labels);
  if (chosen === null) {
    throw new RatchetError(
      `the binary target ${target} has the labels ${labels.map((l) => JSON.stringify(l)).join(' and ')}: which one is the positive class?`,
      {
        field: '--positive-class',
        hint: `name it: --positive-class ${JSON.stringify(labels[1])} (or ${JSON.stringify(labels[0])})`,
        exitCode: 2,
      },
    );
  }
  const other = labels.find((l) => l !== chosen)!;
  return {
    label: chosen,
    note: `positive class ${JSON.stringify(chosen)} (labels ${JSON.stringify(other)} and ${JSON.stringify(chosen)}; --positive-class ${JSON.stringify(other)} picks the other)`,
  };
}

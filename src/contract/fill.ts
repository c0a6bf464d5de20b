/**
 * `ratchet init --data … [--force]` over a project that already has a `ratchet.yaml`: the person's file wins.
 * Scaffolding flags only fill the fields the file lacks (comments and the rest of the file are kept, through
 * the yaml library's document API); a flag that disagrees with a field already set is reported, not applied.
 */
import { isMap, parseDocument } from 'yaml';
import { RatchetError } from '../util/errors.js';
import { CONTRACT_FILE } from './load.js';

/** One field a scaffolding flag maps to: its path in `ratchet.yaml`, the flag, and the flag's value. */
export interface FlagField {
  path: string[];
  flag: string;
  value: string | number | undefined;
}

/** Result of {@link fillContract}. */
export interface FillResult {
  /** The new text (equal to the input when nothing was filled). */
  text: string;
  /** Fields filled from flags, e.g. `data.positive_class = "1"`. */
  filled: string[];
  /** Flags not applied because the file already sets the field, e.g. `--target y (ratchet.yaml has outwork)`. */
  kept: string[];
}

/**
 * Fill the fields `ratchet.yaml` lacks from the scaffolding flags; never change a field it sets.
 * @param text the current `ratchet.yaml`
 * @param fields the flags given (undefined values are skipped)
 * @throws RatchetError naming ratchet.yaml when the file is not a YAML mapping
 */
export function fillContract(text: string, fields: FlagField[]): FillResult {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) {
    throw new RatchetError(
      `${CONTRACT_FILE} is not a YAML mapping: ${doc.errors[0]?.message ?? 'empty file'}`,
      {
        file: CONTRACT_FILE,
        hint: 'fix the file, or move it away to scaffold a new one',
      },
    );
  }
  const filled: string[] = [];
  const kept: string[] = [];
  for (const f of fields) {
    if (f.value === undefined) continue;
    const have = doc.getIn(f.path);
    const name = f.path.join('.');
    if (have === undefined || have === null) {
      doc.setIn(f.path, f.value);
      filled.push(`${name} = ${JSON.stringify(f.value)}`);
    } else if (String(have) !== String(f.value)) {
      kept.push(
        `${f.flag} ${JSON.stringify(f.value)} (${CONTRACT_FILE} has ${name} = ${JSON.stringify(have)})`,
      );
    }
  }
  return { text: filled.length ? doc.toString() : text, filled, kept };
}

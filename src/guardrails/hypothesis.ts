/**
 * hypothesis-required, counted in VISIBLE characters: one function for the loop, the command, openai and
 * hybrid proposers and the MCP server. Zero-width and other format characters (Unicode category Cf, e.g.
 * U+200B..U+200D, U+2060, U+FEFF), control characters (Cc), whitespace, lone combining marks and the blank
 * "letters" (U+3164 HANGUL FILLER and kin) do not count; a hypothesis also needs a few letters or digits.
 * The same module cleans a hypothesis of terminal escapes and control characters before it is stored or printed.
 */
import type { Trip } from './registry.js';

/** Letters or digits a hypothesis needs at least, whatever the contract's minimum length. */
export const MIN_HYPOTHESIS_ALNUM = 3;

// ANSI/VT escape sequences: CSI (ESC [ … final byte), OSC (ESC ] … BEL or ST), and two-byte ESC sequences.
const ESCAPES =
  /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]|\u009b[0-?]*[ -/]*[@-~]/g;
// Control (Cc) and format (Cf) characters, except tab and line feed (kept, then folded by printers).
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]|\p{Cf}/gu;
// Characters that print as nothing: Cc, Cf, separators and whitespace, combining marks, blank "letters",
// variation selectors and the braille blank.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Z}\p{M}\s\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180e]/gu;
const ALNUM = /[\p{L}\p{N}]/gu;

/**
 * The hypothesis as it may be stored and printed: terminal escape sequences, control characters (but tab
 * and line feed) and format characters (zero-width, bidirectional overrides) removed, ends trimmed.
 * @param text any proposer's text (null/undefined give '')
 */
export function cleanHypothesis(text: string | null | undefined): string {
  return String(text ?? '')
    .replace(ESCAPES, '')
    .replace(CONTROL, '')
    .trim();
}

/** Characters of `text` a reader can see (code points, after removing everything {@link INVISIBLE}). */
export function visibleLength(text: string | null | undefined): number {
  return [
    ...String(text ?? '')
      .replace(ESCAPES, '')
      .replace(INVISIBLE, ''),
  ].length;
}

/** Letters and digits a reader can see in `text` (the blank Hangul fillers, filed as letters, excluded). */
export function alnumCount(text: string | null | undefined): number {
  const visible = String(text ?? '')
    .replace(ESCAPES, '')
    .replace(INVISIBLE, '');
  return (visible.match(ALNUM) ?? []).length;
}

/**
 * hypothesis-required: at least `minChars` visible characters, of which at least {@link MIN_HYPOTHESIS_ALNUM}
 * letters or digits.
 * @param minChars the contract's agent.discipline.min_hypothesis_chars (the loop passes 1)
 * @returns null when the hypothesis may stand, else the trip with what to do
 */
export function checkHypothesis(hypothesis: string | null | undefined, minChars: number): Trip | null {
  const raw = String(hypothesis ?? '');
  const visible = visibleLength(raw);
  const alnum = alnumCount(raw);
  if (visible >= minChars && alnum >= MIN_HYPOTHESIS_ALNUM) return null;
  const hidden = [...raw.replace(/[\s\p{Z}]/gu, '')].length - visible;
  const note = hidden > 0 ? ` (${hidden} invisible or control characters do not count)` : '';
  return {
    guardrail: 'hypothesis-required',
    message:
      visible === 0
        ? `no hypothesis${note}: say what the change is and why it should improve the metric`
        : alnum < MIN_HYPOTHESIS_ALNUM
          ? `the hypothesis has ${alnum} letters or digits (at least ${MIN_HYPOTHESIS_ALNUM})${note}: say what changed and why it should help`
          : `the hypothesis is too short (${visible} characters, at least ${minChars})${note}: say what changed and why it should help`,
    data: { visible, alnum, length: [...raw].length, min: minChars },
  };
}

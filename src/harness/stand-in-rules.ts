/**
 * The rules of the stand-in model (`src/harness/stand-in.ts`): a scripted, deterministic answerer that takes the
 * place of a hosted LLM where there is none. It is not a language model. It knows four task families, and it
 * answers one correctly only when the conversation gives it what it needs, so a harness change (an instruction
 * line, a worked example, a format line, a bloated prompt) has a real, measurable effect on score and on tokens.
 *
 * - **Families.** arithmetic (`What is 17 * 23?`), word reversal (`Reverse the word "lantern".`), unit conversion
 *   (`Convert 3.5 km to m.`) and letter counting (`How many times does "s" occur in "mississippi"?`); each has one
 *   exact answer. The question answered is the last one in the last user message.
 * - **Skill.** A family is answered correctly only when some message contains that family's instruction sentence
 *   ({@link SKILL_INSTRUCTIONS}; case and white space are ignored) or at least one *worked example* of the family:
 *   an earlier question of the family followed (before the next question) by its correct answer. Otherwise the
 *   answer is a plausible, deterministic wrong one: off by 1 or 10, the word unreversed or slightly misreversed,
 *   the conversion off by a factor of 10 or in the wrong direction, the count off by one.
 * - **Format.** The bare result when some message contains {@link FORMAT_INSTRUCTION}, else `The answer is <x>.`.
 * - **Tokens.** prompt = ceil(characters of all message contents / 4) + 4 per message; completion =
 *   ceil(characters of the reply / 4) + 1. A reply longer than `max_tokens` allows is cut to (max_tokens − 1) × 4
 *   characters and ends with `finish_reason: "length"`.
 */

/** The four task families the stand-in knows. */
export type Family = 'arithmetic' | 'reversal' | 'conversion' | 'counting';

/** The families, in a fixed order. */
export const FAMILIES: readonly Family[] = ['arithmetic', 'reversal', 'conversion', 'counting'];

/**
 * The instruction sentence that teaches the stand-in one family. It must appear in some message (case and white
 * space ignored, the final period optional); a vaguer wording does not count.
 */
export const SKILL_INSTRUCTIONS: Readonly<Record<Family, string>> = {
  arithmetic:
    'To do arithmetic, apply the operator to both whole numbers exactly and double-check the result.',
  reversal: 'To reverse a word, write its letters from the last one to the first one.',
  conversion:
    'To convert units, use the exact factors 1 km = 1000 m, 1 m = 100 cm, 1 kg = 1000 g, 1 h = 60 min and 1 L = 1000 mL, multiplying when going to the smaller unit and dividing when going to the larger one.',
  counting:
    'To count a letter in a word, go through the word one letter at a time and count every occurrence.',
};

/** The phrase that makes the stand-in answer with the bare result (case and white space ignored). */
export const FORMAT_INSTRUCTION = 'Answer with the result only.';

/** What the stand-in says when the last user message holds no question it knows. */
export const UNKNOWN_REPLY =
  'I can only answer arithmetic, word reversal, unit conversion and letter counting questions.';

/** One chat message as the stand-in reads it: a role and its text. */
export interface StandInMessage {
  role: string;
  content: string;
}

/** The stand-in's reply to one conversation, with the usage a real endpoint would report. */
export interface StandInReply {
  /** The assistant message's content (already cut to `max_tokens`). */
  content: string;
  /** `stop`, or `length` when `max_tokens` cut the reply. */
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
  /** The family of the question answered, or null when there was none. */
  family: Family | null;
  /** Whether the result in the reply is the correct one (before any cut by `max_tokens`). */
  correct: boolean;
  /** Whether the conversation carried the format instruction (bare result). */
  bare: boolean;
}

/** A question found in the conversation: its family, where it is, and its correct and wrong answers. */
interface Question {
  family: Family;
  start: number;
  end: number;
  answer: string;
  wrong: string;
}

/** Units by dimension, as multiples of the dimension's base unit. */
const UNITS: Readonly<Record<string, { dim: string; factor: number }>> = {
  km: { dim: 'length', factor: 1000 },
  m: { dim: 'length', factor: 1 },
  cm: { dim: 'length', factor: 0.01 },
  kg: { dim: 'mass', factor: 1000 },
  g: { dim: 'mass', factor: 1 },
  h: { dim: 'time', factor: 60 },
  min: { dim: 'time', factor: 1 },
  l: { dim: 'volume', factor: 1000 },
  ml: { dim: 'volume', factor: 1 },
};

/** Format a number as the task suite does: at most 6 decimals, no trailing zeros (`3500`, `0.25`). */
export function formatNumber(x: number): string {
  const s = x.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

/** FNV-1a hash of a string: picks a wrong answer deterministically. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** One family's question pattern and its solver: correct and wrong answer, or null when it has none. */
interface Solver {
  family: Family;
  pattern: RegExp;
  solve(m: RegExpExecArray): { answer: string; wrong: string } | null;
}

const SOLVERS: readonly Solver[] = [
  {
    family: 'arithmetic',
    pattern: /What is (\d{1,9}) ([+*-]) (\d{1,9})\?/gi,
    solve(m) {
      const a = Number(m[1]);
      const b = Number(m[3]);
      const r = m[2] === '+' ? a + b : m[2] === '-' ? a - b : a * b;
      const h = hash(m[0]);
      const off = (h % 2 === 0 ? 1 : -1) * (h % 4 < 2 ? 1 : 10);
      return { answer: String(r), wrong: String(r + off) };
    },
  },
  {
    family: 'reversal',
    pattern: /Reverse the word "([A-Za-z]{1,64})"\./gi,
    solve(m) {
      const word = m[1]!;
      const answer = [...word].reverse().join('');
      let wrong = word;
      if (hash(m[0]) % 2 === 1 && answer.length >= 3) wrong = answer[1]! + answer[0]! + answer.slice(2);
      if (wrong === answer) wrong = answer.length > 1 ? answer.slice(0, -1) : `${answer}${answer}`;
      return { answer, wrong };
    },
  },
  {
    family: 'conversion',
    pattern: /Convert (\d{1,9}(?:\.\d{1,6})?) (km|m|cm|kg|g|h|min|L|mL) to (km|m|cm|kg|g|h|min|L|mL)\./gi,
    solve(m) {
      const from = UNITS[m[2]!.toLowerCase()]!;
      const to = UNITS[m[3]!.toLowerCase()]!;
      if (from.dim !== to.dim) return null;
      const value = Number(m[1]);
      const answer = formatNumber((value * from.factor) / to.factor);
      let wrong =
        hash(m[0]) % 2 === 0
          ? formatNumber((value * to.factor) / from.factor)
          : formatNumber(((value * from.factor) / to.factor) * 10);
      if (wrong === answer) wrong = formatNumber(Number(answer) * 10 + 1);
      return { answer, wrong };
    },
  },
  {
    family: 'counting',
    pattern: /How many times does "([A-Za-z])" occur in "([A-Za-z]{1,64})"\?/gi,
    solve(m) {
      const letter = m[1]!.toLowerCase();
      const n = [...m[2]!.toLowerCase()].filter((c) => c === letter).length;
      const wrong = n > 1 && hash(m[0]) % 2 === 1 ? n - 1 : n + 1;
      return { answer: String(n), wrong: String(wrong) };
    },
  },
];

/** Every question in `text`, in order of position. */
function findQuestions(text: string): Question[] {
  const found: Question[] = [];
  for (const s of SOLVERS) {
    const re = new RegExp(s.pattern.source, s.pattern.flags);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const solved = s.solve(m);
      if (solved) found.push({ family: s.family, start: m.index, end: m.index + m[0].length, ...solved });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/** Lower case, white space collapsed: how instruction sentences are looked for. */
function normalize(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ');
}

/** Whether `sentence` (final period optional) occurs in the normalized transcript. */
function mentions(transcript: string, sentence: string): boolean {
  return transcript.includes(normalize(sentence).replace(/\.$/, ''));
}

/** Whether `answer` occurs in `segment` as a whole token (not inside a longer number or word). */
function containsAnswer(segment: string, answer: string): boolean {
  const escaped = answer.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9.-])${escaped}(?![A-Za-z0-9]|\\.\\d)`).test(segment);
}

/** Characters as a tokenizer would see them (code points, not UTF-16 units). */
function chars(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** prompt_tokens of a conversation: ceil(characters of all contents / 4) + 4 per message. */
export function promptTokens(messages: readonly StandInMessage[]): number {
  const total = messages.reduce((sum, m) => sum + chars(m.content), 0);
  return Math.ceil(total / 4) + 4 * messages.length;
}

/** completion_tokens of a reply: ceil(characters / 4) + 1. */
export function completionTokens(content: string): number {
  return Math.ceil(chars(content) / 4) + 1;
}

/**
 * The stand-in's reply to a conversation: a pure, deterministic function of the messages and `max_tokens`.
 * @param messages the conversation, in order (roles other than `user` are context only)
 * @param maxTokens the request's `max_tokens` (at least 1), or undefined for no limit
 */
export function standInReply(messages: readonly StandInMessage[], maxTokens?: number): StandInReply {
  // The transcript: every message's content, in order, one per line; offsets map questions to messages.
  const starts: number[] = [];
  let transcript = '';
  for (const m of messages) {
    starts.push(transcript.length);
    transcript += `${m.content}\n`;
  }
  let lastUser = -1;
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]!.role === 'user') {
      lastUser = i;
      break;
    }
  const questions = findQuestions(transcript);
  const userStart = lastUser >= 0 ? starts[lastUser]! : Number.POSITIVE_INFINITY;
  const userEnd = lastUser >= 0 ? userStart + messages[lastUser]!.content.length : -1;
  let target = -1;
  for (let i = 0; i < questions.length; i++)
    if (questions[i]!.start >= userStart && questions[i]!.end <= userEnd) target = i;

  const normalized = normalize(transcript);
  const bare = mentions(normalized, FORMAT_INSTRUCTION);
  let result: string;
  let family: Family | null = null;
  let correct = false;
  if (target < 0) {
    result = UNKNOWN_REPLY;
  } else {
    const q = questions[target]!;
    family = q.family;
    const instructed = mentions(normalized, SKILL_INSTRUCTIONS[q.family]);
    // A worked example: an earlier question of the same family whose correct answer follows it before the next
    // question (inline "Q: ... A: 391", or a user turn answered by the next assistant turn).
    const worked = questions.some(
      (e, i) =>
        i !== target &&
        e.family === q.family &&
        containsAnswer(transcript.slice(e.end, questions[i + 1]?.start ?? transcript.length), e.answer),
    );
    correct = instructed || worked;
    result = correct ? q.answer : q.wrong;
  }
  const full = family === null || bare ? result : `The answer is ${result}.`;
  let content = full;
  let finishReason: 'stop' | 'length' = 'stop';
  if (maxTokens !== undefined && completionTokens(full) > maxTokens) {
    content = [...full].slice(0, Math.max(0, (maxTokens - 1) * 4)).join('');
    finishReason = 'length';
  }
  return {
    content,
    finishReason,
    promptTokens: promptTokens(messages),
    completionTokens: completionTokens(content),
    family,
    correct,
    bare,
  };
}

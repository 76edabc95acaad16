import { hiddenCharacterProblem } from './characters.js';

/**
 * Proper-case a personal name: trimmed, inner whitespace collapsed, every word and every part after
 * an apostrophe or hyphen capitalised. `o'brien` → `O'Brien`, `mary-jane` → `Mary-Jane`,
 * `ÉLODIE` → `Élodie`. Locale-independent so every machine exports the same bytes.
 */
export function normalizeName(value: string): string {
  return asciiName(value) ?? unicodeName(value);
}

const SPACE = 0x20;
const APOSTROPHE = 0x27;
const HYPHEN = 0x2d;
const LOWER_A = 0x61;
const LOWER_Z = 0x7a;
/** Lower case to upper case, in ASCII. */
const CASE_OFFSET = 0x20;

/**
 * normalizeName for a name in ASCII with no blank to trim or collapse (nearly every name), in one
 * pass without the Unicode regular expressions, which were most of a dry run's time in this
 * function: NFC leaves ASCII as it is, and in ASCII the only letters are a-z and the only
 * boundaries are the space, `'` and `-`. Undefined for any other name.
 */
// Stryker disable next-line BlockStatement: a shortcut; without it every name takes the Unicode path, with the same result.
function asciiName(value: string): string | undefined {
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = value.charCodeAt(i);
    // Stryker disable next-line EqualityOperator,ConditionalExpression,LogicalOperator: sending more names to the Unicode path (0x80, blanks, every name) gives the same result.
    if (c >= 0x80 || (c >= 0x09 && c <= 0x0d)) return undefined;
    // Stryker disable next-line ConditionalExpression: the same: a name with any space would take the Unicode path.
    if (c === SPACE && (i === 0 || i === last || value.charCodeAt(i - 1) === SPACE)) return undefined;
  }
  const lower = value.toLowerCase();
  let proper = '';
  let from = 0;
  for (let i = 0; i <= last; i++) {
    const c = lower.charCodeAt(i);
    if (c < LOWER_A || c > LOWER_Z) continue;
    const before = i === 0 ? SPACE : lower.charCodeAt(i - 1);
    if (before !== SPACE && before !== APOSTROPHE && before !== HYPHEN) continue;
    proper += lower.slice(from, i) + String.fromCharCode(c - CASE_OFFSET);
    from = i + 1;
  }
  return proper + lower.slice(from);
}

function unicodeName(value: string): string {
  return value
    .normalize('NFC')
    .trim()
    .replace(/\s+/gu, ' ')
    .toLowerCase()
    .replace(/(^|[\s'’-])(\p{L})/gu, (_match, boundary: string, letter: string) => boundary + letter.toUpperCase());
}

/** The most characters a name may have as it is sent (UTF-16 code units, as platforms count). */
export const MAX_NAME_LENGTH = 200;

/**
 * What is wrong with a name as it is sent (normalized), or undefined. Checked after normalizing, so
 * the limit counts what case mapping made of the name (`ﬀ` capitalised is `FF`) and trimmed
 * blanks do not count. A name must have a letter of some script: zero-width characters, combining
 * marks, digits or punctuation alone are not a name. A combining mark must follow a letter (or
 * another mark): at the start of a word it sits on nothing.
 */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  const ascii = printableAsciiLetters(name);
  if (ascii !== undefined) return ascii ? undefined : 'must contain letters';
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (!/\p{L}/u.test(name)) return 'must contain letters';
  if (/(?:^|\s)\p{M}/u.test(name)) return 'a combining mark must follow a letter';
  return undefined;
}

/**
 * For a name of printable ASCII only: whether it has a letter. Such a name holds no hidden
 * character and no combining mark, so this is all nameProblem has left to ask. Undefined for
 * any other name (the Unicode checks decide).
 */
// Stryker disable next-line BlockStatement: a shortcut; undefined sends the name to the Unicode checks, which answer the same.
function printableAsciiLetters(name: string): boolean | undefined {
  let letters = false;
  // Stryker disable next-line EqualityOperator: the character past the end reads NaN, which no test takes.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // Stryker disable next-line EqualityOperator: a space or a ~ sent to the Unicode checks is answered the same.
    if (c < SPACE || c > 0x7e) return undefined;
    if ((c | CASE_OFFSET) >= LOWER_A && (c | CASE_OFFSET) <= LOWER_Z) letters = true;
  }
  return letters;
}

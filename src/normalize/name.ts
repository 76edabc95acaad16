import { hiddenCharacterProblem } from './characters.js';

/**
 * Proper-case a personal name: trimmed, inner whitespace collapsed, every word and every part after
 * an apostrophe or hyphen capitalised. `o'brien` → `O'Brien`, `mary-jane` → `Mary-Jane`,
 * `ÉLODIE` → `Élodie`. Locale-independent so every machine exports the same bytes.
 */
export function normalizeName(value: string): string {
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
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (!/\p{L}/u.test(name)) return 'must contain letters';
  if (/(?:^|\s)\p{M}/u.test(name)) return 'a combining mark must follow a letter';
  return undefined;
}

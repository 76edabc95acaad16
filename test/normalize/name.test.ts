import { describe, expect, it } from 'vitest';
import { MAX_NAME_LENGTH, nameProblem, normalizeName } from '../../src/normalize/name.js';

describe('normalizeName', () => {
  it.each([
    ["o'brien", "O'Brien"],
    ['mary-jane', 'Mary-Jane'],
    ['ÉLODIE', 'Élodie'],
    ['  george   BLUTH ', 'George Bluth'],
    ['van der berg', 'Van Der Berg'],
    ['ZOË', 'Zoë'],
    ['d’arcy', 'D’Arcy'],
    ['', ''],
    ['   ', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });

  it('composes decomposed accents so equal names compare equal', () => {
    expect(normalizeName('E\u0301lodie')).toBe('Élodie');
  });

  it.each([
    ['first12', 'First12'],
    ['LAST-NAME7', 'Last-Name7'],
    ["x'y z-w", "X'Y Z-W"],
    ['a  b', 'A B'],
    [' ab', 'Ab'],
    ['ab ', 'Ab'],
    ['a\tb', 'A B'],
    ['a\u000bb', 'A B'],
    ['1a', '1a'],
    ['_a', '_a'],
    ['a\u0000b', 'A\u0000b'],
    ['\u007fa', '\u007fa'],
    ['-', '-'],
  ])('ASCII %j → %j', (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });

  it('gives what the Unicode rules give for every ASCII name (generated)', () => {
    // The rules as first written: the ASCII path must agree with them exactly.
    const reference = (value: string): string =>
      value
        .normalize('NFC')
        .trim()
        .replace(/\s+/gu, ' ')
        .toLowerCase()
        .replace(/(^|[\s'’-])(\p{L})/gu, (_match, boundary: string, letter: string) => boundary + letter.toUpperCase());
    const alphabet = ['a', 'Z', 'q', 'Q', ' ', '  ', '\t', '\n', "'", '-', '’', '1', '_', '.', '\u0000', '\u007f', '@', '[', '`', '{', 'é'];
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5000; i++) {
      const name = Array.from({ length: Math.floor(random() * 8) }, () => alphabet[Math.floor(random() * alphabet.length)]!).join('');
      expect(normalizeName(name), JSON.stringify(name)).toBe(reference(name));
    }
  });
});

describe('nameProblem (on a normalized name)', () => {
  it('200 characters are a name, 201 are too many', () => {
    expect(nameProblem(`A${'a'.repeat(199)}`)).toBeUndefined();
    expect(nameProblem(`A${'a'.repeat(200)}`)).toBe('must be at most 200 characters');
    expect(MAX_NAME_LENGTH).toBe(200);
  });

  it('checks, in order: empty, too long, hidden characters, letters, marks', () => {
    expect(nameProblem('')).toBe('must not be empty');
    expect(nameProblem('\u200B'.repeat(201))).toBe('must be at most 200 characters');
    expect(nameProblem('\u200B')).toBe('must not contain control or invisible formatting characters (U+200B)');
    expect(nameProblem('1\u0000')).toBe('must not contain control or invisible formatting characters (U+0000)');
    expect(nameProblem('\u0301')).toBe('must contain letters');
    expect(nameProblem('\u0301A')).toBe('a combining mark must follow a letter');
    expect(nameProblem('A \u0301B')).toBe('a combining mark must follow a letter');
  });

  it('an ASCII name: letters are a name, anything else must have one; controls are still named', () => {
    expect(nameProblem('Ann-Lee 2')).toBeUndefined();
    expect(nameProblem('z')).toBeUndefined();
    expect(nameProblem('Z')).toBeUndefined();
    expect(nameProblem('12 - 3')).toBe('must contain letters');
    expect(nameProblem('@[`{')).toBe('must contain letters');
    expect(nameProblem('Ann\u007f')).toBe('must not contain control or invisible formatting characters (U+007F)');
    expect(nameProblem('Ann\u001f')).toBe('must not contain control or invisible formatting characters (U+001F)');
  });

  it('a mark after a letter, a mark, a joiner or a digit is fine; one letter of any script is a name', () => {
    expect(nameProblem('A\u0332\u0301')).toBeUndefined();
    expect(nameProblem('क्\u200D\u094D')).toBeUndefined();
    expect(nameProblem('Ann 1\u20E3')).toBeUndefined();
    expect(nameProblem('李')).toBeUndefined();
    expect(nameProblem('X Æ A-12')).toBeUndefined();
  });
});

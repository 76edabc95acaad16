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

  it('a mark after a letter, a mark, a joiner or a digit is fine; one letter of any script is a name', () => {
    expect(nameProblem('A\u0332\u0301')).toBeUndefined();
    expect(nameProblem('क्\u200D\u094D')).toBeUndefined();
    expect(nameProblem('Ann 1\u20E3')).toBeUndefined();
    expect(nameProblem('李')).toBeUndefined();
    expect(nameProblem('X Æ A-12')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { normalizeName } from '../../src/normalize/name.js';

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

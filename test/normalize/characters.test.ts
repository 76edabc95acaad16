import { describe, expect, it } from 'vitest';
import { hiddenCharacterProblem } from '../../src/normalize/characters.js';

describe('hiddenCharacterProblem', () => {
  const hidden = (code: string) => `must not contain control or invisible formatting characters (U+${code})`;

  it.each([
    ['\u0000', '0000'],
    ['\u0009', '0009'],
    ['\u001F', '001F'],
    ['\u007F', '007F'],
    ['\u0080', '0080'],
    ['\u009F', '009F'],
    ['\uD83D', 'D83D'],
    ['\uDE00', 'DE00'],
    ['\u00AD', '00AD'],
    ['\u061C', '061C'],
    ['\u200B', '200B'],
    ['\u200E', '200E'],
    ['\u200F', '200F'],
    ['\u202A', '202A'],
    ['\u202E', '202E'],
    ['\u2060', '2060'],
    ['\u2066', '2066'],
    ['\u2069', '2069'],
    ['\uFEFF', 'FEFF'],
    ['\u{E0001}', 'E0001'],
    ['\u{1D173}', '1D173'],
  ])('names %j as U+%s, wherever it stands', (character, code) => {
    expect(hiddenCharacterProblem(character)).toBe(hidden(code));
    expect(hiddenCharacterProblem(`ab${character}cd`)).toBe(hidden(code));
  });

  it('names the first one', () => {
    expect(hiddenCharacterProblem('a\u202Eb\u0000')).toBe(hidden('202E'));
  });

  it.each([
    ['letters of any script', 'Zoë Ελένη Александра 李 علی'],
    ['the joiners', 'علی\u200Cرضا क्\u200Dष'],
    ['combining marks', 'e\u0301\u0308'],
    ['a surrogate pair', '😀'],
    ['a space and a no-break space', 'a b\u00A0c'],
    ['a private-use character', '\uE000'],
    ['nothing', ''],
  ])('lets %s through', (_what, value) => {
    expect(hiddenCharacterProblem(value)).toBeUndefined();
  });
});

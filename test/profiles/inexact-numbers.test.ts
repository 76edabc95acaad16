import { describe, expect, it } from 'vitest';
import { findInexactNumbers, inexactNumberMessage, inexactness, pathText } from '../../src/profiles/inexact-numbers.js';

describe('inexactness', () => {
  it.each([
    ['9007199254740993123', 'more than 15 significant digits'],
    ['9007199254740993', 'more than 15 significant digits'],
    ['-9007199254740993', 'more than 15 significant digits'],
    ['12345678901234567890123', 'more than 15 significant digits'],
    ['0.1000000000000000055511151231257827', 'more than 15 significant digits'],
    ['1234567890.12345678', 'more than 15 significant digits'],
    ['1.2345678901234567e22', 'more than 15 significant digits'],
    ['1234567890123456789012', 'more than 15 significant digits'],
    ['3.14159265358979323846', 'more than 15 significant digits'],
    ['1e400', 'too large for a number'],
    ['-1E+400', 'too large for a number'],
    ['1 and 400 zeros', 'too large for a number', `1${'0'.repeat(400)}`],
    ['1e-400', 'too small: it would be 0'],
    ['0.(400 zeros)1', 'too small: it would be 0', `0.${'0'.repeat(400)}1`],
    ['12345678901234567e-400', 'too small: it would be 0'],
    // A subnormal double keeps fewer digits than a normal one.
    ['1.23456789e-320', 'too small to keep all its digits'],
    ['1.23456789012345e-320', 'too small to keep all its digits'],
    ['1.234567890123456e-320', 'more than 15 significant digits'],
  ])('%s: %s', (label, why, token = label) => {
    expect(inexactness(token)).toBe(why);
  });

  it.each([
    '0',
    '-0',
    '-0.0e5',
    '0.000000000000000000',
    '-0.000000000000000000',
    '0e99999999999999999999',
    '1.0',
    '1e2',
    '1E+2',
    '100e-2',
    '0.1',
    '-12.5',
    '123456789012345',
    '-12345678901234',
    '0.0000000000001',
    '9007199254740992',
    '9007199254740994',
    '-9007199254740992',
    '1.7976931348623157e308',
    '5e-324',
    '1.5e-323',
    '0.30000000000000004',
    // 17 digits, but the shortest text of its double: it comes back as written.
    '1234567890.1234567',
    '10000000000000000000000000000000',
  ])('%s is exact', (token) => {
    expect(inexactness(token)).toBeUndefined();
  });
});

describe('findInexactNumbers', () => {
  it('finds nothing, without scanning, in an ordinary record', () => {
    expect(findInexactNumbers('{"email":"a@b.co","metadata":{"id":123456789012345,"score":0.5,"at":1700000000000}}')).toEqual([]);
  });

  it('names each inexact number by its path, through objects and arrays', () => {
    const text = '{"metadata":{"id":9007199254740993123,"list":[1,{"x":[0,2,1e400]}],"ok":9007199254740994,"small":1e-400}}';
    expect(findInexactNumbers(text)).toEqual([
      { path: ['metadata', 'id'], text: '9007199254740993123', why: 'more than 15 significant digits' },
      { path: ['metadata', 'list', 1, 'x', 2], text: '1e400', why: 'too large for a number' },
      { path: ['metadata', 'small'], text: '1e-400', why: 'too small: it would be 0' },
    ]);
  });

  it('skips strings, escaped quotes included, and decodes an escaped key', () => {
    const text = '{"note":"id 12345678901234567890 and \\"1e999\\" here","k\\u0065y":{"a\\"b":1e999},"n":[ "[", "{", "," , 123456789012345678 ]}';
    expect(findInexactNumbers(text)).toEqual([
      { path: ['key', 'a"b'], text: '1e999', why: 'too large for a number' },
      { path: ['n', 3], text: '123456789012345678', why: 'more than 15 significant digits' },
    ]);
  });

  it('a string that ends in an escaped backslash ends there', () => {
    expect(findInexactNumbers('{"a":"x\\\\","b":12345678901234567890}')).toEqual([{ path: ['b'], text: '12345678901234567890', why: 'more than 15 significant digits' }]);
  });

  it('keys after nested values and empty containers keep the path right', () => {
    const text = '{"a":{},"b":[],"c":{"d":[[],{}],"e":1e500}, "f" : [ 1 , 2 , 1e500 ]}';
    expect(findInexactNumbers(text).map((found) => found.path)).toEqual([
      ['c', 'e'],
      ['f', 2],
    ]);
  });

  it('the root can be a number, or an array of records', () => {
    expect(findInexactNumbers('1e400')).toEqual([{ path: [], text: '1e400', why: 'too large for a number' }]);
    expect(findInexactNumbers('[{"a":1},{"b":{"c":12345678901234567890}}]').map((found) => found.path)).toEqual([[1, 'b', 'c']]);
  });

  it('the fast test lets through every place a number can stand: after : , or [, blanks, a sign, an exponent', () => {
    const cases: [string, (string | number)[]][] = [
      ['{"a": \n\t -12345678901234567890}', ['a']],
      ['{"a":[1e400]}', ['a', 0]],
      ['{"a":[1, \r\n 2E+400]}', ['a', 1]],
      ['{"a":-1.5e-400}', ['a']],
      ['{"a":0.10000000000000000555}', ['a']],
      ['{"a":123456789012345.678}', ['a']],
      ['  -1e400', []],
    ];
    for (const [text, path] of cases) expect(findInexactNumbers(text).map((found) => found.path), text).toEqual([path]);
  });

  it('reports each number whole, as written: its sign, its leading zero, every digit before the exponent', () => {
    const texts = ['-12345678901234567890', '0.10000000000000000555', '12e400', '12.25e-400', '1.25e400', '-0.5e-400', '1E+400'];
    for (const text of texts) expect(findInexactNumbers(`{"a":${text}}`).map((found) => found.text)).toEqual([text]);
    // The same, as the whole document.
    for (const text of ['12345678901234567890', ' 12.25e400', '12e400', '1.5e400', '-0.5e-400']) {
      expect(findInexactNumbers(text).map((found) => found.text)).toEqual([text.trim()]);
    }
  });

  it('a text cut inside a string (never given: it has parsed) ends the scan there', () => {
    expect(findInexactNumbers('{"a":1e400,"b":"cut 1e400').map((found) => found.path)).toEqual([['a']]);
  });

  it('a string as the whole document, however number-like its content, holds no number', () => {
    expect(findInexactNumbers('"ids:1e400,[2e400]"')).toEqual([]);
  });

  it('a very long number is shown cut short; 40 characters are shown whole', () => {
    const long = `1${'0'.repeat(400)}`;
    expect(findInexactNumbers(`{"a":${long}}`)[0]!.text).toBe(`${long.slice(0, 40)}… (401 characters)`);
    const forty = `1${'1'.repeat(39)}`;
    expect(findInexactNumbers(`{"a":${forty}}`)[0]!.text).toBe(forty);
  });

  it('exponents found by the fast test but exact are not reported', () => {
    expect(findInexactNumbers('{"a":1e5,"b":"3e4f","c":2.5E-3}')).toEqual([]);
  });
});

describe('messages', () => {
  it('says the number, why, and what to do', () => {
    const [found] = findInexactNumbers('{"metadata":{"id":9007199254740993123}}');
    expect(pathText(found!.path)).toBe('metadata.id');
    expect(inexactNumberMessage(found!)).toBe('number 9007199254740993123 cannot be kept exactly (more than 15 significant digits); send it as a string');
    expect(pathText(['metadata', 'ids', 0])).toBe('metadata.ids.0');
  });
});

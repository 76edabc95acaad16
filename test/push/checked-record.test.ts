import { describe, expect, it } from 'vitest';
import { checkRecord, deadLetterLine, emailOf, parseRecord, validateParsed } from '../../src/push/checked-record.js';

const ann = '{"email":"ANN@example.com ","firstName":"ann","lastName":"lee"}';

const STAMP = { runId: '0a1b2c3d', at: '2026-01-20T02:00:00.000Z' };
type LetterLine = (line: number, errorClass: string, reason: string, recordJson: string) => string;
/** A dead-letter line as this version writes it. */
const stamped: LetterLine = (line, errorClass, reason, recordJson) => deadLetterLine(line, STAMP, errorClass, reason, recordJson);
/** A dead-letter line as versions before runId and at wrote it: files of these must replay the same. */
const unstamped: LetterLine = (line, errorClass, reason, recordJson) =>
  `{"line":${line},"class":${JSON.stringify(errorClass)},"reason":${JSON.stringify(reason)},"record":${recordJson.replace(/[\r\n]/g, '')}}`;
/** Every replay case holds for both. */
const FORMATS = [
  ['stamped', stamped],
  ['unstamped (older)', unstamped],
] as const;

describe.each(FORMATS)('checkRecord, %s dead letters', (_format, letterLine) => {
  it('a valid record keeps its own text as the dead-letter record', () => {
    const checked = checkRecord({ line: 4, text: ann });
    expect(checked).toMatchObject({ line: 4, recordJson: ann, profile: { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' } });
  });

  it('not JSON, or a problem from the reader: the original text as a JSON string', () => {
    expect(checkRecord({ line: 2, text: '{"a":' })).toMatchObject({ line: 2, recordJson: '"{\\"a\\":"', reason: expect.stringMatching(/^not valid JSON/) });
    expect(checkRecord({ line: 3, text: 'x', problem: 'record is larger than 100 KB' })).toMatchObject({ recordJson: '"x"', reason: 'record is larger than 100 KB' });
  });

  it('a dead-letter line is unwrapped to its record, with the line it had in the original input', () => {
    const letter = letterLine(17, 'server', 'HTTP 503', ann);
    expect(checkRecord({ line: 1, text: letter })).toMatchObject({ line: 17, recordJson: ann, profile: { email: 'ann@example.com' } });
  });

  it('a dead letter holding original text is read again as a record (fixed text replays)', () => {
    const fixed = letterLine(9, 'client', 'not valid JSON', JSON.stringify(ann));
    expect(checkRecord({ line: 1, text: fixed })).toMatchObject({ line: 9, profile: { email: 'ann@example.com' } });
    const still = letterLine(9, 'client', 'not valid JSON', JSON.stringify('{"a":'));
    expect(checkRecord({ line: 1, text: still })).toMatchObject({ line: 9, recordJson: '"{\\"a\\":"', reason: expect.stringMatching(/^not valid JSON/) });
  });

  it('a 10,000-level record, fresh or replayed, is invalid without re-serializing it', () => {
    const deep = `{"email":"d@e.co","firstName":"D","lastName":"E","metadata":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const fresh = checkRecord({ line: 5, text: deep });
    expect(fresh).toMatchObject({ line: 5, recordJson: deep, reason: expect.stringMatching(/nested more than 32 levels/) });
    const replayed = checkRecord({ line: 1, text: letterLine(5, 'client', 'deep', deep) });
    expect(replayed).toMatchObject({ line: 5, recordJson: deep });
    // Hand-edited spacing: the prefix no longer matches; too deep to serialize, so the line is kept as text.
    const edited = `{ "line": 5, "class": "client", "reason": "deep", "record": ${deep} }`;
    expect(checkRecord({ line: 1, text: edited })).toMatchObject({ line: 5, recordJson: JSON.stringify(edited) });
  });

  it('a dead letter of bytes that were not UTF-8 is not sent while it still holds U+FFFD; fixed, it is', () => {
    const reason = 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")';
    const damaged = letterLine(12, 'client', reason, JSON.stringify('{"email":"a@b.co","firstName":"Jo\uFFFDe","lastName":"L"}'));
    expect(checkRecord({ line: 1, text: damaged })).toMatchObject({ line: 12, reason });
    const fixed = letterLine(12, 'client', reason, JSON.stringify('{"email":"a@b.co","firstName":"Joe","lastName":"L"}'));
    expect(checkRecord({ line: 1, text: fixed })).toMatchObject({ line: 12, profile: { firstName: 'Joe' } });
  });

  it('a too-large dead letter replays as itself: its line, its reason, its text, not wrapped again', () => {
    const big = JSON.stringify({ email: 'a@b.co', firstName: 'A', lastName: 'B', metadata: { note: 'x'.repeat(150 * 1024) } });
    const reason = 'record is larger than 100 KB (150 KB)';
    const letter = letterLine(10, 'client', reason, JSON.stringify(big));
    const replayed = checkRecord({ line: 3, text: letter, problem: 'record is larger than 100 KB (151 KB)' });
    expect(replayed).toMatchObject({ line: 10, reason, recordJson: JSON.stringify(big) });
    // Made small enough in place, it is a record again.
    const small = JSON.stringify({ email: 'a@b.co', firstName: 'A', lastName: 'B' });
    const shrunk = letterLine(10, 'client', reason, JSON.stringify(small)) + ' '.repeat(200 * 1024);
    expect(checkRecord({ line: 3, text: shrunk, problem: 'record is larger than 100 KB (200 KB)' })).toMatchObject({ line: 10, profile: { email: 'a@b.co' } });
  });

  it('a record past 1 MiB keeps its first 1 MiB, and the reason says so', () => {
    const huge = `{"x":"${'y'.repeat(2 * 1024 * 1024)}"}`;
    const checked = checkRecord({ line: 4, text: huge, problem: 'record is larger than 100 KB (2048 KB)' });
    expect(checked).toMatchObject({ line: 4, reason: 'record is larger than 100 KB (2048 KB); only its first 1024 KB are kept in "record"' });
    expect(JSON.parse(checked.recordJson)).toHaveLength(1024 * 1024);
  });
});

/** The message JSON.parse gives for this text, as the reason quotes it. */
function parseError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected invalid JSON');
}

describe.each(FORMATS)('checkRecord: exact results, %s dead letters', (_format, letterLine) => {
  // How a dead letter reads when it is validated as a profile instead of unwrapped.
  const missing = 'email: is required; firstName: is required; lastName: is required';

  it('a record not JSON: the reason quotes the parser, and it is the only error, at no path', () => {
    expect(checkRecord({ line: 2, text: '{"a":' })).toEqual({
      line: 2,
      recordJson: '"{\\"a\\":"',
      reason: `not valid JSON (${parseError('{"a":')})`,
      errors: [{ path: '', message: `not valid JSON (${parseError('{"a":')})` }],
    });
  });

  it('a valid record keeps its text trimmed, and an invalid one lists every field error', () => {
    expect(checkRecord({ line: 1, text: `  ${ann}\t` })).toMatchObject({ recordJson: ann });
    expect(checkRecord({ line: 6, text: ' {"email":"x","firstName":"A"} ' })).toEqual({
      line: 6,
      recordJson: '{"email":"x","firstName":"A"}',
      reason: 'email: must be a valid email address; lastName: is required',
      errors: [
        { path: 'email', message: 'must be a valid email address' },
        { path: 'lastName', message: 'is required' },
      ],
    });
    expect(checkRecord({ line: 1, text: 'null' })).toMatchObject({ recordJson: 'null', reason: 'must be a JSON object' });
  });

  it('only an object of exactly the four dead-letter keys, well typed, is a dead letter', () => {
    const fifth = `{"line":2,"class":"client","reason":"r","record":${ann},"note":1}`;
    expect(checkRecord({ line: 8, text: fifth })).toMatchObject({ line: 8, recordJson: fifth, reason: `${missing}; line,class,reason,record,note: is not an accepted field` });
    const badClass = `{"line":2,"class":"other","reason":"r","record":${ann}}`;
    expect(checkRecord({ line: 8, text: badClass })).toMatchObject({ line: 8, recordJson: badClass, reason: `${missing}; line,class,reason,record: is not an accepted field` });
  });

  it('a dead letter holding text: the text is trimmed, and a bad one is reported with the letter\'s line', () => {
    expect(checkRecord({ line: 1, text: letterLine(9, 'client', 'r', JSON.stringify(` ${ann} `)) })).toMatchObject({ line: 9, recordJson: ann });
    const still = letterLine(9, 'client', 'r', JSON.stringify('{"a":'));
    expect(checkRecord({ line: 1, text: still })).toEqual({
      line: 9,
      recordJson: '"{\\"a\\":"',
      reason: `not valid JSON (${parseError('{"a":')})`,
      errors: [{ path: '', message: `not valid JSON (${parseError('{"a":')})` }],
    });
  });

  it('a dead letter is unwrapped once only: one holding another as text is not a profile', () => {
    const inner = letterLine(3, 'server', 'HTTP 503', ann);
    const outer = letterLine(7, 'client', 'r', JSON.stringify(inner));
    const keys = Object.keys(JSON.parse(inner) as object).join(',');
    expect(checkRecord({ line: 1, text: outer })).toMatchObject({ line: 7, recordJson: inner, reason: `${missing}; ${keys}: is not an accepted field` });
  });

  it('U+FFFD holds a replay back only when the reason is the reader\'s UTF-8 one, and is kept as the letter\'s text', () => {
    const reason = 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")';
    const text = '{"email":"a@b.co","firstName":"Jo\uFFFDe","lastName":"L"}';
    expect(checkRecord({ line: 1, text: letterLine(12, 'client', reason, JSON.stringify(text)) })).toEqual({
      line: 12,
      recordJson: JSON.stringify(text),
      reason,
      errors: [{ path: '', message: reason }],
    });
    // Another reason: the character is the record's own (a user may type U+FFFD).
    expect(checkRecord({ line: 1, text: letterLine(12, 'client', 'HTTP 503', JSON.stringify(text)) })).toMatchObject({ line: 12, profile: { firstName: 'Jo\uFFFDe' } });
  });

  it('a hand-edited dead letter of a shallow record is re-serialized; one 1,000 levels deep still is, 1,001 is kept as the line', () => {
    const edited = ` { "line": 4, "class": "server", "reason": "r", "record": { "email": "a@b.co", "firstName": "A", "lastName": "B" } } `;
    expect(checkRecord({ line: 1, text: edited })).toMatchObject({ line: 4, recordJson: '{"email":"a@b.co","firstName":"A","lastName":"B"}' });
    const withNull = `{ "line": 4, "class": "server", "reason": "r", "record": { "email": "a@b.co", "metadata": null } }`;
    expect(checkRecord({ line: 1, text: withNull })).toMatchObject({ line: 4, recordJson: '{"email":"a@b.co","metadata":null}' });
    const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    const at1000 = `{ "line": 4, "class": "server", "reason": "r", "record": ${nested(1000)} }`;
    expect(checkRecord({ line: 1, text: at1000 })).toMatchObject({ line: 4, recordJson: nested(1000) });
    const at1001 = `{ "line": 4, "class": "server", "reason": "r", "record": ${nested(1001)} }`;
    expect(checkRecord({ line: 1, text: at1001 })).toMatchObject({ line: 4, recordJson: JSON.stringify(at1001) });
  });

  it('a dead letter written by us, surrounded by blanks, still has its record cut out of the line', () => {
    const letter = letterLine(5, 'server', 'HTTP 503', '{ "email":"a@b.co", "firstName":"A", "lastName":"B" }');
    expect(checkRecord({ line: 1, text: `\t${letter}  ` })).toMatchObject({ line: 5, recordJson: '{ "email":"a@b.co", "firstName":"A", "lastName":"B" }' });
  });
});

describe.each(FORMATS)('checkRecord: problem records, %s dead letters', (_format, letterLine) => {
  it('a problem record is its text as a JSON string, with the reader\'s reason, even when it parses', () => {
    expect(checkRecord({ line: 3, text: ann, problem: 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")' })).toEqual({
      line: 3,
      recordJson: JSON.stringify(ann),
      reason: 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")',
      errors: [{ path: '', message: 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")' }],
    });
  });

  it('keeps a problem record of exactly 1 MiB whole; one character more is cut, and a cut one says so', () => {
    const exact = 'y'.repeat(1024 * 1024);
    expect(checkRecord({ line: 1, text: exact, problem: 'p' })).toMatchObject({ recordJson: JSON.stringify(exact), reason: 'p' });
    expect(checkRecord({ line: 1, text: `${exact}z`, problem: 'p' })).toMatchObject({ recordJson: JSON.stringify(exact), reason: 'p; only its first 1024 KB are kept in "record"' });
    expect(checkRecord({ line: 1, text: 'abc', problem: 'p', cut: true })).toMatchObject({ recordJson: '"abc"', reason: 'p; only its first 1024 KB are kept in "record"' });
  });

  it('unwraps only a too-large dead letter: not one the reader cut, not one with another problem, not one holding an object', () => {
    const letter = letterLine(10, 'client', 'HTTP 503', JSON.stringify(ann));
    expect(checkRecord({ line: 3, text: letter, problem: 'record is larger than 100 KB (101 KB)', cut: true })).toMatchObject({ line: 3, recordJson: JSON.stringify(letter) });
    expect(checkRecord({ line: 3, text: letter, problem: 'the JSON array is not closed (file truncated?)' })).toMatchObject({ line: 3, recordJson: JSON.stringify(letter) });
    const holdingObject = letterLine(10, 'client', 'HTTP 503', ann);
    expect(checkRecord({ line: 3, text: holdingObject, problem: 'record is larger than 100 KB (101 KB)' })).toMatchObject({ line: 3, recordJson: JSON.stringify(holdingObject) });
    expect(checkRecord({ line: 3, text: '{"a":', problem: 'record is larger than 100 KB (101 KB)' })).toMatchObject({ line: 3, recordJson: '"{\\"a\\":"' });
  });

  it('a too-large dead letter whose text is exactly 100 KB (in bytes, not characters) is read again; a byte more is not', () => {
    const withNote = (bytes: number) => {
      const base = `{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"note":""}}`;
      // Two-byte characters: a character count would let the over-size text through.
      const note = 'é'.repeat(Math.floor((bytes - base.length) / 2)) + 'x'.repeat((bytes - base.length) % 2);
      return `{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"note":"${note}"}}`;
    };
    const fits = withNote(100 * 1024);
    expect(Buffer.byteLength(fits)).toBe(100 * 1024);
    expect(checkRecord({ line: 3, text: letterLine(10, 'client', 'r', JSON.stringify(fits)), problem: 'record is larger than 100 KB (101 KB)' })).toMatchObject({
      line: 10,
      recordJson: fits,
      profile: { email: 'a@b.co' },
    });
    const over = withNote(100 * 1024 + 1);
    expect(checkRecord({ line: 3, text: letterLine(10, 'client', 'r', JSON.stringify(over)), problem: 'record is larger than 100 KB (101 KB)' })).toEqual({
      line: 10,
      recordJson: JSON.stringify(over),
      reason: 'r',
      errors: [{ path: '', message: 'r' }],
    });
  });
});

describe('parseRecord and validateParsed', () => {
  it('parses without validating, then validates', () => {
    const parsed = parseRecord({ line: 2, text: '{"email":"x"}' });
    expect(parsed).toEqual({ line: 2, recordJson: '{"email":"x"}', value: { email: 'x' } });
    expect(validateParsed({ line: 2, recordJson: 'j', value: { email: 'x' } })).toMatchObject({ line: 2, recordJson: 'j', reason: expect.stringMatching(/^email: must be a valid email address; /) });
    expect(validateParsed({ line: 2, recordJson: 'j', value: JSON.parse(ann) })).toEqual({
      line: 2,
      recordJson: 'j',
      profile: { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' },
    });
  });
});

describe('emailOf', () => {
  it('is the trimmed, lower-cased email of an object that has a string one', () => {
    expect(emailOf({ email: ' Ann@Example.COM ' })).toBe('ann@example.com');
    expect(emailOf({ email: 5 })).toBeUndefined();
    expect(emailOf({})).toBeUndefined();
    expect(emailOf(null)).toBeUndefined();
    expect(emailOf('a@b.co')).toBeUndefined();
  });
});

describe('deadLetterLine', () => {
  it('writes line, runId, at, class, reason, then the record text as is, in that order', () => {
    expect(deadLetterLine(3, STAMP, 'client', 'a "quoted" reason', '{ "x": 1 }')).toBe(
      '{"line":3,"runId":"0a1b2c3d","at":"2026-01-20T02:00:00.000Z","class":"client","reason":"a \\"quoted\\" reason","record":{ "x": 1 }}',
    );
    const parsed = JSON.parse(deadLetterLine(3, STAMP, 'server', 'r', 'null')) as object;
    expect(Object.keys(parsed)).toEqual(['line', 'runId', 'at', 'class', 'reason', 'record']);
  });

  it('keeps a record that spanned several lines of a JSON array on one line, the same JSON', () => {
    const multiLine = '{\n    "email": "nope",\r\n    "firstName": "A",\n    "lastName": "B"\n  }';
    const letter = deadLetterLine(3, STAMP, 'client', 'email: must be a valid email address', multiLine);
    expect(letter).not.toMatch(/[\r\n]/);
    expect(JSON.parse(letter)).toEqual({ line: 3, ...STAMP, class: 'client', reason: 'email: must be a valid email address', record: JSON.parse(multiLine) });
    // Replayed, it is unwrapped to the same record at its original line.
    expect(checkRecord({ line: 1, text: letter })).toMatchObject({ line: 3, reason: 'email: must be a valid email address' });
  });
});

describe('checkRecord: the stamp of a dead letter', () => {
  const record = '{ "email":"a@b.co", "firstName":"A", "lastName":"B" }';

  it('a stamped line has its record cut out as written (spacing kept), whatever the stamp says', () => {
    const odd = { runId: 'run "quoted" \\ id', at: 'not a time' };
    expect(checkRecord({ line: 1, text: deadLetterLine(5, odd, 'server', 'HTTP 503', record) })).toMatchObject({ line: 5, recordJson: record });
  });

  it('a hand-edited line with only one of runId and at, or other spacing, is still a dead letter (re-serialized)', () => {
    const onlyRunId = `{"line":4,"runId":"x","class":"server","reason":"r","record":${record}}`;
    expect(checkRecord({ line: 1, text: onlyRunId })).toMatchObject({ line: 4, recordJson: onlyRunId.slice(onlyRunId.indexOf('"record":') + 9, -1) });
    const onlyAt = `{ "line": 4, "at": "2026-01-01T00:00:00Z", "class": "server", "reason": "r", "record": ${record} }`;
    expect(checkRecord({ line: 1, text: onlyAt })).toMatchObject({ line: 4, recordJson: '{"email":"a@b.co","firstName":"A","lastName":"B"}' });
    const spaced = `{ "line": 4, "runId": "x", "at": "y", "class": "server", "reason": "r", "record": ${record} }`;
    expect(checkRecord({ line: 1, text: spaced })).toMatchObject({ line: 4, recordJson: '{"email":"a@b.co","firstName":"A","lastName":"B"}' });
    // Keys in another order: the prefix does not match, so the record is re-serialized, not cut wrongly.
    const reordered = `{"runId":"x","line":4,"at":"y","class":"server","reason":"r","record":${record}}`;
    expect(checkRecord({ line: 1, text: reordered })).toMatchObject({ line: 4, recordJson: '{"email":"a@b.co","firstName":"A","lastName":"B"}' });
  });

  it('a stamped line with a seventh key, or a stamp that is not a string, is a record, not a dead letter', () => {
    const missing = 'email: is required; firstName: is required; lastName: is required';
    const seventh = `{"line":2,"runId":"x","at":"y","class":"client","reason":"r","record":${ann},"note":1}`;
    expect(checkRecord({ line: 8, text: seventh })).toMatchObject({ line: 8, recordJson: seventh, reason: `${missing}; line,runId,at,class,reason,record,note: is not an accepted field` });
    const numericRunId = `{"line":2,"runId":7,"at":"y","class":"client","reason":"r","record":${ann}}`;
    expect(checkRecord({ line: 8, text: numericRunId })).toMatchObject({ line: 8, recordJson: numericRunId });
    const noRecord = `{"line":2,"runId":"x","at":"y","class":"client","reason":"r"}`;
    expect(checkRecord({ line: 8, text: noRecord })).toMatchObject({ line: 8, recordJson: noRecord });
  });

  it('a 10,000-level record in a stamped line is cut out of it, never re-serialized', () => {
    const deep = `{"email":"d@e.co","firstName":"D","lastName":"E","metadata":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    expect(checkRecord({ line: 1, text: deadLetterLine(5, STAMP, 'client', 'deep', deep) })).toMatchObject({ line: 5, recordJson: deep });
    // The same, edited by hand: too deep to serialize, so the line is kept as text.
    const edited = `{ "line": 5, "runId": "x", "at": "y", "class": "client", "reason": "deep", "record": ${deep} }`;
    expect(checkRecord({ line: 1, text: edited })).toMatchObject({ line: 5, recordJson: JSON.stringify(edited) });
  });
});

describe.each(FORMATS)('checkRecord: numbers a double cannot keep, %s dead letters', (_format, letterLine) => {
  const big = '{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"id":9007199254740993123}}';
  const message = 'number 9007199254740993123 cannot be kept exactly (more than 15 significant digits); send it as a string';

  it('a number past 2^53 makes the record invalid, naming the field; the record keeps its own text, digits intact', () => {
    expect(checkRecord({ line: 3, text: big })).toEqual({
      line: 3,
      recordJson: big,
      reason: `metadata.id: ${message}`,
      errors: [{ path: 'metadata.id', message }],
    });
  });

  it('is reported with the other field errors', () => {
    const text = '{"email":"nope","firstName":"A","lastName":"B","metadata":{"score":1e400}}';
    expect(checkRecord({ line: 1, text })).toMatchObject({
      reason: 'email: must be a valid email address; metadata.score: number 1e400 cannot be kept exactly (too large for a number); send it as a string',
    });
  });

  it('a number only spelled differently is kept: 1.0, 1e2, -0, 2^53 + 2', () => {
    const text = '{"email":"a@b.co","firstName":"A","lastName":"B","metadata":{"a":1.0,"b":1e2,"c":-0,"d":9007199254740994}}';
    expect(checkRecord({ line: 1, text })).toMatchObject({ profile: { metadata: { a: 1, b: 100, c: -0, d: 9007199254740994 } } });
  });

  it('a replayed dead letter is checked on its own text: written by us, holding the text, or edited by hand', () => {
    const ours = checkRecord({ line: 1, text: letterLine(7, 'server', 'HTTP 503', big) });
    expect(ours).toMatchObject({ line: 7, recordJson: big, reason: `metadata.id: ${message}` });
    const asText = checkRecord({ line: 1, text: letterLine(7, 'client', 'r', JSON.stringify(big)) });
    expect(asText).toMatchObject({ line: 7, recordJson: big, reason: `metadata.id: ${message}` });
    // Edited by hand, the record cannot be cut out of the line, and re-serializing it would write
    // the changed digits: the line is kept as text instead.
    const edited = `{ "line": 7, "class": "server", "reason": "r", "record": ${big} }`;
    const checked = checkRecord({ line: 1, text: edited });
    expect(checked).toMatchObject({ line: 7, recordJson: JSON.stringify(edited), reason: `metadata.id: ${message}` });
  });

  it("only the record's own numbers count, not the dead letter's line", () => {
    const ok = '{"email":"a@b.co","firstName":"A","lastName":"B"}';
    expect(checkRecord({ line: 1, text: `{"line":7.00000000000000000001,"class":"server","reason":"r","record":${ok}}` })).toMatchObject({ line: 7, recordJson: ok, profile: { email: 'a@b.co' } });
  });

  it('a hand-edited dead letter holding text keeps that text as its record: a string survives re-serializing', () => {
    const reason = 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")';
    const text = '{"email":"a@b.co","firstName":"Jo\uFFFDe","lastName":"L","metadata":{"id":9007199254740993123}}';
    const edited = `{ "line": 12, "class": "client", "reason": ${JSON.stringify(reason)}, "record": ${JSON.stringify(text)} }`;
    expect(checkRecord({ line: 1, text: edited })).toMatchObject({ line: 12, recordJson: JSON.stringify(text), reason });
  });
});

describe('emailOf: the key push looks the state up by is the address as sent', () => {
  it('an internationalized domain keys as its ASCII form, so both spellings are one mailbox', () => {
    expect(emailOf({ email: ' Ann@BÜCHER.de ' })).toBe('ann@xn--bcher-kva.de');
    expect(emailOf({ email: 'ann@xn--bcher-kva.de' })).toBe('ann@xn--bcher-kva.de');
    const sent = checkRecord({ line: 1, text: '{"email":"Ann@BÜCHER.de","firstName":"A","lastName":"B"}' });
    expect(sent).toMatchObject({ profile: { email: emailOf({ email: 'Ann@BÜCHER.de' }) } });
  });
});

import { describe, expect, it } from 'vitest';
import { checkRecord, deadLetterLine } from '../../src/push/checked-record.js';

const ann = '{"email":"ANN@example.com ","firstName":"ann","lastName":"lee"}';

describe('checkRecord', () => {
  it('a valid record keeps its own text as the dead-letter record', () => {
    const checked = checkRecord({ line: 4, text: ann });
    expect(checked).toMatchObject({ line: 4, recordJson: ann, profile: { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' } });
  });

  it('not JSON, or a problem from the reader: the original text as a JSON string', () => {
    expect(checkRecord({ line: 2, text: '{"a":' })).toMatchObject({ line: 2, recordJson: '"{\\"a\\":"', reason: expect.stringMatching(/^not valid JSON/) });
    expect(checkRecord({ line: 3, text: 'x', problem: 'record is larger than 100 KB' })).toMatchObject({ recordJson: '"x"', reason: 'record is larger than 100 KB' });
  });

  it('a dead-letter line is unwrapped to its record, with the line it had in the original input', () => {
    const letter = deadLetterLine(17, 'server', 'HTTP 503', ann);
    expect(checkRecord({ line: 1, text: letter })).toMatchObject({ line: 17, recordJson: ann, profile: { email: 'ann@example.com' } });
  });

  it('a dead letter holding original text is read again as a record (fixed text replays)', () => {
    const fixed = deadLetterLine(9, 'client', 'not valid JSON', JSON.stringify(ann));
    expect(checkRecord({ line: 1, text: fixed })).toMatchObject({ line: 9, profile: { email: 'ann@example.com' } });
    const still = deadLetterLine(9, 'client', 'not valid JSON', JSON.stringify('{"a":'));
    expect(checkRecord({ line: 1, text: still })).toMatchObject({ line: 9, recordJson: '"{\\"a\\":"', reason: expect.stringMatching(/^not valid JSON/) });
  });

  it('a 10,000-level record, fresh or replayed, is invalid without re-serializing it', () => {
    const deep = `{"email":"d@e.co","firstName":"D","lastName":"E","metadata":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const fresh = checkRecord({ line: 5, text: deep });
    expect(fresh).toMatchObject({ line: 5, recordJson: deep, reason: expect.stringMatching(/nested more than 32 levels/) });
    const replayed = checkRecord({ line: 1, text: deadLetterLine(5, 'client', 'deep', deep) });
    expect(replayed).toMatchObject({ line: 5, recordJson: deep });
    // Hand-edited spacing: the prefix no longer matches; too deep to serialize, so the line is kept as text.
    const edited = `{ "line": 5, "class": "client", "reason": "deep", "record": ${deep} }`;
    expect(checkRecord({ line: 1, text: edited })).toMatchObject({ line: 5, recordJson: JSON.stringify(edited) });
  });

  it('a dead letter of bytes that were not UTF-8 is not sent while it still holds U+FFFD; fixed, it is', () => {
    const reason = 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")';
    const damaged = deadLetterLine(12, 'client', reason, JSON.stringify('{"email":"a@b.co","firstName":"Jo\uFFFDe","lastName":"L"}'));
    expect(checkRecord({ line: 1, text: damaged })).toMatchObject({ line: 12, reason });
    const fixed = deadLetterLine(12, 'client', reason, JSON.stringify('{"email":"a@b.co","firstName":"Joe","lastName":"L"}'));
    expect(checkRecord({ line: 1, text: fixed })).toMatchObject({ line: 12, profile: { firstName: 'Joe' } });
  });

  it('a too-large dead letter replays as itself: its line, its reason, its text, not wrapped again', () => {
    const big = JSON.stringify({ email: 'a@b.co', firstName: 'A', lastName: 'B', metadata: { note: 'x'.repeat(150 * 1024) } });
    const reason = 'record is larger than 100 KB (150 KB)';
    const letter = deadLetterLine(10, 'client', reason, JSON.stringify(big));
    const replayed = checkRecord({ line: 3, text: letter, problem: 'record is larger than 100 KB (151 KB)' });
    expect(replayed).toMatchObject({ line: 10, reason, recordJson: JSON.stringify(big) });
    // Made small enough in place, it is a record again.
    const small = JSON.stringify({ email: 'a@b.co', firstName: 'A', lastName: 'B' });
    const shrunk = deadLetterLine(10, 'client', reason, JSON.stringify(small)) + ' '.repeat(200 * 1024);
    expect(checkRecord({ line: 3, text: shrunk, problem: 'record is larger than 100 KB (200 KB)' })).toMatchObject({ line: 10, profile: { email: 'a@b.co' } });
  });

  it('a record past 1 MiB keeps its first 1 MiB, and the reason says so', () => {
    const huge = `{"x":"${'y'.repeat(2 * 1024 * 1024)}"}`;
    const checked = checkRecord({ line: 4, text: huge, problem: 'record is larger than 100 KB (2048 KB)' });
    expect(checked).toMatchObject({ line: 4, reason: 'record is larger than 100 KB (2048 KB); only its first 1024 KB are kept in "record"' });
    expect(JSON.parse(checked.recordJson)).toHaveLength(1024 * 1024);
  });
});

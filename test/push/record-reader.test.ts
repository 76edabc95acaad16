import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { readRecordChunks, readRecords, type RawRecord } from '../../src/push/record-reader.js';

async function read(
  input: string | Buffer,
  { chunk, maxBytes, keepBytes }: { chunk?: number; maxBytes?: number; keepBytes?: number } = {},
): Promise<RawRecord[]> {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const size = chunk ?? (bytes.length || 1);
  async function* chunks() {
    // Byte chunks: a multi-byte character may be cut anywhere, as a real read can cut it. All in one
    // buffer, scribbled over as soon as the next is asked for, as openInput reuses its buffer:
    // nothing read may keep a view of it.
    const reused = Buffer.alloc(size);
    for (let i = 0; i < bytes.length; i += size) {
      const piece = bytes.subarray(i, i + size);
      piece.copy(reused);
      yield reused.subarray(0, piece.length);
      reused.fill('*');
    }
  }
  const out: RawRecord[] = [];
  for await (const record of readRecords(chunks(), { maxBytes, keepBytes })) out.push(record);
  return out;
}

describe('readRecords: NDJSON', () => {
  it('yields one record a line with its line number, skipping blank lines and CRLF', async () => {
    expect(await read('{"a":1}\r\n\n  \n{"b":2}\n{"c":3}')).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 4, text: '{"b":2}' },
      { line: 5, text: '{"c":3}' },
    ]);
  });

  it('gives the same records however the input is chunked, multi-byte characters included', async () => {
    const text = '{"n":"Élodie"}\n{"n":"Zoë ✓"}\n';
    expect(await read(text, { chunk: 1 })).toEqual(await read(text));
    expect((await read(text, { chunk: 3 }))[1]).toEqual({ line: 2, text: '{"n":"Zoë ✓"}' });
  });

  it('passes a malformed line through as text (the caller reports it) and goes on', async () => {
    expect(await read('{"a":\n{"b":2}\n')).toEqual([
      { line: 1, text: '{"a":' },
      { line: 2, text: '{"b":2}' },
    ]);
  });

  it('keeps an oversized line as a problem record with its text, and reads on', async () => {
    const big = `{"x":"${'y'.repeat(500)}"}`;
    expect(await read(`{"a":1}\n${big}\n{"b":2}\n`, { chunk: 7, maxBytes: 100 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: big, problem: 'record is larger than 100 bytes (508 bytes)' },
      { line: 3, text: '{"b":2}' },
    ]);
  });

  it('cuts a runaway line at keepBytes and says so, without buffering the rest', async () => {
    const big = `{"x":"${'y'.repeat(5000)}"}`;
    const [, record, after] = await read(`{"a":1}\n${big}\n{"b":2}\n`, { chunk: 64, maxBytes: 100, keepBytes: 200 });
    expect(record).toEqual({ line: 2, text: big.slice(0, 200), problem: 'record is larger than 100 bytes (5 KB)', cut: true });
    expect(after).toEqual({ line: 3, text: '{"b":2}' });
  });

  it('flags a line with invalid UTF-8 instead of turning it into U+FFFD silently', async () => {
    const bad = Buffer.concat([Buffer.from('{"a":1}\n{"n":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n{"n":"Zoë"}\n')]);
    for (const chunk of [1, 3, 1000]) {
      expect(await read(bad, { chunk })).toEqual([
        { line: 1, text: '{"a":1}' },
        { line: 2, text: '{"n":"\uFFFD("}', problem: 'not valid UTF-8 (the bad bytes show as U+FFFD in "record")' },
        { line: 3, text: '{"n":"Zoë"}' },
      ]);
    }
  });

  it('reads a file whose first line is an array as NDJSON when more lines follow', async () => {
    for (const chunk of [1, 4, 100]) {
      expect(await read('["oops"]\n{"a":1}\n{"b":2}\n{"c":3}\n', { chunk })).toEqual([
        { line: 1, text: '["oops"]' },
        { line: 2, text: '{"a":1}' },
        { line: 3, text: '{"b":2}' },
        { line: 4, text: '{"c":3}' },
      ]);
    }
  });

  it('passes a 10,000-level record through as text (no recursion in the reader)', async () => {
    const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(await read(`{"a":1}\n${deep}\n{"b":2}\n`, { chunk: 999 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: deep },
      { line: 3, text: '{"b":2}' },
    ]);
  });

  it('refuses input that is not JSON at all, as a usage error', async () => {
    await expect(read('email,firstName\na@b.c,Ann\n')).rejects.toBeInstanceOf(UsageError);
  });

  it('reads nothing from an empty input', async () => {
    expect(await read('')).toEqual([]);
    expect(await read('\n  \n')).toEqual([]);
  });
});

describe('readRecords: JSON array', () => {
  it('yields each element with the line it starts on', async () => {
    const text = '\uFEFF[\n  {"a": 1},\n  {"b": [1, 2]},\n  {"c": {"d": "]},{"}}\n]\n';
    expect(await read(text)).toEqual([
      { line: 2, text: '{"a": 1}' },
      { line: 3, text: '{"b": [1, 2]}' },
      { line: 4, text: '{"c": {"d": "]},{"}}' },
    ]);
  });

  it('handles escaped quotes and any chunking', async () => {
    const text = '[{"q":"a \\"quoted\\", [tricky]"},{"z":2}]';
    expect(await read(text, { chunk: 1 })).toEqual([
      { line: 1, text: '{"q":"a \\"quoted\\", [tricky]"}' },
      { line: 1, text: '{"z":2}' },
    ]);
  });

  it('keeps going past a malformed element and a non-object element', async () => {
    expect(await read('[{"a":},\n"str",\n{"b":2}]')).toEqual([
      { line: 1, text: '{"a":}' },
      { line: 2, text: '"str"' },
      { line: 3, text: '{"b":2}' },
    ]);
  });

  it('reports a truncated array and content after the array', async () => {
    expect(await read('[{"a":1},\n{"b":')).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":', problem: 'the JSON array is not closed (file truncated?)' },
    ]);
  });

  it('reads what follows a closed array line by line, so nothing after it is lost', async () => {
    expect(await read('[\n{"a":1}\n]\nextra\n{"b":2}\n', { chunk: 3 })).toEqual([
      { line: 2, text: '{"a":1}' },
      { line: 4, text: 'extra' },
      { line: 5, text: '{"b":2}' },
    ]);
  });

  it('reads a one-line array file as an array, and a BOM before either format', async () => {
    expect(await read('[{"a":1},{"b":2}]\n\n')).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 1, text: '{"b":2}' },
    ]);
    expect(await read('\uFEFF{"a":1}\n', { chunk: 1 })).toEqual([{ line: 1, text: '{"a":1}' }]);
  });

  it('keeps an oversized element as a problem record with its text', async () => {
    const big = `{"x":"${'y'.repeat(500)}"}`;
    expect(await read(`[${big},{"b":2}]`, { chunk: 10, maxBytes: 100 })).toEqual([
      { line: 1, text: big, problem: 'record is larger than 100 bytes (508 bytes)' },
      { line: 1, text: '{"b":2}' },
    ]);
  });

  it('reads an empty array as no records', async () => {
    expect(await read('[ ]')).toEqual([]);
  });

  it('a missing closing quote costs one element, not the rest of the array', async () => {
    const text = '[\n{"a":"x},\n{"b":2},\n{"c":3}\n]\n';
    const records = await read(text, { chunk: 5 });
    expect(records.map((r) => r.text)).toEqual(['{"a":"x},', '{"b":2}', '{"c":3}']);
  });

  it('a missing closing brace, one element per line: only that element is lost, cut before the next `{`', async () => {
    const element = (i: number) => `  {"email":"u${i}@example.com","firstName":"A","lastName":"B"}`;
    const lines = ['[', ...Array.from({ length: 50 }, (_, i) => `${i === 1 ? element(i).slice(0, -1) : element(i)}${i < 49 ? ',' : ''}`), ']'];
    const records = await read(lines.join('\n') + '\n', { chunk: 61 });
    expect(records).toHaveLength(50);
    expect(records.filter((r) => { try { JSON.parse(r.text); return false; } catch { return true; } }).map((r) => r.line)).toEqual([3]);
  });

  it('a missing closing brace in a multi-line pretty print, and a missing opening brace: one element each', async () => {
    const pretty = (i: number) => JSON.stringify({ email: `y${i}@example.com`, firstName: 'A', lastName: 'B' }, null, 2);
    const missingClose = `[\n${Array.from({ length: 30 }, (_, i) => (i === 1 ? pretty(i).replace(/\n}$/, '') : pretty(i))).join(',\n')}\n]\n`;
    const parsed = (records: RawRecord[]) => records.filter((r) => { try { JSON.parse(r.text); return true; } catch { return false; } }).length;
    const a = await read(missingClose, { chunk: 77 });
    expect([a.length, parsed(a)]).toEqual([30, 29]);
    const flat = (i: number) => JSON.stringify({ email: `v${i}@example.com`, firstName: 'A', lastName: 'B' });
    const missingOpen = `[\n${Array.from({ length: 30 }, (_, i) => `  ${i === 1 ? flat(i).slice(1) : flat(i)}`).join(',\n')}\n]\n`;
    // The stray fields at the array's level split at their commas: three invalid records, no valid one lost.
    const b = await read(missingOpen, { chunk: 77 });
    expect([b.length, parsed(b)]).toEqual([32, 29]);
  });
});

describe('readRecords: format', () => {
  it('names what the input starts with, 12 bytes of it, when it is neither format', async () => {
    await expect(read('  email,firstName\na@b.c,Ann\n')).rejects.toThrow('not a JSON array or NDJSON file (it starts with "email,firstN")');
  });

  it('a lone BOM, or one followed by blanks, is an empty input; a BOM cut short is not one', async () => {
    expect(await read('\uFEFF', { chunk: 1 })).toEqual([]);
    expect(await read('\uFEFF \r\n\t', { chunk: 2 })).toEqual([]);
    await expect(read(Buffer.from([0xef, 0xbb]))).rejects.toThrow('not a JSON array or NDJSON file');
  });

  it('blank lines, CR and tabs before the first record count as lines', async () => {
    expect(await read('\r\n\t\n{"a":1}\n')).toEqual([{ line: 3, text: '{"a":1}' }]);
    expect(await read('\n \t\n[\n{"a":1}\n]\n', { chunk: 2 })).toEqual([{ line: 4, text: '{"a":1}' }]);
  });

  it.each([
    ['[1]\n{"a":1}\n', [{ line: 1, text: '[1]' }, { line: 2, text: '{"a":1}' }]],
    ['[{"a":1}]\n{"b":2}\n', [{ line: 1, text: '[{"a":1}]' }, { line: 2, text: '{"b":2}' }]],
    ['[1]  \t\n{"a":1}\n', [{ line: 1, text: '[1]  \t' }, { line: 2, text: '{"a":1}' }]],
    ['[""]\n{"a":1}\n', [{ line: 1, text: '[""]' }, { line: 2, text: '{"a":1}' }]],
    ['["]"]\n{"a":1}\n', [{ line: 1, text: '["]"]' }, { line: 2, text: '{"a":1}' }]],
    ['["\\"]"]\n{"a":1}\n', [{ line: 1, text: '["\\"]"]' }, { line: 2, text: '{"a":1}' }]],
  ])('a first line %j that closes its array, then more lines: NDJSON', async (text, records) => {
    for (const chunk of [1, 3, 100]) expect(await read(text, { chunk })).toEqual(records);
  });

  it('an array with more on its first line is an array file, and what follows it is read as lines', async () => {
    expect(await read('[1] x\n{"a":1}\n')).toEqual([
      { line: 1, text: '1' },
      { line: 1, text: ' x' },
      { line: 2, text: '{"a":1}' },
    ]);
  });

  it('a string left open at the end of line 1 makes it an array file, whatever follows', async () => {
    expect(await read('["ab\n"]\n')).toEqual([{ line: 1, text: '"ab\n"]', problem: 'the JSON array is not closed (file truncated?)' }]);
    // Read as NDJSON (the array closing on line 2, then a line), the first record would be `["ab`.
    const [first] = await read('["ab\n"]\n{"a":1}\n');
    expect(first).toMatchObject({ line: 1, text: expect.stringMatching(/^"ab\n"\]/) });
  });

  it('a one-line array cut short is reported, not dropped', async () => {
    expect(await read('[{"a":1},{"b":')).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 1, text: '{"b":', problem: 'the JSON array is not closed (file truncated?)' },
    ]);
  });

  it('decides by the time maxBytes are held: an array still open, or blanks after it, make it an array file', async () => {
    // With more held, the same input would be NDJSON (the array closes on line 1 and more lines follow).
    expect(await read('[{"a":1},{"b":2}]\n{"c":3}\n', { chunk: 5, maxBytes: 10 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 1, text: '{"b":2}' },
      { line: 2, text: '{"c":3}' },
    ]);
    const blanks = `[1]\n${'\n'.repeat(30)}{"a":1}\n`;
    expect(await read(blanks, { chunk: 5, maxBytes: 20 })).toEqual([
      { line: 1, text: '1' },
      { line: 32, text: '{"a":1}' },
    ]);
    expect(await read(blanks, { chunk: 5, maxBytes: 100 })).toEqual([
      { line: 1, text: '[1]' },
      { line: 32, text: '{"a":1}' },
    ]);
  });

  it('holding exactly maxBytes is not yet past them: the format waits for the next read', async () => {
    // 10 bytes: the array is still open; the next read closes it on line 1 and starts line 2.
    expect(await read('[{"a":1},{"b":2}]\n{"c":3}\n', { chunk: 10, maxBytes: 10 })).toEqual([
      { line: 1, text: '[{"a":1},{"b":2}]', problem: 'record is larger than 10 bytes (17 bytes)' },
      { line: 2, text: '{"c":3}' },
    ]);
    // 20 bytes: the array closed on line 1 and only blank lines follow, so far.
    expect(await read(`[1]\n${'\n'.repeat(16)}{"a":1}\n`, { chunk: 20, maxBytes: 20 })).toEqual([
      { line: 1, text: '[1]' },
      { line: 18, text: '{"a":1}' },
    ]);
  });
});

describe('readRecordChunks', () => {
  it('hands each read\'s records over before the next read, and no empty batches', async () => {
    const events: string[] = [];
    async function* input() {
      for (const piece of ['{"a":', '1}\n{"b":2}\n', '{"c"', ':3}\n']) {
        events.push(`read ${piece}`);
        yield Buffer.from(piece);
      }
    }
    for await (const batch of readRecordChunks(input())) events.push(`batch ${batch.map((r) => r.text).join(' ')}`);
    expect(events).toEqual(['read {"a":', 'read 1}\n{"b":2}\n', 'batch {"a":1} {"b":2}', 'read {"c"', 'read :3}\n', 'batch {"c":3}']);
  });

  it('accepts strings as well as buffers, and yields no empty batch when the end adds nothing', async () => {
    const batches: RawRecord[][] = [];
    async function* input() {
      yield '[{"a":1}';
    }
    for await (const batch of readRecordChunks(input())) batches.push(batch);
    expect(batches).toEqual([[{ line: 1, text: '{"a":1}', problem: 'the JSON array is not closed (file truncated?)' }]]);
  });
});

describe('readRecords: NDJSON limits', () => {
  it('a record of exactly maxBytes is fine, a byte more is not; a CR before the newline does not count', async () => {
    expect(await read('{"a":1}\n{"a":1}\r\n', { maxBytes: 7 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"a":1}' },
    ]);
    expect(await read('{"a":12}\r\n', { maxBytes: 7 })).toEqual([{ line: 1, text: '{"a":12}', problem: 'record is larger than 7 bytes (8 bytes)' }]);
  });

  it('sizes from 1024 bytes up are in KB, rounded', async () => {
    const record = (bytes: number) => `{"x":"${'y'.repeat(bytes - 8)}"}`;
    expect((await read(record(1536), { maxBytes: 1024 }))[0]!.problem).toBe('record is larger than 1 KB (2 KB)');
    expect((await read(record(1535), { maxBytes: 1023 }))[0]!.problem).toBe('record is larger than 1023 bytes (1 KB)');
  });

  it('a line longer than keepBytes that arrives in one read is kept whole: it is in memory anyway', async () => {
    const big = `{"x":"${'y'.repeat(500)}"}`;
    expect(await read(`${big}\n`, { maxBytes: 100, keepBytes: 200 })).toEqual([{ line: 1, text: big, problem: 'record is larger than 100 bytes (508 bytes)' }]);
    // Not the read's first line either: its size is its own, wherever it starts.
    expect(await read(`{"a":1}\r\n${big}\r\n{"b":2}`, { maxBytes: 100 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: big, problem: 'record is larger than 100 bytes (508 bytes)' },
      { line: 3, text: '{"b":2}' },
    ]);
  });

  it('a blank last line without a newline, tabs or CRs included, is no record', async () => {
    expect(await read('{"a":1}\n\t\r\r\n \t ')).toEqual([{ line: 1, text: '{"a":1}' }]);
  });
});

describe('readRecords: JSON array details', () => {
  it.each([
    ['["",{"a":1}]', [{ line: 1, text: '""' }, { line: 1, text: '{"a":1}' }]],
    ['[\n"",\n"x"\n]', [{ line: 2, text: '""' }, { line: 3, text: '"x"' }]],
    ['["\\"",{"a":1}]', [{ line: 1, text: '"\\""' }, { line: 1, text: '{"a":1}' }]],
    ['["\\\\",{"a":1}]', [{ line: 1, text: '"\\\\"' }, { line: 1, text: '{"a":1}' }]],
    ['[1,,2]', [{ line: 1, text: '1' }, { line: 1, text: '2' }]],
    ['[[1,{"a":1}],[2]]', [{ line: 1, text: '[1,{"a":1}]' }, { line: 1, text: '[2]' }]],
    ['[{"a":[1,{"c":2}]},{"b":{"d":1}}]', [{ line: 1, text: '{"a":[1,{"c":2}]}' }, { line: 1, text: '{"b":{"d":1}}' }]],
    ['[\ntrue\n,\n"s"\n,\n}\n,\n2]', [{ line: 2, text: 'true' }, { line: 4, text: '"s"' }, { line: 6, text: '}' }, { line: 8, text: '2' }]],
  ])('%j', async (text, records) => {
    for (const chunk of [1, 100]) expect(await read(text, { chunk })).toEqual(records);
  });

  it('an element starts on the line of its first byte, however many lines it spans', async () => {
    expect(await read('[\n{\n"a":\n[1]\n},\n[\n2\n]\n]')).toEqual([
      { line: 2, text: '{\n"a":\n[1]\n}' },
      { line: 6, text: '[\n2\n]' },
    ]);
  });

  it('a nested object starting a line is no cut when nothing is wrong, in any element', async () => {
    const pretty = '{\n  "a":\n  {"b": 1}\n}';
    expect(await read(`[\n${pretty},\n${pretty}\n]\n`)).toEqual([
      { line: 2, text: pretty },
      { line: 6, text: pretty },
    ]);
    // Far into the read (past maxBytes from its start), a small element is still no cut.
    const late = await read(`[\n${'1,'.repeat(80)}\n${pretty}\n]\n`, { maxBytes: 100 });
    expect([late.length, late[80]]).toEqual([81, { line: 3, text: pretty }]);
  });

  it('a `{` after a comma cuts an object element only at its own level', async () => {
    expect(await read('[{"a":1,[2]},{"b":2}]')).toEqual([
      { line: 1, text: '{"a":1,[2]}' },
      { line: 1, text: '{"b":2}' },
    ]);
    expect(await read('[{"b":1,"c":[2],{"d":1}]')).toEqual([
      { line: 1, text: '{"b":1,"c":[2],' },
      { line: 1, text: '{"d":1}' },
    ]);
  });

  it('an oversized element left open is cut where a line starts a new object, and the problem says so', async () => {
    const big = `{"a":"${'x'.repeat(40)}",`;
    expect(await read(`[\n${big}\n{"b":2}\n]\n`, { maxBytes: 30 })).toEqual([
      { line: 2, text: big, problem: 'record is larger than 30 bytes (48 bytes); cut where line 3 starts a new object: a closing bracket is probably missing' },
      { line: 3, text: '{"b":2}' },
    ]);
  });

  it('an oversized element is cut only where a line starts a new object: otherwise it stays one record', async () => {
    const element = `{\n"a": "${'y'.repeat(40)}",\n"b": 1\n}`;
    expect(await read(`[\n${element}\n]\n`, { maxBytes: 30 })).toEqual([{ line: 2, text: element, problem: 'record is larger than 30 bytes (59 bytes)' }]);
  });

  it('an oversized element left open after others in the same read is still cut, and says so', async () => {
    const big = `{"a":"${'x'.repeat(40)}",`;
    const records = await read(`[\n${'{"z":0},\n'.repeat(5)}${big}\n{"b":2}\n]\n`, { maxBytes: 30 });
    expect(records.slice(5)).toEqual([
      { line: 7, text: big, problem: 'record is larger than 30 bytes (48 bytes); cut where line 8 starts a new object: a closing bracket is probably missing' },
      { line: 8, text: '{"b":2}' },
    ]);
  });

  it('an element of exactly maxBytes read up to a line that starts an object is not yet hopeless', async () => {
    // Up to the newline the element holds 13 bytes (`{\n"a":"xxxx":`): at 13 it reads on, whole.
    const text = '[\n{\n"a":"xxxx":\n{"b":1}}\n]\n';
    expect(await read(text, { maxBytes: 13 })).toEqual([{ line: 2, text: '{\n"a":"xxxx":\n{"b":1}}', problem: 'record is larger than 13 bytes (22 bytes)' }]);
    expect(await read(text, { maxBytes: 12 })).toEqual([
      { line: 2, text: '{\n"a":"xxxx":', problem: 'record is larger than 12 bytes (13 bytes); cut where line 4 starts a new object: a closing bracket is probably missing' },
      { line: 4, text: '{"b":1}}' },
    ]);
  });

  it('a valid element within maxBytes is not cut for the indentation before it, in whatever read it starts', async () => {
    // 15 bytes under a 16-byte limit: counting the 10 blanks before it made it "past the limit", and it was cut in two.
    const text = '[\n          {\n"a":\n{"b":1}}\n]\n';
    for (const chunk of [1, 7, 100]) expect(await read(text, { chunk, maxBytes: 16 })).toEqual([{ line: 2, text: '{\n"a":\n{"b":1}}' }]);
  });

  it('blanks around an element do not count toward maxBytes', async () => {
    expect(await read('[   {"a":1}   ,\n\t{"b":2}\n]', { maxBytes: 7 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
    ]);
  });

  it('a truncated array reports the line its last element starts on, or the last line when none started', async () => {
    expect(await read('[\n{"a":\n1')).toEqual([{ line: 2, text: '{"a":\n1', problem: 'the JSON array is not closed (file truncated?)' }]);
    expect(await read('[\n{"a":1},\n\n')).toEqual([
      { line: 2, text: '{"a":1}' },
      { line: 4, text: '', problem: 'the JSON array is not closed (file truncated?)' },
    ]);
  });

  it('a truncated element that is also not UTF-8 names both problems', async () => {
    const bytes = Buffer.concat([Buffer.from('[{"n":"'), Buffer.from([0xff])]);
    expect(await read(bytes)).toEqual([
      { line: 1, text: '{"n":"\uFFFD', problem: 'not valid UTF-8 (the bad bytes show as U+FFFD in "record"); the JSON array is not closed (file truncated?)' },
    ]);
  });
});

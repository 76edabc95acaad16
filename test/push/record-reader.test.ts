import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { readRecords, type RawRecord } from '../../src/push/record-reader.js';

async function read(
  input: string | Buffer,
  { chunk, maxBytes, keepBytes }: { chunk?: number; maxBytes?: number; keepBytes?: number } = {},
): Promise<RawRecord[]> {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const size = chunk ?? (bytes.length || 1);
  async function* chunks() {
    // Byte chunks: a multi-byte character may be cut anywhere, as a real read can cut it.
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
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

  it('a valid element within maxBytes is not cut for the indentation before it, in whatever read it starts', async () => {
    // 15 bytes under a 16-byte limit: counting the 10 blanks before it made it "past the limit", and it was cut in two.
    const text = '[\n          {\n"a":\n{"b":1}}\n]\n';
    for (const chunk of [1, 7, 100]) expect(await read(text, { chunk, maxBytes: 16 })).toEqual([{ line: 2, text: '{\n"a":\n{"b":1}}' }]);
  });
});

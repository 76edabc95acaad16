import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { readRecords, type RawRecord } from '../../src/push/record-reader.js';

async function read(text: string, { chunk = text.length || 1, maxBytes }: { chunk?: number; maxBytes?: number } = {}): Promise<RawRecord[]> {
  async function* chunks() {
    for (let i = 0; i < text.length; i += chunk) yield Buffer.from(text.slice(i, i + chunk));
  }
  const out: RawRecord[] = [];
  for await (const record of readRecords(chunks(), { maxBytes })) out.push(record);
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

  it('skips an oversized line without buffering it, and reads on', async () => {
    const big = `{"x":"${'y'.repeat(500)}"}`;
    expect(await read(`{"a":1}\n${big}\n{"b":2}\n`, { chunk: 7, maxBytes: 100 })).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, error: 'record is larger than 100 bytes' },
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
      { line: 2, error: 'the JSON array is not closed (file truncated?)' },
    ]);
    expect((await read('[{"a":1}]\nextra')).at(-1)).toEqual({ line: 2, error: 'unexpected content after the JSON array' });
  });

  it('skips an oversized element', async () => {
    const big = `{"x":"${'y'.repeat(500)}"}`;
    expect(await read(`[${big},{"b":2}]`, { chunk: 10, maxBytes: 100 })).toEqual([
      { line: 1, error: 'record is larger than 100 bytes' },
      { line: 1, text: '{"b":2}' },
    ]);
  });

  it('reads an empty array as no records', async () => {
    expect(await read('[ ]')).toEqual([]);
  });
});

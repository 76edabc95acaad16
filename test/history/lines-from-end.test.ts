import { writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linesFromEnd, type TailLine, type TailOptions } from '../../src/history/lines-from-end.js';
import { useTempDir } from '../helpers/tmp.js';

describe('linesFromEnd', () => {
  const tmp = useTempDir();

  async function tail(content: string | Buffer, options?: TailOptions, handleOf: (handle: FileHandle) => FileHandle = (h) => h): Promise<TailLine[]> {
    const path = join(tmp(), 'file.ndjson');
    writeFileSync(path, content);
    const handle = await open(path, 'r');
    try {
      const lines: TailLine[] = [];
      for await (const line of linesFromEnd(handleOf(handle), options)) lines.push(line);
      return lines;
    } finally {
      await handle.close();
    }
  }
  const texts = (lines: TailLine[]) => lines.map((line) => ('text' in line ? line.text : `<${line.tooLong} bytes>`));

  it('gives the lines last first, with where each starts, at every chunk size (lines across chunk boundaries)', async () => {
    const content = 'first\nsecond line\n\nthird, after an empty line\nfourth\n';
    const expected = ['fourth', 'third, after an empty line', 'second line', 'first'];
    for (let chunkBytes = 1; chunkBytes <= content.length + 1; chunkBytes++) {
      const lines = await tail(content, { chunkBytes });
      expect(texts(lines), `chunk ${chunkBytes}`).toEqual(expected);
      for (const line of lines) expect(content.slice(line.offset).startsWith((line as { text: string }).text), `chunk ${chunkBytes}`).toBe(true);
      expect(lines.every((line) => line.ended)).toBe(true);
    }
  });

  it('a last line with no newline after it is given, marked as not ended; the others are ended', async () => {
    for (const chunkBytes of [1, 3, 64]) {
      const lines = await tail('{"a":1}\n{"b":', { chunkBytes });
      expect(lines).toEqual([
        { offset: 8, text: '{"b":', ended: false },
        { offset: 0, text: '{"a":1}', ended: true },
      ]);
    }
    expect(await tail('only')).toEqual([{ offset: 0, text: 'only', ended: false }]);
  });

  it('an empty file, or one of blank lines, has no lines', async () => {
    expect(await tail('')).toEqual([]);
    expect(await tail('\n\n  \n')).toEqual([]);
  });

  it('keeps characters of several bytes whole when a chunk boundary cuts one', async () => {
    const content = 'Élodie ✓ 𝄞\nZoë\n';
    for (let chunkBytes = 1; chunkBytes <= 8; chunkBytes++) expect(texts(await tail(content, { chunkBytes }))).toEqual(['Zoë', 'Élodie ✓ 𝄞']);
  });

  it('a line longer than the limit is given by its size only, and the lines around it as usual', async () => {
    const long = 'x'.repeat(5000);
    const lines = await tail(`a\n${long}\nb\n`, { chunkBytes: 100, maxLineBytes: 1000 });
    expect(lines).toEqual([
      { offset: 5003, text: 'b', ended: true },
      { offset: 2, tooLong: 5000, ended: true },
      { offset: 0, text: 'a', ended: true },
    ]);
    // Exactly at the limit is still a line.
    expect(texts(await tail(`${'y'.repeat(1000)}\n`, { chunkBytes: 64, maxLineBytes: 1000 }))).toEqual(['y'.repeat(1000)]);
  });

  it('the last lines of a 100,000-line file are read without reading the file', async () => {
    const content = Array.from({ length: 100_000 }, (_, i) => JSON.stringify({ runId: `r${i}`, padding: 'p'.repeat(100) })).join('\n') + '\n';
    let bytesRead = 0;
    const counting = (handle: FileHandle): FileHandle =>
      new Proxy(handle, {
        get(target, key) {
          if (key === 'read') {
            return async (...args: Parameters<FileHandle['read']>) => {
              const result = await (target.read as (...a: unknown[]) => Promise<{ bytesRead: number }>)(...args);
              bytesRead += result.bytesRead;
              return result;
            };
          }
          const value = Reflect.get(target, key) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const path = join(tmp(), 'big.ndjson');
    writeFileSync(path, content);
    const handle = await open(path, 'r');
    const last: string[] = [];
    try {
      for await (const line of linesFromEnd(counting(handle))) {
        last.push((line as { text: string }).text);
        if (last.length === 20) break;
      }
    } finally {
      await handle.close();
    }
    expect(last.map((text) => (JSON.parse(text) as { runId: string }).runId)).toEqual(Array.from({ length: 20 }, (_, i) => `r${99_999 - i}`));
    expect(content.length).toBeGreaterThan(10_000_000);
    // One 64 KB chunk holds the last 20 lines.
    expect(bytesRead).toBeLessThanOrEqual(64 * 1024);
  });
});

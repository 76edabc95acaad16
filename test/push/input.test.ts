import { execFileSync } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { openInput, READ_BYTES } from '../../src/push/input.js';
import { useTempDir } from '../helpers/tmp.js';

const tmp = useTempDir();
const noStdin = (async function* () {})();

/**
 * Every chunk, copied as it comes (a chunk is valid only until the next is asked for), checked to
 * be still intact after the read that follows it has had time to finish, and how many buffers
 * the chunks were views of.
 */
async function readAll(stream: AsyncIterable<Buffer | string>): Promise<{ bytes: Buffer; chunks: number; buffers: number }> {
  const copies: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const chunk of stream) {
    const bytes = chunk as Buffer;
    const copy = Buffer.from(bytes);
    copies.push(copy);
    buffers.add(bytes.buffer);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (!bytes.equals(copy)) expect.fail(`chunk ${copies.length} changed while it was held`);
  }
  return { bytes: Buffer.concat(copies), chunks: copies.length, buffers: buffers.size };
}

/** Bytes that differ from read to read (a chunk read twice, or one skipped, would show). */
const pattern = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

describe('openInput', () => {
  it('reads a file of several reads whole, in order, into two buffers in turn (the next read goes into the other)', async () => {
    const file = join(tmp(), 'in.ndjson');
    const content = pattern(READ_BYTES * 3 + 123);
    writeFileSync(file, content);
    const input = await openInput(file, noStdin);
    expect(input.size).toBe(content.length);
    const read = await readAll(input.stream);
    expect(read.bytes.equals(content)).toBe(true);
    expect(read.chunks).toBe(4);
    expect(read.buffers).toBe(2);
  });

  it('closes the file when read to the end, and when the reader stops early', async () => {
    const file = join(tmp(), 'in.ndjson');
    writeFileSync(file, pattern(READ_BYTES * 2));
    const open = (): number => readdirSync('/proc/self/fd').length;
    const before = open();
    await readAll((await openInput(file, noStdin)).stream);
    expect(open()).toBe(before);
    for await (const chunk of (await openInput(file, noStdin)).stream) {
      expect(chunk.length).toBe(READ_BYTES);
      expect(open()).toBe(before + 1);
      break;
    }
    expect(open()).toBe(before);
  });

  it('bounded: reads only the bytes there at the start, whatever is appended meanwhile', async () => {
    const file = join(tmp(), 'dead.ndjson');
    const content = Buffer.concat([pattern(READ_BYTES + 9), Buffer.from('\n')]); // whole lines, as a dead-letter file holds
    writeFileSync(file, content);
    const input = await openInput(file, noStdin, { bounded: true });
    appendFileSync(file, 'appended while reading\n');
    expect((await readAll(input.stream)).bytes.equals(content)).toBe(true);
    // Not bounded, the same file is read to its end.
    expect((await readAll((await openInput(file, noStdin)).stream)).bytes.length).toBe(content.length + 23);
  });

  it('bounded, an empty file is no read at all; unbounded, an empty file is read as nothing', async () => {
    const file = join(tmp(), 'empty.ndjson');
    writeFileSync(file, '');
    expect(await readAll((await openInput(file, noStdin, { bounded: true })).stream)).toEqual({ bytes: Buffer.alloc(0), chunks: 0, buffers: 0 });
    expect((await readAll((await openInput(file, noStdin)).stream)).chunks).toBe(0);
  });

  it('reads a named pipe given as the file (no offsets: a pipe has none)', async () => {
    const fifo = join(tmp(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const content = pattern(READ_BYTES + 500);
    const input = await openInput(fifo, noStdin);
    const writer = createWriteStream(fifo);
    writer.end(content);
    expect((await readAll(input.stream)).bytes.equals(content)).toBe(true);
  });

  it('stdin is read as given; a missing file and a directory are usage errors naming the file', async () => {
    const stdin = (async function* () {
      yield 'a';
    })();
    expect((await openInput('-', stdin)).stream).toBe(stdin);
    const missing = join(tmp(), 'nope.ndjson');
    await expect(openInput(missing, noStdin)).rejects.toThrow(new UsageError(`${missing}: no such file`));
    const dir = join(tmp(), 'folder');
    mkdirSync(dir);
    await expect(openInput(dir, noStdin)).rejects.toThrow(new UsageError(`${dir}: is a directory, expected a JSON or NDJSON file`));
  });
});

describe('openInput of a replay (bounded) while another replay drops the file head', () => {
  // What removeHead leaves while it works: the file renamed aside under this name, by a live process
  // (the test runner's parent stands in for it).
  // Its name holds the time the removal began (now, unless told).
  const asideOf = (file: string, pid = process.ppid, at = Date.now()) => join(tmp(), `.${file.split('/').pop()}.consumed-${pid}-${at}-6-abc`);

  it('waits until the other replay has put the tail back, instead of "no such file" or an empty file', async () => {
    const file = join(tmp(), 'dl.ndjson');
    const aside = asideOf(file);
    writeFileSync(aside, 'r1\nr2\n');
    writeFileSync(file, ''); // its first append has created the file, nothing in it yet
    const opening = openInput(file, noStdin, { bounded: true });
    await new Promise((resolve) => setTimeout(resolve, 30));
    writeFileSync(file, 'tail\n');
    rmSync(aside);
    const input = await opening;
    expect(input.size).toBe(5);
    expect((await readAll(input.stream)).bytes.toString()).toBe('tail\n');
  });

  it('reads the bytes it sized, from the file it opened, even once that file is renamed away', async () => {
    const file = join(tmp(), 'dl.ndjson');
    writeFileSync(file, 'r1\nr2\n');
    const input = await openInput(file, noStdin, { bounded: true });
    renameSync(file, join(tmp(), 'moved'));
    writeFileSync(file, 'other, longer content\n');
    expect((await readAll(input.stream)).bytes.toString()).toBe('r1\nr2\n');
  });

  it('a missing file with nobody dropping its head is "no such file" at once', async () => {
    const file = join(tmp(), 'missing.ndjson');
    writeFileSync(asideOf(file, process.pid), ''); // its own (a leftover of this process) does not count
    await expect(openInput(file, noStdin, { bounded: true })).rejects.toThrow(new UsageError(`${file}: no such file`));
  });

  it('does not wait on a leftover begun long ago, whose process id a live process has now', async () => {
    // A replay killed midway leaves its aside file; once its PID is reused (here: the runner's
    // parent), the entry looks like a live removal. It is not: removals take moments, not hours.
    const file = join(tmp(), 'dl.ndjson');
    writeFileSync(file, 'r1\n');
    writeFileSync(asideOf(file, process.ppid, Date.now() - 3_600_000), 'old\n');
    const started = performance.now();
    const input = await openInput(file, noStdin, { bounded: true });
    expect(performance.now() - started).toBeLessThan(2_000); // not the 10 s wait
    expect((await readAll(input.stream)).bytes.toString()).toBe('r1\n');
  });

  it('leaves out an unfinished last line (another process still writing it), so its head is not dropped apart from its end', async () => {
    const file = join(tmp(), 'dl.ndjson');
    writeFileSync(file, '{"a":1}\n{"b":2}\n{"c":'); // a writer's write(2) seen halfway
    const input = await openInput(file, noStdin, { bounded: true });
    expect(input.size).toBe(16);
    expect(input.leftUnfinished).toBe(5); // said (a warning of the run): it may be a crash's, not a writer's
    expect((await readAll(input.stream)).bytes.toString()).toBe('{"a":1}\n{"b":2}\n');
  });

  it('reads a last line without its newline when it is whole JSON (a hand-edited file)', async () => {
    const file = join(tmp(), 'dl.ndjson');
    writeFileSync(file, '{"a":1}\n{"b":2}');
    const input = await openInput(file, noStdin, { bounded: true });
    expect(input.size).toBe(15);
    expect(input.leftUnfinished).toBe(0);
    expect((await readAll(input.stream)).bytes.toString()).toBe('{"a":1}\n{"b":2}');
  });
});

import { fstat, type Stats } from 'node:fs';
import { identityOf } from '../io/output-paths.js';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { headBeingRemoved } from '../io/append-log.js';
import { describeFsError, UsageError } from '../errors.js';

/** The file push reads. */
export interface Input {
  /** A file's chunks are views of one buffer, reused: each is valid until the next is asked for. */
  stream: AsyncIterable<Buffer | string>;
  /** Bytes that will be read (for progress and ETA); absent for stdin. */
  size?: number;
  /** A replay's: bytes of an unfinished last line left in the file for the next replay (see `wholeLinesEnd`). */
  leftUnfinished?: number;
}

/**
 * Opens the input. `bounded`: read only the bytes there now; a replay of the dead-letter file onto
 * itself appends to the file it reads, and must not read its own new lines back.
 */
export async function openInput(file: string, stdin: AsyncIterable<Buffer | string>, { bounded = false } = {}): Promise<Input> {
  if (file === '-') return { stream: stdin };
  try {
    if (bounded) return await openBounded(file);
    const info = await stat(file);
    if (info.isDirectory()) throw new UsageError(`${file}: is a directory, expected a JSON or NDJSON file`);
    return { stream: readReusing(() => open(file, 'r')), size: info.size };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : describeFsError(error)}`);
  }
}

/** How long a replay waits for another replay of its file to put the file's tail back. */
const HEAD_REMOVAL_WAIT_MS = 10_000;

/**
 * A replay's input: opened now and sized through its handle, so that the bytes counted are the
 * bytes read, even if another replay of the same file drops its head meanwhile (removeHead renames
 * the file away; this handle keeps reading what it opened). While another replay is dropping the
 * head, the name is missing, then holds part of the tail: that is waited out first, or this replay
 * would read "no such file", or an empty or partial file.
 */
async function openBounded(file: string): Promise<Input> {
  // A removal begun longer ago than the wait is not one to wait for (see headBeingRemoved).
  const since = Date.now() - HEAD_REMOVAL_WAIT_MS;
  const deadline = Date.now() + HEAD_REMOVAL_WAIT_MS;
  while (Date.now() < deadline && (await headBeingRemoved(file, since))) await new Promise((resolve) => setTimeout(resolve, 10));
  const handle = await open(file, 'r');
  let info: Stats;
  let size: number;
  try {
    info = await handle.stat();
    if (info.isDirectory()) throw new UsageError(`${file}: is a directory, expected a JSON or NDJSON file`);
    size = info.size === 0 ? 0 : await wholeLinesEnd(handle, info.size);
  } catch (error) {
    await handle.close();
    throw error;
  }
  // Held from here on by the reading, which closes it.
  if (size > 0) return { stream: readReusing(async () => handle, size), size, leftUnfinished: info.size - size };
  await handle.close();
  return { stream: (async function* () {})(), size: 0, leftUnfinished: info.size };
}

/**
 * Where a replay's read stops: after the last newline, unless what follows it is whole JSON (a
 * hand-edited file without its final newline). Other processes append dead letters as the replay
 * starts, and a write(2) of many lines can be seen halfway: read, such a line's head would be an
 * invalid record and be dropped with the head (removeHead) while its end stayed behind as another,
 * and the record would be lost. Left out, it stays in the file, whole once its writer is done.
 */
async function wholeLinesEnd(handle: FileHandle, size: number): Promise<number> {
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  if (last[0] === 10) return size;
  const chunk = Buffer.allocUnsafe(READ_BYTES);
  const fragments: Buffer[] = [];
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const newline = chunk.subarray(0, bytesRead).lastIndexOf(10);
    fragments.unshift(Buffer.from(chunk.subarray(newline + 1, bytesRead)));
    if (newline !== -1) return isWholeJson(Buffer.concat(fragments)) ? size : start + newline + 1;
    end = start;
  }
  return isWholeJson(Buffer.concat(fragments)) ? size : 0;
}

function isWholeJson(text: Buffer): boolean {
  try {
    JSON.parse(text.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Bytes per read. Each read's records are handled in one go (no await between unchanged records),
 * so a read is also how long the event loop is held (~450 records, ~1.5 ms on a quiet core) while
 * the rate limiter's departures wait: kept at the read stream's size. 128 KB read the file with
 * ~0.04 s less CPU, within the noise of a run.
 */
export const READ_BYTES = 64 * 1024;

/**
 * A file's bytes (the first `end` of them, if given), read into two buffers in turn: each chunk is a
 * view of one, valid until the next chunk is asked for (readRecordChunks copies the little it keeps,
 * the start of a record cut by a read), while the next read goes into the other. A new Buffer per
 * read, as a read stream allocates, is fresh memory each time, which this VM pays for in page
 * faults: reading 145 MB took 0.45-0.79 s of CPU that way, 0.15-0.23 s into one reused buffer of
 * 64 KB, 0.10-0.11 s of 128 KB (measured side by side, load 8-16). The next read is asked for
 * before the chunk is handed over (one read at a time, in order), so the records are not waiting
 * on it. `opening` runs at the first read, as a read stream opens: a file that cannot be opened
 * fails the reading (a replay's is already open, see `openBounded`).
 */
async function* readReusing(opening: () => Promise<FileHandle>, end?: number): AsyncGenerator<Buffer> {
  const handle = await opening();
  const buffers = [Buffer.allocUnsafe(READ_BYTES), Buffer.allocUnsafe(READ_BYTES)] as const;
  let got = 0;
  // Read from the current position (not at offsets): a named pipe given as the file reads too.
  const readInto = (buffer: Buffer): Promise<number> => {
    const length = end === undefined ? buffer.length : Math.min(buffer.length, end - got);
    return length > 0 ? handle.read(buffer, 0, length, null).then(({ bytesRead }) => bytesRead) : Promise.resolve(0);
  };
  let next = readInto(buffers[0]);
  try {
    for (let turn = 1; ; turn++) {
      const bytesRead = await next;
      if (bytesRead === 0) return;
      got += bytesRead;
      next = readInto(buffers[turn % 2]!);
      // Its failure is thrown where it is awaited; meanwhile it is not an unhandled rejection.
      next.catch(() => undefined);
      yield buffers[(turn + 1) % 2]!.subarray(0, bytesRead);
    }
  } finally {
    // A read still under way when the reader stops must end before its file is closed.
    await next.catch(() => undefined);
    await handle.close();
  }
}

/** The identity (see `fileIdentity`) of the file on stdin, when stdin is a file. */
export async function stdinIdentity(): Promise<string | undefined> {
  const info = await new Promise<Stats | undefined>((resolve) => fstat(0, (error, stats) => resolve(error ? undefined : stats)));
  return info?.isFile() ? identityOf(info) : undefined;
}

import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WriteError } from '../errors.js';
import { streamDigest } from '../hash/xxhash.js';
import { isAlive } from './atomic-write.js';

/** Whole lines per write(2): small enough that a writer never holds the file for long. */
const MAX_WRITE_BYTES = 1024 * 1024;

/**
 * An NDJSON file that several processes may append to at once, written as the run goes: lines are
 * buffered for one event-loop turn (so a batch's lines go together) and written with O_APPEND, a
 * group of whole lines per write(2), so two writers never interleave inside a line. The file is
 * opened per flush and never copied or renamed by a writer, so nothing another process wrote is
 * ever overwritten.
 *
 * A failed write is never silent: the error is kept, `onError` is called once, later lines are
 * refused, and `written` counts only lines that reached the file.
 */
export class AppendLog {
  /** Lines known to be in the file. */
  written = 0;
  error: WriteError | undefined;
  private pending: string[] = [];
  /** Characters appended and not yet written (queued, or in a write under way). */
  private unwritten = 0;
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly onError?: (error: WriteError) => void,
  ) {}

  /** Queue one line (no newline); it is written on the next turn of the event loop. */
  append(line: string): void {
    if (this.error) return;
    this.pending.push(`${line}\n`);
    this.unwritten += line.length + 1;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  /** Characters not yet written: a producer waits on `flush()` when this grows. */
  get backlog(): number {
    return this.unwritten;
  }

  /** Resolves once every line queued so far is written, or has failed (see `error`). */
  flush(): Promise<void> {
    this.scheduled = false;
    const lines = this.pending;
    this.pending = [];
    if (lines.length > 0) this.chain = this.chain.then(() => this.write(lines));
    return this.chain;
  }

  private async write(lines: string[]): Promise<void> {
    const size = lines.reduce((sum, line) => sum + line.length, 0);
    if (this.error) {
      this.unwritten -= size;
      return;
    }
    try {
      for (const group of groups(lines)) {
        const data = Buffer.from(group.join(''));
        await appendWhole(this.path, data, (bytes) => (this.written += countLines(data, bytes)));
      }
    } catch (error) {
      this.error = new WriteError(this.path, error);
      this.onError?.(this.error);
    } finally {
      this.unwritten -= size;
    }
  }
}

function* groups(lines: string[]): Generator<string[]> {
  let group: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (size + line.length > MAX_WRITE_BYTES && group.length > 0) {
      yield group;
      group = [];
      size = 0;
    }
    group.push(line);
    size += line.length;
  }
  if (group.length > 0) yield group;
}

/** Whole lines among the first `bytes` bytes of `data` (a short write may cut the last one). */
function countLines(data: Buffer, bytes: number): number {
  let lines = 0;
  for (let at = data.indexOf(10); at !== -1 && at < bytes; at = data.indexOf(10, at + 1)) lines += 1;
  return lines;
}

/**
 * Appends `data` to `path` with one write(2). If the file was moved away while we wrote (a replay
 * removing the lines it consumed, see `removeHead`), the data may have missed the copy, so it is
 * appended again to the file now at `path`: a line may then appear twice, never zero times.
 */
async function appendWhole(path: string, data: Buffer, onWritten: (bytes: number) => void): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const handle = await openForAppend(path);
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done);
        if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        done += bytesWritten;
      }
      const [ours, current] = await Promise.all([handle.stat(), stat(path).catch(() => undefined)]);
      if (current && current.ino === ours.ino && ours.nlink > 0) {
        onWritten(done);
        return;
      }
    } catch (error) {
      // What landed before the failure is in the file: count its whole lines, claim nothing more.
      onWritten(done);
      throw error;
    } finally {
      await handle.close();
    }
  }
  onWritten(data.length);
}

const CONSUMED = /^\.(.+)\.consumed-(\d+)-(\d+)-(\d+)-([0-9a-f]+)$/;

/**
 * Removes the first `bytes` bytes of `path` (the lines a replay consumed) while other processes may
 * be appending to it. Writers never rewrite the file, so this is the one place that does, and it
 * never copies over a writer: the file is renamed away (atomic), the part after `bytes` is appended
 * to whatever is at `path` now (new writers create it), and only then is the old file removed.
 * A writer caught between the two re-appends its lines (see `appendWhole`). Killed midway, the
 * renamed file is picked up by the next `recoverConsumed`. `prefix` is the digest of the bytes the
 * replay read: the renamed file's head must match it, or nothing is dropped (another replay may
 * have replaced the file meanwhile, and an inode number can be reused).
 */
export async function removeHead(path: string, bytes: number, prefix: bigint): Promise<void> {
  const aside = join(dirname(path), `.${basename(path)}.consumed-${process.pid}-${Date.now()}-${bytes}-${prefix.toString(16)}`);
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new WriteError(path, error);
  }
  await moveTail(aside, path, bytes, prefix);
}

/**
 * Whether another live process is removing the head of `path` now (see `removeHead`): between its
 * rename and the first line of the tail it puts back, `path` does not exist. Only a removal begun
 * at `since` (epoch ms) or later counts: an older entry is a killed replay's leftover whose process
 * id a live process has since been given (a removal takes moments), and waiting on it would stall
 * every replay for nothing.
 */
export async function headBeingRemoved(path: string, since = 0): Promise<boolean> {
  const entries = await readdir(dirname(path)).catch(() => [] as string[]);
  return entries.some((entry) => {
    const match = CONSUMED.exec(entry);
    if (match === null || match[1] !== basename(path) || Number(match[3]) < since) return false;
    return Number(match[2]) !== process.pid && isAlive(Number(match[2]));
  });
}

/** Finishes a `removeHead` that a killed process left halfway (its renamed file is still there). */
export async function recoverConsumed(path: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = CONSUMED.exec(entry);
    if (!match || match[1] !== basename(path) || isAlive(Number(match[2]))) continue;
    await moveTail(join(dirname(path), entry), path, Number(match[4]), BigInt(`0x${match[5]}`));
  }
}

/** Whether the first `bytes` bytes of the open file hash to `expected`. */
async function headMatches(handle: FileHandle, bytes: number, expected: bigint): Promise<boolean> {
  const { size } = await handle.stat();
  if (size < bytes) return false;
  const hash = streamDigest();
  const buffer = Buffer.alloc(Math.min(MAX_WRITE_BYTES, Math.max(1, bytes)));
  for (let position = 0; position < bytes; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, bytes - position), position);
    if (bytesRead === 0) return false;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest() === expected;
}

/**
 * Appends `from`'s bytes after its head to `to`, in whole-line writes, then removes `from`. The head
 * is skipped only if it is the one that was consumed (`prefix`); else everything is copied back.
 */
async function moveTail(from: string, to: string, skipIfHead: number, prefix: bigint): Promise<void> {
  try {
    const source = await open(from, 'r');
    try {
      const skip = (await headMatches(source, skipIfHead, prefix)) ? skipIfHead : 0;
      const { size } = await source.stat();
      const buffer = Buffer.alloc(MAX_WRITE_BYTES);
      let carry = Buffer.alloc(0);
      for (let position = skip; position < size; ) {
        const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, size - position), position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const data = Buffer.concat([carry, buffer.subarray(0, bytesRead)]);
        // Only whole lines per write, so a concurrent writer can never land inside one; each write
        // checks, as every writer does, that the file was not moved away under it.
        const cut = position < size ? data.lastIndexOf(10) + 1 : data.length;
        if (cut > 0) await appendWhole(to, Buffer.from(data.subarray(0, cut)), () => undefined);
        carry = Buffer.from(data.subarray(cut));
      }
    } finally {
      await source.close();
    }
    await syncFile(to);
    await unlink(from);
  } catch (error) {
    throw error instanceof WriteError ? error : new WriteError(to, error);
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Opens for appending (O_APPEND: every write lands at the end, whoever else writes). A last line
 * cut short by a crash or a full disk would swallow our first line, so that one is ended first.
 */
async function openForAppend(path: string): Promise<FileHandle> {
  const handle = await open(path, 'a+', 0o644);
  try {
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    if (size > 0 && (await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 10) await writeAll(handle, Buffer.from('\n'));
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done);
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

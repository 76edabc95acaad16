import type { FileHandle } from 'node:fs/promises';

/** One line of a file read from its end: its text, or only its size when it was too long to keep. */
export type TailLine = { offset: number; text: string; ended: boolean } | { offset: number; tooLong: number; ended: boolean };

export interface TailOptions {
  /** Bytes read per call (the memory a short line costs, whatever the file's size). */
  chunkBytes?: number;
  /** A line longer than this is reported by its size only: its bytes are never gathered. */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;

/**
 * The lines of an open file, last first, read backwards a chunk at a time: the last N lines of a
 * history of any length cost N lines of memory and about N lines of reading. `offset` is where the
 * line starts in the file; `ended` is false only for a last line with no newline after it (a writer
 * killed mid-line, or one writing it now). Empty lines are skipped.
 */
export async function* linesFromEnd(handle: FileHandle, { chunkBytes = 64 * 1024, maxLineBytes = 1024 * 1024 }: TailOptions = {}): AsyncGenerator<TailLine> {
  const { size } = await handle.stat();
  const buffer = Buffer.alloc(Math.max(1, Math.min(chunkBytes, size)));
  /** Pieces of the line being gathered, first piece first; dropped once the line is too long. */
  let pieces: Buffer[] = [];
  let gathered = 0;
  /** Where the line being gathered ends (exclusive, before its newline). */
  let end = size;
  let ended = false;
  let last = true;

  const line = (start: number): TailLine | undefined => {
    const length = end - start;
    const result: TailLine | undefined =
      length === 0 ? undefined : gathered > maxLineBytes ? { offset: start, tooLong: length, ended } : { offset: start, text: Buffer.concat(pieces).toString('utf8'), ended };
    pieces = [];
    gathered = 0;
    ended = true;
    return result && ('tooLong' in result || result.text.trim() !== '') ? result : undefined;
  };

  for (let position = size; position > 0; ) {
    const length = Math.min(buffer.length, position);
    position -= length;
    await readFully(handle, buffer, length, position);
    let cut = length;
    for (let at = lastNewline(buffer, cut); at !== -1; at = lastNewline(buffer, cut)) {
      if (last) {
        // The newline that ends the file ends its last line: nothing after it is a line.
        ended = position + at === size - 1;
        last = false;
      }
      keep(buffer.subarray(at + 1, cut));
      const found = line(position + at + 1);
      if (found) yield found;
      end = position + at;
      cut = at;
    }
    if (last && cut > 0) {
      ended = false;
      last = false;
    }
    keep(buffer.subarray(0, cut));
  }
  const first = line(0);
  if (first) yield first;

  function keep(piece: Buffer): void {
    if (piece.length === 0) return;
    gathered += piece.length;
    // The buffer is reused for the next chunk: a kept piece is copied.
    pieces = gathered > maxLineBytes ? [] : [Buffer.from(piece), ...pieces];
  }
}

function lastNewline(buffer: Buffer, before: number): number {
  return before === 0 ? -1 : buffer.lastIndexOf(NEWLINE, before - 1);
}

async function readFully(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    // The file shrank under us (a history is only ever appended to; someone truncated it): what is left reads as zeros, hence damaged lines.
    if (bytesRead === 0) {
      buffer.fill(0, done, length);
      return;
    }
    done += bytesRead;
  }
}

import { StringDecoder } from 'node:string_decoder';
import { UsageError } from '../errors.js';
import { MAX_PROFILE_BYTES } from '../profiles/schemas.js';

/** One record as read: its text, or why it could not be cut out of the input. */
export type RawRecord = { line: number; text: string } | { line: number; error: string };

export interface ReadOptions {
  maxBytes?: number;
}

/**
 * Cuts an input stream into records without holding more than one record in memory: NDJSON (one
 * value a line) or a JSON array (one value an element, found by tracking depth and strings, so
 * one malformed element does not lose the rest). The format is chosen by the first non-blank
 * character (anything but `[` or `{` there is not our input: a usage error). Every record carries the line it starts on; an oversized one is skipped unread.
 */
export async function* readRecords(input: AsyncIterable<Buffer | string>, options: ReadOptions = {}): AsyncGenerator<RawRecord> {
  for await (const records of readRecordChunks(input, options)) yield* records;
}

/**
 * The same records, one array per chunk read: a million-line file costs a thousand awaits instead
 * of a million, which is most of the time and garbage of the push hot path.
 */
export async function* readRecordChunks(input: AsyncIterable<Buffer | string>, { maxBytes = MAX_PROFILE_BYTES }: ReadOptions = {}): AsyncGenerator<RawRecord[]> {
  const decoder = new StringDecoder('utf8');
  let splitter: Splitter | undefined;
  for await (const chunk of input) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (!splitter) {
      text = text.replace(/^\uFEFF/, '');
      const first = /\S/.exec(text);
      if (!first) continue;
      if (first[0] !== '[' && first[0] !== '{') {
        throw new UsageError(`not a JSON array or NDJSON file (it starts with ${JSON.stringify(text.slice(first.index, first.index + 12))})`);
      }
      splitter = first[0] === '[' ? new ArraySplitter(maxBytes) : new LineSplitter(maxBytes);
    }
    const records = [...splitter.push(text)];
    if (records.length > 0) yield records;
  }
  if (splitter) {
    const rest = [...splitter.end(decoder.end())];
    if (rest.length > 0) yield rest;
  }
}

interface Splitter {
  push(text: string): Generator<RawRecord>;
  end(rest: string): Generator<RawRecord>;
}

const tooLarge = (maxBytes: number): string =>
  `record is larger than ${maxBytes >= 1024 ? `${Math.round(maxBytes / 1024)} KB` : `${maxBytes} bytes`}`;

class LineSplitter implements Splitter {
  private partial = '';
  private line = 0;
  private oversized = false;

  constructor(private readonly maxBytes: number) {}

  *push(text: string): Generator<RawRecord> {
    let start = 0;
    for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
      yield* this.complete(this.partial + text.slice(start, newline));
      this.partial = '';
      start = newline + 1;
    }
    if (this.oversized) return;
    this.partial += text.slice(start);
    // Characters never outnumber bytes, so this bound is safe; stop buffering a runaway line.
    if (this.partial.length > this.maxBytes) {
      this.partial = '';
      this.oversized = true;
    }
  }

  *end(rest: string): Generator<RawRecord> {
    if (rest) yield* this.push(rest);
    if (this.partial.trim() !== '' || this.oversized) yield* this.complete(this.partial);
  }

  private *complete(raw: string): Generator<RawRecord> {
    this.line += 1;
    if (this.oversized) {
      this.oversized = false;
      yield { line: this.line, error: tooLarge(this.maxBytes) };
      return;
    }
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    if (Buffer.byteLength(text) > this.maxBytes) yield { line: this.line, error: tooLarge(this.maxBytes) };
    else yield { line: this.line, text };
  }
}

class ArraySplitter implements Splitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private line = 1;
  private element = '';
  private elementLine = 0;
  private elementSize = 0;
  private closed = false;
  private trailing = false;

  constructor(private readonly maxBytes: number) {}

  *push(text: string): Generator<RawRecord> {
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.line += 1;
      if (this.closed) {
        if (c > 32) this.trailing = true;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92) this.escaped = true;
        else if (c === 34) this.inString = false;
        continue;
      }
      if (c === 34) {
        this.markStart();
        this.inString = true;
      } else if (c === 91 || c === 123) {
        // [ {
        this.depth += 1;
        if (this.depth === 1) {
          from = i + 1;
          continue;
        }
        this.markStart();
      } else if (c === 93 || c === 125) {
        // ] }
        this.depth -= 1;
        if (this.depth === 0) {
          yield* this.flush(text.slice(from, i));
          from = i + 1;
          this.closed = true;
        }
      } else if (c === 44 && this.depth === 1) {
        // , between elements
        yield* this.flush(text.slice(from, i));
        from = i + 1;
      } else if (c > 32) {
        this.markStart();
      }
    }
    if (!this.closed) this.append(text.slice(from));
  }

  *end(rest: string): Generator<RawRecord> {
    if (rest) yield* this.push(rest);
    if (!this.closed) yield { line: this.elementLine || this.line, error: 'the JSON array is not closed (file truncated?)' };
    else if (this.trailing) yield { line: this.line, error: 'unexpected content after the JSON array' };
  }

  /** Note where the current element starts (its first non-blank character). */
  private markStart(): void {
    if (this.elementLine === 0) this.elementLine = this.line;
  }

  private append(piece: string): void {
    this.elementSize += piece.length;
    if (this.elementSize <= this.maxBytes) this.element += piece;
    else this.element = '';
  }

  private *flush(last: string): Generator<RawRecord> {
    this.append(last);
    const line = this.elementLine || this.line;
    const oversized = this.elementSize > this.maxBytes;
    const text = this.element.trim();
    this.element = '';
    this.elementSize = 0;
    this.elementLine = 0;
    if (oversized) yield { line, error: tooLarge(this.maxBytes) };
    else if (text !== '') {
      if (Buffer.byteLength(text) > this.maxBytes) yield { line, error: tooLarge(this.maxBytes) };
      else yield { line, text };
    }
  }
}

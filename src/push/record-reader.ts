import { isUtf8 } from 'node:buffer';
import { UsageError } from '../errors.js';
import { MAX_PROFILE_BYTES } from '../profiles/schemas.js';

/**
 * One record as cut out of the input: its text and the line it starts on. `problem` says why the
 * record cannot be used as it is (too large, not UTF-8, cut short); its text is still the original,
 * so the dead-letter file can carry it to be fixed and replayed.
 */
export interface RawRecord {
  line: number;
  text: string;
  problem?: string;
  /** The record was longer than `keepBytes`: `text` is only its beginning. */
  cut?: boolean;
}

export interface ReadOptions {
  /** A record larger than this is a problem record (it is not parsed). */
  maxBytes?: number;
  /** How much of a problem record's text is kept; past it the text is cut, with a note. */
  keepBytes?: number;
}

/**
 * How much of an oversized record is kept in memory: enough to recognize a dead-letter line that
 * carries a 1 MiB record (escaping makes it longer), never more, however long the line.
 */
const KEPT_RECORD_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Cuts an input stream into records without holding more than one record in memory: NDJSON (one
 * value a line) or a JSON array (one value an element, found by tracking depth and strings, so one
 * malformed element does not lose the rest). Works on bytes: a record's bytes are checked as UTF-8
 * before they are decoded, so a bad byte is the record's problem, never a silent U+FFFD.
 *
 * The format is chosen from the start of the input: `{` is NDJSON; `[` is a JSON array, unless the
 * array closes on the first line and more lines follow (an NDJSON file whose first record happens
 * to be an array). Anything else is not our input: a usage error.
 */
export async function* readRecords(input: AsyncIterable<Buffer | string>, options: ReadOptions = {}): AsyncGenerator<RawRecord> {
  for await (const records of readRecordChunks(input, options)) yield* records;
}

/**
 * The same records, one array per chunk read: a million-line file costs a thousand awaits instead
 * of a million, which is most of the time and garbage of the push hot path.
 */
export async function* readRecordChunks(
  input: AsyncIterable<Buffer | string>,
  { maxBytes = MAX_PROFILE_BYTES, keepBytes = Math.max(maxBytes, KEPT_RECORD_BYTES) }: ReadOptions = {},
): AsyncGenerator<RawRecord[]> {
  const limits = { maxBytes, keepBytes };
  let splitter: Splitter | undefined;
  // Bytes held while the format is undecided: at most one first line of up to maxBytes.
  let head: Buffer[] = [];
  let headBytes = 0;
  for await (const piece of input) {
    // Stryker disable next-line ConditionalExpression: Buffer.from of a Buffer is a copy of the same bytes.
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    if (!splitter) {
      head.push(chunk);
      headBytes += chunk.length;
      // Stryker disable next-line ConditionalExpression: concatenating one buffer copies the same bytes; skipping it only saves the copy.
      const joined = head.length === 1 ? chunk : Buffer.concat(head, headBytes);
      const format = decideFormat(joined, false, maxBytes);
      if (format === undefined) {
        // A copy when it is the chunk itself: a reused buffer is rewritten by the next read.
        head = [joined === chunk ? Buffer.from(chunk) : joined];
        continue;
      }
      splitter = createSplitter(format, joined, limits);
      // Stryker disable next-line ArrayDeclaration: head is not read again once the format is decided; this only lets it go.
      head = [];
      const records = [...splitter.push(joined)];
      if (records.length > 0) yield records;
      continue;
    }
    const records = [...splitter.push(chunk)];
    if (records.length > 0) yield records;
  }
  if (!splitter) {
    const joined = Buffer.concat(head, headBytes);
    const format = decideFormat(joined, true, maxBytes);
    // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: at the end decideFormat never answers undefined, and a blank input read as lines yields nothing too: returning only skips that.
    if (format === undefined || format === 'empty') return;
    splitter = createSplitter(format, joined, limits);
    const records = [...splitter.push(joined)];
    if (records.length > 0) yield records;
  }
  const rest = [...splitter.end()];
  if (rest.length > 0) yield rest;
}

type Format = 'ndjson' | 'array' | 'empty';

function createSplitter(format: Format, start: Buffer, limits: Limits): Splitter {
  const bom = start.subarray(0, 3).equals(BOM) ? 3 : 0;
  return format === 'array' ? new ArraySplitter(limits, bom) : new LineSplitter(limits, { skipBytes: bom });
}

const isBlank = (byte: number): boolean => byte === 0x20 || byte === NEWLINE || byte === CR || byte === 0x09;

function firstNonBlank(bytes: Buffer, from: number): number {
  let i = from;
  // Stryker disable next-line EqualityOperator: past the end a byte reads undefined, which is not blank, so the loop stops there anyway (the bound's ConditionalExpression `true` survives for the same reason; left enabled for the line's other conditions).
  while (i < bytes.length && isBlank(bytes[i]!)) i += 1;
  return i;
}

/** Whether bytes[from, to) are all blank (or none). */
function blank(bytes: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isBlank(bytes[i]!)) return false;
  return true;
}

/**
 * The input's format from its first bytes, or undefined while more bytes are needed. Pure, so the
 * ambiguous case (`[...]` on line 1, then more lines) is decided the same way however the input is
 * chunked.
 */
function decideFormat(bytes: Buffer, ended: boolean, maxBytes: number): Format | undefined {
  // A read may end in the middle of the byte-order mark.
  // Stryker disable next-line EqualityOperator: 3 or more bytes equal the BOM's prefix only when they are the whole BOM, and then the next line waits for more all the same (the length test's ConditionalExpression `true` survives for the same reason; left enabled for the line's other conditions).
  if (!ended && bytes.length < BOM.length && BOM.subarray(0, bytes.length).equals(bytes)) return undefined;
  const start = firstNonBlank(bytes, bytes.subarray(0, 3).equals(BOM) ? 3 : 0);
  // Stryker disable next-line StringLiteral: 'empty' and an unnamed format end the same (no records; see readRecordChunks).
  if (start === bytes.length) return ended ? 'empty' : undefined;
  const first = bytes[start]!;
  // Stryker disable next-line StringLiteral: every format but 'array' is read as lines; the name is for the reader of the code.
  if (first === OPEN_BRACE) return 'ndjson';
  if (first !== OPEN_BRACKET) {
    const shown = bytes.subarray(start, start + 12).toString('utf8');
    throw new UsageError(`not a JSON array or NDJSON file (it starts with ${JSON.stringify(shown)})`);
  }
  let depth = 0;
  let inString = false;
  let escaped = false;
  // Stryker disable next-line EqualityOperator: the byte past the end reads undefined, which matches no branch.
  for (let i = start; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) inString = false;
      else if (c === NEWLINE) return 'array';
      continue;
    }
    if (c === NEWLINE) return 'array'; // still open at the end of line 1: a multi-line array
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) depth += 1;
    else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth -= 1;
      if (depth === 0) {
        // Closed on line 1: an array file if nothing but blanks follows, NDJSON if more lines do.
        let j = i + 1;
        // Stryker disable next-line EqualityOperator: the byte past the end reads undefined, which is not blank (the bound's ConditionalExpression `true` survives for the same reason; left enabled for the line's other conditions).
        while (j < bytes.length && bytes[j] !== NEWLINE && isBlank(bytes[j]!)) j += 1;
        if (j < bytes.length && bytes[j] !== NEWLINE) return 'array'; // `[1] x`: trailing content on the same line
        const next = firstNonBlank(bytes, j);
        // Stryker disable next-line StringLiteral: every format but 'array' is read as lines; the name is for the reader of the code.
        if (next < bytes.length) return 'ndjson';
        return ended || bytes.length > maxBytes ? 'array' : undefined;
      }
    }
  }
  return ended || bytes.length > maxBytes ? 'array' : undefined;
}

interface Limits {
  maxBytes: number;
  keepBytes: number;
}

interface Splitter {
  push(chunk: Buffer): Generator<RawRecord>;
  end(): Generator<RawRecord>;
}

/** Bytes of one record gathered across chunks, keeping at most `cap` of them but counting all. */
class Pieces {
  private parts: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(private readonly cap: number) {}

  get empty(): boolean {
    return this.total === 0;
  }

  add(bytes: Buffer, start: number, end: number): void {
    const length = end - start;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: adding nothing (lengths are never negative) changes no count and no bytes; this only skips an empty part.
    if (length <= 0) return;
    this.total += length;
    const room = this.cap - this.kept;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with no room, take is 0 and an empty part is kept: the same bytes.
    if (room <= 0) return;
    const take = Math.min(room, length);
    // A copy: the chunk read may be a reused buffer (see openInput), rewritten by the next read.
    this.parts.push(Buffer.from(bytes.subarray(start, start + take)));
    this.kept += take;
  }

  take(): { bytes: Buffer; total: number } {
    // Stryker disable next-line ConditionalExpression: concatenating one part copies the same bytes; skipping it only saves the copy.
    const bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
    const { total } = this;
    this.parts = [];
    this.kept = 0;
    this.total = 0;
    return { bytes, total };
  }
}

const sizeText = (bytes: number): string => (bytes >= 1024 ? `${Math.round(bytes / 1024)} KB` : `${bytes} bytes`);

/** Decode one record's bytes, naming what is wrong with them if anything. */
function toRecord(line: number, bytes: Buffer, total: number, { maxBytes }: Limits, problem?: string): RawRecord {
  if (total > maxBytes) {
    const record: RawRecord = { line, text: bytes.toString('utf8'), problem: `record is larger than ${sizeText(maxBytes)} (${sizeText(total)})` };
    return total > bytes.length ? { ...record, cut: true } : record;
  }
  if (!isUtf8(bytes)) {
    return { line, text: bytes.toString('utf8'), problem: `not valid UTF-8 (the bad bytes show as U+FFFD in "record")${problem ? `; ${problem}` : ''}` };
  }
  const text = bytes.toString('utf8');
  return problem ? { line, text, problem } : { line, text };
}

class LineSplitter implements Splitter {
  private readonly partial: Pieces;
  private line: number;
  private skip: number;

  /** `line`: lines already behind us (an array that closed on line N hands over with N - 1). */
  constructor(
    private readonly limits: Limits,
    { line = 0, skipBytes = 0 }: { line?: number; skipBytes?: number } = {},
  ) {
    this.partial = new Pieces(limits.keepBytes);
    this.line = line;
    this.skip = skipBytes;
  }

  *push(chunk: Buffer): Generator<RawRecord> {
    let start = this.skip;
    this.skip = 0;
    // The read's whole lines checked as UTF-8 in one call, not one a line: a newline is a character
    // of its own in UTF-8 (never part of another's bytes), so when they are valid together each is.
    const last = chunk.lastIndexOf(NEWLINE);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with no byte before the last newline, the lines there are blank and yield nothing whichever way they go.
    const valid = last > start && isUtf8(chunk.subarray(start, last));
    for (let newline = chunk.indexOf(NEWLINE, start); newline !== -1; newline = chunk.indexOf(NEWLINE, start)) {
      const record = valid && this.partial.empty ? this.whole(chunk, start, newline) : this.complete(chunk, start, newline);
      if (record) yield record;
      start = newline + 1;
    }
    this.partial.add(chunk, start, chunk.length);
  }

  *end(): Generator<RawRecord> {
    // Stryker disable next-line ConditionalExpression: completing an empty partial finds a blank record and yields nothing; this only skips that.
    if (this.partial.empty) return;
    const record = this.complete(Buffer.alloc(0), 0, 0);
    if (record) yield record;
  }

  /**
   * As `complete`, for a line wholly inside this read and known to be UTF-8: decoded straight from
   * the read, without a view of its own or a check of its own (a million-line file's million views
   * and checks were 4-5% of an incremental push's read loop).
   */
  private whole(chunk: Buffer, start: number, end: number): RawRecord | undefined {
    this.line += 1;
    // An empty line's byte before is the newline before it (or a BOM's, an array's end): never a CR.
    const stop = chunk[end - 1] === CR ? end - 1 : end;
    if (blank(chunk, start, stop)) return undefined;
    if (stop - start > this.limits.maxBytes) return toRecord(this.line, chunk.subarray(start, stop), stop - start, this.limits);
    return { line: this.line, text: chunk.toString('utf8', start, stop) };
  }

  private complete(chunk: Buffer, start: number, end: number): RawRecord | undefined {
    this.line += 1;
    let bytes: Buffer;
    let total: number;
    if (this.partial.empty) {
      bytes = chunk.subarray(start, end);
      total = bytes.length;
    } else {
      this.partial.add(chunk, start, end);
      ({ bytes, total } = this.partial.take());
    }
    // Stryker disable next-line EqualityOperator: bytes[-1] of an empty record is undefined, not CR (the length test's ConditionalExpression `true` survives for the same reason; left enabled for the line's other conditions).
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) {
      bytes = bytes.subarray(0, -1);
      total -= 1;
    }
    if (firstNonBlank(bytes, 0) === bytes.length) return undefined;
    return toRecord(this.line, bytes, total, this.limits);
  }
}

class ArraySplitter implements Splitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private line = 1;
  private readonly element: Pieces;
  private elementLine = 0;
  /** How many of the element's bytes are blanks before its first byte (they are trimmed off). */
  private elementStart = 0;
  /** The element being read had a string left open at the end of a line. */
  private broken = false;
  /** The last byte outside strings that was not blank, and whether the element is an object. */
  private lastToken = 0;
  // Stryker disable next-line BooleanLiteral: read only at depth 2, which is reached by a `{` or `[` that sets it first.
  private elementIsObject = false;
  /** After the array closes, whatever follows is read line by line, so nothing after it is lost. */
  private after: LineSplitter | undefined;

  constructor(
    private readonly limits: Limits,
    private skip: number,
  ) {
    this.element = new Pieces(limits.keepBytes);
  }

  *push(chunk: Buffer): Generator<RawRecord> {
    if (this.after) {
      yield* this.after.push(chunk);
      return;
    }
    let from = this.skip;
    this.skip = 0;
    for (let i = from; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === NEWLINE) {
        this.line += 1;
        // JSON strings hold no raw newline: one open here lacks its closing quote, and the element
        // is malformed. Stop reading it as a string.
        if (this.inString) this.broken = true;
        this.inString = false;
        this.escaped = false;
        // A malformed element, or one already past the record limit, is invalid whatever follows;
        // when a line then starts a new object, a quote or bracket was probably left open: cut
        // there and read on, so one typo costs one record, not the rest of the file.
        // Counted from the element's first byte: the indentation before it is trimmed off.
        const hopeless = this.broken || this.element.total + (i - from) - this.elementStart > this.limits.maxBytes;
        if (this.depth > 1 && hopeless && chunk[firstNonBlank(chunk, i + 1)] === OPEN_BRACE) {
          this.element.add(chunk, from, i);
          const cut = this.flush(`cut where line ${this.line} starts a new object: a closing bracket is probably missing`);
          // Stryker disable next-line ConditionalExpression: a cut at depth 2 or more holds at least the element's opening bracket, never nothing.
          if (cut) yield cut;
          this.depth = 1;
          from = i + 1;
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (c === QUOTE) {
        this.markStart(i, from);
        this.inString = true;
        this.lastToken = c;
      } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
        // Inside an element object, a `{` right after a comma is no JSON (a key must come): the
        // element above lacks its `}`. Cut before this `{`, which starts the next element.
        if (c === OPEN_BRACE && this.depth === 2 && this.elementIsObject && this.lastToken === COMMA) {
          this.element.add(chunk, from, i);
          const cut = this.flush();
          // Stryker disable next-line ConditionalExpression: a cut at depth 2 or more holds at least the element's opening bracket, never nothing.
          if (cut) yield cut;
          this.depth = 1;
          from = i;
        }
        this.depth += 1;
        this.lastToken = c;
        if (this.depth === 1) {
          from = i + 1;
          continue;
        }
        if (this.depth === 2) this.elementIsObject = c === OPEN_BRACE;
        this.markStart(i, from);
      } else if (c === CLOSE_BRACE && this.depth === 1) {
        // Only `]` closes the array: a stray `}` (a `{` missing above) is part of a broken element.
        this.markStart(i, from);
        this.lastToken = c;
      } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
        this.depth -= 1;
        this.lastToken = c;
        if (this.depth <= 0) {
          this.element.add(chunk, from, i);
          const last = this.flush();
          if (last) yield last;
          this.after = new LineSplitter(this.limits, { line: this.line - 1, skipBytes: i + 1 });
          yield* this.after.push(chunk);
          return;
        }
      } else if (c === COMMA && this.depth === 1) {
        this.element.add(chunk, from, i);
        const record = this.flush();
        if (record) yield record;
        from = i + 1;
        this.lastToken = c;
      } else if (!isBlank(c)) {
        this.lastToken = c;
        this.markStart(i, from);
      }
    }
    this.element.add(chunk, from, chunk.length);
  }

  *end(): Generator<RawRecord> {
    if (this.after) {
      yield* this.after.end();
      return;
    }
    const { bytes, total } = this.element.take();
    const line = this.elementLine || this.line;
    yield toRecord(line, trimBytes(bytes), total, this.limits, 'the JSON array is not closed (file truncated?)');
  }

  /** Note where the current element starts: its first non-blank byte, `at` in a read whose part of it begins at `from`. */
  private markStart(at: number, from: number): void {
    if (this.elementLine !== 0) return;
    this.elementLine = this.line;
    this.elementStart = this.element.total + (at - from);
  }

  private flush(note?: string): RawRecord | undefined {
    const line = this.elementLine || this.line;
    this.elementLine = 0;
    this.broken = false;
    const { bytes, total } = this.element.take();
    const trimmed = trimBytes(bytes);
    if (trimmed.length === 0) return undefined;
    const record = toRecord(line, trimmed, total - (bytes.length - trimmed.length), this.limits);
    return note && record.problem ? { ...record, problem: `${record.problem}; ${note}` } : record;
  }
}

function trimBytes(bytes: Buffer): Buffer {
  let start = 0;
  let end = bytes.length;
  // Stryker disable next-line EqualityOperator: past the end a byte reads undefined, which is not blank (the bound's ConditionalExpression `true` survives for the same reason; left enabled for the line's other conditions).
  while (start < end && isBlank(bytes[start]!)) start += 1;
  // Stryker disable next-line EqualityOperator: the byte before `start` is blank only when all are, and then the slice is empty either way (the bound's ConditionalExpression `true` survives for the same reason; left enabled for the line's other conditions).
  while (end > start && isBlank(bytes[end - 1]!)) end -= 1;
  return bytes.subarray(start, end);
}

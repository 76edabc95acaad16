import { DeadLetterSchema, describeErrors, MAX_PROFILE_BYTES, validateProfile, type FieldError, type Profile } from '../profiles/schemas.js';
import { normalizeEmail } from '../normalize/email.js';
import { findInexactNumbers, type InexactNumber } from '../profiles/inexact-numbers.js';
import type { RawRecord } from './record-reader.js';

/**
 * A record read, parsed and validated: a profile to send, or the reason it cannot be sent.
 * `recordJson` is the record as it goes into a dead-letter line: the input's own JSON text, never
 * re-serialized (a 10,000-level record would overflow JSON.stringify), or a JSON string holding the
 * original text when the input is not JSON or cannot be kept as is.
 */
export type Checked = { line: number; recordJson: string; profile: Profile } | Invalid;
type Invalid = { line: number; recordJson: string; reason: string; errors: FieldError[] };

const invalid = (line: number, recordJson: string, reason: string): Invalid => ({
  line,
  recordJson,
  reason,
  errors: [{ path: '', message: reason }],
});

/**
 * A record parsed but not yet validated: its JSON value and its own text, and the numbers of that
 * text which the value does not hold exactly (present only when there are some).
 */
export type Parsed = Readable | Invalid;
type Readable = { line: number; recordJson: string; value: unknown; inexact?: InexactNumber[] };

/** The record, with its inexact numbers when it has any (most have none: no property, no allocation). */
const readable = (line: number, recordJson: string, value: unknown, inexact: InexactNumber[]): Readable =>
  inexact.length > 0 ? { line, recordJson, value, inexact } : { line, recordJson, value };

/** JSON text → valid profile (parse, then validate). */
export function checkRecord(record: RawRecord): Checked {
  const parsed = parseRecord(record);
  return 'reason' in parsed ? parsed : validateParsed(parsed);
}

/**
 * JSON text → JSON value. A dead-letter line is unwrapped to the record it carries, keeping the
 * line it had in the original input (that is the replay); a record that a dead letter holds as a
 * string is the original text of a record that was not JSON, so it is read again as a record.
 * Separate from validation so push can skip validating a record it has already sent as is.
 */
export function parseRecord(record: RawRecord): Parsed {
  const { line, text, problem } = record;
  if (problem) return problemRecord(record);
  const parsed = parseJson(text);
  if (!parsed.ok) return invalid(line, JSON.stringify(text), `not valid JSON (${parsed.message})`);
  const letter = asDeadLetter(parsed.value);
  if (!letter) return readable(line, text.trim(), parsed.value, findInexactNumbers(text));
  if (typeof letter.record === 'string') {
    // Bytes that were not UTF-8 show as U+FFFD: sending them would send the damage. Fix, then replay.
    if (letter.reason.startsWith(NOT_UTF8) && letter.record.includes('\uFFFD')) return invalid(letter.line, recordTextOf(text, letter), letter.reason);
    // Unwrapped once only: the text is checked as a record, not as another dead letter.
    const inner = parseJson(letter.record);
    if (!inner.ok) return invalid(letter.line, JSON.stringify(letter.record), `not valid JSON (${inner.message})`);
    return readable(letter.line, letter.record.trim(), inner.value, findInexactNumbers(letter.record));
  }
  // The record's numbers as the line writes them (a dead letter's other numbers are not the record's).
  const inexact = findInexactNumbers(text)
    .filter((found) => found.path[0] === 'record')
    .map((found) => ({ ...found, path: found.path.slice(1) }));
  return readable(letter.line, recordTextOf(text, letter, inexact.length === 0), letter.record, inexact);
}

export function validateParsed({ line, recordJson, value, inexact }: Readable): Checked {
  const validation = validateProfile(value, inexact);
  if (validation.ok) return { line, recordJson, profile: validation.profile };
  return { line, recordJson, reason: describeErrors(validation.errors), errors: validation.errors };
}

/** The email a record would be keyed by (normalized as validation does), if it has one. */
export function emailOf(value: unknown): string | undefined {
  // Stryker disable next-line ConditionalExpression: a primitive's `.email` is undefined too; the typeof only says what is meant.
  const email = value !== null && typeof value === 'object' ? (value as { email?: unknown }).email : undefined;
  return typeof email === 'string' ? normalizeEmail(email) : undefined;
}

/** The reader's reason for bytes that are not UTF-8 (see record-reader.ts). */
const NOT_UTF8 = 'not valid UTF-8';
/** A record dead-lettered as text keeps at most this much of it. */
const DEAD_LETTER_TEXT_CHARS = 1024 * 1024;

/**
 * A record the reader could not hand over as it is (too large, not UTF-8, cut short): dead-lettered
 * as its text. A too-large line that is itself a dead letter (a replay of one) is unwrapped, so it
 * keeps its original line and its text is not wrapped again at each replay; if its record was made
 * small enough meanwhile, it is read as a record again.
 */
function problemRecord(record: RawRecord): Parsed {
  const { line, text, problem, cut } = record;
  // Stryker disable next-line OptionalChaining: only called with a problem; the `?.` is for the type.
  if (!cut && problem?.startsWith('record is larger than')) {
    const parsed = parseJson(text);
    const letter = parsed.ok ? asDeadLetter(parsed.value) : undefined;
    if (letter && typeof letter.record === 'string') {
      if (Buffer.byteLength(letter.record) <= MAX_PROFILE_BYTES) return parseRecord({ line, text: `${deadLetterPrefix(letter)}${JSON.stringify(letter.record)}}` });
      return invalid(letter.line, recordTextOf(text, letter), letter.reason);
    }
  }
  const kept = cut || text.length > DEAD_LETTER_TEXT_CHARS;
  const reason = kept ? `${problem}; only its first ${DEAD_LETTER_TEXT_CHARS / 1024} KB are kept in "record"` : problem!;
  return invalid(line, JSON.stringify(kept ? text.slice(0, DEAD_LETTER_TEXT_CHARS) : text), reason);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

/** Which run wrote a dead letter, and when (ISO 8601): the lines of two runs sharing a file differ by it. */
export interface Stamp {
  runId: string;
  at: string;
}

/** A dead letter's keys but its record: ours carry the stamp; older files (and hand edits) may not. */
type LetterHead = { line: number; runId?: string; at?: string; class: string; reason: string };
type DeadLetter = LetterHead & { record: unknown };

function asDeadLetter(value: unknown): DeadLetter | undefined {
  // Stryker disable next-line ConditionalExpression: without the typeof, a primitive fails the schema below instead; it only saves the parse.
  if (value === null || typeof value !== 'object' || !('record' in value)) return undefined;
  // line, class, reason and record, with or without runId and at: a profile has none of these keys.
  const keys = Object.keys(value).length;
  if (keys < 4 || keys > 6) return undefined;
  const letter = DeadLetterSchema.safeParse(value);
  return letter.success ? letter.data : undefined;
}

/**
 * One dead-letter line; `record` is spliced in as JSON text and comes last (see recordTextOf). A
 * record that spanned several lines of a JSON array keeps its text, on one line: in JSON text a raw
 * line break can only be whitespace between tokens that punctuation already separates, so removing
 * it changes nothing else.
 */
export function deadLetterLine(line: number, stamp: Stamp, errorClass: string, reason: string, recordJson: string): string {
  return `{"line":${line},${stampText(stamp)}"class":${JSON.stringify(errorClass)},"reason":${JSON.stringify(reason)},"record":${recordJson.replace(LINE_BREAKS, '')}}`;
}

const LINE_BREAKS = /[\r\n]/g;

/** The stamp as written, serialized once for the many lines a run writes with the same stamp. */
let lastStamp: { stamp: Stamp; text: string } | undefined;
function stampText(stamp: Stamp): string {
  if (lastStamp?.stamp !== stamp) lastStamp = { stamp, text: `"runId":${JSON.stringify(stamp.runId)},"at":${JSON.stringify(stamp.at)},` };
  return lastStamp.text;
}

/** Everything before the record, in the order we write it; a stamp key only when the letter has it. */
function deadLetterPrefix(head: LetterHead): string {
  const runId = head.runId === undefined ? '' : `"runId":${JSON.stringify(head.runId)},`;
  const at = head.at === undefined ? '' : `"at":${JSON.stringify(head.at)},`;
  return `{"line":${head.line},${runId}${at}"class":${JSON.stringify(head.class)},"reason":${JSON.stringify(head.reason)},"record":`;
}

/**
 * The JSON text of a dead letter's `record`, cut out of the line rather than re-serialized: lines
 * we wrote (with or without the stamp, which older versions did not write) have a known prefix.
 * The prefix holds every key but `record`, so a line that starts with it ends with the record. A line edited by hand (other spacing or key order) is re-serialized
 * when its depth allows and its numbers survive it (`exact`), else the whole line is kept as text:
 * never a stack overflow, never a changed digit.
 */
function recordTextOf(lineText: string, letter: DeadLetter, exact = true): string {
  const trimmed = lineText.trim();
  const prefix = deadLetterPrefix(letter);
  // Stryker disable next-line StringLiteral: the line parsed as an object, so with our prefix it ends in `}`; the check documents the slice.
  if (trimmed.startsWith(prefix) && trimmed.endsWith('}')) return trimmed.slice(prefix.length, -1);
  return exact && depthOf(letter.record) <= MAX_SERIALIZED_DEPTH ? JSON.stringify(letter.record) : JSON.stringify(lineText);
}

/** Far below where JSON.stringify runs out of stack (~5,000 levels here), far above any profile. */
const MAX_SERIALIZED_DEPTH = 1000;

/** Nesting depth, iteratively (no recursion a document can drive), stopping past the limit. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: node, depth } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    // Stryker disable next-line ConditionalExpression: never stopping early only costs the work; the depth found is past the limit either way.
    if (deepest > MAX_SERIALIZED_DEPTH) return deepest;
    for (const child of Object.values(node)) stack.push({ value: child, depth: depth + 1 });
  }
  return deepest;
}

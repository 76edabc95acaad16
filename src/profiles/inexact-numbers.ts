/**
 * Numbers whose JSON text a double cannot hold: `JSON.parse` would quietly turn
 * `9007199254740993123` into `9007199254740993000` and we would send (and remember) a value the
 * caller never gave. Node 20 has no lossless JSON parse (no reviver `context.source`, no
 * `JSON.rawJSON`), so such a record is refused, naming the field, rather than altered.
 *
 * Exact means the decimal value of the text equals that of the double it parses to, as
 * `String(n)` writes it: `1.0`, `1e2`, `-0` and `9007199254740994` are exact (only their spelling
 * changes); `9007199254740993`, `0.1000000000000000055`, `1e400` and `1e-400` are not.
 */

/** A number the caller sent that cannot be kept exactly, where it is in the document, and why. */
export interface InexactNumber {
  /** Keys and array indices from the root of the parsed text. */
  path: (string | number)[];
  /** The number as written (cut short when very long). */
  text: string;
  why: string;
}

/**
 * The cheap test run on every record, on its raw text: a double can fail to hold a number only
 * when it has 16 digits or more, or an exponent. A JSON number always follows `:`, `,` or `[` (and
 * blanks), so this looks for one of those, then 16 digits or dots in a row, or digits then `e`.
 * Anchored on the punctuation, it rejects an ordinary record in a fraction of what JSON.parse took
 * (a bare `\d{16}|\d[eE]` cost as much as the parse, and fired on every UUID). Strings are not
 * skipped: `"ids: 1,2e5"` only costs the full scan below, never a wrong answer.
 */
// Stryker disable next-line Regex: a looser test (fewer digits in a row) only scans more texts, and finds the same.
const MAYBE_INEXACT = /[:,[]\s*-?\d(?:[\d.]{15}|\d*(?:\.\d*)?[eE])/;
/** The same for a number that is the whole document (not a profile, but still never altered). */
// Stryker disable next-line Regex: a looser test (unanchored, fewer digits in a row) only scans more texts, and finds the same.
const MAYBE_INEXACT_ROOT = /^\s*-?\d(?:[\d.]{15}|\d*(?:\.\d*)?[eE])/;

/** Every number in `text` (valid JSON) that a double cannot keep exactly; usually none, found fast. */
export function findInexactNumbers(text: string): InexactNumber[] {
  // Stryker disable next-line ConditionalExpression: scanning every text finds the same numbers; the test only saves the scan.
  return MAYBE_INEXACT.test(text) || MAYBE_INEXACT_ROOT.test(text) ? scan(text) : [];
}

/** The field error a caller sees: `number 9007199254740993123 cannot be kept exactly (…); send it as a string`. */
export function inexactNumberMessage(found: InexactNumber): string {
  return `number ${found.text} cannot be kept exactly (${found.why}); send it as a string`;
}

/** Dotted like validation's other paths: `metadata.ids.0`. */
export function pathText(path: readonly (string | number)[]): string {
  return path.join('.');
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** A number token has at most these characters besides digits: `-`, `+`, `.`, `e`, `E`. */
const isNumberChar = (c: number): boolean => (c >= ZERO && c <= NINE) || c === 0x2e || c === MINUS || c === 0x2b || c === 0x65 || c === 0x45;

/** Shown in a message: enough to recognize the value, never a 100 KB line. */
const SHOWN_CHARS = 40;

interface Frame {
  array: boolean;
  index: number;
  /** Where the frame's last string is, quotes included: in an object, the key of the value being read. */
  keyStart: number;
  keyEnd: number;
}

/**
 * Walks valid JSON text (it has already parsed), skipping strings, keeping only the path to where
 * it is: no values are built, no recursion a document could drive. In an object a value follows
 * its key (`"key": value`), so the last string seen in the frame is the key of any number read.
 */
function scan(text: string): InexactNumber[] {
  const found: InexactNumber[] = [];
  const stack: Frame[] = [];
  // Stryker disable next-line EqualityOperator: the character past the end reads NaN, which no branch takes.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top) {
        top.keyStart = i;
        top.keyEnd = end + 1;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      stack.push({ array: c === OPEN_BRACKET, index: 0, keyStart: 0, keyEnd: 0 });
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
    } else if (c === COMMA) {
      const top = stack[stack.length - 1];
      // Stryker disable next-line OptionalChaining,ConditionalExpression: an object's index is never read; valid JSON has no comma outside an array or object, the `?.` keeps a bad text from throwing.
      if (top?.array) top.index += 1;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      let end = i + 1;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: the character past the end reads NaN, which is no number character.
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end += 1;
      const token = text.slice(i, end);
      const why = inexactness(token);
      if (why) found.push({ path: stack.map((frame) => (frame.array ? frame.index : (JSON.parse(text.slice(frame.keyStart, frame.keyEnd)) as string))), text: shown(token), why });
      i = end - 1;
    }
  }
  return found;
}

/** Index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    if (end === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

function shown(token: string): string {
  return token.length > SHOWN_CHARS ? `${token.slice(0, SHOWN_CHARS)}… (${token.length} characters)` : token;
}

/** Whole digits, fraction digits, exponent; a leading `-` is stepped over by the search. */
const NUMBER_PARTS = /(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A nonzero number's decimal value, written one way only: its significant digits (no leading or
 * trailing zeros) and the exponent that makes them `0.DIGITS × 10^EXPONENT`. Two texts of one
 * value give the same string; the sign is left out, as parsing never changes it.
 */
function canonical(text: string): { digits: string; form: string } {
  const parts = NUMBER_PARTS.exec(text)!;
  const whole = parts[1]!;
  const all = whole + (parts[2] ?? '');
  const first = all.search(/[1-9]/);
  const digits = all.slice(first).replace(/0+$/, '');
  return { digits, form: `${digits}e${whole.length - first + Number(parts[3] ?? 0)}` };
}

/** Within this many characters and without an exponent, a number has at most 15 significant digits and is a normal double. */
const ALWAYS_EXACT_CHARS = 15;

/** Why the number written `token` would not come back as written, or undefined when it would. */
export function inexactness(token: string): string | undefined {
  // Stryker disable next-line ConditionalExpression,EqualityOperator,Regex: a shortcut; the comparison below gives these tokens the same answer.
  if (token.length <= ALWAYS_EXACT_CHARS && !/[eE]/.test(token)) return undefined;
  const value = Number(token);
  if (!Number.isFinite(value)) return 'too large for a number';
  // Zero is exact however it is written (`-0`, `0.0e5`); anything else that parsed to zero was lost.
  if (value === 0) return /^-?[0.]*(?:[eE]|$)/.test(token) ? undefined : 'too small: it would be 0';
  const given = canonical(token);
  if (given.form === canonical(String(value)).form) return undefined;
  return given.digits.length > 15 ? 'more than 15 significant digits' : 'too small to keep all its digits';
}

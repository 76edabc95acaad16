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
const MAYBE_INEXACT = /[:,[]\s*-?\d(?:[\d.]{15}|\d*(?:\.\d*)?[eE])/;
/** The same for a number that is the whole document (not a profile, but still never altered). */
const MAYBE_INEXACT_ROOT = /^\s*-?\d(?:[\d.]{15}|\d*(?:\.\d*)?[eE])/;

/** Every number in `text` (valid JSON) that a double cannot keep exactly; usually none, found fast. */
export function findInexactNumbers(text: string): InexactNumber[] {
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
  /** The current key's text, quotes included (decoded only when a path is needed). */
  keyStart: number;
  keyEnd: number;
}

/**
 * Walks valid JSON text (it has already parsed), skipping strings, keeping only the path to where
 * it is: no values are built, no recursion a document could drive.
 */
function scan(text: string): InexactNumber[] {
  const found: InexactNumber[] = [];
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        top.keyStart = i;
        top.keyEnd = end + 1;
        expectKey = false;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      stack.push({ array: c === OPEN_BRACKET, index: 0, keyStart: 0, keyEnd: 0 });
      expectKey = c === OPEN_BRACE;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
    } else if (c === COMMA) {
      const top = stack[stack.length - 1];
      if (top?.array) top.index += 1;
      else expectKey = true;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      let end = i + 1;
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end += 1;
      const token = text.slice(i, end);
      const why = inexactness(token);
      if (why) found.push({ path: stack.map((frame) => (frame.array ? frame.index : keyOf(text, frame))), text: shown(token), why });
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

function keyOf(text: string, frame: Frame): string {
  const raw = text.slice(frame.keyStart, frame.keyEnd);
  return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
}

function shown(token: string): string {
  return token.length > SHOWN_CHARS ? `${token.slice(0, SHOWN_CHARS)}… (${token.length} characters)` : token;
}

/** A decimal as significant digits (no leading or trailing zeros; '' for zero) and the exponent of 0.DIGITS. */
interface Decimal {
  negative: boolean;
  digits: string;
  exponent: number;
}

const NUMBER_PARTS = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

function decimalOf(text: string): Decimal {
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = NUMBER_PARTS.exec(text)!;
  const all = whole + fraction;
  const first = all.search(/[1-9]/);
  if (first === -1) return { negative: false, digits: '', exponent: 0 };
  return { negative: sign === '-', digits: all.slice(first).replace(/0+$/, ''), exponent: whole.length - first + Number(exponent) };
}

/** Within this many characters and without an exponent, a number has at most 15 significant digits and is a normal double. */
const ALWAYS_EXACT_CHARS = 15;

/** Why the number written `token` would not come back as written, or undefined when it would. */
export function inexactness(token: string): string | undefined {
  if (token.length <= ALWAYS_EXACT_CHARS && !/[eE]/.test(token)) return undefined;
  const value = Number(token);
  const given = decimalOf(token);
  if (!Number.isFinite(value)) return 'too large for a number';
  const kept = decimalOf(String(value));
  if (given.digits === kept.digits && given.exponent === kept.exponent && given.negative === kept.negative) return undefined;
  if (value === 0) return 'too small: it would be 0';
  return given.digits.length > 15 ? 'more than 15 significant digits' : 'too small to keep all its digits';
}

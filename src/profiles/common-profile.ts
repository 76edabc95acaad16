import { EMAIL_PATTERN, emailProblem, normalizeEmail } from '../normalize/email.js';
import { nameProblem, normalizeName } from '../normalize/name.js';

/** What ProfileSchema outputs (declared here too: schemas.ts imports this file). */
interface CommonProfile {
  email: string;
  firstName: string;
  lastName: string;
  metadata?: Record<string, unknown> & { tags?: string[]; preferences?: Record<string, unknown> };
}

const MAX_EMAIL_LENGTH = 254;
const MAX_TAGS = 100;
const MAX_TAG_LENGTH = 100;

/**
 * The profile ProfileSchema would output for `input`, worked out without zod, or undefined
 * whenever `input` is not plainly valid: then zod decides, and words the errors. Only for the
 * common case, a valid record: zod's object, pipe and transform machinery cost a third of a dry
 * run, and its failure path (issues built, then dropped) ran for valid input too. Every check is
 * ProfileSchema's own, on the same normalized values, and the output has its key order (email,
 * firstName, lastName, metadata; in metadata tags, preferences, then the other keys as given), so
 * what is sent and what the state remembers is the same whichever path validated it.
 * `input` has passed unsafeStructure (no forbidden key, bounded depth); `__proto__` is still left
 * to zod, never copied.
 */
export function commonProfile(input: unknown): CommonProfile | undefined {
  if (!isPlainObject(input)) return undefined;
  for (const key in input) {
    if (key !== 'email' && key !== 'firstName' && key !== 'lastName' && key !== 'metadata') return undefined;
  }
  const { email, firstName, lastName } = input;
  if (typeof email !== 'string' || typeof firstName !== 'string' || typeof lastName !== 'string') return undefined;
  const sentEmail = commonEmail(email);
  const first = commonName(firstName);
  const last = commonName(lastName);
  if (sentEmail === undefined || first === undefined || last === undefined) return undefined;
  if (!('metadata' in input)) return { email: sentEmail, firstName: first, lastName: last };
  const metadata = commonMetadata(input.metadata);
  return metadata && { email: sentEmail, firstName: first, lastName: last, metadata };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** EmailSchema's output: emailProblem, normalizeEmail, at most 254 characters, EMAIL_PATTERN. */
function commonEmail(value: string): string | undefined {
  // Printable ASCII with no blank (nearly every address): nothing to trim, no hidden character, no
  // domain to convert, so normalizeEmail is only the lower-casing and emailProblem has nothing to say.
  const sent = isPrintableAscii(value) ? value.toLowerCase() : emailProblem(value) === undefined ? normalizeEmail(value) : undefined;
  return sent !== undefined && sent.length <= MAX_EMAIL_LENGTH && EMAIL_PATTERN.test(sent) ? sent : undefined;
}

// Stryker disable next-line BlockStatement: a shortcut; false (or undefined) sends the address through emailProblem and normalizeEmail, with the same result.
function isPrintableAscii(value: string): boolean {
  // Stryker disable next-line EqualityOperator: the character past the end reads NaN, which no test takes.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // Stryker disable next-line EqualityOperator: a blank or DEL sent the long way is answered the same.
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  // Stryker disable next-line BooleanLiteral: the same shortcut: every address the long way.
  return true;
}

function commonName(value: string): string | undefined {
  const normalized = normalizeName(value);
  return nameProblem(normalized) === undefined ? normalized : undefined;
}

/** MetadataSchema's output: declared keys first (as zod's object assigns them), then the rest as given. */
function commonMetadata(value: unknown): CommonProfile['metadata'] {
  if (!isPlainObject(value)) return undefined;
  const metadata: NonNullable<CommonProfile['metadata']> = {};
  if ('tags' in value) {
    const tags = commonTags(value.tags);
    if (!tags) return undefined;
    metadata.tags = tags;
  }
  if ('preferences' in value) {
    const preferences = copyOf(value.preferences);
    if (!preferences) return undefined;
    metadata.preferences = preferences;
  }
  for (const key in value) {
    if (key === '__proto__') return undefined;
    if (key !== 'tags' && key !== 'preferences') metadata[key] = value[key];
  }
  return metadata;
}

function commonTags(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_TAGS) return undefined;
  for (const tag of value) {
    if (typeof tag !== 'string' || tag.length > MAX_TAG_LENGTH) return undefined;
  }
  return value.slice() as string[];
}

/** A record of any values, copied as zod's z.record(z.string(), z.unknown()) copies it. */
function copyOf(value: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(value)) return undefined;
  const copy: Record<string, unknown> = {};
  for (const key in value) {
    if (key === '__proto__') return undefined;
    copy[key] = value[key];
  }
  return copy;
}

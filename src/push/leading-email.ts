import { normalizeEmail } from '../normalize/email.js';

const HEAD = '{"email":"';

/**
 * The email of a record that begins `{"email":"…"`, read from its text without parsing it (most
 * inputs are written that way), normalized as validation does; undefined for any other text.
 *
 * Only a guess, for the lookup of a record whose text may be the very text the platform last
 * accepted: when that text's digest is the one remembered for this email, the text is that
 * record's, whose email this is; when it is not, the record is parsed as any other. Text with a
 * backslash (an escaped key or email) or a `"record"` key (a dead letter, whose record is not the
 * line) is never guessed at.
 */
export function leadingEmail(text: string): string | undefined {
  if (!text.startsWith(HEAD)) return undefined;
  const end = text.indexOf('"', HEAD.length);
  if (end < 0 || text.includes('\\') || text.includes('"record"')) return undefined;
  return normalizeEmail(text.slice(HEAD.length, end));
}

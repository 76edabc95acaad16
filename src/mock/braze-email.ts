/**
 * Braze's email syntax check, as its reference states it (braze-docs
 * `_docs/_user_guide/message_building_by_channel/email/email_setup/email_validation.md`): the
 * general local-part rule and its regular expression, Gmail's two-character minimum, the stricter
 * Microsoft rule, the domain's regular expression, no IP literal, no all-numeric TLD, no Unicode in
 * the domain. The TLD must also be on IANA's list: the simulator does not carry that list, and
 * refuses only the names IANA reserves and never delegates (RFC 2606/6761), so `@x.example`, as
 * Braze would, is refused.
 */

/** ASCII characters a local part may hold anywhere (Braze's list; `.` only inside). */
const ASCII_CHAR = String.raw`[a-zA-Z0-9_\-\^+$'&#\/!%*=?\x60|~]`;
/** A non-ASCII letter, digit, punctuation or symbol (never a space): Braze's `[[^\p{ASCII}\p{Space}]&&…]`. */
const UNICODE_CHAR = String.raw`(?![\p{ASCII}\p{White_Space}])[\p{L}\p{M}\p{N}\p{P}\p{S}]`;
const CHAR = `(?:${ASCII_CHAR}|${UNICODE_CHAR})`;
const LOCAL_PART = new RegExp(`^${CHAR}(?:(?:${CHAR}|\\.)*${CHAR})?$`, 'u');
const MICROSOFT_LOCAL_PART = /^\w[-\w]*(?:\.[-\w]+)*$/i;
const MICROSOFT_HOSTS = /msn|hotmail|outlook|live/i;
const DOMAIN = /^[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?)+$/i;
/** Top-level names that are never on IANA's list. */
const RESERVED_TLDS = new Set(['example', 'test', 'invalid', 'localhost', 'local']);

/** Whether Braze would take this as an email address. */
export function isBrazeEmail(email: string): boolean {
  const at = email.lastIndexOf('@');
  if (at <= 0) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if ([...local].length > 64 || !LOCAL_PART.test(local)) return false;
  if (!DOMAIN.test(domain)) return false;
  const tld = domain.slice(domain.lastIndexOf('.') + 1).toLowerCase();
  if (/^\d+$/.test(tld) || RESERVED_TLDS.has(tld)) return false;
  const host = domain.toLowerCase();
  if (host === 'gmail.com' && [...local].length < 2) return false;
  // "the validation test checks if the local part, preceding the '+', matches the regular expression"
  if (MICROSOFT_HOSTS.test(host) && !MICROSOFT_LOCAL_PART.test(local.split('+')[0]!)) return false;
  return true;
}

import { domainToASCII } from 'node:url';
import { hiddenCharacterProblem } from './characters.js';

const NON_ASCII = /[^\p{ASCII}]/u;

/**
 * The address as it is sent, and as push's state keys it: trimmed, lower-cased, and an
 * internationalized domain in its ASCII form (`ann@bücher.de` → `ann@xn--bcher-kva.de`, IDNA as
 * WHATWG URLs do it). Both spellings are the same mailbox; the ASCII one is what every platform
 * takes (Braze and Customer.io take only that), and one form means one state entry. A domain that
 * cannot be converted is left as it is, for validation to refuse.
 */
export function normalizeEmail(value: string): string {
  const email = value.trim().toLowerCase();
  // Stryker disable next-line ConditionalExpression: converting an ASCII domain gives it back as it is; the test only saves the call.
  if (!NON_ASCII.test(email)) return email;
  const at = email.lastIndexOf('@');
  const ascii = at === -1 ? '' : domainToASCII(email.slice(at + 1));
  return ascii === '' ? email : `${email.slice(0, at + 1)}${ascii}`;
}

/**
 * What is wrong with an address as given beyond its format (which is checked on the normalized
 * address), or undefined: controls and invisible characters, named rather than reported as a bad
 * format, and a mailbox name (before the @) that is not ASCII. Such a mailbox exists (SMTPUTF8),
 * but Mailchimp and HubSpot refuse it and it cannot be converted like a domain: refused here with
 * the reason, instead of by the platform later.
 */
export function emailProblem(value: string): string | undefined {
  const email = value.trim();
  const hidden = hiddenCharacterProblem(email);
  if (hidden) return hidden;
  const at = email.lastIndexOf('@');
  if (at !== -1 && NON_ASCII.test(email.slice(0, at))) {
    return 'must be ASCII before the @ (a mailbox name in other characters needs SMTPUTF8, which the marketing platforms do not take)';
  }
  return undefined;
}

/**
 * zod's practical email pattern, except that the top-level domain may also be an A-label
 * (`xn--p1ai`, the ASCII form of `.рф`): zod's pattern wants letters only there.
 */
export const EMAIL_PATTERN = /^(?:[A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9-]*\.)+(?:[A-Za-z]{2,}|xn--[A-Za-z0-9-]+)$/;

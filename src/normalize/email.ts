import { hiddenCharacterProblem } from './characters.js';

/** The address as it is sent, and as push's state keys it: trimmed and lower-cased. */
export function normalizeEmail(value: string): string {
  return value.trim().toLowerCase();
}

/**
 * What is wrong with an address as given, beyond its format (which is checked on the normalized
 * address): controls and invisible characters, named rather than reported as a bad format.
 */
export function emailProblem(value: string): string | undefined {
  return hiddenCharacterProblem(value.trim());
}

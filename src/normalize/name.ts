/**
 * Proper-case a personal name: trimmed, inner whitespace collapsed, every word and every part after
 * an apostrophe or hyphen capitalised. `o'brien` → `O'Brien`, `mary-jane` → `Mary-Jane`,
 * `ÉLODIE` → `Élodie`. Locale-independent so every machine exports the same bytes.
 */
export function normalizeName(value: string): string {
  return value
    .normalize('NFC')
    .trim()
    .replace(/\s+/gu, ' ')
    .toLowerCase()
    .replace(/(^|[\s'’-])(\p{L})/gu, (_match, boundary: string, letter: string) => boundary + letter.toUpperCase());
}

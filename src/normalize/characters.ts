/**
 * Characters that no name or email address may hold, wherever they stand: controls (C0, DEL, C1;
 * NUL included), lone surrogates (half of a character: no platform can store them), and invisible
 * format characters: bidi embeddings, overrides, isolates and marks (which reorder or disguise
 * text: `Ann\u202Eeel` shows as `Annlee`), zero-width spaces, word joiners, soft hyphens. The two
 * joiners are the exception: ZWNJ (U+200C) and ZWJ (U+200D) are part of how Persian, Arabic and
 * Indic names are spelled, and of emoji sequences.
 *
 * Whitespace is not here: a name's tabs and line breaks are collapsed to one space (and a U+FEFF,
 * which JavaScript counts as whitespace, with them) before this is checked on what is sent.
 */
const HIDDEN = /[\p{Cc}\p{Cs}]|(?![\u200C\u200D])\p{Cf}/u;

/** `must not contain …`, naming the first offending character (`U+202E`), or undefined. */
export function hiddenCharacterProblem(value: string): string | undefined {
  const found = HIDDEN.exec(value);
  if (!found) return undefined;
  const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `must not contain control or invisible formatting characters (U+${code})`;
}

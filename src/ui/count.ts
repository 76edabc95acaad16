/**
 * A number with its noun agreeing, for anything a person reads: `1 retry`, `3 retries`,
 * `0 batches`. The plural is given where adding an `s` is wrong.
 */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

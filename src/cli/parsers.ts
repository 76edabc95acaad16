import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: a bad value becomes a one-line usage error (exit 2). */

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1.');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number ≥ 0.');
  return n;
}

export function integer(value: string): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number.');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0.');
  return n;
}

export function probability(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a probability between 0 and 1.');
  return n;
}

export function port(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port between 0 and 65535.');
  return n;
}

export function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an absolute http(s) URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http(s) URL.');
  if (url.username || url.password) throw new InvalidArgumentError('credentials in the URL are not allowed; use the environment.');
  return value.replace(/\/+$/, '');
}

/**
 * `500ms`, `10s`, `30m`, `2h`, or a bare number of milliseconds; at most 24 h (a longer wait is
 * a typo, or a job that should be scheduled rather than left retrying).
 */
export function duration(value: string): number {
  const unitMs = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 } as const;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected a duration such as 500ms, 10s, 30m, 2h or 10000 (milliseconds).');
  const ms = Math.round(Number(match[1]) * unitMs[(match[2] ?? 'ms') as keyof typeof unitMs]);
  if (ms <= 0) throw new InvalidArgumentError('expected a duration > 0.');
  if (ms > 24 * unitMs.h) throw new InvalidArgumentError('expected a duration of at most 24h.');
  return ms;
}

/** A name that must not be empty (e.g. --quota-key). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected a non-empty name.');
  return value;
}

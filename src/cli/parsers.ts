import { InvalidArgumentError } from 'commander';
import { UsageError } from '../errors.js';
import { checkRedisUrl } from '../quota/redis-url.js';

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

/** `10s`, `500ms`, or a bare number of milliseconds. */
export function duration(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected a duration such as 10s, 500ms or 10000 (milliseconds).');
  const ms = Number(match[1]) * (match[2] === 's' ? 1000 : 1);
  if (ms <= 0) throw new InvalidArgumentError('expected a duration > 0.');
  return ms;
}

/** A name that must not be empty (e.g. --quota-key). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected a non-empty name.');
  return value;
}

/*
 * URL flags. Commander puts a refused value in its message, and a URL is where a password hides
 * (one with an unencoded `#`, `/` or `?` even hides from redaction that parses the URL). So these
 * parsers throw a UsageError of their own, which names the flag (or the variable the value came
 * from) and never holds the value; the top level prints it as one line, exit 2.
 */

/**
 * What a refusal names: the variable when the value is the variable's (commander parses the
 * variable only when the flag is absent), else the flag.
 */
function origin(flag: string, variable: string, value: string, env: NodeJS.ProcessEnv): string {
  return env[variable] === value ? `${variable} (${flag})` : flag;
}

/**
 * A base URL requests are built on (`{base}/users?page=N`, `{base}/profiles/batch`): http(s), no
 * credentials (they come from the environment), no query or fragment (every path would land
 * inside them: each request a 404). A trailing slash is dropped.
 */
export function checkBaseUrl(value: string, name: string): string {
  // Before parsing: a password holding `#`, `/` or `?` makes a parser see no credentials at all.
  if (value.includes('@')) throw new UsageError(`${name}: credentials in the URL are not allowed (it holds an @); secrets come from the environment, see --help`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name}: expected an absolute http(s) URL such as https://host:port/path`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${name}: expected an http:// or https:// URL`);
  if (/[?#]/.test(value)) throw new UsageError(`${name}: a base URL takes no query (?…) or fragment (#…): every request path is added to it`);
  return value.replace(/\/+$/, '');
}

export function baseUrl(flag: string, variable: string, env: NodeJS.ProcessEnv = process.env): (value: string) => string {
  return (value) => checkBaseUrl(value, origin(flag, variable, value, env));
}

export function redisUrl(env: NodeJS.ProcessEnv = process.env): (value: string) => string {
  return (value) => checkRedisUrl(value, origin('--redis-url', 'SYNC_REDIS_URL', value, env));
}

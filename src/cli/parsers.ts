import { InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { checkRedisUrl } from '../quota/redis-url.js';

/**
 * Commander argument parsers: a bad value becomes a one-line usage error (exit 2) naming the flag.
 *
 * Numbers are bounded where an absurd value would hang a run, overflow a timer (Node runs a
 * `setTimeout` above 2^31−1 ms after 1 ms instead) or exhaust memory; the bounds are here, in one
 * place, for the messages, the help and the README.
 */
export const BOUNDS = {
  /** Requests per second (pull, push, serve). Below: one request per 100 s is already a trickle; a retry at 1e-9/s waits for ever. */
  rate: { min: 0.01, max: 10_000 },
  /** Profiles per request (push, serve): push reads ahead a few batches, so this bounds its memory. */
  batchSize: { min: 1, max: 10_000 },
  /** Retries per request: the schedule is summed at start (a loop), and 100 backoffs capped at 30 s are ~50 min. */
  maxRetries: { min: 0, max: 100 },
  /** Pages in flight (pull): one socket each. */
  concurrency: { min: 1, max: 100 },
  /** Pages a source may announce (pull): the guard against a source that claims millions. */
  maxPages: { min: 1, max: 1_000_000 },
  /** Request deadlines (pull, push, serve), ms: far below the 2^31−1 ms where timers break. */
  requestTimeoutMs: { min: 1, max: 3_600_000 },
  /** `--retry-for`, ms: up to a day. */
  retryForMs: { min: 1000, max: 86_400_000 },
  /** The mocks' --rate: requests in any 1000 ms (reqres: 0 = unlimited). */
  mockRate: { min: 1, max: 10_000 },
  /** The downstream mock's --latency, ms. */
  latencyMs: { min: 0, max: 3_600_000 },
} as const;

/** A whole number within [min, max]; `what` says what it counts. */
export function wholeNumber(min: number, max: number, what = 'a whole number'): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected ${what} from ${min} to ${max}.`);
    }
    return n;
  };
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1.');
  return n;
}

export function integer(value: string): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number.');
  return n;
}

/** `--rate` of pull, push and serve: requests per second, fractions allowed (0.5 = one every 2 s). */
export function rate(value: string): number {
  const n = Number(value);
  const { min, max } = BOUNDS.rate;
  // Decimal only: Number() would also read 0x10 as 16 and 1e1 as 10.
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !Number.isFinite(n) || n < min || n > max) {
    throw new InvalidArgumentError(`expected requests per second from ${min} (one every ${1 / min} s) to ${max}.`);
  }
  return n;
}

export const batchSize = wholeNumber(BOUNDS.batchSize.min, BOUNDS.batchSize.max, 'profiles per request');
export const maxRetries = wholeNumber(BOUNDS.maxRetries.min, BOUNDS.maxRetries.max, 'a number of retries');
export const concurrency = wholeNumber(BOUNDS.concurrency.min, BOUNDS.concurrency.max, 'pages in flight');
/** push and serve's --concurrency: requests to the platform on the wire at once. */
export const requestsInFlight = wholeNumber(BOUNDS.concurrency.min, BOUNDS.concurrency.max, 'requests in flight');
export const maxPages = wholeNumber(BOUNDS.maxPages.min, BOUNDS.maxPages.max, 'a number of pages');
/** The downstream mock's --rate: requests allowed in any 1000 ms. */
export const mockRate = wholeNumber(BOUNDS.mockRate.min, BOUNDS.mockRate.max, 'requests per 1000 ms');
/** The reqres mock's --rate: the same, where 0 turns the limit off. */
export const mockRateOrUnlimited = wholeNumber(0, BOUNDS.mockRate.max, 'requests per 1000 ms (0 = unlimited)');
export const latency = wholeNumber(BOUNDS.latencyMs.min, BOUNDS.latencyMs.max, 'milliseconds');

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

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 } as const;

/** Milliseconds as a duration flag takes them: `10s`, `500ms`, `24h`. */
export function durationText(ms: number): string {
  return ms >= 24 * UNIT_MS.h && ms % UNIT_MS.h === 0 ? `${ms / UNIT_MS.h}h` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** `500ms`, `10s`, `30m`, `2h`, or a bare number of milliseconds, within [min, max] ms. */
export function durationWithin({ min, max }: { min: number; max: number }): (value: string) => number {
  const range = `from ${durationText(min)} to ${durationText(max)}`;
  return (value) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$/.exec(value);
    if (!match) throw new InvalidArgumentError(`expected a duration ${range}, such as 10s, 500ms, 30m, 2h or 10000 (milliseconds).`);
    const ms = Number(match[1]) * UNIT_MS[(match[2] ?? 'ms') as keyof typeof UNIT_MS];
    if (!(ms >= min && ms <= max)) throw new InvalidArgumentError(`expected a duration ${range}.`);
    return Math.round(ms);
  };
}

/** A request deadline (`--request-timeout`): bounded far below where timers break. */
export const duration = durationWithin(BOUNDS.requestTimeoutMs);
/**
 * A `<duration>` flag with a default: the help shows the default as people write it (`10s`), not
 * as the milliseconds it is held in.
 */
export function durationOption(flags: string, description: string, defaultMs: number, parse: (value: string) => number = duration): Option {
  return new Option(flags, description).default(defaultMs, durationText(defaultMs)).argParser(parse);
}
/** `--retry-for`: at most a day (a longer wait is a typo, or a job to schedule rather than leave retrying). */
export const retryFor = durationWithin(BOUNDS.retryForMs);

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

/** The HubSpot mock's `--rate N/DURATION` (`100/10s`, `190/10s`, `5/s`) and `--daily N`. */
export const MOCK_WINDOW_BOUNDS = { limit: { min: 1, max: 100_000 }, windowMs: { min: 10, max: 3_600_000 }, daily: { min: 1, max: 1_000_000_000 } } as const;

const windowDuration = durationWithin(MOCK_WINDOW_BOUNDS.windowMs);

export function rateWindow(value: string): { limit: number; windowMs: number } {
  const { limit: bounds } = MOCK_WINDOW_BOUNDS;
  const match = /^\s*(\d+)\s*\/\s*(.+)$/.exec(value);
  const limit = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(limit) || limit < bounds.min || limit > bounds.max) {
    throw new InvalidArgumentError(`expected REQUESTS/DURATION such as 100/10s, with ${bounds.min} to ${bounds.max} requests.`);
  }
  // `5/s` reads as 5 per 1 s.
  const duration = /^\s*(ms|s|min|m|h)\s*$/.test(match[2]!) ? `1${match[2]!.trim()}` : match[2]!;
  return { limit, windowMs: windowDuration(duration) };
}

export const dailyLimit = wholeNumber(MOCK_WINDOW_BOUNDS.daily.min, MOCK_WINDOW_BOUNDS.daily.max, 'requests per day');

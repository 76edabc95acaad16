import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  baseUrl,
  batchSize,
  BOUNDS,
  checkBaseUrl,
  concurrency,
  dailyLimit,
  duration,
  latency,
  maxPages,
  maxRetries,
  mockRate,
  mockRateOrUnlimited,
  port,
  rate,
  rateWindow,
  redisUrl,
  retryFor,
} from '../../src/cli/parsers.js';
import { UsageError } from '../../src/errors.js';

function refusal(parse: () => unknown): Error {
  try {
    parse();
  } catch (caught) {
    return caught as Error;
  }
  throw new Error('accepted');
}

describe('rate (pull, push, serve --rate)', () => {
  it.each([
    ['0.01', 0.01],
    ['0.5', 0.5],
    ['5', 5],
    [' 10 ', 10],
    ['10000', 10_000],
  ])('accepts %j', (value, expected) => {
    expect(rate(value)).toBe(expected);
  });

  // 1e-9 plans one request every 31 years: the first retry waits for ever.
  it.each(['1e-9', '0.009', '0', '-1', '10000.5', '1e12', 'Infinity', 'NaN', '', 'fast', '0x10', '1e1', '0b11'])('refuses %j, saying the range', (value) => {
    expect(refusal(() => rate(value))).toStrictEqual(new InvalidArgumentError('expected requests per second from 0.01 (one every 100 s) to 10000.'));
  });
});

describe('whole-number flags', () => {
  it.each([
    ['--batch-size', batchSize, 1, 10_000, 'expected profiles per request from 1 to 10000.'],
    ['--max-retries', maxRetries, 0, 100, 'expected a number of retries from 0 to 100.'],
    ['--concurrency', concurrency, 1, 100, 'expected pages in flight from 1 to 100.'],
    ['--max-pages', maxPages, 1, 1_000_000, 'expected a number of pages from 1 to 1000000.'],
    ['mock downstream --rate', mockRate, 1, 10_000, 'expected requests per 1000 ms from 1 to 10000.'],
    ['mock reqres --rate', mockRateOrUnlimited, 0, 10_000, 'expected requests per 1000 ms (0 = unlimited) from 0 to 10000.'],
    ['mock --latency', latency, 0, 3_600_000, 'expected milliseconds from 0 to 3600000.'],
  ] as const)('%s takes %d to %d', (_flag, parse, min, max, message) => {
    expect(parse(String(min))).toBe(min);
    expect(parse(String(max))).toBe(max);
    for (const value of [String(min - 1), String(max + 1), '1e12', '1000000000000', '9007199254740993', '2.5', '', 'x']) {
      expect(refusal(() => parse(value)), value).toStrictEqual(new InvalidArgumentError(message));
    }
  });

  it('the bounds in the messages are the ones in BOUNDS', () => {
    expect(BOUNDS).toMatchObject({
      rate: { min: 0.01, max: 10_000 },
      batchSize: { min: 1, max: 10_000 },
      maxRetries: { min: 0, max: 100 },
      concurrency: { min: 1, max: 100 },
      maxPages: { min: 1, max: 1_000_000 },
      requestTimeoutMs: { min: 1, max: 3_600_000 },
      mockRate: { min: 1, max: 10_000 },
      latencyMs: { min: 0, max: 3_600_000 },
    });
  });
});

describe('duration (--request-timeout)', () => {
  it.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['1', 1],
    ['1.5s', 1500],
    ['3600s', 3_600_000],
    ['3600000', 3_600_000],
  ])('accepts %j as %d ms', (value, ms) => {
    expect(duration(value)).toBe(ms);
  });

  // Past 2^31−1 ms Node fires a timer after 1 ms: 1e15 ms would time every request out at once.
  it.each(['1000000000000000', '3600001', '3601s', '2147483648', '0', '0.5ms', '0s'])('refuses %j, saying the range', (value) => {
    expect(refusal(() => duration(value))).toStrictEqual(new InvalidArgumentError('expected a duration from 1ms to 3600s.'));
  });

  it.each(['1e15', '10 minutes', '-5s', ''])('refuses %j as no duration at all', (value) => {
    expect(refusal(() => duration(value))).toStrictEqual(
      new InvalidArgumentError('expected a duration from 1ms to 3600s, such as 10s, 500ms, 30m, 2h or 10000 (milliseconds).'),
    );
  });

  it('reads minutes and hours too', () => {
    expect([duration('1m'), duration('1min'), duration('1h')]).toEqual([60_000, 60_000, 3_600_000]);
  });
});

describe('retryFor (--retry-for)', () => {
  it('reads milliseconds, seconds, minutes and hours, up to a day', () => {
    expect([retryFor('30s'), retryFor('1.5s'), retryFor('30m'), retryFor('10min'), retryFor('2h'), retryFor(' 24h '), retryFor('86400000')]).toEqual([
      30_000, 1500, 1_800_000, 600_000, 7_200_000, 86_400_000, 86_400_000,
    ]);
  });

  it.each(['25h', '1441m', '0', '500ms'])('refuses %j, saying the range', (value) => {
    expect(refusal(() => retryFor(value))).toStrictEqual(new InvalidArgumentError('expected a duration from 1s to 24h.'));
  });

  it.each(['soon', '10d', '-5s'])('refuses %j as no duration at all', (value) => {
    expect(refusal(() => retryFor(value))).toStrictEqual(new InvalidArgumentError('expected a duration from 1s to 24h, such as 10s, 500ms, 30m, 2h or 10000 (milliseconds).'));
  });
});

describe('port', () => {
  it.each([
    ['0', 0],
    ['3000', 3000],
    ['65535', 65_535],
  ])('accepts %j', (value, expected) => {
    expect(port(value)).toBe(expected);
  });

  it.each(['65536', '-1', '1e3', '80.5', '', '99999999999999999999'])('refuses %j', (value) => {
    expect(refusal(() => port(value))).toStrictEqual(new InvalidArgumentError('expected a port between 0 and 65535.'));
  });
});

describe('checkBaseUrl (--base-url, --downstream-url)', () => {
  it.each([
    ['http://127.0.0.1:4020', 'http://127.0.0.1:4020'],
    ['https://platform.example/v2/', 'https://platform.example/v2'],
    ['http://127.0.0.1:4010/api//', 'http://127.0.0.1:4010/api'],
  ])('accepts %j, without its trailing slash', (value, expected) => {
    expect(checkBaseUrl(value, '--downstream-url')).toBe(expected);
  });

  // Every request path is appended to the base: with a query or fragment each one misses (404).
  it.each(['http://127.0.0.1:4020?x=1', 'http://127.0.0.1:4020/#frag', 'http://127.0.0.1:4020/api?', 'http://127.0.0.1:4020#', 'https://h/p?token=s3cret'])(
    'refuses %j: a base URL has no query or fragment',
    (value) => {
      const error = refusal(() => checkBaseUrl(value, '--downstream-url'));
      expect(error).toStrictEqual(new UsageError('--downstream-url: a base URL takes no query (?…) or fragment (#…): every request path is added to it'));
      expect(error.message).not.toContain('s3cret');
    },
  );

  it.each(['http://u:pa#ss@127.0.0.1:4020', 'http://u:pa/ss@127.0.0.1:4010/api', 'http://u:pa?ss@127.0.0.1:4020', 'http://pa#ss@h', 'https://user:s3cret@h/'])(
    'refuses %j, credentials, before parsing (a # / or ? in the password would hide them from a parser)',
    (value) => {
      expect(refusal(() => checkBaseUrl(value, '--base-url'))).toStrictEqual(
        new UsageError('--base-url: credentials in the URL are not allowed (it holds an @); secrets come from the environment, see --help'),
      );
    },
  );

  it.each([
    ['127.0.0.1:4020', '--base-url: expected an absolute http(s) URL such as https://host:port/path'],
    ['', '--base-url: expected an absolute http(s) URL such as https://host:port/path'],
    ['ftp://h/x', '--base-url: expected an http:// or https:// URL'],
  ])('refuses %j', (value, message) => {
    expect(refusal(() => checkBaseUrl(value, '--base-url'))).toStrictEqual(new UsageError(message));
  });
});

describe('URL parsers name the flag, or the variable the value came from', () => {
  it('baseUrl', () => {
    const parse = baseUrl('--downstream-url', 'SYNC_DOWNSTREAM_URL', { SYNC_DOWNSTREAM_URL: 'http://h?x=1' });
    expect(refusal(() => parse('http://h?x=1')).message).toMatch(/^SYNC_DOWNSTREAM_URL \(--downstream-url\): a base URL takes no query/);
    expect(refusal(() => parse('http://other?x=1')).message).toMatch(/^--downstream-url: a base URL takes no query/);
    expect(baseUrl('--base-url', 'SYNC_SOURCE_URL', {})('http://h/api/')).toBe('http://h/api');
  });

  it('redisUrl', () => {
    const value = 'redis://:s3cr#t/pw@127.0.0.1:6379';
    expect(refusal(() => redisUrl({ SYNC_REDIS_URL: value })(value)).message).toMatch(/^SYNC_REDIS_URL \(--redis-url\): the part before @/);
    expect(refusal(() => redisUrl({})(value)).message).toMatch(/^--redis-url: the part before @/);
    expect(redisUrl({})('redis://127.0.0.1:6379/0')).toBe('redis://127.0.0.1:6379/0');
  });
});

describe('rateWindow (mock hubspot --rate N/DURATION) and dailyLimit (--daily)', () => {
  it.each([
    ['100/10s', { limit: 100, windowMs: 10_000 }],
    ['190 / 10s', { limit: 190, windowMs: 10_000 }],
    ['5/s', { limit: 5, windowMs: 1000 }],
    ['2/500ms', { limit: 2, windowMs: 500 }],
    ['1000/1m', { limit: 1000, windowMs: 60_000 }],
  ])('reads %s', (value, expected) => {
    expect(rateWindow(value)).toEqual(expected);
  });

  it.each([
    ['100', /expected REQUESTS\/DURATION such as 100\/10s/],
    ['0/10s', /with 1 to 100000 requests/],
    ['1.5/10s', /expected REQUESTS\/DURATION/],
    ['100/xyz', /expected a duration from 10ms to 3600s/],
    ['100/2h', /expected a duration from 10ms to 3600s/],
  ])('refuses %s', (value, reason) => {
    expect(() => rateWindow(value)).toThrow(InvalidArgumentError);
    expect(() => rateWindow(value)).toThrow(reason);
  });

  it('--daily is a whole number of requests', () => {
    expect(dailyLimit('250000')).toBe(250_000);
    expect(() => dailyLimit('0')).toThrow(/requests per day from 1 to 1000000000/);
  });
});

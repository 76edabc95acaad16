import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { checkRedisUrl, redactRedisUrl } from '../../src/quota/redis-url.js';

describe('redactRedisUrl', () => {
  it.each([
    ['redis://:s3cret@cache.internal:6379/0', 'redis://***@cache.internal:6379/0'],
    ['rediss://app:s3cret@cache.internal:6380', 'rediss://***@cache.internal:6380'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['not a url://user:s3cret@host', 'not a url://***@host'],
    // Unencoded `#`, `/`, `?` in the password: a URL parser ends the authority there; this does not parse.
    ['redis://:s3cr#t/pw@127.0.0.1:6379', 'redis://***@127.0.0.1:6379'],
    ['redis://:s3cr?t@127.0.0.1:6379/0', 'redis://***@127.0.0.1:6379/0'],
    ['redis://s3cr/t@127.0.0.1:6379', 'redis://***@127.0.0.1:6379'],
    ['not a url://user:s3cret@host/db@0', 'not a url://***@0'],
  ])('%s → %s', (input, expected) => {
    expect(redactRedisUrl(input)).toBe(expected);
    for (const fragment of ['s3cr', 't/pw', 'pw@', 'user']) expect(redactRedisUrl(input)).not.toContain(fragment);
  });

  it('a user name alone is redacted too (it may be a password: `redis://s3cret@host`)', () => {
    expect(redactRedisUrl('redis://s3cret@cache.internal:6379/0')).toBe('redis://***@cache.internal:6379/0');
  });

  it('a value without an @ after // is left as it is', () => {
    expect(redactRedisUrl('not a url')).toBe('not a url');
    expect(redactRedisUrl('redis://cache.internal:6379/0?family=6')).toBe('redis://cache.internal:6379/0?family=6');
  });
});

function refusal(value: string, name?: string): Error {
  try {
    checkRedisUrl(value, name);
  } catch (caught) {
    return caught as Error;
  }
  throw new Error(`${value} was accepted`);
}

describe('checkRedisUrl', () => {
  it('accepts redis:// and rediss://, with an encoded password and options', () => {
    expect(checkRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(checkRedisUrl('rediss://:pw@host')).toBe('rediss://:pw@host');
    expect(checkRedisUrl('redis://:s3cr%23t%2Fpw@127.0.0.1:6379/0?family=6')).toBe('redis://:s3cr%23t%2Fpw@127.0.0.1:6379/0?family=6');
    expect(checkRedisUrl('redis://app:p@ss@127.0.0.1:6379')).toBe('redis://app:p@ss@127.0.0.1:6379');
  });

  it.each([
    ['http://:s3cret@host:6379', '--redis-url: expected a redis:// or rediss:// URL'],
    ['redis//:s3cret@host', '--redis-url: expected a URL such as redis://host:6379/0 or rediss://host:6380, any password as :PASSWORD@ before the host'],
    ['', '--redis-url: expected a URL such as redis://host:6379/0 or rediss://host:6380, any password as :PASSWORD@ before the host'],
    ['redis:///0', '--redis-url: no host'],
    ['redis:s3cret@host', '--redis-url: no host'],
  ])('refuses %j with a usage error that names the flag and does not echo the value', (value, message) => {
    const error = refusal(value);
    expect(error).toStrictEqual(new UsageError(message));
    expect(error).toBeInstanceOf(UsageError);
  });

  it.each(['redis://:s3cr#t/pw@127.0.0.1:6379', 'redis://:s3cr?t@127.0.0.1:6379', 'redis://s3cr/t@127.0.0.1:6379', 'redis://s3cr#t@127.0.0.1:6379'])(
    'refuses %j, whose password holds an unencoded # / or ?: the host would be read from the password',
    (value) => {
      const error = refusal(value);
      expect(error).toStrictEqual(new UsageError('--redis-url: the part before @ holds / ? or #, which end the host early; percent-encode them in the password (%2F %3F %23)'));
    },
  );

  it('names the variable when the value came from it', () => {
    expect(refusal('redis://:s3cr#t/pw@127.0.0.1:6379', 'SYNC_REDIS_URL').message).toMatch(/^SYNC_REDIS_URL: /);
  });
});

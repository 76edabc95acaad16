import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { checkRedisUrl, redactRedisUrl } from '../../src/quota/redis-url.js';

describe('redactRedisUrl', () => {
  it.each([
    ['redis://:s3cret@cache.internal:6379/0', 'redis://:***@cache.internal:6379/0'],
    ['rediss://app:s3cret@cache.internal:6380', 'rediss://app:***@cache.internal:6380'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['not a url://user:s3cret@host', 'not a url://***@host'],
    ['not a url://user:s3cret@host/db@0', 'not a url://***@host/db@0'],
  ])('%s → %s', (input, expected) => {
    expect(redactRedisUrl(input)).toBe(expected);
    expect(redactRedisUrl(input)).not.toContain('s3cret');
  });
});

describe('redactRedisUrl, the other shapes of credentials', () => {
  it('a user name alone is redacted too (it may be a password: `redis://s3cret@host`)', () => {
    expect(redactRedisUrl('redis://s3cret@cache.internal:6379/0')).toBe('redis://***@cache.internal:6379/0');
  });

  it('a user name with a password keeps the name: it names the account, the password is the secret', () => {
    expect(redactRedisUrl('redis://app:s3cret@cache.internal')).toBe('redis://app:***@cache.internal');
  });

  it('an unparsable value without credentials, or with an @ only after the host, is left as it is', () => {
    expect(redactRedisUrl('not a url://host/path@x')).toBe('not a url://host/path@x');
    expect(redactRedisUrl('not a url')).toBe('not a url');
  });
});

describe('checkRedisUrl', () => {
  it('accepts redis:// and rediss://', () => {
    expect(checkRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(checkRedisUrl('rediss://:pw@host')).toBe('rediss://:pw@host');
  });

  it.each(['http://:s3cret@host:6379', 'redis//:s3cret@host', ''])('refuses %j with a usage error that does not echo the password', (value) => {
    const error = (() => {
      try {
        checkRedisUrl(value);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).toMatch(/^--redis-url /);
    expect(error!.message).not.toContain('s3cret');
  });

  it.each([
    ['redis//:s3cret@host', '--redis-url redis//***@host: expected redis://[:password@]host[:port][/db]'],
    ['http://:s3cret@host:6379', '--redis-url http://:***@host:6379/: expected a redis:// or rediss:// URL'],
    ['redis:///0', '--redis-url redis:///0: no host'],
  ])('says what is wrong with %j', (value, message) => {
    expect(() => checkRedisUrl(value)).toThrow(new UsageError(message));
  });
});

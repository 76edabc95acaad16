import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { checkRedisUrl, redactRedisUrl } from '../../src/quota/redis-url.js';

describe('redactRedisUrl', () => {
  it.each([
    ['redis://:s3cret@cache.internal:6379/0', 'redis://:***@cache.internal:6379/0'],
    ['rediss://app:s3cret@cache.internal:6380', 'rediss://app:***@cache.internal:6380'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['not a url://user:s3cret@host', 'not a url://***@host'],
  ])('%s → %s', (input, expected) => {
    expect(redactRedisUrl(input)).toBe(expected);
    expect(redactRedisUrl(input)).not.toContain('s3cret');
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
});

import { describe, expect, it } from 'vitest';
import { baseUrl, checkBaseUrl, redisUrl } from '../../src/cli/parsers.js';
import { UsageError } from '../../src/errors.js';

function refusal(parse: () => unknown): Error {
  try {
    parse();
  } catch (caught) {
    return caught as Error;
  }
  throw new Error('accepted');
}

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

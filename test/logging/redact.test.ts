import { describe, expect, it } from 'vitest';
import { redactCredentials, redactValue } from '../../src/logging/redact.js';
import { memoryLogger } from '../helpers/logger.js';

/** Passwords that break URL parsers: an unencoded `#`, `/` or `?` ends the authority early. */
const HOSTILE = [
  { url: 'redis://:s3cr#t/pw@127.0.0.1:6379', fragments: ['s3cr', 't/pw', '#t', '/pw'] },
  { url: 'http://u:pa#ss@127.0.0.1:4020', fragments: ['pa#ss', 'pa#', '#ss'] },
  { url: 'http://u:pa/ss@127.0.0.1:4010/api', fragments: ['pa/ss', 'pa/', '/ss'] },
  { url: 'http://u:pa?ss@127.0.0.1:4020', fragments: ['pa?ss', 'pa?', '?ss'] },
];

describe('redactCredentials', () => {
  it.each([
    ['http://user:s3cret@host/api', 'http://***@host/api'],
    ["argument 'https://ann:p%40ss@h.example:8443/x?y=1' is invalid", "argument 'https://***@h.example:8443/x?y=1' is invalid"],
    ['token only: https://ghp_abc123@github.com/x', 'token only: https://***@github.com/x'],
    ['two: http://a:1@h1 and http://b:2@h2/', 'two: http://***@h1 and http://***@h2/'],
    ['empty password http://a:@h', 'empty password http://***@h'],
    // The user name goes too: tokens are put there (`https://TOKEN:x-oauth-basic@host`).
    ['https://ghp_abc123:x-oauth-basic@github.com/x', 'https://***@github.com/x'],
  ])('%s', (input, expected) => {
    expect(redactCredentials(input)).toBe(expected);
  });

  it.each(HOSTILE)('hides everything up to the last @ of $url, whatever the password holds', ({ url, fragments }) => {
    const text = `error: option '--x <url>' argument '${url}' is invalid. expected an absolute http(s) URL.`;
    const redacted = redactCredentials(text);
    expect(redacted).toBe(`error: option '--x <url>' argument '${url.slice(0, url.indexOf('//') + 2)}***${url.slice(url.lastIndexOf('@'))}' is invalid. expected an absolute http(s) URL.`);
    for (const fragment of fragments) expect(redacted).not.toContain(fragment);
  });

  it('takes each whitespace-delimited token on its own: an @ in a later word does not swallow the text between', () => {
    expect(redactCredentials('at redis://:s3cr#t/pw@127.0.0.1:6379 for ann@example.com')).toBe('at redis://***@127.0.0.1:6379 for ann@example.com');
    expect(redactCredentials('line one http://u:pa/ss@h\nline two x@y')).toBe('line one http://***@h\nline two x@y');
  });

  it('leaves URLs without credentials and emails alone', () => {
    for (const text of ['http://127.0.0.1:4010/api?page=2', 'ann@example.com rejected', 'mailto:ann@example.com', 'a***@reqres.in', 'http://host/a @ b']) {
      expect(redactCredentials(text)).toBe(text);
    }
  });

  it('applies to every log message', async () => {
    const log = await memoryLogger();
    log.logger.warn({ stage: 'fetch' }, 'GET http://user:s3cret@host/api failed');
    log.logger.error({ stage: 'run' }, 'cannot reach Redis at redis://:s3cr#t/pw@127.0.0.1:6379 (--redis-url)');
    expect(log.lines().map((line) => line.msg)).toStrictEqual([
      'GET http://***@host/api failed',
      'cannot reach Redis at redis://***@127.0.0.1:6379 (--redis-url)',
    ]);
  });
});

describe('redactValue (a whole flag or variable value)', () => {
  it.each(HOSTILE)('hides everything between // and the last @ of $url', ({ url, fragments }) => {
    const redacted = redactValue(url);
    expect(redacted).toBe(`${url.slice(0, url.indexOf('//') + 2)}***${url.slice(url.lastIndexOf('@'))}`);
    for (const fragment of fragments) expect(redacted).not.toContain(fragment);
  });

  it('a password with a space, which splits the text into two tokens, is still hidden whole', () => {
    expect(redactValue('redis://:my s3cret@127.0.0.1:6379')).toBe('redis://***@127.0.0.1:6379');
  });

  it('an @ after the host still counts: the password may have ended the host early', () => {
    expect(redactValue('redis://h:6379/0#s3cr@x')).toBe('redis://***@x');
  });

  it('leaves a value without // or without @ alone', () => {
    for (const value of ['redis://127.0.0.1:6379/0', 'http://h/api', 'ann@example.com', '']) expect(redactValue(value)).toBe(value);
  });
});

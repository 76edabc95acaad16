import { describe, expect, it } from 'vitest';
import { redactCredentials } from '../../src/logging/redact.js';
import { memoryLogger } from '../helpers/logger.js';

describe('redactCredentials', () => {
  it.each([
    ['http://user:s3cret@host/api', 'http://user:***@host/api'],
    ["argument 'https://ann:p%40ss@h.example:8443/x?y=1' is invalid", "argument 'https://ann:***@h.example:8443/x?y=1' is invalid"],
    ['token only: https://ghp_abc123@github.com/x', 'token only: https://***@github.com/x'],
    ['two: http://a:1@h1 and http://b:2@h2/', 'two: http://a:***@h1 and http://b:***@h2/'],
    ['empty password http://a:@h', 'empty password http://a:***@h'],
  ])('%s', (input, expected) => {
    expect(redactCredentials(input)).toBe(expected);
  });

  it('leaves URLs without credentials and emails alone', () => {
    for (const text of ['http://127.0.0.1:4010/api?page=2', 'ann@example.com rejected', 'mailto:ann@example.com', 'a***@reqres.in']) {
      expect(redactCredentials(text)).toBe(text);
    }
  });

  it('applies to every log message', async () => {
    const log = await memoryLogger();
    log.logger.warn({ stage: 'fetch' }, 'GET http://user:s3cret@host/api failed');
    expect(log.lines()[0]).toMatchObject({ msg: 'GET http://user:***@host/api failed' });
  });
});

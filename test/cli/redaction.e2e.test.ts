import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis } from '../helpers/redis-server.js';
import { expectNoneOf, refusal } from '../helpers/refusal.js';

// One refusal through the real launcher (the other cases of it, and every hostile password, run in
// process: redaction.test.ts), and the messages of runs that get as far as Redis.
describe('a URL with credentials (spawned)', () => {
  it.each([
    [['pull', '--base-url', 'http://user:s3cret@127.0.0.1:1/api'], {}, '--base-url'],
  ])('sync %j is refused (exit 2) without echoing the secret', async (args, env, name) => {
    const result = await runCli(args, { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${name}: credentials in the URL are not allowed`);
    expectNoneOf(result, ['s3cret']);
  });
});

describe('Redis URLs that reach the quota: the messages that name them', () => {
  it.each(['json', 'pretty'] as const)('an unreachable Redis is named without its password (%s)', async (format) => {
    // Valid (the password percent-encodes its # and /, a space is allowed), but nothing listens on port 1.
    const url = 'redis://Zq0:Zq1%23Zq2%2FZq3 Zq4@127.0.0.1:1';
    const result = await runCli(['--log-format', format, 'push', 'x.ndjson', '--downstream-url', 'http://127.0.0.1:1', '--redis-url', url]);
    expect(result.code, result.stderr).toBe(2);
    expect(refusal(result, format)).toMatch(/^cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:1 \(--redis-url\)/);
    expectNoneOf(result, ['Zq']);
  });

  it.skipIf(!REDIS_SERVER)(`a shared quota says where it is without the password${REDIS_SERVER ? '' : ` (${SKIP_REDIS_MESSAGE})`}`, async () => {
    const redis = await startRedis();
    try {
      // The server wants no password: the client warns and carries on, so the run gets as far as logging the quota.
      const url = `redis://:Zq1%23Zq2@127.0.0.1:${redis.port}`;
      const result = await runCli(['--log-format', 'json', 'pull', '--base-url', 'http://127.0.0.1:1/api', '--max-retries', '0', '--redis-url', url]);
      expect(result.stderr).toContain(`rate limit shared through Redis at redis://***@127.0.0.1:${redis.port}`);
      expectNoneOf(result, ['Zq']);
    } finally {
      await redis.stop();
    }
  });
});

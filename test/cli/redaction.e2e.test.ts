import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis } from '../helpers/redis-server.js';

/** The one line a refused run prints on stderr, whatever the log format. */
function refusal(result: CliResult, format: 'json' | 'pretty'): string {
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, result.stderr).toHaveLength(1);
  if (format === 'pretty') {
    expect(lines[0]).toMatch(/^error: /);
    return lines[0]!.slice('error: '.length);
  }
  const line = JSON.parse(lines[0]!) as { level: string; exitCode: number; errorClass: string; msg: string };
  expect(line).toMatchObject({ level: 'error', exitCode: 2, errorClass: 'client' });
  return line.msg;
}

function expectNoneOf(result: CliResult, fragments: string[]): void {
  for (const fragment of fragments) {
    expect(result.stdout, fragment).not.toContain(fragment);
    expect(result.stderr, fragment).not.toContain(fragment);
  }
}

describe('a URL with credentials (spawned)', () => {
  it.each([
    [['pull', '--base-url', 'http://user:s3cret@127.0.0.1:1/api'], {}, '--base-url'],
    [['pull'], { SYNC_SOURCE_URL: 'http://user:s3cret@127.0.0.1:1/api' }, 'SYNC_SOURCE_URL (--base-url)'],
    [['push', 'x.ndjson', '--downstream-url', 'https://user:s3cret@127.0.0.1:1/'], {}, '--downstream-url'],
    [['serve', '--port', '0'], { SYNC_DOWNSTREAM_URL: 'http://s3cret@127.0.0.1:1' }, 'SYNC_DOWNSTREAM_URL (--downstream-url)'],
    [['pull', '--log-format', 'json', '--base-url', 'http://user:s3cret@127.0.0.1:1/api'], {}, '--base-url'],
  ])('sync %j is refused (exit 2) without echoing the secret', async (args, env, name) => {
    const result = await runCli(args, { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${name}: credentials in the URL are not allowed`);
    expectNoneOf(result, ['s3cret']);
  });
});

/**
 * Passwords holding an unencoded `#`, `/` or `?`: a URL parser ends the host there, so anything
 * that finds the password by parsing misses it. Each case as flag and as variable, in both formats.
 */
const HOSTILE = [
  {
    url: 'redis://:s3cr#t/pw@127.0.0.1:6379',
    fragments: ['s3cr', 't/pw', '#t', '/pw'],
    flag: ['pull', '--redis-url'],
    env: ['pull'],
    variable: 'SYNC_REDIS_URL',
    name: '--redis-url',
    says: 'the part before @ holds / ? or #',
  },
  {
    url: 'http://u:pa#ss@127.0.0.1:4020',
    fragments: ['pa#ss', 'pa#', '#ss'],
    flag: ['push', 'x.ndjson', '--downstream-url'],
    env: ['push', 'x.ndjson'],
    variable: 'SYNC_DOWNSTREAM_URL',
    name: '--downstream-url',
    says: 'credentials in the URL are not allowed',
  },
  {
    url: 'http://u:pa/ss@127.0.0.1:4010/api',
    fragments: ['pa/ss', 'pa/', '/ss'],
    flag: ['pull', '--base-url'],
    env: ['pull'],
    variable: 'SYNC_SOURCE_URL',
    name: '--base-url',
    says: 'credentials in the URL are not allowed',
  },
  {
    url: 'http://u:pa?ss@127.0.0.1:4020',
    fragments: ['pa?ss', 'pa?', '?ss'],
    flag: ['serve', '--port', '0', '--downstream-url'],
    env: ['serve', '--port', '0'],
    variable: 'SYNC_DOWNSTREAM_URL',
    name: '--downstream-url',
    says: 'credentials in the URL are not allowed',
  },
];

/** The same shapes with every piece of the password marked, so that no piece at all may show. */
const MARKED = [
  { ...HOSTILE[0]!, url: 'redis://:Zq1#Zq2/Zq3@127.0.0.1:6379', fragments: ['Zq'] },
  { ...HOSTILE[1]!, url: 'http://Zq0:Zq1#Zq2@127.0.0.1:4020', fragments: ['Zq'] },
  { ...HOSTILE[2]!, url: 'http://Zq0:Zq1/Zq2@127.0.0.1:4010/api', fragments: ['Zq'] },
  { ...HOSTILE[3]!, url: 'http://Zq0:Zq1?Zq2@127.0.0.1:4020', fragments: ['Zq'] },
];

const RUNS = [...HOSTILE, ...MARKED].flatMap((shape) =>
  (['json', 'pretty'] as const).flatMap((format) => [
    { ...shape, format, via: 'flag', args: [...shape.flag, shape.url], env: {}, named: shape.name },
    { ...shape, format, via: 'variable', args: shape.env, env: { [shape.variable]: shape.url }, named: `${shape.variable} (${shape.name})` },
  ]),
);

describe('a password with an unencoded # / or ? (spawned)', () => {
  it.concurrent.each(RUNS)('$url by $via, $format logs: exit 2, one line naming it, no piece of the password', async ({ args, env, format, fragments, named, says }) => {
    const result = await runCli(['--log-format', format, ...args], { env });
    expect(result.code, result.stderr).toBe(2);
    const prefix = `${named}: ${says}`;
    expect(refusal(result, format).slice(0, prefix.length)).toBe(prefix);
    expectNoneOf(result, fragments);
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

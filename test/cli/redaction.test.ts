import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';
import { expectNoneOf, refusal } from '../helpers/refusal.js';

// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). The same
// refusal through the real bin/sync.js, and the messages that need a network, are in redaction.e2e.test.ts.
describe('a URL with credentials (in process)', () => {
  it.each([
    [['pull'], { SYNC_SOURCE_URL: 'http://user:s3cret@127.0.0.1:1/api' }, 'SYNC_SOURCE_URL (--base-url)'],
    [['push', 'x.ndjson', '--downstream-url', 'https://user:s3cret@127.0.0.1:1/'], {}, '--downstream-url'],
    [['serve', '--port', '0'], { SYNC_DOWNSTREAM_URL: 'http://s3cret@127.0.0.1:1' }, 'SYNC_DOWNSTREAM_URL (--downstream-url)'],
    [['pull', '--log-format', 'json', '--base-url', 'http://user:s3cret@127.0.0.1:1/api'], {}, '--base-url'],
  ])('sync %j is refused (exit 2) without echoing the secret', async (args, env, name) => {
    const result = await runMain(args, { env });
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

describe('a password with an unencoded # / or ? (in process)', () => {
  it.concurrent.each(RUNS)('$url by $via, $format logs: exit 2, one line naming it, no piece of the password', async ({ args, env, format, fragments, named, says }) => {
    const result = await runMain(['--log-format', format, ...args], { env });
    expect(result.code, result.stderr).toBe(2);
    const prefix = `${named}: ${says}`;
    expect(refusal(result, format).slice(0, prefix.length)).toBe(prefix);
    expectNoneOf(result, fragments);
  });
});


import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/in-process-cli.js';
import { countingServer } from '../helpers/counting-server.js';
import { useTempDir } from '../helpers/tmp.js';
import { usageRefusal as refusal } from '../helpers/refusal.js';

const PROFILES = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));

describe('a base URL with a query or fragment is refused before anything is read or sent (in process)', () => {
  const tmp = useTempDir();
  const platform = countingServer();

  const QUERY = 'a base URL takes no query (?…) or fragment (#…): every request path is added to it';

  it.each([
    { command: 'push', args: (_base: string, dir: string) => ['push', PROFILES, '--dead-letter', join(dir, 'dl.ndjson')], env: (base: string) => ({ SYNC_DOWNSTREAM_URL: `${base}/#frag` }), name: 'SYNC_DOWNSTREAM_URL (--downstream-url)' },
    { command: 'serve', args: (base: string) => ['serve', '--port', '0', '--downstream-url', `${base}/#frag`], env: () => ({}), name: '--downstream-url' },
    { command: 'serve', args: () => ['serve', '--port', '0'], env: (base: string) => ({ SYNC_DOWNSTREAM_URL: `${base}?x=1` }), name: 'SYNC_DOWNSTREAM_URL (--downstream-url)' },
    { command: 'pull', args: (base: string, dir: string) => ['pull', '--out', join(dir, 'out.json'), '--base-url', `${base}/api?x=1`], env: () => ({}), name: '--base-url' },
    { command: 'pull', args: (_base: string, dir: string) => ['pull', '--out', join(dir, 'out.json')], env: (base: string) => ({ SYNC_SOURCE_URL: `${base}/api#frag` }), name: 'SYNC_SOURCE_URL (--base-url)' },
  ])('$command, $name', async ({ args, env, name }) => {
    const dir = tmp();
    const before = platform.requests();
    const result = await runMain(args(platform.url(), dir), { env: env(platform.url()) });
    expect(refusal(result)).toBe(`${name}: ${QUERY}`);
    expect(platform.requests() - before).toBe(0);
    expect(existsSync(join(dir, 'dl.ndjson'))).toBe(false);
    expect(existsSync(join(dir, 'out.json'))).toBe(false);
  });
});

describe('numeric flags out of range are exit 2, naming the flag and the range (in process)', () => {
  it.each([
    [['pull', '--rate', '1e-9'], "option '--rate <n>' argument '1e-9' is invalid. expected requests per second from 0.01 (one every 100 s) to 10000."],
    [['pull', '--concurrency', '1000000'], "option '--concurrency <n>' argument '1000000' is invalid. expected pages in flight from 1 to 100."],
    [['pull', '--max-retries', '9007199254740991'], "option '--max-retries <n>' argument '9007199254740991' is invalid. expected a number of retries from 0 to 100."],
    [['push', PROFILES, '--downstream-url', 'http://127.0.0.1:1', '--rate', '1e-9'], "option '--rate <n>' argument '1e-9' is invalid. expected requests per second from 0.01 (one every 100 s) to 10000."],
    [['push', PROFILES, '--downstream-url', 'http://127.0.0.1:1', '--batch-size', '1000000000000'], "option '--batch-size <n>' argument '1000000000000' is invalid. expected profiles per request from 1 to 10000."],
    [['push', PROFILES, '--downstream-url', 'http://127.0.0.1:1', '--request-timeout', '1000000000000000'], "option '--request-timeout <duration>' argument '1000000000000000' is invalid. expected a duration from 1ms to 3600s."],
    [['serve', '--port', '0', '--downstream-url', 'http://127.0.0.1:1', '--rate', '20000'], "option '--rate <n>' argument '20000' is invalid. expected requests per second from 0.01 (one every 100 s) to 10000."],
    [['serve', '--port', '0', '--downstream-url', 'http://127.0.0.1:1', '--request-timeout', '2147483648'], "option '--request-timeout <duration>' argument '2147483648' is invalid. expected a duration from 1ms to 3600s."],
    [['serve', '--port', '70000', '--downstream-url', 'http://127.0.0.1:1'], "option '--port <n>' argument '70000' is invalid. expected a port between 0 and 65535."],
    [['mock', 'reqres', '--port', '0', '--rate', '10001'], "option '--rate <n>' argument '10001' is invalid. expected requests per 1000 ms (0 = unlimited) from 0 to 10000."],
    [['mock', 'downstream', '--port', '0', '--rate', '0'], "option '--rate <n>' argument '0' is invalid. expected requests per 1000 ms from 1 to 10000."],
    [['mock', 'downstream', '--port', '0', '--latency', '2147483648'], "option '--latency <ms>' argument '2147483648' is invalid. expected milliseconds from 0 to 3600000."],
  ])('sync %j', async (args, message) => {
    const result = await runMain(args);
    expect(refusal(result)).toBe(message);
  });
});

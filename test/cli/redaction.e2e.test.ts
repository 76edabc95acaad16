import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('a URL with credentials (spawned)', () => {
  it.each([
    [['pull', '--base-url', 'http://user:s3cret@127.0.0.1:1/api'], {}],
    [['pull'], { SYNC_SOURCE_URL: 'http://user:s3cret@127.0.0.1:1/api' }],
    [['push', 'x.ndjson', '--downstream-url', 'https://user:s3cret@127.0.0.1:1/'], {}],
    [['serve', '--port', '0'], { SYNC_DOWNSTREAM_URL: 'http://s3cret@127.0.0.1:1' }],
    [['pull', '--log-format', 'json', '--base-url', 'http://user:s3cret@127.0.0.1:1/api'], {}],
  ])('sync %j is refused (exit 2) without echoing the secret', async (args, env) => {
    const result = await runCli(args, { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/credentials in the URL are not allowed/);
    expect(result.stderr).toMatch(/http:\/\/(user:)?\*\*\*@127\.0\.0\.1|https:\/\/user:\*\*\*@/);
    expect(result.stderr + result.stdout).not.toContain('s3cret');
  });
});

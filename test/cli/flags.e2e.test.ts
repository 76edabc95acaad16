import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { close, listen } from '../../src/http/server.js';
import { seededRandom } from '../../src/engine/random.js';
import { createReqresMock, loadUsers } from '../../src/mock/reqres-server.js';
import { runCli } from '../helpers/cli.js';
import { countingServer } from '../helpers/counting-server.js';
import { useTempDir } from '../helpers/tmp.js';
import { usageRefusal as refusal } from '../helpers/refusal.js';

const PROFILES = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));

describe('a base URL with a query or fragment is refused before anything is read or sent (spawned)', () => {
  const tmp = useTempDir();
  const platform = countingServer();

  const QUERY = 'a base URL takes no query (?…) or fragment (#…): every request path is added to it';

  it.each([
    { command: 'push', args: (base: string, dir: string) => ['push', PROFILES, '--dead-letter', join(dir, 'dl.ndjson'), '--downstream-url', `${base}?x=1`], env: (_base: string) => ({}), name: '--downstream-url' },
  ])('$command, $name', async ({ args, env, name }) => {
    const dir = tmp();
    const before = platform.requests();
    const result = await runCli(args(platform.url(), dir), { env: env(platform.url()) });
    expect(refusal(result)).toBe(`${name}: ${QUERY}`);
    expect(platform.requests() - before).toBe(0);
    expect(existsSync(join(dir, 'dl.ndjson'))).toBe(false);
    expect(existsSync(join(dir, 'out.json'))).toBe(false);
  });

  it('a trailing slash is still fine: it is dropped', async () => {
    const mock = createReqresMock({ users: loadUsers(), random: seededRandom(1) });
    const source = await listen(mock, 0);
    try {
      const result = await runCli(['pull', '--base-url', `${source}/api/`, '--out', join(tmp(), 'out.json'), '--json']);
      expect(result.code, result.stderr).toBe(0);
      expect(mock.stats.requests).toBeGreaterThan(1);
      expect(JSON.parse(result.stdout)).toMatchObject({ pages: expect.any(Number), exported: expect.any(Number) });
    } finally {
      await close(mock);
    }
  });
});

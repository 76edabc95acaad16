import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

const TOKEN = 'pat-na1-serve-SECRET';

describe('serve --to and HubSpot\'s own rate limit (spawned)', () => {
  const tmp = useTempDir();
  const servers: RunningServer[] = [];
  const start = async (args: string[], env: Record<string, string> = {}) => {
    const server = await startServer(args, env);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });
  const post = (server: RunningServer, path: string, body: unknown) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('serve --to hubspot answers each caller with its own profile\'s outcome from HubSpot', async () => {
    const mock = await start(['mock', 'hubspot', '--port', '0', '--token', TOKEN, '--property', 'tier']);
    const serve = await start(['serve', '--port', '0', '--to', 'hubspot', '--downstream-url', mock.url, '--map', 'metadata.tier=tier'], { SYNC_DOWNSTREAM_TOKEN: TOKEN });
    const [good, refused, invalid] = await Promise.all([
      post(serve, '/profiles', { email: 'ann@example.com', firstName: 'ann', lastName: 'lee', metadata: { tier: 'gold' } }),
      post(serve, '/profiles', { email: 'bo@suppressed.example', firstName: 'Bo', lastName: 'Cked' }),
      post(serve, '/profiles', { email: 'ann@example.com', firstName: 'ann', lastName: 'lee', metadata: { tier: { nested: true } } }),
    ]);
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({ status: 'forwarded', email: 'ann@example.com' });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ status: 'rejected', error: expect.stringMatching(/BLOCKED_EMAIL/) });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ status: 'invalid', errors: [{ path: '', message: expect.stringMatching(/metadata\.tier is an object/) }] });
    const contact = (await (await fetch(`${mock.url}/__mock/contacts?email=ann@example.com`)).json()) as Record<string, string>;
    expect(contact.tier).toBe('gold');
    const stopped = await serve.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.stderr + stopped.stdout).not.toContain(TOKEN);
  });

  it('serve --to hubspot with a refused token does not start: exit 2, one line', async () => {
    const mock = await start(['mock', 'hubspot', '--port', '0', '--token', TOKEN]);
    const result = await runCli(['serve', '--port', '0', '--to', 'hubspot', '--downstream-url', mock.url], { env: { SYNC_DOWNSTREAM_TOKEN: 'pat-na1-wrong' } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/HubSpot refused SYNC_DOWNSTREAM_TOKEN/);
  });

  it('a HubSpot 429 (no Retry-After) pauses every request for the window HubSpot names, then everything is delivered', async () => {
    const mock = await start(['mock', 'hubspot', '--port', '0', '--rate', '3/2s']);
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, Array.from({ length: 500 }, (_, i) => JSON.stringify({ email: `u${i}@example.com`, firstName: 'A', lastName: 'B' })).join('\n'));
    const result = await runCli(['push', file, '--to', 'hubspot', '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json', '--log-format', 'json'], {
      env: { SYNC_DOWNSTREAM_TOKEN: TOKEN },
      timeoutMs: 30_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ delivered: 500 });
    const stats = (await (await fetch(`${mock.url}/__mock/stats`)).json()) as { rateLimited: number; contacts: number };
    expect(stats.contacts).toBe(500);
    expect(stats.rateLimited).toBeGreaterThan(0);
    // Each 429 was waited out for HubSpot's whole 2 s window, not the default 1 s.
    const retries = result.stderr.split('\n').filter((line) => line.includes('"kind":"rate-limited"')).map((line) => JSON.parse(line) as { delayMs: number });
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((retry) => retry.delayMs === 2000)).toBe(true);
  });
});

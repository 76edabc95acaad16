import { createServer, type Server } from 'node:http';
import nock from 'nock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthError, HttpStatusError, UnavailableError, UnexpectedResponseError } from '../../src/errors.js';
import { Executor } from '../../src/engine/executor.js';
import { RateLimiter } from '../../src/engine/rate-limiter.js';
import { RetryPolicy } from '../../src/engine/retry-policy.js';
import { close, listen } from '../../src/http/server.js';
import { CustomerAPIClient } from '../../src/pull/customer-api-client.js';
import { startDripServer } from '../helpers/drip-server.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { maxInAnyWindow } from '../helpers/windows.js';

const BASE = 'http://reqres.test/api';
const T0 = Date.parse('2026-01-20T15:30:00.000Z');

function page(n: number, totalPages: number, ids: number[]) {
  return { page: n, per_page: ids.length, total: ids.length * totalPages, total_pages: totalPages, data: ids.map((id) => ({ id })) };
}

function setup({
  maxRetries = 3,
  rate = 10,
  baseUrl = BASE,
  timeoutMs = 5000,
  onWarning,
}: { maxRetries?: number; rate?: number; baseUrl?: string; timeoutMs?: number; onWarning?: (page: number, message: string) => void } = {}) {
  const clock = new VirtualClock(T0);
  const limiter = new RateLimiter({ limit: rate, clock });
  const executor = new Executor({ clock, limiter, policy: new RetryPolicy({ maxRetries, random: () => 1 }) });
  const client = new CustomerAPIClient({ baseUrl, apiKey: 'test-key', executor, timeoutMs, onWarning });
  return { clock, limiter, executor, client };
}

describe('CustomerAPIClient.fetchPage', () => {
  it('sends the API key and parses the reqres envelope', async () => {
    const scope = nock(BASE, { reqheaders: { 'x-api-key': 'test-key' } })
      .get('/users')
      .query({ page: 1 })
      .reply(200, page(1, 1, [1, 2]));
    const { client } = setup();
    const body = await client.fetchPage(1);
    expect(body.data).toEqual([{ id: 1 }, { id: 2 }]);
    expect(scope.isDone()).toBe(true);
  });

  it('retries 500 then 503, then succeeds, waiting 1 s then 2 s', async () => {
    nock(BASE).get('/users').query({ page: 1 }).reply(500).get('/users').query({ page: 1 }).reply(503).get('/users').query({ page: 1 }).reply(200, page(1, 1, [7]));
    const { client, clock, executor } = setup();
    await expect(client.fetchPage(1)).resolves.toMatchObject({ data: [{ id: 7 }] });
    expect(clock.sleeps).toEqual([1000, 2000]);
    expect(executor.stats).toMatchObject({ requests: 3, retries: 2 });
  });

  it('gives up after 3 retries at 1 s, 2 s, 4 s', async () => {
    const scope = nock(BASE).get('/users').query({ page: 2 }).times(4).reply(502);
    const { client, clock } = setup();
    const result = client.fetchPage(2);
    await expect(result).rejects.toBeInstanceOf(UnavailableError);
    await expect(result).rejects.toThrow('page 2: HTTP 502 (gave up after 3 retries)');
    expect(clock.sleeps).toEqual([1000, 2000, 4000]);
    expect(scope.isDone()).toBe(true);
  });

  it('honours Retry-After in seconds on 429', async () => {
    nock(BASE).get('/users').query({ page: 1 }).reply(429, {}, { 'Retry-After': '3' }).get('/users').query({ page: 1 }).reply(200, page(1, 1, [1]));
    const { client, clock, executor } = setup();
    await client.fetchPage(1);
    expect(clock.sleeps).toEqual([3000]);
    expect(executor.stats.rateLimited).toBe(1);
  });

  it('honours Retry-After as an HTTP date on 429', async () => {
    const at = new Date(T0 + 5000).toUTCString();
    nock(BASE).get('/users').query({ page: 1 }).reply(429, {}, { 'Retry-After': at }).get('/users').query({ page: 1 }).reply(200, page(1, 1, [1]));
    const { client, clock } = setup();
    await client.fetchPage(1);
    expect(clock.sleeps).toEqual([5000]);
  });

  it('429 forever with Retry-After: 3600 ends the page after 2 min of waiting (the 60 s cap twice), as unavailable', async () => {
    const scope = nock(BASE).get('/users').query({ page: 1 }).times(3).reply(429, {}, { 'Retry-After': '3600' });
    const { client, clock } = setup();
    const started = clock.now();
    const result = client.fetchPage(1);
    await expect(result).rejects.toBeInstanceOf(UnavailableError);
    await expect(result).rejects.toThrow('page 1: HTTP 429 (rate-limited for 2 min in all, the most a request waits on 429s unless --retry-for allows more; gave up)');
    expect(clock.sleeps.filter((ms) => ms > 1000)).toEqual([60_000, 60_000]);
    expect(clock.now() - started).toBe(120_000);
    expect(scope.isDone()).toBe(true);
  });

  it('waits 1 s on a 429 without Retry-After, and slows the whole source down', async () => {
    nock(BASE).get('/users').query({ page: 1 }).reply(429).get('/users').query({ page: 1 }).reply(200, page(1, 1, [1]));
    const { client, clock, limiter } = setup();
    await client.fetchPage(1);
    expect(clock.sleeps).toEqual([1000]);
    // Halved to 5 by the 429, then one step back up after the success a window later.
    expect(limiter.currentLimit).toBe(6);
  });

  it.each([401, 403])('stops at once on %i, naming SYNC_API_KEY', async (status) => {
    const scope = nock(BASE).get('/users').query({ page: 1 }).reply(status, { error: 'Missing API key' });
    const { client, clock } = setup();
    const result = client.fetchPage(1);
    await expect(result).rejects.toBeInstanceOf(AuthError);
    await expect(result).rejects.toThrow(/SYNC_API_KEY/);
    expect(clock.sleeps).toEqual([]);
    expect(scope.isDone()).toBe(true);
  });

  it.each([400, 404])('does not retry %i', async (status) => {
    nock(BASE).get('/users').query({ page: 9 }).reply(status);
    const { client, executor } = setup();
    await expect(client.fetchPage(9)).rejects.toBeInstanceOf(HttpStatusError);
    expect(executor.stats.requests).toBe(1);
  });

  it('retries a connection reset', async () => {
    nock(BASE)
      .get('/users')
      .query({ page: 1 })
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .get('/users')
      .query({ page: 1 })
      .reply(200, page(1, 1, [1]));
    const { client, clock } = setup();
    await client.fetchPage(1);
    expect(clock.sleeps).toEqual([1000]);
  });

  it('does not follow a redirect, so the key never reaches another host', async () => {
    const elsewhere = nock('http://attacker.test').get(/.*/).reply(200, page(1, 1, [1]));
    nock(BASE).get('/users').query({ page: 1 }).reply(302, '', { location: 'http://attacker.test/steal' });
    const { client } = setup();
    await expect(client.fetchPage(1)).rejects.toThrow(/redirects are not followed/);
    expect(elsewhere.isDone()).toBe(false);
  });

  it('rejects a 200 that is not a reqres page as unexpected, without retrying', async () => {
    nock(BASE).get('/users').query({ page: 1 }).reply(200, '<html>maintenance</html>', { 'content-type': 'text/html' });
    const { client, executor } = setup();
    await expect(client.fetchPage(1)).rejects.toBeInstanceOf(UnexpectedResponseError);
    expect(executor.stats.requests).toBe(1);
  });
});

describe('CustomerAPIClient timeouts (real server: nock delays do not fire socket timeouts)', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await close(server);
    server = undefined;
  });

  it('retries a request that times out', async () => {
    let calls = 0;
    server = createServer((_req, res) => {
      calls += 1;
      if (calls === 1) return; // stall: never answer
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(page(1, 1, [1])));
    });
    const url = await listen(server, 0);
    const { client, clock } = setup({ baseUrl: `${url}/api`, timeoutMs: 100 });
    await expect(client.fetchPage(1)).resolves.toMatchObject({ page: 1 });
    expect(calls).toBe(2);
    expect(clock.sleeps).toEqual([1000]);
    server.closeAllConnections();
  });

  it('times out a page whose body drips one byte every 2 s (one deadline for the whole response), and retries it', async () => {
    const drip = await startDripServer(JSON.stringify(page(1, 1, [1])), 2000);
    try {
      const { client, executor } = setup({ baseUrl: `${drip.url}/api`, timeoutMs: 200, maxRetries: 1 });
      const started = performance.now();
      const error = await client.fetchPage(1).catch((e) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.message).toMatch(/page 1: timed out .*gave up after 1 retry/);
      expect(executor.stats.requests).toBe(2);
      expect(drip.requests()).toBe(2);
      expect(performance.now() - started).toBeLessThan(1900);
    } finally {
      await drip.close();
    }
  });
});

describe('CustomerAPIClient.fetchAllPages', () => {
  it('fetches page 1, learns total_pages, then fetches the rest', async () => {
    const scope = nock(BASE)
      .get('/users').query({ page: 1 }).reply(200, page(1, 3, [1, 2]))
      .get('/users').query({ page: 2 }).reply(200, page(2, 3, [3, 4]))
      .get('/users').query({ page: 3 }).reply(200, page(3, 3, [5]));
    const { client } = setup();
    const seen: number[] = [];
    const result = await client.fetchAllPages({ maxPages: 1000, concurrency: 2, onPage: (p) => seen.push(p) });
    expect(result.totalPages).toBe(3);
    expect([...result.pages.keys()].sort()).toEqual([1, 2, 3]);
    expect(result.failures.size).toBe(0);
    expect(seen[0]).toBe(1);
    expect(scope.isDone()).toBe(true);
  });

  it('keeps the other pages when one stays unavailable', async () => {
    nock(BASE)
      .get('/users').query({ page: 1 }).reply(200, page(1, 3, [1]))
      .get('/users').query({ page: 2 }).times(4).reply(503)
      .get('/users').query({ page: 3 }).reply(200, page(3, 3, [3]));
    const { client } = setup();
    const result = await client.fetchAllPages({ maxPages: 1000, concurrency: 1 });
    expect([...result.pages.keys()].sort()).toEqual([1, 3]);
    expect([...result.failures.keys()]).toEqual([2]);
  });

  it('stops every page at once on a 401 mid-run', async () => {
    nock(BASE)
      .get('/users').query({ page: 1 }).reply(200, page(1, 10, [1]))
      .get('/users').query({ page: 2 }).reply(401)
      .get('/users').query(true).times(20).reply(503);
    const { client, executor } = setup();
    await expect(client.fetchAllPages({ maxPages: 1000, concurrency: 1 })).rejects.toBeInstanceOf(AuthError);
    expect(executor.stats.requests).toBe(2);
  });

  it('sends every page through the shared limiter: never more than --rate in any second', async () => {
    const { client, clock, limiter } = setup({ rate: 3 });
    const grants: number[] = [];
    const acquire = limiter.acquire.bind(limiter);
    vi.spyOn(limiter, 'acquire').mockImplementation(async (signal) => {
      const slot = await acquire(signal);
      grants.push(clock.now() - T0);
      return slot;
    });
    const scope = nock(BASE)
      .get('/users')
      .query(true)
      .times(12)
      .reply((uri) => {
        const n = Number(new URL(uri, BASE).searchParams.get('page'));
        return [200, page(n, 12, [n])];
      });
    await client.fetchAllPages({ maxPages: 1000, concurrency: 6 });
    expect(scope.isDone()).toBe(true);
    // The window follows departures; nock's fake socket reports its connection late, so the exact
    // schedule is not asserted here, only the limit (the departure pacing has its own tests).
    expect(grants).toHaveLength(12);
    expect(grants.slice(0, 3)).toEqual([0, 0, 0]);
    expect(maxInAnyWindow(grants)).toBeLessThanOrEqual(3);
  });

  it('refuses a source that ignores ?page= (page 1 every time) instead of exporting page 1 twice', async () => {
    nock(BASE).get('/users').query(true).times(5).reply(200, page(1, 3, [1, 2]));
    const { client, executor } = setup();
    // Page 1 is fine; pages 2 and 3 answer "page 1": not retried, a failure per page.
    const { failures } = await client.fetchAllPages({ maxPages: 1000, concurrency: 1 });
    expect([...failures.keys()]).toEqual([2, 3]);
    expect(failures.get(2)!.message).toBe('page 2: the source answered page 1 (does it ignore ?page=?)');
    expect(executor.stats.requests).toBe(3);
  });

  it('refuses a page count over --max-pages before fetching any other page', async () => {
    const scope = nock(BASE).get('/users').query({ page: 1 }).reply(200, page(1, 1e9, [1]));
    const { client, executor } = setup();
    await expect(client.fetchAllPages({ maxPages: 1000, concurrency: 4 })).rejects.toThrow(
      'page 1 says there are 1000000000 pages, more than --max-pages 1000; raise --max-pages if that is right',
    );
    expect(scope.isDone()).toBe(true);
    expect(executor.stats.requests).toBe(1);
  });

  it('stops when total_pages changes during the run, and warns when only total does', async () => {
    nock(BASE)
      .get('/users').query({ page: 1 }).reply(200, { ...page(1, 2, [1]), total: 12 })
      .get('/users').query({ page: 2 }).reply(200, { ...page(2, 5, [2]), total: 30 });
    const { client } = setup();
    await expect(client.fetchAllPages({ maxPages: 1000, concurrency: 1 })).rejects.toThrow(
      'the source changed during the run: page 1 said 2 pages, page 2 says 5; nothing exported, run again',
    );

    nock(BASE)
      .get('/users').query({ page: 1 }).reply(200, { ...page(1, 2, [1]), total: 12 })
      .get('/users').query({ page: 2 }).reply(200, { ...page(2, 2, [2]), total: 13 });
    const warnings: string[] = [];
    const other = setup({ onWarning: (_page: number, message: string) => warnings.push(message) });
    const result = await other.client.fetchAllPages({ maxPages: 1000, concurrency: 1 });
    expect(result.pages.size).toBe(2);
    expect(warnings).toEqual(['page 1 said 12 users in all, page 2 says 13: the source changed during the run']);
  });

  it('refuses a page whose decompressed body is over 10 MiB, as a server failure, without retrying', async () => {
    const { gzipSync } = await import('node:zlib');
    // 11 MiB of JSON that gzips to a few KB: the limit is on what it expands to.
    const huge = gzipSync(Buffer.from(JSON.stringify({ ...page(1, 1, [1]), padding: ' '.repeat(11 * 1024 * 1024) })));
    const server = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(huge));
    const url = await listen(server, 0);
    try {
      const { client, executor } = setup({ baseUrl: `${url}/api` });
      const error = await client.fetchPage(1).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ errorClass: 'server', code: 'ERR_RESPONSE_TOO_LARGE', message: 'page 1: the response is larger than 10 MiB (decompressed); refused' });
      expect(executor.stats.requests).toBe(1);
    } finally {
      server.close();
    }
  });
});

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { runCli, startServer, type CliResult, type RunningServer } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { useTempDir } from '../helpers/tmp.js';

interface Stats {
  requests: number;
  rateLimited: number;
  accepted: number;
  maxRequestsPerSecond: number;
}

function profiles(path: string, count: number, prefix: string): string {
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ email: `${prefix}${i}@example.com`, firstName: 'Ann', lastName: `Lee${i}` }));
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** The platform `sync mock downstream --rate 5` serves, in the test's own process (no process start). */
const fivePerSecond = (latencyMs = 0) => serveMock(createDownstreamMock({ rate: 5, latencyMs, random: Math.random }), onTestFinished);

async function stats(platform: { url: string }): Promise<Stats> {
  return (await (await fetch(`${platform.url}/stats`)).json()) as Stats;
}

/** Per push file: 8 requests each; with serve's 2 that is 18 requests, about 4 s at 5/s. */
const PER_PUSH = 80;
const SERVE_CALLERS = 40;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Real processes against a real redis-server on 127.0.0.1; bounded (a few hundred profiles, small batches).
describe.skipIf(!REDIS_SERVER)(`shared quota through Redis (spawned)${REDIS_SERVER ? '' : ` (${SKIP_REDIS_MESSAGE})`}`, () => {
  const tmp = useTempDir();
  let redis: TestRedis | undefined;
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    await redis?.stop();
  });

  /** Pushes two files and posts `serveCount` profiles to a serve instance, all with one Redis and one key. */
  async function scenario(options: { onStarted?: (redis: TestRedis, platform: { url: string }, serve: RunningServer) => Promise<void> } = {}) {
    redis = await startRedis();
    const platform = await fivePerSecond(20);
    const env = { SYNC_DOWNSTREAM_URL: platform.url, SYNC_REDIS_URL: redis.url };
    const serve = await startServer(['serve', '--port', '0', '--batch-size', '20', '--request-timeout', '20s'], env);
    servers.push(serve);
    const dir = tmp();
    const push = (name: string): Promise<CliResult> =>
      runCli(['push', profiles(join(dir, `${name}.ndjson`), PER_PUSH, name), '--batch-size', '10', '--json', '--dead-letter', join(dir, `${name}.dead.ndjson`)], {
        env,
        timeoutMs: 40_000,
      });
    const callers = Array.from({ length: SERVE_CALLERS }, (_, i) =>
      fetch(`${serve.url}/profiles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `s${i}@example.com`, firstName: 'Sam', lastName: `Roe${i}` }) }).then((res) => res.status),
    );
    const during = options.onStarted?.(redis, platform, serve);
    const [a, b, answers] = await Promise.all([push('a'), push('b'), Promise.all(callers), during]);
    return { platform, serve, a, b, answers, dir };
  }

  it('two pushes and a serve instance share one limit: at most 5 arrivals in any 1000 ms, everything delivered', async () => {
    const { platform, serve, a, b, answers } = await scenario();
    for (const run of [a, b]) {
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ delivered: PER_PUSH, failed: 0, rateLimited: 0 });
    }
    expect(answers.every((status) => status === 200)).toBe(true);
    const seen = await stats(platform);
    expect(seen.accepted).toBe(2 * PER_PUSH + SERVE_CALLERS);
    expect(seen.rateLimited).toBe(0);
    expect(seen.maxRequestsPerSecond).toBeLessThanOrEqual(5);
    const health = await (await fetch(`${serve.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', quota: { backend: 'redis', state: 'connected' } });
  }, 60_000);

  it('Redis killed and restarted mid-run: still at most 5 in any 1000 ms, nothing lost; serve reports it meanwhile', async () => {
    let healthWhileDown: unknown;
    const { platform, a, b, answers } = await scenario({
      onStarted: async (r, platform, serve) => {
        // Mid-run by the platform's own count (process start-up time varies with the machine's load).
        while ((await stats(platform)).requests < 6) await sleep(100);
        await r.kill();
        await sleep(600);
        healthWhileDown = await fetch(`${serve.url}/healthz`).then(async (res) => ({ status: res.status, body: await res.json() }));
        await sleep(400);
        await r.restart();
      },
    });
    for (const run of [a, b]) {
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ delivered: PER_PUSH, failed: 0 });
    }
    expect(answers.every((status) => status === 200)).toBe(true);
    const seen = await stats(platform);
    expect(seen.accepted).toBe(2 * PER_PUSH + SERVE_CALLERS);
    expect(seen.rateLimited).toBe(0);
    expect(seen.maxRequestsPerSecond).toBeLessThanOrEqual(5);
    expect(healthWhileDown).toMatchObject({ status: 503, body: { status: 'unavailable', quota: { backend: 'redis', state: 'unavailable' } } });
    // Logged once per process, not once per waiting request.
    const logs = a.stderr.split('\n').filter((line) => line.includes('rate quota lost'));
    expect(logs).toHaveLength(1);
  }, 60_000);

  it('Redis gone for good: push stops sending, dead-letters what it could not send (class server), exit 1', async () => {
    redis = await startRedis();
    const platform = await fivePerSecond();
    const dir = tmp();
    const deadLetter = join(dir, 'dead.ndjson');
    const run = runCli(['push', profiles(join(dir, 'p.ndjson'), 200, 'p'), '--batch-size', '10', '--max-retries', '1', '--json', '--dead-letter', deadLetter], {
      env: { SYNC_DOWNSTREAM_URL: platform.url, SYNC_REDIS_URL: redis.url },
      timeoutMs: 30_000,
    });
    while ((await stats(platform)).requests < 3) await sleep(100);
    await redis.kill();
    const result = await run;
    expect(result.code, result.stderr).toBe(1);
    const summary = JSON.parse(result.stdout);
    const seen = await stats(platform);
    expect(summary.delivered).toBe(seen.accepted);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.delivered + summary.failed).toBe(200);
    const letters = readFileSync(deadLetter, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(letters).toHaveLength(summary.failed);
    expect(letters[0]).toMatchObject({ class: 'server', reason: expect.stringMatching(/rate quota unavailable/) });
    // Nothing went out after Redis left: the mock saw no more than what was delivered.
    expect(seen.requests).toBe(summary.requests);
  }, 40_000);

  /** A push of `count` profiles, one per request, at `rate` (the shared Redis, the given downstream spelling). */
  function pushOnePerRequest(name: string, count: number, rate: number, downstreamUrl: string, extraEnv: Record<string, string> = {}): Promise<CliResult> {
    const dir = tmp();
    return runCli(['push', profiles(join(dir, `${name}.ndjson`), count, name), '--batch-size', '1', '--rate', String(rate), '--json', '--dead-letter', join(dir, 'dead.ndjson')], {
      env: { SYNC_DOWNSTREAM_URL: downstreamUrl, SYNC_REDIS_URL: redis!.url, ...extraEnv },
      timeoutMs: 20_000,
    });
  }

  it('a second push asking for another --rate on a key in use is exit 2 naming the key and the rate in force; the platform never sees more than 5', async () => {
    redis = await startRedis();
    const platform = await fivePerSecond();
    // 20 requests at 5/s: about 4 s for the second to start and be refused while the first runs.
    const first = pushOnePerRequest('a', 20, 5, platform.url);
    // The first holds the key once its first request has arrived.
    while ((await stats(platform)).requests < 1) await sleep(50);
    const second = await pushOnePerRequest('b', 40, 20, platform.url);
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    const key = new URL(platform.url).origin;
    // --json: the one line is the JSON error record.
    expect(JSON.parse(second.stderr)).toMatchObject({
      level: 'error',
      exitCode: 2,
      msg: `--rate 20: the shared quota "${key}" is in use at --rate 5 by another process (one that died keeps its claim for up to 30 s); use the same --rate or another --quota-key`,
    });
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ delivered: 20, rateLimited: 0 });
    const seen = await stats(platform);
    expect(seen.requests).toBe(20);
    expect(seen.maxRequestsPerSecond).toBeLessThanOrEqual(5);
  }, 30_000);

  it('127.0.0.1 and localhost are one platform: without --quota-key both pushes share one budget', async () => {
    redis = await startRedis();
    const platform = await fivePerSecond();
    const port = new URL(platform.url).port;
    const [a, b] = await Promise.all([pushOnePerRequest('a', 6, 5, `http://127.0.0.1:${port}`), pushOnePerRequest('b', 6, 5, `http://localhost:${port}`)]);
    for (const run of [a, b]) expect(run.code, run.stderr).toBe(0);
    const seen = await stats(platform);
    expect(seen.accepted).toBe(12);
    expect(seen.rateLimited).toBe(0);
    expect(seen.maxRequestsPerSecond).toBeLessThanOrEqual(5);
  }, 30_000);

  it('an idle serve holds its key and rate (named after its token, not the host); a push with that token at another rate is refused; stopping serve frees the key', async () => {
    redis = await startRedis();
    const platform = await fivePerSecond();
    const token = 'pat-s3cret-t0ken';
    const fingerprint = `token:${createHash('sha256').update(token).digest('hex').slice(0, 16)}`;
    const serve = await startServer(['serve', '--port', '0', '--rate', '5'], { SYNC_DOWNSTREAM_URL: platform.url, SYNC_DOWNSTREAM_TOKEN: token, SYNC_REDIS_URL: redis.url });
    servers.push(serve);
    const health = await (await fetch(`${serve.url}/healthz`)).json();
    expect(health).toMatchObject({ quota: { backend: 'redis', key: fingerprint, state: 'connected' } });

    // Another spelling of the platform, the same account: the same budget, so the same rate.
    const port = new URL(platform.url).port;
    const refused = await pushOnePerRequest('p', 3, 20, `http://localhost:${port}`, { SYNC_DOWNSTREAM_TOKEN: token });
    expect(refused.code, refused.stderr).toBe(2);
    expect(JSON.parse(refused.stderr).msg).toBe(`--rate 20: the shared quota "${fingerprint}" is in use at --rate 5 by another process (one that died keeps its claim for up to 30 s); use the same --rate or another --quota-key`);
    expect((await stats(platform)).requests).toBe(0);

    const observer = new Redis(redis.url);
    try {
      expect(await observer.exists(`sync:quota:{${fingerprint}}:holders`)).toBe(1);
      const stopped = await serve.stop();
      expect(stopped.code).toBe(0);
      expect(stopped.stderr).not.toContain(token);
      expect(await observer.exists(`sync:quota:{${fingerprint}}:holders`)).toBe(0);
    } finally {
      observer.disconnect();
    }
  }, 30_000);

  it('an unreachable Redis at start is exit 2 with one line, the password not shown (push, pull, serve)', async () => {
    redis = await startRedis();
    await redis.kill();
    const url = `redis://:s3cret@127.0.0.1:${redis.port}`;
    const file = profiles(join(tmp(), 'p.ndjson'), 3, 'p');
    const results = await Promise.all([
      runCli(['push', file, '--downstream-url', 'http://127.0.0.1:9', '--redis-url', url]),
      runCli(['pull', '--base-url', 'http://127.0.0.1:9/api', '--out', join(tmp(), 'c.json')], { env: { SYNC_REDIS_URL: url } }),
      runCli(['serve', '--port', '0', '--downstream-url', 'http://127.0.0.1:9', '--redis-url', url]),
    ]);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1/);
      expect(result.stderr).not.toContain('s3cret');
    }
  });
});

describe('--redis-url validation (no Redis needed)', () => {
  it('a malformed --redis-url is exit 2 with one line that does not echo the password', async () => {
    const result = await runCli(['push', 'x.ndjson', '--downstream-url', 'http://127.0.0.1:9', '--redis-url', 'http://:s3cret@host']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--redis-url/);
    expect(result.stderr).not.toContain('s3cret');
  });
});

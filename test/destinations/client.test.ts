import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { AuthError, HttpStatusError, InterruptedError, NetworkError, UnexpectedResponseError, type SyncError } from '../../src/errors.js';
import { isTransient } from '../../src/engine/retry-policy.js';
import { DestinationClient } from '../../src/destinations/client.js';
import { encoded, targetOf } from '../helpers/targets.js';
import type { Profile } from '../../src/profiles/schemas.js';
import { startDripServer } from '../helpers/drip-server.js';

const URL_BASE = 'http://platform.test';
const people: Profile[] = [
  { email: 'a@example.com', firstName: 'A', lastName: 'One' },
  { email: 'b@example.com', firstName: 'B', lastName: 'Two', metadata: { tags: ['x'] } },
];
const profiles = people.map((profile) => encoded(targetOf('sync', URL_BASE), profile));
/** The client for sync's own wire format at a URL. */
const syncClient = ({ baseUrl, token, timeoutMs }: { baseUrl: string; token?: string; timeoutMs?: number }): DestinationClient =>
  new DestinationClient(targetOf('sync', baseUrl, { credential: token }), { timeoutMs });

describe('DestinationClient.send (sync)', () => {
  it('POSTs the wire format with Idempotency-Key and the bearer token, and maps results in order', async () => {
    let body: unknown;
    const scope = nock(URL_BASE, {
      reqheaders: { 'idempotency-key': 'b-1', authorization: 'Bearer s3cret', 'content-type': /application\/json/ },
    })
      .post('/profiles/batch', (b) => ((body = b), true))
      .reply(200, {
        batchId: 'b-1',
        results: [
          { email: 'a@example.com', status: 'accepted' },
          { email: 'b@example.com', status: 'rejected', error: 'suppressed' },
        ],
      });
    const client = syncClient({ baseUrl: URL_BASE, token: 's3cret' });
    await expect(client.send('b-1', profiles)).resolves.toEqual([
      { status: 'accepted', error: undefined },
      { status: 'rejected', error: 'suppressed' },
    ]);
    expect(body).toEqual({
      batchId: 'b-1',
      profiles: [
        { email: 'a@example.com', firstName: 'A', lastName: 'One', metadata: {} },
        { email: 'b@example.com', firstName: 'B', lastName: 'Two', metadata: { tags: ['x'] } },
      ],
    });
    expect(scope.isDone()).toBe(true);
  });

  it('sends no Authorization header without a token', async () => {
    const scope = nock(URL_BASE, { badheaders: ['authorization'] })
      .post('/profiles/batch')
      .reply(200, { batchId: 'b-1', results: people.map((p) => ({ email: p.email, status: 'accepted' })) });
    await syncClient({ baseUrl: URL_BASE }).send('b-1', profiles);
    expect(scope.isDone()).toBe(true);
  });

  it('turns statuses into typed errors carrying Retry-After, without retrying itself', async () => {
    const scope = nock(URL_BASE).post('/profiles/batch').reply(429, {}, { 'Retry-After': '3' });
    const error = await syncClient({ baseUrl: URL_BASE }).send("b-1", profiles).catch((e: unknown) => e as SyncError);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 429, retryAfter: '3', errorClass: 'client' });
    expect(scope.isDone()).toBe(true);
  });

  it('refuses results that do not line up with the batch', async () => {
    nock(URL_BASE).post('/profiles/batch').reply(200, { batchId: 'b-1', results: [{ email: 'b@example.com', status: 'accepted' }] });
    await expect(syncClient({ baseUrl: URL_BASE }).send('b-1', profiles)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('DestinationClient: refusals', () => {
  it('a 401/403 names the token variable and is a client error no retry can fix', async () => {
    for (const status of [401, 403]) {
      nock(URL_BASE).post('/profiles/batch').reply(status, { error: 'bad token' });
      const error = await syncClient({ baseUrl: URL_BASE, token: 'secret-token' }).send('b-1', profiles).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthError);
      expect((error as Error).message).toBe(`batch b-1: HTTP ${status}: bad token: the downstream refused the token; check SYNC_DOWNSTREAM_TOKEN`);
      expect((error as Error).message).not.toContain('secret-token');
    }
  });

  it("a 400 carries the platform's words, so two refusals can be told apart", async () => {
    nock(URL_BASE).post('/profiles/batch').reply(400, { error: 'malformed batch: email must be a string' });
    const error = await syncClient({ baseUrl: URL_BASE }).send('b-1', profiles).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 400, detail: 'malformed batch: email must be a string', message: 'batch b-1: HTTP 400: malformed batch: email must be a string' });
  });
});

describe('DestinationClient request deadline (real server on 127.0.0.1: nock delays do not fire socket timeouts)', () => {
  const answer = JSON.stringify({ batchId: 'b-1', results: people.map((p) => ({ email: p.email, status: 'accepted' })) });

  it('ends a response whose body drips one byte every 2 s as a retryable timeout, at the deadline', async () => {
    const drip = await startDripServer(answer, 2000);
    try {
      const started = performance.now();
      const error = await syncClient({ baseUrl: drip.url, timeoutMs: 300 }).send('b-1', profiles).then(() => undefined, (e: unknown) => e as SyncError) as SyncError;
      const took = performance.now() - started;
      expect(error).toBeInstanceOf(NetworkError);
      expect(error).toMatchObject({ code: 'ETIMEDOUT', errorClass: 'server' });
      expect(error.message).toMatch(/batch b-1: timed out \(no complete answer within 300 ms\)/);
      expect(isTransient(error)).toBe(true);
      // The headers came at once and a byte arrives every 2 s: only a whole-response deadline ends it this early.
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(1900);
    } finally {
      await drip.close();
    }
  });

  it('still reports an interrupted run as interrupted, not as a timeout', async () => {
    const drip = await startDripServer(answer, 2000);
    try {
      const run = new AbortController();
      setTimeout(() => run.abort(), 50);
      const error = await syncClient({ baseUrl: drip.url, timeoutMs: 5000 }).send('b-1', profiles, run.signal).catch((e: unknown) => e as SyncError);
      expect(error).toBeInstanceOf(InterruptedError);
    } finally {
      await drip.close();
    }
  });
});

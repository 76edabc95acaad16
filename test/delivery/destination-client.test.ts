import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { AuthError, HttpStatusError, InterruptedError, NetworkError, RefusedError, UnexpectedResponseError, type SyncError } from '../../src/errors.js';
import { isTransient } from '../../src/engine/retry-policy.js';
import { DestinationClient } from '../../src/delivery/destination-client.js';
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
  // Customer.io redirects a workspace's traffic sent to the other region ("we'll redirect it
  // accordingly"). A redirect is never followed (it would carry the credential to the host it
  // names), and it was read as a 4xx about the data: every batch of the run was sent, failed
  // "HTTP 307" and was dead-lettered one by one.
  it('a 3xx stops the run naming --downstream-url and where the platform points, without following it', async () => {
    const cio = targetOf('customerio', 'http://track.test', { credential: 'site:k3y' });
    for (const status of [301, 302, 307, 308]) {
      const scope = nock('http://track.test').post('/api/v2/batch').reply(status, '', { location: 'https://track-eu.test/api/v2/batch?x=1' });
      const error = await new DestinationClient(cio).send('b-1', [encoded(cio, people[0]!)]).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RefusedError);
      expect((error as Error).message).toBe(
        `batch b-1: HTTP ${status}: Customer.io redirects to https://track-eu.test, which is not followed (the request carries the credential); check --downstream-url (https://track-eu.test?)`,
      );
      expect(scope.isDone()).toBe(true);
    }
    nock(URL_BASE).post('/profiles/batch').reply(302);
    const bare = await syncClient({ baseUrl: URL_BASE }).send('b-1', profiles).catch((caught: unknown) => caught);
    expect((bare as Error).message).toBe('batch b-1: HTTP 302: the downstream redirects elsewhere, which is not followed (the request carries the credential); check --downstream-url');
  });

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

describe('DestinationClient: a platform that echoes the credential back', () => {
  const TOKEN = 'pat-na1-0b5e-echoed-secret';
  const KEY = '0123456789abcdef0123456789abcdef-us21';
  const BASIC = Buffer.from(`sync:${KEY}`).toString('base64');
  const hubspot = targetOf('hubspot', URL_BASE, { credential: TOKEN });
  const mailchimp = targetOf('mailchimp', URL_BASE, { credential: KEY, list: 'a1b2c3d4e5' });
  const hubspotItems = people.map((profile) => encoded(hubspot, profile));
  const mailchimpItems = people.map((profile) => encoded(mailchimp, profile));
  const shown = (value: unknown): string => (value instanceof Error ? value.message : JSON.stringify(value));
  const expectHidden = (value: unknown): void => {
    const text = shown(value);
    for (const secret of [TOKEN, KEY, BASIC]) expect(text).not.toContain(secret);
    expect(text).toContain('***');
  };

  it('never repeats it in an error (a refusal, a whole-batch 400, a preflight answer), in any form it was sent', async () => {
    nock(URL_BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(401, { status: 'error', message: `token Bearer ${TOKEN} is not valid` });
    expectHidden(await new DestinationClient(hubspot).send('b-1', hubspotItems).catch((caught: unknown) => caught));
    nock(URL_BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(400, `<html>bad request from Bearer ${TOKEN}</html>`);
    expectHidden(await new DestinationClient(hubspot).send('b-1', hubspotItems).catch((caught: unknown) => caught));
    nock(URL_BASE).post('/3.0/lists/a1b2c3d4e5').reply(403, { title: 'Forbidden', detail: `Authorization: Basic ${BASIC} (sync:${KEY}) is refused` });
    expectHidden(await new DestinationClient(mailchimp).send('b-1', mailchimpItems).catch((caught: unknown) => caught));
    nock(URL_BASE).get('/crm/v3/properties/contacts').reply(422, { message: `no scopes for ${TOKEN}` });
    expectHidden(await new DestinationClient(hubspot).read('/crm/v3/properties/contacts'));
  });

  it('reads an accepted batch whatever the credential spells: a short token inside the addresses and ids is not masked out of the answer', async () => {
    // A test token such as "test" or "e": masking it inside the answer made every accepted batch
    // unreadable (dead-lettered as unexpected, never remembered, resent by every rerun).
    const testers: Profile[] = [
      { email: 'test0@example.com', firstName: 'T', lastName: 'Zero' },
      { email: 'test1@example.com', firstName: 'T', lastName: 'One' },
    ];
    for (const token of ['test', 'e']) {
      const target = targetOf('sync', URL_BASE, { credential: token });
      nock(URL_BASE)
        .post('/profiles/batch')
        .reply(200, { batchId: 'b-test', results: [{ email: 'test0@example.com', status: 'accepted' }, { email: 'test1@example.com', status: 'rejected', error: `suppressed by test rule for token ${token}` }] });
      const results = await new DestinationClient(target).send('b-test', testers.map((profile) => encoded(target, profile)));
      expect(results.map((result) => result.status)).toEqual(['accepted', 'rejected']);
      // What it says is still masked on the way out.
      expect(results[1]!.error).toBe(`suppressed by test rule for token ${token}`.split(token).join('***'));
      expect(results[1]!.error).not.toContain(token);
    }
  });

  it('never repeats it in a per-item refusal (dead letters and logs take those words), even JSON-escaped', async () => {
    const escaped = TOKEN.replace('p', '\\u0070');
    nock(URL_BASE)
      .post('/crm/v3/objects/contacts/batch/upsert')
      .reply(207, `{"status":"COMPLETE","results":[],"errors":[{"status":"error","message":"refused for ${escaped}","context":{"objectWriteTraceId":["0","1"]}}]}`, { 'content-type': 'application/json' });
    const hubspotResults = await new DestinationClient(hubspot).send('b-1', hubspotItems);
    expect(hubspotResults.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expectHidden(hubspotResults);
    nock(URL_BASE)
      .post('/3.0/lists/a1b2c3d4e5')
      .reply(200, { new_members: [], updated_members: [], errors: people.map((p) => ({ email_address: p.email, error: `key ${KEY} may not add ${p.email}`, field: 'KEY', field_message: BASIC })) });
    const mailchimpResults = await new DestinationClient(mailchimp).send('b-1', mailchimpItems);
    expect(mailchimpResults.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expectHidden(mailchimpResults);
  });
});

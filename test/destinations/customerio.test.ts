import nock from 'nock';
import { beforeAll, describe, expect, it } from 'vitest';
import { DestinationClient } from '../../src/delivery/destination-client.js';
import { customerioDestination as cio, MAX_ENTRY_BYTES, MAX_REQUEST_BYTES, siteIdOf } from '../../src/destinations/customerio.js';
import { createDelivery } from '../../src/delivery/delivery.js';
import type { Encoded, PlatformAnswer } from '../../src/destinations/destination.js';
import { encoderFor } from '../../src/delivery/encoder.js';
import { resolveTarget } from '../../src/destinations/registry.js';
import { isRateLimited, isTransient } from '../../src/engine/retry-policy.js';
import { seededRandom } from '../../src/engine/random.js';
import { AuthError, HttpStatusError, RefusedError, UnexpectedResponseError, UsageError } from '../../src/errors.js';
import { loadHasher } from '../../src/state/digest.js';
import { memoryLogger } from '../helpers/logger.js';
import { encoded, targetOf } from '../helpers/targets.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

const BASE = 'http://cio.test';
const SITE = 'f00dfeed1234';
const KEY = 'a1b2c3d4e5f6a7b8c9d0-SECRET';
const CREDENTIAL = `${SITE}:${KEY}`;
const target = targetOf('customerio', BASE, { credential: CREDENTIAL });
const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: { tags: ['vip', 'beta'] } };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', metadata: { plan: 'pro', score: 7, vip: true, interests: ['a', 'b'], address: { city: 'Oslo' }, gone: null } };
const answer = (status: number, body: unknown, headers: Record<string, string> = {}, text = body === undefined ? '' : JSON.stringify(body)): PlatformAnswer => ({ status, headers, body, text });
const emails = ['ann@example.com', 'bob@example.com', 'cy@example.com'];

describe('customerio: the body', () => {
  it('is one person identify per profile, by email, with first_name, last_name and tags as attributes', () => {
    const body = JSON.parse(cio.body('b-1', [encoded(target, ann), encoded(target, { ...bob, metadata: {} })].map((item) => item.fragment)));
    expect(body).toEqual({
      batch: [
        { type: 'person', action: 'identify', identifiers: { email: 'ann@example.com' }, attributes: { first_name: 'Ann', last_name: 'Lee', tags: ['vip', 'beta'] } },
        { type: 'person', action: 'identify', identifiers: { email: 'bob@example.com' }, attributes: { first_name: 'Bob', last_name: 'Stone' } },
      ],
    });
  });

  it('sends mapped metadata as attributes with their JSON types; a missing or null value is not sent (null would remove the attribute)', () => {
    const mapped = targetOf('customerio', BASE, {
      credential: CREDENTIAL,
      maps: ['metadata.plan=plan', 'metadata.score=score', 'metadata.vip=vip', 'metadata.interests=interests', 'metadata.address=address', 'metadata.gone=gone', 'metadata.absent=absent'],
    });
    expect(JSON.parse(encoded(mapped, bob).fragment).attributes).toEqual({
      first_name: 'Bob',
      last_name: 'Stone',
      plan: 'pro',
      score: 7,
      vip: true,
      interests: ['a', 'b'],
      address: { city: 'Oslo' },
    });
    // Nothing else of metadata goes, unless mapped.
    expect(JSON.parse(encoded(target, bob).fragment).attributes).toEqual({ first_name: 'Bob', last_name: 'Stone' });
  });

  it('an attribute named __proto__ is an attribute, not the prototype of the attributes', () => {
    const mapped = targetOf('customerio', BASE, { credential: CREDENTIAL, maps: ['metadata.plan=__proto__'] });
    expect(encoded(mapped, bob).fragment).toContain('"__proto__":"pro"');
  });

  it('counts exactly what its envelope adds to the entries', () => {
    for (const count of [1, 2, 17, 1000]) {
      const fragments = Array.from({ length: count }, (_, i) => encoded(target, { ...ann, email: `u${i}@example.com` }).fragment);
      const body = cio.body('b-1', fragments);
      expect(Buffer.byteLength(body)).toBe(cio.envelopeBytes(count) + fragments.reduce((sum, fragment) => sum + Buffer.byteLength(fragment), 0));
    }
  });

  it('refuses --map targets it could never take: the profile attributes, tags, the identifiers, names over 150 bytes', () => {
    const check = (name: string) => cio.checkMap({ source: 'metadata.x', path: ['x'], target: name });
    expect(check('first_name')).toMatch(/already sent/);
    expect(check('tags')).toMatch(/metadata\.tags is already sent/);
    expect(check('email')).toMatch(/identifiers/);
    expect(check('cio_id')).toMatch(/identifiers/);
    expect(check('x'.repeat(151))).toMatch(/at most 150 bytes/);
    expect(check('x'.repeat(150))).toBeUndefined();
    expect(check('Customer Tier')).toBeUndefined();
  });
});

describe('customerio: limits, credential and identity', () => {
  beforeAll(loadHasher);

  it('defaults to 1,000 entries, 10 requests/s, 10 in flight, at https://track.customer.io; more than 1,000 a batch is refused', () => {
    const resolved = resolveTarget({ to: 'customerio' }, CREDENTIAL);
    expect(resolved).toMatchObject({ batchSize: 1000, rate: 10, concurrency: 10, target: { baseUrl: 'https://track.customer.io' } });
    expect(cio.limits).toEqual({ maxItems: 1000, maxBytes: 500_000, maxItemBytes: 32_000 });
    expect(() => resolveTarget({ to: 'customerio', batchSize: 1001 }, CREDENTIAL)).toThrow('--batch-size 1001: Customer.io takes at most 1000 profiles a request');
  });

  it.each(['justakey-SECRET', ':SECRET-only-key', 'site-only-SECRET:'])('a credential that is not SITE_ID:API_KEY (%s) is exit 2 naming the variable and the form, never its value', (credential) => {
    let error: unknown;
    try {
      resolveTarget({ to: 'customerio', downstreamUrl: BASE }, credential);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^SYNC_DOWNSTREAM_TOKEN with --to customerio: expected SITE_ID:API_KEY \(/);
    expect((error as Error).message).not.toMatch(/SECRET/);
  });

  it('the state is per workspace: base URL and site id, never the API key', () => {
    const identity = (credential: string, url = BASE) => cio.identity(targetOf('customerio', url, { credential }));
    expect(identity(CREDENTIAL)).toBe(`customerio ${BASE} site ${SITE}`);
    expect(identity(`${SITE}:another-key`)).toBe(identity(CREDENTIAL));
    expect(identity(`other-site:${KEY}`)).not.toBe(identity(CREDENTIAL));
    expect(identity(CREDENTIAL, 'https://track-eu.customer.io')).not.toBe(identity(CREDENTIAL));
    expect(identity(CREDENTIAL)).not.toContain(KEY);
    expect(() => cio.identity(targetOf('customerio', BASE))).toThrow(UsageError);
    expect(siteIdOf('a:b:c')).toBe('a');
  });

  it('an entry over 32,000 bytes as sent is refused before any request, saying its size and the limit', () => {
    const mapped = targetOf('customerio', BASE, { credential: CREDENTIAL, maps: ['metadata.note=note'] });
    const encoder = encoderFor(mapped);
    const entryOf = (note: string) => encoded(mapped, { ...ann, metadata: { note } }).fragment;
    const fits = 'x'.repeat(MAX_ENTRY_BYTES - Buffer.byteLength(entryOf('')));
    expect(Buffer.byteLength(entryOf(fits))).toBe(MAX_ENTRY_BYTES);
    expect('fragment' in encoder.encode({ ...ann, metadata: { note: fits } })).toBe(true);
    expect(encoder.encode({ ...ann, metadata: { note: `${fits}é` } })).toEqual({ refused: '32,002 bytes as sent to Customer.io, over its limit of 32,000 bytes a profile' });
  });
});

describe('customerio: what an answer means for each entry', () => {
  it.each([
    ['an empty 200 (the reference: no body)', answer(200, undefined)],
    ['a 200 {} (as recorded live)', answer(200, {})],
    ['a 200 with an empty errors list', answer(200, { errors: [] })],
  ])('%s: every entry taken', (_name, said) => {
    expect(cio.accepted(said, emails, 'b')).toEqual([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
  });

  // A 32 MB answer may name one entry hundreds of thousands of times: each reason was appended by
  // copying the list so far, and 40,000 errors for one entry took 250 s of CPU (measured), with
  // no deadline covering it.
  it('an entry named 50,000 times costs one look-up per error: its reason is kept to the first words, and the answer is read at once', () => {
    const errors = Array.from({ length: 50000 }, (_, i) => ({ batch_index: 1, message: `reason ${i}` }));
    const results = cio.accepted(answer(207, { errors }), emails, 'b');
    expect(results.map((result) => result.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(results[1]!.error).toMatch(/^reason 0; reason 1; reason 2; .*…$/);
    expect(results[1]!.error!.length).toBeLessThanOrEqual(1001);
  }, 3000);

  it("207: the entries named by batch_index are refused with Customer.io's field, message and reason; the others taken", () => {
    const body = { errors: [{ batch_index: 1, reason: 'invalid', field: 'attributes.plan', message: "value for attribute 'plan' cannot be longer than 1000 bytes" }] };
    expect(cio.accepted(answer(207, body), emails, 'b')).toEqual([
      { status: 'accepted' },
      { status: 'rejected', error: "attributes.plan: value for attribute 'plan' cannot be longer than 1000 bytes (invalid)" },
      { status: 'accepted' },
    ]);
  });

  it('errors inside a 200 are refusals too; two for one entry are both said; no message still refuses it', () => {
    const body = { errors: [{ batch_index: 0, field: 'identifiers', message: 'email cannot be an empty string' }, { batch_index: 0, message: 'cannot identify more than 300 attributes in one request' }, { batch_index: 2 }] };
    expect(cio.accepted(answer(200, body), emails, 'b')).toEqual([
      { status: 'rejected', error: 'identifiers: email cannot be an empty string; cannot identify more than 300 attributes in one request' },
      { status: 'accepted' },
      { status: 'rejected', error: 'refused by Customer.io' },
    ]);
  });

  it('a refusal that quotes a long value is kept to its first 1,000 characters', () => {
    const [first] = cio.accepted(answer(207, { errors: [{ batch_index: 0, message: 'x'.repeat(5000) }] }), emails, 'b');
    expect(first).toEqual({ status: 'rejected', error: `${'x'.repeat(1000)}…` });
  });

  it('an error whose batch_index names no entry leaves every entry it does not name unconfirmed (never delivered)', () => {
    for (const index of [3, -1, 1.5, '1', undefined]) {
      const results = cio.accepted(answer(207, { errors: [{ batch_index: 0, message: 'bad' }, { batch_index: index, message: 'which?' }] }), emails, 'batch b-1');
      expect(results.map((result) => result.status)).toEqual(['rejected', 'unconfirmed', 'unconfirmed']);
      expect(results[1]!.error).toBe("batch b-1: Customer.io's answer (HTTP 207) refuses 1 entry without a usable batch_index");
    }
  });

  it.each([
    ['an HTML 200', answer(200, undefined, { 'content-type': 'text/html' }, '<html><body>OK</body></html>'), 'is not a batch answer'],
    ['another JSON shape in a 200', answer(200, { ok: true }), 'is not a batch answer'],
    ['an error envelope in a 200', answer(200, { meta: { error: 'name cannot be blank' } }), 'is not a batch answer'],
    ['a list in a 200', answer(200, []), 'is not a batch answer'],
    ['errors that are not a list', answer(200, { errors: 'some' }), 'is not a batch answer'],
    ['JSON null', answer(200, null, {}, 'null'), 'is not a batch answer'],
    ['an empty 207', answer(207, undefined), 'is empty: only an empty 200 says every entry was taken'],
    ['an empty 204', answer(204, undefined), 'is empty: only an empty 200 says every entry was taken'],
    ['a 207 that names nobody', answer(207, { errors: [] }), 'names no refused entry'],
  ])('%s delivers nothing: an unexpected answer', (_name, said, words) => {
    expect(() => cio.accepted(said, emails, 'batch b-1')).toThrow(new UnexpectedResponseError(`batch b-1: Customer.io's answer (HTTP ${said.status}) ${words}`));
  });
});

describe('customerio through the client (nock)', () => {
  beforeAll(loadHasher);
  const client = new DestinationClient(target);
  const items = [encoded(target, ann), encoded(target, bob)];

  it('POSTs /api/v2/batch with SITE_ID:API_KEY as HTTP Basic, JSON, and no Idempotency-Key', async () => {
    let sent: unknown;
    const scope = nock(BASE, { reqheaders: { authorization: `Basic ${Buffer.from(CREDENTIAL).toString('base64')}`, 'content-type': /application\/json/ }, badheaders: ['idempotency-key'] })
      .post('/api/v2/batch', (body) => ((sent = body), true))
      .reply(200, {});
    await expect(client.send('b-1', items)).resolves.toEqual([{ status: 'accepted' }, { status: 'accepted' }]);
    expect((sent as { batch: unknown[] }).batch).toHaveLength(2);
    expect(scope.isDone()).toBe(true);
  });

  it('400 (the batch refused as a whole) carries the words of its meta envelope, for the engine to bisect', async () => {
    nock(BASE).post('/api/v2/batch').reply(400, { meta: { error: 'request body must be smaller than 500kb' } });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 400, detail: 'request body must be smaller than 500kb', message: 'batch b-1: HTTP 400: request body must be smaller than 500kb' });
    nock(BASE).post('/api/v2/batch').reply(400, { meta: { errors: ['name cannot be blank', 'id attribute must be present'] } });
    await expect(client.send('b-1', items)).rejects.toMatchObject({ detail: 'name cannot be blank; id attribute must be present' });
  });

  it('401 (no body, as the reference has it) names SYNC_DOWNSTREAM_TOKEN and never the credential', async () => {
    nock(BASE).post('/api/v2/batch').reply(401, '');
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe('batch b-1: HTTP 401: Customer.io refused the token; check SYNC_DOWNSTREAM_TOKEN');
  });

  it('an API key echoed back on its own is masked like the whole credential', async () => {
    nock(BASE).post('/api/v2/batch').reply(403, { meta: { error: `key ${KEY} is not allowed for site ${SITE}` } });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe(`batch b-1: HTTP 403: key *** is not allowed for site ${SITE}: Customer.io refused the token; check SYNC_DOWNSTREAM_TOKEN`);
  });

  it('404 stops the run naming --downstream-url', async () => {
    nock(BASE).post('/api/v2/batch').reply(404, '<html><body>Not Found</body></html>', { 'content-type': 'text/html' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toBe(`batch b-1: HTTP 404: Not Found: no Customer.io Track API at ${BASE}; check --downstream-url`);
  });

  it('429 is a rate limit with its Retry-After; 5xx (an HTML page too) is transient', async () => {
    nock(BASE).post('/api/v2/batch').reply(429, { meta: { error: 'rate limit exceeded' } }, { 'Retry-After': '3' });
    const limited = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(limited).toMatchObject({ status: 429, retryAfter: '3' });
    expect(isRateLimited(limited as HttpStatusError)).toBe(true);
    nock(BASE).post('/api/v2/batch').reply(502, '<html><h1>502 Server Error</h1></html>');
    const failed = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(isTransient(failed as HttpStatusError)).toBe(true);
  });

  it('an empty 200 is a delivery here; an HTML 200 is not', async () => {
    nock(BASE).post('/api/v2/batch').reply(200, '');
    await expect(client.send('b-1', items)).resolves.toEqual([{ status: 'accepted' }, { status: 'accepted' }]);
    nock(BASE).post('/api/v2/batch').reply(200, '<html>ok</html>', { 'content-type': 'text/html' });
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('customerio: batches cut by bytes, measured on the body sent', () => {
  beforeAll(loadHasher);
  const mapped = targetOf('customerio', BASE, { credential: CREDENTIAL, maps: ['metadata.note=note'] });

  /** Pushes the profiles through the delivery stack against nock; returns each request's bytes as sent and its emails. */
  async function deliver(profiles: { email: string; firstName: string; lastName: string; metadata?: Record<string, unknown> }[]) {
    const encoder = encoderFor(mapped);
    const items = profiles.map((profile) => encoder.encode(profile) as Encoded);
    expect(items.every((item) => 'fragment' in item)).toBe(true);
    const requests: { bytes: number; emails: string[] }[] = [];
    nock.cleanAll();
    nock(BASE)
      .post('/api/v2/batch')
      .times(1000)
      .reply(function (_uri, body) {
        const batch = (body as { batch: { identifiers: { email: string } }[] }).batch;
        requests.push({ bytes: Number(this.req.headers['content-length']), emails: batch.map((entry) => entry.identifiers.email) });
        return [200, {}];
      });
    const { logger } = await memoryLogger();
    const { engine } = createDelivery({ target: mapped, rate: 10, batchSize: 1000, concurrency: 10, maxRetries: 0, autoStart: false }, { logger, clock: new VirtualClock(0) });
    const outcomes = Promise.all(items.map((item) => engine.submit(item)));
    await engine.close();
    expect((await outcomes).every((outcome) => outcome.status === 'delivered')).toBe(true);
    const indexOf = new Map(items.map((item, i) => [item.profile.email, i]));
    requests.sort((a, b) => indexOf.get(a.emails[0]!)! - indexOf.get(b.emails[0]!)!);
    return { items, requests, indexOf };
  }

  /** A profile whose entry, as sent, is exactly `bytes` long. */
  const sized = (i: number, bytes: number) => {
    const base = Buffer.byteLength(encoded(mapped, { email: `p${i}@example.com`, firstName: 'Ann', lastName: 'Lee', metadata: { note: '' } }).fragment);
    return { email: `p${i}@example.com`, firstName: 'Ann', lastName: 'Lee', metadata: { note: 'x'.repeat(bytes - base) } };
  };

  it('at the edge: a body of exactly 500,000 bytes goes as one request; one byte more and the last entry waits for the next', async () => {
    // 49 entries of 10,000 bytes, their 48 commas and `{"batch":[]}` make 490,060 bytes: 9,939 more fill it to the byte.
    const exact = await deliver([...Array.from({ length: 49 }, (_, i) => sized(i, 10_000)), sized(49, 9_939), sized(50, 200)]);
    expect(exact.requests.map((request) => [request.emails.length, request.bytes])).toEqual([[50, 500_000], [1, 12 + 200]]);
    const over = await deliver([...Array.from({ length: 49 }, (_, i) => sized(i, 10_000)), sized(49, 9_940), sized(50, 200)]);
    expect(over.requests.map((request) => [request.emails.length, request.bytes])).toEqual([[49, 490_060], [2, 12 + 9_940 + 1 + 200]]);
  });

  it('random sizes: every request at most 500,000 bytes on the wire, and the next profile would not have fitted in it', async () => {
    const random = seededRandom(18);
    // Mostly entries of 0.5–1.5 KB (the room left when a batch is cut is then about one entry), some up to 32 KB.
    const profiles = Array.from({ length: 3000 }, (_, i) => sized(i, random() < 0.95 ? 500 + Math.floor(random() * 1000) : 500 + Math.floor(random() * 31_500)));
    const { items, requests, indexOf } = await deliver(profiles);
    expect(requests.length).toBeGreaterThan(8);
    // Every profile once, in order: each request holds the profiles that follow the previous one's.
    expect(requests.flatMap((request) => request.emails)).toEqual(items.map((item) => item.profile.email));
    for (const [n, request] of requests.entries()) {
      const fragments = request.emails.map((email) => items[indexOf.get(email)!]!.fragment);
      // What went out is exactly the entries and the envelope the engine weighed.
      expect(request.bytes).toBe(Buffer.byteLength(cio.body('b', fragments)));
      expect(request.bytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
      if (n === requests.length - 1) continue;
      const next = items[indexOf.get(request.emails.at(-1)!)! + 1]!;
      expect(request.bytes + 1 + next.bytes).toBeGreaterThan(MAX_REQUEST_BYTES);
    }
  });

  it('small profiles: 1,000 entries a request, the most Customer.io is sent at once', async () => {
    const profiles = Array.from({ length: 2500 }, (_, i) => ({ email: `s${i}@example.com`, firstName: 'Ann', lastName: 'Lee' }));
    const { requests } = await deliver(profiles);
    expect(requests.map((request) => request.emails.length)).toEqual([1000, 1000, 500]);
  });
});

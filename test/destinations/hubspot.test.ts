import nock from 'nock';
import { beforeAll, describe, expect, it } from 'vitest';
import { DestinationClient } from '../../src/delivery/destination-client.js';
import type { PlatformAnswer } from '../../src/destinations/destination.js';
import { hubspotDestination as hubspot, readable } from '../../src/destinations/hubspot.js';
import { AuthError, HttpStatusError, RateLimitedError, RefusedError, UnexpectedResponseError, UsageError } from '../../src/errors.js';
import { isTransient } from '../../src/engine/retry-policy.js';
import { loadHasher } from '../../src/state/digest.js';
import { encoded, targetOf } from '../helpers/targets.js';

const BASE = 'http://hubspot.test';
const TOKEN = 'pat-na1-secret-token';
const target = targetOf('hubspot', BASE, { credential: TOKEN });
const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', metadata: { tier: 'gold', score: 7, vip: true, interests: ['a', 'b'], nested: { plan: 'pro' } } };
const answer = (status: number, body: unknown, headers: Record<string, string> = {}): PlatformAnswer => ({ status, headers, body, text: body === undefined ? '' : JSON.stringify(body) });
const items = [encoded(target, ann), encoded(target, bob)];

describe('hubspot: the body', () => {
  it('is an upsert by email of the three profile properties, one input per profile, each with its index as objectWriteTraceId', () => {
    const body = JSON.parse(hubspot.body('b-1', items.map((item) => item.fragment)));
    expect(body).toEqual({
      inputs: [
        { objectWriteTraceId: '0', idProperty: 'email', id: 'ann@example.com', properties: { email: 'ann@example.com', firstname: 'Ann', lastname: 'Lee' } },
        { objectWriteTraceId: '1', idProperty: 'email', id: 'bob@example.com', properties: { email: 'bob@example.com', firstname: 'Bob', lastname: 'Stone' } },
      ],
    });
  });

  it('sends mapped metadata as properties, every value a string: numbers and booleans as text, lists joined with ;', () => {
    const mapped = targetOf('hubspot', BASE, { credential: TOKEN, maps: ['metadata.tier=tier', 'metadata.score=score', 'metadata.vip=vip', 'metadata.interests=interests', 'metadata.nested.plan=plan', 'metadata.absent=absent'] });
    expect(JSON.parse(encoded(mapped, bob).fragment).properties).toEqual({
      email: 'bob@example.com',
      firstname: 'Bob',
      lastname: 'Stone',
      tier: 'gold',
      score: '7',
      vip: 'true',
      interests: 'a;b',
      plan: 'pro',
    });
    // metadata.tags is not sent unless mapped, and nothing else of metadata either.
    expect(JSON.parse(encoded(target, { ...ann, metadata: { tags: ['x'], tier: 'gold' } }).fragment).properties).toEqual({ email: 'ann@example.com', firstname: 'Ann', lastname: 'Lee' });
  });

  it('refuses a profile whose mapped value is an object (no property takes one), saying which', () => {
    const mapped = targetOf('hubspot', BASE, { credential: TOKEN, maps: ['metadata.nested=plan'] });
    expect(hubspot.encode(bob, mapped)).toEqual({ refused: 'metadata.nested is an object or a list of objects, which no HubSpot property takes (--map metadata.nested=plan)' });
  });

  it('counts exactly what its envelope adds to the items', () => {
    for (const count of [1, 2, 11, 101]) {
      const fragments = Array.from({ length: count }, () => items[0]!.fragment);
      const body = hubspot.body('b-1', fragments);
      expect(Buffer.byteLength(body)).toBe(hubspot.envelopeBytes(count) + fragments.reduce((sum, fragment) => sum + Buffer.byteLength(fragment), 0));
    }
  });

  it('refuses --map targets it could never take: the profile properties, names that are not property names', () => {
    expect(hubspot.checkMap({ source: 'metadata.x', path: ['x'], target: 'email' })).toMatch(/already sent/);
    expect(hubspot.checkMap({ source: 'metadata.x', path: ['x'], target: 'Tier Name' })).toMatch(/not a HubSpot property name/);
    expect(hubspot.checkMap({ source: 'metadata.x', path: ['x'], target: 'customer_tier' })).toBeUndefined();
  });
});

describe('hubspot: what an answer means for each input', () => {
  const emails = ['ann@example.com', 'bob@example.com'];
  const result = (traceId: string, email: string) => ({ id: '1', new: true, objectWriteTraceId: traceId, properties: { email } });

  it('200: every input listed in results is delivered', () => {
    expect(hubspot.accepted(answer(200, { status: 'COMPLETE', results: [result('0', 'ann@example.com'), result('1', 'bob@example.com')] }), emails, 'b')).toEqual([
      { status: 'accepted' },
      { status: 'accepted' },
    ]);
  });

  it('207: an input named by an error\'s objectWriteTraceId is refused with HubSpot\'s message; the others are delivered', () => {
    const body = {
      status: 'COMPLETE',
      results: [result('1', 'bob@example.com')],
      numErrors: 1,
      errors: [{ status: 'error', category: 'VALIDATION_ERROR', message: 'Property values were not valid: INVALID_EMAIL', context: { objectWriteTraceId: ['0'] } }],
    };
    expect(hubspot.accepted(answer(207, body), emails, 'b')).toEqual([
      { status: 'rejected', error: 'Property values were not valid: INVALID_EMAIL' },
      { status: 'accepted' },
    ]);
  });

  it("HubSpot's property refusals, JSON inside its message, are said as a person reads them", () => {
    const message = 'Property values were not valid: [{"isValid":false,"message":"Email address x@suppressed.example is blocked","error":"BLOCKED_EMAIL","name":"email"},{"isValid":false,"message":"Property \\"tier\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"tier"}]';
    const body = { status: 'COMPLETE', results: [], errors: [{ status: 'error', message, context: { objectWriteTraceId: ['0', '1'] } }] };
    expect(hubspot.accepted(answer(207, body), emails, 'b')[0]).toEqual({
      status: 'rejected',
      error: 'email: Email address x@suppressed.example is blocked (BLOCKED_EMAIL); tier: Property "tier" does not exist (PROPERTY_DOESNT_EXIST)',
    });
    expect(readable('Property values were not valid: [not json')).toBe('Property values were not valid: [not json');
  });

  it('a refusal as long as the value it quotes (a 70,000-character property) is kept to its first 1,000 characters', () => {
    const message = `Property values were not valid: [{"isValid":false,"message":"\\"${'x'.repeat(70_000)}\\" is not a valid number","error":"INVALID_NUMBER","name":"score"}]`;
    const body = { status: 'COMPLETE', results: [], errors: [{ status: 'error', message, context: { objectWriteTraceId: ['0'] } }] };
    const [first] = hubspot.accepted(answer(207, body), emails, 'b');
    expect(first!.status).toBe('rejected');
    expect(first!.error).toMatch(/^score: "xxx/);
    expect(first!.error!.length).toBe(1001);
    expect(first!.error!.endsWith('x…')).toBe(true);
  });

  it('a result without a trace id is matched by its email', () => {
    const body = { status: 'COMPLETE', results: [{ id: '1', properties: { email: 'ANN@example.com' } }, { id: '2', properties: { email: 'bob@example.com' } }] };
    expect(hubspot.accepted(answer(200, body), emails, 'b').map((r) => r.status)).toEqual(['accepted', 'accepted']);
  });

  it('a result with a trace id names that input only: one whose email is another input\'s confirms neither', () => {
    const body = { status: 'COMPLETE', results: [result('0', 'bob@example.com')] };
    expect(hubspot.accepted(answer(200, body), emails, 'b').map((r) => r.status)).toEqual(['unconfirmed', 'unconfirmed']);
  });

  it('trace ids are the texts we sent: "01", " 1" or "1.0" name no input', () => {
    const body = { status: 'COMPLETE', results: [result('00', 'ann@example.com')], errors: [{ status: 'error', message: 'no', context: { objectWriteTraceId: ['01', ' 1', '1.0'] } }] };
    expect(hubspot.accepted(answer(207, body), emails, 'b').map((r) => r.status)).toEqual(['unconfirmed', 'unconfirmed']);
  });

  it('an address echoed with its domain in Unicode (or in capitals) is the input sent in ASCII', () => {
    const body = { status: 'COMPLETE', results: [{ id: '1', properties: { email: 'Ann@Bücher.de' } }] };
    expect(hubspot.accepted(answer(200, body), ['ann@xn--bcher-kva.de'], 'b')).toEqual([{ status: 'accepted' }]);
  });

  it('a 2xx that names an input nowhere does not count it as delivered', () => {
    const [first, second] = hubspot.accepted(answer(200, { status: 'COMPLETE', results: [result('0', 'ann@example.com')] }), emails, 'batch b-1');
    expect(first).toEqual({ status: 'accepted' });
    expect(second).toEqual({ status: 'unconfirmed', error: "batch b-1: HubSpot's answer (HTTP 200) neither lists nor refuses this contact" });
    expect(hubspot.accepted(answer(200, { status: 'COMPLETE', results: [], errors: [] }), emails, 'b').map((r) => r.status)).toEqual(['unconfirmed', 'unconfirmed']);
  });

  it.each([
    ['an empty body', undefined],
    ['an HTML page', undefined],
    ['another shape', { ok: true }],
  ])('%s in a 2xx is an unexpected answer, never a delivery', (_name, body) => {
    expect(() => hubspot.accepted(answer(200, body), emails, 'batch b-1')).toThrow(new UnexpectedResponseError("batch b-1: HubSpot's answer (HTTP 200) is not a batch result"));
  });
});

describe('hubspot: 429', () => {
  it('TEN_SECONDLY_ROLLING: pause everyone for the interval HubSpot names (it sends no Retry-After)', () => {
    const error = hubspot.rateLimited!(answer(429, { status: 'error', policyName: 'TEN_SECONDLY_ROLLING', message: 'You have reached your ten_secondly_rolling limit.' }, { 'x-hubspot-ratelimit-interval-milliseconds': '10000' }), 'batch b-1');
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 10_000, scope: 'requests' });
    expect(isTransient(error)).toBe(false);
  });

  it('without headers: the 10 s window of the burst limit; SECONDLY: one second', () => {
    expect(hubspot.rateLimited!(answer(429, {}), 'b')).toMatchObject({ retryAfterMs: 10_000 });
    expect(hubspot.rateLimited!(answer(429, { policyName: 'SECONDLY' }), 'b')).toMatchObject({ retryAfterMs: 1000 });
  });

  it('DAILY: the run stops (nothing can be sent before midnight)', () => {
    const error = hubspot.rateLimited!(answer(429, { status: 'error', policyName: 'DAILY', message: 'You have reached your daily limit.' }), 'batch b-1');
    expect(error).toBeInstanceOf(RefusedError);
    expect(error.message).toMatch(/daily limit is spent/);
  });
});

describe('hubspot: a daily limit HubSpot does not name in policyName', () => {
  it('is DAILY when its message says so, or its daily remaining header is 0 (the run stops instead of waiting 10 s per batch for days)', () => {
    for (const said of [
      answer(429, { status: 'error', message: 'You have reached your daily limit.', errorType: 'RATE_LIMIT' }),
      answer(429, { status: 'error', message: 'Request Rate Limit reached', category: 'RATE-LIMIT_REACHED' }, { 'x-hubspot-ratelimit-daily': '250000', 'x-hubspot-ratelimit-daily-remaining': '0' }),
    ]) {
      const error = hubspot.rateLimited!(said, 'batch b-1');
      expect(error).toBeInstanceOf(RefusedError);
      expect(error.message).toMatch(/daily limit is spent/);
    }
  });

  it('a burst limit that names itself stays a pause, whatever the daily headers say', () => {
    const said = answer(429, { policyName: 'TEN_SECONDLY_ROLLING', message: 'You have reached your ten_secondly_rolling limit.' }, { 'x-hubspot-ratelimit-daily-remaining': '0' });
    expect(hubspot.rateLimited!(said, 'b')).toBeInstanceOf(RateLimitedError);
  });
});

describe('hubspot through the client (nock)', () => {
  beforeAll(loadHasher);
  const client = new DestinationClient(target);

  it('POSTs the upsert with the token as Bearer and no Idempotency-Key (HubSpot has none)', async () => {
    let sent: unknown;
    const scope = nock(BASE, { reqheaders: { authorization: `Bearer ${TOKEN}`, 'content-type': /application\/json/ }, badheaders: ['idempotency-key'] })
      .post('/crm/v3/objects/contacts/batch/upsert', (body) => ((sent = body), true))
      .reply(200, { status: 'COMPLETE', results: [{ objectWriteTraceId: '0', properties: { email: 'ann@example.com' } }, { objectWriteTraceId: '1', properties: { email: 'bob@example.com' } }] });
    await expect(client.send('b-1', items)).resolves.toEqual([{ status: 'accepted' }, { status: 'accepted' }]);
    expect((sent as { inputs: unknown[] }).inputs).toHaveLength(2);
    expect(scope.isDone()).toBe(true);
  });

  it('400 (the batch itself refused) carries HubSpot\'s words for the engine to bisect', async () => {
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(400, { status: 'error', message: 'Duplicate IDs found in batch input', category: 'VALIDATION_ERROR' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 400, detail: 'Duplicate IDs found in batch input', message: 'batch b-1: HTTP 400: Duplicate IDs found in batch input' });
  });

  it.each([401, 403])('%i names SYNC_DOWNSTREAM_TOKEN and never the token', async (status) => {
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(status, { status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe(`batch b-1: HTTP ${status}: Authentication credentials not found.: HubSpot refused the token; check SYNC_DOWNSTREAM_TOKEN`);
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('404 stops the run naming --downstream-url', async () => {
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(404, '<html><body>Not Found</body></html>', { 'content-type': 'text/html' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toBe(`batch b-1: HTTP 404: Not Found: no HubSpot contacts API at ${BASE}; check --downstream-url`);
  });

  it('5xx, even an HTML page, is transient; an empty or HTML 2xx is unexpected, never delivered', async () => {
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(502, '<html><h1>502 Bad Gateway</h1></html>');
    const failed = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(failed).toMatchObject({ status: 502, message: 'batch b-1: HTTP 502' });
    expect(isTransient(failed as HttpStatusError)).toBe(true);
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(200, '');
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(200, '<html>ok</html>', { 'content-type': 'text/html' });
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('429 with HubSpot\'s headers is a rate limit with its interval', async () => {
    nock(BASE).post('/crm/v3/objects/contacts/batch/upsert').reply(429, { status: 'error', policyName: 'TEN_SECONDLY_ROLLING' }, { 'X-HubSpot-RateLimit-Interval-Milliseconds': '10000', 'X-HubSpot-RateLimit-Remaining': '0' });
    await expect(client.send('b-1', items)).rejects.toMatchObject({ status: 429, retryAfterMs: 10_000 });
  });
});

describe('hubspot: preflight (the contact properties)', () => {
  const mapped = targetOf('hubspot', BASE, { credential: TOKEN, maps: ['metadata.tier=tier'] });
  const properties = (...names: string[]) => ({ results: names.map((name) => ({ name, label: name, type: 'string', fieldType: 'text', options: [] })) });
  const reading = (result: PlatformAnswer) => async (path: string) => {
    expect(path).toBe('/crm/v3/properties/contacts');
    return result;
  };

  it('passes when every mapped target is a writable property', async () => {
    await expect(hubspot.preflight!(reading(answer(200, properties('email', 'firstname', 'lastname', 'tier'))), mapped)).resolves.toBeUndefined();
  });

  it('a missing property is a usage error naming it', async () => {
    await expect(hubspot.preflight!(reading(answer(200, properties('email', 'firstname', 'lastname'))), mapped)).rejects.toThrow(
      new UsageError('--map metadata.tier=tier: HubSpot has no contact property "tier" (create it in HubSpot, or map to one that exists)'),
    );
  });

  it('a read-only property is refused', async () => {
    const body = { results: [...properties('email', 'firstname', 'lastname').results, { name: 'tier', modificationMetadata: { readOnlyValue: true } }] };
    await expect(hubspot.preflight!(reading(answer(200, body)), mapped)).rejects.toThrow(/the HubSpot property "tier" is read-only/);
  });

  it('401/403 names the variable and the scopes; 404 names --downstream-url', async () => {
    await expect(hubspot.preflight!(reading(answer(401, { message: 'Authentication credentials not found.' })), mapped)).rejects.toThrow(
      /^HubSpot refused SYNC_DOWNSTREAM_TOKEN \(HTTP 401: Authentication credentials not found\.\): it needs a private app token with the scopes crm\.objects\.contacts\.write and crm\.schemas\.contacts\.read$/,
    );
    await expect(hubspot.preflight!(reading(answer(404, undefined)), mapped)).rejects.toThrow(`--downstream-url ${BASE}: HTTP 404 for GET /crm/v3/properties/contacts: not a HubSpot API base URL`);
  });
});

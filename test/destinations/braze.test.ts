import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { DestinationClient } from '../../src/delivery/destination-client.js';
import type { PlatformAnswer } from '../../src/destinations/destination.js';
import { brazeDestination as braze, untilReset } from '../../src/destinations/braze.js';
import { resolveTarget } from '../../src/destinations/registry.js';
import { AuthError, HttpStatusError, RateLimitedError, RefusedError, UnexpectedResponseError, UsageError } from '../../src/errors.js';
import { isTransient } from '../../src/engine/retry-policy.js';
import { encoded, targetOf } from '../helpers/targets.js';

const BASE = 'http://braze.test';
const KEY = 'braze-rest-key-SECRET';
const target = targetOf('braze', BASE, { credential: KEY });
const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: { tags: ['vip', 'newsletter'] } };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', metadata: { tier: 'gold', score: 7, vip: true, interests: ['a', 'b'], nested: { plan: 'pro' }, gone: null } };
const cy = { email: 'cy@example.com', firstName: 'Cy', lastName: 'Young' };
const answer = (status: number, body: unknown, headers: Record<string, string> = {}): PlatformAnswer => ({
  status,
  headers,
  body,
  text: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
});
const items = [encoded(target, ann), encoded(target, bob), encoded(target, cy)];
const emails = items.map((item) => item.profile.email);
const INVALID_EMAIL = "The value provided for the 'email' field is not a valid email.";
const NO_IDENTIFIER = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required";
const NOTHING_VALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.";

describe('braze: the body', () => {
  it('is one attributes object per profile, the email as identifier, the names as first_name/last_name, metadata.tags as tags, and nothing else', () => {
    expect(JSON.parse(braze.body('b-1', items.map((item) => item.fragment)))).toEqual({
      attributes: [
        { email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee', tags: ['vip', 'newsletter'] },
        { email: 'bob@example.com', first_name: 'Bob', last_name: 'Stone' },
        { email: 'cy@example.com', first_name: 'Cy', last_name: 'Young' },
      ],
    });
    // No events, no purchases, no update-only switch: an unknown email creates an email-only user.
    expect(braze.body('b-1', [items[1]!.fragment])).toBe('{"attributes":[{"email":"bob@example.com","first_name":"Bob","last_name":"Stone"}]}');
  });

  it('sends mapped metadata as custom attributes with their JSON types (objects as nested attributes); absent or null values send nothing', () => {
    const mapped = targetOf('braze', BASE, {
      credential: KEY,
      maps: ['metadata.tier=tier', 'metadata.score=score', 'metadata.vip=vip', 'metadata.interests=interests', 'metadata.nested=plan_info', 'metadata.nested.plan=plan', 'metadata.gone=gone', 'metadata.absent=absent'],
    });
    expect(JSON.parse(encoded(mapped, bob).fragment)).toEqual({
      email: 'bob@example.com',
      first_name: 'Bob',
      last_name: 'Stone',
      tier: 'gold',
      score: 7,
      vip: true,
      interests: ['a', 'b'],
      plan_info: { plan: 'pro' },
      plan: 'pro',
    });
  });

  // A plain object took `attributes.__proto__ = value` as its prototype: the attribute was never
  // sent, and the profile still counted as delivered.
  it('an attribute named __proto__ is sent as an attribute, not taken as the prototype of the object', () => {
    const mapped = targetOf('braze', BASE, { credential: KEY, maps: ['metadata.tier=__proto__'] });
    expect(encoded(mapped, bob).fragment).toContain('"__proto__":"gold"');
    const object = targetOf('braze', BASE, { credential: KEY, maps: ['metadata.nested=__proto__'] });
    expect(encoded(object, bob).fragment).toContain('"__proto__":{"plan":"pro"}');
  });

  it('an empty tag list is sent as one (the profile has no tags now); a profile without tags sends none', () => {
    expect(JSON.parse(encoded(target, { ...cy, metadata: { tags: [] } }).fragment)).toMatchObject({ tags: [] });
    expect(JSON.parse(encoded(target, cy).fragment)).not.toHaveProperty('tags');
  });

  it('counts exactly what its envelope adds to the items', () => {
    for (const count of [1, 2, 3, 75]) {
      const fragments = Array.from({ length: count }, (_, i) => items[i % items.length]!.fragment);
      const body = braze.body('b-1', fragments);
      expect(Buffer.byteLength(body)).toBe(braze.envelopeBytes(count) + fragments.reduce((sum, fragment) => sum + Buffer.byteLength(fragment), 0));
    }
  });

  it('refuses --map targets that are already sent, or that would change which user is updated', () => {
    const check = (to: string) => braze.checkMap({ source: 'metadata.x', path: ['x'], target: to });
    expect(check('first_name')).toMatch(/already sent from the profile/);
    expect(check('tags')).toMatch(/metadata\.tags is already sent/);
    for (const key of ['external_id', 'braze_id', 'user_alias', '_update_existing_only', 'push_token_import']) expect(check(key)).toMatch(/would change which Braze user is updated/);
    expect(check('plan')).toBeUndefined();
    expect(check('phone')).toBeUndefined();
  });
});

describe('braze: the target', () => {
  it('has no default URL: --downstream-url is required, with an instance endpoint as the example', () => {
    const refusal = (() => {
      try {
        resolveTarget({ to: 'braze' }, KEY);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(UsageError);
    expect((refusal as Error).message).toMatch(/^--downstream-url \(or SYNC_DOWNSTREAM_URL\) is required with --to braze: your Braze instance's REST endpoint, e\.g\. https:\/\/rest\.iad-01\.braze\.com/);
    // --dry-run contacts nobody: no URL needed.
    expect(resolveTarget({ to: 'braze' }, KEY, { contactless: true }).target.baseUrl).toBe('');
  });

  it('defaults to 75 a batch, 10/s, 10 in flight; a larger --batch-size is refused', () => {
    expect(resolveTarget({ to: 'braze', downstreamUrl: BASE }, KEY)).toMatchObject({ batchSize: 75, rate: 10, concurrency: 10 });
    expect(() => resolveTarget({ to: 'braze', downstreamUrl: BASE, batchSize: 76 }, KEY)).toThrow(/--batch-size 76: Braze takes at most 75 profiles a request/);
  });

  it('remembers acceptances per instance and per workspace: two REST endpoints, or two API keys on one, are two platforms', () => {
    const us = braze.identity(targetOf('braze', 'https://rest.iad-01.braze.com', { credential: KEY }));
    const eu = braze.identity(targetOf('braze', 'https://rest.fra-01.braze.eu/', { credential: KEY }));
    const otherWorkspace = braze.identity(targetOf('braze', 'https://rest.iad-01.braze.com', { credential: 'another-workspaces-key' }));
    expect(us).toMatch(/^braze https:\/\/rest\.iad-01\.braze\.com token:[0-9a-f]{16}$/);
    expect(eu).toMatch(/^braze https:\/\/rest\.fra-01\.braze\.eu token:[0-9a-f]{16}$/);
    expect(otherWorkspace).not.toBe(us);
  });
});

describe('braze: what a 2xx means for each object', () => {
  it('201 "success" with no errors: every object delivered', () => {
    expect(braze.accepted(answer(201, { message: 'success', attributes_processed: 3 }), emails, 'b')).toEqual([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
    expect(braze.accepted(answer(200, { message: 'success' }), emails, 'b')).toHaveLength(3);
  });

  it('"success" WITH errors (the trap RudderStack fell into, PR #5326): each object named by errors[].index is refused with Braze\'s type, the rest delivered', () => {
    const body = {
      message: 'success',
      attributes_processed: 1,
      errors: [
        { type: INVALID_EMAIL, input_array: 'attributes', index: 0 },
        { type: NO_IDENTIFIER, input_array: 'attributes', index: 2 },
      ],
    };
    expect(braze.accepted(answer(201, body), emails, 'b')).toEqual([
      { status: 'rejected', error: INVALID_EMAIL },
      { status: 'accepted' },
      { status: 'rejected', error: NO_IDENTIFIER },
    ]);
  });

  it('an object named twice keeps both reasons; an index given as digits names the object too', () => {
    const body = { message: 'success', errors: [{ type: 'a', input_array: 'attributes', index: 1 }, { type: 'b', input_array: 'attributes', index: '1' }, { type: 'a', input_array: 'attributes', index: 1 }] };
    expect(braze.accepted(answer(201, body), emails, 'b')[1]).toEqual({ status: 'rejected', error: 'a; b' });
  });

  // Each type was checked against the object's types so far (Array.includes): 50,000 distinct
  // types for one object took ~12 s (measured at 40,000: 7.6 s).
  it('an object named 50,000 times in distinct words: its reason is kept to the first words, read at once', () => {
    const errors = Array.from({ length: 50000 }, (_, i) => ({ type: `type ${i}`, input_array: 'attributes', index: 0 }));
    const results = braze.accepted(answer(201, { message: 'success', errors }), emails, 'b');
    expect(results.map((result) => result.status)).toEqual(['rejected', 'accepted', 'accepted']);
    expect(results[0]!.error).toMatch(/^type 0; type 1; .*…$/);
    expect(results[0]!.error!.length).toBeLessThanOrEqual(1001);
  }, 3000);

  it('an error that names no object sent (another array, an index out of range, a bare string) leaves the others unconfirmed, never delivered', () => {
    for (const error of [
      { type: "'quantity' is not valid", input_array: 'purchases', index: 0 },
      { type: INVALID_EMAIL, input_array: 'attributes', index: 3 },
      { type: INVALID_EMAIL, input_array: 'attributes' },
      'minor error message',
    ]) {
      const results = braze.accepted(answer(201, { message: 'success', errors: [{ type: 'x', input_array: 'attributes', index: 0 }, error] }), emails, 'b');
      expect(results[0]).toEqual({ status: 'rejected', error: 'x' });
      expect(results.slice(1).map((result) => result.status)).toEqual(['unconfirmed', 'unconfirmed']);
      expect(results[1]!.error).toMatch(/^b: Braze reported an error that names no object sent/);
    }
  });

  it('a 2xx whose message is not "success" (e.g. 202 "queued", or a fatal message on a 201) delivers nothing', () => {
    expect(() => braze.accepted(answer(202, { message: 'queued' }), emails, 'b')).toThrow(UnexpectedResponseError);
    expect(() => braze.accepted(answer(201, { message: 'fatal error message', errors: ['minor error message'] }), emails, 'b')).toThrow(/Braze answered HTTP 201 "fatal error message", not "success"/);
  });

  it('an empty 2xx, an HTML 2xx, or another JSON shape delivers nothing', () => {
    expect(() => braze.accepted(answer(201, undefined), emails, 'b')).toThrow(UnexpectedResponseError);
    expect(() => braze.accepted({ status: 200, headers: {}, body: undefined, text: '<html><body>OK</body></html>' }, emails, 'b')).toThrow(UnexpectedResponseError);
    expect(() => braze.accepted(answer(200, { status: 'ok', results: [] }), emails, 'b')).toThrow(/is not a \/users\/track result/);
    expect(() => braze.accepted(answer(201, { message: 'success', errors: 'bad' }), emails, 'b')).toThrow(/errors that are not a list/);
  });
});

describe('braze: a 400', () => {
  it('naming every object sent (nothing valid in the request): each is refused with its own reason', () => {
    const body = { message: NOTHING_VALID, errors: [0, 1, 2].map((index) => ({ type: index === 1 ? NO_IDENTIFIER : INVALID_EMAIL, input_array: 'attributes', index })) };
    expect(braze.refusedEach!(answer(400, body), emails, 'b')).toEqual([
      { status: 'rejected', error: INVALID_EMAIL },
      { status: 'rejected', error: NO_IDENTIFIER },
      { status: 'rejected', error: INVALID_EMAIL },
    ]);
  });

  it('naming only some objects, or none, is about the request: left to the engine to bisect', () => {
    const some = { message: NOTHING_VALID, errors: [{ type: INVALID_EMAIL, input_array: 'attributes', index: 0 }] };
    expect(braze.refusedEach!(answer(400, some), emails, 'b')).toBeUndefined();
    expect(braze.refusedEach!(answer(400, { message: 'Max Input Length Exceeded' }), emails, 'b')).toBeUndefined();
    expect(braze.refusedEach!(answer(400, '<html>Bad Request</html>'), emails, 'b')).toBeUndefined();
  });
});

describe('braze: 429', () => {
  const limited = (headers: Record<string, string>) => braze.rateLimited!(answer(429, { message: 'Rate Limited' }, headers), 'b');

  it('waits until X-RateLimit-Reset (epoch seconds), measured against the answer\'s own Date (Braze\'s clock, not ours)', () => {
    const error = limited({ 'x-ratelimit-limit': '3000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1768923003', date: 'Tue, 20 Jan 2026 15:30:00 GMT' });
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ retryAfterMs: 3000, scope: 'requests', detail: 'Rate Limited', message: 'b: HTTP 429: Braze rate limit (3000 requests a window)' });
  });

  it('a reset already past is no wait; without the headers, Braze\'s 3 s burst window', () => {
    expect(untilReset(answer(429, {}, { 'x-ratelimit-reset': '1768923000', date: 'Tue, 20 Jan 2026 15:30:05 GMT' }))).toBe(0);
    expect(untilReset(answer(429, {}, { date: 'Tue, 20 Jan 2026 15:30:05 GMT' }))).toBe(3000);
    expect(untilReset(answer(429, {}, { 'x-ratelimit-reset': '1768923003' }))).toBe(3000);
    expect(untilReset(answer(429, {}, { 'x-ratelimit-reset': 'soon', date: 'Tue, 20 Jan 2026 15:30:05 GMT' }))).toBe(3000);
  });
});

describe('braze through the client (nock)', () => {
  const client = new DestinationClient(target);
  const TRACK = '/users/track';

  it('POSTs the attributes to /users/track with the key as Bearer and no Idempotency-Key', async () => {
    let sent: unknown;
    const scope = nock(BASE, { reqheaders: { authorization: `Bearer ${KEY}`, 'content-type': /application\/json/ }, badheaders: ['idempotency-key'] })
      .post(TRACK, (body) => ((sent = body), true))
      .reply(201, { message: 'success', attributes_processed: 3 });
    expect(await client.send('b-1', items)).toEqual([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
    expect((sent as { attributes: unknown[] }).attributes).toHaveLength(3);
    expect(scope.isDone()).toBe(true);
  });

  it('a 400 naming every object: each refused (class client, Braze\'s type), not a batch failure for the engine to bisect', async () => {
    nock(BASE)
      .post(TRACK)
      .reply(400, { message: NOTHING_VALID, errors: [0, 1, 2].map((index) => ({ type: INVALID_EMAIL, input_array: 'attributes', index })) });
    expect(await client.send('b-1', items)).toEqual([0, 1, 2].map(() => ({ status: 'rejected', error: INVALID_EMAIL })));
  });

  it('any other 400 carries Braze\'s message for the engine to bisect', async () => {
    nock(BASE).post(TRACK).reply(400, { message: 'Max Input Length Exceeded' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 400, detail: 'Max Input Length Exceeded', message: 'batch b-1: HTTP 400: Max Input Length Exceeded' });
  });

  it.each([
    [401, 'Invalid API Key'],
    [403, 'Access Denied'],
  ])('%i (%s) stops the run naming SYNC_DOWNSTREAM_TOKEN, never the key', async (status, said) => {
    nock(BASE).post(TRACK).reply(status, { message: said });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe(`batch b-1: HTTP ${status}: ${said}: Braze refused the token; check SYNC_DOWNSTREAM_TOKEN`);
    expect((error as Error).message).not.toContain(KEY);
  });

  it('404 stops the run naming --downstream-url and what it should be', async () => {
    nock(BASE).post(TRACK).reply(404, { message: 'Invalid URL' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toBe(`batch b-1: HTTP 404: Invalid URL: no Braze REST API at ${BASE}; check --downstream-url (your instance's REST endpoint, e.g. https://rest.iad-01.braze.com)`);
  });

  it('429 with Braze\'s headers is a rate limit until its reset', async () => {
    nock(BASE)
      .post(TRACK)
      .reply(429, { message: 'Rate Limited' }, { 'X-RateLimit-Limit': '3000', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1768923002', Date: 'Tue, 20 Jan 2026 15:30:00 GMT' });
    await expect(client.send('b-1', items)).rejects.toMatchObject({ status: 429, retryAfterMs: 2000 });
  });

  it('5xx, even an HTML page, is transient; an empty or HTML 2xx is unexpected, never delivered', async () => {
    nock(BASE).post(TRACK).reply(502, '<html><h1>502 Bad Gateway</h1></html>', { 'content-type': 'text/html' });
    const failed = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(failed).toMatchObject({ status: 502, message: 'batch b-1: HTTP 502' });
    expect(isTransient(failed as HttpStatusError)).toBe(true);
    nock(BASE).post(TRACK).reply(201, '');
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
    nock(BASE).post(TRACK).reply(200, '<html>ok</html>', { 'content-type': 'text/html' });
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

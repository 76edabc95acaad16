import nock from 'nock';
import { beforeAll, describe, expect, it } from 'vitest';
import { DestinationClient } from '../../src/delivery/destination-client.js';
import type { PlatformAnswer } from '../../src/destinations/destination.js';
import { iterableDestination as iterable } from '../../src/destinations/iterable.js';
import { resolveTarget } from '../../src/destinations/registry.js';
import { encoderFor } from '../../src/delivery/encoder.js';
import { AuthError, DataRefusedError, HttpStatusError, RateLimitedError, RefusedError, UnexpectedResponseError } from '../../src/errors.js';
import { isTransient } from '../../src/engine/retry-policy.js';
import { loadHasher } from '../../src/state/digest.js';
import { encoded, targetOf } from '../helpers/targets.js';

const BASE = 'http://iterable.test';
const KEY = '0123456789abcdef0123456789abcdef';
const target = targetOf('iterable', BASE, { credential: KEY });
const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: { tags: ['vip', 'newsletter'], plan: 'pro', score: 7, ratio: 0.5, vip: true, prefs: { sms: false }, since: '2024-01-15', empty: null } };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone' };
const cid = { email: 'cid@example.com', firstName: 'Cid', lastName: 'Moe' };
const answer = (status: number, body: unknown, headers: Record<string, string> = {}): PlatformAnswer => ({ status, headers, body, text: body === undefined ? '' : JSON.stringify(body) });
const items = [encoded(target, ann), encoded(target, bob), encoded(target, cid)];
const emails = ['ann@example.com', 'bob@example.com', 'cid@example.com'];
beforeAll(loadHasher);

/** A bulkUpdate 200 as RudderStack recorded it: every list present, empty unless given. */
function result(successCount: number, failCount: number, lists: Record<string, string[]> = {}, extra: Record<string, unknown> = {}) {
  const failedUpdates = { invalidEmails: [], invalidUserIds: [], notFoundEmails: [], notFoundUserIds: [], invalidDataEmails: [], invalidDataUserIds: [], conflictEmails: [], conflictUserIds: [], forgottenEmails: [], forgottenUserIds: [], ...lists };
  return { successCount, failCount, invalidEmails: lists.invalidEmails ?? [], invalidUserIds: [], filteredOutFields: [], createdFields: [], noOpEmails: [], noOpUserIds: [], failedUpdates, ...extra };
}

describe('iterable: where and how', () => {
  it("Iterable's US API by default, the key in Api-Key, POST /api/users/bulkUpdate; 1,000 a batch, 5/s, 5 in flight", () => {
    const resolved = resolveTarget({ to: 'iterable' }, KEY);
    expect([resolved.target.baseUrl, resolved.batchSize, resolved.rate, resolved.concurrency]).toEqual(['https://api.iterable.com', 1000, 5, 5]);
    expect(iterable.headers(target)).toEqual({ 'Api-Key': KEY });
    expect(iterable.endpoint(target)).toBe(`${BASE}/api/users/bulkUpdate`);
    expect(iterable.limits).toEqual({ maxItems: 1000, maxBytes: 4_000_000 });
    expect(() => resolveTarget({ to: 'iterable', batchSize: 1001 }, KEY)).toThrow('--batch-size 1001: Iterable takes at most 1000 profiles a request');
  });

  it('remembers acceptances per project: the URL and a fingerprint of the key, never the key', () => {
    const one = iterable.identity(target);
    expect(one).toMatch(/^iterable http:\/\/iterable\.test token:[0-9a-f]{16}$/);
    expect(one).not.toContain(KEY);
    expect(iterable.identity(targetOf('iterable', BASE, { credential: 'another-projects-key' }))).not.toBe(one);
    expect(iterable.identity(targetOf('iterable', 'https://api.eu.iterable.com', { credential: KEY }))).not.toBe(one);
  });
});

describe('iterable: the body', () => {
  it('one user per profile, by email; both names and metadata.tags as data fields', () => {
    expect(JSON.parse(iterable.body('b-1', items.map((item) => item.fragment)))).toEqual({
      users: [
        { email: 'ann@example.com', dataFields: { firstName: 'Ann', lastName: 'Lee', tags: ['vip', 'newsletter'] } },
        { email: 'bob@example.com', dataFields: { firstName: 'Bob', lastName: 'Stone' } },
        { email: 'cid@example.com', dataFields: { firstName: 'Cid', lastName: 'Moe' } },
      ],
    });
  });

  it('sends mapped metadata with its JSON type (the type Iterable fixes for the field); null and absent values are not sent', () => {
    const mapped = targetOf('iterable', BASE, {
      credential: KEY,
      maps: ['metadata.plan=plan', 'metadata.score=score', 'metadata.ratio=ratio', 'metadata.vip=vip', 'metadata.prefs=prefs', 'metadata.since=since', 'metadata.empty=empty', 'metadata.absent=absent'],
    });
    expect(JSON.parse(encoded(mapped, ann).fragment)).toEqual({
      email: 'ann@example.com',
      dataFields: { firstName: 'Ann', lastName: 'Lee', tags: ['vip', 'newsletter'], plan: 'pro', score: 7, ratio: 0.5, vip: true, prefs: { sms: false }, since: '2024-01-15' },
    });
  });

  // A plain object took `dataFields.__proto__ = value` as its prototype: the field was never
  // sent, and the user still counted as updated.
  it('a data field named __proto__ is sent as a field, not taken as the prototype of dataFields', () => {
    const mapped = targetOf('iterable', BASE, { credential: KEY, maps: ['metadata.plan=__proto__'] });
    expect(encoded(mapped, ann).fragment).toContain('"__proto__":"pro"');
    const object = targetOf('iterable', BASE, { credential: KEY, maps: ['metadata.prefs=__proto__'] });
    expect(encoded(object, ann).fragment).toContain('"__proto__":{"sms":false}');
  });

  it('counts exactly what its envelope adds to the items', () => {
    for (const count of [1, 2, 3, 1000]) {
      const fragments = Array.from({ length: count }, (_, i) => items[i % 3]!.fragment);
      expect(Buffer.byteLength(iterable.body('b', fragments))).toBe(iterable.envelopeBytes(count) + fragments.reduce((sum, fragment) => sum + Buffer.byteLength(fragment), 0));
    }
  });

  it('a profile larger than one 4 MB request is refused before it costs a request', () => {
    const mapped = targetOf('iterable', BASE, { credential: KEY, maps: ['metadata.note=note'] });
    const refused = encoderFor(mapped).encode({ ...bob, metadata: { note: 'x'.repeat(4_000_000) } });
    expect(refused).toEqual({ refused: expect.stringMatching(/^4,000,\d{3} bytes as sent to Iterable, more than one request may carry \(4,000,000 bytes\)$/) });
  });

  it('refuses --map targets the profile already fills, subscription fields, and dotted names', () => {
    const problem = (target: string) => iterable.checkMap({ source: 'metadata.x', path: ['x'], target });
    expect(problem('firstname')).toBe('firstName is already sent from the profile');
    expect(problem('email')).toBe('email is already sent from the profile');
    expect(problem('userId')).toBe('userId is already sent from the profile');
    expect(problem('tags')).toBe('metadata.tags is already sent as the data field tags');
    expect(problem('emailListIds')).toMatch(/changes the user's subscriptions/);
    expect(problem('prefs.sms')).toMatch(/a dot in an Iterable field name/);
    expect(problem('plan')).toBeUndefined();
  });
});

describe('iterable: what a 200 says about each user', () => {
  it('every user counted as updated, none named: all delivered', () => {
    expect(iterable.accepted(answer(200, result(3, 0)), emails, 'b')).toEqual([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
  });

  it('each user named in any failedUpdates list is refused with what that list means; the others are delivered', () => {
    const body = result(0, 3, { invalidDataEmails: ['ann@example.com'], forgottenEmails: ['BOB@Example.com'], conflictEmails: ['cid@example.com'] });
    expect(iterable.accepted(answer(200, body), emails, 'b')).toEqual([
      { status: 'rejected', error: "invalidDataEmails: a data field's type differs from the type Iterable fixed for it" },
      { status: 'rejected', error: 'forgottenEmails: the user was forgotten (GDPR) in this Iterable project, which refuses new data for it' },
      { status: 'rejected', error: 'conflictEmails: this email and another Iterable user conflict (the identifier belongs to someone else)' },
    ]);
    const partly = result(2, 1, { notFoundEmails: ['bob@example.com'] });
    expect(iterable.accepted(answer(200, partly), emails, 'b')).toEqual([{ status: 'accepted' }, { status: 'rejected', error: 'notFoundEmails: Iterable has no such user and did not create one' }, { status: 'accepted' }]);
  });

  it('an address named at the top and in failedUpdates (as Iterable does for a malformed one) is one failure; an unknown list refuses in its own key', () => {
    const body = result(1, 2, { invalidEmails: ['ann@example.com'], tooManyFieldsEmails: ['cid@example.com'] });
    expect(body.invalidEmails).toEqual(['ann@example.com']);
    expect(iterable.accepted(answer(200, body), emails, 'b')).toEqual([
      { status: 'rejected', error: 'invalidEmails: Iterable does not take this as an email address' },
      { status: 'accepted' },
      { status: 'rejected', error: 'tooManyFieldsEmails: refused by Iterable' },
    ]);
  });

  it('an address named with its domain in Unicode or in capitals is the user sent in ASCII', () => {
    const sent = ['ann@xn--bcher-kva.de', 'bob@example.com'];
    expect(iterable.accepted(answer(200, result(1, 1, { invalidDataEmails: ['Ann@Bücher.de'] })), sent, 'b')[0]).toMatchObject({ status: 'rejected' });
  });

  it('users named unchanged (noOpEmails) are delivered whether or not successCount counts them', () => {
    const counted = iterable.accepted(answer(200, result(3, 0, {}, { noOpEmails: ['bob@example.com'] })), emails, 'b');
    const leftOut = iterable.accepted(answer(200, result(2, 0, {}, { noOpEmails: ['Bob@Example.com'] })), emails, 'b');
    expect([counted, leftOut].map((results) => results.map((item) => item.status))).toEqual([
      ['accepted', 'accepted', 'accepted'],
      ['accepted', 'accepted', 'accepted'],
    ]);
    // One short with nobody named unchanged: still unconfirmed.
    expect(iterable.accepted(answer(200, result(2, 0)), emails, 'b').map((item) => item.status)).toEqual(['unconfirmed', 'unconfirmed', 'unconfirmed']);
    // A no-op list naming someone not sent does not make up for a missing count.
    expect(iterable.accepted(answer(200, result(2, 0, {}, { noOpEmails: ['zed@example.com'] })), emails, 'b').map((item) => item.status)).toEqual(['unconfirmed', 'unconfirmed', 'unconfirmed']);
  });

  it('counts that do not match the names leave every unnamed user unconfirmed, never delivered', () => {
    const expected = (said: string) => ({ status: 'unconfirmed', error: `batch b-1: Iterable counted ${said}: this user's update is not confirmed` });
    // A failure Iterable counted but named by something else (a userId): who it was cannot be told.
    const unnamed = iterable.accepted(answer(200, result(2, 1, { invalidUserIds: ['u-9'] })), emails, 'batch b-1');
    expect(unnamed).toEqual([expected('2 updated and 1 failed of 3 sent but named 0 failed'), expected('2 updated and 1 failed of 3 sent but named 0 failed'), expected('2 updated and 1 failed of 3 sent but named 0 failed')]);
    // Fewer users counted than sent: one was dropped silently.
    const short = iterable.accepted(answer(200, result(1, 1, { invalidEmails: ['cid@example.com'] })), emails, 'batch b-1');
    expect(short.map((item) => item.status)).toEqual(['unconfirmed', 'unconfirmed', 'rejected']);
  });

  it.each([
    ['an empty 200', undefined],
    ['an HTML 200', '<html><body>OK</body></html>'],
    ["Iterable's generic envelope", { msg: '', code: 'Success', params: null }],
    ['counts that are not numbers', { successCount: '3', failCount: 0, failedUpdates: {} }],
    ['no failCount', { successCount: 3, failedUpdates: {} }],
    ['failedUpdates that is not an object', { successCount: 3, failCount: 0, failedUpdates: [] }],
  ])('%s is unexpected: nobody delivered', (_name, body) => {
    const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
    expect(() => iterable.accepted({ status: 200, headers: {}, body: typeof body === 'string' ? undefined : body, text }, emails, 'b')).toThrow(UnexpectedResponseError);
  });

  it('fields the project dropped (filteredOutFields) stop the run, naming them: no profile is remembered without its mapped data', () => {
    const read = () => iterable.accepted(answer(200, result(3, 0, {}, { filteredOutFields: ['plan', 'score'] })), emails, 'batch b-1');
    expect(read).toThrow(RefusedError);
    expect(read).toThrow(
      'batch b-1: Iterable dropped the data fields plan, score (filteredOutFields): the project does not take new fields; create them in Iterable (or let the project take new fields), or drop the --map',
    );
  });
});

describe('iterable: a hostile 200', () => {
  // Each list's key was checked against the user's keys so far (Array.includes): 50,000 lists
  // naming one user took ~7 s (measured at 40,000: 4.7 s).
  it('a user named in 50,000 lists: its reason is kept to the first lists, read at once', () => {
    const failedUpdates = Object.fromEntries(Array.from({ length: 50000 }, (_, i) => [`list${i}Emails`, ['bob@example.com']]));
    const results = iterable.accepted(answer(200, { successCount: 2, failCount: 1, failedUpdates }), emails, 'b');
    expect(results.map((result) => result.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(results[1]!.error).toMatch(/^list0Emails: refused by Iterable; list1Emails: refused by Iterable; .*…$/);
    expect(results[1]!.error!.length).toBeLessThanOrEqual(1001);
  }, 3000);
});

describe('iterable: errors', () => {
  const mismatch = {
    msg: "Project 10216: The request does not have the same data types as the data previously submitted. Field 'plan' already exists for type 'user' and has a data type of 'string' but possible types 'long' in the request.",
    code: 'RequestFieldsTypesMismatched',
    params: { validationErrors: { plan: { incomingTypes: ['long'], expectedType: 'string', _type: 'UnexpectedType', offendingValue: '7', category: 'user' } } },
  };

  it('400 RequestFieldsTypesMismatched blames a value: bisected to the profile, which gets Iterable\'s message (never the offending value)', () => {
    const error = iterable.clientError!(answer(400, mismatch), 'batch b-1');
    expect(error).toBeInstanceOf(DataRefusedError);
    expect(error).toMatchObject({ status: 400, errorClass: 'client', detail: `${mismatch.msg} (RequestFieldsTypesMismatched)`, message: `batch b-1: HTTP 400: ${mismatch.msg} (RequestFieldsTypesMismatched)` });
  });

  it("another 400 keeps Iterable's words and the paths it could not read, for an ordinary bisection", () => {
    const error = iterable.clientError!(answer(400, { msg: '[/api/users/bulkUpdate] Invalid JSON body', code: 'BadJsonBody', params: { 'obj.users[1].dataFields': 'Object value expected' } }), 'batch b-1');
    expect(error).not.toBeInstanceOf(DataRefusedError);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error!.message).toBe('batch b-1: HTTP 400: [/api/users/bulkUpdate] Invalid JSON body: obj.users[1].dataFields: Object value expected (BadJsonBody)');
    expect(iterable.clientError!(answer(400, undefined), 'b')).toBeUndefined();
  });

  it('429 RateLimitExceeded waits as long as Retry-After says, else the engine\'s wait', () => {
    const limited = { msg: 'Exceeded rate limit.', code: 'RateLimitExceeded' };
    const withHeader = iterable.rateLimited!(answer(429, limited, { 'retry-after': '2' }), 'batch b-1');
    expect(withHeader).toBeInstanceOf(RateLimitedError);
    expect(withHeader).toMatchObject({ retryAfterMs: 2000, scope: 'requests', message: 'batch b-1: HTTP 429: Exceeded rate limit. (RateLimitExceeded)' });
    expect(iterable.rateLimited!(answer(429, limited), 'b')).toMatchObject({ retryAfterMs: undefined });
    expect(iterable.rateLimited!(answer(429, limited, { 'retry-after': 'soon' }), 'b')).toMatchObject({ retryAfterMs: undefined });
  });
});

describe('iterable through the client (nock)', () => {
  const client = new DestinationClient(target);
  const PATH = '/api/users/bulkUpdate';

  it('POSTs the users with the key in Api-Key, no Authorization and no Idempotency-Key', async () => {
    let sent: unknown;
    const scope = nock(BASE, { reqheaders: { 'api-key': KEY, 'content-type': /application\/json/ }, badheaders: ['authorization', 'idempotency-key'] })
      .post(PATH, (body) => ((sent = body), true))
      .reply(200, result(3, 0));
    await expect(client.send('b-1', items)).resolves.toEqual([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
    expect((sent as { users: unknown[] }).users).toHaveLength(3);
    expect(scope.isDone()).toBe(true);
  });

  it('401 BadApiKey stops the run naming SYNC_DOWNSTREAM_TOKEN, never the key', async () => {
    nock(BASE).post(PATH).reply(401, { msg: 'Invalid API key', code: 'BadApiKey', params: { ip: '192.0.2.1', endpoint: PATH } });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe('batch b-1: HTTP 401: Invalid API key: Iterable refused the token; check SYNC_DOWNSTREAM_TOKEN');
  });

  it('a key echoed back in an error never reaches a message', async () => {
    nock(BASE).post(PATH).reply(400, { msg: `Bad key ${KEY}`, code: 'BadParams' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe('batch b-1: HTTP 400: Bad key *** (BadParams)');
  });

  it('the type mismatch 400 reaches the engine as a DataRefusedError', async () => {
    nock(BASE).post(PATH).reply(400, { msg: "Field 'plan' already exists", code: 'RequestFieldsTypesMismatched', params: {} });
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(DataRefusedError);
  });

  it('404 (an HTML "Action not found") stops the run naming --downstream-url and both data centres', async () => {
    nock(BASE).post(PATH).reply(404, '<html><body><h1>Action not found</h1></body></html>', { 'content-type': 'text/html' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toBe(
      `batch b-1: HTTP 404: Action not found: no Iterable API at ${BASE}; check --downstream-url (US projects: https://api.iterable.com, EU: https://api.eu.iterable.com)`,
    );
  });

  it('429 is a rate limit; 5xx (GenericError) is transient; an empty or HTML 200 is unexpected', async () => {
    nock(BASE).post(PATH).reply(429, { msg: 'Exceeded rate limit.', code: 'RateLimitExceeded' }, { 'Retry-After': '1' });
    await expect(client.send('b-1', items)).rejects.toMatchObject({ status: 429, retryAfterMs: 1000 });
    nock(BASE).post(PATH).reply(503, { code: 'GenericError', msg: 'Service temporarily unavailable' });
    const failed = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(failed).toMatchObject({ status: 503, message: 'batch b-1: HTTP 503' });
    expect(isTransient(failed as HttpStatusError)).toBe(true);
    nock(BASE).post(PATH).reply(200, '');
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
    nock(BASE).post(PATH).reply(200, '<html>ok</html>', { 'content-type': 'text/html' });
    await expect(client.send('b-1', items)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

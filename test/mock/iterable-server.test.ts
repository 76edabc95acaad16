import type { Server } from 'node:http';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { close, listen } from '../../src/http/server.js';
import { BULK_UPDATE_PATH, createIterableMock, GET_FIELDS_PATH, GET_USER_PATH, MAX_BODY_BYTES, MAX_PROJECTS, type IterableMockOptions } from '../../src/mock/iterable-server.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- answers are read as the JSON they are */

const KEY = '0123456789abcdef0123456789abcdef';
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => close(server)));
});

type Mock = ReturnType<typeof createIterableMock>;

async function start(options: Partial<IterableMockOptions> = {}): Promise<{ mock: Mock; url: string; clock: VirtualClock }> {
  const clock = new VirtualClock();
  const mock = createIterableMock({ random: () => 0.99, clock, ...options });
  servers.push(mock);
  return { mock, url: await listen(mock, 0), clock };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

async function call(url: string, path: string, { method = 'POST', key = KEY as string | null, body }: { method?: string; key?: string | null; body?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers['Api-Key'] = key;
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

const bulk = (url: string, users: unknown[], key: string | null = KEY, extra: Record<string, unknown> = {}) => call(url, BULK_UPDATE_PATH, { key, body: { users, ...extra } });
const user = (email: string, dataFields: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ email, dataFields, ...extra });
const hook = async (url: string, path: string): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${url}/__mock/${path}`);
  return { status: res.status, body: await res.json() };
};
const EMPTY_LISTS = {
  invalidEmails: [],
  invalidUserIds: [],
  notFoundEmails: [],
  notFoundUserIds: [],
  invalidDataEmails: [],
  invalidDataUserIds: [],
  conflictEmails: [],
  conflictUserIds: [],
  forgottenEmails: [],
  forgottenUserIds: [],
};

describe('authentication: the Api-Key header, one project per key', () => {
  it.each([
    ['no Api-Key header', null],
    ['an empty key', ''],
    ['a key it does not know', 'ffffffffffffffffffffffffffffffff'],
  ])('%s → 401 BadApiKey as Iterable words it, nothing stored', async (_name, key) => {
    const { mock, url } = await start({ keys: [KEY] });
    const answer = await bulk(url, [user('ann@example.com')], key);
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ msg: 'Invalid API key', code: 'BadApiKey', params: { ip: '127.0.0.1', endpoint: BULK_UPDATE_PATH } });
    expect(mock.stats()).toMatchObject({ unauthorized: 1, usersAccepted: 0, users: 0 });
  });

  it('without --key any key is a project of its own: users and field types are never shared', async () => {
    const { mock, url } = await start();
    expect((await bulk(url, [user('ann@example.com', { plan: 'pro' })], 'project-a')).status).toBe(200);
    expect((await bulk(url, [user('ann@example.com', { plan: 3 })], 'project-b')).status).toBe(200);
    expect(mock.user('ann@example.com', 'project-a')?.dataFields).toEqual({ plan: 'pro' });
    expect(mock.user('ann@example.com', 'project-b')?.dataFields).toEqual({ plan: 3 });
    expect([mock.fields('project-a')?.plan, mock.fields('project-b')?.plan]).toEqual(['string', 'long']);
    // Two projects: the hooks ask which one.
    expect(await hook(url, 'users?email=ann@example.com')).toEqual({ status: 404, body: { error: 'give ?key= (one project per API key)' } });
  });

  it('keys open a bounded number of projects (1,000 by default): a caller trying keys cannot grow the mock without end', async () => {
    expect(MAX_PROJECTS).toBe(1000);
    const { mock, url } = await start({ maxProjects: 3 });
    for (const key of ['key-0', 'key-1', 'key-2']) expect((await bulk(url, [user('ann@example.com')], key)).status).toBe(200);
    const refused = await bulk(url, [user('ann@example.com')], 'key-3');
    expect([refused.status, refused.body.code]).toEqual([401, 'BadApiKey']);
    expect((await bulk(url, [user('bob@example.com')], 'key-2')).status).toBe(200);
    expect(mock.stats()).toMatchObject({ unauthorized: 1, users: 4 });
  });
});

describe('bulkUpdate: users created or merged, refusals by email in failedUpdates', () => {
  it('creates a user that does not exist, then merges: fields not sent are kept; an unchanged user is a no-op', async () => {
    const { url } = await start();
    const first = await bulk(url, [user('Ann@Example.com', { firstName: 'Ann', plan: 'pro', prefs: { sms: true } })]);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      successCount: 1,
      failCount: 0,
      invalidEmails: [],
      invalidUserIds: [],
      filteredOutFields: [],
      createdFields: ['firstName', 'plan', 'prefs', 'prefs.sms'],
      noOpEmails: [],
      noOpUserIds: [],
      failedUpdates: EMPTY_LISTS,
    });
    await bulk(url, [user('ann@example.com', { lastName: 'Lee', prefs: { email: false } })]);
    expect((await hook(url, 'users?email=ANN@example.com')).body.dataFields).toEqual({ firstName: 'Ann', plan: 'pro', prefs: { email: false }, lastName: 'Lee' });
    // mergeNestedObjects: top-level objects merged instead of replaced.
    await bulk(url, [user('ann@example.com', { prefs: { sms: true } }, { mergeNestedObjects: true })]);
    expect((await hook(url, 'users?email=ann@example.com')).body.dataFields.prefs).toEqual({ email: false, sms: true });
    expect((await bulk(url, [user('ann@example.com', { plan: 'pro' })])).body).toMatchObject({ successCount: 1, noOpEmails: ['ann@example.com'] });
  });

  it('refuses users one by one inside a 200: malformed (named at the top too), forgotten (@suppressed.example), a userId owned by someone else, an unknown userId alone', async () => {
    const { mock, url } = await start();
    await bulk(url, [user('owner@example.com', {}, { userId: 'u-1' })]);
    const answer = await bulk(url, [
      user('ann@example.com', { plan: 'pro' }),
      user('not-an-email', {}),
      user('gone@suppressed.example', {}),
      user('thief@example.com', {}, { userId: 'u-1' }),
      { userId: 'u-404', dataFields: {} },
      { userId: 'u-new', dataFields: { plan: 'free' }, preferUserId: true },
      { userId: 'u-1', dataFields: { plan: 'team' } },
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      successCount: 3,
      failCount: 4,
      invalidEmails: ['not-an-email'],
      failedUpdates: { ...EMPTY_LISTS, invalidEmails: ['not-an-email'], forgottenEmails: ['gone@suppressed.example'], conflictEmails: ['thief@example.com'], notFoundUserIds: ['u-404'] },
    });
    expect(mock.user('owner@example.com')?.dataFields).toEqual({ plan: 'team' });
    expect(mock.user('gone@suppressed.example')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ usersAccepted: 4, usersRefused: 4 });
  });

  it.each([
    ['not JSON', '{"users": [', { obj: 'Invalid JSON' }],
    ['not an object', '[]', { obj: 'Object value expected' }],
    ['no users', '{}', { 'obj.users': 'Array value expected' }],
    ['fields of the wrong type', { users: [{ email: 7, dataFields: [] }, 'x', { email: 'a@b.co', preferUserId: 'yes', mergeNestedObjects: 1 }], createNewFields: 'no' }, {
      'obj.createNewFields': 'Boolean value expected',
      'obj.users[0].email': 'String value expected',
      'obj.users[0].dataFields': 'Object value expected',
      'obj.users[1]': 'Object value expected',
      'obj.users[2].preferUserId': 'Boolean value expected',
      'obj.users[2].mergeNestedObjects': 'Boolean value expected',
    }],
  ])('a body %s → 400 BadJsonBody naming the paths, nothing applied', async (_name, body, params) => {
    const { mock, url } = await start();
    const answer = await call(url, BULK_UPDATE_PATH, { body });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ msg: '[/api/users/bulkUpdate] Invalid JSON body', code: 'BadJsonBody', params });
    expect(mock.stats()).toMatchObject({ badRequests: 1, users: 0 });
  });
});

describe("limits: 1,000 users and 4,000,000 bytes a request", () => {
  it('1,000 users pass; 1,001 are refused whole (400 BadParams) and counted over the limit', async () => {
    const { mock, url } = await start();
    const users = (n: number) => Array.from({ length: n }, (_, i) => user(`u${i}@example.com`));
    expect((await bulk(url, users(1000))).body).toMatchObject({ successCount: 1000, failCount: 0 });
    const over = await bulk(url, users(1001));
    expect(over.status).toBe(400);
    expect(over.body).toEqual({ msg: '[/api/users/bulkUpdate] Too many users in one request: 1001, at most 1000', code: 'BadParams', params: null });
    expect(mock.stats()).toMatchObject({ users: 1000, overLimit: { users: 1, bytes: 0 }, largestRequestUsers: 1001 });
  });

  it('a body over 4,000,000 bytes gets 413 (read on, so the caller receives it), counted over the limit', async () => {
    const { mock, url } = await start();
    const body = JSON.stringify({ users: [user('ann@example.com', { note: 'x'.repeat(MAX_BODY_BYTES) })] });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}${BULK_UPDATE_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', 'api-key': KEY, 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(413);
    expect(mock.stats()).toMatchObject({ users: 0, overLimit: { users: 0, bytes: 1 } });
    expect(mock.stats().largestRequestBytes).toBeGreaterThan(MAX_BODY_BYTES);
  });
});

describe('field types: fixed by the first value, a later value of another type refused', () => {
  const mismatchMessage = (field: string, fixed: string, possible: string) =>
    `Project 10216: The request does not have the same data types as the data previously submitted. Field '${field}' already exists for type 'user' and has a data type of '${fixed}' but possible types '${possible}' in the request.`;

  it('request mode (--type-mismatch request): the whole request refused with 400 RequestFieldsTypesMismatched, nothing of it applied', async () => {
    const { mock, url } = await start({ typeMismatch: 'request' });
    await bulk(url, [user('ann@example.com', { plan: 'pro', score: 7, since: '2024-01-15 09:30:00 +00:00' })]);
    expect(mock.fields()).toMatchObject({ plan: 'string', score: 'long', since: 'date' });
    const answer = await bulk(url, [user('bob@example.com', { plan: 'free' }), user('cid@example.com', { plan: 3, since: 'soon' })]);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      msg: mismatchMessage('plan', 'string', 'long'),
      code: 'RequestFieldsTypesMismatched',
      params: {
        validationErrors: {
          plan: { incomingTypes: ['long'], expectedType: 'string', _type: 'UnexpectedType', offendingValue: '3', category: 'user' },
          since: { incomingTypes: ['string', 'keyword'], expectedType: 'date', _type: 'UnexpectedType', offendingValue: 'soon', category: 'user' },
        },
      },
    });
    expect(mock.user('bob@example.com')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ typeMismatches: 1, badRequests: 1, usersAccepted: 1 });
  });

  it('what a type takes: a date text is a string, a whole number a double; not the other way round; objects are typed inside', async () => {
    const { url } = await start({ typeMismatch: 'request', fields: [{ name: 'note', type: 'string' }, { name: 'ratio', type: 'double' }, { name: 'count', type: 'long' }] });
    expect((await bulk(url, [user('a@example.com', { note: '2024-01-15', ratio: 2, prefs: { sms: true } })])).status).toBe(200);
    expect((await bulk(url, [user('b@example.com', { count: 1.5 })])).body.msg).toBe(mismatchMessage('count', 'long', 'double'));
    expect((await bulk(url, [user('c@example.com', { prefs: { sms: 'yes' } })])).body.msg).toBe(mismatchMessage('prefs.sms', 'boolean', 'string, keyword'));
    expect((await bulk(url, [user('d@example.com', { prefs: ['sms'] })])).body.msg).toBe(mismatchMessage('prefs', 'object', 'array'));
    // The first value in a request fixes a new field for the users after it.
    expect((await bulk(url, [user('e@example.com', { tier: 'gold' }), user('f@example.com', { tier: true })])).body.msg).toBe(mismatchMessage('tier', 'string', 'boolean'));
  });

  it('per-user mode (the default): only that user refused, named in failedUpdates.invalidDataEmails; its neighbours applied', async () => {
    const { mock, url } = await start({ fields: [{ name: 'plan', type: 'string' }] });
    const answer = await bulk(url, [user('ann@example.com', { plan: 'pro' }), user('bob@example.com', { plan: 3 }), user('cid@example.com', { plan: 'free' })]);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ successCount: 2, failCount: 1, failedUpdates: { ...EMPTY_LISTS, invalidDataEmails: ['bob@example.com'] } });
    expect([mock.user('ann@example.com')?.dataFields, mock.user('bob@example.com'), mock.user('cid@example.com')?.dataFields]).toEqual([{ plan: 'pro' }, undefined, { plan: 'free' }]);
    expect(mock.stats()).toMatchObject({ typeMismatches: 1, usersRefused: 1 });
  });

  it('a project that takes no new fields drops them and lists them in filteredOutFields, unless the request says createNewFields', async () => {
    const { mock, url } = await start({ newFields: 'drop', fields: [{ name: 'firstName', type: 'string' }] });
    expect((await bulk(url, [user('ann@example.com', { firstName: 'Ann', plan: 'pro' })])).body).toMatchObject({ successCount: 1, filteredOutFields: ['plan'], createdFields: [] });
    expect(mock.user('ann@example.com')?.dataFields).toEqual({ firstName: 'Ann' });
    expect((await bulk(url, [user('ann@example.com', { plan: 'pro' })], KEY, { createNewFields: true })).body).toMatchObject({ filteredOutFields: [], createdFields: ['plan'] });
    expect(mock.fields()?.plan).toBe('string');
  });

  it('GET /api/users/getFields lists the types as Iterable does; getByEmail the user, or {}', async () => {
    const { url } = await start({ fields: [{ name: 'plan', type: 'string' }] });
    await bulk(url, [user('ann@example.com', { score: 1.5 })]);
    expect((await call(url, GET_FIELDS_PATH, { method: 'GET' })).body).toEqual({ fields: { email: 'string', plan: 'string', profileUpdatedAt: 'date', score: 'double', signupDate: 'date', userId: 'string' } });
    expect((await call(url, `${GET_USER_PATH}?email=ann@example.com`, { method: 'GET' })).body.user).toMatchObject({ email: 'ann@example.com', dataFields: { score: 1.5 } });
    expect((await call(url, `${GET_USER_PATH}?email=nobody@example.com`, { method: 'GET' })).body).toEqual({});
    expect((await call(url, GET_FIELDS_PATH, { method: 'GET', key: null })).status).toBe(401);
  });
});

describe('rate limit: 5 bulk updates per API key in any 1000 ms', () => {
  it('the 6th within 1000 ms gets 429 RateLimitExceeded (no Retry-After unless asked), counted on arrival; another key and getFields are not held', async () => {
    const { mock, url, clock } = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await bulk(url, [])).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await bulk(url, []);
    expect(limited.body).toEqual({ msg: 'Exceeded rate limit.', code: 'RateLimitExceeded', params: null });
    expect(limited.headers.get('retry-after')).toBeNull();
    expect((await bulk(url, [], 'another-project')).status).toBe(200);
    expect((await call(url, GET_FIELDS_PATH, { method: 'GET' })).status).toBe(200);
    clock.advance(999);
    expect((await bulk(url, [])).status).toBe(429);
    clock.advance(2);
    expect((await bulk(url, [])).status).toBe(200);
    expect(mock.stats()).toMatchObject({ rateLimited: 3, maxRequestsPerSecondPerKey: 8, requests: 11, maxRequestsPerSecond: 10 });
  });

  it('--rate and --retry-after change the limit and add the header', async () => {
    const { url } = await start({ rate: 1, retryAfter: 2 });
    expect((await bulk(url, [])).status).toBe(200);
    const limited = await bulk(url, []);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '2']);
  });
});

describe('everything else', () => {
  it('an unknown path or method is Play\'s HTML 404 "Action not found", before the key is checked', async () => {
    const { url } = await start();
    for (const [method, path] of [['GET', BULK_UPDATE_PATH], ['POST', '/api/users/update'], ['GET', '/']] as const) {
      const answer = await call(url, path, { method, key: null });
      expect(answer.status).toBe(404);
      expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
      expect(answer.text).toContain(`For request '${method} ${path}'`);
    }
  });

  it('--fail-rate answers 500/503 GenericError, 502/504 HTML, or resets; some 500s after the update', async () => {
    // Each failure draws twice (whether, then which) and a 500 of a bulk update once more (processed or not).
    const draws = [0, 0.3, 0.1, 0, 0.8, 0, 0.6, 0, 0.9, 0, 0.3, 0.9, 0, 0.05];
    const { mock, url } = await start({ failRate: 0.5, rate: 100, random: () => draws.shift() ?? 0.99 });
    const processed = await bulk(url, [user('ann@example.com')]);
    expect([processed.status, processed.body]).toEqual([500, { msg: 'Internal Server Error', code: 'GenericError', params: null }]);
    expect(mock.user('ann@example.com')).toBeDefined();
    expect((await bulk(url, [user('bob@example.com')])).body).toEqual({ msg: 'Service temporarily unavailable', code: 'GenericError', params: null });
    const gateway = await bulk(url, [user('bob@example.com')]);
    expect([gateway.status, gateway.headers.get('content-type')]).toEqual([502, 'text/html; charset=utf-8']);
    expect((await bulk(url, [user('bob@example.com')])).status).toBe(504);
    const lost = await bulk(url, [user('bob@example.com')]);
    expect(lost.status).toBe(500);
    expect(mock.user('bob@example.com')).toBeUndefined();
    await expect(bulk(url, [user('bob@example.com')])).rejects.toThrow(/fetch failed/);
    expect(mock.stats()).toMatchObject({ failures: 6 });
  });
});

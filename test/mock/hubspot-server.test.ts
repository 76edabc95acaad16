import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/engine/clock.js';
import { close, listen } from '../../src/http/server.js';
import { createHubspotMock, PROPERTIES_PATH, UPSERT_PATH, type HubspotMockOptions } from '../../src/mock/hubspot-server.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- answers are read as the JSON they are */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const AUTH_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => close(server)));
});

type Mock = ReturnType<typeof createHubspotMock>;

async function start(options: Partial<HubspotMockOptions> = {}): Promise<{ mock: Mock; url: string }> {
  const mock = createHubspotMock({ random: () => 0.99, ...options });
  servers.push(mock);
  return { mock, url: await listen(mock, 0) };
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

interface CallOptions {
  method?: string;
  /** Sent as `Bearer <token>`; null sends no Authorization header. */
  token?: string | null;
  authorization?: string;
  body?: unknown;
}

async function call(url: string, path: string, { method = 'POST', token = 'test-token', authorization, body }: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  else if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

const upsert = (url: string, body: unknown, options: CallOptions = {}): Promise<Answer> => call(url, UPSERT_PATH, { ...options, body });
const properties = (url: string, options: CallOptions = {}): Promise<Answer> => call(url, PROPERTIES_PATH, { method: 'GET', ...options });
const input = (email: string, props: Record<string, unknown> = {}, traceId?: string) => ({
  idProperty: 'email',
  id: email,
  properties: props,
  ...(traceId !== undefined ? { objectWriteTraceId: traceId } : {}),
});
const hook = async (url: string, path: string): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${url}/__mock/${path}`);
  return { status: res.status, body: await res.json() };
};

const RATE_HEADERS = [
  'x-hubspot-ratelimit-interval-milliseconds',
  'x-hubspot-ratelimit-max',
  'x-hubspot-ratelimit-remaining',
  'x-hubspot-ratelimit-daily',
  'x-hubspot-ratelimit-daily-remaining',
];
const rateHeaders = (answer: Answer): Record<string, string | null> => Object.fromEntries(RATE_HEADERS.map((name) => [name, answer.headers.get(name)]));
/** The per-property results HubSpot embeds in "Property values were not valid: […]". */
const embedded = (message: string): any[] => JSON.parse(message.replace(/^Property values were not valid: /, ''));

describe('authentication and scopes', () => {
  it.each([
    ['no Authorization header', { token: null }],
    ['an empty Bearer token', { authorization: 'Bearer ' }],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
  ])('%s → 401 INVALID_AUTHENTICATION as HubSpot words it, no rate-limit headers, nothing upserted', async (_, options) => {
    const { mock, url } = await start();
    const answer = await upsert(url, { inputs: [input('ann@example.com')] }, options);
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ status: 'error', message: AUTH_MESSAGE, category: 'INVALID_AUTHENTICATION', correlationId: expect.stringMatching(UUID) });
    expect(answer.headers.get('x-hubspot-correlation-id')).toBe(answer.body.correlationId);
    expect(answer.headers.get('content-type')).toBe('application/json;charset=utf-8');
    expect(answer.headers.get('x-hubspot-ratelimit-max')).toBeNull();
    expect(mock.contact('ann@example.com')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ requests: 1, unauthorized: 1, accepted: 0 });
  });

  it('with a token configured, only that token is accepted', async () => {
    const { url } = await start({ token: 'pat-na1-right' });
    expect((await upsert(url, { inputs: [] }, { token: 'pat-na1-wrong' })).status).toBe(401);
    expect((await properties(url, { token: 'pat-na1-wrong' })).status).toBe(401);
    expect((await upsert(url, { inputs: [] }, { token: 'pat-na1-right' })).status).toBe(200);
  });

  it('a read-only token can read the properties but its upsert is 403 MISSING_SCOPES, with the rate-limit headers', async () => {
    const { mock, url } = await start({ token: 'pat-write', readOnlyTokens: ['pat-read'] });
    const refused = await upsert(url, { inputs: [input('ann@example.com')] }, { token: 'pat-read' });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      status: 'error',
      message: "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
      correlationId: expect.stringMatching(UUID),
      errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: ['crm.objects.contacts.write'] } }],
      links: { scopes: 'https://developers.hubspot.com/scopes' },
      category: 'MISSING_SCOPES',
      context: { missingScopes: ['crm.objects.contacts.write'] },
    });
    expect(refused.headers.get('x-hubspot-ratelimit-remaining')).toBe('99');
    expect((await properties(url, { token: 'pat-read' })).status).toBe(200);
    expect(mock.contact('ann@example.com')).toBeUndefined();
    expect(mock.stats().forbidden).toBe(1);
  });

  it('the properties read needs crm.schemas.contacts.read', async () => {
    const { url } = await start({ tokenScopes: { 'pat-none': [] } });
    const answer = await properties(url, { token: 'pat-none' });
    expect(answer.status).toBe(403);
    expect(answer.body.context).toEqual({ missingScopes: ['crm.schemas.contacts.read'] });
  });
});

describe('the request as a whole (400, nothing upserted)', () => {
  it('a body that is not JSON: "Invalid input JSON" with the line and column when known', async () => {
    const { mock, url } = await start();
    const positioned = await upsert(url, '{\n  "inputs": []\n  "x": 1}');
    expect(positioned.status).toBe(400);
    expect(positioned.body).toEqual({
      status: 'error',
      message: "Invalid input JSON on line 3, column 3: Expected ',' or '}' after property value",
      category: 'VALIDATION_ERROR',
      correlationId: expect.stringMatching(UUID),
    });
    expect((await upsert(url, '{"inputs": [')).body.message).toBe('Invalid input JSON on line 1, column 13: Unexpected end of JSON input');
    // The body itself is not echoed back.
    expect((await upsert(url, '{"inputs": [x]}')).body.message).toBe("Invalid input JSON: Unexpected token 'x'");
    expect(mock.stats().badRequests).toBe(3);
  });

  it.each([
    [{}, /^Invalid input JSON: inputs: /],
    [{ inputs: {} }, /^Invalid input JSON: inputs: /],
    [{ inputs: [{ idProperty: 'email', properties: {} }] }, /^Invalid input JSON: inputs\[0\]\.id: /],
    [{ inputs: [{ idProperty: 'email', id: 'a@example.com', properties: [] }] }, /^Invalid input JSON: inputs\[0\]\.properties: expected an object/],
    [{ inputs: [input('a@example.com', { firstname: null })] }, /^Invalid input JSON: inputs\[0\]\.properties\.firstname: expected a string, got null$/],
    [{ inputs: [input('a@example.com', { firstname: ['A'] })] }, /got an array$/],
  ])('a shape HubSpot cannot read: %j', async (body, message) => {
    const { url } = await start();
    const answer = await upsert(url, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR', message: expect.stringMatching(message) });
  });

  it('more than 100 inputs: HubSpot\'s limit message; 100 are fine', async () => {
    const { mock, url } = await start();
    const inputs = Array.from({ length: 101 }, (_, i) => input(`p${i}@example.com`));
    const refused = await upsert(url, { inputs });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      status: 'error',
      message: 'The maximum number of inputs supported in a batch is 100. Please reduce the number of items and try again',
      category: 'VALIDATION_ERROR',
      correlationId: expect.stringMatching(UUID),
    });
    expect(mock.stats().contacts).toBe(0);
    const accepted = await upsert(url, { inputs: inputs.slice(0, 100) });
    expect(accepted.status).toBe(200);
    expect(accepted.body.results).toHaveLength(100);
  });

  it('duplicate ids (the same address in any case): listed, with context.ids', async () => {
    const { mock, url } = await start();
    const answer = await upsert(url, { inputs: [input('ann@example.com'), input('bob@example.com'), input('ANN@example.com')] });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      status: 'error',
      message: 'Duplicate IDs found in batch input: [ANN@example.com]. IDs must be unique',
      category: 'VALIDATION_ERROR',
      context: { ids: ['ANN@example.com'] },
      correlationId: expect.stringMatching(UUID),
    });
    expect(mock.stats().contacts).toBe(0);
  });

  it('an idProperty other than email (or none) is refused: the mock keys contacts by email only', async () => {
    const { url } = await start();
    const answer = await upsert(url, { inputs: [{ id: 'ann@example.com', properties: {} }] });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/^idProperty is missing: this mock upserts contacts by email only/);
  });
});

describe('per-input validation', () => {
  const catalogue = { properties: [{ name: 'plan', type: 'enumeration' as const, options: ['free', 'pro'] }, { name: 'tags', type: 'checkbox' as const, options: ['a', 'b', 'c'] }] };

  it.each([
    ['an unknown property', input('ann@example.com', { favourite: 'x' }), 'PROPERTY_DOESNT_EXIST', 'favourite', 'Property "favourite" does not exist'],
    ['an invalid address', input('ann@example', {}), 'INVALID_EMAIL', 'email', 'Email address ann@example is invalid'],
    ['a blocked address', input('ann@suppressed.example', {}), 'BLOCKED_EMAIL', 'email', 'Email address ann@suppressed.example is blocked'],
    ['a value not among the options', input('ann@example.com', { plan: 'gold' }), 'INVALID_OPTION', 'plan', 'gold was not one of the allowed options: [free, pro]'],
    ['a checkbox part not among the options', input('ann@example.com', { tags: 'a;z' }), 'INVALID_OPTION', 'tags', 'z was not one of the allowed options: [a, b, c]'],
    ['a read-only property', input('ann@example.com', { hs_object_id: '7' }), 'READ_ONLY_VALUE', 'hs_object_id', '"hs_object_id" is a read only property; its value cannot be set.'],
    ['an email property that is not the id', input('ann@example.com', { email: 'bob@example.com' }), 'EMAIL_ID_MISMATCH', 'email', 'Property "email" (bob@example.com) must be the id (ann@example.com) when idProperty is email'],
  ])('%s, without trace ids: 400 for the whole batch, HubSpot\'s error body, nothing upserted', async (_, bad, code, name, message) => {
    const { mock, url } = await start({ ...catalogue, portalId: 4242 });
    const answer = await upsert(url, { inputs: [input('good@example.com', { firstname: 'G' }), bad] });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      status: 'error',
      message: expect.stringMatching(/^Property values were not valid: \[/),
      category: 'VALIDATION_ERROR',
      errors: [{ message, code, context: { propertyName: [name] } }],
      correlationId: expect.stringMatching(UUID),
    });
    expect(embedded(answer.body.message)).toEqual([{ isValid: false, message, error: code, name, localizedErrorMessage: message, portalId: 4242 }]);
    expect(mock.contact('good@example.com')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ accepted: 0, rejected: 1, badRequests: 1, contacts: 0 });
  });

  it('when every input carries an objectWriteTraceId: 207, the good inputs upserted, one error per bad input', async () => {
    const clock = new VirtualClock();
    const { mock, url } = await start({ ...catalogue, clock, portalId: 4242 });
    const answer = await upsert(url, {
      inputs: [input('good@example.com', { firstname: 'G', tags: 'a;c' }, 'row-1'), input('bad@suppressed.example', { plan: 'gold' }, 'row-2'), input('odd@example.com', { favourite: 'x' }, 'row-3')],
    });
    expect(answer.status).toBe(207);
    const at = new Date(clock.now()).toISOString();
    expect(answer.body).toEqual({
      status: 'COMPLETE',
      results: [
        {
          id: expect.any(String),
          new: true,
          properties: { firstname: 'G', tags: 'a;c', email: 'good@example.com', createdate: at, lastmodifieddate: at, hs_object_id: expect.any(String) },
          createdAt: at,
          updatedAt: at,
          archived: false,
          objectWriteTraceId: 'row-1',
        },
      ],
      numErrors: 2,
      errors: [
        {
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: expect.stringMatching(/^Property values were not valid: /),
          context: { objectWriteTraceId: ['row-2'] },
          errors: [
            { message: 'Email address bad@suppressed.example is blocked', code: 'BLOCKED_EMAIL', context: { propertyName: ['email'] } },
            { message: 'gold was not one of the allowed options: [free, pro]', code: 'INVALID_OPTION', context: { propertyName: ['plan'] } },
          ],
        },
        {
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: expect.stringMatching(/^Property values were not valid: /),
          context: { objectWriteTraceId: ['row-3'] },
          errors: [{ message: 'Property "favourite" does not exist', code: 'PROPERTY_DOESNT_EXIST', context: { propertyName: ['favourite'] } }],
        },
      ],
      startedAt: at,
      completedAt: at,
    });
    expect(embedded(answer.body.errors[0].message).map((result) => result.error)).toEqual(['BLOCKED_EMAIL', 'INVALID_OPTION']);
    expect(answer.body.results[0].properties.hs_object_id).toBe(answer.body.results[0].id);
    expect(mock.contact('good@example.com')?.properties).toMatchObject({ firstname: 'G', tags: 'a;c' });
    expect(mock.contact('bad@suppressed.example')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ accepted: 1, rejected: 2, badRequests: 0 });
  });

  it('a 207 even when every input fails', async () => {
    const { url } = await start();
    const answer = await upsert(url, { inputs: [input('x@suppressed.example', {}, 't1')] });
    expect(answer.status).toBe(207);
    expect(answer.body).toMatchObject({ status: 'COMPLETE', results: [], numErrors: 1 });
  });

  it('one input without a trace id turns a bad input back into a 400 for the whole batch', async () => {
    const { mock, url } = await start();
    const answer = await upsert(url, { inputs: [input('good@example.com', {}, 'row-1'), input('bad@suppressed.example', {})] });
    expect(answer.status).toBe(400);
    expect(mock.stats().contacts).toBe(0);
  });

  it('all good with trace ids: 200, each result echoing its trace id', async () => {
    const { url } = await start();
    const answer = await upsert(url, { inputs: [input('a@example.com', {}, 'r1'), input('b@example.com', {}, 'r2')] });
    expect(answer.status).toBe(200);
    expect(answer.body.results.map((result: any) => result.objectWriteTraceId)).toEqual(['r1', 'r2']);
    expect(answer.body).not.toHaveProperty('errors');
    expect(answer.body).not.toHaveProperty('numErrors');
  });

  it('a JSON number or boolean value is taken as its text', async () => {
    const { mock, url } = await start({ properties: [{ name: 'age', type: 'number' }, { name: 'vip', type: 'bool' }] });
    const answer = await upsert(url, { inputs: [input('ann@example.com', { age: 17, vip: true })] });
    expect(answer.status).toBe(200);
    expect(answer.body.results[0].properties).toMatchObject({ age: '17', vip: 'true' });
    expect(mock.contact('ann@example.com')?.properties).toMatchObject({ age: '17', vip: 'true' });
  });
});

describe('upserting', () => {
  it('creates (new: true), then updates the same contact matched case-insensitively (new: false), stored lower-cased', async () => {
    const clock = new VirtualClock();
    const { mock, url } = await start({ clock });
    const created = await upsert(url, { inputs: [input('Ann@Example.COM', { firstname: 'Ann', lastname: 'Lee', lifecyclestage: 'lead' })] });
    expect(created.status).toBe(200);
    const first = created.body.results[0];
    expect(created.body).toEqual({ status: 'COMPLETE', results: [expect.objectContaining({ new: true, archived: false })], startedAt: expect.stringMatching(ISO), completedAt: expect.stringMatching(ISO) });
    expect(first.properties.email).toBe('ann@example.com');
    expect(first).not.toHaveProperty('objectWriteTraceId');

    clock.advance(5000);
    const updated = await upsert(url, { inputs: [input('ANN@example.com', { firstname: 'Anne', lastname: '' })] });
    const second = updated.body.results[0];
    expect(second).toMatchObject({ id: first.id, new: false, createdAt: first.createdAt });
    expect(Date.parse(second.updatedAt) - Date.parse(first.updatedAt)).toBe(5000);
    // The answer shows what was written (an empty string clears); the store keeps the rest.
    expect(second.properties).toEqual({ firstname: 'Anne', lastname: '', email: 'ann@example.com', createdate: first.createdAt, lastmodifieddate: second.updatedAt, hs_object_id: first.id });
    expect(mock.contact('ann@EXAMPLE.com')).toEqual({
      id: first.id,
      createdAt: first.createdAt,
      updatedAt: second.updatedAt,
      properties: { email: 'ann@example.com', createdate: first.createdAt, hs_object_id: first.id, firstname: 'Anne', lifecyclestage: 'lead', lastmodifieddate: second.updatedAt },
    });
    expect(mock.stats()).toMatchObject({ accepted: 2, contacts: 1, upsertedMoreThanOnce: { 'ann@example.com': 2 } });
  });

  it('an empty batch is a 200 with no results', async () => {
    const { url } = await start();
    const answer = await upsert(url, { inputs: [] });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'COMPLETE', results: [] });
  });
});

describe('GET /crm/v3/properties/contacts', () => {
  it('lists the HubSpot defaults then the custom properties, in HubSpot\'s Property shape, with the rate-limit headers', async () => {
    const { url } = await start({ properties: [{ name: 'plan', type: 'checkbox', options: ['free', 'pro'] }, { name: 'legacy_id', readOnly: true }] });
    const answer = await properties(url);
    expect(answer.status).toBe(200);
    const byName = new Map<string, any>(answer.body.results.map((property: any) => [property.name, property]));
    expect([...byName.keys()]).toEqual(expect.arrayContaining(['email', 'firstname', 'lastname', 'phone', 'company', 'website', 'lifecyclestage', 'hs_language', 'createdate', 'lastmodifieddate', 'hs_object_id']));
    expect(answer.body.results.slice(-2).map((property: any) => property.name)).toEqual(['plan', 'legacy_id']);
    expect(byName.get('plan')).toMatchObject({
      type: 'enumeration',
      fieldType: 'checkbox',
      groupName: 'contactinformation',
      description: '',
      options: [
        { label: 'free', value: 'free', displayOrder: 0, hidden: false },
        { label: 'pro', value: 'pro', displayOrder: 1, hidden: false },
      ],
      modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
    });
    expect(byName.get('legacy_id').modificationMetadata.readOnlyValue).toBe(true);
    expect(byName.get('createdate').modificationMetadata.readOnlyValue).toBe(true);
    expect(rateHeaders(answer)).toEqual({
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'x-hubspot-ratelimit-max': '100',
      'x-hubspot-ratelimit-remaining': '99',
      'x-hubspot-ratelimit-daily': '250000',
      'x-hubspot-ratelimit-daily-remaining': '249999',
    });
  });

  it('?archived=true lists none (the mock archives nothing)', async () => {
    const { url } = await start();
    expect((await call(url, `${PROPERTIES_PATH}?archived=true`, { method: 'GET' })).body).toEqual({ results: [] });
  });

  it('a custom property that clashes with a default is refused at start', () => {
    expect(() => createHubspotMock({ random: Math.random, properties: [{ name: 'lifecyclestage' }] })).toThrow('--property "lifecyclestage" is already defined');
  });
});

describe('rate limits', () => {
  it('a rolling window counted on arrival: 429 TEN_SECONDLY_ROLLING past it, no Retry-After, refusals not counted', async () => {
    const clock = new VirtualClock(Date.parse('2026-01-20T10:00:00.000Z'));
    const { mock, url } = await start({ clock, rate: { limit: 3, windowMs: 1000 } });
    const at = async (t: number, request: () => Promise<Answer> = () => upsert(url, { inputs: [] })): Promise<Answer> => {
      clock.advance(t - (clock.now() - Date.parse('2026-01-20T10:00:00.000Z')));
      return request();
    };
    const remaining = (answer: Answer): string | null => answer.headers.get('x-hubspot-ratelimit-remaining');

    const a = await at(0);
    // The properties read counts against the same window.
    const b = await at(400, () => properties(url));
    const c = await at(800);
    expect([a, b, c].map((answer) => [answer.status, remaining(answer)])).toEqual([
      [200, '2'],
      [200, '1'],
      [200, '0'],
    ]);
    expect(rateHeaders(a)).toMatchObject({ 'x-hubspot-ratelimit-interval-milliseconds': '1000', 'x-hubspot-ratelimit-max': '3' });

    const refused = await at(999);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      status: 'error',
      message: 'You have reached your ten_secondly_rolling limit.',
      errorType: 'RATE_LIMIT',
      correlationId: expect.stringMatching(UUID),
      policyName: 'TEN_SECONDLY_ROLLING',
      requestId: expect.stringMatching(UUID),
    });
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(remaining(refused)).toBe('0');
    expect(refused.headers.get('x-hubspot-ratelimit-daily-remaining')).toBe('249997');

    // The arrival at 0 has left (0, 1000]; had the refusal at 999 counted, this would be refused too.
    expect((await at(1000)).status).toBe(200);
    expect((await at(1399)).status).toBe(429);
    expect((await at(1400)).status).toBe(200);
    expect(mock.stats()).toMatchObject({ requests: 7, rateLimited: 2 });
  });

  it('a daily limit: 429 DAILY past it, until midnight UTC', async () => {
    const clock = new VirtualClock(Date.parse('2026-01-20T23:59:00.000Z'));
    const { url } = await start({ clock, daily: 2 });
    const first = await upsert(url, { inputs: [] });
    const second = await properties(url);
    expect([first, second].map((answer) => answer.headers.get('x-hubspot-ratelimit-daily-remaining'))).toEqual(['1', '0']);
    expect(first.headers.get('x-hubspot-ratelimit-daily')).toBe('2');
    const refused = await upsert(url, { inputs: [] });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ status: 'error', message: 'You have reached your daily limit.', errorType: 'RATE_LIMIT', policyName: 'DAILY' });
    clock.advance(60_000);
    const tomorrow = await upsert(url, { inputs: [] });
    expect(tomorrow.status).toBe(200);
    expect(tomorrow.headers.get('x-hubspot-ratelimit-daily-remaining')).toBe('1');
  });
});

describe('failure injection', () => {
  /** Draws in order: whether to fail, which failure, whether a 500 processed the batch first. */
  const draws = (...values: number[]) => {
    let i = 0;
    return () => values[i++] ?? 0.99;
  };

  it.each([
    [0.3, 500, 'internal error'],
    [0.6, 502, 'Bad Gateway'],
    [0.8, 503, 'Service Unavailable'],
    [0.9, 504, 'Gateway Timeout'],
  ])('draw %s → %s with HubSpot\'s error body and the rate-limit headers, nothing upserted', async (draw, status, message) => {
    const { mock, url } = await start({ failRate: 0.5, random: draws(0.1, draw, 0.9) });
    const answer = await upsert(url, { inputs: [input('ann@example.com')] });
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ status: 'error', message, correlationId: expect.stringMatching(UUID) });
    expect(answer.headers.get('x-hubspot-ratelimit-max')).toBe('100');
    expect(mock.contact('ann@example.com')).toBeUndefined();
    expect(mock.stats().failures).toBe(1);
  });

  it('some 500s come after the batch was upserted', async () => {
    const { mock, url } = await start({ failRate: 0.5, random: draws(0.1, 0.3, 0.2) });
    const answer = await upsert(url, { inputs: [input('ann@example.com')] });
    expect(answer.status).toBe(500);
    expect(mock.contact('ann@example.com')).toBeDefined();
    expect(mock.stats()).toMatchObject({ failures: 1, accepted: 1 });
  });

  it('some requests get their connection reset', async () => {
    const { mock, url } = await start({ failRate: 0.5, random: draws(0.1, 0.05) });
    await expect(upsert(url, { inputs: [input('ann@example.com')] })).rejects.toThrow(TypeError);
    expect(mock.stats()).toMatchObject({ failures: 1, accepted: 0 });
  });

  it('a draw at or above the fail rate lets the request through', async () => {
    const { url } = await start({ failRate: 0.5, random: draws(0.5) });
    expect((await upsert(url, { inputs: [] })).status).toBe(200);
  });

  it('latency delays every answer on the injected clock', async () => {
    const clock = new VirtualClock();
    const { url } = await start({ clock, latencyMs: 150 });
    expect((await upsert(url, { inputs: [] })).status).toBe(200);
    expect((await properties(url, { token: null })).status).toBe(401);
    expect(clock.sleeps).toEqual([150, 150]);
  });
});

describe('test hooks and other paths', () => {
  it('GET /__mock/stats counts what the mock saw (not the hooks themselves), peaks counted on arrival', async () => {
    const clock = new VirtualClock(Date.parse('2026-01-20T10:00:00.000Z'));
    const { url } = await start({ clock, rate: { limit: 1000, windowMs: 10_000 } });
    let last = 0;
    for (const t of [0, 500, 999, 1999, 5000, 9999, 10_000]) {
      clock.advance(t - last);
      last = t;
      await upsert(url, { inputs: [] }, t === 5000 ? { token: null } : {});
    }
    const stats = await hook(url, 'stats');
    expect(stats).toEqual({
      status: 200,
      body: {
        requests: 7,
        rateLimited: 0,
        unauthorized: 1,
        forbidden: 0,
        badRequests: 0,
        failures: 0,
        accepted: 0,
        rejected: 0,
        maxConcurrent: 1,
        // (−1, 999] holds 3 arrivals; (−1, 9999] and (0, 10000] hold 6.
        maxRequestsPerSecond: 3,
        maxRequestsPer10s: 6,
        contacts: 0,
        upsertedMoreThanOnce: {},
      },
    });
  });

  it('maxConcurrent: the most requests being answered at once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const clock: Clock = { now: () => Date.now(), sleep: () => gate };
    const { mock, url } = await start({ clock, latencyMs: 1 });
    const pending = Promise.all([upsert(url, { inputs: [] }), properties(url), upsert(url, { inputs: [] })]);
    while (mock.stats().requests < 3) await new Promise((resolve) => setImmediate(resolve));
    release();
    expect((await pending).map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(mock.stats().maxConcurrent).toBe(3);
  });

  it('GET /__mock/contacts?email= gives the contact\'s properties, 404 when it holds none', async () => {
    const { url } = await start();
    await upsert(url, { inputs: [input('ann@example.com', { firstname: 'Ann' })] });
    expect(await hook(url, 'contacts?email=ANN%40example.com')).toEqual({ status: 200, body: expect.objectContaining({ email: 'ann@example.com', firstname: 'Ann' }) });
    expect((await hook(url, 'contacts?email=bob%40example.com')).status).toBe(404);
    expect((await hook(url, 'nothing')).status).toBe(404);
  });

  it('a body over the limit is read to its end and answered 413, HubSpot-style', async () => {
    const { mock, url } = await start({ maxBodyBytes: 1000 });
    const answer = await upsert(url, { inputs: [input('ann@example.com', { firstname: 'A'.repeat(1500) })] });
    expect(answer).toMatchObject({ status: 413, body: { status: 'error', message: 'Request body larger than 1000 bytes', category: 'VALIDATION_ERROR' } });
    expect(mock.stats()).toMatchObject({ contacts: 0, badRequests: 1 });
  });

  it('an unknown path is 404 and a wrong method 405, HubSpot-style bodies', async () => {
    const { url } = await start();
    const missing = await call(url, '/crm/v3/objects/deals/batch/upsert', { body: { inputs: [] } });
    expect(missing).toMatchObject({ status: 404, body: { status: 'error', category: 'OBJECT_NOT_FOUND', correlationId: expect.stringMatching(UUID) } });
    const wrong = await call(url, UPSERT_PATH, { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});

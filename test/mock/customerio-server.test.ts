import type { Server } from 'node:http';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { close, listen } from '../../src/http/server.js';
import { MAX_ENTRY_BYTES, MAX_REQUEST_BYTES } from '../../src/mock/customerio-batch.js';
import { BATCH_PATH, createCustomerioMock, type CustomerioMockOptions } from '../../src/mock/customerio-server.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- answers are read as the JSON they are */

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => close(server)));
});

type Mock = ReturnType<typeof createCustomerioMock>;

async function start(options: Partial<CustomerioMockOptions> = {}): Promise<{ mock: Mock; url: string }> {
  const mock = createCustomerioMock({ random: () => 0.99, ...options });
  servers.push(mock);
  return { mock, url: await listen(mock, 0) };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

const basic = (pair: string): string => `Basic ${Buffer.from(pair).toString('base64')}`;

async function call(url: string, body: unknown, { auth = basic('site1:key1'), path = BATCH_PATH, method = 'POST', type = 'application/json' }: { auth?: string | null; path?: string; method?: string; type?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': type };
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

const person = (email: string, attributes: Record<string, unknown> = {}) => ({ type: 'person', action: 'identify', identifiers: { email }, attributes });
const batch = (url: string, ...entries: unknown[]) => call(url, { batch: entries });
const hook = async (url: string, path: string): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${url}/__mock/${path}`);
  return { status: res.status, body: await res.json() };
};

describe('authentication: HTTP Basic, SITE_ID:API_KEY', () => {
  it.each([
    ['no Authorization', null],
    ['a Bearer token', 'Bearer site1:key1'],
    ['a site id without a key', basic('site1:')],
    ['a key without a site id', basic(':key1')],
    ['no colon', basic('site1key1')],
  ])('%s → 401 with no body (as the reference), nothing stored', async (_name, auth) => {
    const { mock, url } = await start();
    const answer = await call(url, { batch: [person('ann@example.com')] }, { auth });
    expect(answer.status).toBe(401);
    expect(answer.text).toBe('');
    expect(mock.stats()).toMatchObject({ unauthorized: 1, accepted: 0, people: 0 });
  });

  it('with --site-id and --api-key, only that pair is accepted', async () => {
    const { url } = await start({ siteId: 'site1', apiKey: 'key1' });
    expect((await batch(url, person('ann@example.com'))).status).toBe(200);
    expect((await call(url, { batch: [] }, { auth: basic('site1:key2') })).status).toBe(401);
    expect((await call(url, { batch: [] }, { auth: basic('site2:key1') })).status).toBe(401);
  });
});

describe('the request as a whole (400, nothing stored)', () => {
  it.each([
    ['not JSON', '{"batch": [', 'request body is not valid JSON'],
    ['not an object', '[1]', 'request body must be a JSON object'],
    ['no batch array', '{"entries": []}', 'batch must be an array of entities'],
  ])('%s: 400 in the meta envelope', async (_name, body, error) => {
    const { mock, url } = await start();
    const answer = await call(url, body);
    expect(answer).toMatchObject({ status: 400, body: { meta: { error } } });
    expect(mock.stats().badRequests).toBe(1);
  });

  it('a Content-Type other than application/json is refused', async () => {
    const { url } = await start();
    expect(await call(url, { batch: [] }, { type: 'text/plain' })).toMatchObject({ status: 400, body: { meta: { error: 'Content-Type must be application/json' } } });
  });

  it('a body of exactly 500,000 bytes is taken; one byte more is refused whole (400), read to its end first, and counted over the limit', async () => {
    const { mock, url } = await start();
    // 600 entries with notes of 700 bytes, the rest up to 500,000 spread over the last ones (no value over 1,000 bytes).
    const sizes = Array.from({ length: 600 }, () => 700);
    const bodyOf = (notes: number[]) => ({ batch: notes.map((size, i) => person(`u${i}@example.com`, { note: 'x'.repeat(size) })) });
    let gap = MAX_REQUEST_BYTES - Buffer.byteLength(JSON.stringify(bodyOf(sizes)));
    for (let i = sizes.length - 1; gap > 0; i--) {
      const add = Math.min(250, gap);
      sizes[i]! += add;
      gap -= add;
    }
    const fill = (extra: number) => bodyOf(sizes.map((size, i) => (i === 0 ? size + extra : size)));
    expect(Buffer.byteLength(JSON.stringify(fill(0)))).toBe(MAX_REQUEST_BYTES);
    expect((await call(url, fill(0))).status).toBe(200);
    const over = await call(url, fill(1));
    expect(over).toMatchObject({ status: 400, body: { meta: { error: 'request body is 500001 bytes: it must be smaller than 500kb' } } });
    expect(mock.stats()).toMatchObject({ accepted: 600, oversizedRequests: 1, badRequests: 1, maxRequestBytes: 500_001 });
  });
});

describe('per-entry validation: 207 naming only the refused entries, the others stored', () => {
  it('each problem is one error {batch_index, reason, field, message}; good entries are identified', async () => {
    const { mock, url } = await start();
    const answer = await batch(
      url,
      person('ann@example.com', { first_name: 'Ann' }),
      person('sup@suppressed.example'),
      { type: 'object', action: 'identify', identifiers: { object_id: '1' } },
      { type: 'person', action: 'delete', identifiers: { email: 'x@example.com' } },
      { type: 'person', action: 'identify', identifiers: {} },
      { type: 'person', action: 'identify', identifiers: { email: '' } },
      { type: 'person', action: 'identify', identifiers: { email: 'a@example.com', id: '1' } },
      person('bob@example.com', { plan: 'x'.repeat(1001), ['n'.repeat(151)]: 1, ok: 'fine' }),
      person('cy@example.com', Object.fromEntries(Array.from({ length: 301 }, (_, i) => [`a${i}`, i]))),
      'not an entry',
      person('dee@example.com', { last_name: 'Dee' }),
    );
    expect(answer.status).toBe(207);
    expect(answer.body).toEqual({
      errors: [
        { batch_index: 1, reason: 'suppressed', field: 'identifiers.email', message: 'sup@suppressed.example is suppressed: data sent for this person is dropped' },
        { batch_index: 2, reason: 'invalid', field: 'type', message: 'type "object" is not supported by this mock (person only)' },
        { batch_index: 3, reason: 'invalid', field: 'action', message: 'action "delete" is not supported by this mock (identify only)' },
        { batch_index: 4, reason: 'invalid', field: 'identifiers', message: 'id attribute must be present' },
        { batch_index: 5, reason: 'invalid', field: 'identifiers.email', message: 'email attribute cannot be an empty string' },
        { batch_index: 6, reason: 'invalid', field: 'identifiers', message: 'identifiers must hold exactly one of id, email, cio_id (got id, email)' },
        { batch_index: 7, reason: 'invalid', field: 'attributes.plan', message: "value for attribute 'plan' cannot be longer than 1000 bytes" },
        { batch_index: 7, reason: 'invalid', field: `attributes.${'n'.repeat(151)}`, message: 'attribute name cannot be longer than 150 bytes' },
        { batch_index: 8, reason: 'invalid', field: 'attributes', message: 'cannot identify more than 300 attributes in one request' },
        { batch_index: 9, reason: 'invalid', field: '', message: 'entity must be an object' },
      ],
    });
    expect(mock.person('ann@example.com')?.attributes).toEqual({ first_name: 'Ann' });
    expect(mock.person('dee@example.com')?.attributes).toEqual({ last_name: 'Dee' });
    expect(mock.person('bob@example.com')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ accepted: 2, rejected: 9, people: 2, maxEntries: 11 });
  });

  it('an entry over 32,000 bytes is refused alone (its neighbours stored) and counted over the limit; one of exactly 32,000 is taken', async () => {
    const { mock, url } = await start();
    const base = Buffer.byteLength(JSON.stringify(person('big@example.com', { a: '' })));
    // Many attributes of ≤ 1,000 bytes each, to reach the entry limit without any one being too long.
    const big = (bytes: number) => {
      const attributes: Record<string, string> = {};
      let size = base;
      for (let i = 0; size < bytes; i++) {
        const name = `a${i}`;
        const add = Math.min(1000, bytes - size - (i === 0 ? 0 : `,"${name}":""`.length));
        attributes[name] = 'x'.repeat(Math.max(0, add));
        size = Buffer.byteLength(JSON.stringify(person('big@example.com', attributes)));
      }
      return person('big@example.com', attributes);
    };
    const exact = big(MAX_ENTRY_BYTES);
    expect(Buffer.byteLength(JSON.stringify(exact))).toBe(MAX_ENTRY_BYTES);
    expect((await batch(url, exact)).status).toBe(200);
    const over = { ...exact, attributes: { ...exact.attributes, a0: `${exact.attributes.a0}`.slice(1) + 'xx' } };
    expect(Buffer.byteLength(JSON.stringify(over))).toBe(MAX_ENTRY_BYTES + 1);
    const answer = await batch(url, person('left@example.com'), over, person('right@example.com'));
    expect(answer).toMatchObject({ status: 207, body: { errors: [{ batch_index: 1, reason: 'too_large', message: 'entity is 32001 bytes: it must be smaller than 32kb' }] } });
    expect(mock.person('left@example.com')).toBeDefined();
    expect(mock.person('right@example.com')).toBeDefined();
    expect(mock.stats()).toMatchObject({ oversizedEntries: 1, maxEntryBytes: MAX_ENTRY_BYTES + 1 });
  });

  it('identifies by email case-insensitively, merges attributes, null removes one; an all-good batch is 200 {}', async () => {
    const clock = new VirtualClock(Date.parse('2026-03-01T00:00:00.000Z'));
    const { mock, url } = await start({ clock });
    const first = await batch(url, person('Ann@Example.com', { first_name: 'Ann', plan: 'pro', __proto__: 'kept as a name' }));
    expect(first).toMatchObject({ status: 200, text: '{}' });
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    clock.advance(5000);
    expect((await batch(url, person('ann@example.com', { plan: null, tier: 'gold' }))).status).toBe(200);
    expect(await hook(url, 'people?email=ANN@example.com')).toEqual({
      status: 200,
      body: { identifiers: { email: 'ann@example.com' }, attributes: { first_name: 'Ann', tier: 'gold' }, created_at: 1772323200, updated_at: 1772323205 },
    });
    expect(mock.stats()).toMatchObject({ people: 1, accepted: 2 });
    expect((await hook(url, 'people?email=nobody@example.com')).status).toBe(404);
  });
});

describe('rate limit: 100 requests in any 1000 ms by default', () => {
  it('past it: 429 with Retry-After: 1 in the meta envelope; refusals do not count against the window', async () => {
    const clock = new VirtualClock(Date.parse('2026-01-20T10:00:00.000Z'));
    const { mock, url } = await start({ clock, rate: 2 });
    const at = async (t: number) => {
      clock.advance(t - (clock.now() - Date.parse('2026-01-20T10:00:00.000Z')));
      return batch(url);
    };
    expect((await at(0)).status).toBe(200);
    expect((await at(500)).status).toBe(200);
    const refused = await at(999);
    expect(refused).toMatchObject({ status: 429, body: { meta: { error: 'rate limit exceeded: slow down' } } });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await at(1000)).status).toBe(200);
    expect((await at(1499)).status).toBe(429);
    expect(mock.stats()).toMatchObject({ requests: 5, rateLimited: 2, maxRequestsPerSecond: 4 });
  });

  it('defaults to Customer.io\'s 100 a second', async () => {
    const clock = new VirtualClock();
    const { url } = await start({ clock });
    const answers = await Promise.all(Array.from({ length: 101 }, () => batch(url)));
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(1);
  });
});

describe('failure injection', () => {
  const draws = (...values: number[]) => {
    let i = 0;
    return () => values[i++] ?? 0.99;
  };

  it.each([
    [0.3, 500, 'application/json'],
    [0.6, 502, 'text/html'],
    [0.8, 503, 'text/html'],
    [0.9, 504, 'text/html'],
  ])('draw %s → %s (%s), nothing stored', async (draw, status, type) => {
    const { mock, url } = await start({ failRate: 0.5, random: draws(0.1, draw, 0.9) });
    const answer = await batch(url, person('ann@example.com'));
    expect(answer.status).toBe(status);
    expect(answer.headers.get('content-type')).toMatch(new RegExp(`^${type}`));
    expect(mock.person('ann@example.com')).toBeUndefined();
    expect(mock.stats().failures).toBe(1);
  });

  it('some 500s come after the batch was processed; some connections are reset', async () => {
    const processed = await start({ failRate: 0.5, random: draws(0.1, 0.3, 0.2) });
    expect((await batch(processed.url, person('ann@example.com'))).status).toBe(500);
    expect(processed.mock.person('ann@example.com')).toBeDefined();
    const reset = await start({ failRate: 0.5, random: draws(0.1, 0.05) });
    await expect(batch(reset.url, person('ann@example.com'))).rejects.toThrow(TypeError);
    expect(reset.mock.stats()).toMatchObject({ failures: 1, accepted: 0 });
  });

  it('latency delays every answer on the injected clock', async () => {
    const clock = new VirtualClock();
    const { url } = await start({ clock, latencyMs: 150 });
    expect((await batch(url)).status).toBe(200);
    expect((await call(url, { batch: [] }, { auth: null })).status).toBe(401);
    expect(clock.sleeps).toEqual([150, 150]);
  });
});

describe('other paths and stats', () => {
  it('an unknown path is 404, a wrong method 405; hooks are not counted as requests', async () => {
    const { mock, url } = await start();
    expect((await call(url, {}, { path: '/api/v1/customers' })).status).toBe(404);
    expect(await call(url, undefined, { method: 'GET' })).toMatchObject({ status: 405 });
    await hook(url, 'stats');
    expect(mock.stats().requests).toBe(2);
  });

  it('/__mock/stats reports the largest request and entry, the most entries, concurrency and peaks', async () => {
    const { url } = await start({ latencyMs: 50 });
    const entries = [person('a@example.com', { note: 'x'.repeat(900) }), person('b@example.com')];
    await Promise.all([batch(url, ...entries), batch(url, person('c@example.com'))]);
    const stats = (await hook(url, 'stats')).body;
    expect(stats).toMatchObject({
      requests: 2,
      accepted: 3,
      maxEntries: 2,
      maxEntryBytes: Buffer.byteLength(JSON.stringify(entries[0])),
      maxRequestBytes: Buffer.byteLength(JSON.stringify({ batch: entries })),
      requestBytes: Buffer.byteLength(JSON.stringify({ batch: entries })) + Buffer.byteLength(JSON.stringify({ batch: [person('c@example.com')] })),
      maxConcurrent: 2,
      maxRequestsPerSecond: 2,
      oversizedRequests: 0,
      oversizedEntries: 0,
    });
  });

  it('a caller still sending a body far over the limit receives its 400 rather than a reset', async () => {
    const { url } = await start();
    const body = Buffer.alloc(3 * 1024 * 1024, 'x');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}${BATCH_PATH}`, { method: 'POST', headers: { authorization: basic('s:k'), 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(400);
  });
});

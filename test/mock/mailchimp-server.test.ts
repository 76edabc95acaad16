import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/engine/clock.js';
import { seededRandom, type Random } from '../../src/engine/random.js';
import { close, listen } from '../../src/http/server.js';
import { postFromThread } from '../helpers/raw-http.js';
import { createMailchimpMock, DEFAULT_LIST_ID, type MailchimpMock, type MailchimpMockOptions } from '../../src/mock/mailchimp-server.js';

const KEY = '0123456789abcdef0123456789abcdef-us21';
const LIST = DEFAULT_LIST_ID;
const PROBLEM_TYPE = 'https://mailchimp.com/developer/marketing/docs/errors/';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

/** A clock whose `now` the test sets, and whose sleeps (the mock's latency) last until the test releases them. */
class GateClock implements Clock {
  time = Date.parse('2026-03-01T10:00:00.000Z');
  readonly sleeps: number[] = [];
  private readonly held: (() => void)[] = [];
  private onHold: (() => void) | undefined;

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      // A released sleep lets go of the signal too, as a real timer does: the mock shares one
      // signal among all the requests it holds, and listeners left behind pile up past Node's
      // warning threshold (a MaxListenersExceededWarning printed in the middle of the test run).
      const abort = (): void => {
        this.held.splice(this.held.indexOf(release), 1);
        reject(signal!.reason);
      };
      const release = (): void => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      this.held.push(release);
      signal?.addEventListener('abort', abort, { once: true });
      this.onHold?.();
    });
  }

  get holding(): number {
    return this.held.length;
  }

  /** Resolves once `count` requests are being held. */
  async untilHolding(count: number): Promise<void> {
    while (this.held.length < count) await new Promise<void>((resolve) => (this.onHold = resolve));
  }

  release(count = 1): void {
    for (const resolve of this.held.splice(0, count)) resolve();
  }
}

/** An answer's JSON: each test asserts the shape it expects, so it is indexed freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type Json = any;

interface Answer {
  status: number;
  contentType: string;
  headers: Headers;
  body: Json;
}

const running: MailchimpMock[] = [];
afterEach(async () => {
  // Every answer is in: a connection fetch opens after an abort (and never uses) must not hold the close for 4 s.
  for (const mock of running) mock.closeAllConnections();
  await Promise.all(running.splice(0).map((mock) => close(mock)));
});

async function start(options: Partial<MailchimpMockOptions> = {}) {
  const mock = createMailchimpMock({ random: seededRandom(1), clock: new GateClock(), ...options });
  running.push(mock);
  const url = await listen(mock, 0);
  const call = async (path: string, init: { method?: string; body?: unknown; auth?: string | null } = {}): Promise<Answer> => {
    const headers: Record<string, string> = {};
    const auth = init.auth === undefined ? basic('anystring', KEY) : init.auth;
    if (auth !== null) headers.authorization = auth;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers,
      body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
    });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    return { status: response.status, contentType, headers: response.headers, body: contentType.includes('json') ? JSON.parse(text) : text };
  };
  const batch = (body: unknown, query = '', list = LIST) => call(`/3.0/lists/${list}${query}`, { body });
  return { mock, url, call, batch };
}

/** The problem document Mailchimp sends for every error, with its content type and request id. */
function expectProblem(answer: Answer, status: number, title: string, detail: string | RegExp): void {
  expect(answer.status).toBe(status);
  expect(answer.contentType).toBe('application/problem+json; charset=utf-8');
  expect(answer.body).toMatchObject({ type: PROBLEM_TYPE, title, status, detail: typeof detail === 'string' ? detail : expect.stringMatching(detail) });
  expect(answer.body.instance).toMatch(/^[0-9a-f-]{36}$/);
  expect(answer.headers.get('x-request-id')).toBe(answer.body.instance);
}

const subscribe = (email: string, extra: Record<string, unknown> = {}) => ({ email_address: email, status_if_new: 'subscribed', ...extra });

describe('auth', () => {
  it('answers ping for any user name with a well-formed key', async () => {
    const { call } = await start();
    for (const user of ['anystring', 'me', '']) {
      const answer = await call('/3.0/ping', { auth: basic(user, KEY) });
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe('application/json; charset=utf-8');
      expect(answer.body).toEqual({ health_status: "Everything's Chimpy!" });
    }
  });

  it('answers 401 API Key Missing without an Authorization header', async () => {
    const { call } = await start();
    expectProblem(await call('/3.0/ping', { auth: null }), 401, 'API Key Missing', 'Your request did not include an API key.');
  });

  it.each([
    ['a key of the wrong form', basic('x', 'not-a-key')],
    ['a key without its data centre', basic('x', KEY.slice(0, 32))],
    ['upper-case hex', basic('x', KEY.toUpperCase())],
    ['the key as user name, no password', `Basic ${Buffer.from(KEY).toString('base64')}`],
    ['a bearer token', `Bearer ${KEY}`],
  ])('answers 401 API Key Invalid for %s', async (_, auth) => {
    const { call } = await start();
    expectProblem(await call('/3.0/ping', { auth }), 401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter.");
  });

  it('with `key`, accepts that key only', async () => {
    const { call } = await start({ key: KEY });
    expect((await call('/3.0/ping')).status).toBe(200);
    expectProblem(await call('/3.0/ping', { auth: basic('x', `ffffffffffffffffffffffffffffffff-us21`) }), 401, 'API Key Invalid', /may be invalid/);
  });

  it("with `dc`, answers 403 naming the key's own data centre for a key of another one", async () => {
    const { call } = await start({ dc: 'us21' });
    expect((await call('/3.0/ping')).status).toBe(200);
    expectProblem(await call('/3.0/ping', { auth: basic('x', `${KEY.slice(0, 32)}-us6`) }), 403, 'Forbidden', "The API key provided is linked to datacenter 'us6'");
  });

  it('without `dc`, takes a key of any data centre', async () => {
    const { call } = await start();
    expect((await call('/3.0/ping', { auth: basic('x', `${KEY.slice(0, 32)}-us6`) })).status).toBe(200);
  });

  it('checks auth before anything else: an unknown list without a key is a 401', async () => {
    const { call } = await start();
    expect((await call('/3.0/lists/nope/merge-fields', { auth: null })).status).toBe(401);
  });
});

describe('answers before the body is read', () => {
  it('reach a Node client still sending its body with Connection: close (no reset): 401, 404 and 413, Content-Length and chunked', async () => {
    const { url } = await start();
    const tally: Record<string, string> = {};
    // Without reading on after answering, measured here: 1 to 6 of 10 of the 401s and 404s lost to EPIPE at 20 MiB.
    const cases = [
      [401, `/3.0/lists/${LIST}`, 20, {}],
      [404, '/3.0/lists/nope', 20, { authorization: basic('x', KEY) }],
      [413, `/3.0/lists/${LIST}`, 17, { authorization: basic('x', KEY) }],
    ] as const;
    for (const [expected, path, mebibytes, headers] of cases) {
      for (const chunked of [false, true]) {
        const outcomes = await postFromThread(`${url}${path}`, { size: mebibytes * 1024 * 1024, chunked, tries: 10, headers });
        const lost = outcomes.filter((o) => o.status !== expected).map((o) => o.error ?? o.status);
        tally[`${expected} ${chunked ? 'chunked' : 'content-length'}`] = `${10 - lost.length}/10 ${lost.join(' ')}`.trim();
      }
    }
    expect(tally).toEqual({ '401 content-length': '10/10', '401 chunked': '10/10', '404 content-length': '10/10', '404 chunked': '10/10', '413 content-length': '10/10', '413 chunked': '10/10' });
  }, 60_000);
});

describe('routes', () => {
  it.each(['/3.0/lists/nope', '/3.0/lists/nope/merge-fields', '/3.0/lists/%E0%A4%A/merge-fields', '/3.0/campaigns', '/3.0/lists/a1b2c3d4e5/members', '/profiles/batch'])('answers 404 Resource Not Found for %s', async (path) => {
    const { call } = await start();
    const answer = await call(path, path.endsWith('nope') ? { body: { members: [] } } : {});
    expectProblem(answer, 404, 'Resource Not Found', 'The requested resource could not be found.');
  });

  it('answers 405 with Allow for a method the resource does not take', async () => {
    const { call } = await start();
    const get = await call(`/3.0/lists/${LIST}`);
    expectProblem(get, 405, 'Method Not Allowed', /not compatible/);
    expect(get.headers.get('allow')).toBe('POST');
    const post = await call('/3.0/ping', { body: {} });
    expectProblem(post, 405, 'Method Not Allowed', /not compatible/);
    expect(post.headers.get('allow')).toBe('GET');
  });

  it('serves every list given, and only those', async () => {
    const { batch } = await start({ lists: ['list1', 'list2'] });
    expect((await batch({ members: [] }, '', 'list1')).status).toBe(200);
    expect((await batch({ members: [] }, '', 'list2')).status).toBe(200);
    expect((await batch({ members: [] }, '', LIST)).status).toBe(404);
  });
});

describe('GET /3.0/lists/{id}/merge-fields', () => {
  it('lists FNAME and LNAME in Mailchimp’s shape by default', async () => {
    const { call } = await start();
    const answer = await call(`/3.0/lists/${LIST}/merge-fields?count=1000`);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/json; charset=utf-8');
    expect(answer.body).toEqual({
      merge_fields: [
        { merge_id: 1, tag: 'FNAME', name: 'First Name', type: 'text', required: false, default_value: '', public: true, display_order: 2, options: { size: 25 }, help_text: '', list_id: LIST, _links: [] },
        { merge_id: 2, tag: 'LNAME', name: 'Last Name', type: 'text', required: false, default_value: '', public: true, display_order: 3, options: { size: 25 }, help_text: '', list_id: LIST, _links: [] },
      ],
      list_id: LIST,
      total_items: 2,
      _links: [],
    });
  });

  it('adds the fields given, and redefines FNAME when given again', async () => {
    const { call } = await start({
      mergeFields: [
        { tag: 'LTV', type: 'number', required: false },
        { tag: 'FNAME', type: 'text', required: true },
      ],
    });
    const { body } = await call(`/3.0/lists/${LIST}/merge-fields`);
    expect(body.merge_fields.map((field: { tag: string; type: string; required: boolean }) => [field.tag, field.type, field.required])).toEqual([
      ['FNAME', 'text', true],
      ['LNAME', 'text', false],
      ['LTV', 'number', false],
    ]);
  });

  it('pages with count (default 10, at most 1000) and offset', async () => {
    const extra = Array.from({ length: 12 }, (_, i) => ({ tag: `F${i}`, type: 'text' as const, required: false }));
    const { call } = await start({ mergeFields: extra });
    const tags = async (query: string) => ((await call(`/3.0/lists/${LIST}/merge-fields${query}`)).body.merge_fields as { tag: string }[]).map((field) => field.tag);
    expect(await tags('')).toHaveLength(10);
    expect(await tags('?count=3&offset=2')).toEqual(['F0', 'F1', 'F2']);
    expect(await tags('?count=5000')).toHaveLength(14);
    expect(await tags('?offset=13')).toEqual(['F11']);
    expect((await call(`/3.0/lists/${LIST}/merge-fields?count=1`)).body.total_items).toBe(14);
  });
});

describe('POST /3.0/lists/{id}: the request', () => {
  it('answers 400 JSON Parse Error for a body that is not JSON', async () => {
    const { batch } = await start();
    expectProblem(await batch('{"members": ['), 400, 'JSON Parse Error', 'We encountered an unspecified JSON parsing error.');
  });

  it('answers 400 Invalid Resource for more than 500 members, and takes 500', async () => {
    const { batch } = await start();
    const members = (n: number) => Array.from({ length: n }, (_, i) => subscribe(`user${i}@example.com`));
    const over = await batch({ members: members(501) });
    expectProblem(over, 400, 'Invalid Resource', "The resource submitted could not be validated. For field-specific details, see the 'errors' array.");
    expect(over.body.errors).toEqual([{ field: 'members', message: 'Up to 500 members may be added or updated with each API call; this request has 501.' }]);
    const full = await batch({ members: members(500) });
    expect(full.status).toBe(200);
    expect(full.body.total_created).toBe(500);
  });

  it('answers 400 Invalid Resource naming each field of the wrong shape, and changes nothing', async () => {
    const { batch, mock } = await start();
    const answer = await batch({
      members: [subscribe('ok@example.com'), { status: 'subscribed' }, subscribe('b@example.com', { status: 'bogus' }), subscribe('c@example.com', { merge_fields: ['x'] }), subscribe('d@example.com', { vip: null })],
      update_existing: 'yes',
    });
    expectProblem(answer, 400, 'Invalid Resource', /see the 'errors' array/);
    expect(answer.body.errors).toEqual([
      { field: 'members[1]', message: 'Required fields were not provided: email_address' },
      { field: 'members[2].status', message: 'Data presented is not one of the accepted values: subscribed, unsubscribed, cleaned, pending, transactional.' },
      { field: 'members[3].merge_fields', message: 'Schema describes object, array found instead' },
      { field: 'members[4].vip', message: 'Schema describes boolean, NULL found instead' },
      { field: 'update_existing', message: 'Schema describes boolean, string found instead' },
    ]);
    expect(mock.member(LIST, 'ok@example.com')).toBeUndefined();
  });

  it('answers 400 when members is missing', async () => {
    const { batch } = await start();
    const answer = await batch({ update_existing: true });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([{ field: '', message: 'Required fields were not provided: members' }]);
  });

  it('answers 413 (a problem document the client receives) for a body over 16 MiB', async () => {
    const { batch } = await start();
    const answer = await batch(`{"members":[],"pad":"${'x'.repeat(17 * 1024 * 1024)}"}`);
    expectProblem(answer, 413, 'Request Entity Too Large', 'The request body is larger than 16 MiB.');
  });
});

describe('POST /3.0/lists/{id}: members', () => {
  it('creates a new member from status_if_new, in the reference’s member shape, keyed by the MD5 of the lower-cased address', async () => {
    const { batch, mock } = await start();
    const answer = await batch({ members: [subscribe('Jane.Doe@Example.com', { merge_fields: { FNAME: 'Jane', LNAME: 'Doe' }, tags: ['customer'], language: 'fr_CA', vip: true })] });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/json; charset=utf-8');
    expect(answer.body).toMatchObject({ updated_members: [], errors: [], total_created: 1, total_updated: 0, error_count: 0, _links: [] });
    const [member] = answer.body.new_members;
    expect(member).toEqual({
      id: md5('jane.doe@example.com'),
      email_address: 'Jane.Doe@Example.com',
      unique_email_id: expect.stringMatching(/^[0-9a-f]{10}$/),
      contact_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      full_name: 'Jane Doe',
      web_id: 1,
      email_type: 'html',
      status: 'subscribed',
      merge_fields: { FNAME: 'Jane', LNAME: 'Doe' },
      stats: { avg_open_rate: 0, avg_click_rate: 0 },
      ip_signup: '',
      timestamp_signup: '',
      ip_opt: '',
      timestamp_opt: '2026-03-01T10:00:00+00:00',
      member_rating: 2,
      last_changed: '2026-03-01T10:00:00+00:00',
      language: 'fr_CA',
      vip: true,
      email_client: '',
      location: { latitude: 0, longitude: 0, gmtoff: 0, dstoff: 0, country_code: '', timezone: '', region: '' },
      source: 'API - Generic',
      tags_count: 1,
      tags: [{ id: 1, name: 'customer' }],
      list_id: LIST,
      _links: [],
    });
    expect(mock.member(LIST, 'JANE.DOE@example.COM')).toEqual(member);
  });

  it('creates a new member from status alone', async () => {
    const { batch } = await start();
    const answer = await batch({ members: [{ email_address: 'p@example.com', status: 'pending' }] });
    expect(answer.body.new_members[0]).toMatchObject({ status: 'pending', timestamp_opt: '' });
  });

  it('takes status_if_new over status for a new member', async () => {
    const { batch } = await start();
    const answer = await batch({ members: [{ email_address: 'p@example.com', status: 'pending', status_if_new: 'subscribed' }] });
    expect(answer.body.new_members[0].status).toBe('subscribed');
  });

  it('refuses a new member sent with neither status nor status_if_new', async () => {
    const { batch, mock } = await start();
    const answer = await batch({ members: [{ email_address: 'n@example.com', merge_fields: { FNAME: 'N' } }] });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ new_members: [], total_created: 0, error_count: 1 });
    expect(answer.body.errors).toEqual([
      {
        email_address: 'n@example.com',
        error: 'n@example.com is not a list member yet and has no status: send status or status_if_new to add it.',
        error_code: 'ERROR_GENERIC',
        field: 'status',
        field_message: 'Please provide status or status_if_new for a new member.',
      },
    ]);
    expect(mock.member(LIST, 'n@example.com')).toBeUndefined();
  });

  it('refuses an existing member without update_existing with ERROR_CONTACT_EXISTS, and leaves it as it was', async () => {
    const { batch, mock } = await start();
    await batch({ members: [subscribe('a@example.com', { merge_fields: { FNAME: 'Ann' } })] });
    const answer = await batch({ members: [subscribe('A@example.com', { merge_fields: { FNAME: 'Anna' } })] });
    expect(answer.body.errors).toEqual([
      {
        email_address: 'A@example.com',
        error: 'A@example.com is already a list member, do you want to update? please provide update_existing:true in the request body',
        error_code: 'ERROR_CONTACT_EXISTS',
        field: '',
        field_message: '',
      },
    ]);
    expect(answer.body).toMatchObject({ total_created: 0, total_updated: 0, error_count: 1 });
    expect(mock.member(LIST, 'a@example.com')).toMatchObject({ merge_fields: { FNAME: 'Ann' } });
  });

  it('updates an existing member with update_existing, and status_if_new never changes its status', async () => {
    const clock = new GateClock();
    const { batch } = await start({ clock });
    await batch({ members: [{ email_address: 'u@example.com', status: 'unsubscribed', merge_fields: { FNAME: 'U', LNAME: 'Old' } }] });
    clock.time += 60_000;
    const answer = await batch({ members: [subscribe('u@example.com', { merge_fields: { LNAME: 'New' } })], update_existing: true });
    expect(answer.body).toMatchObject({ new_members: [], total_created: 0, total_updated: 1, error_count: 0 });
    expect(answer.body.updated_members[0]).toMatchObject({
      status: 'unsubscribed',
      merge_fields: { FNAME: 'U', LNAME: 'New' },
      last_changed: '2026-03-01T10:01:00+00:00',
    });
  });

  it('changes an existing member’s status with status and update_existing', async () => {
    const { batch } = await start();
    await batch({ members: [subscribe('s@example.com')] });
    const answer = await batch({ members: [{ email_address: 's@example.com', status: 'unsubscribed' }], update_existing: true });
    expect(answer.body.updated_members[0].status).toBe('unsubscribed');
  });

  it.each(['unsubscribed', 'cleaned'])('refuses to subscribe again a member who is %s; pending is allowed', async (status) => {
    const { batch, mock } = await start();
    await batch({ members: [{ email_address: 'gone@example.com', status }] });
    const again = await batch({ members: [{ email_address: 'gone@example.com', status: 'subscribed' }], update_existing: true });
    expect(again.body.errors).toEqual([
      {
        email_address: 'gone@example.com',
        error: 'gone@example.com is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.',
        error_code: 'ERROR_GENERIC',
        field: '',
        field_message: '',
      },
    ]);
    expect(mock.member(LIST, 'gone@example.com')).toMatchObject({ status });
    const pending = await batch({ members: [{ email_address: 'gone@example.com', status: 'pending' }], update_existing: true });
    expect(pending.body.updated_members[0].status).toBe('pending');
  });

  it.each(['plainaddress', 'a@b', 'two@@example.com', 'dot.@example.com', 'sp ace@example.com', 'josé@example.com', '直子@example.jp', ''])('refuses %j: "Please provide a valid email address."', async (email) => {
    const { batch } = await start();
    const answer = await batch({ members: [subscribe(email)] });
    expect(answer.body.errors).toEqual([{ email_address: email, error: 'Please provide a valid email address.', error_code: 'ERROR_GENERIC', field: '', field_message: '' }]);
  });

  it.each(['jane@example.com', "o'brien+news@example.co.uk", 'ann@bücher.de', 'ann@xn--bcher-kva.de', 'x@sub.suppressed.example.com'])('accepts %s', async (email) => {
    const { batch } = await start();
    expect((await batch({ members: [subscribe(email)] })).body).toMatchObject({ total_created: 1, error_count: 0 });
  });

  it('refuses an address @suppressed.example as "looks fake or invalid"', async () => {
    const { batch } = await start();
    const answer = await batch({ members: [subscribe('Someone@Suppressed.Example')] });
    expect(answer.body.errors).toEqual([
      {
        email_address: 'Someone@Suppressed.Example',
        error: 'Someone@Suppressed.Example looks fake or invalid, please enter a real email address.',
        error_code: 'ERROR_GENERIC',
        field: '',
        field_message: '',
      },
    ]);
  });

  it('answers every member in one 200: created, updated and refused side by side', async () => {
    const { batch, mock } = await start();
    await batch({ members: [subscribe('old@example.com')] });
    const answer = await batch({ members: [subscribe('new@example.com'), subscribe('bad'), subscribe('old@example.com')], update_existing: true });
    expect(answer.status).toBe(200);
    expect(answer.body.new_members.map((member: { email_address: string }) => member.email_address)).toEqual(['new@example.com']);
    expect(answer.body.updated_members.map((member: { email_address: string }) => member.email_address)).toEqual(['old@example.com']);
    expect(answer.body.errors.map((error: { email_address: string }) => error.email_address)).toEqual(['bad']);
    expect(answer.body).toMatchObject({ total_created: 1, total_updated: 1, error_count: 1 });
    expect(mock.stats()).toMatchObject({ created: 2, updated: 1, errors: 1 });
  });
});

describe('POST /3.0/lists/{id}: merge fields', () => {
  const fields: MailchimpMockOptions['mergeFields'] = [
    { tag: 'LTV', type: 'number', required: false },
    { tag: 'PLAN', type: 'text', required: true },
    { tag: 'SINCE', type: 'date', required: false },
    { tag: 'HOME', type: 'address', required: false },
  ];

  const fieldError = (email: string, field: string, message: string) => ({ email_address: email, error: 'Your merge fields were invalid.', error_code: 'ERROR_GENERIC', field, field_message: message });

  it('refuses an unknown merge tag, and keeps the __proto__ key a tag like any other', async () => {
    const { batch } = await start({ mergeFields: fields });
    const answer = await batch('{"members":[{"email_address":"a@example.com","status":"subscribed","merge_fields":{"PLAN":"pro","NOPE":"x"}},{"email_address":"b@example.com","status":"subscribed","merge_fields":{"PLAN":"pro","__proto__":{"LTV":1}}}]}');
    expect(answer.body.errors).toEqual([fieldError('a@example.com', 'NOPE', 'This merge field does not exist in the audience'), fieldError('b@example.com', '__proto__', 'This merge field does not exist in the audience')]);
    expect(({} as Record<string, unknown>).LTV).toBeUndefined();
  });

  it.each([
    ['LTV', 'abc', 'Please enter a number'],
    ['LTV', true, 'Please enter a number'],
    ['SINCE', '2026-02-30', 'Please enter a date (YYYY-MM-DD or MM/DD/YYYY)'],
    ['PLAN', { nested: true }, 'Please enter a text value'],
    ['PLAN', 'x'.repeat(256), 'Please enter at most 255 characters'],
    ['HOME', { addr1: '1 Main St', city: 'Springfield' }, 'Please enter a complete address (addr1, city, state and zip)'],
  ])('refuses %s = %j with a field error, and changes nothing', async (tag, value, message) => {
    const { batch, mock } = await start({ mergeFields: fields });
    await batch({ members: [subscribe('a@example.com', { merge_fields: { PLAN: 'basic' } })] });
    const answer = await batch({ members: [subscribe('a@example.com', { merge_fields: { PLAN: 'pro', [tag]: value } })], update_existing: true });
    expect(answer.body.errors).toEqual([fieldError('a@example.com', tag, message)]);
    expect(mock.member(LIST, 'a@example.com')).toMatchObject({ merge_fields: { PLAN: 'basic' } });
  });

  it('stores values in the type’s form, and "" clears a field', async () => {
    const { batch } = await start({ mergeFields: fields });
    const home = { addr1: '1 Main St', city: 'Springfield', state: 'IL', zip: '62701' };
    const first = await batch({ members: [subscribe('a@example.com', { merge_fields: { PLAN: 'pro', LTV: '12.5', SINCE: '03/15/2024', HOME: home } })] });
    expect(first.body.new_members[0].merge_fields).toEqual({ FNAME: '', LNAME: '', LTV: 12.5, PLAN: 'pro', SINCE: '2024-03-15', HOME: { ...home, addr2: '', country: '' } });
    const second = await batch({ members: [subscribe('a@example.com', { merge_fields: { LTV: '' } })], update_existing: true });
    expect(second.body.updated_members[0].merge_fields).toMatchObject({ LTV: '', PLAN: 'pro' });
  });

  it('refuses a new member without a required field, or an update that empties it; skip_merge_validation=true lets both through', async () => {
    const { batch } = await start({ mergeFields: fields });
    const missing = await batch({ members: [subscribe('a@example.com')] });
    expect(missing.body.errors).toEqual([fieldError('a@example.com', 'PLAN', 'Please enter a value')]);
    const skipped = await batch({ members: [subscribe('a@example.com')] }, '?skip_merge_validation=true');
    expect(skipped.body.total_created).toBe(1);
    const emptied = await batch({ members: [subscribe('b@example.com', { merge_fields: { PLAN: 'pro' } })] }).then(() =>
      batch({ members: [subscribe('b@example.com', { merge_fields: { PLAN: '' } })], update_existing: true }),
    );
    expect(emptied.body.errors).toEqual([fieldError('b@example.com', 'PLAN', 'Please enter a value')]);
    const allowed = await batch({ members: [subscribe('b@example.com', { merge_fields: { PLAN: '' } })], update_existing: true }, '?skip_merge_validation=true');
    expect(allowed.body.total_updated).toBe(1);
  });

  it('still checks types with skip_merge_validation', async () => {
    const { batch } = await start({ mergeFields: fields });
    const answer = await batch({ members: [subscribe('a@example.com', { merge_fields: { LTV: 'abc' } })] }, '?skip_merge_validation=true');
    expect(answer.body.errors).toEqual([fieldError('a@example.com', 'LTV', 'Please enter a number')]);
  });
});

describe('POST /3.0/lists/{id}: duplicates, tags, other fields, capacity', () => {
  it('refuses the later appearances of an address sent twice (in any case); the first is processed', async () => {
    const { batch, mock } = await start();
    const answer = await batch({ members: [subscribe('d@example.com', { merge_fields: { FNAME: 'First' } }), subscribe('D@example.com', { merge_fields: { FNAME: 'Second' } })] });
    expect(answer.body).toMatchObject({ total_created: 1, error_count: 1 });
    expect(answer.body.errors).toEqual([
      { email_address: 'D@example.com', error: 'D@example.com appears more than once in this request; only its first appearance was processed.', error_code: 'ERROR_GENERIC', field: '', field_message: '' },
    ]);
    expect(mock.member(LIST, 'd@example.com')).toMatchObject({ merge_fields: { FNAME: 'First' } });
  });

  it('with skip_duplicate_check=true, ignores the later appearances without an error and saves the first', async () => {
    const { batch, mock } = await start();
    const answer = await batch({ members: [{ email_address: 'd@example.com', status: 'pending' }, { email_address: 'd@example.com', status: 'subscribed' }] }, '?skip_duplicate_check=true');
    expect(answer.body).toMatchObject({ total_created: 1, total_updated: 0, error_count: 0, errors: [] });
    expect(mock.member(LIST, 'd@example.com')).toMatchObject({ status: 'pending' });
  });

  it('adds tags to a member’s own; sync_tags replaces them', async () => {
    const { batch } = await start();
    await batch({ members: [subscribe('t@example.com', { tags: ['a', 'b'] })] });
    const added = await batch({ members: [subscribe('t@example.com', { tags: ['b', 'c'] })], update_existing: true });
    expect(added.body.updated_members[0]).toMatchObject({ tags_count: 3, tags: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 3, name: 'c' }] });
    const untouched = await batch({ members: [subscribe('t@example.com')], update_existing: true, sync_tags: true });
    expect(untouched.body.updated_members[0].tags_count).toBe(3);
    const synced = await batch({ members: [subscribe('t@example.com', { tags: ['c', 'd'] })], update_existing: true, sync_tags: true });
    expect(synced.body.updated_members[0]).toMatchObject({ tags_count: 2, tags: [{ id: 3, name: 'c' }, { id: 4, name: 'd' }] });
  });

  it.each([
    ['an empty tag name', [''], 'Please enter tag names of 1 to 100 characters'],
    ['a tag name over 100 characters', ['x'.repeat(101)], 'Please enter tag names of 1 to 100 characters'],
    ['more than 100 tags', Array.from({ length: 101 }, (_, i) => `t${i}`), 'This mock holds at most 100 tags per member'],
  ])('refuses %s', async (_, tags, message) => {
    const { batch } = await start();
    const answer = await batch({ members: [subscribe('t@example.com', { tags })] });
    expect(answer.body.errors).toEqual([{ email_address: 't@example.com', error: 'Your tags were invalid.', error_code: 'ERROR_GENERIC', field: 'tags', field_message: message }]);
  });

  it('refuses a language that is no language code, and interests (the audience has no groups)', async () => {
    const { batch } = await start();
    const answer = await batch({ members: [subscribe('l@example.com', { language: 'English' }), subscribe('i@example.com', { interests: { abc123: true } })] });
    expect(answer.body.errors).toEqual([
      { email_address: 'l@example.com', error: 'Your language was invalid.', error_code: 'ERROR_GENERIC', field: 'language', field_message: 'Please enter a language code such as en or fr_CA' },
      { email_address: 'i@example.com', error: 'Your interests were invalid.', error_code: 'ERROR_GENERIC', field: 'interests', field_message: "Invalid interest ID: 'abc123'" },
    ]);
  });

  it('past maxMembers, refuses new members one by one and still updates the ones it holds', async () => {
    const { batch, mock } = await start({ maxMembers: 2, lists: ['one', 'two'] });
    await batch({ members: [subscribe('a@example.com')] }, '', 'one');
    const answer = await batch({ members: [subscribe('b@example.com'), subscribe('c@example.com')] }, '', 'two');
    expect(answer.body.total_created).toBe(1);
    expect(answer.body.errors).toEqual([
      { email_address: 'c@example.com', error: 'c@example.com could not be added: the mock holds at most 2 contacts (sync mock mailchimp --max-members).', error_code: 'ERROR_GENERIC', field: '', field_message: '' },
    ]);
    const update = await batch({ members: [subscribe('a@example.com', { merge_fields: { FNAME: 'A' } })], update_existing: true }, '', 'one');
    expect(update.body.total_updated).toBe(1);
    expect(mock.member('two', 'c@example.com')).toBeUndefined();
  });
});

describe('simultaneous connections', () => {
  /** A request kept open by the mock's latency; resolves with its status once answered. */
  const held = (url: string, path = '/3.0/ping'): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`${url}${path}`, { agent: false, headers: { authorization: basic('x', KEY) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });

  it('answers the 11th request open at once 429 TooManyRequests (no Retry-After); once one finishes, takes a new one', async () => {
    const clock = new GateClock();
    const { url, call, mock } = await start({ clock, latencyMs: 250 });
    const first = Array.from({ length: 10 }, () => held(url));
    await clock.untilHolding(10);

    const refused = await call('/3.0/ping');
    expectProblem(refused, 429, 'TooManyRequests', 'You have exceeded the limit of 10 simultaneous connections.');
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(clock.holding).toBe(10);

    clock.release(1);
    expect(await Promise.race(first)).toBe(200);
    const next = held(url);
    await clock.untilHolding(10);
    expect(clock.sleeps).toEqual(Array(11).fill(250));

    clock.release(10);
    expect(await Promise.all([...first, next])).toEqual(Array(11).fill(200));
    expect(mock.stats()).toMatchObject({ requests: 12, tooManyConnections: 1, maxConcurrent: 10 });
  });

  it('counts every kind of request against the limit it is given', async () => {
    const clock = new GateClock();
    const { url, call, batch } = await start({ clock, latencyMs: 1, connections: 2 });
    const open = [held(url, `/3.0/lists/${LIST}/merge-fields`), held(url, '/3.0/lists/nope')];
    await clock.untilHolding(2);
    expect((await batch({ members: [] })).body.detail).toBe('You have exceeded the limit of 2 simultaneous connections.');
    expect((await call('/3.0/ping', { auth: null })).status).toBe(429);
    clock.release(2);
    expect(await Promise.all(open)).toEqual([200, 404]);
  });

  it('frees the slot of a client that went away before its answer', async () => {
    const clock = new GateClock();
    const { url, mock } = await start({ clock, latencyMs: 1, connections: 1 });
    const serverSocketClosed = new Promise<void>((resolve) => mock.once('connection', (socket: Socket) => socket.once('close', () => resolve())));
    const gone = httpRequest(`${url}/3.0/ping`, { agent: false, headers: { authorization: basic('x', KEY) } });
    gone.on('error', () => undefined);
    gone.end();
    await clock.untilHolding(1);
    gone.destroy();
    await serverSocketClosed;
    const next = held(url);
    await clock.untilHolding(2);
    clock.release(2);
    expect(await next).toBe(200);
    expect(mock.stats()).toMatchObject({ requests: 2, tooManyConnections: 0 });
  });
});

describe('stopping', () => {
  it('cuts the requests it holds instead of waiting out their latency', async () => {
    const clock = new GateClock();
    const { url, mock } = await start({ clock, latencyMs: 3_600_000 });
    const cut = (): Promise<string | undefined> =>
      new Promise((resolve) => {
        const req = httpRequest(`${url}/3.0/ping`, { agent: false, headers: { authorization: basic('x', KEY) } }, (res) => resolve(`answered ${res.statusCode}`));
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code));
        req.end();
      });
    const outcomes = Promise.all([cut(), cut()]);
    await clock.untilHolding(2);
    await close(mock);
    expect(await outcomes).toEqual(['ECONNRESET', 'ECONNRESET']);
    expect(clock.holding).toBe(0);
  });
});

describe('faults', () => {
  /** Plays back the draws given: the first decides whether to fail, the next which way. */
  const draws = (...values: number[]): Random => () => values.shift() ?? 0.99;

  it('resets the connection', async () => {
    const { url, mock } = await start({ failRate: 0.5, random: draws(0.1, 0.05) });
    const error = await fetch(`${url}/3.0/ping`, { headers: { authorization: basic('x', KEY) } }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(mock.stats().failures).toBe(1);
  });

  it('answers 500 without processing the batch, or after processing it', async () => {
    const { batch, mock } = await start({ failRate: 0.5, random: draws(0.1, 0.3, 0.9, 0.1, 0.3, 0.2) });
    const lost = await batch({ members: [subscribe('a@example.com')] });
    expectProblem(lost, 500, 'Internal Server Error', 'An unexpected internal error has occurred. Please contact Support for more information.');
    expect(mock.member(LIST, 'a@example.com')).toBeUndefined();
    const processed = await batch({ members: [subscribe('a@example.com')] });
    expect(processed.status).toBe(500);
    expect(mock.member(LIST, 'a@example.com')).toMatchObject({ status: 'subscribed' });
    expect(mock.stats()).toMatchObject({ failures: 2, created: 1 });
  });

  it('answers 503 in HTML, as an edge in front of the API does', async () => {
    const { call } = await start({ failRate: 0.5, random: draws(0.1, 0.8) });
    const answer = await call(`/3.0/lists/${LIST}/merge-fields`);
    expect(answer.status).toBe(503);
    expect(answer.contentType).toBe('text/html');
    expect(answer.body).toContain('503 Service Temporarily Unavailable');
  });

  it('fails none when the draw is at or above the rate, and never fails a refused request', async () => {
    const { call, batch, mock } = await start({ failRate: 0.5, random: draws(0.5) });
    expect((await call('/3.0/ping')).status).toBe(200);
    expect((await call('/3.0/ping', { auth: null })).status).toBe(401);
    expect((await batch('nope')).status).toBe(400);
    expect(mock.stats().failures).toBe(0);
  });

  it('fails about the share asked for, reproducibly with a seed', async () => {
    const run = async () => {
      const { call, mock } = await start({ failRate: 0.3, random: seededRandom(42) });
      const statuses: (number | string)[] = [];
      for (let i = 0; i < 40; i++) statuses.push(await call('/3.0/ping').then((answer) => answer.status, () => 'reset'));
      return { statuses, failures: mock.stats().failures };
    };
    const [a, b] = [await run(), await run()];
    expect(a).toEqual(b);
    expect(a.failures).toBe(a.statuses.filter((status) => status !== 200).length);
    expect(a.failures).toBeGreaterThan(4);
    expect(a.failures).toBeLessThan(20);
  });
});

describe('test hooks', () => {
  it('GET /__mock/stats: counts API requests (not the hooks) and the most arrivals within 1000 ms', async () => {
    const clock = new GateClock();
    const { url, call } = await start({ clock });
    await call('/3.0/ping');
    clock.time += 400;
    await call('/3.0/ping', { auth: null });
    clock.time += 700;
    await call('/3.0/ping');
    await call('/3.0/ping');
    await fetch(`${url}/__mock/stats`);
    const stats = await (await fetch(`${url}/__mock/stats`)).json();
    expect(stats).toEqual({ requests: 4, tooManyConnections: 0, failures: 0, created: 0, updated: 0, errors: 0, maxConcurrent: 1, maxRequestsPerSecond: 3 });
  });

  it('GET /__mock/members: the member a list holds, 404 when none', async () => {
    const { url, batch } = await start({ lists: ['one', 'two'] });
    await batch({ members: [subscribe('m@example.com')] }, '', 'two');
    const found = await fetch(`${url}/__mock/members?list=two&email=M@EXAMPLE.COM`);
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({ id: md5('m@example.com'), email_address: 'm@example.com', list_id: 'two' });
    expect((await fetch(`${url}/__mock/members?list=one&email=m@example.com`)).status).toBe(404);
    expect((await fetch(`${url}/__mock/members?list=three&email=m@example.com`)).status).toBe(404);
    expect((await fetch(`${url}/__mock/members?email=m@example.com`)).status).toBe(404);
    expect((await fetch(`${url}/__mock/other`)).status).toBe(404);
    expect((await fetch(`${url}/__mock/stats`, { method: 'POST' })).status).toBe(405);
  });

  it('GET /__mock/members takes the only list when none is named', async () => {
    const { url, batch } = await start();
    await batch({ members: [subscribe('m@example.com')] });
    expect((await fetch(`${url}/__mock/members?email=m@example.com`)).status).toBe(200);
  });
});

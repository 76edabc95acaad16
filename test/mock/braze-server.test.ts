import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { DestinationClient } from '../../src/delivery/destination-client.js';
import { RateLimitedError } from '../../src/errors.js';
import { close, listen } from '../../src/http/server.js';
import { isBrazeEmail } from '../../src/mock/braze-email.js';
import { createBrazeMock, TRACK_PATH, type BrazeMockOptions } from '../../src/mock/braze-server.js';
import { encoded, targetOf } from '../helpers/targets.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- answers are read as the JSON they are */

const INVALID_EMAIL = "The value provided for the 'email' field is not a valid email.";
const NO_IDENTIFIER = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required";
const NOTHING_VALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => close(server)));
});

type Mock = ReturnType<typeof createBrazeMock>;

async function start(options: Partial<BrazeMockOptions> = {}): Promise<{ mock: Mock; url: string }> {
  const mock = createBrazeMock({ random: () => 0.99, ...options });
  servers.push(mock);
  return { mock, url: await listen(mock, 0) };
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function track(url: string, body: unknown, { authorization = 'Bearer test-key', path = TRACK_PATH, method = 'POST' } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization) headers.authorization = authorization;
  const res = await fetch(`${url}${path}`, { method, headers, body: method === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

const person = (email: string, extra: Record<string, unknown> = {}) => ({ email, first_name: 'Ann', last_name: 'Lee', ...extra });
const hook = async (url: string, path: string): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${url}/__mock/${path}`);
  return { status: res.status, body: await res.json() };
};

describe('braze mock: auth', () => {
  it('401 {"message":"Invalid API Key"} without a Bearer key, with a key in quotes, or with another key than --key', async () => {
    const { mock, url } = await start({ key: 'right-key' });
    for (const authorization of ['', 'Basic cmlnaHQta2V5', 'Bearer "right-key"', "Bearer 'right-key'", 'Bearer wrong-key']) {
      const answer = await track(url, { attributes: [person('ann@example.com')] }, { authorization });
      expect(answer, authorization).toMatchObject({ status: 401, body: { message: 'Invalid API Key' } });
    }
    expect(await track(url, { attributes: [person('ann@example.com')] }, { authorization: 'Bearer right-key' })).toMatchObject({ status: 201 });
    expect(mock.stats()).toMatchObject({ requests: 6, unauthorized: 5, accepted: 1 });
  });

  it('an unknown path or method is 404 {"message":"Invalid URL"}', async () => {
    const { url } = await start();
    expect(await track(url, {}, { path: '/users/trak' })).toMatchObject({ status: 404, body: { message: 'Invalid URL' } });
    expect(await track(url, {}, { method: 'GET' })).toMatchObject({ status: 404, body: { message: 'Invalid URL' } });
  });
});

describe('braze mock: the objects', () => {
  it('201 "success": valid objects stored, each invalid one named in errors[] by its index with Braze\'s type (an address Braze would not take, @suppressed.example, no identifier)', async () => {
    const { mock, url } = await start();
    const answer = await track(url, {
      attributes: [person('ann@example.com', { tags: ['vip'], plan: 'pro' }), person('x@suppressed.example'), { first_name: 'Nobody' }, person('bob@example.com'), person('a..@example.com')],
    });
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({
      message: 'success',
      attributes_processed: 2,
      errors: [
        { type: INVALID_EMAIL, input_array: 'attributes', index: 1 },
        { type: NO_IDENTIFIER, input_array: 'attributes', index: 2 },
        { type: INVALID_EMAIL, input_array: 'attributes', index: 4 },
      ],
    });
    expect(mock.user('ANN@example.com')).toEqual({ email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee', tags: ['vip'], plan: 'pro' });
    expect((await hook(url, 'users?email=bob@example.com')).body).toMatchObject({ email: 'bob@example.com' });
    expect((await hook(url, 'users?email=x@suppressed.example')).status).toBe(404);
    expect(mock.stats()).toMatchObject({ accepted: 2, rejected: 3, created: 2, users: 2 });
  });

  it('an email-only object creates the user; a second one updates it, null removes an attribute; update-only for an unknown user creates nothing', async () => {
    const { mock, url } = await start();
    await track(url, { attributes: [person('ann@example.com', { plan: 'pro', city: 'Oslo' })] });
    await track(url, { attributes: [{ email: 'ann@example.com', plan: 'max', city: null }, { email: 'new@example.com', _update_existing_only: true, plan: 'x' }] });
    expect(mock.user('ann@example.com')).toEqual({ email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee', plan: 'max' });
    expect(mock.user('new@example.com')).toBeUndefined();
    expect(mock.stats()).toMatchObject({ accepted: 3, created: 1, updated: 1, skipped: 1, users: 1, updatedMoreThanOnce: { 'ann@example.com': 2 } });
  });

  it('400 naming every object when none in the request is valid; 400 "Bad Request" for a body that is not the documented shape', async () => {
    const { mock, url } = await start();
    expect(await track(url, { attributes: [person('x@suppressed.example'), { last_name: 'Lee' }] })).toMatchObject({
      status: 400,
      body: { message: NOTHING_VALID, errors: [{ type: INVALID_EMAIL, input_array: 'attributes', index: 0 }, { type: NO_IDENTIFIER, input_array: 'attributes', index: 1 }] },
    });
    expect(await track(url, {})).toMatchObject({ status: 400, body: { message: NOTHING_VALID } });
    for (const body of ['{"attributes":[', '[]', { attributes: { email: 'ann@example.com' } }]) {
      expect(await track(url, body)).toMatchObject({ status: 400, body: { message: 'Bad Request' } });
    }
    expect(mock.stats()).toMatchObject({ badRequests: 5, rejected: 2, users: 0 });
  });

  it('more than 75 objects of a kind: 400 "Max Input Length Exceeded", nothing stored, counted as over the limit', async () => {
    const { mock, url } = await start();
    const many = Array.from({ length: 76 }, (_, i) => person(`u${i}@example.com`));
    expect(await track(url, { attributes: many })).toMatchObject({ status: 400, body: { message: 'Max Input Length Exceeded' } });
    expect(await track(url, { attributes: many.slice(0, 75) })).toMatchObject({ status: 201, body: { attributes_processed: 75 } });
    expect(mock.stats()).toMatchObject({ overObjectLimit: 1, maxObjectsPerRequest: 76, users: 75 });
  });
});

describe('braze mock: rate limit', () => {
  it('every answer carries X-RateLimit-Limit/Remaining/Reset and a Date from its clock; past the limit in a window, 429 until the window resets', async () => {
    // 1.5 s into a 3 s window that started at …15:30:00.
    const clock = new VirtualClock(Date.parse('2026-01-20T15:30:01.500Z'));
    const { mock, url } = await start({ clock, rate: { limit: 2, windowMs: 3000 } });
    const reset = String(Date.parse('2026-01-20T15:30:03.000Z') / 1000);
    const first = await track(url, { attributes: [person('ann@example.com')] });
    expect(Object.fromEntries(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'date'].map((name) => [name, first.headers.get(name)]))).toEqual({
      'x-ratelimit-limit': '2',
      'x-ratelimit-remaining': '1',
      'x-ratelimit-reset': reset,
      date: 'Tue, 20 Jan 2026 15:30:01 GMT',
    });
    await track(url, { attributes: [person('bob@example.com')] });
    const limited = await track(url, { attributes: [person('cy@example.com')] });
    expect(limited).toMatchObject({ status: 429, body: { message: 'Over rate limit' } });
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('x-ratelimit-reset')).toBe(reset);
    expect(mock.user('cy@example.com')).toBeUndefined();

    // Our client reads that answer as a pause until the reset, measured on Braze's Date: 2 s (the Date's whole second errs long, never short).
    const target = targetOf('braze', url, { credential: 'test-key' });
    const error = await new DestinationClient(target).send('b-1', [encoded(target, { email: 'cy@example.com', firstName: 'Cy', lastName: 'Young' })]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ retryAfterMs: 2000, detail: 'Over rate limit' });

    clock.advance(1500);
    expect(await track(url, { attributes: [person('cy@example.com')] })).toMatchObject({ status: 201 });
    expect(mock.stats()).toMatchObject({ requests: 5, rateLimited: 2, maxRequestsPer3s: 5, maxRequestsPerSecond: 4 });
  });

  it('a 401 does not count against the workspace\'s window', async () => {
    const { url } = await start({ rate: { limit: 1, windowMs: 3000 }, key: 'k' });
    await track(url, {}, { authorization: 'Bearer nope' });
    expect(await track(url, { attributes: [person('ann@example.com')] }, { authorization: 'Bearer k' })).toMatchObject({ status: 201 });
  });
});

describe('braze mock: injected failures', () => {
  const draws = (...values: number[]) => () => values.shift() ?? 0.99;

  it('a 500 may come after the objects were processed; 502/503/504 are the edge\'s HTML pages; a reset answers nothing', async () => {
    // fail, 500, processed anyway │ fail, 502 │ fail, reset
    const { mock, url } = await start({ failRate: 0.5, random: draws(0.1, 0.3, 0.2, 0.1, 0.6, 0.1, 0.05) });
    expect(await track(url, { attributes: [person('ann@example.com')] })).toMatchObject({ status: 500, body: { message: 'Internal Server Error' } });
    expect(mock.user('ann@example.com')).toBeDefined();
    const edge = await track(url, { attributes: [person('bob@example.com')] });
    expect(edge.status).toBe(502);
    expect(edge.text).toMatch(/^<html>.*502 Bad Gateway/);
    await expect(track(url, { attributes: [person('cy@example.com')] })).rejects.toThrow();
    expect(mock.stats()).toMatchObject({ failures: 3, users: 1 });
  });
});

describe("braze mock: Braze's email syntax", () => {
  it.each([
    ['ann@example.com', true],
    ['josé.ñandú@example.com', true],
    ["o'brien+tag@example.co.uk", true],
    ['a@gmail.com', false],
    ['ab@gmail.com', true],
    ['.ann@example.com', false],
    ['ann.@example.com', false],
    ['an n@example.com', false],
    ['a"b@example.com', false],
    ['ann@exämple.com', false],
    ['ann@xn--exmple-cua.com', true],
    ['ann@1.2.3.4', false],
    ['ann@[1.2.3.4]', false],
    ['ann@example', false],
    ['ann@suppressed.example', false],
    ['ann@host.test', false],
    ['a$b@outlook.com', false],
    ['a.b+x$y@hotmail.com', true],
  ])('%s → %s', (email, valid) => {
    expect(isBrazeEmail(email)).toBe(valid);
  });
});

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import type { Logger } from '../logging/logger.js';
import { requestUrl, sendJson } from '../http/server.js';

export const DEFAULT_USERS_FIXTURE = new URL('../../fixtures/reqres/users.json', import.meta.url);

export interface ReqresMockOptions {
  users: readonly unknown[];
  perPage?: number;
  /** Share of requests that fail with 500, 503 or a connection reset. */
  failRate?: number;
  /** Requests allowed in any 1000 ms before answering 429; 0 = unlimited. */
  rate?: number;
  /**
   * Before each page it serves, add one user at the front and drop the oldest: a newest-first
   * listing that moves while a client pages through it (total and page count stay the same).
   */
  shift?: boolean;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface ReqresMockStats {
  requests: number;
  failures: number;
  rateLimited: number;
}

export function loadUsers(path: URL | string = DEFAULT_USERS_FIXTURE): unknown[] {
  return JSON.parse(readFileSync(path, 'utf8')) as unknown[];
}

/**
 * Imitates reqres.in's `GET /api/users?page=N` (same envelope, `x-api-key` required), with the
 * failures a flaky upstream shows: 500, 503, dropped connections, and 429 + Retry-After past the
 * rate limit.
 */
export function createReqresMock(options: ReqresMockOptions): Server & { stats: ReqresMockStats } {
  const { perPage = 6, failRate = 0, rate = 0, shift = false, random, logger } = options;
  let users = options.users;
  const arrivals = newUsers(users);
  const clock = options.clock ?? systemClock;
  const window = rate > 0 ? RateLimiter.perSecond(rate, clock) : undefined;
  const stats: ReqresMockStats = { requests: 0, failures: 0, rateLimited: 0 };
  const totalPages = Math.ceil(users.length / perPage);

  const server = createServer((req, res) => {
    stats.requests += 1;
    const url = requestUrl(req);
    const match = /^(\/api)?\/users\/?$/.exec(url.pathname);
    if (!match) return sendJson(res, 404, {});
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
    if (!req.headers['x-api-key']) return sendJson(res, 401, { error: 'Missing API key' });

    const wait = window?.tryAcquire() ?? 0;
    if (wait > 0) {
      stats.rateLimited += 1;
      return sendJson(res, 429, { error: 'Too many requests' }, { 'retry-after': String(Math.ceil(wait / 1000)) });
    }
    if (failRate > 0 && random() < failRate) {
      stats.failures += 1;
      const draw = random();
      logger?.debug({ stage: 'mock', url: req.url }, 'injecting failure');
      if (draw < 0.2) return req.socket.destroy();
      return sendJson(res, draw < 0.6 ? 500 : 503, { error: 'simulated failure' });
    }

    if (shift) users = [arrivals(), ...users.slice(0, -1)];
    const page = Math.max(1, Number.parseInt(url.searchParams.get('page') ?? '1', 10) || 1);
    const data = users.slice((page - 1) * perPage, page * perPage);
    sendJson(res, 200, {
      page,
      per_page: perPage,
      total: users.length,
      total_pages: totalPages,
      data,
      support: { url: 'https://reqres.in/#support-heading', text: 'Local mock of reqres.in for sync.' },
    });
  });
  return Object.assign(server, { stats });
}

/** Users that "sign up" while the mock runs (`shift`): ids after the largest in the fixture. */
function newUsers(users: readonly unknown[]): () => unknown {
  let id = Math.max(0, ...users.map((user) => Number((user as { id?: unknown } | null)?.id)).filter(Number.isSafeInteger));
  return () => {
    id += 1;
    return { id, email: `new.user.${id}@reqres.in`, first_name: 'New', last_name: `User ${id}`, avatar: `https://reqres.in/img/faces/${id}-image.jpg` };
  };
}

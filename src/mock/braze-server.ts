import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import { requestUrl, sendJson } from '../http/server.js';
import type { Logger } from '../logging/logger.js';
import { ArrivalPeak } from './arrival-window.js';
import { checkTrackRequest, INPUT_ARRAYS, MAX_OBJECTS, type CheckedObject, type InputArray } from './braze-track.js';
import { readBody, sameSecret, TOO_LARGE } from './request-body.js';

/**
 * Imitates Braze's `POST /users/track` as its public reference describes it. Where each behaviour
 * comes from (braze-docs paths; see also /work/notes/platforms/braze.md):
 * - path, Bearer REST API key, body `{attributes, events, purchases}`, the three answers (success,
 *   success with non-fatal `errors[]`, fatal): `_docs/_api/endpoints/user_data/post_user_track.md`;
 * - 401 for a wrong key or one written in quotes, 404 for an unknown URL, 429, 5xx:
 *   `_docs/_api/errors.md`; the 401 body `{"message":"Invalid API Key"}` and the 400 naming every
 *   object when none is valid: RudderStack's mocks (rudder-transformer
 *   `test/integrations/destinations/braze/network.ts`); 201 for success: third-party client tests;
 * - 75 objects of each kind per request, 3,000 requests per 3 s per workspace, and the
 *   `X-RateLimit-Limit/Remaining/Reset` (epoch seconds) headers on every answer:
 *   `_docs/_api/api_limits.md`, `_includes/rate_limits.md`;
 * - per-object checks (an identifier, a valid email): `user_attributes_object.md`, braze-email.ts.
 * Inferred where Braze documents no body: 404 `{"message":"Invalid URL"}` and 429
 * `{"message":"Over rate limit"}` (the descriptions in errors.md), 413 past 32 MB (no limit is
 * documented), HTML from the edge for injected 502/503/504.
 * `GET /__mock/stats` and `GET /__mock/users?email=…` tell tests what it saw and holds.
 */

export const TRACK_PATH = '/users/track';
/** Test hooks live under a prefix no Braze path uses. */
export const HOOKS_PREFIX = '/__mock/';
/** `/users/track`'s default limit since October 2024, per workspace (this mock is one workspace). */
export const DEFAULT_RATE = { limit: 3000, windowMs: 3000 };

const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Arrivals remembered for the peaks: past 10,000 a second the peaks report this bound. */
const REMEMBERED_ARRIVALS = 30_000;
const LISTED_REPEATS = 1000;

const MESSAGE_401 = 'Invalid API Key';
const MESSAGE_404 = 'Invalid URL';
const MESSAGE_429 = 'Over rate limit';

export interface BrazeMockOptions {
  /** The only REST API key accepted; without it, any non-empty key. */
  key?: string;
  /** The workspace's rate limit for /users/track, in fixed windows aligned on the epoch. */
  rate?: { limit: number; windowMs: number };
  /** Share of requests that fail: 500 (half of them after processing), 502, 503, 504, or a reset. */
  failRate?: number;
  latencyMs?: number;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface BrazeMockStats {
  /** Every request to a Braze path, whatever its answer. */
  requests: number;
  unauthorized: number;
  rateLimited: number;
  /** Requests refused as a whole (400: too many objects, bad syntax, nothing valid), and 413s. */
  badRequests: number;
  /** Requests carrying more than 75 objects of a kind (each refused 400 Max Input Length Exceeded). */
  overObjectLimit: number;
  /** Injected 5xx and resets. */
  failures: number;
  /** Attribute objects processed, and refused one by one (in a success's errors[] or a 400's). */
  accepted: number;
  rejected: number;
  /** Update-only objects for users Braze does not know: processed, nothing created. */
  skipped: number;
  created: number;
  updated: number;
  users: number;
  /** Most requests that arrived within any 1000 ms, and within any 3 s (the platform's window). */
  maxRequestsPerSecond: number;
  maxRequestsPer3s: number;
  maxConcurrent: number;
  /** Most objects of one kind seen in a request. */
  maxObjectsPerRequest: number;
  /** Users updated more than once, with how often (the first 1000). */
  updatedMoreThanOnce: Record<string, number>;
}

export type BrazeMock = Server & {
  stats(): BrazeMockStats;
  /** The attributes held for the user with this email (any case), or undefined. */
  user(email: string): Record<string, unknown> | undefined;
};

/** Braze's windows: fixed, so each has a reset time to announce (X-RateLimit-Reset). */
class FixedWindow {
  private index = -1;
  private used = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  private roll(now: number): void {
    const index = Math.floor(now / this.windowMs);
    if (index === this.index) return;
    this.index = index;
    this.used = 0;
  }

  tryAdmit(now: number): boolean {
    this.roll(now);
    if (this.used >= this.limit) return false;
    this.used += 1;
    return true;
  }

  headers(now: number): Record<string, string> {
    this.roll(now);
    return {
      'x-ratelimit-limit': String(this.limit),
      'x-ratelimit-remaining': String(Math.max(0, this.limit - this.used)),
      'x-ratelimit-reset': String(Math.ceil(((this.index + 1) * this.windowMs) / 1000)),
    };
  }
}

/** The key of `Authorization: Bearer KEY`; Braze refuses a key written in quotes (errors.md, 401). */
function bearerKey(header: string | undefined): string | undefined {
  const key = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  return key === undefined || /^['"]/.test(key) ? undefined : key;
}

const EDGE_PAGES: Record<number, string> = {
  502: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>',
  503: '<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>',
  504: '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>',
};

/** Keys of an attributes object that say who or how, not what to store. */
const NOT_STORED = new Set(['external_id', 'braze_id', 'user_alias', '_update_existing_only', 'push_token_import']);

export function createBrazeMock(options: BrazeMockOptions): BrazeMock {
  const { key, failRate = 0, latencyMs = 0, random, logger } = options;
  const clock = options.clock ?? systemClock;
  const rate = options.rate ?? DEFAULT_RATE;
  const window = new FixedWindow(rate.limit, rate.windowMs);
  const perSecond = new ArrivalPeak(1000, REMEMBERED_ARRIVALS);
  const perWindow = new ArrivalPeak(3000, REMEMBERED_ARRIVALS);
  const counters = {
    requests: 0,
    unauthorized: 0,
    rateLimited: 0,
    badRequests: 0,
    overObjectLimit: 0,
    failures: 0,
    accepted: 0,
    rejected: 0,
    skipped: 0,
    created: 0,
    updated: 0,
    maxConcurrent: 0,
    maxObjectsPerRequest: 0,
  };
  let inFlight = 0;
  // One JSON text per user: short GC pauses, which would otherwise delay arrivals.
  const users = new Map<string, string>();
  const repeats = new Map<string, number>();

  /** One attributes object applied: set each attribute, `null` removes one. False: update-only and unknown. */
  const applyAttributes = ({ userKey, updateOnly, object }: CheckedObject): boolean => {
    const stored = users.get(userKey);
    if (!stored && updateOnly) return false;
    const user = stored ? (JSON.parse(stored) as Record<string, unknown>) : {};
    for (const [name, value] of Object.entries(object)) {
      if (NOT_STORED.has(name)) continue;
      if (value === null) delete user[name];
      else user[name] = value;
    }
    users.set(userKey, JSON.stringify(user));
    if (stored) {
      counters.updated += 1;
      repeats.set(userKey, (repeats.get(userKey) ?? 1) + 1);
    } else {
      counters.created += 1;
    }
    return true;
  };

  /** A checked request processed: its answer's status and body. */
  const processTrack = (text: string): { status: number; body: object } => {
    const checked = checkTrackRequest(text);
    const largest = Math.max(...INPUT_ARRAYS.map((kind) => checked.counts[kind]));
    counters.maxObjectsPerRequest = Math.max(counters.maxObjectsPerRequest, largest);
    if ('refused' in checked) {
      counters.badRequests += 1;
      if (largest > MAX_OBJECTS) counters.overObjectLimit += 1;
      counters.rejected += (checked.refused.errors ?? []).filter((error) => error.input_array === 'attributes').length;
      return { status: 400, body: checked.refused };
    }
    const processed: Record<InputArray, number> = { attributes: 0, events: 0, purchases: 0 };
    for (const object of checked.objects) {
      processed[object.kind] += 1;
      if (object.kind !== 'attributes') continue;
      counters.accepted += 1;
      if (!applyAttributes(object)) counters.skipped += 1;
    }
    counters.rejected += checked.errors.filter((error) => error.input_array === 'attributes').length;
    const body: Record<string, unknown> = { message: 'success' };
    for (const kind of checked.sent) body[`${kind}_processed`] = processed[kind];
    if (checked.errors.length > 0) body.errors = checked.errors;
    return { status: 201, body };
  };

  const hooks = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
    if (url.pathname === `${HOOKS_PREFIX}stats`) return sendJson(res, 200, stats());
    if (url.pathname === `${HOOKS_PREFIX}users`) {
      const found = user(url.searchParams.get('email') ?? '');
      return found ? sendJson(res, 200, found) : sendJson(res, 404, { error: 'no such user' });
    }
    sendJson(res, 404, { error: 'not found' });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = requestUrl(req);
    if (url.pathname.startsWith(HOOKS_PREFIX)) return hooks(req, res, url);
    const now = clock.now();
    counters.requests += 1;
    perSecond.record(now);
    perWindow.record(now);
    inFlight += 1;
    counters.maxConcurrent = Math.max(counters.maxConcurrent, inFlight);
    res.once('close', () => (inFlight -= 1));
    logger?.debug({ stage: 'mock', method: req.method, path: url.pathname, arrivedAt: now }, 'arrival');

    // "Every single API request sent to Braze returns" the rate-limit headers; Date from the same clock.
    const headersAt = (at: number): Record<string, string> => ({ ...window.headers(at), date: new Date(at).toUTCString() });
    const respond = async (status: number, body: object): Promise<void> => {
      if (latencyMs > 0) await clock.sleep(latencyMs);
      sendJson(res, status, body, headersAt(clock.now()));
    };
    const edge = async (status: number): Promise<void> => {
      if (latencyMs > 0) await clock.sleep(latencyMs);
      const page = EDGE_PAGES[status]!;
      res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(page), ...headersAt(clock.now()) });
      res.end(page);
    };

    // Read before answering anything: a caller still sending its body would otherwise see a reset.
    const text = req.method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : '';
    if (text === undefined) return;

    if (url.pathname.replace(/\/+$/, '') !== TRACK_PATH || req.method !== 'POST') return respond(404, { message: MESSAGE_404 });
    const given = bearerKey(req.headers.authorization);
    if (given === undefined || (key !== undefined && !sameSecret(given, key))) {
      counters.unauthorized += 1;
      return respond(401, { message: MESSAGE_401 });
    }
    if (!window.tryAdmit(now)) {
      counters.rateLimited += 1;
      logger?.warn({ stage: 'mock', limit: rate.limit, windowMs: rate.windowMs }, 'rate limit exceeded: 429');
      return respond(429, { message: MESSAGE_429 });
    }

    if (failRate > 0 && random() < failRate) {
      counters.failures += 1;
      const draw = random();
      logger?.debug({ stage: 'mock', path: url.pathname }, 'injecting failure');
      if (draw < 0.15) return void req.socket.destroy();
      if (draw < 0.55) {
        // The ambiguous 500: half the time the request was processed before the error.
        if (typeof text === 'string' && random() < 0.5) processTrack(text);
        return respond(500, { message: 'Internal Server Error' });
      }
      return edge(draw < 0.7 ? 502 : draw < 0.85 ? 503 : 504);
    }

    if (text === TOO_LARGE) {
      counters.badRequests += 1;
      return respond(413, { message: `Request body larger than ${MAX_BODY_BYTES} bytes` });
    }
    const answer = processTrack(text);
    return respond(answer.status, answer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger?.error({ stage: 'mock', err: error }, 'mock failed to answer');
      if (!res.headersSent) sendJson(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });
  // Node waits 300 s for a request by default: a stalled client would hold its socket that long.
  server.requestTimeout = latencyMs + 60_000;
  server.headersTimeout = 30_000;

  const user = (email: string): Record<string, unknown> | undefined => {
    const stored = users.get(`email:${email.toLowerCase()}`);
    return stored === undefined ? undefined : (JSON.parse(stored) as Record<string, unknown>);
  };

  const stats = (): BrazeMockStats => ({
    ...counters,
    users: users.size,
    maxRequestsPerSecond: perSecond.peak,
    maxRequestsPer3s: perWindow.peak,
    updatedMoreThanOnce: Object.fromEntries([...repeats].slice(0, LISTED_REPEATS).map(([userKey, times]) => [userKey.replace(/^email:/, ''), times])),
  });

  return Object.assign(server, { stats, user });
}

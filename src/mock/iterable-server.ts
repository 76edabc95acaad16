import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import { requestUrl, sendJson } from '../http/server.js';
import type { Logger } from '../logging/logger.js';
import { bodyPending, discardRest } from '../serve/request-body.js';
import { ArrivalPeak, RollingWindow } from './arrival-window.js';
import { IterableProject, MAX_USERS, readBulkRequest, type FieldType, type StoredUser, type TypeMismatchMode } from './iterable-project.js';
import { readBodyUpTo, sameSecret } from './request-body.js';

/*
 * `sync mock iterable`: Iterable's bulk user update, as far as its public reference and recorded
 * exchanges describe it (/work/notes/platforms/iterable.md):
 * - POST /api/users/bulkUpdate, header `Api-Key`, `{users:[{email|userId, dataFields, preferUserId,
 *   mergeNestedObjects}], createNewFields}`: Block's Go client block/iterable-go (api/users.go,
 *   types/users.go) and Iterable's OpenAPI (as generated in idihyaabde/iterable-php
 *   docs/Api/UsersApi.md: users are created when missing, data merged, types fixed).
 * - The 200 answer `{successCount, failCount, invalidEmails, filteredOutFields, createdFields,
 *   noOpEmails, failedUpdates:{…Emails, …UserIds}}`: RudderStack's recorded answers
 *   (rudder-transformer test/integrations/destinations/iterable/dataDelivery/network.ts); a
 *   malformed address is named at the top and in failedUpdates, as recorded there.
 * - Body errors: 400 `BadJsonBody` with play-json paths (same RudderStack recordings).
 * - Type mismatch: the user alone in failedUpdates.invalidDataEmails (Block's types/users.go and
 *   batch/batch_errors.go "Invalid Data"), the default; or, with `--type-mismatch request`, the whole
 *   request refused with 400 `RequestFieldsTypesMismatched` in the words Grouparoo recorded in 2021
 *   (plugins/@grouparoo/iterable/__tests__/fixtures), as Block's batch/user_update.go handles it.
 * - 401 `{msg:"Invalid API key", code:"BadApiKey", params:{ip, endpoint}}`; 429 `{msg:"Exceeded
 *   rate limit.", code:"RateLimitExceeded"}`: third-party fixtures. No rate-limit header is
 *   documented: Retry-After only with `--retry-after`.
 * - Limits: 1,000 users (more: 400 BadParams, an inference) and 4,000,000 bytes (more: 413, the
 *   status Block's client handles as ContentTooLarge) a request, 5 requests/s per API key
 *   (RudderStack's README and config.js).
 * - An unknown path is Play's HTML "Action not found" 404 (third-party notes).
 * Every API key is its own project (keys are project-scoped): its users, its field types, its rate.
 */

export const BULK_UPDATE_PATH = '/api/users/bulkUpdate';
export const GET_FIELDS_PATH = '/api/users/getFields';
export const GET_USER_PATH = '/api/users/getByEmail';
export const DEFAULT_RATE = 5;
/** "4MB", counted as RudderStack counts it. */
export const MAX_BODY_BYTES = 4_000_000;
/** Arrivals remembered for the peak: past this many in 1000 ms the peak reported is this bound. */
const REMEMBERED_ARRIVALS = 100_000;
/** Projects opened by the keys callers send (when `keys` is not given); past it, a new key gets 401. */
export const MAX_PROJECTS = 1000;
/** The first project's number (Iterable names it in type mismatch messages). */
const FIRST_PROJECT = 10216;

export interface IterableMockOptions {
  /** The only API keys accepted, one project each; without them any non-empty key is (a project per key). */
  keys?: readonly string[];
  /** Projects any key may open when `keys` is not given (default MAX_PROJECTS); a new key past it gets 401. */
  maxProjects?: number;
  /** Bulk updates per API key allowed to arrive in any 1000 ms (429 past it). */
  rate?: number;
  typeMismatch?: TypeMismatchMode;
  /** Whether a project takes data fields it does not know yet (unless a request's createNewFields says). */
  newFields?: 'create' | 'drop';
  /** Data fields every project has from the start, with their type. */
  fields?: readonly { name: string; type: FieldType }[];
  /** Seconds sent as Retry-After with a 429 (Iterable documents none; default: no header). */
  retryAfter?: number;
  /** Share of requests that fail: 500 (half of the bulk updates processed first), 502, 503, 504, or a reset. */
  failRate?: number;
  latencyMs?: number;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface IterableMockStats {
  /** API requests that arrived (the /__mock/ hooks are not counted), whatever their answer. */
  requests: number;
  rateLimited: number;
  unauthorized: number;
  /** 400s: malformed bodies, too many users, type mismatches (request mode). */
  badRequests: number;
  /** Injected 5xx and resets. */
  failures: number;
  /** Users updated or created. */
  usersAccepted: number;
  /** Users refused one by one inside a 200 (failedUpdates). */
  usersRefused: number;
  /** Requests (request mode) or users (per-user mode) refused because a field's type did not match. */
  typeMismatches: number;
  /** Most requests that arrived within any 1000 ms: all of them, and bulk updates of one key (the limit's scope). */
  maxRequestsPerSecond: number;
  maxRequestsPerSecondPerKey: number;
  maxConcurrent: number;
  /** Requests over Iterable's limits: more users, more bytes than one request may carry. */
  overLimit: { users: number; bytes: number };
  largestRequestUsers: number;
  largestRequestBytes: number;
  /** Users held, all projects together. */
  users: number;
}

export type IterableMock = Server & {
  stats(): IterableMockStats;
  /** The user a project holds for this email (the only project when `key` is not given). */
  user(email: string, key?: string): StoredUser | undefined;
  fields(key?: string): Record<string, FieldType> | undefined;
};

const ACTION_NOT_FOUND = (method: string, path: string): string =>
  `<!DOCTYPE html><html><head><title>Action not found</title></head><body><h1>Action not found</h1><p>For request '${method} ${path}'</p></body></html>`;
const TOO_LARGE_HTML = '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n';
const GATEWAY_HTML = (status: number, text: string): string => `<html><head><title>${status} ${text}</title></head><body><center><h1>${status} ${text}</h1></center></body></html>`;
const HEADERS = { 'content-type': 'application/json; charset=utf-8', server: 'iterable-ingress mock' };

/** Imitates Iterable's bulkUpdate (and getFields, getByEmail), with `/__mock/stats|users|fields` for tests. */
export function createIterableMock(options: IterableMockOptions): IterableMock {
  const { rate = DEFAULT_RATE, maxProjects = MAX_PROJECTS, typeMismatch = 'per-user', newFields = 'create', failRate = 0, latencyMs = 0, random, logger } = options;
  const clock = options.clock ?? systemClock;
  const projects = new Map<string, { project: IterableProject; window: RollingWindow; peak: ArrivalPeak }>();
  const newProject = () => ({
    project: new IterableProject({ id: FIRST_PROJECT + projects.size, typeMismatch, newFields, fields: options.fields }),
    window: new RollingWindow(rate, 1000),
    peak: new ArrivalPeak(1000, REMEMBERED_ARRIVALS),
  });
  for (const key of options.keys ?? []) if (!projects.has(key)) projects.set(key, newProject());
  const perSecond = new ArrivalPeak(1000, REMEMBERED_ARRIVALS);
  const counters = {
    requests: 0,
    rateLimited: 0,
    unauthorized: 0,
    badRequests: 0,
    failures: 0,
    usersAccepted: 0,
    usersRefused: 0,
    typeMismatches: 0,
    maxConcurrent: 0,
    largestRequestUsers: 0,
    largestRequestBytes: 0,
  };
  const overLimit = { users: 0, bytes: 0 };
  let inFlight = 0;

  /** The project of this key, or undefined when the key is refused. */
  const projectOf = (key: string | undefined) => {
    if (!key) return undefined;
    if (options.keys?.length) {
      const known = [...projects.keys()].find((candidate) => sameSecret(key, candidate));
      return known === undefined ? undefined : projects.get(known);
    }
    let found = projects.get(key);
    // Any key opens a project, up to a bound: a caller trying keys cannot grow the mock without end.
    if (!found && projects.size < maxProjects) projects.set(key, (found = newProject()));
    return found;
  };

  const bulkUpdate = (project: IterableProject, text: string, now: number): { status: number; body: object } => {
    const request = readBulkRequest(text);
    if ('status' in request) {
      const users = (() => {
        try {
          const parsed = JSON.parse(text) as { users?: unknown };
          return Array.isArray(parsed.users) ? parsed.users.length : 0;
        } catch {
          return 0;
        }
      })();
      if (users > MAX_USERS) overLimit.users += 1;
      counters.largestRequestUsers = Math.max(counters.largestRequestUsers, users);
      counters.badRequests += 1;
      return request;
    }
    counters.largestRequestUsers = Math.max(counters.largestRequestUsers, request.users.length);
    const outcome = project.apply(request, now);
    counters.usersAccepted += outcome.accepted;
    counters.usersRefused += outcome.refused;
    counters.typeMismatches += outcome.typeMismatches;
    if (outcome.status === 400) counters.badRequests += 1;
    return outcome;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const now = clock.now();
    counters.requests += 1;
    perSecond.record(now);
    inFlight += 1;
    counters.maxConcurrent = Math.max(counters.maxConcurrent, inFlight);
    res.once('close', () => (inFlight -= 1));
    const reply = async (status: number, body: object | string, headers: Record<string, string> = {}): Promise<void> => {
      if (latencyMs > 0) await clock.sleep(latencyMs);
      if (bodyPending(req)) discardRest(req);
      if (typeof body === 'object') return sendJson(res, status, body, { ...HEADERS, ...headers });
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), server: HEADERS.server, ...headers });
      res.end(body);
    };

    const route = url.pathname === BULK_UPDATE_PATH ? 'POST' : url.pathname === GET_FIELDS_PATH || url.pathname === GET_USER_PATH ? 'GET' : undefined;
    if (route !== req.method) return reply(404, ACTION_NOT_FOUND(req.method ?? 'GET', url.pathname));
    // The ingress measures the body before the API sees the request.
    const body = route === 'POST' ? await readBodyUpTo(req, MAX_BODY_BYTES) : { text: '' };
    if ('gone' in body) return;
    if ('tooLarge' in body) {
      overLimit.bytes += 1;
      counters.largestRequestBytes = Math.max(counters.largestRequestBytes, Number(req.headers['content-length']) || MAX_BODY_BYTES + 1);
      return reply(413, TOO_LARGE_HTML);
    }
    counters.largestRequestBytes = Math.max(counters.largestRequestBytes, Buffer.byteLength(body.text));

    const header = req.headers['api-key'];
    const found = projectOf(Array.isArray(header) ? header[0] : header);
    if (!found) {
      counters.unauthorized += 1;
      return reply(401, { msg: 'Invalid API key', code: 'BadApiKey', params: { ip: req.socket.remoteAddress ?? '', endpoint: url.pathname } });
    }
    // bulkUpdate's own limit: Iterable limits each endpoint apart.
    if (route === 'POST') found.peak.record(now);
    if (route === 'POST' && !found.window.tryAdmit(now)) {
      counters.rateLimited += 1;
      logger?.warn({ stage: 'mock', path: url.pathname }, 'rate limit exceeded: 429');
      return reply(429, { msg: 'Exceeded rate limit.', code: 'RateLimitExceeded', params: null }, options.retryAfter === undefined ? {} : { 'retry-after': String(options.retryAfter) });
    }

    if (failRate > 0 && random() < failRate) {
      counters.failures += 1;
      const draw = random();
      logger?.debug({ stage: 'mock', path: url.pathname }, 'injecting failure');
      if (draw < 0.15) return void req.socket.destroy();
      if (draw < 0.55) {
        // The ambiguous 500: half the time the users were updated before the error.
        if (route === 'POST' && random() < 0.5) bulkUpdate(found.project, body.text, now);
        return reply(500, { msg: 'Internal Server Error', code: 'GenericError', params: null });
      }
      if (draw < 0.7) return reply(502, GATEWAY_HTML(502, 'Bad Gateway'));
      if (draw < 0.85) return reply(503, { msg: 'Service temporarily unavailable', code: 'GenericError', params: null });
      return reply(504, GATEWAY_HTML(504, 'Gateway Time-out'));
    }

    if (url.pathname === GET_FIELDS_PATH) return reply(200, { fields: found.project.fieldTypes() });
    if (url.pathname === GET_USER_PATH) {
      const user = found.project.user(url.searchParams.get('email') ?? '');
      return reply(200, user ? { user } : {});
    }
    const answer = bulkUpdate(found.project, body.text, now);
    return reply(answer.status, answer.body);
  };

  const projectFor = (key: string | null | undefined): IterableProject | undefined => {
    if (key) return projects.get(key)?.project;
    return projects.size === 1 ? [...projects.values()][0]!.project : undefined;
  };

  /** Test hooks, under a prefix no Iterable path uses. */
  const hooks = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
    if (url.pathname === '/__mock/stats') return sendJson(res, 200, stats());
    const project = projectFor(url.searchParams.get('key'));
    const which = projects.size === 0 ? 'no project yet' : 'give ?key= (one project per API key)';
    if (url.pathname === '/__mock/fields') return project ? sendJson(res, 200, project.fieldTypes()) : sendJson(res, 404, { error: which });
    if (url.pathname !== '/__mock/users') return sendJson(res, 404, { error: 'not found' });
    if (!project) return sendJson(res, 404, { error: which });
    const user = project.user(url.searchParams.get('email') ?? '');
    return user ? sendJson(res, 200, user) : sendJson(res, 404, { error: 'no such user' });
  };

  const server = createServer((req, res) => {
    const url = requestUrl(req);
    if (url.pathname.startsWith('/__mock/')) return hooks(req, res, url);
    handle(req, res, url).catch((error: unknown) => {
      logger?.error({ stage: 'mock', err: error }, 'mock failed to answer');
      if (!res.headersSent) sendJson(res, 500, { msg: 'Internal Server Error', code: 'GenericError', params: null });
      else res.destroy();
    });
  });
  // Node waits 300 s for a request by default; a stalled caller must not hold a connection that long.
  server.requestTimeout = latencyMs + 60_000;
  server.headersTimeout = 30_000;

  const stats = (): IterableMockStats => ({
    ...counters,
    maxRequestsPerSecond: perSecond.peak,
    maxRequestsPerSecondPerKey: Math.max(0, ...[...projects.values()].map(({ peak }) => peak.peak)),
    overLimit: { ...overLimit },
    users: [...projects.values()].reduce((sum, { project }) => sum + project.size, 0),
  });
  const user = (email: string, key?: string): StoredUser | undefined => projectFor(key)?.user(email);
  const fields = (key?: string): Record<string, FieldType> | undefined => projectFor(key)?.fieldTypes();
  return Object.assign(server, { stats, user, fields });
}

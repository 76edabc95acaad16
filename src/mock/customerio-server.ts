import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import { requestUrl, sendJson } from '../http/server.js';
import type { Logger } from '../logging/logger.js';
import { ArrivalPeak, RollingWindow } from './arrival-window.js';
import { checkEntry, MAX_REQUEST_BYTES, readBatch, type EntryError, type Identify } from './customerio-batch.js';
import { sameSecret } from './request-body.js';

/*
 * Imitates Customer.io's Track API v2 batch call, as its public reference describes it (sources in
 * /work/notes/platforms/customerio.md; tags as there):
 * - `POST /api/v2/batch` [customerio-node lib/track.ts; OpenAPI operation "batch"];
 * - HTTP Basic `SITE_ID:API_KEY` [customerio-node lib/request.ts]; refused → 401 with no body
 *   [OpenAPI: `{401, null}`];
 * - 200 with `{}` when every entry is taken [customerio-node test/fixtures/responses/batch__success.json,
 *   recorded live], 207 `{errors:[{batch_index, reason, field, message}]}` listing only the refused
 *   entries [OpenAPI 207; RudderStack; Customer.io staff on segmentio/action-destinations#3657];
 * - a request refused as a whole: 400 with Customer.io's `{meta:{error}}` envelope
 *   [docs.customer.io/journeys/invalid-api-requests], a body over 500 KB included [INF: status];
 * - the fair-use limit, 100 requests/s per workspace [docs via apis.io; notes: "use 100 rps"],
 *   answered 429 with `Retry-After` [INF from customerio-node's respectRetryAfter; body undocumented];
 * - per-entry checks in ./customerio-batch.ts.
 * `GET /__mock/stats` and `GET /__mock/people?email=…` tell tests what it saw and holds.
 */

export const BATCH_PATH = '/api/v2/batch';
/** Customer.io's fair-use limit on the Track API: requests per second per workspace. */
export const DEFAULT_RATE = 100;
/** Bytes read of a body before the connection is cut (a body over 500 KB is read on to here, then answered). */
const MAX_READ_BYTES = 8 * 1024 * 1024;
/** Arrivals remembered for the per-second peak. */
const REMEMBERED_ARRIVALS = 100_000;

export interface CustomerioMockOptions {
  /** The only site id and API key accepted; without them, any non-empty pair is. */
  siteId?: string;
  apiKey?: string;
  /** Requests admitted in any 1000 ms (past it, 429). */
  rate?: number;
  /** Share of requests that fail: 500 (half of the batches processed first), 502, 503, 504, or a reset. */
  failRate?: number;
  latencyMs?: number;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface CustomerioMockStats {
  /** Every request to an API path, whatever its answer. */
  requests: number;
  unauthorized: number;
  rateLimited: number;
  /** Requests refused as a whole (400), the oversized ones included. */
  badRequests: number;
  /** Injected 5xx and resets. */
  failures: number;
  /** Entries taken, and entries refused one by one (in a 207). */
  accepted: number;
  rejected: number;
  people: number;
  /** Most requests that arrived within any 1000 ms, and most handled at once. */
  maxRequestsPerSecond: number;
  maxConcurrent: number;
  /** Bytes of every request body read (for throughput in bytes/s), the largest request body and entry seen, the most entries in one request. */
  requestBytes: number;
  maxRequestBytes: number;
  maxEntryBytes: number;
  maxEntries: number;
  /** What went over Customer.io's limits: bodies over 500,000 bytes, entries over 32,000. */
  oversizedRequests: number;
  oversizedEntries: number;
}

export interface CustomerioPerson {
  identifiers: { email?: string; id?: string };
  attributes: Record<string, unknown>;
  /** Unix seconds, as Customer.io keeps timestamps. */
  created_at: number;
  updated_at: number;
}

export type CustomerioMock = Server & { stats(): CustomerioMockStats; person(email: string): CustomerioPerson | undefined };

type Body = { text: string; bytes: number } | { tooLarge: number } | { gone: true };

/** The whole body; past MAX_REQUEST_BYTES it is read and dropped (so the caller gets the answer), past MAX_READ_BYTES cut. */
function readBody(req: IncomingMessage): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
      else if (size > MAX_READ_BYTES) req.destroy();
    });
    req.on('end', () => resolve(size > MAX_REQUEST_BYTES ? { tooLarge: size } : { text: Buffer.concat(chunks).toString('utf8'), bytes: size }));
    req.on('close', () => resolve({ gone: true }));
  });
}

/** The site id and API key of an HTTP Basic header, when both are there. */
function basicPair(header: string | undefined): { siteId: string; apiKey: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) return undefined;
  return { siteId: decoded.slice(0, colon), apiKey: decoded.slice(colon + 1) };
}

function same(given: string, expected: string | undefined): boolean {
  return expected === undefined || sameSecret(given, expected);
}

const GATEWAY_HTML = (status: number, title: string): string =>
  `<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n<title>Error ${status} (${title})!!1</title>\n<p><b>${status}.</b> <ins>That’s an error.</ins>\n<p>The server encountered a temporary error and could not complete your request.<p>Please try again in 30 seconds. <ins>That’s all we know.</ins>\n`;

export function createCustomerioMock(options: CustomerioMockOptions): CustomerioMock {
  const { failRate = 0, latencyMs = 0, random, logger } = options;
  const clock = options.clock ?? systemClock;
  const window = new RollingWindow(options.rate ?? DEFAULT_RATE, 1000);
  const perSecond = new ArrivalPeak(1000, REMEMBERED_ARRIVALS);
  const counters = {
    requests: 0,
    unauthorized: 0,
    rateLimited: 0,
    badRequests: 0,
    failures: 0,
    accepted: 0,
    rejected: 0,
    maxConcurrent: 0,
    requestBytes: 0,
    maxRequestBytes: 0,
    maxEntryBytes: 0,
    maxEntries: 0,
    oversizedRequests: 0,
    oversizedEntries: 0,
  };
  let inFlight = 0;
  // As JSON text: one string per person keeps the heap (and GC pauses) small.
  const people = new Map<string, string>();

  const identify = ({ key, attributes }: Identify, now: number): void => {
    const id = `${key.kind}:${key.value}`;
    const stored = people.get(id);
    const seconds = Math.floor(now / 1000);
    const person: CustomerioPerson = stored ? (JSON.parse(stored) as CustomerioPerson) : { identifiers: { [key.kind]: key.value }, attributes: {}, created_at: seconds, updated_at: seconds };
    const merged = new Map(Object.entries(person.attributes));
    // null removes an attribute.
    for (const [name, value] of attributes) {
      if (value === null) merged.delete(name);
      else merged.set(name, value);
    }
    person.attributes = Object.fromEntries(merged);
    person.updated_at = seconds;
    people.set(id, JSON.stringify(person));
    counters.accepted += 1;
  };

  /** One batch: each entry checked, the good ones identified; 200 `{}` or 207 with the refused. */
  const processBatch = (entries: readonly unknown[], now: number): { status: number; body: object } => {
    counters.maxEntries = Math.max(counters.maxEntries, entries.length);
    const errors: EntryError[] = [];
    entries.forEach((entry, index) => {
      const checked = checkEntry(entry, index);
      if (Array.isArray(checked)) {
        errors.push(...checked);
        counters.rejected += 1;
        if (checked.some((error) => error.reason === 'too_large')) counters.oversizedEntries += 1;
        counters.maxEntryBytes = Math.max(counters.maxEntryBytes, Buffer.byteLength(JSON.stringify(entry) ?? ''));
        return;
      }
      counters.maxEntryBytes = Math.max(counters.maxEntryBytes, checked.bytes);
      identify(checked, now);
    });
    return errors.length === 0 ? { status: 200, body: {} } : { status: 207, body: { errors } };
  };

  const hooks = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
    if (url.pathname === '/__mock/stats') return sendJson(res, 200, stats());
    if (url.pathname === '/__mock/people') {
      const found = person(url.searchParams.get('email') ?? '');
      return found ? sendJson(res, 200, found) : sendJson(res, 404, { error: 'no such person' });
    }
    sendJson(res, 404, { error: 'not found' });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = requestUrl(req);
    if (url.pathname.startsWith('/__mock/')) return hooks(req, res, url);
    const now = clock.now();
    counters.requests += 1;
    perSecond.record(now);
    inFlight += 1;
    counters.maxConcurrent = Math.max(counters.maxConcurrent, inFlight);
    res.once('close', () => (inFlight -= 1));
    logger?.debug({ stage: 'mock', method: req.method, path: url.pathname, arrivedAt: now }, 'arrival');

    const respond = async (status: number, body: object | string | undefined, headers: Record<string, string> = {}): Promise<void> => {
      if (latencyMs > 0) await clock.sleep(latencyMs);
      if (typeof body === 'string') {
        res.writeHead(status, { 'content-type': 'text/html; charset=UTF-8', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
      } else if (body === undefined) {
        res.writeHead(status, { 'content-length': 0, ...headers }).end();
      } else {
        sendJson(res, status, body, { 'content-type': 'application/json; charset=utf-8', ...headers });
      }
    };
    const refuse = (status: number, error: string, headers?: Record<string, string>) => respond(status, { meta: { error } }, headers);

    // Read first: a caller still sending its body would otherwise see a reset instead of the answer.
    const body = req.method === 'POST' ? await readBody(req) : { text: '', bytes: 0 };
    if ('gone' in body) return;
    const bytes = 'tooLarge' in body ? body.tooLarge : body.bytes;
    counters.requestBytes += bytes;
    counters.maxRequestBytes = Math.max(counters.maxRequestBytes, bytes);

    if (url.pathname !== BATCH_PATH) return refuse(404, 'not found');
    if (req.method !== 'POST') return refuse(405, `method ${req.method} is not allowed`, { allow: 'POST' });
    const pair = basicPair(req.headers.authorization);
    if (!pair || !same(pair.siteId, options.siteId) || !same(pair.apiKey, options.apiKey)) {
      counters.unauthorized += 1;
      return respond(401, undefined, { 'www-authenticate': 'Basic realm="Customer.io Track API"' });
    }
    if (!window.tryAdmit(now)) {
      counters.rateLimited += 1;
      logger?.warn({ stage: 'mock' }, 'rate limit exceeded: 429');
      return refuse(429, 'rate limit exceeded: slow down', { 'retry-after': '1' });
    }

    if (failRate > 0 && random() < failRate) {
      counters.failures += 1;
      const draw = random();
      logger?.debug({ stage: 'mock', path: url.pathname }, 'injecting failure');
      if (draw < 0.15) return void req.socket.destroy();
      if (draw < 0.55) {
        // The ambiguous 500: half the time the batch was processed before the error.
        if ('text' in body && random() < 0.5) {
          const read = readBatch(body.text);
          if ('entries' in read) processBatch(read.entries, now);
        }
        return refuse(500, 'internal server error');
      }
      const [status, title] = draw < 0.7 ? [502, 'Bad Gateway'] : draw < 0.85 ? [503, 'Service Unavailable'] : [504, 'Gateway Timeout'];
      return respond(status as number, GATEWAY_HTML(status as number, title as string));
    }

    if ('tooLarge' in body) {
      counters.badRequests += 1;
      counters.oversizedRequests += 1;
      return refuse(400, `request body is ${body.tooLarge} bytes: it must be smaller than 500kb`);
    }
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      counters.badRequests += 1;
      return refuse(400, 'Content-Type must be application/json');
    }
    const read = readBatch(body.text);
    if ('refused' in read) {
      counters.badRequests += 1;
      return refuse(400, read.refused);
    }
    const answer = processBatch(read.entries, now);
    return respond(answer.status, answer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger?.error({ stage: 'mock', err: error }, 'mock failed to answer');
      if (!res.headersSent) sendJson(res, 500, { meta: { error: 'internal server error' } });
    });
  });
  // Node waits 300 s for a request by default; the latency is spent after the body is read.
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;

  const person = (email: string): CustomerioPerson | undefined => {
    const stored = people.get(`email:${email.toLowerCase()}`);
    return stored === undefined ? undefined : (JSON.parse(stored) as CustomerioPerson);
  };

  const stats = (): CustomerioMockStats => ({ ...counters, people: people.size, maxRequestsPerSecond: perSecond.peak });

  return Object.assign(server, { stats, person });
}


import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import { UsageError } from '../errors.js';
import { requestUrl, sendJson } from '../http/server.js';
import type { Logger } from '../logging/logger.js';
import { ArrivalPeak, DailyCounter, RollingWindow } from './arrival-window.js';
import { customProperty, customPropertyProblem, defaultContactProperties, type CustomPropertySpec, type HubspotProperty } from './hubspot-properties.js';
import { errorDetails, inputProblems, propertyValuesMessage, readUpsertBody, type RequestProblem, type UpsertInput } from './hubspot-upsert.js';
import { readBody, TOO_LARGE } from './request-body.js';

export const UPSERT_PATH = '/crm/v3/objects/contacts/batch/upsert';
export const PROPERTIES_PATH = '/crm/v3/properties/contacts';
/** Test hooks live under a prefix no HubSpot API path uses. */
export const HOOKS_PREFIX = '/__mock/';

export const WRITE_SCOPE = 'crm.objects.contacts.write';
export const SCHEMA_READ_SCOPE = 'crm.schemas.contacts.read';
/** What a read-only token is granted: it can read the properties, not upsert. */
export const READ_ONLY_SCOPES = ['crm.objects.contacts.read', SCHEMA_READ_SCOPE] as const;
const ALL_SCOPES = [...READ_ONLY_SCOPES, WRITE_SCOPE];

/** HubSpot's lowest tier: 100 requests per rolling 10 s, 250,000 a day. */
export const DEFAULT_RATE = { limit: 100, windowMs: 10_000 };
export const DEFAULT_DAILY = 250_000;

const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Arrivals remembered for the peaks: past 10,000 a second `maxRequestsPer10s` reports this bound. */
const REMEMBERED_ARRIVALS = 100_000;
const LISTED_REPEATS = 1000;

const AUTH_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';
const SCOPES_MESSAGE = "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.";

export interface HubspotMockOptions {
  /** The only token accepted (besides the read-only ones); without it any non-empty Bearer token is. */
  token?: string;
  /** Tokens accepted with only the read scopes: the upsert answers them 403 MISSING_SCOPES. */
  readOnlyTokens?: readonly string[];
  /** Tokens accepted with exactly these scopes. */
  tokenScopes?: Readonly<Record<string, readonly string[]>>;
  /** The rolling window, counted on arrival. */
  rate?: { limit: number; windowMs: number };
  /** Requests a day (UTC): past it, 429 DAILY. */
  daily?: number;
  /** Custom contact properties besides HubSpot's defaults. */
  properties?: readonly CustomPropertySpec[];
  /** Share of requests that fail: 500 (half of the upserts processed first), 502, 503, 504, or a reset. */
  failRate?: number;
  latencyMs?: number;
  /** Shown in validation messages, as HubSpot does. */
  portalId?: number;
  /** Largest body read (HubSpot documents none): past it, 413. */
  maxBodyBytes?: number;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface HubspotMockStats {
  /** Every request to a HubSpot path, whatever its answer. */
  requests: number;
  rateLimited: number;
  unauthorized: number;
  forbidden: number;
  badRequests: number;
  /** Injected 5xx and resets. */
  failures: number;
  /** Inputs upserted. */
  accepted: number;
  /** Inputs refused one by one (in a 207, or named in a 400). */
  rejected: number;
  /** Most requests that arrived within any 1000 ms, and within any rolling 10 s. */
  maxRequestsPerSecond: number;
  maxRequestsPer10s: number;
  /** Most requests being handled at once. */
  maxConcurrent: number;
  contacts: number;
  /** Emails upserted more than once, with how often (the first 1000). */
  upsertedMoreThanOnce: Record<string, number>;
}

export interface HubspotContact {
  id: string;
  createdAt: string;
  updatedAt: string;
  properties: Record<string, string>;
}

type HubspotMock = Server & { stats(): HubspotMockStats; contact(email: string): HubspotContact | undefined };

/** The properties the mock knows: HubSpot's defaults, then the custom ones in order. */
function catalogueOf(specs: readonly CustomPropertySpec[], createdAt: string): HubspotProperty[] {
  const properties = defaultContactProperties();
  const taken = new Set(properties.map((property) => property.name));
  for (const spec of specs) {
    const problem = customPropertyProblem(spec, taken);
    if (problem) throw new UsageError(`--property ${problem}`);
    taken.add(spec.name);
    properties.push(customProperty(spec, createdAt, properties.length));
  }
  return properties;
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * Imitates HubSpot's batch contact upsert (`POST /crm/v3/objects/contacts/batch/upsert`) and the
 * contact properties read (`GET /crm/v3/properties/contacts`) as HubSpot's public reference
 * describes them: Bearer auth and scopes, the 100-input batch, per-input validation (207
 * multi-status when every input carries an objectWriteTraceId, else 400 for the whole batch), the
 * rolling 10 s and daily limits with their headers and 429 bodies, and injected failures.
 * `GET /__mock/stats` and `GET /__mock/contacts?email=…` tell tests what it saw and holds.
 */
export function createHubspotMock(options: HubspotMockOptions): HubspotMock {
  const { failRate = 0, latencyMs = 0, portalId = 62515, maxBodyBytes = MAX_BODY_BYTES, random, logger } = options;
  const clock = options.clock ?? systemClock;
  const rate = options.rate ?? DEFAULT_RATE;
  const window = new RollingWindow(rate.limit, rate.windowMs);
  const daily = new DailyCounter(options.daily ?? DEFAULT_DAILY);
  const perSecond = new ArrivalPeak(1000, REMEMBERED_ARRIVALS);
  const per10s = new ArrivalPeak(10_000, REMEMBERED_ARRIVALS);
  const catalogue = catalogueOf(options.properties ?? [], new Date(clock.now()).toISOString());
  const byName = new Map(catalogue.map((property) => [property.name, property]));
  const readOnly = new Set(options.readOnlyTokens ?? []);
  const counters = { requests: 0, rateLimited: 0, unauthorized: 0, forbidden: 0, badRequests: 0, failures: 0, accepted: 0, rejected: 0, maxConcurrent: 0 };
  let inFlight = 0;
  let nextId = 1001;
  // Stored as JSON text: one string per contact keeps the GC pauses (which would delay arrivals) short.
  const contacts = new Map<string, string>();
  const repeats = new Map<string, number>();

  const scopesOf = (token: string): readonly string[] | undefined => {
    const granted = options.tokenScopes?.[token];
    if (granted) return granted;
    if (readOnly.has(token)) return READ_ONLY_SCOPES;
    return options.token === undefined || token === options.token ? ALL_SCOPES : undefined;
  };

  const rateHeaders = (now: number): Record<string, string> => ({
    'x-hubspot-ratelimit-interval-milliseconds': String(rate.windowMs),
    'x-hubspot-ratelimit-max': String(rate.limit),
    'x-hubspot-ratelimit-remaining': String(window.remaining(now)),
    'x-hubspot-ratelimit-daily': String(daily.limit),
    'x-hubspot-ratelimit-daily-remaining': String(daily.remaining(now)),
  });

  /** The daily limit, then the rolling window; a refused request counts against neither. */
  const rateLimitPolicy = (now: number): 'DAILY' | 'TEN_SECONDLY_ROLLING' | undefined => {
    if (daily.remaining(now) === 0) return 'DAILY';
    if (!window.tryAdmit(now)) return 'TEN_SECONDLY_ROLLING';
    daily.tryAdmit(now);
    return undefined;
  };

  const upsert = (input: UpsertInput, now: number) => {
    const email = input.id.toLowerCase();
    const iso = new Date(now).toISOString();
    const stored = contacts.get(email);
    const contact: HubspotContact = stored
      ? (JSON.parse(stored) as HubspotContact)
      : { id: String(nextId++), createdAt: iso, updatedAt: iso, properties: { email, createdate: iso, hs_object_id: '' } };
    contact.properties.hs_object_id = contact.id;
    const written: Record<string, string> = {};
    for (const [name, value] of input.properties) {
      if (name === 'email') continue;
      written[name] = value;
      // An empty string clears the value.
      if (value === '') delete contact.properties[name];
      else contact.properties[name] = value;
    }
    contact.updatedAt = iso;
    contact.properties.lastmodifieddate = iso;
    contacts.set(email, JSON.stringify(contact));
    if (stored) repeats.set(email, (repeats.get(email) ?? 1) + 1);
    counters.accepted += 1;
    const { createdate, lastmodifieddate, hs_object_id } = contact.properties;
    return {
      id: contact.id,
      new: !stored,
      properties: { ...written, email, createdate, lastmodifieddate, hs_object_id },
      createdAt: contact.createdAt,
      updatedAt: contact.updatedAt,
      archived: false,
      ...(input.objectWriteTraceId !== undefined ? { objectWriteTraceId: input.objectWriteTraceId } : {}),
    };
  };

  /** One batch: 400 for a refused request, else each input checked, the good ones upserted. */
  const processUpsert = (text: string, startedAt: number): { status: number; body: object } => {
    const inputs = readUpsertBody(text);
    if (!Array.isArray(inputs)) return { status: 400, body: inputs };
    const checked = inputs.map((input) => ({ input, problems: inputProblems(input, byName) }));
    const failed = checked.filter(({ problems }) => problems.length > 0);
    counters.rejected += failed.length;
    // HubSpot answers per input (207) only when the caller can tell the inputs apart by trace id.
    const multiStatus = inputs.every((input) => input.objectWriteTraceId !== undefined);
    if (failed.length > 0 && !multiStatus) {
      const problems = failed.flatMap(({ problems }) => problems);
      return { status: 400, body: { message: propertyValuesMessage(problems, portalId), category: 'VALIDATION_ERROR', errors: errorDetails(problems) } satisfies RequestProblem };
    }
    const results = checked.filter(({ problems }) => problems.length === 0).map(({ input }) => upsert(input, startedAt));
    const timing = { startedAt: new Date(startedAt).toISOString(), completedAt: new Date(clock.now()).toISOString() };
    if (failed.length === 0) return { status: 200, body: { status: 'COMPLETE', results, ...timing } };
    const errors = failed.map(({ input, problems }) => ({
      status: 'error',
      category: 'VALIDATION_ERROR',
      message: propertyValuesMessage(problems, portalId),
      context: { objectWriteTraceId: [input.objectWriteTraceId!] },
      errors: errorDetails(problems),
    }));
    return { status: 207, body: { status: 'COMPLETE', results, numErrors: errors.length, errors, ...timing } };
  };

  const hooks = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
    if (url.pathname === `${HOOKS_PREFIX}stats`) return sendJson(res, 200, stats());
    if (url.pathname === `${HOOKS_PREFIX}contacts`) {
      const found = contact(url.searchParams.get('email') ?? '');
      return found ? sendJson(res, 200, found.properties) : sendJson(res, 404, { error: 'no such contact' });
    }
    sendJson(res, 404, { error: 'not found' });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = requestUrl(req);
    if (url.pathname.startsWith(HOOKS_PREFIX)) return hooks(req, res, url);
    const now = clock.now();
    counters.requests += 1;
    perSecond.record(now);
    per10s.record(now);
    inFlight += 1;
    counters.maxConcurrent = Math.max(counters.maxConcurrent, inFlight);
    res.once('close', () => (inFlight -= 1));
    logger?.debug({ stage: 'mock', method: req.method, path: url.pathname, arrivedAt: now }, 'arrival');

    const correlationId = randomUUID();
    let headers: Record<string, string> = { 'content-type': 'application/json;charset=utf-8', 'x-hubspot-correlation-id': correlationId };
    const respond = async (status: number, body: object, extra: Record<string, string> = {}): Promise<void> => {
      if (latencyMs > 0) await clock.sleep(latencyMs);
      sendJson(res, status, status >= 400 && !('status' in body) ? { status: 'error', ...body, correlationId } : body, { ...headers, ...extra });
    };

    // Read before answering anything: a caller still sending its body would otherwise see a reset.
    const text = req.method === 'POST' ? await readBody(req, maxBodyBytes) : '';
    if (text === undefined) return;

    const route = url.pathname === UPSERT_PATH ? 'POST' : url.pathname === PROPERTIES_PATH ? 'GET' : undefined;
    if (!route) return respond(404, { message: 'Not Found', category: 'OBJECT_NOT_FOUND' });
    if (req.method !== route) return respond(405, { message: `Method ${req.method} is not allowed on ${url.pathname}`, category: 'VALIDATION_ERROR' }, { allow: route });

    const token = bearerToken(req.headers.authorization);
    const scopes = token === undefined ? undefined : scopesOf(token);
    if (!scopes) {
      counters.unauthorized += 1;
      return respond(401, { message: AUTH_MESSAGE, category: 'INVALID_AUTHENTICATION' }, { 'x-hubspot-auth-failure': '401 Unauthorized' });
    }

    const policyName = rateLimitPolicy(now);
    headers = { ...headers, ...rateHeaders(now) };
    if (policyName) {
      counters.rateLimited += 1;
      logger?.warn({ stage: 'mock', policyName }, 'rate limit exceeded: 429');
      const message = policyName === 'DAILY' ? 'You have reached your daily limit.' : 'You have reached your ten_secondly_rolling limit.';
      return respond(429, { status: 'error', message, errorType: 'RATE_LIMIT', correlationId, policyName, requestId: randomUUID() });
    }

    const needed = route === 'POST' ? WRITE_SCOPE : SCHEMA_READ_SCOPE;
    if (!scopes.includes(needed)) {
      counters.forbidden += 1;
      return respond(403, {
        message: SCOPES_MESSAGE,
        errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: [needed] } }],
        links: { scopes: 'https://developers.hubspot.com/scopes' },
        category: 'MISSING_SCOPES',
        context: { missingScopes: [needed] },
      });
    }

    if (failRate > 0 && random() < failRate) {
      counters.failures += 1;
      const draw = random();
      logger?.debug({ stage: 'mock', path: url.pathname }, 'injecting failure');
      if (draw < 0.15) return void req.socket.destroy();
      if (draw < 0.55) {
        // The ambiguous 500: half the time the batch was processed before the error.
        if (route === 'POST' && typeof text === 'string' && random() < 0.5) processUpsert(text, now);
        return respond(500, { message: 'internal error' });
      }
      return respond(draw < 0.7 ? 502 : draw < 0.85 ? 503 : 504, { message: draw < 0.7 ? 'Bad Gateway' : draw < 0.85 ? 'Service Unavailable' : 'Gateway Timeout' });
    }

    if (route === 'GET') return respond(200, { results: url.searchParams.get('archived') === 'true' ? [] : catalogue });
    if (text === TOO_LARGE) {
      counters.badRequests += 1;
      return respond(413, { message: `Request body larger than ${maxBodyBytes} bytes`, category: 'VALIDATION_ERROR' });
    }
    const answer = processUpsert(text, now);
    if (answer.status === 400) counters.badRequests += 1;
    return respond(answer.status, answer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger?.error({ stage: 'mock', err: error }, 'mock failed to answer');
      if (!res.headersSent) sendJson(res, 500, { status: 'error', message: 'internal error' });
    });
  });

  const contact = (email: string): HubspotContact | undefined => {
    const stored = contacts.get(email.toLowerCase());
    return stored === undefined ? undefined : (JSON.parse(stored) as HubspotContact);
  };

  const stats = (): HubspotMockStats => ({
    ...counters,
    maxRequestsPerSecond: perSecond.peak,
    maxRequestsPer10s: per10s.peak,
    contacts: contacts.size,
    upsertedMoreThanOnce: Object.fromEntries([...repeats].slice(0, LISTED_REPEATS)),
  });

  return Object.assign(server, { stats, contact });
}

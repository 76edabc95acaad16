import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Random } from '../engine/random.js';
import type { Logger } from '../logging/logger.js';
import { requestUrl, sendJson } from '../http/server.js';
import { bodyPending, discardRest } from '../serve/request-body.js';
import { Audience, checkBatchRequest, MAX_BATCH_MEMBERS, MemberBudget, type BatchOutcome, type BatchRequest } from './mailchimp-audience.js';
import { combineMergeFields, type MergeFieldSpec } from './mailchimp-merge-fields.js';
import { API_KEY_PATTERN } from './mailchimp-options.js';
import { count } from '../ui/count.js';
import { readBodyUpTo, sameSecret } from './request-body.js';

/** The list the mock serves when no `--list` is given. */
export const DEFAULT_LIST_ID = 'a1b2c3d4e5';
/** Mailchimp allows 10 simultaneous connections per user. */
export const DEFAULT_CONNECTIONS = 10;
export const DEFAULT_MAX_MEMBERS = 100_000;
/** Mailchimp documents no body limit; 500 members with every field filled stay far below this. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_MERGE_FIELDS_COUNT = 1000;

const PROBLEM_TYPE = 'https://mailchimp.com/developer/marketing/docs/errors/';
const INVALID_RESOURCE = "The resource submitted could not be validated. For field-specific details, see the 'errors' array.";

export interface MailchimpMockOptions {
  /** The only API key accepted; without it, any key of the right form. */
  key?: string;
  /** The data centre this mock stands for (`us21`); a key of another one gets 403. Without it, any. */
  dc?: string;
  /** Audience ids (default: one, DEFAULT_LIST_ID). */
  lists?: readonly string[];
  /** Merge fields every list has besides FNAME and LNAME (or redefining them). */
  mergeFields?: readonly MergeFieldSpec[];
  /** Requests open at once (latency included) before the next gets 429. */
  connections?: number;
  /** Members held across all lists; a new member past it is refused per member. */
  maxMembers?: number;
  /** Share of API requests that fail: 500 (some after the batch was processed), 503, or a reset. */
  failRate?: number;
  /** How long each API request is held open before it is answered, in ms. */
  latencyMs?: number;
  random: Random;
  clock?: Clock;
  logger?: Logger;
}

export interface MailchimpMockStats {
  /** API requests that arrived, 429s included (the `/__mock/` hooks are not counted). */
  requests: number;
  /** Requests answered 429 because `connections` were already open. */
  tooManyConnections: number;
  /** Injected faults (500, 503, resets). */
  failures: number;
  /** Members created and updated, and per-member errors, over all batch calls. */
  created: number;
  updated: number;
  errors: number;
  /** Most requests open at once. */
  maxConcurrent: number;
  /** Most requests that arrived within any 1000 ms (Mailchimp has no such limit; recorded for clients that pace). */
  maxRequestsPerSecond: number;
}

export type MailchimpMock = Server & {
  stats(): MailchimpMockStats;
  /** The member a list holds for this address (any case), in the API's shape, or undefined. */
  member(listId: string, email: string): object | undefined;
};

interface Problem {
  status: number;
  title: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

const problems = {
  keyMissing: { status: 401, title: 'API Key Missing', detail: 'Your request did not include an API key.' },
  keyInvalid: { status: 401, title: 'API Key Invalid', detail: "Your API key may be invalid, or you've attempted to access the wrong datacenter." },
  wrongDatacenter: (dc: string): Problem => ({ status: 403, title: 'Forbidden', detail: `The API key provided is linked to datacenter '${dc}'` }),
  notFound: { status: 404, title: 'Resource Not Found', detail: 'The requested resource could not be found.' },
  methodNotAllowed: {
    status: 405,
    title: 'Method Not Allowed',
    detail: "The requested method and resource are not compatible. See the Allow header for this resource's available methods.",
  },
  jsonParse: { status: 400, title: 'JSON Parse Error', detail: 'We encountered an unspecified JSON parsing error.' },
  invalidResource: (errors: { field: string; message: string }[]): Problem => ({ status: 400, title: 'Invalid Resource', detail: INVALID_RESOURCE, errors }),
  tooLarge: { status: 413, title: 'Request Entity Too Large', detail: `The request body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB.` },
  tooManyConnections: (limit: number): Problem => ({
    status: 429,
    title: 'TooManyRequests',
    detail: `You have exceeded the limit of ${count(limit, 'simultaneous connection')}.`,
  }),
  internal: { status: 500, title: 'Internal Server Error', detail: 'An unexpected internal error has occurred. Please contact Support for more information.' },
} satisfies Record<string, Problem | ((...args: never[]) => Problem)>;

const UNAVAILABLE_HTML =
  '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n';

/**
 * Called before an answer goes out: a body the client is still sending is read and dropped (to
 * a bound) instead of being cut, so the client receives the answer rather than a reset.
 */
function settleBody(req: IncomingMessage): void {
  if (bodyPending(req)) discardRest(req);
}

interface Reply {
  /** An RFC 7807 problem document, as Mailchimp sends every error: `instance` is also the `X-Request-Id`. */
  problem(problem: Problem, headers?: Record<string, string>): void;
  ok(body: unknown): void;
  /** What Mailchimp's edge answers when the API behind it is down: HTML, not a problem document. */
  unavailable(): void;
}

function replyTo(req: IncomingMessage, res: ServerResponse): Reply {
  return {
    problem({ status, title, detail, errors }, headers = {}) {
      settleBody(req);
      const instance = randomUUID();
      sendJson(res, status, { type: PROBLEM_TYPE, title, status, detail, instance, ...(errors ? { errors } : {}) }, {
        'content-type': 'application/problem+json; charset=utf-8',
        'x-request-id': instance,
        ...headers,
      });
    },
    ok(body) {
      settleBody(req);
      sendJson(res, 200, body, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': randomUUID() });
    },
    unavailable() {
      settleBody(req);
      res.writeHead(503, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(UNAVAILABLE_HTML), server: 'openresty' });
      res.end(UNAVAILABLE_HTML);
    },
  };
}

/** The password of an HTTP Basic header (Mailchimp takes any user name and the API key as password). */
function basicPassword(header: string): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

/** A path segment's text, or '' when its %-escapes are malformed (no list has that id either). */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/** `true`/`1` (any case), as Mailchimp's boolean query parameters take them. */
function flag(url: URL, name: string): boolean {
  return /^(?:true|1)$/i.test(url.searchParams.get(name) ?? '');
}

/** A whole number ≥ min from the query, or the default when absent or not one. */
function whole(url: URL, name: string, fallback: number, min: number): number {
  const text = url.searchParams.get(name);
  const n = text !== null && /^\d+$/.test(text) ? Number(text) : Number.NaN;
  return Number.isSafeInteger(n) && n >= min ? n : fallback;
}

/**
 * Imitates Mailchimp Marketing API v3's batch list-member call (`POST /3.0/lists/{list_id}`), with
 * what a client meets around it: HTTP Basic auth with an API key and its data centre, `GET /ping`,
 * `GET /lists/{id}/merge-fields`, per-member errors inside a 200, problem documents for every
 * error, and the limit of simultaneous connections (Mailchimp's only rate limit) answered with 429.
 * `GET /__mock/stats` and `GET /__mock/members?list=…&email=…` let tests see what it holds.
 */
export function createMailchimpMock(options: MailchimpMockOptions): MailchimpMock {
  const { key, dc, connections = DEFAULT_CONNECTIONS, failRate = 0, latencyMs = 0, random, logger } = options;
  const clock = options.clock ?? systemClock;
  const fields = combineMergeFields(options.mergeFields ?? []);
  const budget = new MemberBudget(options.maxMembers ?? DEFAULT_MAX_MEMBERS);
  const audiences = new Map((options.lists?.length ? options.lists : [DEFAULT_LIST_ID]).map((id) => [id, new Audience(id, fields, budget)]));
  const counters: MailchimpMockStats = { requests: 0, tooManyConnections: 0, failures: 0, created: 0, updated: 0, errors: 0, maxConcurrent: 0, maxRequestsPerSecond: 0 };
  const arrivals: number[] = [];
  let open = 0;
  const stopping = new AbortController();

  const recordArrival = (): void => {
    const now = clock.now();
    counters.requests += 1;
    arrivals.push(now);
    while (arrivals[0]! <= now - 1000) arrivals.shift();
    counters.maxRequestsPerSecond = Math.max(counters.maxRequestsPerSecond, arrivals.length);
  };

  /** The problem to answer when the request's credentials are refused, else undefined. */
  const authProblem = (req: IncomingMessage): Problem | undefined => {
    const header = req.headers.authorization;
    if (!header) return problems.keyMissing;
    const given = basicPassword(header);
    const match = given === undefined ? null : API_KEY_PATTERN.exec(given);
    if (!match || (key !== undefined && !sameSecret(given!, key))) return problems.keyInvalid;
    if (dc !== undefined && match[1] !== dc) return problems.wrongDatacenter(match[1]!);
    return undefined;
  };

  /**
   * `--fail-rate`: true when this request was failed (answered or reset). `processAnyway` runs
   * for half of the 500s: the ambiguous case where the work was done and the answer lost.
   */
  const injectFault = (req: IncomingMessage, reply: Reply, processAnyway?: () => void): boolean => {
    if (failRate <= 0 || random() >= failRate) return false;
    counters.failures += 1;
    const draw = random();
    logger?.debug({ stage: 'mock', draw }, 'injecting failure');
    if (draw < 0.15) {
      req.socket.destroy();
    } else if (draw < 0.6) {
      if (processAnyway && random() < 0.5) processAnyway();
      reply.problem(problems.internal);
    } else {
      reply.unavailable();
    }
    return true;
  };

  const batch = (audience: Audience, request: BatchRequest, url: URL): BatchOutcome => {
    const outcome = audience.apply(request.members, {
      updateExisting: request.update_existing ?? false,
      syncTags: request.sync_tags ?? false,
      skipMergeValidation: flag(url, 'skip_merge_validation'),
      skipDuplicateCheck: flag(url, 'skip_duplicate_check'),
      now: clock.now(),
    });
    counters.created += outcome.created.length;
    counters.updated += outcome.updated.length;
    counters.errors += outcome.errors.length;
    return outcome;
  };

  const batchSubscribe = async (req: IncomingMessage, reply: Reply, audience: Audience, url: URL): Promise<void> => {
    const body = await readBodyUpTo(req, MAX_BODY_BYTES);
    if ('gone' in body) return;
    if ('tooLarge' in body) return reply.problem(problems.tooLarge);
    let json: unknown;
    try {
      json = JSON.parse(body.text);
    } catch {
      return reply.problem(problems.jsonParse);
    }
    const members = (json as { members?: unknown } | null)?.members;
    if (Array.isArray(members) && members.length > MAX_BATCH_MEMBERS) {
      const message = `Up to ${MAX_BATCH_MEMBERS} members may be added or updated with each API call; this request has ${members.length}.`;
      return reply.problem(problems.invalidResource([{ field: 'members', message }]));
    }
    const checked = checkBatchRequest(json);
    if ('problems' in checked) return reply.problem(problems.invalidResource(checked.problems));
    if (injectFault(req, reply, () => batch(audience, checked.request, url))) return;
    const outcome = batch(audience, checked.request, url);
    reply.ok({
      new_members: outcome.created.map((member) => audience.render(member)),
      updated_members: outcome.updated.map((member) => audience.render(member)),
      errors: outcome.errors,
      total_created: outcome.created.length,
      total_updated: outcome.updated.length,
      error_count: outcome.errors.length,
      _links: [],
    });
  };

  /** Everything under /3.0/: authenticated, then routed. */
  const api = async (req: IncomingMessage, reply: Reply, url: URL): Promise<void> => {
    const refused = authProblem(req);
    if (refused) return reply.problem(refused);
    const path = url.pathname.replace(/\/+$/, '');
    const allow = (method: string): boolean => {
      if (req.method === method) return true;
      reply.problem(problems.methodNotAllowed, { allow: method });
      return false;
    };
    if (path === '/3.0/ping') {
      if (allow('GET') && !injectFault(req, reply)) reply.ok({ health_status: "Everything's Chimpy!" });
      return;
    }
    const route = /^\/3\.0\/lists\/([^/]+)(\/merge-fields)?$/.exec(path);
    const audience = route && audiences.get(decodePathSegment(route[1]!));
    if (!audience) return reply.problem(problems.notFound);
    if (route[2]) {
      if (!allow('GET') || injectFault(req, reply)) return;
      const count = Math.min(whole(url, 'count', 10, 1), MAX_MERGE_FIELDS_COUNT);
      return reply.ok(audience.mergeFieldsPage(count, whole(url, 'offset', 0, 0)));
    }
    if (allow('POST')) await batchSubscribe(req, reply, audience, url);
  };

  /** Test hooks, under a prefix no Mailchimp path uses. */
  const hooks = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
    if (url.pathname === '/__mock/stats') return sendJson(res, 200, stats());
    if (url.pathname !== '/__mock/members') return sendJson(res, 404, { error: 'not found' });
    const listId = url.searchParams.get('list') ?? (audiences.size === 1 ? [...audiences.keys()][0]! : '');
    const audience = audiences.get(listId);
    if (!audience) return sendJson(res, 404, { error: `no such list: ${listId || '(give ?list=)'}` });
    const member = audience.member(url.searchParams.get('email') ?? '');
    if (!member) return sendJson(res, 404, { error: 'no such member' });
    sendJson(res, 200, member);
  };

  const server = createServer((req, res) => {
    const url = requestUrl(req);
    if (url.pathname.startsWith('/__mock/')) return hooks(req, res, url);
    const reply = replyTo(req, res);
    recordArrival();
    if (open >= connections) {
      counters.tooManyConnections += 1;
      logger?.warn({ stage: 'mock', open, connections }, 'too many simultaneous connections: 429');
      return reply.problem(problems.tooManyConnections(connections));
    }
    open += 1;
    counters.maxConcurrent = Math.max(counters.maxConcurrent, open);
    // 'close' comes once whether the answer was sent or the client went away: the slot is freed either way.
    res.once('close', () => (open -= 1));
    void (async () => {
      if (latencyMs > 0) await clock.sleep(latencyMs, stopping.signal);
      if (!url.pathname.startsWith('/3.0/')) return reply.problem(problems.notFound);
      await api(req, reply, url);
    })().catch((error: unknown) => {
      // Stopping: a request still held is cut, as a server going away cuts it.
      if (stopping.signal.aborted) return void res.destroy();
      logger?.error({ stage: 'mock', err: error }, 'mock failed to answer');
      if (!res.headersSent) reply.problem(problems.internal);
      else res.destroy();
    });
  });
  // Node waits 300 s for a request by default: a stalled client would hold a connection slot that
  // long. A body is read after the latency, so the whole request may take that long to arrive.
  server.requestTimeout = latencyMs + 60_000;
  server.headersTimeout = 30_000;
  // `close()` waits for every open request: held ones (up to an hour of --latency) are cut instead.
  const closeServer = server.close.bind(server);
  server.close = (callback?: (error?: Error) => void) => {
    stopping.abort();
    return closeServer(callback);
  };

  const stats = (): MailchimpMockStats => ({ ...counters });
  const member = (listId: string, email: string): object | undefined => audiences.get(listId)?.member(email);
  return Object.assign(server, { stats, member });
}

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeliveryOutcome } from '../engine/batch-engine.js';
import type { Delivery } from '../delivery/delivery.js';
import type { Encoded } from '../destinations/destination.js';
import type { ProfileEncoder } from '../delivery/encoder.js';
import type { Quota } from '../quota/open-quota.js';
import { infoLine, jsonField, maskEmail, maskEmailsIn, type Logger } from '../logging/logger.js';
import { findInexactNumbers, type InexactNumber } from '../profiles/inexact-numbers.js';
import { validateProfile, type FieldError } from '../profiles/schemas.js';
import type { SyncMetrics } from '../telemetry/metrics.js';
import { AnswerPacer } from './answer-pacer.js';
import { CALLER_LEFT, unlessCallerLeaves } from './hang-up.js';
import { Deadlines } from './deadlines.js';
import { acceptBody, bodyPending, checkContentType, discardRest, expectsContinue, HttpProblem, readJson, RequestCut, type JsonBody } from './request-body.js';
import { count } from '../ui/count.js';

/** Admit only what the platform can drain within this share of the caller's timeout. */
const ADMISSION_SHARE = 0.8;

/** How long /healthz waits for the shared quota's Redis to answer before calling it unavailable. */
export const QUOTA_PROBE_MS = 500;

export interface AppOptions {
  rate: number;
  requestTimeoutMs: number;
  /** `--batch-size`: also the most elements one POST /profiles/batch may carry. */
  batchSize: number;
}

export interface AppDependencies {
  delivery: Delivery;
  /** Profiles as the destination takes them. */
  encoder: ProfileEncoder;
  metrics: SyncMetrics;
  logger: Logger;
  verbose?: boolean;
  /** The rate limit's backend, for /healthz (default: in-process, nothing to report). */
  quota?: Pick<Quota, 'describe' | 'probe'>;
}

/** A result for one profile: what POST /profiles answers, and each element of /profiles/batch. */
type Result =
  | { status: 'forwarded'; email: string; batchId: string }
  | { status: 'invalid'; errors: FieldError[] }
  | { status: 'rejected'; error: string }
  | { status: 'failed'; error: { class: string; message: string } }
  | { status: 'timeout'; error: { class: string; message: string } };

interface Answer {
  status: number;
  body: object;
  headers?: Record<string, string>;
  batchId?: string;
}

/**
 * The fields of the line logged for every request, as JSON text for `infoLine` (issue 19: built by
 * hand rather than as an object for pino to walk): stage, requestId, method, path, status,
 * durationMs, then batchId and reason when there is one.
 */
export function accessFields(requestId: string, method: string | undefined, path: string, status: number, durationMs: number, batchId?: string, reason?: string): string {
  return (
    `,"stage":"serve"${jsonField('requestId', requestId)}${jsonField('method', method)}${jsonField('path', path)},"status":${status},"durationMs":${durationMs}` +
    `${jsonField('batchId', batchId)}${jsonField('reason', reason)}`
  );
}

const HTTP_STATUS: Record<Result['status'], number> = { forwarded: 200, invalid: 400, rejected: 422, failed: 503, timeout: 504 };

/** Each path and the methods it answers; HEAD is GET without the body (Node leaves the body out itself): load balancers probe with it. */
const GET = { methods: ['GET', 'HEAD'], allow: 'GET, HEAD' } as const;
const POST = { methods: ['POST'], allow: 'POST' } as const;
const ROUTES: Record<string, { methods: readonly string[]; allow: string }> = {
  '/profiles': POST,
  '/profiles/batch': POST,
  '/healthz': GET,
  '/livez': GET,
  '/metrics': GET,
};

/** The label set of each status, made once: prom-client takes an object per observation. */
const STATUS_LABELS = new Map<number, { status: string }>();
const statusLabel = (status: number): { status: string } => {
  let labels = STATUS_LABELS.get(status);
  if (!labels) STATUS_LABELS.set(status, (labels = { status: String(status) }));
  return labels;
};

/** The label set of each outcome and error class, made once (an object per answer otherwise). */
const OUTCOME_LABELS = new Map<string, Map<string, { outcome: string; error_class: string }>>();
const outcomeLabel = (outcome: string, errorClass: string): { outcome: string; error_class: string } => {
  let byClass = OUTCOME_LABELS.get(outcome);
  // Stryker disable next-line ConditionalExpression: a cache; a new map each time counts the same.
  if (!byClass) OUTCOME_LABELS.set(outcome, (byClass = new Map()));
  let labels = byClass.get(errorClass);
  // Stryker disable next-line ConditionalExpression: the same cache; a new label object each time counts the same.
  if (!labels) byClass.set(errorClass, (labels = { outcome, error_class: errorClass }));
  return labels;
};

/**
 * The HTTP front door: every caller waits for its own profile's downstream outcome. No queue but
 * the engine's memory, guarded by admission control: when the queue already holds more than the
 * platform can drain within the caller's timeout, the answer is 503 + Retry-After at once rather
 * than a 504 later.
 */
export class ServeApp {
  private readonly options: AppOptions;
  private readonly deps: AppDependencies;
  private draining = false;
  /** Requests being answered; `settled()` waits for none to be left. */
  private open = 0;
  private readonly whenNoneOpen: (() => void)[] = [];
  /** A batch's callers are answered a slice per turn (see AnswerPacer). */
  private readonly answers = new AnswerPacer<Result>();
  /** Every caller's request timeout, on one timer (see Deadlines). */
  private readonly deadlines: Deadlines;

  constructor(options: AppOptions, deps: AppDependencies) {
    this.options = options;
    this.deps = deps;
    this.deadlines = new Deadlines(options.requestTimeoutMs);
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.open;
  }

  /** From now on new submissions get 503; those already waiting are still answered. */
  drain(): void {
    this.draining = true;
  }

  /** Resolves once every request that had started has been answered. */
  settled(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenNoneOpen.push(resolve));
  }

  // A counter rather than a set of the handlers' promises: no promise, closure or set entry per
  // request just to know when all are answered (issue 19: per-request layers were the excess CPU).
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.open += 1;
    void this.route(req, res);
  };

  private closed(): void {
    this.open -= 1;
    if (this.open > 0) return;
    for (const resolve of this.whenNoneOpen.splice(0)) resolve();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = correlationId(req.headers['x-request-id']);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    let status = 500;
    let batchId: string | undefined;
    let reason: string | undefined;
    // Whether the caller may be sending its body: always, unless it waits for our 100 Continue.
    let invited = !expectsContinue(req);
    try {
      const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
      if (!route) throw new HttpProblem(404, { error: 'not found' });
      if (!route.methods.includes(req.method ?? '')) throw new HttpProblem(405, { error: 'method not allowed' }, { allow: route.allow });
      let body: object;
      let headers: Record<string, string> | undefined;
      if (path === '/healthz') [status, body] = await this.health();
      else if (path === '/livez') [status, body] = [200, { status: 'ok' }];
      else if (path === '/metrics') {
        status = 200;
        const text = await this.deps.metrics.text();
        res.writeHead(200, { 'content-type': this.deps.metrics.contentType, 'x-request-id': requestId });
        res.end(text);
        return;
      } else {
        checkContentType(req.headers['content-type']);
        acceptBody(req, res);
        invited = true;
        const request = await readJson(req);
        const answer = path === '/profiles' ? await this.single(request, req) : await this.batch(request, req);
        ({ status, body, headers } = answer);
        batchId = answer.batchId;
      }
      send(res, status, body, requestId, headers);
    } catch (error) {
      if (error instanceof RequestCut) {
        // Not our failure: no answer to send (or Node sent its 408), no error line, not a 500 (nor the 200 nobody received).
        status = error.status;
        reason = error.message;
        return;
      }
      const problem = error instanceof HttpProblem ? error : new HttpProblem(500, { status: 'failed', error: { class: 'unexpected', message: 'internal error' } });
      status = problem.status;
      if (!(error instanceof HttpProblem)) this.deps.logger.error({ stage: 'serve', requestId, err: error }, 'unexpected error');
      const unread = bodyPending(req);
      // Set up before the answer goes out: Node closes a `Connection: close` socket as it finishes.
      if (unread && invited) discardRest(req);
      // A caller still waiting for 100 Continue sends no body: the connection cannot carry another request.
      send(res, status, problem.body, requestId, unread && !invited ? { ...problem.headers, connection: 'close' } : problem.headers);
    } finally {
      try {
        const durationMs = performance.now() - started;
        if (path.startsWith('/profiles')) this.deps.metrics.callerWait.observe(statusLabel(status), durationMs / 1000);
        const shown = this.shownPath(path);
        infoLine(this.deps.logger, accessFields(requestId, req.method, shown, status, Math.round(durationMs), batchId, reason), `${req.method} ${shown} ${status}`);
      } finally {
        this.closed();
      }
    }
  }

  /**
   * The path as the access line shows it. Ours are fixed words; any other is the caller's text, and
   * may hold an address (`/users/ann@x.io`, or `ann%40x.io`, which the logger's masking never sees
   * as one): masked like any address in a log line, unless --verbose.
   */
  private shownPath(path: string): string {
    if (this.deps.verbose || Object.hasOwn(ROUTES, path)) return path;
    return maskEmailsIn(path.replace(/%40/gi, '@'));
  }

  private async health(): Promise<[number, object]> {
    const breaker = this.deps.delivery.breaker.state;
    const quota = await this.quotaHealth();
    const backend = quota ? { quota } : {};
    if (breaker === 'open') return [503, { status: 'unavailable', breaker, ...backend }];
    // The platform refused the run itself (token, list, daily quota): every caller fails until it is asked again.
    const refused = this.deps.delivery.engine.refusal;
    if (refused) return [503, { status: 'unavailable', breaker, refused: refused.message, ...backend }];
    // Nothing can be sent while the shared quota is away: not ready, like an open breaker.
    if (quota && 'state' in quota && quota.state === 'unavailable') return [503, { status: 'unavailable', breaker, ...backend }];
    return [200, { status: 'ok', breaker, queued: this.deps.delivery.engine.queued, ...backend }];
  }

  /** The quota as last seen, unless its Redis does not answer now: a stopped one still looks connected. */
  private async quotaHealth(): Promise<ReturnType<Quota['describe']> | undefined> {
    const { quota } = this.deps;
    const described = quota?.describe();
    if (!quota || !described || !('state' in described) || described.state === 'unavailable') return described;
    return (await quota.probe(QUOTA_PROBE_MS)) ? described : { ...described, state: 'unavailable' };
  }

  private async single({ value, text }: JsonBody, caller: IncomingMessage): Promise<Answer> {
    const profile = this.validate(value, findInexactNumbers(text));
    if ('errors' in profile) return { status: 400, body: profile };
    this.admit(1);
    const result = await this.submit(profile, caller);
    return {
      status: HTTP_STATUS[result.status],
      body: result,
      headers: result.status === 'failed' ? { 'retry-after': String(this.retryAfterSeconds()) } : undefined,
      batchId: 'batchId' in result ? result.batchId : undefined,
    };
  }

  private async batch({ value: input, text }: JsonBody, caller: IncomingMessage): Promise<Answer> {
    if (!Array.isArray(input)) {
      throw new HttpProblem(400, { status: 'invalid', errors: [{ path: '', message: 'expected a JSON array of profiles' }] });
    }
    // Checked before any element is looked at: a 1 MiB array of 500k tiny elements took 10 s to
    // validate and answer, and held up every other caller meanwhile.
    if (input.length > this.options.batchSize) {
      throw new HttpProblem(413, {
        status: 'invalid',
        errors: [{ path: '', message: `at most ${count(this.options.batchSize, 'profile')} per batch (--batch-size); got ${input.length}` }],
      });
    }
    const inexact = byElement(findInexactNumbers(text));
    const checked = input.map((element, i) => this.validate(element, inexact.get(i)));
    this.admit(checked.filter((c) => !('errors' in c)).length);
    const results = await unlessCallerLeaves(caller, Promise.all(checked.map((c) => ('errors' in c ? c : this.submit(c)))));
    return { status: 200, body: results };
  }

  /** A profile as the destination takes it, or every reason it cannot be sent (ours, or the platform's limits). */
  private validate(input: unknown, inexact?: InexactNumber[]): Encoded | { status: 'invalid'; errors: FieldError[] } {
    const validation = validateProfile(input, inexact);
    this.deps.metrics.recordValidation(validation.ok ? undefined : validation.errors);
    const item = validation.ok ? this.deps.encoder.encode(validation.profile) : undefined;
    if (item && !('refused' in item)) return item;
    this.deps.metrics.submissions.inc({ outcome: 'invalid', error_class: 'client' });
    return { status: 'invalid', errors: validation.ok ? [{ path: '', message: item && 'refused' in item ? item.refused : 'cannot be sent' }] : validation.errors };
  }

  /** Refuse at once what could not be delivered within the caller's timeout anyway. */
  private admit(count: number): void {
    const { engine } = this.deps.delivery;
    const retryAfter = { 'retry-after': String(this.retryAfterSeconds()) };
    if (this.draining) {
      throw new HttpProblem(503, { status: 'failed', error: { class: 'server', message: 'server is shutting down' } }, { ...retryAfter, connection: 'close' });
    }
    const capacity = Math.floor(this.options.rate * (this.options.requestTimeoutMs / 1000) * ADMISSION_SHARE * engine.currentBatchSize);
    if (count > 0 && engine.queued + count > capacity) {
      this.deps.metrics.submissions.inc({ outcome: 'saturated', error_class: 'server' }, count);
      throw new HttpProblem(503, { status: 'failed', error: { class: 'server', message: 'server saturated: the queue cannot drain within the request timeout' } }, retryAfter);
    }
  }

  /** Seconds until the queue could drain, or the breaker lets a probe through. */
  private retryAfterSeconds(): number {
    const { engine, breaker } = this.deps.delivery;
    const drain = engine.queued / Math.max(1, this.options.rate * engine.currentBatchSize);
    const reopen = breaker.state === 'open' ? (breaker.reopensAt - Date.now()) / 1000 : 0;
    return Math.max(1, Math.ceil(Math.max(drain, reopen)));
  }

  /**
   * The item's outcome, or a 504 result once the request timeout is over. The submission stays in
   * the engine after a 504: it is still delivered, the caller just stopped waiting. With `caller`
   * (POST /profiles), its hanging up rejects at once as `unlessCallerLeaves` does (that one call, not
   * a wrapper per request: one promise per caller and a place on the one deadline list, issue 19);
   * the outcome is still counted when it comes.
   */
  private submit(item: Encoded, caller?: IncomingMessage): Promise<Result> {
    const outcome = this.deps.delivery.engine.submit(item);
    return new Promise<Result>((resolve, reject) => {
      const socket = caller?.socket;
      let waiting = true;
      const left = (): void => {
        waiting = false;
        reject(new RequestCut(499, CALLER_LEFT));
      };
      // Still listening for a hang-up until the answer is handed over (it may wait a few turns in the pacer).
      const answer = (result: Result): void => {
        socket?.off('close', left);
        if (waiting) resolve(result);
      };
      let pending = true;
      const settle = (value: DeliveryOutcome | 'timeout'): void => {
        if (!pending) return;
        pending = false;
        // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: only frees the deadline early; one left to expire finds the caller settled and does nothing.
        if (value !== 'timeout') this.deadlines.cancel(deadline);
        const result = this.record(item.profile, value);
        if (waiting) this.answers.hand(answer, result);
      };
      const deadline = this.deadlines.add(() => settle('timeout'));
      void outcome.then(settle);
      if (!socket) return;
      if (socket.destroyed) left();
      // `on`, not `once`: `left` may run twice harmlessly, and `once` wraps it in a new function per caller.
      else socket.on('close', left);
    });
  }

  /** Counts an outcome (or timeout) and logs a refusal. */
  private record(profile: Encoded['profile'], outcome: DeliveryOutcome | 'timeout'): Result {
    const result = toResult(profile, outcome);
    this.deps.metrics.submissions.inc(
      outcome === 'timeout' ? outcomeLabel('timeout', 'server') : outcomeLabel(outcome.status, 'errorClass' in outcome ? outcome.errorClass : ''),
    );
    if (result.status === 'rejected') {
      this.deps.logger.warn({ stage: 'send', email: this.deps.verbose ? profile.email : maskEmail(profile.email) }, `rejected by the downstream: ${result.error}`);
    }
    return result;
  }
}

/** The inexact numbers of a batch's text, by element, with paths from the element's root. */
function byElement(found: InexactNumber[]): Map<number, InexactNumber[]> {
  const elements = new Map<number, InexactNumber[]>();
  for (const number of found) {
    const index = number.path[0] as number;
    elements.set(index, [...(elements.get(index) ?? []), { ...number, path: number.path.slice(1) }]);
  }
  return elements;
}

function toResult(profile: Encoded['profile'], outcome: DeliveryOutcome | 'timeout'): Result {
  if (outcome === 'timeout') {
    return { status: 'timeout', error: { class: 'server', message: 'no downstream outcome within the request timeout; the profile stays queued' } };
  }
  switch (outcome.status) {
    case 'delivered':
    case 'duplicate': // merged into a later submission for the same email, which carried it
      return { status: 'forwarded', email: profile.email, batchId: outcome.batchId };
    case 'rejected':
      return { status: 'rejected', error: outcome.reason };
    case 'failed':
      return { status: 'failed', error: { class: outcome.errorClass, message: outcome.reason } };
  }
}

// A caller's own X-Request-Id is kept; otherwise a process prefix and a counter: unique, and cheaper
// than random bytes per request (which showed up at 4% of CPU under load).
const ID_PREFIX = randomBytes(4).toString('hex');
let idSequence = 0;

function correlationId(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given && /^[\w.:-]{1,128}$/.test(given) ? given : `${ID_PREFIX}-${(++idSequence).toString(36)}`;
}

function send(res: ServerResponse, status: number, body: object, requestId: string, headers?: Record<string, string>): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  const head: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-request-id': requestId };
  if (headers) Object.assign(head, headers);
  res.writeHead(status, head);
  res.end(payload);
}

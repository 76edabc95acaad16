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
import type { CountedSeries, SyncMetrics } from '../telemetry/metrics.js';
import { AnswerPacer } from './answer-pacer.js';
import { CALLER_LEFT, unlessCallerLeaves } from './hang-up.js';
import { Deadlines, type Deadline } from './deadlines.js';
import { acceptBody, bodyPending, BodyReader, checkContentType, discardRest, expectsContinue, HttpProblem, RequestCut, type BodySink, type JsonBody } from './request-body.js';
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

/**
 * The fields of the line logged for every request, as JSON text for `infoLine` (issue 19: built by
 * hand rather than as an object for pino to walk): stage, requestId, method, path, status,
 * durationMs, then batchId and reason when there is one.
 */
export function accessFields(requestId: string, method: string | undefined, path: string, status: number, durationMs: number, batchId?: string, reason?: string): string {
  return `,"stage":"serve"${jsonField('requestId', requestId)}${described(method, path, status).fields},"durationMs":${durationMs}${jsonField('batchId', batchId)}${jsonField('reason', reason)}`;
}

/** The access line's message: `POST /profiles 200`. */
export function accessMessage(method: string | undefined, path: string, status: number): string {
  return described(method, path, status).msg;
}

/**
 * The method, path and status of the last access line, as its fields and its message: a server's
 * lines nearly all share them (`POST /profiles 200`), so they are written out once, not per line,
 * and the same message (the same string) lets `infoLine` reuse its JSON (issue 19).
 */
// Stryker disable next-line StringLiteral,ObjectLiteral: a status of NaN matches no line, so the first line is always written out whatever else is here.
let lastLine = { method: '' as string | undefined, path: '', status: NaN, fields: '', msg: '' };

function described(method: string | undefined, path: string, status: number): { fields: string; msg: string } {
  // Stryker disable next-line ConditionalExpression: a cache; writing the three out every time gives the same text.
  if (status !== lastLine.status || path !== lastLine.path || method !== lastLine.method) {
    lastLine = { method, path, status, fields: `${jsonField('method', method)}${jsonField('path', path)},"status":${status}`, msg: `${method} ${path} ${status}` };
  }
  return lastLine;
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

/**
 * One request being answered: what its answer, its access line and `sync_caller_wait_seconds` need,
 * and, for a POST, its body being read and (POST /profiles) its wait for the outcome. One object
 * per request with the few callbacks the events need, in place of an async handler, a promise per
 * stage and their closures (issue 19: serve's CPU per answer).
 */
class Call implements BodySink {
  readonly started = performance.now();
  readonly requestId: string;
  readonly path: string;
  status = 500;
  batchId: string | undefined;
  reason: string | undefined;
  /** Whether the caller may be sending its body: always, unless it waits for our 100 Continue. */
  invited: boolean;
  /** Its access line is written: nothing more is done for it. */
  over = false;
  /** POST /profiles: what was submitted, and until its answer is handed over, that the caller still waits. */
  item: Encoded | undefined;
  waiting = false;
  /** POST /profiles: neither the outcome nor the deadline has come yet. */
  unsettled = true;
  deadline: Deadline | undefined;
  result: Result | undefined;
  private app: ServeApp | undefined;
  private reader: BodyReader | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.requestId = correlationId(req.headers['x-request-id']);
    // Stryker disable next-line StringLiteral: Node's server always sets a request's url.
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    this.path = query < 0 ? url : url.slice(0, query);
    this.invited = !expectsContinue(req);
  }

  /**
   * Reads the body into `app.posted`. From here until the call is over, the connection's 'close'
   * (see `gone`) is watched: one listener for the body and the wait after it.
   */
  read(app: ServeApp): void {
    this.app = app;
    this.reader = new BodyReader(this.req, this);
    this.req.socket.on('close', this.gone);
  }

  body(json: JsonBody): void {
    this.reader = undefined;
    this.app!.posted(this, json);
  }

  refused(problem: HttpProblem): void {
    this.reader = undefined;
    this.app!.fail(this, problem);
  }

  /**
   * The connection closed: mid-body, the request was cut (the caller hung up, or Node's timeout);
   * while waiting for its outcome, the caller left (499). The connection's 'close' tells: a reset
   * closes it, and so does a plain close or a half-close, because Node's server
   * (`httpAllowHalfOpen` false, lib/_http_server.js `socketOnEnd`, Node 20) ends its side as soon
   * as the caller's ends, and the socket is then destroyed.
   */
  readonly gone = (): void => {
    const reader = this.reader;
    if (reader) {
      this.reader = undefined;
      this.app!.fail(this, reader.cut());
    } else if (this.waiting) {
      this.waiting = false;
      this.app!.fail(this, new RequestCut(499, CALLER_LEFT));
    }
  };

  readonly settle = (outcome: DeliveryOutcome): void => this.app!.outcomeOf(this, outcome);
  readonly expire = (): void => this.app!.outcomeOf(this, 'timeout');

  /** Called once, as the call is over: the connection is no longer watched for it. */
  end(): void {
    this.over = true;
    // `on`, not `once`, above: `once` wraps the listener in a new function per call; off finds it or nothing.
    if (this.app) this.req.socket.off('close', this.gone);
  }
}

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
  private readonly answers = new AnswerPacer<Call | Result>();
  /** `sync_submissions_total`'s series by outcome, then error class (see `counted`). */
  private readonly outcomes = new Map<string, Map<string, CountedSeries>>();
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
    const call = new Call(req, res);
    try {
      const route = Object.hasOwn(ROUTES, call.path) ? ROUTES[call.path] : undefined;
      if (!route) throw new HttpProblem(404, { error: 'not found' });
      if (!route.methods.includes(req.method ?? '')) throw new HttpProblem(405, { error: 'method not allowed' }, { allow: route.allow });
      if (route !== POST) {
        void this.get(call);
        return;
      }
      checkContentType(req.headers['content-type']);
      acceptBody(req, res);
      call.invited = true;
      call.read(this);
    } catch (error) {
      this.fail(call, error);
    }
  };

  private closed(): void {
    this.open -= 1;
    if (this.open > 0) return;
    for (const resolve of this.whenNoneOpen.splice(0)) resolve();
  }

  /** GET /healthz, /livez, /metrics. */
  private async get(call: Call): Promise<void> {
    const { res, path, requestId } = call;
    try {
      let body: object;
      if (path === '/healthz') [call.status, body] = await this.health();
      else if (path === '/livez') [call.status, body] = [200, { status: 'ok' }];
      else {
        call.status = 200;
        const text = await this.deps.metrics.text();
        res.writeHead(200, { 'content-type': this.deps.metrics.contentType, 'x-request-id': requestId });
        res.end(text);
        this.finish(call);
        return;
      }
      send(res, call.status, body, requestId);
      this.finish(call);
    } catch (error) {
      this.fail(call, error);
    }
  }

  /** A POST's body has been read: POST /profiles waits for its outcome (see `submit`), a batch for all of its own. */
  posted(call: Call, json: JsonBody): void {
    try {
      if (call.path === '/profiles') this.single(call, json);
      else void this.batch(call, json);
    } catch (error) {
      this.fail(call, error);
    }
  }

  /**
   * No answer but a refusal or an error (thrown as HttpProblem, or anything else: a 500), or no
   * answer at all (RequestCut: the caller left, or Node cut the request). Then the call is over.
   */
  fail(call: Call, error: unknown): void {
    if (call.over) return;
    const { req, res, requestId } = call;
    if (error instanceof RequestCut) {
      // Not our failure: no answer to send (or Node sent its 408), no error line, not a 500 (nor the 200 nobody received).
      call.status = error.status;
      call.reason = error.message;
      this.finish(call);
      return;
    }
    try {
      const problem = error instanceof HttpProblem ? error : new HttpProblem(500, { status: 'failed', error: { class: 'unexpected', message: 'internal error' } });
      call.status = problem.status;
      if (!(error instanceof HttpProblem)) this.deps.logger.error({ stage: 'serve', requestId, err: error }, 'unexpected error');
      const unread = bodyPending(req);
      // Set up before the answer goes out: Node closes a `Connection: close` socket as it finishes.
      if (unread && call.invited) discardRest(req);
      // A caller still waiting for 100 Continue sends no body: the connection cannot carry another request.
      send(res, call.status, problem.body, requestId, unread && !call.invited ? { ...problem.headers, connection: 'close' } : problem.headers);
    } finally {
      this.finish(call);
    }
  }

  /** The call is over (answered, refused, or its caller gone): its wait observed, its access line written, once. */
  private finish(call: Call): void {
    if (call.over) return;
    call.end();
    try {
      const { path, status } = call;
      const durationMs = performance.now() - call.started;
      if (path.startsWith('/profiles')) this.deps.metrics.callerWait.observe(statusLabel(status), durationMs / 1000);
      const shown = this.shownPath(path);
      infoLine(this.deps.logger, accessFields(call.requestId, call.req.method, shown, status, Math.round(durationMs), call.batchId, call.reason), accessMessage(call.req.method, shown, status));
    } finally {
      this.closed();
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

  /** POST /profiles: the profile is validated, then waits for its outcome (see `submit`). */
  private single(call: Call, { value, text }: JsonBody): void {
    const profile = this.validate(value, findInexactNumbers(text));
    if ('errors' in profile) {
      this.respond(call, 400, profile);
      return;
    }
    this.admit(1);
    this.submit(call, profile);
  }

  private async batch(call: Call, { value: input, text }: JsonBody): Promise<void> {
    try {
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
      const results = await unlessCallerLeaves(call.req, Promise.all(checked.map((c) => ('errors' in c ? c : this.outcome(c)))));
      this.respond(call, 200, results);
    } catch (error) {
      this.fail(call, error);
    }
  }

  /** Sends `body` as the call's answer; the call is over. */
  private respond(call: Call, status: number, body: object, headers?: Record<string, string>): void {
    call.status = status;
    send(call.res, status, body, call.requestId, headers);
    this.finish(call);
  }

  /** A profile as the destination takes it, or every reason it cannot be sent (ours, or the platform's limits). */
  private validate(input: unknown, inexact?: InexactNumber[]): Encoded | { status: 'invalid'; errors: FieldError[] } {
    const validation = validateProfile(input, inexact);
    this.deps.metrics.recordValidation(validation.ok ? undefined : validation.errors);
    const item = validation.ok ? this.deps.encoder.encode(validation.profile) : undefined;
    if (item && !('refused' in item)) return item;
    this.counted('invalid', 'client').inc();
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
      this.counted('saturated', 'server').inc(count);
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
   * POST /profiles: the caller waits for its item's outcome, or a 504 result once the request
   * timeout is over. The submission stays in the engine after a 504: it is still delivered, the
   * caller just stopped waiting. Its hanging up (the socket's 'close', see `Call.gone`) ends the
   * call at once as a 499, as `unlessCallerLeaves` does; the outcome is still counted when it
   * comes. Per caller: the engine's promise, a place on the one deadline list, and the call's own
   * fields; no promise or closure of ours (issue 19).
   */
  private submit(call: Call, item: Encoded): void {
    call.item = item;
    call.waiting = true;
    void this.deps.delivery.engine.submit(item).then(call.settle);
    call.deadline = this.deadlines.add(call.expire);
    if (call.req.socket.destroyed) call.gone();
  }

  /** The outcome of a call's item, or its timeout: counted, then handed to the caller (a slice of a batch's callers per turn). */
  outcomeOf(call: Call, value: DeliveryOutcome | 'timeout'): void {
    if (!call.unsettled) return;
    call.unsettled = false;
    // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: only frees the deadline early; one left to expire finds the call settled and does nothing.
    if (value !== 'timeout') this.deadlines.cancel(call.deadline!);
    const result = this.record(call.item!.profile, value);
    // Stryker disable next-line ConditionalExpression: spares the pacer a caller who left; `answer` checks again.
    if (!call.waiting) return;
    call.result = result;
    this.answers.hand(this.answer, call);
  }

  /** Still listening for a hang-up until the answer is handed over (it may wait a few turns in the pacer). */
  private readonly answer = (waiting: Call | Result): void => {
    const call = waiting as Call;
    if (!call.waiting) return;
    call.waiting = false;
    const result = call.result!;
    try {
      // Stryker disable next-line ConditionalExpression: a result without a batch id leaves it undefined either way.
      if ('batchId' in result) call.batchId = result.batchId;
      this.respond(call, HTTP_STATUS[result.status], result, result.status === 'failed' ? { 'retry-after': String(this.retryAfterSeconds()) } : undefined);
    } catch (error) {
      this.fail(call, error);
    }
  };

  /** An element of a batch: its outcome, or a 504 result once the request timeout is over (see `submit`). */
  private outcome(item: Encoded): Promise<Result> {
    const outcome = this.deps.delivery.engine.submit(item);
    return new Promise<Result>((resolve) => {
      let pending = true;
      const settle = (value: DeliveryOutcome | 'timeout'): void => {
        if (!pending) return;
        pending = false;
        // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: only frees the deadline early; one left to expire finds the element settled and does nothing.
        if (value !== 'timeout') this.deadlines.cancel(deadline);
        this.answers.hand(resolve as (value: Call | Result) => void, this.record(item.profile, value));
      };
      const deadline = this.deadlines.add(() => settle('timeout'));
      void outcome.then(settle);
    });
  }

  /** The series of `sync_submissions_total` for an outcome and error class, looked up without building its labels (once per answer). */
  private counted(outcome: string, errorClass: string): CountedSeries {
    let byClass = this.outcomes.get(outcome);
    // Stryker disable next-line ConditionalExpression: a cache; a new map each time counts the same.
    if (!byClass) this.outcomes.set(outcome, (byClass = new Map()));
    let series = byClass.get(errorClass);
    // Stryker disable next-line ConditionalExpression: the same cache; SyncMetrics.series finds the same series.
    if (!series) byClass.set(errorClass, (series = this.deps.metrics.series(this.deps.metrics.submissions, { outcome, error_class: errorClass })));
    return series;
  }

  /** Counts an outcome (or timeout) and logs a refusal. */
  private record(profile: Encoded['profile'], outcome: DeliveryOutcome | 'timeout'): Result {
    const result = toResult(profile, outcome);
    if (outcome === 'timeout') this.counted('timeout', 'server').inc();
    else this.counted(outcome.status, 'errorClass' in outcome ? outcome.errorClass : '').inc();
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

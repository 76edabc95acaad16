import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { CircuitOpenError, DataRefusedError, HttpStatusError, InterruptedError, RefusedError, SyncError, toSyncError, ExitCode, type ErrorClass } from '../errors.js';
import type { ConcurrencyGate, Permit } from './concurrency-gate.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { Executor, RetryEvent } from './executor.js';
import type { Limiter, Slot } from './limiter.js';

/**
 * What the downstream said about one item of a batch: taken, refused (with its words), or not
 * said at all (an answer that names neither: never counted as delivered).
 */
export interface ItemResult {
  status: 'accepted' | 'rejected' | 'unconfirmed';
  error?: string;
}

/** Moments of one attempt, reported by the transport (the rate window follows `departed`). */
export interface RequestHooks {
  /** The body is serialized and handed to the HTTP client. */
  bodyReady?: () => void;
  /** The request must not leave before this instant (epoch ms): the transport holds it until then. */
  notBefore?: number;
  /** The request is being written to a connected socket: it is leaving now. */
  departed?: () => void;
}

/** One attempt at delivering a batch: resolves with one result per item, in order; throws SyncErrors. */
export type SendBatch<T> = (batchId: string, items: readonly T[], signal?: AbortSignal, hooks?: RequestHooks) => Promise<ItemResult[]>;

/** The fate of one submitted item. */
export type DeliveryOutcome =
  | { status: 'delivered'; batchId: string }
  | { status: 'rejected'; batchId: string; errorClass: 'client'; reason: string }
  | { status: 'failed'; errorClass: ErrorClass; reason: string; batchId?: string }
  /** Merged into a later item with the same key in the same batch; the later one carries it. */
  | { status: 'duplicate'; batchId: string };

/** An outcome a delivery settles (duplicates are settled when the batch is formed). */
type Settled = Exclude<DeliveryOutcome, { status: 'duplicate' }>;

export interface BatchEvents {
  onBatch?: (batch: { batchId: string; size: number; parent?: string; reason?: 'split' | 'bisect' }) => void;
  onBatchDone?: (batch: { batchId: string; size: number; delivered: number; rejected: number; failed: number; durationMs: number }) => void;
  onRetry?: (batchId: string, event: RetryEvent) => void;
  /**
   * Every attempt that went out: its HTTP status (or error code), how long it took, and when it was
   * granted, had its body ready and left (epoch ms; where the time between grant and arrival goes).
   */
  onRequest?: (request: {
    batchId: string;
    attempt: number;
    status: string;
    durationMs: number;
    grantedAt?: number;
    notBefore?: number;
    bodyReadyAt?: number;
    departedAt?: number;
  }) => void;
}

export interface BatchEngineOptions<T> {
  send: SendBatch<T>;
  executor: Executor;
  limiter: Limiter;
  breaker?: CircuitBreaker;
  /** The same gate as the executor's: a batch is formed only when a request may go on the wire. */
  gate?: ConcurrencyGate;
  batchSize: number;
  /**
   * Bytes: a batch never weighs more than `maxBytes` (the body as sent: the items' own bytes plus
   * the envelope's for that many items), whatever `batchSize` allows.
   */
  bytes?: { weigh: (item: T) => number; envelope: (count: number) => number; maxBytes: number };
  /** Items with the same key are never in flight twice at once and merge within a batch (last wins). */
  key: (item: T) => string;
  /** The batch's id (sent as its Idempotency-Key), from what it holds; random by default. */
  newBatchId?: (items: readonly T[]) => string;
  now?: () => number;
  events?: BatchEvents;
  /**
   * false: hold sending until `start()` (or `close()`). A file reader uses it to queue one burst of
   * slots' worth before the first slots open, so they do not leave half empty. Default: start at once.
   */
  autoStart?: boolean;
  /**
   * With autoStart false: start on its own once this many items are queued. Smooth pacing hands
   * out one slot at a time, so one full batch is all the first slot needs; waiting for more only
   * delays the first request.
   */
  startWhenQueued?: number;
  /**
   * How long a refusal of the run itself (RefusedError: a refused token, a wrong list, a spent daily
   * quota) fails new items at once before the platform is asked again. Undefined: for the engine's
   * whole life, as push wants (the run ends). A long-lived server needs a bound: the refusal may be
   * over (a token fixed, a quota reset at midnight, a 401 HubSpot sends now and then).
   */
  refusalHoldMs?: number;
  /**
   * Before each batch is formed: a promise while the caller's record of answered batches (push's
   * state commits) is behind, undefined when it is not. Waiting for it keeps answered but
   * unrecorded batches to those in flight, however slow the record gets: that is all a kill may
   * send again.
   */
  catchUp?: () => Promise<void> | undefined;
}

interface Pending<T> {
  item: T;
  key: string;
  resolve: (outcome: DeliveryOutcome) => void;
}

export interface BatchEngineStats {
  batches: number;
  splits: number;
}

const randomBatchId = (): string => `b-${randomBytes(8).toString('hex')}`;

/**
 * The delivery half of the engine: items go in one at a time, each caller gets a promise of its
 * own item's outcome. A batch forms when a rate slot opens: whatever is queued then, up to
 * `batchSize`, goes at once (no linger timer, no waiting for a full batch), and requests overlap,
 * so a slow downstream does not cut throughput below rate × batch size.
 *
 * Ordering: items are taken in submission order, and an item whose key is in flight waits for that
 * batch to settle, so a later record for the same email can never overtake an earlier one (a retry
 * of the earlier batch cannot undo the later record).
 */
export class BatchEngine<T> {
  readonly stats: BatchEngineStats = { batches: 0, splits: 0 };
  private readonly options: BatchEngineOptions<T>;
  private queue: Pending<T>[] = [];
  /**
   * This many items at the head of the queue wait behind a key in flight, as last looked at. Only
   * a key leaving flight or a new queue can unblock them, and both reset it: so each wake of the
   * dispatcher looks only at items it has not seen, not at the whole queue (a server's callers
   * each wake it once; walking the queue each time made a submission cost O(queued)).
   */
  private blockedHead = 0;
  /** Keys of the batches taken from the queue and not yet settled (their splits and halves included). */
  private readonly inFlightKeys = new Set<string>();
  private inFlight = 0;
  private batchSize: number;
  private closing = false;
  private readonly stop = new AbortController();
  private wake: (() => void) | undefined;
  // Stryker disable next-line ArrayDeclaration: a stray initial entry would never be released, and no caller waits on it
  private readonly drainWaiters: { below: number; resolve: () => void }[] = [];
  private dispatching: Promise<void> | undefined;
  /** Batches taken from the queue whose request has not left yet (nor ended without leaving). */
  private awaitingDeparture = 0;
  private readonly deliveries = new Set<Promise<void>>();
  /** A refusal no retry can fix (401/403): everything still waiting fails with it, at once. */
  private refused: SyncError | undefined;
  /** Until when (epoch ms) `refused` holds. */
  private refusedUntil = Infinity;

  constructor(options: BatchEngineOptions<T>) {
    this.options = options;
    this.batchSize = options.batchSize;
    // Every in-flight delivery, request and backoff listens here by design; Node's default cap of
    // 10 would print a warning (not a JSON log line) to stderr during an outage.
    setMaxListeners(0, this.stop.signal);
    if (options.autoStart ?? true) this.start();
  }

  /** Begin sending (idempotent). */
  start(): void {
    this.dispatching ??= this.dispatch();
  }

  /** Sending has begun (`start()`, or on its own at `startWhenQueued`). */
  get started(): boolean {
    return this.dispatching !== undefined;
  }

  /** Items waiting for a slot. */
  get queued(): number {
    return this.queue.length;
  }

  /** Batches on the wire (including their retries and splits). */
  get batchesInFlight(): number {
    return this.inFlight;
  }

  /** The batch size in force (lowered after a 413). */
  get currentBatchSize(): number {
    return this.batchSize;
  }

  /** The refusal in force (see `refusalHoldMs`), if any. */
  get refusal(): SyncError | undefined {
    if (this.refused && this.now() >= this.refusedUntil) this.refused = undefined;
    return this.refused;
  }

  submit(item: T): Promise<DeliveryOutcome> {
    const refusal = this.refusal;
    if (refusal) return Promise.resolve(failed(refusal));
    if (this.closing) return Promise.resolve(failed(new InterruptedError('engine is shutting down')));
    const { breaker, executor } = this.options;
    // With --retry-for, an outage younger than that is waited out in the queue instead.
    if (breaker?.state === 'open' && executor.breakerWaitUntil() === undefined) return Promise.resolve(failed(new CircuitOpenError(breaker.reopensAt)));
    return new Promise((resolve) => {
      this.queue.push({ item, key: this.options.key(item), resolve });
      if (!this.dispatching && this.queue.length >= (this.options.startWhenQueued ?? Infinity)) this.start();
      this.nudge();
    });
  }

  /** Resolves once fewer than `below` items are queued: producers use it for backpressure. */
  whenQueueBelow(below: number): Promise<void> {
    if (this.queue.length < below) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ below, resolve }));
  }

  /** Stop accepting, deliver everything queued and in flight, then resolve. */
  async close(): Promise<void> {
    this.closing = true;
    this.start();
    this.nudge();
    await this.dispatching;
    while (this.deliveries.size > 0) await Promise.all(this.deliveries);
  }

  /** Stop now: queued items fail as interrupted, in-flight requests are cancelled. */
  async abort(): Promise<void> {
    this.closing = true;
    this.stop.abort(new InterruptedError());
    this.failQueued(new InterruptedError('interrupted before delivery'));
    this.nudge();
    await this.dispatching?.catch(() => undefined);
    while (this.deliveries.size > 0) await Promise.all(this.deliveries);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private nudge(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private sleepUntilNudged(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private async dispatch(): Promise<void> {
    const { limiter, breaker, executor } = this.options;
    for (;;) {
      // Stryker disable next-line ConditionalExpression: a shortcut; after abort() the queue is empty and closing is set, so the loop ends below anyway
      if (this.stop.signal.aborted) return;
      const state = breaker?.state;
      if (state === 'open') {
        const until = executor.breakerWaitUntil();
        if (until === undefined) {
          this.failQueued(new CircuitOpenError(breaker!.reopensAt));
        } else if (this.queue.length > 0) {
          // --retry-for: no batch is formed while the circuit is open (the queue stays bounded, and
          // the reader waits for room); the queue waits for the next probe, or for the outage to
          // outlast --retry-for, when it fails as without.
          try {
            await executor.waitForProbe(until, this.stop.signal);
          } catch (error) {
            // Interrupted: abort() has already failed the queue.
            if (this.stop.signal.aborted) return;
            throw error;
          }
          continue;
        }
      }
      const sendable = this.queue.length > 0 && !(state === 'half-open' && this.inFlight > 0) && this.hasSendable();
      if (!sendable) {
        if (this.closing && this.queue.length === 0) return;
        await this.sleepUntilNudged();
        continue;
      }
      // One event-loop turn (not a timer): a burst being submitted right now, such as the records
      // of a chunk just read, lands in this batch instead of trickling out one slot per record.
      // It comes before the slot, never between slot and send: the platform counts arrivals, so a
      // granted request must leave at once (a busy event loop here once caused 429s).
      await new Promise<void>((resolve) => setImmediate(resolve));
      const behind = this.options.catchUp?.();
      if (behind) {
        await behind;
        continue;
      }
      let permit: Permit | undefined;
      let slot: Slot;
      try {
        // Room on the wire first, then the rate slot: a slot must be used at once (see above).
        permit = await this.options.gate?.acquire(this.stop.signal);
        slot = await limiter.acquire(this.stop.signal);
      } catch (error) {
        permit?.release();
        // Stryker disable next-line ConditionalExpression: a shortcut; abort() has already failed the queue, and the loop ends at its top
        if (this.stop.signal.aborted) return;
        // The shared quota stayed away longer than a request may wait: what is queued cannot be
        // sent now (fail closed). Fail it, and keep going: new items try again, and go out once
        // the quota is back.
        this.failQueued(toSyncError(error));
        continue;
      }
      const batch = this.take();
      if (batch.items.length === 0) {
        slot.cancel();
        permit?.release();
        continue;
      }
      this.track(this.deliver(batch.batchId, batch.items, { slot, permit }));
    }
  }

  private hasSendable(): boolean {
    if (this.inFlightKeys.size === 0) return true;
    for (; this.blockedHead < this.queue.length; this.blockedHead++) {
      if (!this.inFlightKeys.has(this.queue[this.blockedHead]!.key)) return true;
    }
    return false;
  }

  /**
   * Up to batchSize sendable items in submission order (and no more bytes than allowed); same-key
   * items merge, the later wins.
   */
  private take(): { batchId: string; items: Pending<T>[] } {
    const items: Pending<T>[] = [];
    const merged: Pending<T>[] = [];
    const positionOf = new Map<string, number>();
    const blocked: Pending<T>[] = [];
    const { bytes } = this.options;
    let weight = 0;
    let i = 0;
    for (; i < this.queue.length && items.length < this.batchSize; i++) {
      const pending = this.queue[i]!;
      if (this.inFlightKeys.has(pending.key)) {
        blocked.push(pending);
        continue;
      }
      const at = positionOf.get(pending.key);
      if (bytes) {
        const added = bytes.weigh(pending.item) - (at === undefined ? 0 : bytes.weigh(items[at]!.item));
        const count = items.length + (at === undefined ? 1 : 0);
        // Full by bytes: stop here (one item always goes, so nothing waits for ever; an item too
        // large for any batch is refused before it is submitted).
        if (items.length > 0 && weight + added + bytes.envelope(count) > bytes.maxBytes) break;
        weight += added;
      }
      if (at === undefined) {
        positionOf.set(pending.key, items.length);
        items.push(pending);
      } else {
        merged.push(items[at]!);
        items[at] = pending;
      }
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut; concatenating no blocked items gives the same queue
    this.queue = blocked.length > 0 ? blocked.concat(this.queue.slice(i)) : this.queue.slice(i);
    this.blockedHead = 0;
    // Producers waiting for room are woken once this batch has left (see deliver), not now: a file
    // reader refilling the queue keeps the event loop busy for tens of milliseconds, and that must
    // not happen while the request waits for the instant it may leave.
    // Stryker disable next-line ConditionalExpression,StringLiteral: an empty take sends and settles nothing, so its id is never seen
    const batchId = items.length === 0 ? '' : this.options.newBatchId ? this.options.newBatchId(items.map((pending) => pending.item)) : randomBatchId();
    for (const pending of merged) pending.resolve({ status: 'duplicate', batchId });
    return { batchId, items };
  }

  private releaseDrainWaiters(): void {
    for (let w = this.drainWaiters.length - 1; w >= 0; w--) {
      const waiter = this.drainWaiters[w]!;
      if (this.queue.length < waiter.below) {
        this.drainWaiters.splice(w, 1);
        waiter.resolve();
      }
    }
  }

  private failQueued(error: SyncError): void {
    const queue = this.queue;
    this.queue = [];
    this.blockedHead = 0;
    for (const pending of queue) pending.resolve(failed(error));
    this.releaseDrainWaiters();
  }

  private track(delivery: Promise<unknown>): void {
    const done = delivery.then(() => undefined);
    this.deliveries.add(done);
    void done.finally(() => this.deliveries.delete(done));
  }

  /**
   * Sends one batch and settles its items. `probe` (a half of a bisected batch): a 400 for the half
   * as a whole is returned unsettled instead, so the caller can compare the two halves.
   */
  private async deliver(
    batchId: string,
    items: Pending<T>[],
    held: { slot?: Slot; permit?: Permit },
    parent?: { id: string; reason: 'split' | 'bisect' },
    probe = false,
  ): Promise<HttpStatusError | undefined> {
    const { executor, events, send } = this.options;
    const now = this.options.now ?? Date.now;
    const started = now();
    this.stats.batches += 1;
    this.inFlight += 1;
    // Split and bisected halves run within their parent's delivery, which holds their keys.
    if (!parent) for (const { key } of items) this.inFlightKeys.add(key);
    events?.onBatch?.({ batchId, size: items.length, parent: parent?.id, reason: parent?.reason });
    const tally = { delivered: 0, rejected: 0, failed: 0 };
    // A batch taken from the queue (not a split or bisected half) counts as waiting to leave until
    // its first request has left or its delivery ends.
    let awaiting = !parent;
    if (awaiting) this.awaitingDeparture += 1;
    const left = (): void => {
      if (!awaiting) return;
      awaiting = false;
      this.awaitingDeparture -= 1;
    };
    const settle = (pending: Pending<T>, outcome: Settled): void => {
      tally[outcome.status] += 1;
      pending.resolve(outcome);
    };
    try {
      const attempt = async (n: number, attemptSlot: Slot | undefined): Promise<ItemResult[]> => {
        const sent = now();
        let status = '200';
        let bodyReadyAt: number | undefined;
        let departedAt: number | undefined;
        const hooks: RequestHooks = {
          notBefore: attemptSlot?.notBefore,
          bodyReady: () => (bodyReadyAt ??= now()),
          departed: () => {
            departedAt ??= now();
            attemptSlot?.depart();
            left();
            this.releaseDrainWaiters();
          },
        };
        try {
          return await send(batchId, items.map((pending) => pending.item), this.stop.signal, hooks);
        } catch (error) {
          status = describeStatus(error);
          throw error;
        } finally {
          events?.onRequest?.({
            batchId,
            attempt: n,
            status,
            durationMs: now() - sent,
            grantedAt: attemptSlot?.grantedAt,
            notBefore: attemptSlot?.notBefore,
            bodyReadyAt,
            departedAt,
          });
        }
      };
      const results = await executor.run(attempt, {
        signal: this.stop.signal,
        slot: held.slot,
        permit: held.permit,
        onRetry: (event) => events?.onRetry?.(batchId, event),
      });
      items.forEach((pending, index) => {
        const result = results[index]!;
        settle(pending, outcomeOf(result, batchId));
      });
    } catch (caught) {
      const error = toSyncError(caught);
      const answered = error instanceof HttpStatusError ? error : undefined;
      const status = answered?.status ?? 0;
      const aborted = this.stop.signal.aborted;
      if (status === 400 && probe && !aborted) return answered;
      if (status === 413 && items.length > 1 && !aborted) {
        // Too big: halve it, and the batch size from now on.
        this.batchSize = Math.max(1, Math.min(this.batchSize, Math.floor(items.length / 2)));
        this.stats.splits += 1;
        const middle = Math.ceil(items.length / 2);
        await Promise.all([
          this.deliver(`${batchId}.1`, items.slice(0, middle), {}, { id: batchId, reason: 'split' }),
          this.deliver(`${batchId}.2`, items.slice(middle), {}, { id: batchId, reason: 'split' }),
        ]);
      } else if (status === 400 && items.length > 1 && !aborted) {
        await this.bisect(batchId, items, settle);
      } else if (status === 400 || status === 413) {
        for (const pending of items) settle(pending, { status: 'rejected', batchId, errorClass: 'client', reason: error.message });
      } else {
        if (error instanceof RefusedError && !this.refusal) {
          this.refused = error;
          this.refusedUntil = this.now() + (this.options.refusalHoldMs ?? Infinity);
          this.failQueued(error);
        }
        for (const pending of items) settle(pending, { ...failed(error), batchId });
      }
    } finally {
      left();
      // Not while a batch taken since waits for its instant: a producer woken at this answer (push's
      // reader, refilling the queue for tens of milliseconds) would run into that departure. The
      // departure wakes it instead; a batch that ends without leaving wakes it here.
      if (this.awaitingDeparture === 0) this.releaseDrainWaiters();
      this.inFlight -= 1;
      if (!parent) {
        for (const { key } of items) this.inFlightKeys.delete(key);
        this.blockedHead = 0;
      }
      if (!parent || tally.delivered + tally.rejected + tally.failed > 0) {
        events?.onBatchDone?.({ batchId, size: items.length, ...tally, durationMs: now() - started });
      }
      this.nudge();
    }
    return undefined;
  }

  /**
   * A 400 for a batch of several: something in it is malformed, so its halves are tried apart, and a
   * half that fails again is bisected further until the bad profiles stand alone. Unless both halves
   * fail the same way (same status, same words): then the 400 is about the request, not about a
   * profile (a platform answering 400 to everything would otherwise cost two requests a profile
   * and blame the data), and the batch fails as the platform's fault. A refusal the platform itself
   * puts on a value (DataRefusedError) names a field, not a profile: it is bisected on whatever the words.
   */
  private async bisect(batchId: string, items: Pending<T>[], settle: (pending: Pending<T>, outcome: Settled) => void): Promise<void> {
    this.stats.splits += 1;
    const middle = Math.ceil(items.length / 2);
    const halves = [items.slice(0, middle), items.slice(middle)] as const;
    const ids = [`${batchId}.1`, `${batchId}.2`] as const;
    const parent = { id: batchId, reason: 'bisect' as const };
    const [first, second] = await Promise.all(halves.map((half, i) => this.deliver(ids[i]!, half, {}, parent, true)));
    if (first && second && first.detail === second.detail && !(first instanceof DataRefusedError)) {
      const said = first.detail ? ` ("${first.detail}")` : '';
      const error = new SyncError(
        `batch ${batchId}: the downstream answered HTTP 400 to both halves the same way${said}: not a profile's fault, so it is not split further`,
        'server',
        ExitCode.failed,
      );
      for (const pending of items) settle(pending, { ...failed(error), batchId });
      return;
    }
    await Promise.all(
      [first, second].map(async (refusal, i) => {
        if (!refusal) return;
        const half = halves[i]!;
        if (half.length > 1) await this.bisect(ids[i]!, half, settle);
        else settle(half[0]!, { status: 'rejected', batchId: ids[i]!, errorClass: 'client', reason: refusal.message });
      }),
    );
  }
}

function describeStatus(error: unknown): string {
  if (error instanceof HttpStatusError) return String(error.status);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'error';
}

function outcomeOf(result: ItemResult, batchId: string): Settled {
  switch (result.status) {
    case 'accepted':
      return { status: 'delivered', batchId };
    case 'rejected':
      return { status: 'rejected', batchId, errorClass: 'client', reason: result.error ?? 'rejected by the downstream' };
    case 'unconfirmed':
      return { status: 'failed', batchId, errorClass: 'unexpected', reason: result.error ?? "the downstream's answer does not say it took this profile" };
  }
}

function failed(error: SyncError): Extract<DeliveryOutcome, { status: 'failed' }> {
  return { status: 'failed', errorClass: error.errorClass, reason: error.message };
}

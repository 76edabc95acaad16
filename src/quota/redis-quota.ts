import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { InterruptedError, QuotaUnavailableError, UsageError } from '../errors.js';
import type { Clock } from '../engine/clock.js';
import type { Limiter, Slot } from '../engine/limiter.js';
import { LatenessMargin } from '../engine/lateness-margin.js';
import { CATCH_UP, MAX_WIDENING_MS, rateWindowMs, WIDEN_STEP_MS } from '../engine/rate-limiter.js';
import type { Logger } from '../logging/logger.js';
import { redactRedisUrl } from './redis-url.js';
import { CANCEL, CLAIM, DEPART, GRANT, PAUSE, RELEASE } from './scripts.js';

export type QuotaState = 'connected' | 'unavailable';

export interface RedisQuotaOptions {
  url: string;
  /** The shared budget's name: every process with the same Redis and key shares one limit. */
  key: string;
  /** Requests per second; every process using the key must ask for the same (see scripts.ts). */
  rate: number;
  /** Added to the window, as for the in-process limiter. */
  marginMs: number;
  smooth: boolean;
  leadMs: number;
  /**
   * Longest acquire() waits for a lost Redis before failing with QuotaUnavailableError (push and
   * pull: what their retry schedule would wait; serve: forever, its callers time out instead).
   */
  giveUpAfterMs: number;
  clock: Clock;
  logger: Logger;
  /** A granted slot whose departure is never reported counts as gone this long after its notBefore. */
  leaseMs?: number;
  /** How long to wait for Redis at start before giving up (exit 2). */
  connectTimeoutMs?: number;
  /**
   * How long a grant may wait for Redis's answer before Redis counts as lost (default 2 s; tests
   * pass a short one so that a silent Redis does not cost them seconds).
   */
  grantTimeoutMs?: number;
  /** How long this process's claim on the key (its rate) outlives its last renewal (default 30 s). */
  claimTtlMs?: number;
  /** How often an open quota renews its claim, busy or idle (default 10 s). */
  heartbeatMs?: number;
}

/** How often a waiting caller asks again while Redis is away. */
const RETRY_WHILE_DOWN_MS = 250;
const DEFAULT_LEASE_MS = 5_000;
/** A Redis that accepts the connection but does not answer (stopped, overloaded) counts as gone. */
const GRANT_TIMEOUT_MS = 2_000;
/**
 * A stopped fleet frees its key's rate within this long (a process that stops cleanly frees its
 * claim at once); a few missed heartbeats (a stalled event loop, a slow Redis) do not lose it.
 */
const DEFAULT_CLAIM_TTL_MS = 30_000;
const DEFAULT_HEARTBEAT_MS = 10_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  // Stryker disable next-line ArrowFunction: the timer is unref'd and its rejection handled by the race; clearing it only frees it early
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

interface QuotaCommands {
  syncGrant(...keysAndArgs: (string | number)[]): Promise<[number, string, string]>;
  syncClaim(...keysAndArgs: (string | number)[]): Promise<[number, string]>;
  syncRelease(...keysAndArgs: string[]): Promise<number>;
  syncDepart(...keysAndArgs: string[]): Promise<number>;
  syncCancel(...keysAndArgs: string[]): Promise<number>;
  syncPause(...keysAndArgs: (string | number)[]): Promise<number>;
}

/**
 * The rate limit shared through Redis: one sliding log of departures per quota key, kept by atomic
 * server-side scripts (quota/scripts.ts). It follows departures like the in-process limiter, so a
 * request granted in one process and sent late cannot land too close to one sent by another.
 *
 * Fail closed: while Redis is unreachable nothing is granted (a private limit could exceed the
 * shared one); the loss and the recovery are each logged once; a caller that has waited
 * `giveUpAfterMs` gets a QuotaUnavailableError.
 */
export class RedisQuota implements Limiter {
  readonly limit: number;
  private readonly options: RedisQuotaOptions;
  private readonly redis: Redis & QuotaCommands;
  private readonly keys: [string, string, string, string, string, string];
  private readonly baseWindowMs: number;
  private window: number;
  private current: number;
  private lastRaise = 0;
  private readonly lateness = new LatenessMargin();
  private downSince: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly idPrefix = randomBytes(6).toString('hex');
  private ids = 0;
  private closed = false;
  /** Connected once: from then on a loss is logged (a failure to connect at start is a usage error instead). */
  private opened = false;
  private lastError: Error | undefined;
  /** The key's rate as Redis last said (the lowest any live process asked for): this one's until told. */
  private inForce: number;
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(options: RedisQuotaOptions) {
    this.options = options;
    this.limit = Math.max(1, Math.floor(options.rate));
    this.baseWindowMs = rateWindowMs(options.rate) + options.marginMs;
    this.window = this.baseWindowMs;
    this.current = this.limit;
    this.inForce = options.rate;
    // A hash tag keeps the keys in one slot, should the Redis be a cluster.
    const base = `sync:quota:{${options.key}}`;
    this.keys = [`${base}:log`, `${base}:pending`, `${base}:pause`, `${base}:epoch`, `${base}:plan`, `${base}:holders`];
    // Built first and cast after: Stryker leaves the whole of an `x as T` expression unmutated.
    const client = new Redis(options.url, {
      lazyConnect: true,
      // Fail closed and fast: a command while disconnected fails at once instead of waiting in a
      // queue, and one in flight when the connection drops is not silently replayed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      // disconnect() arms a ref'd timer this long: it would hold a finished run open for 2 s.
      disconnectTimeout: 100,
      // No commandTimeout: ioredis arms it even for a command it refuses at once, and that timer
      // keeps the process alive; the grant gets its own unref'd deadline instead (withTimeout).
      // Once running, keep reconnecting for as long as the process runs: a restarted Redis is
      // picked up again. At start, no retries: unreachable then is a usage error at once.
      retryStrategy: (times) => (this.opened ? Math.min(100 * times, 1_000) : null),
    });
    this.redis = client as Redis & QuotaCommands;
    const scripts: [keyof QuotaCommands, string][] = [
      ['syncGrant', GRANT],
      ['syncDepart', DEPART],
      ['syncCancel', CANCEL],
      ['syncPause', PAUSE],
      ['syncClaim', CLAIM],
      ['syncRelease', RELEASE],
    ];
    for (const [name, lua] of scripts) {
      // EVALSHA with a fallback to EVAL, so a restarted Redis (empty script cache) just works.
      this.redis.defineCommand(name, { numberOfKeys: 6, lua });
    }
    // Connection errors surface as failed commands and as the state below; without a listener,
    // ioredis would print each one to the console.
    this.redis.on('error', (error: Error) => (this.lastError = error));
    this.redis.on('close', () => this.markDown());
    this.redis.on('ready', () => {
      this.markUp();
      // A restarted Redis has forgotten every claim: make this one count again at once.
      if (this.opened && !this.closed) this.renew();
    });
  }

  /** Connects, or fails with a one-line usage error (exit 2): a run must not start without its quota. */
  static async open(options: RedisQuotaOptions): Promise<RedisQuota> {
    const quota = new RedisQuota(options);
    try {
      // ioredis's connectTimeout ends at the TCP connect: a Redis that accepts but never answers
      // (stopped, overloaded) would otherwise hold the start forever instead of exit 2.
      await withTimeout(
        quota.redis.connect().then(() => quota.redis.ping()),
        options.connectTimeoutMs ?? 2_000,
      );
    } catch (error) {
      quota.redis.disconnect();
      // ioredis rejects with "Connection is closed"; the socket's own error says why.
      const reason = (quota.lastError ?? (error as Error)).message;
      throw new UsageError(`cannot reach Redis at ${redactRedisUrl(options.url)} (--redis-url): ${reason}`);
    }
    await quota.claim();
    quota.downSince = undefined;
    quota.opened = true;
    quota.heartbeat = setInterval(() => quota.renew(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    // A run that ends without close() must still be able to exit.
    quota.heartbeat.unref();
    return quota;
  }

  /** Holds the key at this process's rate, or fails with a usage error if it is in use at another. */
  private async claim(): Promise<void> {
    const { key, rate } = this.options;
    let reply: [number, string];
    try {
      reply = await withTimeout(this.redis.syncClaim(...this.keys, String(rate), this.idPrefix, this.claimTtlMs, 1), this.options.connectTimeoutMs ?? 2_000);
    } catch (error) {
      this.redis.disconnect();
      throw new UsageError(`cannot reach Redis at ${redactRedisUrl(this.options.url)} (--redis-url): ${(error as Error).message}`);
    }
    const [claimed, inUse] = reply;
    if (claimed === 1) return;
    this.redis.disconnect();
    throw new UsageError(
      `--rate ${rate}: the shared quota "${key}" is in use at --rate ${inUse} by another process (one that died keeps its claim for up to 30 s); use the same --rate or another --quota-key`,
    );
  }

  /** The heartbeat: renews the claim, and learns the rate in force. Lost if Redis is away (grants report that). */
  private renew(): void {
    withTimeout(this.redis.syncClaim(...this.keys, String(this.options.rate), this.idPrefix, this.claimTtlMs, 0), this.options.grantTimeoutMs ?? GRANT_TIMEOUT_MS)
      .then(([, inForce]) => this.learnRate(inForce))
      .catch(() => undefined);
  }

  private get claimTtlMs(): number {
    return this.options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  }

  get state(): QuotaState {
    return this.downSince === undefined ? 'connected' : 'unavailable';
  }

  /** The window of the key's rate in force, with this process's margin, widening and lateness. */
  get windowMs(): number {
    return rateWindowMs(this.inForce) + this.extraMs;
  }

  /** The rate the key is paced at: this process's, unless another live process asked for less. */
  get rateInForce(): number {
    return this.inForce;
  }

  /** What this process adds to its rate's window (the grant script adds it to the rate in force's). */
  private get extraMs(): number {
    return this.window - rateWindowMs(this.options.rate) + this.lateness.extraMs;
  }

  get currentLimit(): number {
    return this.current;
  }

  /** How long a health probe's answer is reused: pollers every second (or several at once) share a PING. */
  static readonly PROBE_CACHE_MS = 250;
  /** The PING in flight, if any, and when it left (on `clock`). */
  private ping: { sentAt: number; answered: Promise<boolean> } | undefined;
  private lastProbe: { at: number; answered: boolean } | undefined;

  /**
   * Whether Redis answers a PING within `timeoutMs`, for /healthz. `state` cannot tell: a stopped
   * or stuck Redis keeps its connection open, so it stays "connected" until a grant times out (and
   * with nothing to send, none is asked for). One PING at a time: while one is unanswered later
   * probes wait for it, and once it is `timeoutMs` old they answer false at once, so a frozen
   * Redis does not collect a PING per health check. An answer is reused for PROBE_CACHE_MS.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    const { clock } = this.options;
    const now = clock.now();
    if (this.lastProbe && now - this.lastProbe.at < RedisQuota.PROBE_CACHE_MS) return this.lastProbe.answered;
    if (!this.ping) {
      const answered = this.redis.ping().then(
        () => true,
        () => false,
      );
      this.ping = { sentAt: now, answered };
      void answered.then(() => (this.ping = undefined));
    }
    const left = this.ping.sentAt + timeoutMs - now;
    const answered = left > 0 && (await withTimeout(this.ping.answered, left).catch(() => false));
    this.lastProbe = { at: clock.now(), answered };
    return answered;
  }

  acquire(signal?: AbortSignal): Promise<Slot> {
    // One request at a time per process, in order; other processes interleave through Redis.
    const turn = this.queue.then(() => this.waitForSlot(signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  pauseUntil(time: number): void {
    const delay = Math.max(0, Math.ceil(time - this.options.clock.now()));
    // Shared: the platform's 429 is about everyone's requests. Lost if Redis is away, and then
    // nobody is sending anyway.
    this.redis.syncPause(...this.keys, delay).catch(() => undefined);
  }

  slowDown(): void {
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.lastRaise = this.options.clock.now();
  }

  recover(): void {
    if (this.current >= this.limit) return;
    const now = this.options.clock.now();
    if (now - this.lastRaise < this.window) return;
    this.current += 1;
    this.lastRaise = now;
  }

  widenMargin(): number {
    this.window = Math.min(this.window + WIDEN_STEP_MS, this.baseWindowMs + MAX_WIDENING_MS);
    return this.window - rateWindowMs(this.options.rate) + rateWindowMs(this.inForce);
  }

  async close(): Promise<void> {
    // Stryker disable next-line ConditionalExpression: without it a second close repeats quit on an ended connection, which fails at once and falls back to a disconnect that does nothing
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    // Free the claim now rather than when it lapses; if Redis is away it lapses on its own.
    await withTimeout(this.redis.syncRelease(...this.keys, String(this.options.rate), this.idPrefix), this.options.grantTimeoutMs ?? GRANT_TIMEOUT_MS).catch(() => undefined);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async waitForSlot(signal?: AbortSignal): Promise<Slot> {
    const { clock, leadMs, giveUpAfterMs } = this.options;
    for (;;) {
      signal?.throwIfAborted();
      // Stryker disable next-line UpdateOperator: counting down gives unique ids as well
      const id = `${this.idPrefix}:${++this.ids}`;
      let reply: [number, string, string];
      try {
        reply = await withTimeout(
          this.redis.syncGrant(
            ...this.keys,
            this.current,
            this.extraMs,
            this.options.smooth ? 1 : 0,
            leadMs,
            this.options.leaseMs ?? DEFAULT_LEASE_MS,
            id,
            CATCH_UP,
            String(this.options.rate),
            this.idPrefix,
            this.claimTtlMs,
          ),
          this.options.grantTimeoutMs ?? GRANT_TIMEOUT_MS,
        );
        this.markUp();
      } catch (error) {
        if (signal?.aborted) throw new InterruptedError();
        this.markDown(error);
        const waited = clock.now() - (this.downSince ?? clock.now());
        if (waited >= giveUpAfterMs) {
          throw new QuotaUnavailableError(
            `rate quota unavailable: Redis at ${redactRedisUrl(this.options.url)} unreachable for ${Math.round(waited / 1000)} s; nothing was sent`,
            { cause: error },
          );
        }
        await clock.sleep(Math.min(RETRY_WHILE_DOWN_MS, giveUpAfterMs - waited), signal);
        continue;
      }
      const [granted, waitText, inForce] = reply;
      this.learnRate(inForce);
      const wait = Number(waitText);
      if (granted === 1) return this.slot(id, wait);
      // A few ms of jitter so processes waiting for the same instant do not ask in lock-step.
      await clock.sleep(Math.max(1, wait - leadMs) + Math.random() * 3, signal);
    }
  }

  private slot(id: string, wait: number): Slot {
    const grantedAt = this.options.clock.now();
    const notBefore = grantedAt + wait;
    let open = true;
    const close = (script: 'syncDepart' | 'syncCancel'): void => {
      if (!open) return;
      open = false;
      if (script === 'syncDepart' && this.options.leadMs > 0) this.lateness.record(this.options.clock.now() - notBefore);
      // If this is lost, the lease counts the slot as gone at its end (later than it really left).
      this.redis[script](...this.keys, id).catch(() => undefined);
    };
    return { grantedAt, notBefore, depart: () => close('syncDepart'), cancel: () => close('syncCancel') };
  }

  /** Logs when the key's rate in force stops being (or is again) this process's own. */
  private learnRate(text: string): void {
    const rate = Number(text);
    if (!(rate > 0) || rate === this.inForce) return;
    this.inForce = rate;
    const { key, rate: own } = this.options;
    if (rate < own) {
      this.options.logger.warn(
        { stage: 'send', quota: 'rate', rateInForce: rate },
        `the shared quota "${key}" is held at --rate ${text} by another process (claims were lost meanwhile, e.g. Redis restarted): pacing at that rate, not --rate ${own}`,
      );
    } else {
      this.options.logger.info({ stage: 'send', quota: 'rate', rateInForce: rate }, `the shared quota "${key}" is back at --rate ${text}`);
    }
  }

  private markDown(error?: unknown): void {
    if (this.closed || this.downSince !== undefined) return;
    this.downSince = this.options.clock.now();
    if (!this.opened) return;
    const reason = error instanceof Error ? `: ${error.message}` : '';
    this.options.logger.error(
      { stage: 'send', quota: 'unavailable' },
      `rate quota lost (Redis at ${redactRedisUrl(this.options.url)}${reason}): nothing is sent until it is back`,
    );
  }

  private markUp(): void {
    if (this.downSince === undefined) return;
    const downMs = this.options.clock.now() - this.downSince;
    this.downSince = undefined;
    this.options.logger.warn({ stage: 'send', quota: 'connected', downMs }, `rate quota back after ${Math.round(downMs)} ms: sending again`);
  }
}

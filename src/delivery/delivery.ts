import type { AxiosInstance } from 'axios';
import { RateLimitedError } from '../errors.js';
import { BatchEngine } from '../engine/batch-engine.js';
import { CircuitBreaker, type BreakerState } from '../engine/circuit-breaker.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { Executor } from '../engine/executor.js';
import type { Random } from '../engine/random.js';
import type { Limiter } from '../engine/limiter.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import { RetryBudget } from '../engine/retry-budget.js';
import { RetryPolicy } from '../engine/retry-policy.js';
import type { Logger } from '../logging/logger.js';
import { logRetry } from '../logging/retry-log.js';
import type { SyncMetrics } from '../telemetry/metrics.js';
import { ConcurrencyGate } from '../engine/concurrency-gate.js';
import { DestinationClient } from './destination-client.js';
import type { Encoded, Target } from '../destinations/destination.js';
import { count } from '../ui/count.js';
import { DELIVERY_PACING } from './pacing.js';


export interface DeliveryOptions {
  target: Target;
  rate: number;
  batchSize: number;
  /** Requests in flight at most (`--concurrency`); undefined: unbounded. */
  concurrency?: number;
  maxRetries: number;
  /** --retry-for: keep retrying a failing batch this long after its first failure (see RetryPolicy). */
  retryForMs?: number;
  /** false: hold sending until `engine.start()`. */
  autoStart?: boolean;
  /** How long a refusal of the run (401/403, a wrong list, a spent daily quota) holds; see BatchEngineOptions. */
  refusalHoldMs?: number;
}

export interface DeliveryDependencies {
  logger: Logger;
  clock?: Clock;
  jitter?: Random;
  http?: AxiosInstance;
  timeoutMs?: number;
  /**
   * A batch's id (its Idempotency-Key), formed when the batch is: random by default (serve: every
   * batch is a new intent); push derives it from the batch and the state (push/batch-key.ts).
   */
  newBatchId?: (items: readonly Encoded[]) => string;
  breaker?: { failureThreshold?: number; cooldownMs?: number };
  metrics?: SyncMetrics;
  /** A shared quota (quota/open-quota.ts); default: an in-process limiter with DELIVERY_PACING. */
  limiter?: Limiter;
  /** The level of the line logged per batch (a person at a terminal gets progress instead). */
  batchLogLevel?: 'info' | 'debug';
  /** See BatchEngineOptions.catchUp: push waits for its state to record what was answered. */
  catchUp?: () => Promise<void> | undefined;
}

export interface Delivery {
  engine: BatchEngine<Encoded>;
  executor: Executor;
  breaker: CircuitBreaker;
  client: DestinationClient;
  /**
   * Before anything is read or sent: the platform's own check of the credential, the list and the
   * mapped fields (a refusal is a usage error naming what to fix; a platform that is down fails
   * after the usual retries). Its requests take rate slots like any other.
   */
  preflight(signal?: AbortSignal): Promise<void>;
}

/**
 * The delivery stack push and serve share, wired once: smooth limiter with the arrival margin,
 * breaker, retry budget, the one retry loop, the batcher, and their events turned into log lines
 * and metrics.
 */
export function createDelivery(options: DeliveryOptions, deps: DeliveryDependencies): Delivery {
  const clock = deps.clock ?? systemClock;
  const { logger, metrics } = deps;
  const limiter = deps.limiter ?? RateLimiter.perSecond(options.rate, clock, DELIVERY_PACING);
  const breaker = new CircuitBreaker({
    clock,
    ...deps.breaker,
    onStateChange: (state: BreakerState) =>
      logger[state === 'open' ? 'error' : 'warn']({ stage: 'send', breaker: state }, `downstream circuit ${state}`),
  });
  const gate = options.concurrency === undefined ? undefined : new ConcurrencyGate(options.concurrency, clock);
  const executor = new Executor({
    clock,
    limiter,
    breaker,
    gate,
    budget: new RetryBudget(),
    // The platform's limit is known: pause on 429, do not halve the rate.
    slowDownOn429: false,
    policy: new RetryPolicy({ maxRetries: options.maxRetries, retryForMs: options.retryForMs, random: deps.jitter ?? Math.random }),
  });
  const client = new DestinationClient(options.target, { timeoutMs: deps.timeoutMs, http: deps.http });
  const { destination } = options.target;
  const maxBytes = destination.limits.maxBytes;
  const engine = new BatchEngine<Encoded>({
    send: client.send,
    executor,
    limiter,
    breaker,
    gate,
    batchSize: options.batchSize,
    bytes: maxBytes === undefined ? undefined : { weigh: (item) => item.bytes, envelope: (count) => destination.envelopeBytes(count), maxBytes },
    key: (item) => item.profile.email,
    newBatchId: deps.newBatchId,
    now: () => clock.now(),
    autoStart: options.autoStart,
    refusalHoldMs: options.refusalHoldMs,
    catchUp: deps.catchUp,
    // Smooth pacing: one batch is a full first slot.
    startWhenQueued: options.batchSize,
    events: {
      onBatch: ({ batchId, size, parent, reason }) => {
        metrics?.batchSize.observe(size);
        logger.debug({ stage: 'batch', batchId, size, ...(parent ? { parent, reason } : {}) }, `batch of ${size} formed`);
      },
      onBatchDone: ({ batchId, ...result }) => logger[deps.batchLogLevel ?? 'info']({ stage: 'send', batchId, ...result }, `batch ${batchId} done`),
      onRequest: ({ batchId, status, durationMs, ...timing }) => {
        // Where the time between a grant and the wire goes (bench/push.js reads these lines).
        logger.debug({ stage: 'send', batchId, status, durationMs, ...timing }, `request ${batchId} ${status}`);
        metrics?.downstreamRequests.inc({ status });
        metrics?.downstreamDuration.observe({ status }, durationMs / 1000);
        if (status === '429') metrics?.rateLimited.inc();
      },
      onRetry: (batchId, event) => {
        metrics?.retries.inc({ kind: event.kind });
        logRetry(logger, 'send', { batchId }, event);
        if (event.kind !== 'rate-limited') return;
        if (event.error instanceof RateLimitedError && event.error.scope === 'connections') {
          logger.warn({ stage: 'send', batchId, concurrency: gate?.limit }, `${destination.title} refused a connection: at most ${count(gate?.limit ?? 0, 'request')} in flight for a while`);
        } else {
          logger.warn({ stage: 'send', batchId, windowMs: limiter.windowMs }, `the platform counted too many arrivals: rate window widened to ${limiter.windowMs} ms`);
        }
      },
    },
  });
  const preflight = async (signal?: AbortSignal): Promise<void> => {
    await destination.preflight?.((path) => executor.run(() => client.read(path, signal), { signal }), options.target);
  };
  return { engine, executor, breaker, client, preflight };
}

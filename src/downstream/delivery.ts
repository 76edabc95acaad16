import { createHash } from 'node:crypto';
import type { AxiosInstance } from 'axios';
import { BatchEngine } from '../engine/batch-engine.js';
import { CircuitBreaker, type BreakerState } from '../engine/circuit-breaker.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { Executor } from '../engine/executor.js';
import type { Random } from '../engine/random.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import { RetryBudget } from '../engine/retry-budget.js';
import { RetryPolicy } from '../engine/retry-policy.js';
import type { Logger } from '../logging/logger.js';
import { logRetry } from '../logging/retry-log.js';
import { toWire, type Profile } from '../profiles/schemas.js';
import type { SyncMetrics } from '../telemetry/metrics.js';
import { DownstreamClient } from './client.js';

/** A 1000 ms window held open this much longer, so jitter cannot squeeze R+1 arrivals into 1000 ms. */
export const ARRIVAL_MARGIN_MS = 35;

export interface DeliveryOptions {
  downstreamUrl: string;
  token?: string;
  rate: number;
  batchSize: number;
  maxRetries: number;
  /** false: hold sending until `engine.start()`. */
  autoStart?: boolean;
}

export interface DeliveryDependencies {
  logger: Logger;
  clock?: Clock;
  jitter?: Random;
  http?: AxiosInstance;
  timeoutMs?: number;
  newBatchId?: (profiles: readonly Profile[]) => string;
  breaker?: { failureThreshold?: number; cooldownMs?: number };
  metrics?: SyncMetrics;
}

export interface Delivery {
  engine: BatchEngine<Profile>;
  executor: Executor;
  breaker: CircuitBreaker;
}

/**
 * The delivery stack push and serve share, wired once: smooth limiter with the arrival margin,
 * breaker, retry budget, the one retry loop, the batcher, and their events turned into log lines
 * and metrics.
 */
export function createDelivery(options: DeliveryOptions, deps: DeliveryDependencies): Delivery {
  const clock = deps.clock ?? systemClock;
  const { logger, metrics } = deps;
  const limiter = RateLimiter.perSecond(options.rate, clock, { marginMs: ARRIVAL_MARGIN_MS, smooth: true });
  const breaker = new CircuitBreaker({
    clock,
    ...deps.breaker,
    onStateChange: (state: BreakerState) =>
      logger[state === 'open' ? 'error' : 'warn']({ stage: 'send', breaker: state }, `downstream circuit ${state}`),
  });
  const executor = new Executor({
    clock,
    limiter,
    breaker,
    budget: new RetryBudget(),
    // The platform's limit is known: pause on 429, do not halve the rate.
    slowDownOn429: false,
    policy: new RetryPolicy({ maxRetries: options.maxRetries, random: deps.jitter ?? Math.random }),
  });
  const client = new DownstreamClient({ baseUrl: options.downstreamUrl, token: options.token, timeoutMs: deps.timeoutMs, http: deps.http });
  const engine = new BatchEngine<Profile>({
    send: client.send,
    executor,
    limiter,
    breaker,
    batchSize: options.batchSize,
    key: (profile) => profile.email,
    newBatchId: deps.newBatchId ?? contentBatchId,
    now: () => clock.now(),
    autoStart: options.autoStart,
    events: {
      onBatch: ({ batchId, size, parent, reason }) => {
        metrics?.batchSize.observe(size);
        logger.debug({ stage: 'batch', batchId, size, ...(parent ? { parent, reason } : {}) }, `batch of ${size} formed`);
      },
      onBatchDone: ({ batchId, ...result }) => logger.info({ stage: 'send', batchId, ...result }, `batch ${batchId} done`),
      onRequest: ({ status, durationMs }) => {
        metrics?.downstreamRequests.inc({ status });
        metrics?.downstreamDuration.observe({ status }, durationMs / 1000);
        if (status === '429') metrics?.rateLimited.inc();
      },
      onRetry: (batchId, event) => {
        metrics?.retries.inc({ kind: event.kind });
        logRetry(logger, 'send', { batchId }, event);
      },
    },
  });
  return { engine, executor, breaker };
}

/**
 * A batch's id, and so its Idempotency-Key, from what it holds: a batch that was in flight when
 * the process was killed is formed again the same way by the rerun, and the platform can answer it
 * from its idempotency store instead of processing it twice. Same key, same bytes, same answer: a
 * key can never stand for different content.
 */
export function contentBatchId(profiles: readonly Profile[]): string {
  const hash = createHash('sha256');
  for (const profile of profiles) hash.update(`${JSON.stringify(toWire(profile))}\n`);
  return `b-${hash.digest('hex').slice(0, 20)}`;
}

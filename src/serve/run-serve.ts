import { createServer, type Server } from 'node:http';
import { createDelivery, type Delivery } from '../delivery/delivery.js';
import { SHARED_DELIVERY_PACING } from '../delivery/pacing.js';
import { encoderFor } from '../delivery/encoder.js';
import { resolveTarget, type ResolvedTarget, type TargetFlags } from '../destinations/registry.js';
import { loadHasher } from '../state/digest.js';
import { openQuota } from '../quota/open-quota.js';
import type { Logger } from '../logging/logger.js';
import { close, listen } from '../http/server.js';
import { SyncMetrics } from '../telemetry/metrics.js';
import { ServeApp } from './app.js';

export interface ServeOptions extends TargetFlags {
  host: string;
  port: number;
  /** SYNC_DOWNSTREAM_TOKEN. */
  token?: string;
  /** The destination already resolved from these flags. */
  resolved?: ResolvedTarget;
  maxRetries: number;
  /** --retry-for (ms): instead of --max-retries, retry a failing batch until this long after its first failure. */
  retryForMs?: number;
  requestTimeoutMs: number;
  /** Longest a shutdown waits for the queue to flush before failing what is left. */
  shutdownGraceMs?: number;
  /** How long a refusal of the token, list or quota holds before the platform is asked again (default REFUSAL_HOLD_MS). */
  refusalHoldMs?: number;
  /** Not flags: the documented 10 s / 30 s unless a test needs them short. */
  headersTimeoutMs?: number;
  requestBodyTimeoutMs?: number;
  /** Share the rate limit through this Redis (fail closed: while it is away nothing is sent). */
  redisUrl?: string;
  quotaKey?: string;
}

export interface RunningServe {
  /** Where it delivers, and with which limits. */
  resolved: ResolvedTarget;
  url: string;
  server: Server;
  app: ServeApp;
  delivery: Delivery;
  metrics: SyncMetrics;
  /** Stop accepting, flush the queue, answer every waiting caller, close. */
  shutdown(): Promise<void>;
}

/**
 * A refusal of the run itself (a 401/403, a wrong list, HubSpot's spent daily quota) fails every
 * caller at once for this long, then the next batch asks the platform again. A push ends on such a
 * refusal; a server runs on, and the refusal may be over (a token replaced, midnight, one of the
 * 401s HubSpot says are no sign a token is bad). One request per half minute is nothing to the
 * platform, and /healthz reports the refusal meanwhile.
 */
export const REFUSAL_HOLD_MS = 30_000;

/**
 * How long before its departure serve's batch is formed (its rate slot granted): what is queued
 * then rides it; the body is serialized and held until the slot. Half of push's GRANT_LEAD_MS:
 * push forms batches from a file it reads ahead, while serve's callers are a closed loop. Each
 * caller answered from one batch (its answer ~100-150 ms after that batch left, the platform's
 * latency) sends its next profile while the next slot (~210 ms after) approaches, and one whose
 * profile is read after the grant waits a whole slot more. Measured (issue 19, `npm run bench
 * serve-baseline`, quiet machine, 5 rounds): 30 ms instead of 60 took 1,500 wrk connections from
 * 1.00-1.18x the baseline's throughput to 1.11-1.19x, p99 432-626 ms to 419-476 ms; 15 and 5 ms
 * were no better (departures leave late more often: serializing a serve batch took 1-25 ms under
 * load). In process only: through a shared quota (Redis) a departure that leaves late is one the
 * other processes planned around at its `notBefore`, and the first fresh-clone CI run with 30 ms
 * there saw one 429 in "two pushes and a serve share one limit" (2026-11-30); there it stays push's.
 */
export const SERVE_GRANT_LEAD_MS = 30;

/** Slow clients are cut off: headers within 10 s, the whole request (body included) within 30 s. */
const HEADERS_TIMEOUT_MS = 10_000;
const BODY_TIMEOUT_MS = 30_000;

/**
 * Node enforces both limits only when it sweeps its connections, every
 * `connectionsCheckingInterval` (30 s by default): a 10 s header limit fired anywhere between 10
 * and 40 s. Sweeping every second (a tenth of the limit when it is shorter) keeps the cut within
 * a second of the documented limit; a sweep over a few thousand connections costs well under a
 * millisecond.
 */
export function checkingIntervalMs(headersTimeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 10)));
}

export async function startServe(options: ServeOptions, deps: { logger: Logger; verbose?: boolean }): Promise<RunningServe> {
  const { logger } = deps;
  // The gauges read the engine lazily, at scrape time.
  const metrics = new SyncMetrics({
    queueDepth: () => delivery.engine.queued,
    breakerState: () => delivery.breaker.state,
  });
  // Before listening: an unreachable Redis is exit 2, and nothing has been accepted yet. serve
  // never gives up on a lost Redis: callers time out (504) and their profiles wait in the queue.
  const resolved = options.resolved ?? resolveTarget(options, options.token);
  const { target } = resolved;
  const quota = await openQuota(
    {
      ...SHARED_DELIVERY_PACING,
      leadMs: options.redisUrl ? SHARED_DELIVERY_PACING.leadMs : SERVE_GRANT_LEAD_MS,
      rate: resolved.rate,
      redisUrl: options.redisUrl,
      quotaKey: options.quotaKey,
      remoteUrl: target.baseUrl,
      credential: target.credential,
      namespace: target.destination.name === 'sync' ? undefined : target.destination.name,
      giveUpAfterMs: Infinity,
    },
    { logger },
  );
  await loadHasher();
  const delivery = createDelivery(
    { ...options, target, rate: resolved.rate, batchSize: resolved.batchSize, concurrency: resolved.concurrency, refusalHoldMs: options.refusalHoldMs ?? REFUSAL_HOLD_MS },
    { logger, metrics, limiter: quota.limiter },
  );
  try {
    await delivery.preflight();
  } catch (error) {
    await quota.close();
    throw error;
  }
  const app = new ServeApp(
    { rate: resolved.rate, requestTimeoutMs: options.requestTimeoutMs, batchSize: resolved.batchSize },
    // /healthz reports a shared quota's state; an in-process limit has none to report.
    { delivery, encoder: encoderFor(target), metrics, logger, verbose: deps.verbose, quota: options.redisUrl ? quota : undefined },
  );
  const headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: options.requestBodyTimeoutMs ?? BODY_TIMEOUT_MS,
      connectionsCheckingInterval: checkingIntervalMs(headersTimeout),
      keepAliveTimeout: 5_000,
    },
    app.handle,
  );
  // Handling 'checkContinue' ourselves: Node would otherwise send 100 Continue before our handler
  // runs, and a body over the limit (or of the wrong type) would be on its way before the 413/415.
  server.on('checkContinue', app.handle);
  const url = await listen(server, options.port, options.host);

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopping ??= (async () => {
      const graceMs = options.shutdownGraceMs ?? 30_000;
      logger.info({ stage: 'serve', queued: delivery.engine.queued, waiting: app.inFlight }, 'shutting down: flushing the queue');
      app.drain();
      const closed = close(server);
      const flushed = (async () => {
        await delivery.engine.close();
        await app.settled();
      })();
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), graceMs)));
      if ((await Promise.race([flushed, expired])) === 'expired') {
        logger.error({ stage: 'serve', queued: delivery.engine.queued }, `grace period of ${graceMs} ms over: failing what is left`);
        await delivery.engine.abort();
        await app.settled();
      }
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
      await quota.close();
      logger.info({ stage: 'serve', ...delivery.executor.stats }, 'stopped');
    })());

  return { url, server, app, delivery, metrics, shutdown, resolved };
}

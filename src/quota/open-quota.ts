import { systemClock, type Clock } from '../engine/clock.js';
import type { Limiter } from '../engine/limiter.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import type { Logger } from '../logging/logger.js';
import { defaultQuotaKey, type LookupAll } from './quota-key.js';
import { RedisQuota } from './redis-quota.js';
import { checkRedisUrl, redactRedisUrl } from './redis-url.js';

/** How a command paces its requests (the same numbers in-process and through Redis). */
export interface Pacing {
  rate: number;
  smooth: boolean;
  marginMs: number;
  leadMs: number;
}

export interface QuotaOptions extends Pacing {
  /** `--redis-url` / SYNC_REDIS_URL; without it the limit is kept in this process. */
  redisUrl?: string;
  /** `--quota-key`; default: see defaultQuotaKey. */
  quotaKey?: string;
  /** The remote the quota protects (its canonical origin names the default key). */
  remoteUrl: string;
  /** The run's credential for the remote: when given, the default key is its fingerprint. */
  credential?: string;
  /** Folded into the default key (a destination's name: HubSpot's budget is not Mailchimp's). */
  namespace?: string;
  /** How long a caller may wait for a lost Redis before its request fails. */
  giveUpAfterMs: number;
}

export interface Quota {
  limiter: Limiter;
  /** For /healthz and logs. */
  describe(): { backend: 'in-process' } | { backend: 'redis'; key: string; state: 'connected' | 'unavailable' };
  /** For /healthz: whether the backend answers within `timeoutMs` now (in-process: always). */
  probe(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The rate limit a run uses: in-process by default (Redis is never needed), or shared through
 * Redis when a URL is given. Opening a Redis quota connects first, so an unreachable Redis is a
 * one-line exit 2 before anything is sent.
 */
export async function openQuota(options: QuotaOptions, deps: { logger: Logger; clock?: Clock; lookup?: LookupAll }): Promise<Quota> {
  const clock = deps.clock ?? systemClock;
  const { rate, smooth, marginMs, leadMs } = options;
  if (!options.redisUrl) {
    const limiter = RateLimiter.perSecond(rate, clock, { smooth, marginMs, leadMs });
    return { limiter, describe: () => ({ backend: 'in-process' }), probe: async () => true, close: async () => undefined };
  }
  const url = checkRedisUrl(options.redisUrl);
  const key = options.quotaKey ?? (await defaultQuotaKey({ remoteUrl: options.remoteUrl, credential: options.credential, namespace: options.namespace, lookup: deps.lookup }));
  const quota = await RedisQuota.open({ url, key, rate, smooth, marginMs, leadMs, giveUpAfterMs: options.giveUpAfterMs, clock, logger: deps.logger });
  deps.logger.info({ stage: 'run', quota: 'redis', quotaKey: key }, `rate limit shared through Redis at ${redactRedisUrl(url)}, key ${key}`);
  return { limiter: quota, describe: () => ({ backend: 'redis', key, state: quota.state }), probe: (timeoutMs) => quota.probe(timeoutMs), close: () => quota.close() };
}

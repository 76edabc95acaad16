import { setTimeout as delay } from 'node:timers/promises';

/**
 * Time as the engine sees it. Production uses the system clock; tests inject a virtual one so
 * backoff (1 s, 2 s, 4 s) and rate limits are asserted exactly without waiting.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason if aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    if (ms <= 0) {
      signal?.throwIfAborted();
      return;
    }
    await delay(ms, undefined, { signal });
  },
};

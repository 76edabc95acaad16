/**
 * What the engine needs from a rate limit, whether it is kept in this process (`RateLimiter`) or
 * shared with other processes through Redis (`quota/RedisQuota`).
 */

/**
 * One granted request. The platform counts *arrivals*, so what the window must follow is when the
 * request actually leaves (is written to the socket), not when it was granted: between the two lie
 * building the body, a busy event loop, a TCP handshake. Until `depart()` the slot counts as
 * leaving "now", so no later grant can be placed too close to it.
 */
export interface Slot {
  /** When the slot was granted (the limiter's clock, epoch ms). */
  readonly grantedAt: number;
  /**
   * The request must not leave before this instant (epoch ms, ≥ grantedAt). A limiter with a lead
   * grants a little early so the body can be built and the request handed to the HTTP client in
   * the meantime; the transport then holds the bytes until this moment (see http/departure.ts).
   */
  readonly notBefore: number;
  /** The request is leaving now. Idempotent; a second call is ignored. */
  depart(): void;
  /** Nothing was sent on this slot after all (an empty batch, an open circuit): forget it. */
  cancel(): void;
}

export interface Limiter {
  /** The window in force, margin included (ms). */
  readonly windowMs: number;
  /** Resolves with a slot when the caller may send one request. */
  acquire(signal?: AbortSignal): Promise<Slot>;
  /** Stop granting until `time` (epoch ms), e.g. a 429's Retry-After. */
  pauseUntil(time: number): void;
  /** A remote with an unknown limit said we are too fast: halve the rate. */
  slowDown(): void;
  /** Additive increase back towards the configured rate. */
  recover(): void;
  /**
   * A remote whose limit we know still answered 429: arrivals reached it closer together than we
   * spaced them. Widen the safety margin of the window (returns the new window in ms).
   */
  widenMargin(): number;
}

import type { Clock } from './clock.js';

/** One request allowed on the wire; released when its answer is in (or it failed). */
export interface Permit {
  release(): void;
}

/** How long after a "too many connections" answer the limit climbs back by one. */
export const RECOVER_AFTER_MS = 5_000;

/**
 * At most `cap` requests in flight at once (`--concurrency`: Mailchimp takes 10 simultaneous
 * connections per account). Granted in order of asking. When the platform still says "too many
 * connections" (its count includes other clients of the account), the limit drops below what is in
 * flight and climbs back by one every RECOVER_AFTER_MS, never above the cap.
 */
export class ConcurrencyGate {
  private current: number;
  private active = 0;
  private lastChange = -Infinity;
  private readonly waiting: { grant: (permit: Permit) => void }[] = [];

  constructor(
    readonly cap: number,
    private readonly clock: Clock,
    private readonly recoverAfterMs = RECOVER_AFTER_MS,
  ) {
    if (!(cap >= 1)) throw new RangeError('concurrency must be at least 1');
    this.current = Math.floor(cap);
  }

  /** The limit in force now (below the cap for a while after a "too many connections"). */
  get limit(): number {
    this.recover();
    return this.current;
  }

  get inFlight(): number {
    return this.active;
  }

  acquire(signal?: AbortSignal): Promise<Permit> {
    signal?.throwIfAborted();
    if (this.waiting.length === 0 && this.active < this.limit) return Promise.resolve(this.permit());
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: (permit: Permit) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(permit);
        },
      };
      const onAbort = (): void => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** The platform answered "too many connections": hold one fewer than are in flight now. */
  lower(): void {
    this.current = Math.max(1, Math.min(this.current, this.active) - 1);
    this.lastChange = this.clock.now();
  }

  private permit(): Permit {
    this.active += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.active -= 1;
        this.pump();
      },
    };
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.active < this.limit) this.waiting.shift()!.grant(this.permit());
  }

  private recover(): void {
    if (this.current >= this.cap) return;
    const now = this.clock.now();
    const steps = Math.floor((now - this.lastChange) / this.recoverAfterMs);
    if (steps <= 0) return;
    this.current = Math.min(this.cap, this.current + steps);
    this.lastChange += steps * this.recoverAfterMs;
  }
}

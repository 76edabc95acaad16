import { HttpStatusError } from '../errors.js';
import type { Random } from '../engine/random.js';

/**
 * `--fault-rate P`: fail a fraction P of requests with 500/503 before they leave, from a seeded
 * stream, so instability can be shown against a healthy server and replayed exactly.
 */
export class FaultInjector {
  injected = 0;
  private readonly rate: number;
  private readonly random: Random;

  constructor(rate: number, random: Random) {
    this.rate = rate;
    this.random = random;
  }

  /** Throws a simulated 500 or 503 for this request, or returns to let it go out. */
  maybeFail(what: string): void {
    if (this.rate <= 0 || this.random() >= this.rate) return;
    this.injected += 1;
    const status = this.random() < 0.5 ? 500 : 503;
    throw new HttpStatusError(status, `${what}: HTTP ${status} (simulated by --fault-rate)`);
  }
}

/**
 * Caps retries at a share of first attempts (a token bucket: every first attempt deposits `ratio`
 * of a token, every retry spends one). When a downstream is dead, retries stop multiplying the
 * traffic: total requests stay below (1 + ratio) × first attempts plus the small initial reserve.
 */
export interface RetryBudgetOptions {
  /** Retries allowed per first attempt, on average. */
  ratio?: number;
  /** Retries available before any deposit, so a short run can still retry. */
  reserve?: number;
  /** Most tokens that can be banked, so a long healthy run cannot save up a retry storm. */
  max?: number;
}

export class RetryBudget {
  private tokens: number;
  private readonly ratio: number;
  private readonly max: number;

  constructor({ ratio = 0.1, reserve = 10, max = 100 }: RetryBudgetOptions = {}) {
    this.ratio = ratio;
    this.tokens = reserve;
    this.max = Math.max(max, reserve);
  }

  /** A first attempt was sent. */
  deposit(): void {
    // Rounded so that ten deposits of 0.1 make exactly one token, not 0.9999999.
    this.tokens = Math.min(this.max, Math.round((this.tokens + this.ratio) * 1e9) / 1e9);
  }

  /** True (and one token spent) if a retry may go out. */
  withdraw(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  get available(): number {
    return this.tokens;
  }
}

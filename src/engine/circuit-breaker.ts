import type { Clock } from './clock.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  clock: Clock;
  /** Consecutive failed attempts that open the circuit. */
  failureThreshold?: number;
  /** How long it stays open before one probe is let through. */
  cooldownMs?: number;
  onStateChange?: (state: BreakerState) => void;
}

/**
 * Classic three-state breaker over attempts. Closed: everything goes. Open: nothing goes until the
 * cool-down ends. Half-open: one probe goes; its success closes the circuit, its failure reopens it.
 * Only transient failures count (5xx, timeouts, resets); a 429 or a 4xx says the remote is alive.
 */
export class CircuitBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  /** When the current run of failures began (undefined after a success). */
  private streakStart: number | undefined;
  private changeWaiters: (() => void)[] = [];
  private readonly clock: Clock;
  private readonly threshold: number;
  readonly cooldownMs: number;
  private readonly onStateChange?: (state: BreakerState) => void;

  constructor({ clock, failureThreshold = 10, cooldownMs = 15_000, onStateChange }: CircuitBreakerOptions) {
    this.clock = clock;
    this.threshold = failureThreshold;
    this.cooldownMs = cooldownMs;
    this.onStateChange = onStateChange;
  }

  get state(): BreakerState {
    if (this.stateValue === 'open' && this.clock.now() >= this.reopensAt) return 'half-open';
    return this.stateValue;
  }

  /** Epoch ms when an open circuit lets a probe through. */
  get reopensAt(): number {
    return this.openedAt + this.cooldownMs;
  }

  /**
   * Epoch ms of the first failure since the last success: how long the remote has been failing
   * (undefined while it is not). `--retry-for` counts an outage from here.
   */
  get failingSince(): number | undefined {
    return this.streakStart;
  }

  /** A probe is out and has not answered yet: nothing else may go. */
  get probeOut(): boolean {
    return this.probing;
  }

  /** Resolves at the next change of state (a probe's answer closes or reopens the circuit). */
  whenChanged(): Promise<void> {
    return new Promise((resolve) => this.changeWaiters.push(resolve));
  }

  /** May an attempt go out now? In half-open, only one at a time. */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.probing) return false;
    this.probing = true;
    this.transition('half-open');
    return true;
  }

  success(): void {
    this.failures = 0;
    this.streakStart = undefined;
    this.probing = false;
    this.transition('closed');
  }

  failure(): void {
    if (this.failures === 0) this.streakStart = this.clock.now();
    this.failures += 1;
    if (this.probing || (this.stateValue === 'closed' && this.failures >= this.threshold)) {
      this.probing = false;
      this.openedAt = this.clock.now();
      this.transition('open');
    }
  }

  /** An attempt ended without telling us anything about the remote's health (4xx, 429, abort). */
  neutral(): void {
    if (this.probing) this.success();
  }

  private transition(state: BreakerState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.onStateChange?.(state);
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from '../../src/engine/circuit-breaker.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

describe('CircuitBreaker', () => {
  function setup() {
    const clock = new VirtualClock(0);
    const states: BreakerState[] = [];
    const breaker = new CircuitBreaker({ clock, failureThreshold: 3, cooldownMs: 5000, onStateChange: (s) => states.push(s) });
    return { clock, breaker, states };
  }

  it('opens after the threshold of consecutive failures and refuses attempts', () => {
    const { breaker, states } = setup();
    breaker.failure();
    breaker.failure();
    breaker.success(); // a success resets the count
    breaker.failure();
    breaker.failure();
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.allow()).toBe(false);
    expect(states).toEqual(['open']);
  });

  it('lets one probe through after the cool-down; its success closes the circuit', () => {
    const { clock, breaker, states } = setup();
    for (let i = 0; i < 3; i++) breaker.failure();
    clock.advance(4999);
    expect(breaker.allow()).toBe(false);
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false); // one probe at a time
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('reopens for another cool-down when the probe fails', () => {
    const { clock, breaker } = setup();
    for (let i = 0; i < 3; i++) breaker.failure();
    clock.advance(5000);
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.reopensAt).toBe(10_000);
  });
});

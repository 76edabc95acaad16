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

  it('a neutral answer to the probe (429, 4xx, abort) closes the circuit: the remote is alive', () => {
    const { clock, breaker, states } = setup();
    for (let i = 0; i < 3; i++) breaker.failure();
    clock.advance(5000);
    expect(breaker.allow()).toBe(true);
    breaker.neutral();
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('a neutral answer while closed changes nothing, nor does it reset the failure count', () => {
    const { breaker, states } = setup();
    breaker.failure();
    breaker.failure();
    breaker.neutral();
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(states).toEqual(['open']);
  });

  it('while half-open, failures of attempts that were not the probe do not reopen it twice', () => {
    const { clock, breaker, states } = setup();
    for (let i = 0; i < 3; i++) breaker.failure();
    clock.advance(5000);
    expect(breaker.allow()).toBe(true);
    breaker.failure(); // the probe fails: open again
    breaker.failure(); // a straggler that was already in flight
    expect(breaker.reopensAt).toBe(10_000);
    expect(states).toEqual(['open', 'half-open', 'open']);
  });

  it('failures arriving while it is open (requests already in flight) do not push the cool-down back', () => {
    const { clock, breaker, states } = setup();
    for (let i = 0; i < 3; i++) breaker.failure();
    expect(breaker.reopensAt).toBe(5000);
    clock.advance(1000);
    breaker.failure();
    breaker.failure();
    expect(breaker.reopensAt).toBe(5000);
    expect(states).toEqual(['open']);
  });

  it('defaults: 10 consecutive failures open it for 15 s', () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock });
    for (let i = 0; i < 9; i++) breaker.failure();
    expect(breaker.state).toBe('closed');
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.cooldownMs).toBe(15_000);
    clock.advance(14_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
  });

  it('knows since when the remote has been failing, through open and failed probes, until a success', () => {
    const { clock, breaker } = setup();
    expect(breaker.failingSince).toBeUndefined();
    clock.advance(100);
    breaker.failure();
    clock.advance(100);
    breaker.failure();
    breaker.failure();
    expect(breaker.state).toBe('open');
    clock.advance(5000);
    expect(breaker.allow()).toBe(true);
    expect(breaker.probeOut).toBe(true);
    breaker.failure();
    expect(breaker.failingSince).toBe(100);
    // A 429 or 4xx outside a probe says nothing: the streak goes on.
    breaker.neutral();
    expect(breaker.failingSince).toBe(100);
    clock.advance(5000);
    breaker.allow();
    breaker.success();
    expect(breaker.failingSince).toBeUndefined();
    expect(breaker.probeOut).toBe(false);
  });

  it('whenChanged resolves at the next change of state, once', async () => {
    const { clock, breaker } = setup();
    let changes = 0;
    const count = () => void breaker.whenChanged().then(() => (changes += 1));
    count();
    breaker.failure();
    breaker.failure();
    await Promise.resolve();
    expect(changes).toBe(0);
    breaker.failure();
    await Promise.resolve();
    expect(changes).toBe(1);
    count();
    clock.advance(5000);
    breaker.allow(); // open → half-open
    breaker.success(); // → closed
    await Promise.resolve();
    expect(changes).toBe(2);
  });
});

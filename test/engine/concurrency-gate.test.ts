import { describe, expect, it } from 'vitest';
import { ConcurrencyGate, RECOVER_AFTER_MS } from '../../src/engine/concurrency-gate.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

describe('ConcurrencyGate', () => {
  it('grants up to the cap at once, then in the order asked as permits are released', async () => {
    const gate = new ConcurrencyGate(2, new VirtualClock(0));
    const order: number[] = [];
    const first = await gate.acquire();
    const second = await gate.acquire();
    const waiting = [3, 4].map((n) => gate.acquire().then((permit) => (order.push(n), permit)));
    await Promise.resolve();
    expect([gate.inFlight, order]).toEqual([2, []]);
    first.release();
    first.release(); // a second release changes nothing
    const third = await waiting[0]!;
    expect([gate.inFlight, order]).toEqual([2, [3]]);
    second.release();
    await waiting[1];
    third.release();
    expect(order).toEqual([3, 4]);
    expect(gate.inFlight).toBe(1);
  });

  it('"too many connections": one fewer than are in flight, then one more every RECOVER_AFTER_MS, never above the cap', async () => {
    const clock = new VirtualClock(0);
    const gate = new ConcurrencyGate(10, clock);
    const permits = await Promise.all(Array.from({ length: 6 }, () => gate.acquire()));
    gate.lower();
    expect(gate.limit).toBe(5);
    permits.forEach((permit) => permit.release());
    expect(gate.limit).toBe(5);
    await clock.sleep(RECOVER_AFTER_MS - 1);
    expect(gate.limit).toBe(5);
    await clock.sleep(1);
    expect(gate.limit).toBe(6);
    await clock.sleep(RECOVER_AFTER_MS * 100);
    expect(gate.limit).toBe(10);
    gate.lower();
    expect(gate.limit).toBe(1);
  });

  it('a waiter whose run is stopped leaves the queue, and the next one still gets its permit', async () => {
    const gate = new ConcurrencyGate(1, new VirtualClock(0));
    const held = await gate.acquire();
    const stop = new AbortController();
    const stopped = gate.acquire(stop.signal);
    const next = gate.acquire();
    stop.abort(new Error('stopped'));
    await expect(stopped).rejects.toThrow('stopped');
    held.release();
    await expect(next).resolves.toBeDefined();
    expect(gate.inFlight).toBe(1);
    expect(() => new ConcurrencyGate(0, new VirtualClock(0))).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/engine/clock.js';

describe('systemClock', () => {
  it('a wait of zero or less resolves within the same turn, without a timer', async () => {
    let done = 0;
    void systemClock.sleep(0).then(() => done++);
    void systemClock.sleep(-5).then(() => done++);
    for (let i = 0; i < 3; i++) await Promise.resolve();
    expect(done).toBe(2);
  });

  it('a zero wait on an aborted signal rejects with the signal’s own reason', async () => {
    const reason = new Error('stop');
    await expect(systemClock.sleep(0, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('an abort during a wait ends it at once (a run stopped by SIGINT does not sit out its backoff)', async () => {
    const controller = new AbortController();
    const waiting = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('now is the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});

import axios from 'axios';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from './virtual-clock.js';

const PLATFORM = 'http://platform.test';

describe('VirtualClock', () => {
  it('moves to the next sleep once the code has gone quiet, in order of due time', async () => {
    const clock = new VirtualClock(0);
    const woke: string[] = [];
    await Promise.all([clock.sleep(300).then(() => woke.push(`b at ${clock.now()}`)), clock.sleep(100).then(() => woke.push(`a at ${clock.now()}`))]);
    expect(woke).toEqual(['a at 100', 'b at 300']);
    expect(clock.sleeps).toEqual([300, 100]);
  });

  // nock answers on a real 0 ms timer; two quiet event-loop turns pass well before it fires.
  it('does not move on while an HTTP request is in flight: nock answers at the instant it was asked', async () => {
    const clock = new VirtualClock(0);
    nock(PLATFORM).post('/batch').times(3).reply(503);
    const answeredAt: number[] = [];
    const ask = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await axios.post(`${PLATFORM}/batch`, {}, { validateStatus: () => true });
        answeredAt.push(clock.now());
        await clock.sleep(1000);
      }
    };
    // A poller beside the request, as a rate limiter waiting behind a granted slot is.
    let polls = 0;
    const poll = async (): Promise<void> => {
      while (answeredAt.length < 3) {
        polls += 1;
        await clock.sleep(10);
      }
    };
    await Promise.all([ask(), poll()]);
    expect(answeredAt).toEqual([0, 1000, 2000]);
    expect(polls).toBeLessThanOrEqual(201);
  });

  it('a request held unanswered does not stop time for good', async () => {
    const clock = new VirtualClock(0);
    let release = (): void => undefined;
    nock(PLATFORM)
      .post('/held')
      .reply(200, () => new Promise((resolve) => (release = () => resolve({}))) as never);
    let answered = false;
    const answer = axios.post(`${PLATFORM}/held`, {}).then(() => (answered = true));
    await clock.sleep(5000);
    expect(clock.now()).toBe(5000);
    expect(answered).toBe(false);
    release();
    await answer;
    expect(answered).toBe(true);
  });
});

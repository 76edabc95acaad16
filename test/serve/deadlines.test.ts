import { describe, expect, it } from 'vitest';
import { Deadlines, type DeadlineClock } from '../../src/serve/deadlines.js';

/** A clock whose one-shot timers the test fires by moving time. */
function manualClock() {
  let time = 1000;
  let nextId = 0;
  const timers = new Map<number, { at: number; callback: () => void; ms: number }>();
  const clock: DeadlineClock = {
    now: () => time,
    setTimer: (callback, ms) => {
      timers.set(++nextId, { at: time + ms, callback, ms });
      return nextId;
    },
    clearTimer: (id) => void timers.delete(id as number),
  };
  /** Moves time to `to`, firing every timer due on the way, in order. */
  const advance = (to: number): void => {
    for (;;) {
      const due = [...timers].filter(([, t]) => t.at <= to).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      time = due[1].at;
      due[1].callback();
    }
    time = to;
  };
  return { clock, advance, timers, setTime: (to: number) => (time = to) };
}

describe('Deadlines', () => {
  it('expires each entry once its time has passed, in order, on one timer at a time', () => {
    const { clock, advance, timers } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const expired: string[] = [];
    deadlines.add(() => expired.push('a'));
    advance(1050);
    deadlines.add(() => expired.push('b'));
    expect(timers.size).toBe(1);
    expect([...timers.values()][0]!.ms).toBe(100);
    advance(1099);
    expect(expired).toEqual([]);
    advance(1100);
    expect(expired).toEqual(['a']);
    // Re-armed for the next entry's own time, not a whole timeout later.
    expect([...timers.values()].map((t) => t.at)).toEqual([1150]);
    advance(1149);
    expect(expired).toEqual(['a']);
    advance(1150);
    expect(expired).toEqual(['a', 'b']);
    expect(timers.size).toBe(0);
    expect(deadlines.size).toBe(0);
    // Emptied by expiry, the list arms a timer again for the next caller.
    deadlines.add(() => expired.push('c'));
    advance(1250);
    expect(expired).toEqual(['a', 'b', 'c']);
  });

  it('on the system clock, leaves no timer behind once nobody waits (a stopping process is not held)', () => {
    const timeouts = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timeouts();
    const deadlines = new Deadlines(60_000);
    const entry = deadlines.add(() => undefined);
    expect(timeouts()).toBe(before + 1);
    deadlines.cancel(entry);
    expect(timeouts()).toBe(before);
  });

  it('a cancelled entry never expires, and once nobody waits no timer is left', () => {
    const { clock, advance, timers } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const expired: string[] = [];
    const a = deadlines.add(() => expired.push('a'));
    const b = deadlines.add(() => expired.push('b'));
    deadlines.cancel(a);
    expect(deadlines.size).toBe(1);
    expect(timers.size).toBe(1);
    deadlines.cancel(b);
    expect(deadlines.size).toBe(0);
    expect(timers.size).toBe(0);
    advance(5000);
    expect(expired).toEqual([]);
    // The list starts afresh: a new entry arms a new timer.
    deadlines.add(() => expired.push('c'));
    expect(timers.size).toBe(1);
    advance(5100);
    expect(expired).toEqual(['c']);
  });

  it('an entry cancelled behind a live one is skipped when the front reaches it, and lets go of its callback', () => {
    const { clock, advance } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const expired: string[] = [];
    deadlines.add(() => expired.push('a'));
    const b = deadlines.add(() => expired.push('b'));
    deadlines.add(() => expired.push('c'));
    deadlines.cancel(b);
    expect(b.expire).toBeUndefined();
    expect(deadlines.size).toBe(3);
    advance(1100);
    expect(expired).toEqual(['a', 'c']);
    expect(deadlines.size).toBe(0);
  });

  it('cancelling after expiry changes nothing', () => {
    const { clock, advance } = manualClock();
    const deadlines = new Deadlines(100, clock);
    let count = 0;
    const a = deadlines.add(() => (count += 1));
    const b = deadlines.add(() => (count += 10));
    advance(1100);
    deadlines.cancel(a);
    deadlines.cancel(b);
    expect(count).toBe(11);
    expect(deadlines.size).toBe(0);
  });

  it('a timer that fires a little early by its clock re-arms for the rest, at least a millisecond', () => {
    const { clock, timers, setTime } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const expired: string[] = [];
    deadlines.add(() => expired.push('a'));
    const [id, timer] = [...timers][0]!;
    timers.delete(id);
    setTime(1099.6);
    timer.callback();
    expect(expired).toEqual([]);
    expect([...timers.values()].map((t) => t.ms)).toEqual([1]);
    setTime(1100);
    [...timers.values()][0]!.callback();
    expect(expired).toEqual(['a']);
  });

  it('settled entries behind a waiting one stay until it settles, then all go at once', () => {
    const { clock } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const front = deadlines.add(() => undefined);
    const behind = Array.from({ length: 5000 }, () => deadlines.add(() => undefined));
    for (const entry of behind) deadlines.cancel(entry);
    expect(deadlines.size).toBe(5001);
    deadlines.cancel(front);
    expect(deadlines.size).toBe(0);
  });

  it('compacts a long list once a thousand or more at its front have settled and they are at least half of it, keeping the live entries in order', () => {
    const { clock, advance } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const expired: number[] = [];
    const entries = Array.from({ length: 2048 }, (_, i) => deadlines.add(() => expired.push(i)));
    for (const entry of entries.slice(0, 1023)) deadlines.cancel(entry);
    expect(deadlines.held).toBe(2048);
    deadlines.cancel(entries[1023]!);
    expect(deadlines.held).toBe(1024);
    expect(deadlines.size).toBe(1024);
    advance(1100);
    expect(expired).toEqual(Array.from({ length: 1024 }, (_, i) => 1024 + i));
  });

  it('does not compact a short list, nor one whose settled front is under half of it', () => {
    const { clock } = manualClock();
    const short = new Deadlines(100, clock);
    const few = Array.from({ length: 30 }, () => short.add(() => undefined));
    for (const entry of few.slice(0, 20)) short.cancel(entry);
    expect(short.held).toBe(30);
    const long = new Deadlines(100, clock);
    const many = Array.from({ length: 3000 }, () => long.add(() => undefined));
    for (const entry of many.slice(0, 1100)) long.cancel(entry);
    expect(long.held).toBe(3000);
    expect(long.size).toBe(1900);
  });

  it('an expiry that adds an entry leaves one timer, for the earliest live entry', () => {
    const { clock, advance, timers } = manualClock();
    const deadlines = new Deadlines(100, clock);
    const expired: string[] = [];
    deadlines.add(() => {
      expired.push('a');
      deadlines.add(() => expired.push('c'));
    });
    advance(1050);
    deadlines.add(() => expired.push('b'));
    advance(1100);
    expect(expired).toEqual(['a']);
    expect([...timers.values()].map((t) => t.at)).toEqual([1150]);
    advance(1200);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(timers.size).toBe(0);
  });
});

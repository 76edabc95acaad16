import { describe, expect, it } from 'vitest';
import { ArrivalPeak, DailyCounter, RollingWindow } from '../../src/mock/arrival-window.js';

describe('RollingWindow', () => {
  it('admits at most `limit` in any window ending at an arrival; an admission leaves exactly windowMs later', () => {
    const window = new RollingWindow(3, 1000);
    const admitted = (t: number): boolean => window.tryAdmit(t);
    expect([admitted(0), admitted(400), admitted(800)]).toEqual([true, true, true]);
    expect(window.remaining(800)).toBe(0);
    expect(admitted(999)).toBe(false);
    // The arrival at 0 is out of (0, 1000]; the refusal at 999 was not counted.
    expect(admitted(1000)).toBe(true);
    expect(admitted(1399)).toBe(false);
    expect(admitted(1400)).toBe(true);
    expect(window.remaining(1400)).toBe(0);
    expect(window.remaining(1800)).toBe(1);
  });

  it('stays flat in memory whatever arrives: it never holds more than its limit', () => {
    const window = new RollingWindow(5, 10_000);
    let admitted = 0;
    for (let t = 0; t < 200_000; t++) if (window.tryAdmit(t)) admitted += 1;
    // 5 per 10 s over 200 s.
    expect(admitted).toBe(100);
  });
});

describe('ArrivalPeak', () => {
  it('reports the most arrivals within any window ending at an arrival', () => {
    const perSecond = new ArrivalPeak(1000, 1000);
    for (const t of [0, 500, 999, 1999, 2000, 2500]) perSecond.record(t);
    // (999, 1999] holds 1; (1000, 2000] holds 2; (1500, 2500] holds 3; (−1, 999] holds 3.
    expect(perSecond.peak).toBe(3);
    perSecond.record(2998);
    expect(perSecond.peak).toBe(4);
  });

  it('past its cap it reports the cap (a lower bound) instead of growing', () => {
    const peak = new ArrivalPeak(1000, 10);
    for (let i = 0; i < 50; i++) peak.record(0);
    expect(peak.peak).toBe(10);
  });
});

describe('DailyCounter', () => {
  it('counts up to its limit per UTC day and starts again at midnight', () => {
    const day = new DailyCounter(2);
    const morning = Date.parse('2026-01-20T08:00:00Z');
    expect([day.tryAdmit(morning), day.tryAdmit(morning + 1)]).toEqual([true, true]);
    expect(day.remaining(morning)).toBe(0);
    expect(day.tryAdmit(Date.parse('2026-01-20T23:59:59.999Z'))).toBe(false);
    expect(day.remaining(Date.parse('2026-01-21T00:00:00Z'))).toBe(2);
  });
});

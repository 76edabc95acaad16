import { describe, expect, it } from 'vitest';
import { etaSeconds, progressLine } from '../../src/push/progress.js';

describe('push progress', () => {
  it('says what was read (of the file), delivered, how fast, and how long is left', () => {
    expect(progressLine({ read: 12_400, bytes: 3_100_000, size: 10_000_000, delivered: 11_900, unchanged: 0, failed: 0, elapsedMs: 14_000 })).toBe(
      'Pushing: read 12,400 (31%) · delivered 11,900 · 850/s · ETA 31 s',
    );
    expect(progressLine({ read: 500, bytes: 0, delivered: 400, unchanged: 90, failed: 10, elapsedMs: 2000 })).toBe('Pushing: read 500 · delivered 400 · unchanged 90 · failed 10 · 200/s');
  });

  it('the ETA follows the share of the file read; none without a size or before anything is read', () => {
    expect(etaSeconds(250, 1000, 10_000)).toBe(30);
    expect(etaSeconds(1000, 1000, 10_000)).toBe(0);
    expect(etaSeconds(0, 1000, 10_000)).toBeUndefined();
    expect(etaSeconds(10, undefined, 10_000)).toBeUndefined();
    expect(progressLine({ read: 1, bytes: 10, size: 1_000_000, delivered: 0, unchanged: 0, failed: 0, elapsedMs: 600 })).toMatch(/ETA 16\.7 h$/);
    expect(progressLine({ read: 1, bytes: 100, size: 1_000, delivered: 0, unchanged: 0, failed: 0, elapsedMs: 300_000 })).toMatch(/ETA 45 min$/);
  });
});

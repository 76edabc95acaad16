import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/engine/duration.js';

describe('formatDuration', () => {
  it('reads as a person would say it', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(120_000)).toBe('2 min');
    expect(formatDuration(100_000)).toBe('1 min 40 s');
    expect(formatDuration(5_400_000)).toBe('1 h 30 min');
    expect(formatDuration(7_200_000)).toBe('2 h');
    // Seconds are dropped once hours are shown.
    expect(formatDuration(3_601_000)).toBe('1 h');
    expect(formatDuration(59_600)).toBe('1 min');
  });
});

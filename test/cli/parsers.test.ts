import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { duration } from '../../src/cli/parsers.js';

describe('duration', () => {
  it('reads milliseconds, seconds, minutes and hours', () => {
    expect(duration('500ms')).toBe(500);
    expect(duration('10000')).toBe(10_000);
    expect(duration('30s')).toBe(30_000);
    expect(duration('1.5s')).toBe(1500);
    expect(duration('30m')).toBe(1_800_000);
    expect(duration('10min')).toBe(600_000);
    expect(duration('2h')).toBe(7_200_000);
    expect(duration(' 24h ')).toBe(86_400_000);
  });

  it.each([
    ['soon', /expected a duration such as 500ms, 10s, 30m, 2h/],
    ['10d', /expected a duration such as/],
    ['-5s', /expected a duration such as/],
    ['0', /> 0/],
    ['0.1ms', /> 0/],
    ['25h', /at most 24h/],
    ['1441m', /at most 24h/],
  ])('refuses %j with a one-line reason', (value, message) => {
    expect(() => duration(value)).toThrow(InvalidArgumentError);
    expect(() => duration(value)).toThrow(message);
  });
});

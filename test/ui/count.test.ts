import { describe, expect, it } from 'vitest';
import { count } from '../../src/ui/count.js';

describe('count', () => {
  it('is singular for one only', () => {
    expect(count(1, 'retry', 'retries')).toBe('1 retry');
    expect(count(0, 'retry', 'retries')).toBe('0 retries');
    expect(count(2, 'batch', 'batches')).toBe('2 batches');
    expect(count(1, 'page')).toBe('1 page');
    expect(count(26, 'page')).toBe('26 pages');
  });
});

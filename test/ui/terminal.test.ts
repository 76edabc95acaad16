import { describe, expect, it } from 'vitest';
import { hasWidth } from '../../src/ui/terminal.js';

describe('hasWidth', () => {
  it('is false for a terminal reporting 0 columns, or none (not a TTY)', () => {
    expect(hasWidth({ columns: 0 })).toBe(false);
    expect(hasWidth({})).toBe(false);
    expect(hasWidth({ columns: 80 })).toBe(true);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { hasWidth, Terminal } from '../../src/ui/terminal.js';

describe('hasWidth', () => {
  it('is false for a terminal reporting 0 columns, or none (not a TTY)', () => {
    expect(hasWidth({ columns: 0 })).toBe(false);
    expect(hasWidth({})).toBe(false);
    expect(hasWidth({ columns: 80 })).toBe(true);
  });
});

describe('Terminal.gatherLines', () => {
  it('gathers log lines until the turn ends; a line of its own comes after them; stopping writes what is pending and goes back to one write per line', async () => {
    const terminal = await Terminal.create({ interactive: false, color: false });
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true));
    try {
      const stop = terminal.gatherLines();
      terminal.sink.write('{"a":1}\n');
      terminal.sink.write('{"b":2}\n');
      expect(written).toEqual([]);
      terminal.line('error: x');
      expect(written).toEqual(['{"a":1}\n{"b":2}\n', 'error: x\n']);
      terminal.sink.write('{"c":3}\n');
      stop();
      expect(written.at(-1)).toBe('{"c":3}\n');
      terminal.sink.write('{"d":4}\n');
      expect(written.at(-1)).toBe('{"d":4}\n');
    } finally {
      spy.mockRestore();
    }
  });
});

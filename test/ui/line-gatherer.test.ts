import { describe, expect, it } from 'vitest';
import { GATHER_MAX_CHARS, LineGatherer } from '../../src/ui/line-gatherer.js';

/** A gatherer whose end of turn the test decides. */
function gatherer(): { lines: LineGatherer; writes: string[]; endTurn: () => void; scheduled: () => number } {
  const writes: string[] = [];
  const callbacks: (() => void)[] = [];
  const lines = new LineGatherer(
    (text) => writes.push(text),
    (callback) => callbacks.push(callback),
  );
  return { lines, writes, endTurn: () => callbacks.splice(0).forEach((callback) => callback()), scheduled: () => callbacks.length };
}

describe('LineGatherer', () => {
  it('writes the lines of one turn in one call, in order, when the turn ends', () => {
    const { lines, writes, endTurn, scheduled } = gatherer();
    lines.push('a\n');
    lines.push('b\n');
    lines.push('c\n');
    expect(writes).toEqual([]);
    expect(scheduled()).toBe(1);
    endTurn();
    expect(writes).toEqual(['a\nb\nc\n']);
    lines.push('d\n');
    endTurn();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('writes at once when GATHER_MAX_CHARS are pending, and the end of the turn writes only what came after', () => {
    const { lines, writes, endTurn } = gatherer();
    const long = `${'x'.repeat(GATHER_MAX_CHARS / 2)}\n`;
    lines.push(long);
    expect(writes).toEqual([]);
    lines.push(long);
    expect(writes).toEqual([long + long]);
    lines.push('after\n');
    endTurn();
    expect(writes).toEqual([long + long, 'after\n']);
  });

  it('flush() writes what is pending now, and nothing when nothing is', () => {
    const { lines, writes, endTurn } = gatherer();
    lines.flush();
    expect(writes).toEqual([]);
    lines.push('a\n');
    lines.flush();
    expect(writes).toEqual(['a\n']);
    endTurn();
    expect(writes).toEqual(['a\n']);
  });

  it('by default writes once the current turn is over (setImmediate)', async () => {
    const writes: string[] = [];
    const lines = new LineGatherer((text) => writes.push(text));
    lines.push('a\n');
    lines.push('b\n');
    await Promise.resolve();
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['a\nb\n']);
  });
});

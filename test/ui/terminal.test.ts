import { describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logging/logger.js';
import { hasWidth, MAX_UNREAD_LOG_BYTES, Terminal } from '../../src/ui/terminal.js';

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

describe('Terminal: a stderr nobody reads', () => {
  /** A stderr whose reader has stalled until `resume()`: what is written waits in writableLength. */
  function stalledStderr() {
    const held: (() => void)[] = [];
    let reading = false;
    const received: string[] = [];
    const stream = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        received.push(chunk.toString());
        if (reading) done();
        else held.push(() => done());
      },
    });
    const resume = () => {
      reading = true;
      held.splice(0).forEach((done) => done());
    };
    return { stream, received, resume };
  }
  // Each line the same length, so the bound falls after a known number of them.
  const line = (i: number) => `${JSON.stringify({ i: String(i).padStart(6, '0'), pad: 'x'.repeat(1000) })}\n`;

  it(`holds at most ${MAX_UNREAD_LOG_BYTES / 1024 / 1024} MB of log lines, drops the rest, and says how many once the reader catches up; messages are never dropped`, async () => {
    const { stream, received, resume } = stalledStderr();
    const terminal = await Terminal.create({ interactive: false, color: false, stderr: stream });
    const dropped: number[] = [];
    terminal.whenLinesDropped((lines) => dropped.push(lines));
    const total = Math.ceil((MAX_UNREAD_LOG_BYTES * 1.5) / line(0).length);
    for (let i = 0; i < total; i++) terminal.sink.write(line(i));
    expect(stream.writableLength).toBeLessThan(MAX_UNREAD_LOG_BYTES + line(0).length);
    const kept = Math.ceil(MAX_UNREAD_LOG_BYTES / line(0).length);
    terminal.line('error: the run failed');
    expect(dropped).toEqual([]);
    resume();
    await new Promise((resolve) => setImmediate(resolve));
    expect(dropped).toEqual([total - kept]);
    const text = received.join('');
    // The first lines, in order, up to the bound; then the message.
    expect(text.startsWith(line(0) + line(1))).toBe(true);
    expect(text).toContain(line(kept - 1));
    expect(text).not.toContain(line(kept));
    expect(text.endsWith('error: the run failed\n')).toBe(true);
    // Caught up: lines are written again, and a second stall is counted afresh.
    terminal.sink.write(line(total));
    expect(received.at(-1)).toBe(line(total));
  });

  it('never drops an error logged as a JSON line (the default format off a terminal: cron), past the bound too', async () => {
    const { stream, received, resume } = stalledStderr();
    const terminal = await Terminal.create({ interactive: false, color: false, stderr: stream });
    const logger = await createLogger({ format: 'json', level: 'info', runId: 'r1', color: false, destination: terminal.sink });
    const total = Math.ceil((MAX_UNREAD_LOG_BYTES * 1.2) / line(0).length);
    for (let i = 0; i < total; i++) terminal.sink.write(line(i));
    logger.warn('a warning past the bound');
    logger.error({ exitCode: 1 }, 'the downstream refused the token');
    resume();
    await new Promise((resolve) => setImmediate(resolve));
    const text = received.join('');
    // Booleans: a failure would otherwise print 20 MB of lines.
    expect(text.includes('a warning past the bound')).toBe(false);
    expect(text.includes('"msg":"the downstream refused the token"')).toBe(true);
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { exitIfAsked, exitWhenDone } from '../../src/cli/quick-exit.js';

/** A stream whose writes complete only when `release()` is called (a slow pipe reader). */
function slowStream(): { stream: Writable; release: () => void; written: string[] } {
  const pending: (() => void)[] = [];
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written.push(String(chunk));
      pending.push(done);
    },
  });
  return { stream, written, release: () => pending.splice(0).forEach((done) => done()) };
}

describe('exitIfAsked: process.exit() only when a command asked, and only once its output has left', () => {
  it('does nothing unless a command asked for it (servers keep running after their action)', async () => {
    const exit = vi.fn();
    await exitIfAsked({ streams: [slowStream().stream], exit });
    expect(exit).not.toHaveBeenCalled();
  });

  it('asked: waits until stdout and stderr have written what they hold, then exits, and only once', async () => {
    const out = slowStream();
    const err = slowStream();
    out.stream.write('{"summary":1}\n');
    err.stream.write('a log line\n');
    const exit = vi.fn();
    exitWhenDone();
    const exiting = exitIfAsked({ streams: [out.stream, err.stream], exit });
    await new Promise((resolve) => setImmediate(resolve));
    expect(exit).not.toHaveBeenCalled();
    out.release();
    await new Promise((resolve) => setImmediate(resolve));
    // stdout is out, stderr still holds its line.
    expect(exit).not.toHaveBeenCalled();
    err.release();
    // The empty writes that tell when the earlier ones are done complete in their turn.
    await new Promise((resolve) => setImmediate(resolve));
    out.release();
    err.release();
    await exiting;
    expect(exit).toHaveBeenCalledTimes(1);
    expect(out.written[0]).toBe('{"summary":1}\n');
    // The request was used up: a later run in the same process is not ended.
    await exitIfAsked({ streams: [slowStream().stream], exit });
    expect(exit).toHaveBeenCalledTimes(1);
  });

  it('a run inside another process (main does not own it): the request is dropped, nothing exits, not even later', async () => {
    const exit = vi.fn();
    exitWhenDone();
    await exitIfAsked({ owned: false, streams: [slowStream().stream], exit });
    await exitIfAsked({ streams: [slowStream().stream], exit });
    expect(exit).not.toHaveBeenCalled();
  });
});

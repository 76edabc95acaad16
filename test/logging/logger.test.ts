import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, infoLine, isoTime, jsonField, maskEmailsIn } from '../../src/logging/logger.js';

/** The JSON lines a logger wrote, parsed. */
async function linesOf(maskEmails: boolean | undefined, log: (logger: Awaited<ReturnType<typeof createLogger>>) => void): Promise<Array<Record<string, unknown>>> {
  const written: string[] = [];
  const logger = await createLogger({ format: 'json', level: 'debug', runId: 'r1', color: false, maskEmails, destination: { write: (line: string) => void written.push(line) } });
  log(logger);
  return written.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('maskEmailsIn', () => {
  it('masks every address a platform quotes in free text, and nothing else', () => {
    expect(maskEmailsIn('identifiers.email: blocked@suppressed.example is suppressed (suppressed)')).toBe('identifiers.email: b***@suppressed.example is suppressed (suppressed)');
    expect(maskEmailsIn('"ann.lee+x@Example.COM" and bob@b.io')).toBe('"a***@Example.COM" and b***@b.io');
    expect(maskEmailsIn('josé@exämple.de looks fake')).toBe('j***@exämple.de looks fake');
    // A URL whose password is already masked, a bare @, a handle: not addresses.
    expect(maskEmailsIn('POST http://***@127.0.0.1:4020/profiles failed')).toBe('POST http://***@127.0.0.1:4020/profiles failed');
    expect(maskEmailsIn('@mention and a@b and 5 @ 3')).toBe('@mention and a@b and 5 @ 3');
  });
});

describe('createLogger', () => {
  it("masks addresses inside every message by default (a platform's refusal quoting one), and keeps them with --verbose", async () => {
    const message = 'line 903: rejected by the downstream: identifiers.email: blocked@suppressed.example is suppressed';
    const [masked] = await linesOf(undefined, (logger) => logger.warn({ stage: 'send' }, message));
    expect(masked!.msg).toBe('line 903: rejected by the downstream: identifiers.email: b***@suppressed.example is suppressed');
    const [kept] = await linesOf(false, (logger) => logger.warn({ stage: 'send' }, message));
    expect(kept!.msg).toBe(message);
  });

  it("cleans an error logged as err: its message, stack and cause's, masked by default, the password gone even with --verbose", async () => {
    const cause = new Error('refused ann.lee@example.com at http://u:s3cret@127.0.0.1:9/x');
    const error = new Error('cannot deliver bob@b.io', { cause });
    const [masked] = await linesOf(undefined, (logger) => logger.error({ stage: 'serve', err: error }, 'unexpected error'));
    const text = JSON.stringify(masked);
    expect(text).not.toMatch(/ann\.lee@|bob@|s3cret/);
    // pino's serializer joins the cause's message to the error's.
    expect(masked!.err).toMatchObject({ type: 'Error', message: 'cannot deliver b***@b.io: refused a***@example.com at http://***@127.0.0.1:9/x' });
    expect((masked!.err as { stack: string }).stack).toMatch(/^Error: cannot deliver b\*\*\*@b\.io\n {4}at /);
    expect(text).toContain('a***@example.com');
    const [verbose] = await linesOf(false, (logger) => logger.error({ err: error }, 'unexpected error'));
    expect(verbose!.err).toMatchObject({ message: 'cannot deliver bob@b.io: refused ann.lee@example.com at http://***@127.0.0.1:9/x' });
    expect(JSON.stringify(verbose)).not.toContain('s3cret');
  });

  it('still masks a password in a URL in a message, verbose or not', async () => {
    const [line] = await linesOf(false, (logger) => logger.error('cannot reach http://u:s3cret@127.0.0.1:9/x'));
    expect(line!.msg).not.toContain('s3cret');
  });
});

describe('isoTime', () => {
  it("writes pino's time field for the millisecond it is given, a new one for each millisecond", () => {
    expect(isoTime(0)).toBe(',"time":"1970-01-01T00:00:00.000Z"');
    expect(isoTime(0)).toBe(',"time":"1970-01-01T00:00:00.000Z"');
    expect(isoTime(1_764_000_000_123)).toBe(',"time":"2025-11-24T16:00:00.123Z"');
    expect(isoTime(1_764_000_000_124)).toBe(',"time":"2025-11-24T16:00:00.124Z"');
  });

  it('is the time of every line, read from the clock when the line is written', async () => {
    const before = Date.now();
    const [line] = await linesOf(undefined, (logger) => logger.info('x'));
    const time = Date.parse(line!.time as string);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });
});

describe('infoLine', () => {
  afterEach(() => vi.restoreAllMocks());

  /** What pino writes for `logger.info(fields, msg)` and what infoLine writes for the same, as raw text, in the same millisecond. */
  async function bothWays(fields: Record<string, string | number | undefined>, msg: string, options: { maskEmails?: boolean; level?: 'info' | 'warn' } = {}) {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_000_000_123);
    const written: string[] = [];
    const logger = await createLogger({ format: 'json', level: options.level ?? 'info', runId: 'r-9', color: false, maskEmails: options.maskEmails, destination: { write: (line: string) => void written.push(line) } });
    logger.info(fields, msg);
    const byPino = written.splice(0);
    infoLine(logger, Object.entries(fields).map(([key, value]) => jsonField(key, value)).join(''), msg);
    return { byPino, byHand: written };
  }

  it("writes byte for byte the line pino writes for the same fields and message: order, escapes, numbers, a field left out when undefined", async () => {
    // Every character a request line can bring (Node reads it as latin1), quotes, backslashes, and a text past pino's short-string path.
    const everyByte = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const cases: [Record<string, string | number | undefined>, string][] = [
      [{ stage: 'serve', requestId: 'a1b2-3f', method: 'POST', path: '/profiles', status: 200, durationMs: 312, batchId: 'b-0123456789abcdef0123' }, 'POST /profiles 200'],
      [{ stage: 'serve', requestId: 'probe', method: 'GET', path: '/x"y\\z\t\u00e9\u007f', status: 404, durationMs: 0 }, 'GET /x"y\\z\t\u00e9\u007f 404'],
      [{ stage: 'serve', requestId: 'r', method: undefined, path: everyByte, status: 499, durationMs: 10_000, reason: 'the caller closed the connection while waiting for its answer' }, `? ${everyByte} 499`],
      [{ stage: 'serve', status: Number.NaN, durationMs: -0.5 }, ''],
    ];
    for (const [fields, msg] of cases) {
      const { byPino, byHand } = await bothWays(fields, msg);
      expect(byPino).toHaveLength(1);
      expect(byHand).toEqual(byPino);
    }
    const { byHand } = await bothWays(cases[0]![0], cases[0]![1]);
    expect(byHand[0]).toBe(
      '{"level":"info","time":"2025-11-24T16:00:00.123Z","runId":"r-9","stage":"serve","requestId":"a1b2-3f","method":"POST","path":"/profiles","status":200,"durationMs":312,"batchId":"b-0123456789abcdef0123","msg":"POST /profiles 200"}\n',
    );
  });

  it('cleans the message as pino\'s hook does: addresses masked unless --verbose, a password in a URL gone either way', async () => {
    const msg = 'GET /users/ann@example.com/http://u:s3cret@h/x 404';
    const masked = await bothWays({ stage: 'serve', path: '/users/a***@example.com' }, msg);
    expect(masked.byHand).toEqual(masked.byPino);
    expect(masked.byHand[0]).not.toMatch(/ann@|s3cret/);
    const verbose = await bothWays({ stage: 'serve', path: '/users/ann@example.com' }, msg, { maskEmails: false });
    expect(verbose.byHand).toEqual(verbose.byPino);
    expect(verbose.byHand[0]).toContain('"path":"/users/ann@example.com"');
    expect(verbose.byHand[0]).not.toContain('s3cret');
  });

  it("takes its own way for createLogger's loggers, not pino's per-line path (the point of it: issue 19)", async () => {
    const written: string[] = [];
    const logger = await createLogger({ format: 'json', level: 'info', runId: 'r-9', color: false, destination: { write: (line: string) => void written.push(line) } });
    const info = vi.spyOn(logger, 'info');
    infoLine(logger, jsonField('status', 200), 'POST /profiles 200');
    expect(info).not.toHaveBeenCalled();
    expect(written).toHaveLength(1);
  });

  it('one logger, messages repeated and changed (the JSON of the last message is reused): each line is the one pino writes', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_000_000_123);
    for (const maskEmails of [true, false]) {
      const written: string[] = [];
      const logger = await createLogger({ format: 'json', level: 'info', runId: 'r-9', color: false, maskEmails, destination: { write: (line: string) => void written.push(line) } });
      const messages = ['POST /profiles 200', 'POST /profiles 200', 'POST /profiles 504', 'POST /profiles 200', 'GET /u/ann@x.io 404', 'GET /u/ann@x.io 404', 'GET /u/bob@x.io 404', '"quoted"', 'POST /profiles 200'];
      const fields = jsonField('status', 200);
      for (const msg of messages) {
        logger.info({ status: 200 }, msg);
        infoLine(logger, fields, msg);
      }
      expect(written).toHaveLength(messages.length * 2);
      for (let i = 0; i < written.length; i += 2) expect(written[i + 1]).toBe(written[i]);
      expect(written.filter((line) => line.includes('ann@x.io')).length).toBe(maskEmails ? 0 : 4);
    }
  });

  it('writes nothing below the logger\'s level (--quiet), as pino does', async () => {
    const { byPino, byHand } = await bothWays({ stage: 'serve', status: 200 }, 'POST /profiles 200', { level: 'warn' });
    expect(byPino).toEqual([]);
    expect(byHand).toEqual([]);
  });

  it('with --log-format pretty, the same line comes out of pino-pretty', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_000_000_123);
    const written: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    const logger = await createLogger({ format: 'pretty', level: 'info', runId: 'r-9', color: false, destination: destination as unknown as NodeJS.WritableStream & { write: (s: string) => boolean } });
    logger.info({ stage: 'serve', path: '/users/a***@x.io', status: 404 }, 'GET /users/ann@x.io 404');
    infoLine(logger, `${jsonField('stage', 'serve')}${jsonField('path', '/users/a***@x.io')}${jsonField('status', 404)}`, 'GET /users/ann@x.io 404');
    await vi.waitFor(() => expect(written).toHaveLength(2));
    expect(written[1]).toBe(written[0]);
    expect(written[0]).toBe('[2025-11-24T16:00:00.123Z] INFO: GET /users/a***@x.io 404 {"runId":"r-9","stage":"serve","path":"/users/a***@x.io","status":404}\n');
  });

  it('a logger it cannot write for by hand (a child, with its own bindings) gets the same line through pino', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_764_000_000_123);
    const written: string[] = [];
    const logger = await createLogger({ format: 'json', level: 'info', runId: 'r-9', color: false, destination: { write: (line: string) => void written.push(line) } });
    const child = logger.child({ part: 'x' });
    child.info({ stage: 'serve', status: 200 }, 'to b@b.io');
    infoLine(child, `${jsonField('stage', 'serve')}${jsonField('status', 200)}`, 'to b@b.io');
    expect(written).toHaveLength(2);
    expect(written[1]).toBe(written[0]);
    expect(written[0]).toBe('{"level":"info","time":"2025-11-24T16:00:00.123Z","runId":"r-9","part":"x","stage":"serve","status":200,"msg":"to b***@b.io"}\n');
  });
});

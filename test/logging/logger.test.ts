import { describe, expect, it } from 'vitest';
import { createLogger, isoTime, maskEmailsIn } from '../../src/logging/logger.js';

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

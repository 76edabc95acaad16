import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOO_LARGE = Symbol('too large');

/**
 * The body, or TOO_LARGE, or undefined when the caller went away. A body over the limit is read on
 * and dropped up to twice the limit, so a caller still sending it receives the 413 instead of a reset.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string | typeof TOO_LARGE | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else if (size > 2 * maxBytes) req.destroy();
    });
    req.on('end', () => resolve(size > maxBytes ? TOO_LARGE : Buffer.concat(chunks).toString('utf8')));
    req.on('close', () => resolve(undefined));
  });
}

export type PausedBody = { text: string } | { tooLarge: true } | { gone: true };

/**
 * The whole body up to `maxBytes`; past it the reading stops with the request paused, so the caller
 * answers first and then reads on or drops the rest. `gone` if the client left first.
 */
export function readBodyUpTo(req: IncomingMessage, maxBytes: number): Promise<PausedBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    const onGone = (): void => {
      stop();
      resolve({ gone: true });
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      stop();
      req.pause();
      resolve({ tooLarge: true });
    };
    const onEnd = (): void => {
      stop();
      resolve({ text: Buffer.concat(chunks, size).toString('utf8') });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/** A credential compared in constant time: a simulator must not teach a timing attack either. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

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

/** A credential compared in constant time: a simulator must not teach a timing attack either. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

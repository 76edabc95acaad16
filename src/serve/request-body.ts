import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a request body may weigh. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * After answering before a body has all arrived (413 mostly): how much more of it is read and
 * dropped, and for how long, before the connection is cut.
 */
export const DISCARD_LIMIT = { bytes: 16 * MAX_BODY_BYTES, ms: 10_000 };

/** An answer decided before (or instead of) the happy path: status, JSON body, extra headers. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly body: object,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * The connection ended before the body had all arrived, so there is no answer to send: the caller
 * hung up (499, nginx's code for it) or Node cut a request slower than the limits (408, which Node
 * has already written). Neither is our failure: logs and metrics keep them apart from 500s.
 */
export class RequestCut extends Error {
  constructor(
    readonly status: 408 | 499,
    message: string,
  ) {
    super(message);
  }
}

function cutReason(req: IncomingMessage): RequestCut {
  if ((req.socket?.errored as NodeJS.ErrnoException | null | undefined)?.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new RequestCut(408, 'the request took longer than the server allows (headers 10 s, whole request 30 s)');
  }
  return new RequestCut(499, 'the caller closed the connection before sending the whole body');
}

const invalid = (status: number, message: string): HttpProblem => new HttpProblem(status, { status: 'invalid', errors: [{ path: '', message }] });

/**
 * Only `application/json`, in UTF-8. A `text/plain` (or form) body is a "simple" cross-origin
 * request that a browser sends without a CORS preflight: accepting it as JSON would let any web
 * page a user opens post profiles to a local `sync serve`.
 */
export function checkContentType(header: string | undefined): void {
  const [type = '', ...params] = (header ?? '').split(';');
  const charset = params.map((param) => /^\s*charset\s*=\s*"?([^"\s]*)"?\s*$/i.exec(param)?.[1]).find((value) => value !== undefined);
  if (type.trim().toLowerCase() === 'application/json' && (charset === undefined || /^utf-?8$/i.test(charset))) return;
  throw new HttpProblem(415, {
    status: 'invalid',
    errors: [{ path: '', message: `expected a body of type application/json (UTF-8), got ${header ? JSON.stringify(header) : 'none'}` }],
  });
}

const tooLarge = (): HttpProblem => invalid(413, `body larger than ${MAX_BODY_BYTES} bytes`);

/** The caller sent `Expect: 100-continue`: it waits to be told to send its body. */
export function expectsContinue(req: IncomingMessage): boolean {
  return req.headers.expect?.trim().toLowerCase() === '100-continue';
}

/** A body announced (length or chunked) that has not all been read yet. */
export function bodyPending(req: IncomingMessage): boolean {
  return !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
}

/**
 * Refuses an announced body over the limit, then invites a caller that waits for 100 Continue:
 * the refusal reaches it before it has sent a byte of the body.
 */
export function acceptBody(req: IncomingMessage, res: ServerResponse): void {
  if (Number(req.headers['content-length']) > MAX_BODY_BYTES) throw tooLarge();
  if (expectsContinue(req)) res.writeContinue();
}

/**
 * Reads on and drops what the caller is still sending after we answered, up to DISCARD_LIMIT,
 * then cuts. Closing at once with unread data makes the kernel send a reset, and a client still
 * sending (curl, in 6 of 60 tries) then loses the answer that had already arrived. Without
 * `Connection: close` on the answer, Node keeps the socket open for us meanwhile; a body read to
 * its end leaves the connection usable.
 */
export function discardRest(req: IncomingMessage, limit: { bytes: number; ms: number } = DISCARD_LIMIT): void {
  let dropped = 0;
  const cut = (): void => {
    done();
    req.socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    dropped += chunk.length;
    if (dropped > limit.bytes) cut();
  };
  const timer = setTimeout(cut, limit.ms);
  timer.unref();
  const done = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', done);
    req.off('close', done);
  };
  req.on('data', onData);
  req.on('end', done);
  req.on('close', done);
  req.resume();
}

/**
 * The body as JSON (call `acceptBody` first), refusing more than 1 MiB while streaming. A UTF-8
 * BOM is allowed, as push allows it. A connection that ends mid-body rejects with `RequestCut`.
 */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      stop();
      reject(tooLarge());
    };
    const onEnd = (): void => {
      stop();
      const text = Buffer.concat(chunks, size).toString('utf8');
      try {
        resolve(JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text));
      } catch (error) {
        reject(invalid(400, `malformed JSON: ${(error as Error).message}`));
      }
    };
    // Node reports a hang-up (or its own timeout cut) as an 'error' ("aborted") when someone listens, and always as 'close'.
    const onGone = (): void => {
      stop();
      reject(cutReason(req));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

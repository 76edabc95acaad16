import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What a request body may weigh. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * After answering before a body has all arrived (413 mostly): how much more of it is read and
 * dropped, and for how long, before the connection is cut. Dropping costs no memory; the bytes
 * bound lets a caller finish sending a 20 MiB body and still read its 413 (it was 16 MiB: a
 * 20 MiB body was cut and its answer lost), the time bound keeps a trickling caller from holding
 * the connection.
 */
export const DISCARD_LIMIT = { bytes: 64 * MAX_BODY_BYTES, ms: 10_000 };

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
  // What nearly every caller sends, accepted without splitting it.
  // Stryker disable next-line ConditionalExpression: a shortcut; the full check below accepts the same header.
  if (header === 'application/json') return;
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
 * then cuts. Closing with unread data makes the kernel send a reset, and a client still sending
 * (curl in 6 of 60 tries; Node's client with `agent: false` in up to 17 of 20) then loses the
 * answer that had already arrived. Call it before writing the answer (at the latest in the same turn).
 *
 * A keep-alive connection Node leaves open for us meanwhile, and a body read to its end leaves
 * it usable. A connection whose answer is its last (the caller sent `Connection: close`, as Node's
 * client does with `agent: false`, or we did) Node ends in `resOnFinish` (lib/_http_server.js,
 * Node 20) with `socket.destroySoon()`, which in lib/net.js is `end()` then `destroy()` the moment
 * the FIN has been written: the rest of the body then meets a closed socket. So on this socket
 * `destroySoon` only half-closes (FIN after the answer: the caller reads its 413 to the end) and
 * the reading goes on; the socket is destroyed once the body has all arrived (nothing unread, no
 * reset) or a bound is reached.
 */
export function discardRest(req: IncomingMessage, limit: { bytes: number; ms: number } = DISCARD_LIMIT): void {
  const { socket } = req;
  let dropped = 0;
  let halfClosed = false;
  const cut = (): void => {
    done();
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    dropped += chunk.length;
    if (dropped > limit.bytes) cut();
  };
  const onEnd = (): void => {
    done();
    // Everything the caller sent has been read: now Node's own way of closing is safe.
    if (halfClosed) socket.destroySoon();
  };
  const timer = setTimeout(cut, limit.ms);
  timer.unref();
  const done = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', done);
    // A caller gone mid-body: Node has already let go of this request (it is not aborted), so the socket tells.
    socket.off('close', done);
    // Back to the prototype's destroySoon.
    delete (socket as Partial<Socket>).destroySoon;
  };
  socket.destroySoon = (): void => {
    halfClosed = true;
    socket.end();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', done);
  socket.on('close', done);
  req.resume();
}

/** A body parsed as JSON, with its text: what a number was written as, before parsing rounded it. */
export interface JsonBody {
  value: unknown;
  text: string;
}

/**
 * A body's chunks as JSON: decoded as UTF-8 (a leading BOM dropped, as push allows it), then
 * parsed; a malformed body is a 400 naming what JSON.parse found.
 */
export function parseBody(chunks: readonly Buffer[], size: number): JsonBody {
  // A small body (nearly every one) arrives in one chunk: decoded as it is, without a copy first.
  // Stryker disable next-line ConditionalExpression: a shortcut; concatenating one chunk decodes the same.
  const decoded = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  try {
    return { value: JSON.parse(text), text };
  } catch (error) {
    throw invalid(400, `malformed JSON: ${(error as Error).message}`);
  }
}

/** Where `readBody` hands what it read: called exactly once, unless the reading is cut from outside first (`cut`). */
export interface BodySink {
  body(json: JsonBody): void;
  refused(problem: HttpProblem): void;
}

/**
 * Reads a request body as JSON (call `acceptBody` first), refusing more than 1 MiB while streaming,
 * into `sink`. Two listeners on the request, no promise: once per request a server answers (issue
 * 19). A connection that ends mid-body is not watched here: the caller's socket 'close' (which the
 * server watches for the whole request) calls `cut`, which stops the reading and says why
 * (`RequestCut`: a hang-up, or Node's own timeout cut).
 */
export class BodyReader {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly sink: BodySink,
  ) {
    req.on('data', this.onData);
    req.on('end', this.onEnd);
  }

  /** The connection closed before the body ended: no more is read; why it ended. */
  cut(): RequestCut {
    this.stop();
    return cutReason(this.req);
  }

  private stop(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.size += chunk.length;
    if (this.size <= MAX_BODY_BYTES) {
      this.chunks.push(chunk);
      return;
    }
    this.stop();
    this.sink.refused(tooLarge());
  };

  private readonly onEnd = (): void => {
    this.stop();
    let json: JsonBody;
    try {
      json = parseBody(this.chunks, this.size);
    } catch (error) {
      this.sink.refused(error as HttpProblem);
      return;
    }
    this.sink.body(json);
  };
}

/**
 * Every failure the tool reports is a SyncError: it knows who is at fault (its class) and which
 * exit code the contract gives it, so the top level turns any of them into one line and a code.
 */
export type ErrorClass = 'client' | 'server' | 'unexpected';

export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  partial: 3,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class SyncError extends Error {
  readonly errorClass: ErrorClass;
  readonly exitCode: ExitCode;

  constructor(message: string, errorClass: ErrorClass, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.errorClass = errorClass;
    this.exitCode = exitCode;
  }
}

/** Bad flags, bad URL, unreadable input: the run could not start. */
export class UsageError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'client', ExitCode.usage, options);
  }
}

/** An output a run would write cannot be written (checked before the first request): names the flag. */
export class OutputPathError extends UsageError {
  constructor(
    readonly flag: string,
    path: string,
    why: string,
  ) {
    super(`${flag} ${path}: ${why}`);
  }
}

/** The remote side answered with an HTTP status we did not want. */
export class HttpStatusError extends SyncError {
  constructor(
    readonly status: number,
    message: string,
    /** Raw `Retry-After` header, kept for the retry policy. */
    readonly retryAfter?: string,
    /** What the answer's body said (its `error` field, or its text), cut short: it tells failures apart. */
    readonly detail?: string,
  ) {
    super(message, status >= 500 ? 'server' : 'client', ExitCode.failed);
  }
}

/**
 * A 4xx the platform says is about a value in the request, not about the request itself (Iterable's
 * `RequestFieldsTypesMismatched`: a data field sent with another type than the one it has). Its
 * words name the field, not the profile, so two halves of a batch that each hold such a profile
 * are refused in the same words: the batch is bisected on regardless, until each stands alone.
 */
export class DataRefusedError extends HttpStatusError {}

/**
 * No HTTP answer at all: timeout, reset, refused, unknown host. The remote side's (or the
 * network's) fault; `retryable` is false for the ones that will not heal by waiting (DNS, TLS).
 */
export class NetworkError extends SyncError {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, 'server', ExitCode.failed, options);
    this.code = code;
    this.retryable = options?.retryable ?? true;
  }
}

/** The remote answered 2xx with something that does not match its documented shape. */
export class UnexpectedResponseError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'unexpected', ExitCode.failed, options);
  }
}

/**
 * The source's listing changed while it was being paged (its page count moved, or records moved
 * between pages so that some never arrived): the pages fetched belong to different moments, and
 * the export would miss customers. The data is fine and a rerun, on a listing at rest, works.
 */
export class SourceChangedError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'server', ExitCode.failed, options);
  }
}

/**
 * The remote refused the run itself, not one request: the credentials, the list or endpoint named,
 * a daily quota spent. No request can succeed until someone changes something, so everything
 * still waiting fails at once with this, instead of each asking again.
 */
export class RefusedError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'client', ExitCode.failed, options);
  }
}

/** The remote refused our credentials: retrying cannot help, the operator must fix the key. */
export class AuthError extends RefusedError {}

/**
 * A 429 with what the remote said about it: how long to wait (from whatever header or body the
 * platform uses for it), and whether it limits requests over time or connections at once.
 */
export class RateLimitedError extends HttpStatusError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    readonly scope: 'requests' | 'connections' = 'requests',
    detail?: string,
  ) {
    super(429, message, undefined, detail);
  }
}

/** A remote stayed unavailable after every retry the policy allows. */
export class UnavailableError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'server', ExitCode.failed, options);
  }
}

/** The circuit breaker is open: the downstream failed repeatedly, so we fail fast instead of piling on. */
export class CircuitOpenError extends SyncError {
  constructor(readonly retryAt: number) {
    super('downstream circuit open after repeated failures; not sending until it cools down', 'server', ExitCode.failed);
  }
}

/**
 * An output file (dead-letter, report, metrics, state) could not be written: disk full, permission,
 * a directory in the way. The environment's fault, not the data's; the message names the file.
 */
export class WriteError extends SyncError {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`${path}: ${describeFsError(cause)}`, 'unexpected', ExitCode.failed, { cause });
  }
}

/** `no space left on device (ENOSPC)`: the words a person reads, then the code a script greps for. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent is not a directory',
    ENOENT: 'no such file or directory',
    EIO: 'input/output error',
    EFBIG: 'file too large',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The shared rate quota (Redis) stayed unreachable longer than the run may wait. Nothing was sent
 * without it (fail closed: a private limit could exceed the shared one); a replay later will work.
 */
export class QuotaUnavailableError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'server', ExitCode.failed, options);
  }
}

/** SIGINT/SIGTERM arrived: the run stops, keeps what was finished, and exits 130. */
export class InterruptedError extends SyncError {
  constructor(message = 'interrupted') {
    // Not the data's fault nor the remote's: records cut short this way are replayed, not fixed.
    super(message, 'unexpected', ExitCode.interrupted);
  }
}

/** The machine-readable cause for a log line: the HTTP status, or the socket error code. */
export function failureFields(error: SyncError): { status: number } | { code: string } | Record<string, never> {
  if (error instanceof HttpStatusError) return { status: error.status };
  if (error instanceof NetworkError) return { code: error.code };
  return {};
}

/** Anything that is not a SyncError is our bug or an environment surprise. */
export function toSyncError(error: unknown): SyncError {
  if (error instanceof SyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SyncError(message, 'unexpected', ExitCode.failed, { cause: error });
}

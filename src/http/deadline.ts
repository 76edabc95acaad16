import { NetworkError } from '../errors.js';

/** Default deadline of one request to the source or the downstream (`--request-timeout`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface Deadline {
  /** Aborts when the deadline passes or when the run's own signal aborts. */
  signal: AbortSignal;
  /** True if it was the deadline (not the run) that ended the request. */
  expired(): boolean;
  /** The typed error for an expired deadline: a timeout is transient, class server. */
  error(what: string): NetworkError;
}

/**
 * One deadline for a whole request: connect, headers and the entire body. axios's own `timeout`
 * is an idle timer on the socket in Node, so a server that drips one byte every 2 s never trips
 * it; an abort signal that fires at a fixed instant does, whatever the server does.
 */
export function requestDeadline(ms: number, run?: AbortSignal): Deadline {
  const timer = AbortSignal.timeout(ms);
  const signal = run ? AbortSignal.any([run, timer]) : timer;
  return {
    signal,
    expired: () => timer.aborted && !run?.aborted,
    error: (what) => new NetworkError('ETIMEDOUT', `${what}: timed out (no complete answer within ${ms} ms)`),
  };
}

import axios, { type AxiosInstance } from 'axios';
import { AuthError, HttpStatusError, UnexpectedResponseError, type SyncError } from '../errors.js';
import type { ItemResult, RequestHooks } from '../engine/batch-engine.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestDeadline } from '../http/deadline.js';
import { departureTransport } from '../http/departure.js';
import { fromTransportError } from '../http/errors.js';
import { BatchResponseSchema, toWire, type Profile } from '../profiles/schemas.js';

export interface DownstreamClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; comes from the environment, never logged. */
  token?: string;
  /** One deadline per attempt: connect, headers and the whole body (`--request-timeout`). */
  timeoutMs?: number;
  http?: AxiosInstance;
}

/**
 * One attempt at `POST {downstream}/profiles/batch`. No retries here: the engine's executor owns
 * them (and axios-retry is not installed on this instance), so a batch is retried in exactly one layer.
 */
export class DownstreamClient {
  private readonly http: AxiosInstance;
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor({ baseUrl, token, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, http }: DownstreamClientOptions) {
    this.url = `${baseUrl}/profiles/batch`;
    this.timeoutMs = timeoutMs;
    this.http =
      http ??
      axios.create({
        maxRedirects: 0,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
  }

  readonly send = async (batchId: string, profiles: readonly Profile[], signal?: AbortSignal, hooks: RequestHooks = {}): Promise<ItemResult[]> => {
    const what = `batch ${batchId}`;
    let body: unknown;
    // Serialized here, not inside axios, so the time it takes is visible (hooks.bodyReady).
    const payload = JSON.stringify({ batchId, profiles: profiles.map(toWire) });
    hooks.bodyReady?.();
    const deadline = requestDeadline(this.timeoutMs, signal);
    try {
      const response = await this.http.post(this.url, payload, {
        headers: { 'content-type': 'application/json', 'idempotency-key': batchId },
        signal: deadline.signal,
        responseType: 'json',
        ...(hooks.departed ? { transport: departureTransport({ notBefore: hooks.notBefore, onDeparture: hooks.departed }) } : {}),
      });
      body = response.data;
    } catch (error) {
      if (deadline.expired()) throw deadline.error(what);
      throw explain(fromTransportError(error, what));
    }
    const parsed = BatchResponseSchema.safeParse(body);
    if (!parsed.success) throw new UnexpectedResponseError(`${what}: the downstream's answer is not a batch result`);
    const { results } = parsed.data;
    // Results are matched by position; if they do not line up we cannot tell who was accepted.
    const aligned =
      results.length === profiles.length && results.every((result, i) => result.email.toLowerCase() === profiles[i]!.email);
    if (!aligned) throw new UnexpectedResponseError(`${what}: the downstream's results do not match the batch (${results.length} for ${profiles.length})`);
    return results.map(({ status, error }) => ({ status, error }));
  };
}

export const TOKEN_VARIABLE = 'SYNC_DOWNSTREAM_TOKEN';

/** 401/403: no batch will get through until someone fixes the token; say which variable. */
function explain(error: SyncError): SyncError {
  if (!(error instanceof HttpStatusError) || (error.status !== 401 && error.status !== 403)) return error;
  return new AuthError(`${error.message}: the downstream refused the token; check ${TOKEN_VARIABLE}`, { cause: error });
}

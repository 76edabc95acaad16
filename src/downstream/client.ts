import axios, { type AxiosInstance } from 'axios';
import { AuthError, HttpStatusError, UnexpectedResponseError, type SyncError } from '../errors.js';
import type { ItemResult } from '../engine/batch-engine.js';
import { fromTransportError } from '../http/errors.js';
import { BatchResponseSchema, toWire, type Profile } from '../profiles/schemas.js';

export interface DownstreamClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; comes from the environment, never logged. */
  token?: string;
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

  constructor({ baseUrl, token, timeoutMs = 10_000, http }: DownstreamClientOptions) {
    this.url = `${baseUrl}/profiles/batch`;
    this.http =
      http ??
      axios.create({
        timeout: timeoutMs,
        maxRedirects: 0,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
  }

  readonly send = async (batchId: string, profiles: readonly Profile[], signal?: AbortSignal): Promise<ItemResult[]> => {
    const what = `batch ${batchId}`;
    let body: unknown;
    try {
      const response = await this.http.post(
        this.url,
        { batchId, profiles: profiles.map(toWire) },
        { headers: { 'idempotency-key': batchId }, signal, responseType: 'json' },
      );
      body = response.data;
    } catch (error) {
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

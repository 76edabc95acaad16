import type { AxiosError } from 'axios';
import { axios } from './axios.js';
import { isNetworkError } from 'axios-retry';
import { HttpStatusError, InterruptedError, NetworkError, type SyncError } from '../errors.js';

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT']);

/**
 * The single place where transport errors (axios, or fetch's `TypeError('fetch failed')` with a
 * `cause.code`) become typed SyncErrors that the retry policy understands.
 */
export function fromTransportError(error: unknown, what: string): SyncError {
  if (axios.isCancel(error)) return new InterruptedError();
  if (axios.isAxiosError(error)) return fromAxiosError(error, what);
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code === 'string') return new NetworkError(code, `${what}: ${code}`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new NetworkError('UNKNOWN', `${what}: ${message}`, { cause: error, retryable: false });
}

function fromAxiosError(error: AxiosError, what: string): SyncError {
  if (error.response) {
    const { status, headers, data } = error.response;
    const retryAfter = headers['retry-after'];
    const detail = bodyDetail(data);
    // A 4xx body says what is wrong with the request (the data's fault): worth a dead letter's reason.
    const said = detail && status < 500 ? `: ${detail}` : '';
    return new HttpStatusError(status, `${what}: HTTP ${status}${said}`, typeof retryAfter === 'string' ? retryAfter : undefined, detail);
  }
  const code = error.code ?? 'UNKNOWN';
  const limit = error.config?.maxContentLength;
  if (/maxContentLength/.test(error.message) && typeof limit === 'number') {
    // The same page will be as large next time: not worth a retry, and the source's fault.
    return new NetworkError('ERR_RESPONSE_TOO_LARGE', `${what}: the response is larger than ${Math.round(limit / 1024 / 1024)} MiB (decompressed); refused`, {
      cause: error,
      retryable: false,
    });
  }
  if (TIMEOUT_CODES.has(code)) return new NetworkError('ETIMEDOUT', `${what}: timed out`, { cause: error });
  // axios-retry's classification (backed by is-retry-allowed) tells resets from DNS/TLS failures.
  return new NetworkError(code, `${what}: ${code}`, { cause: error, retryable: isNetworkError(error) });
}

/** The `error` (or `message`) of a JSON error body, or the start of a text one. */
function bodyDetail(data: unknown): string | undefined {
  const field = data !== null && typeof data === 'object' ? ((data as { error?: unknown; message?: unknown }).error ?? (data as { message?: unknown }).message) : data;
  if (typeof field !== 'string' || field.trim() === '') return undefined;
  const text = field.trim().replace(/\s+/g, ' ');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

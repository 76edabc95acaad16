import { setMaxListeners } from 'node:events';
import type { AxiosInstance } from 'axios';
import { axios } from '../http/axios.js';
import { AuthError, HttpStatusError, InterruptedError, SourceChangedError, UnexpectedResponseError, type SyncError } from '../errors.js';
import type { Executor, RetryEvent } from '../engine/executor.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestDeadline } from '../http/deadline.js';
import { departureTransport } from '../http/departure.js';
import { fromTransportError } from '../http/errors.js';
import type { FaultInjector } from '../http/fault-injector.js';
import { ReqresPageSchema, type ReqresPage } from './schemas.js';
import { count } from '../ui/count.js';

export const API_KEY_VARIABLE = 'SYNC_API_KEY';
/** A page bigger than this, once decompressed, is refused: gzip would let a small answer take any memory. */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

export interface CustomerAPIClientOptions {
  baseUrl: string;
  apiKey: string;
  executor: Executor;
  /** One deadline per attempt: connect, headers and the whole body (`--request-timeout`). */
  timeoutMs?: number;
  faults?: FaultInjector;
  onRetry?: (page: number, event: RetryEvent) => void;
  http?: AxiosInstance;
  /** Something a person should know that does not stop the run (e.g. `total` changed mid-run). */
  onWarning?: (page: number, message: string) => void;
}

export interface FetchAllOptions {
  concurrency: number;
  /** More pages than this, as page 1 announces them, is refused before fetching them. */
  maxPages: number;
  /** Stop fetching at the first page that stays unavailable (the run is lost anyway). */
  failFast?: boolean;
  signal?: AbortSignal;
  /** Called as each page arrives (progress, counts), also when the run fails later. */
  onPage?: (page: number, totalPages: number, records: number) => void;
}

export interface FetchAllResult {
  totalPages: number;
  /** Fetched pages by number; missing numbers are the failures. */
  pages: Map<number, ReqresPage>;
  failures: Map<number, SyncError>;
}

/** Talks to the reqres users API: one page with retries, or every page with pagination. */
export class CustomerAPIClient {
  private readonly options: CustomerAPIClientOptions;
  private readonly http: AxiosInstance;

  constructor(options: CustomerAPIClientOptions) {
    this.options = options;
    this.http =
      options.http ??
      axios.create({
        maxContentLength: MAX_RESPONSE_BYTES,
        // Redirects are refused outright: following one would hand the API key to whatever host it names.
        maxRedirects: 0,
        headers: { accept: 'application/json', 'x-api-key': options.apiKey },
      });
  }

  /** GET one page through the engine (rate slot, retries, 429 handling). */
  async fetchPage(page: number, signal?: AbortSignal): Promise<ReqresPage> {
    const { executor, faults, onRetry, baseUrl } = this.options;
    const what = `page ${page}`;
    return executor.run(
      async (_n, slot) => {
        faults?.maybeFail(what);
        let body: unknown;
        const deadline = requestDeadline(this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, signal);
        try {
          const response = await this.http.get(`${baseUrl}/users`, {
            params: { page },
            signal: deadline.signal,
            responseType: 'json',
            // The rate window follows the moment the request leaves, not the grant.
            ...(slot ? { transport: departureTransport({ notBefore: slot.notBefore, onDeparture: () => slot.depart() }) } : {}),
          });
          body = response.data;
        } catch (error) {
          if (deadline.expired()) throw deadline.error(what);
          throw explain(fromTransportError(error, what));
        }
        const parsed = ReqresPageSchema.safeParse(body);
        if (!parsed.success) {
          throw new UnexpectedResponseError(`${what}: response is not a reqres users page (${parsed.error.issues[0]?.message ?? 'invalid'})`);
        }
        // A source that ignores ?page= answers page 1 every time: its users would be exported twice.
        if (parsed.data.page !== page) throw new UnexpectedResponseError(`${what}: the source answered page ${parsed.data.page} (does it ignore ?page=?)`);
        return parsed.data;
      },
      { signal, onRetry: onRetry && ((event) => onRetry(page, event)) },
    );
  }

  /**
   * Page 1 first (it tells how many pages exist), then the rest with `concurrency` in flight.
   * A 401/403 anywhere stops every other request at once; other failures are collected per page.
   */
  async fetchAllPages({ concurrency, maxPages, failFast = false, signal, onPage }: FetchAllOptions): Promise<FetchAllResult> {
    const first = await this.fetchPage(1, signal);
    const totalPages = first.total_pages;
    if (totalPages > maxPages) {
      throw new UnexpectedResponseError(`page 1 says there are ${totalPages} pages, more than --max-pages ${maxPages}; raise --max-pages if that is right`);
    }
    const pages = new Map<number, ReqresPage>([[1, first]]);
    const failures = new Map<number, SyncError>();
    onPage?.(1, totalPages, first.data.length);

    const stop = new AbortController();
    const linked = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    // One listener per page in flight and per backoff: more than Node's default 10 at high --concurrency.
    setMaxListeners(0, linked);
    let fatal: SyncError | undefined;
    let next = 2;
    const worker = async (): Promise<void> => {
      while (next <= totalPages && !linked.aborted) {
        const page = next++;
        try {
          const body = await this.fetchPage(page, linked);
          // Pages from different snapshots of the source make an export that matches none of them.
          if (body.total_pages !== totalPages) {
            throw new SourceChangedError(
              `the source changed during the run: page 1 said ${count(totalPages, 'page')}, page ${page} says ${body.total_pages}; nothing exported, run again`,
            );
          }
          // Not fatal by itself (pull's listing check decides whether every record arrived), but worth a line.
          if (first.total !== undefined && body.total !== undefined && body.total !== first.total) {
            this.options.onWarning?.(page, `page 1 said ${count(first.total, 'user')} in all, page ${page} says ${body.total}: the source changed during the run`);
          }
          pages.set(page, body);
          onPage?.(page, totalPages, body.data.length);
        } catch (caught) {
          const error = caught as SyncError;
          if (error instanceof AuthError || error instanceof SourceChangedError) {
            fatal ??= error;
            stop.abort();
          } else if (!(error instanceof InterruptedError) || signal?.aborted) {
            failures.set(page, error);
            if (failFast) stop.abort();
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(0, totalPages - 1)) }, worker));
    if (fatal) throw fatal;
    if (signal?.aborted) throw new InterruptedError();
    return { totalPages, pages, failures };
  }
}

/** Turn the statuses an operator can act on into messages that say what to do. */
function explain(error: SyncError): SyncError {
  if (!(error instanceof HttpStatusError)) return error;
  if (error.status === 401 || error.status === 403) {
    return new AuthError(`${error.message}: the source refused the API key; check ${API_KEY_VARIABLE}`, { cause: error });
  }
  if (error.status >= 300 && error.status < 400) {
    return new HttpStatusError(error.status, `${error.message}: redirects are not followed (they would carry the API key elsewhere)`);
  }
  return error;
}

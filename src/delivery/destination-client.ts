import type { AxiosInstance } from 'axios';
import { axios } from '../http/axios.js';
import { AuthError, HttpStatusError, RefusedError, type SyncError } from '../errors.js';
import type { ItemResult, RequestHooks } from '../engine/batch-engine.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestDeadline } from '../http/deadline.js';
import { departureTransport } from '../http/departure.js';
import { fromTransportError } from '../http/errors.js';
import { platformSaid, type Encoded, type PlatformAnswer, type Target } from '../destinations/destination.js';

export const TOKEN_VARIABLE = 'SYNC_DOWNSTREAM_TOKEN';
/** An answer larger than this is refused: a broken or hostile platform must not fill memory. */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface DestinationClientOptions {
  /** One deadline per attempt: connect, headers and the whole body (`--request-timeout`). */
  timeoutMs?: number;
  http?: AxiosInstance;
}

/**
 * One attempt at a destination's batch call (or a read for its preflight). No retries here: the
 * engine's executor owns them, so a batch is retried in exactly one layer. Every status comes back
 * as an answer; what it means is decided once, below, and by the destination for its own shapes.
 */
export class DestinationClient {
  private readonly http: AxiosInstance;
  private readonly timeoutMs: number;

  constructor(
    private readonly target: Target,
    { timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, http }: DestinationClientOptions = {},
  ) {
    this.timeoutMs = timeoutMs;
    this.http =
      http ??
      axios.create({
        // A redirect would carry the credential to whatever host it names.
        maxRedirects: 0,
        maxContentLength: MAX_ANSWER_BYTES,
        // Every status is an answer to read, and the body is read as text: an HTML error page or an
        // empty 2xx must reach the destination as what it is, never as a parsed nothing.
        validateStatus: () => true,
        responseType: 'text',
        transformResponse: (data: unknown) => data,
        // The body is already JSON text: axios's default would JSON.parse it again to check it
        // (issue 19: a batch of 2,000 parsed for nothing, in serve's profile under load).
        transformRequest: (data: unknown) => data,
      });
  }

  readonly send = async (batchId: string, items: readonly Encoded[], signal?: AbortSignal, hooks: RequestHooks = {}): Promise<ItemResult[]> => {
    const { destination } = this.target;
    const what = `batch ${batchId}`;
    // Built here, not inside axios, so the time it takes is visible (hooks.bodyReady).
    const payload = destination.body(batchId, items.map((item) => item.fragment));
    hooks.bodyReady?.();
    const headers: Record<string, string> = destination.idempotencyKey ? { 'idempotency-key': batchId } : {};
    const answer = await this.exchange('post', destination.endpoint(this.target), what, { payload, headers, signal, hooks });
    // Read as the platform wrote it (a short credential masked inside an address would make an
    // accepted batch unreadable); what it says is masked on the way out.
    const secrets = this.secrets();
    try {
      return this.interpret(answer, items.map((item) => item.profile.email), what).map((result) =>
        result.error === undefined ? result : { ...result, error: mask(result.error, secrets) },
      );
    } catch (error) {
      throw maskedError(error, secrets);
    }
  };

  /**
   * GET a path under the base URL, for a preflight. A 5xx, a 429 or a failed connection throws (the
   * executor retries those); any other answer comes back for the destination to read.
   */
  async read(path: string, signal?: AbortSignal): Promise<PlatformAnswer> {
    const what = `GET ${path}`;
    const answer = this.masked(await this.exchange('get', `${this.target.baseUrl}${path}`, what, { signal }));
    if (answer.status === 429) throw this.rateLimited(answer, what);
    if (answer.status >= 500) throw new HttpStatusError(answer.status, `${what}: HTTP ${answer.status}`, answer.headers['retry-after'], platformSaid(answer));
    return answer;
  }

  private async exchange(
    method: 'get' | 'post',
    url: string,
    what: string,
    { payload, headers = {}, signal, hooks = {} }: { payload?: string; headers?: Record<string, string>; signal?: AbortSignal; hooks?: RequestHooks },
  ): Promise<PlatformAnswer> {
    const deadline = requestDeadline(this.timeoutMs, signal);
    try {
      const response = await this.http.request<string>({
        method,
        url,
        data: payload,
        headers: { accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...this.target.destination.headers(this.target), ...headers },
        signal: deadline.signal,
        ...(hooks.departed ? { transport: departureTransport({ notBefore: hooks.notBefore, onDeparture: hooks.departed }) } : {}),
      });
      const text = typeof response.data === 'string' ? response.data : '';
      return { status: response.status, headers: lowerCased(response.headers), body: parseJson(text), text };
    } catch (error) {
      if (deadline.expired()) throw deadline.error(what);
      throw fromTransportError(error, what);
    }
  }

  /**
   * A preflight's answer as the destination reads it: every form of the credential we sent (a
   * platform or a proxy may echo the Authorization header in an error) masked before any message
   * can take the platform's words. After parsing too: JSON escapes can spell it otherwise. (A batch's
   * answer is read unmasked and its outcomes masked instead: see `send`.)
   */
  private masked(answer: PlatformAnswer): PlatformAnswer {
    const secrets = this.secrets();
    const text = mask(answer.text, secrets);
    let body = parseJson(text);
    if (body !== undefined && text.includes('\\')) {
      const json = JSON.stringify(body);
      const masked = mask(json, secrets);
      if (masked !== json) body = JSON.parse(masked);
    }
    return { ...answer, body, text };
  }

  /**
   * The credential, the encoded header values that carry it (HTTP Basic's base64), and Basic's
   * password on its own: Customer.io's credential is `SITE_ID:API_KEY`, and its API key echoed
   * alone is as secret as the pair.
   */
  private secrets(): string[] {
    const { credential } = this.target;
    if (!credential) return [];
    const encoded = Object.values(this.target.destination.headers(this.target)).flatMap((value) => /^Basic\s+(\S+)$/i.exec(value)?.[1] ?? []);
    const passwords = encoded.flatMap((pair) => {
      const decoded = Buffer.from(pair, 'base64').toString('utf8');
      const password = decoded.slice(decoded.indexOf(':') + 1);
      return decoded.includes(':') && password !== '' ? [password] : [];
    });
    // Longest first: a shorter secret inside a longer one must not leave the rest of it showing.
    return [credential, ...encoded, ...passwords].sort((a, b) => b.length - a.length);
  }

  /** The one place a status becomes an outcome: 2xx per item (the destination reads it), the rest typed errors. */
  private interpret(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] {
    const { destination } = this.target;
    const { status } = answer;
    if (status >= 200 && status < 300) return destination.accepted(answer, emails, what);
    if (status >= 300 && status < 400) throw this.redirected(answer, what);
    if (status === 400) {
      const each = destination.refusedEach?.(answer, emails, what);
      if (each) return each;
    }
    const said = platformSaid(answer);
    if (status === 401 || status === 403) {
      // Said in the body, never echoed from the request: the credential is not in either.
      throw new AuthError(`${what}: HTTP ${status}${said ? `: ${said}` : ''}: ${destination.title} refused the token; check ${TOKEN_VARIABLE}`);
    }
    if (status === 404) throw destination.notFound(answer, this.target, what);
    if (status === 429) throw this.rateLimited(answer, what);
    const read = status < 500 ? destination.clientError?.(answer, what) : undefined;
    if (read) throw read;
    // A 4xx body says what is wrong with the request (the data's fault): worth a dead letter's reason.
    throw new HttpStatusError(status, `${what}: HTTP ${status}${said && status < 500 ? `: ${said}` : ''}`, answer.headers['retry-after'], said);
  }

  /**
   * A redirect is never followed (maxRedirects 0: it would carry the credential to the host it
   * names), and no batch can succeed while the platform points elsewhere (Customer.io redirects a
   * workspace's traffic sent to the other region): the run stops, naming where it points.
   */
  private redirected(answer: PlatformAnswer, what: string): RefusedError {
    const { destination, baseUrl } = this.target;
    const origin = originOf(answer.headers.location, baseUrl);
    return new RefusedError(
      `${what}: HTTP ${answer.status}: ${destination.title} redirects ${origin ? `to ${origin}` : 'elsewhere'}, which is not followed (the request carries the credential); check --downstream-url${origin ? ` (${origin}?)` : ''}`,
    );
  }

  private rateLimited(answer: PlatformAnswer, what: string): SyncError {
    return this.target.destination.rateLimited?.(answer, what) ?? new HttpStatusError(429, `${what}: HTTP 429`, answer.headers['retry-after'], platformSaid(answer));
  }
}

/** The scheme, host and port a Location names (never its path, query or user info), or undefined. */
function originOf(location: string | undefined, base: string): string | undefined {
  if (!location) return undefined;
  try {
    const url = new URL(location, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function mask(text: string, secrets: readonly string[]): string {
  return secrets.reduce((masked, secret) => masked.split(secret).join('***'), text);
}

/** The error with every text it carries (message, stack, the platform's words) masked. */
function maskedError(error: unknown, secrets: readonly string[]): unknown {
  // Stryker disable next-line ConditionalExpression: a shortcut; masking with no secrets changes nothing.
  if (!(error instanceof Error) || secrets.length === 0) return error;
  const fields = error as unknown as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(error)) {
    const value = fields[key];
    if (typeof value === 'string') fields[key] = mask(value, secrets);
  }
  maskedError(error.cause, secrets);
  return error;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function lowerCased(headers: unknown): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries((headers ?? {}) as Record<string, unknown>)) {
    result[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value === undefined || value === null ? undefined : String(value);
  }
  return result;
}

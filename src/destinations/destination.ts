import type { ItemResult } from '../engine/batch-engine.js';
import type { HttpStatusError, RateLimitedError, RefusedError } from '../errors.js';
import type { Profile } from '../profiles/schemas.js';
import { credentialFingerprint } from '../quota/quota-key.js';
import { platformOf } from '../state/state-store.js';
import type { MappedField } from './field-map.js';

export type DestinationName = 'sync' | 'hubspot' | 'mailchimp' | 'braze' | 'customerio' | 'iterable';

/** What one run talks to: the destination, where, with which credential, list and field map. */
export interface Target {
  destination: Destination;
  baseUrl: string;
  /** `SYNC_DOWNSTREAM_TOKEN`: never logged, never part of a message. */
  credential?: string;
  list?: string;
  maps: readonly MappedField[];
}

/** An HTTP answer as the destination reads it: the body parsed if it is JSON, and as text. */
export interface PlatformAnswer {
  status: number;
  headers: Record<string, string | undefined>;
  /** The parsed JSON body; undefined when it is empty or not JSON (an HTML error page). */
  body: unknown;
  text: string;
}

/** One profile as its platform's item, ready to send: its text in the body, and that text's size. */
export interface Encoded {
  profile: Profile;
  fragment: string;
  bytes: number;
}

/** A profile the platform can take (its item's JSON text), or why it cannot. */
export type Encoding = { fragment: string } | { refused: string };

/**
 * A marketing platform's bulk call, as data plus small pure functions: limits and defaults, where
 * and how to authenticate, how one profile becomes an item, how items become a body, and what an
 * answer says about each item. The engine (batching, pacing, retries, state, dead letters) is the
 * same for every destination; adding a platform is one file like this and its simulator.
 */
export interface Destination {
  readonly name: DestinationName;
  /** As people call it, in messages: "HubSpot". */
  readonly title: string;
  /** `--batch-size`, `--rate`, `--concurrency` when not given (concurrency undefined: unbounded). */
  readonly defaults: { batchSize: number; rate: number; concurrency?: number };
  /** The platform's own limits, enforced before sending: `--batch-size` above maxItems is refused. */
  readonly limits: { maxItems: number; maxBytes?: number; maxItemBytes?: number };
  /** Whether SYNC_DOWNSTREAM_TOKEN is required, and `--list` required (or else refused). */
  readonly needs: { credential: boolean; list: boolean };
  /** Where the platform is when `--downstream-url` is not given (may read the credential); undefined: required. */
  defaultBaseUrl(credential: string | undefined): string | undefined;
  /** When there is no default: what `--downstream-url` should be, said when it is missing (Braze: the instance's REST endpoint). */
  readonly baseUrlHint?: string;
  /** Why SYNC_DOWNSTREAM_TOKEN cannot be this platform's credential, by its form alone (never quoting it). */
  checkCredential?(credential: string): string | undefined;
  /** Why a `--map` target cannot be one of this platform's fields (checked before anything is read). */
  checkMap(map: MappedField): string | undefined;
  headers(target: Target): Record<string, string>;
  /** The batch call's URL. */
  endpoint(target: Target): string;
  encode(profile: Profile, target: Target): Encoding;
  /** The whole body, from the items' texts in order. */
  body(batchId: string, fragments: readonly string[]): string;
  /** What the body adds to its items' own bytes, for `count` items (so batches can be cut by size). */
  envelopeBytes(count: number): number;
  /**
   * One result per item, in order, from a 2xx answer (`emails`: the items' emails, in order). A 2xx
   * that does not say what happened to an item (empty, HTML, another shape) never counts it as
   * delivered: it throws UnexpectedResponseError.
   */
  accepted(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[];
  /**
   * A 400 that still answers item by item (Braze refuses the request when every object in it is
   * invalid, naming each): one result per item. Undefined: the 400 is about the batch as a whole
   * (the engine bisects it). Without this, halves refused in the same words look like a request
   * the platform refuses whatever it holds, and the profiles would fail as the platform's fault.
   * Unlike clientError (a refusal that blames a value without saying which item: bisected), the
   * answer names each item, so no request is spent finding them.
   */
  refusedEach?(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] | undefined;
  /** A 429, read the platform's way (how long to wait, for what); default: Retry-After. */
  rateLimited?(answer: PlatformAnswer, what: string): RateLimitedError | RefusedError;
  /**
   * Another 4xx (not 401/403/404/429), read the platform's way: its own words, and whether it blames
   * a value in the batch (DataRefusedError, bisected to the profile). Undefined: the default reading.
   */
  clientError?(answer: PlatformAnswer, what: string): HttpStatusError | undefined;
  /** A 404 for the batch call: which flag names the wrong thing. */
  notFound(answer: PlatformAnswer, target: Target, what: string): RefusedError;
  /**
   * Before the input is read: the credential, the list and every `--map` target, checked against
   * the platform (`read` GETs a path under the base URL, retried like any request).
   */
  preflight?(read: (path: string) => Promise<PlatformAnswer>, target: Target): Promise<void>;
  /**
   * Who the state remembers acceptances for: a HubSpot push never makes a Mailchimp push skip, nor
   * one HubSpot account another. Undefined: the account is unknown without the credential.
   */
  identity(target: Target): string | undefined;
  /** Sends `Idempotency-Key` (sync's own wire format has it; the platforms do not). */
  readonly idempotencyKey?: boolean;
}

/** The platform's own words from an error body: its `message`, `detail`, `error`, `title`, `msg` (Iterable) or `meta` (Customer.io), or the text. */
export function platformSaid(answer: PlatformAnswer): string | undefined {
  const body = answer.body as Record<string, unknown> | undefined;
  // Customer.io's Track API says it in a `meta` envelope: `{meta: {error}}` or `{meta: {errors: [...]}}`.
  const meta = isObject(body) && isObject(body.meta) ? body.meta : undefined;
  const metaSaid = meta && (typeof meta.error === 'string' ? meta.error : Array.isArray(meta.errors) ? meta.errors.filter((e) => typeof e === 'string').join('; ') : undefined);
  const field = body && typeof body === 'object' ? (body.message ?? body.detail ?? body.error ?? body.title ?? body.msg ?? (metaSaid || undefined)) : undefined;
  const text = typeof field === 'string' ? field : answer.text.replace(/<[^>]*>/g, ' ');
  const said = text.trim().replace(/\s+/g, ' ');
  if (said === '') return undefined;
  return said.length > 200 ? `${said.slice(0, 200)}…` : said;
}

/**
 * The longest refusal of one item kept as the platform said it: every refused profile's dead letter
 * and log line carry it, and a platform may quote a whole 65,536-character value back.
 */
export const MAX_REFUSAL_CHARS = 1000;

/** A platform's refusal of one item, cut to MAX_REFUSAL_CHARS. */
export function refusalText(text: string): string {
  return text.length > MAX_REFUSAL_CHARS ? `${text.slice(0, MAX_REFUSAL_CHARS)}…` : text;
}

/**
 * Each item's refusals in the platform's words: the same words once, and no more once an item's
 * text is past MAX_REFUSAL_CHARS (refusalText cuts it there anyway). An answer of up to 32 MB may
 * name one item hundreds of thousands of times: each costs one look-up, never a pass over the
 * words kept so far.
 */
export class Refusals<K> {
  /** Per item: its distinct words, and the length of their text joined (once past the limit, it is cut). */
  private readonly said = new Map<K, { words: Set<string>; length: number }>();

  add(key: K, words: string): void {
    let kept = this.said.get(key);
    if (!kept) this.said.set(key, (kept = { words: new Set(), length: 0 }));
    if (kept.length > MAX_REFUSAL_CHARS || kept.words.has(words)) return;
    kept.length += (kept.words.size > 0 ? '; '.length : 0) + words.length;
    kept.words.add(words);
  }

  has(key: K): boolean {
    return this.said.has(key);
  }

  /** The item's refusal, its words joined and cut to MAX_REFUSAL_CHARS; undefined: not refused. */
  text(key: K): string | undefined {
    const kept = this.said.get(key);
    return kept && refusalText([...kept.words].join('; '));
  }

  get size(): number {
    return this.said.size;
  }
}

export const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The identity on a platform whose one URL serves every account (HubSpot, a Braze instance,
 * Iterable): the account is the credential's, and only a fingerprint of it is kept. A rotated
 * token starts a new state (every profile sent once more: the platform upserts), which is safe;
 * two accounts sharing one would not be (the second never gets what the first accepted).
 */
export function accountIdentity({ destination, baseUrl, credential }: Target): string | undefined {
  return credential ? `${destination.name} ${platformOf(baseUrl)} token:${credentialFingerprint(credential)}` : undefined;
}

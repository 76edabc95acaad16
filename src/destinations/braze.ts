import { RateLimitedError, RefusedError, UnexpectedResponseError } from '../errors.js';
import type { ItemResult } from '../engine/batch-engine.js';
import { accountIdentity, isObject, platformSaid, Refusals, refusalText, type Destination, type PlatformAnswer } from './destination.js';
import { fieldsObject, mappedValue } from './field-map.js';

/** The attributes every profile fills. */
const PROFILE_ATTRIBUTES = ['email', 'first_name', 'last_name'];
/**
 * Keys that would change who is updated, or how: another identifier (Braze would pick the user by
 * it instead of the email), or the object's own switches.
 */
const CONTROL_KEYS = ['external_id', 'user_alias', 'braze_id', '_update_existing_only', 'push_token_import'];
/**
 * Braze's burst window for /users/track (3,000 requests per 3 s): how long to wait after a 429
 * whose headers do not say when the window resets.
 */
const BURST_WINDOW_MS = 3000;
const EXAMPLE_URL = 'https://rest.iad-01.braze.com';

/**
 * Braze's user track call (`POST /users/track`), attributes only, the email as the identifier: a
 * profile with no Braze user yet creates an email-only user (Braze's reference: "If no profile with
 * the email address currently exists… a new profile will be created"; `_update_existing_only` is
 * only needed for alias-only users, so it is not sent). REST API key with the `users.track`
 * permission, as Bearer. No public default host: each customer's instance has its REST endpoint.
 * Limits: 75 attribute objects a request (more is a 400 for the whole request); 3,000 requests per
 * 3 s per workspace, far above the 10/s sent by default.
 */
export const brazeDestination: Destination = {
  name: 'braze',
  title: 'Braze',
  defaults: { batchSize: 75, rate: 10, concurrency: 10 },
  // No byte limit is documented for /users/track: objects decide the batch.
  limits: { maxItems: 75 },
  needs: { credential: true, list: false },
  defaultBaseUrl: () => undefined,
  // The dashboard's URL names the instance; Braze's API overview (docs/api/basics) maps each to its REST endpoint.
  baseUrlHint: `your Braze instance's REST endpoint, e.g. ${EXAMPLE_URL} for dashboard-01.braze.com (Braze's API overview lists every instance)`,
  checkMap(map) {
    if (PROFILE_ATTRIBUTES.includes(map.target)) return `${map.target} is already sent from the profile`;
    if (map.target === 'tags') return 'metadata.tags is already sent as the attribute tags';
    if (CONTROL_KEYS.includes(map.target)) return `${map.target} would change which Braze user is updated (sync identifies users by email)`;
    return undefined;
  },
  headers: ({ credential }) => ({ authorization: `Bearer ${credential}` }),
  endpoint: ({ baseUrl }) => `${baseUrl}/users/track`,
  encode(profile, target) {
    const attributes = fieldsObject({ email: profile.email, first_name: profile.firstName, last_name: profile.lastName });
    const tags = profile.metadata?.tags;
    if (tags) attributes.tags = tags;
    for (const map of target.maps) {
      // Strings, numbers, booleans, lists and objects (nested custom attributes) are all Braze
      // attribute values; null would remove the attribute, so an absent or null value sends nothing.
      const value = mappedValue(profile, map);
      if (value !== undefined && value !== null) attributes[map.target] = value;
    }
    return { fragment: JSON.stringify(attributes) };
  },
  body: (_batchId, fragments) => `{"attributes":[${fragments.join(',')}]}`,
  envelopeBytes: (count) => '{"attributes":[]}'.length + Math.max(0, count - 1),
  accepted: (answer, emails, what) => trackResults(answer, emails, what),
  refusedEach: (answer, emails) => everyObjectRefused(answer, emails),
  rateLimited(answer, what) {
    const limit = answer.headers['x-ratelimit-limit'];
    return new RateLimitedError(
      `${what}: HTTP 429: Braze rate limit${limit ? ` (${limit} requests a window)` : ''}`,
      untilReset(answer),
      'requests',
      platformSaid(answer),
    );
  },
  notFound: (answer, target, what) => {
    const said = platformSaid(answer);
    return new RefusedError(`${what}: HTTP 404${said ? `: ${said}` : ''}: no Braze REST API at ${target.baseUrl}; check --downstream-url (your instance's REST endpoint, e.g. ${EXAMPLE_URL})`);
  },
  // An instance serves many workspaces, and the API key names one: neither two instances nor two workspaces share acceptances.
  identity: accountIdentity,
};

/**
 * How long until Braze's window resets: `X-RateLimit-Reset` (epoch seconds) against the answer's
 * own `Date`, both Braze's clock, so a skewed local clock cannot make the wait 0 or an hour. `Date`
 * has whole seconds: the wait errs long by under a second, never short. Without either header, the
 * burst window.
 */
export function untilReset(answer: PlatformAnswer): number {
  const reset = Number(answer.headers['x-ratelimit-reset']);
  const now = Date.parse(answer.headers.date ?? '');
  if (!Number.isFinite(reset) || reset <= 0 || Number.isNaN(now)) return BURST_WINDOW_MS;
  return Math.max(0, reset * 1000 - now);
}

interface TrackError {
  type: string;
  index: number | undefined;
}

/** The answer's `errors[]` about attribute objects, each with the index it names (undefined: none we sent). */
function trackErrors(errors: unknown[], count: number): TrackError[] {
  return errors.map((error) => {
    if (!isObject(error)) return { type: typeof error === 'string' ? error : 'an error Braze did not describe', index: undefined };
    const type = typeof error.type === 'string' && error.type.trim() !== '' ? error.type : 'refused by Braze';
    // An index as a number, or as its digits (Grouparoo's client read it with parseInt).
    const index = typeof error.index === 'string' && /^\d+$/.test(error.index) ? Number(error.index) : error.index;
    const named = error.input_array === 'attributes' && Number.isInteger(index) && (index as number) >= 0 && (index as number) < count;
    return { type, index: named ? (index as number) : undefined };
  });
}

/** Each object's refusal, by index: Braze's `type`, several joined when one object has several. */
function refusalsByIndex(errors: readonly TrackError[]): Refusals<number> {
  const refused = new Refusals<number>();
  for (const { type, index } of errors) if (index !== undefined) refused.add(index, type);
  return refused;
}

/**
 * A 2xx: `message: "success"` means every attribute object was queued except those its `errors[]`
 * name by index (Braze: "any data not affected by an error in the errors array will still be
 * processed") — "success" with errors is a partial refusal, not a delivery of all. Another message,
 * an empty body or HTML says nothing about the objects: nothing counts as delivered. An error that
 * names no object we sent leaves every object it could be about unconfirmed.
 */
function trackResults(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] {
  const body = answer.body;
  if (!isObject(body) || typeof body.message !== 'string') throw new UnexpectedResponseError(`${what}: Braze's answer (HTTP ${answer.status}) is not a /users/track result`);
  if (body.message !== 'success') {
    throw new UnexpectedResponseError(`${what}: Braze answered HTTP ${answer.status} "${refusalText(body.message)}", not "success": nothing is counted as delivered`);
  }
  if (body.errors !== undefined && !Array.isArray(body.errors)) throw new UnexpectedResponseError(`${what}: Braze's answer (HTTP ${answer.status}) has errors that are not a list`);
  const errors = trackErrors(body.errors ?? [], emails.length);
  const refused = refusalsByIndex(errors);
  const unplaced = errors.find((error) => error.index === undefined);
  return emails.map((_email, i) => {
    const message = refused.text(i);
    if (message !== undefined) return { status: 'rejected', error: message };
    if (unplaced) return { status: 'unconfirmed', error: `${what}: Braze reported an error that names no object sent ("${refusalText(unplaced.type)}"): this one may have been refused` };
    return { status: 'accepted' };
  });
}

/**
 * A 400 whose `errors[]` name every attribute object sent: Braze refuses the whole request when no
 * object in it is valid ("Valid data must be provided…"), and says why for each. Each is refused
 * with its own reason. Anything less (an object not named, no errors) is about the request: undefined.
 */
function everyObjectRefused(answer: PlatformAnswer, emails: readonly string[]): ItemResult[] | undefined {
  const body = answer.body;
  if (!isObject(body) || typeof body.message !== 'string' || body.message === 'success' || !Array.isArray(body.errors)) return undefined;
  const refused = refusalsByIndex(trackErrors(body.errors, emails.length));
  if (emails.length === 0 || refused.size !== emails.length) return undefined;
  return emails.map((_email, i) => ({ status: 'rejected', error: refused.text(i)! }));
}

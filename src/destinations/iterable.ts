import { DataRefusedError, HttpStatusError, RateLimitedError, RefusedError, UnexpectedResponseError } from '../errors.js';
import type { ItemResult } from '../engine/batch-engine.js';
import { parseRetryAfter } from '../engine/retry-policy.js';
import { normalizeEmail } from '../normalize/email.js';
import { accountIdentity, isObject, platformSaid, Refusals, refusalText, type Destination, type PlatformAnswer } from './destination.js';
import { fieldsObject, mappedValue } from './field-map.js';

/**
 * What Iterable's API does, and where each fact comes from (/work/notes/platforms/iterable.md):
 * - `POST /api/users/bulkUpdate`, `{users:[{email, dataFields}]}`, header `Api-Key` (Block's Go
 *   client `block/iterable-go` api/users.go, types/users.go; Iterable's OpenAPI as generated in
 *   `idihyaabde/iterable-php` docs/Api/UsersApi.md: "This will add the data if it doesn't exist
 *   yet. Data will be merged; missing fields are not deleted", so an email-only user is created).
 * - 1,000 users and 4 MB a request, 5 requests/s per API key: RudderStack's Iterable destination
 *   (config.js `MAX_BODY_SIZE_IN_BYTES = 4000000`, README). Iterable's older OpenAPI text said
 *   10/s per project; the lower figure is the default.
 * - 200 `{successCount, failCount, invalidEmails, failedUpdates:{…Emails, …UserIds}}`, refusals by
 *   identifier, not by position (Block types/users.go `FailedUpdates`; RudderStack's recorded
 *   answers in test/integrations/destinations/iterable/dataDelivery/network.ts).
 * - A data field's type is fixed once set; a value of another type refuses the user in
 *   `failedUpdates.invalidDataEmails` (Block types/users.go), or the whole request with 400
 *   `RequestFieldsTypesMismatched` (a real 2021 answer recorded by Grouparoo; Block resends every
 *   user of such a bulkUpdate alone to find the offender, batch/user_update.go). Both are read.
 * - 401 `{msg:"Invalid API key", code:"BadApiKey"}`, 429 `{msg:"Exceeded rate limit.",
 *   code:"RateLimitExceeded"}` (third-party fixtures; no rate-limit headers are documented).
 */

/** The data fields every profile fills (and the identifiers): a `--map` to one would send it twice. */
const PROFILE_FIELDS = ['email', 'userId', 'firstName', 'lastName', 'tags'];
/**
 * Fields bulkUpdate takes inside dataFields that change subscriptions ("will NOT generate
 * unsubscribe events", Iterable's OpenAPI): sync manages profile data, never consent.
 */
const SUBSCRIPTION_FIELDS = ['emailListIds', 'unsubscribedChannelIds', 'unsubscribedMessageTypeIds', 'subscribedMessageTypeIds', 'messageTypeIds'];

/**
 * What each list of a 200 means, for the dead letter (Block's labels in batch/batch_errors.go, and
 * its field comments). Lists not known here refuse their users too, in Iterable's own key.
 */
const LIST_MEANINGS: Readonly<Record<string, string>> = {
  invalidEmails: 'Iterable does not take this as an email address',
  invalidDataEmails: "a data field's type differs from the type Iterable fixed for it",
  forgottenEmails: 'the user was forgotten (GDPR) in this Iterable project, which refuses new data for it',
  conflictEmails: 'this email and another Iterable user conflict (the identifier belongs to someone else)',
  notFoundEmails: 'Iterable has no such user and did not create one',
};

/**
 * Iterable's bulk user update, keyed by email: `POST /api/users/bulkUpdate` with the project's API
 * key in `Api-Key`. Each user's data fields are merged into the profile (a mapped object replaces
 * the stored object: mergeNestedObjects is not sent, so it is false); a user that does not exist
 * is created. Refusals come inside a 200, by email, in `failedUpdates.*` lists (a data field sent
 * with another type than the one the project fixed: `invalidDataEmails`); when Iterable refuses the
 * whole request for that instead (400), the batch is bisected down to the profile. Limits: 1,000
 * users and 4 MB a request, 5 requests/s.
 */
export const iterableDestination: Destination = {
  name: 'iterable',
  title: 'Iterable',
  defaults: { batchSize: 1000, rate: 5, concurrency: 5 },
  // "4MB": RudderStack counts it as 4,000,000 bytes; the smaller reading (not 4 MiB) is the one that
  // can never be over Iterable's, whichever it means. No per-user limit is documented.
  limits: { maxItems: 1000, maxBytes: 4_000_000 },
  needs: { credential: true, list: false },
  // The US data centre; an EU project is at https://api.eu.iterable.com (--downstream-url).
  defaultBaseUrl: () => 'https://api.iterable.com',
  checkMap(map) {
    const target = map.target;
    if (target === 'tags') return 'metadata.tags is already sent as the data field tags';
    const known = PROFILE_FIELDS.find((field) => field.toLowerCase() === target.toLowerCase());
    if (known) return `${known} is already sent from the profile`;
    if (SUBSCRIPTION_FIELDS.some((field) => field.toLowerCase() === target.toLowerCase())) {
      return `${target} changes the user's subscriptions (without unsubscribe events), which sync does not manage`;
    }
    if (target.includes('.')) return `"${target}": a dot in an Iterable field name reaches inside an object; map to a top-level field`;
    return undefined;
  },
  headers: ({ credential }) => ({ 'Api-Key': credential ?? '' }),
  endpoint: ({ baseUrl }) => `${baseUrl}/api/users/bulkUpdate`,
  encode(profile, target) {
    const dataFields = fieldsObject({ firstName: profile.firstName, lastName: profile.lastName });
    const tags = profile.metadata?.tags;
    if (tags && tags.length > 0) dataFields.tags = tags;
    // Values go as they are: their JSON type is the field's type in Iterable (a number where a
    // string was is refused by Iterable, and dead-lettered with its words).
    for (const map of target.maps) {
      const value = mappedValue(profile, map);
      if (value !== undefined && value !== null) dataFields[map.target] = value;
    }
    return { fragment: JSON.stringify({ email: profile.email, dataFields }) };
  },
  body: (_batchId, fragments) => `{"users":[${fragments.join(',')}]}`,
  envelopeBytes: (count) => '{"users":[]}'.length + Math.max(0, count - 1),
  accepted: (answer, emails, what) => bulkUpdateResults(answer, emails, what),
  rateLimited(answer, what) {
    // No Retry-After documented (a third-party fixture shows one): honoured when present, else the
    // engine's wait for a 429.
    const header = answer.headers['retry-after'];
    const retryAfterMs = header ? parseRetryAfter(header, Date.now(), { defaultMs: Number.NaN }) : undefined;
    return new RateLimitedError(`${what}: HTTP 429: ${iterableSaid(answer) ?? 'Iterable rate limit'}`, Number.isNaN(retryAfterMs) ? undefined : retryAfterMs, 'requests', platformSaid(answer));
  },
  clientError(answer, what) {
    const said = iterableSaid(answer);
    if (said === undefined) return undefined;
    const body = answer.body as Record<string, unknown>;
    const message = `${what}: HTTP ${answer.status}: ${said}`;
    // The type of a data field is fixed: the request names the field, and a profile is at fault.
    if (answer.status === 400 && body.code === 'RequestFieldsTypesMismatched') return new DataRefusedError(400, message, undefined, said);
    return new HttpStatusError(answer.status, message, answer.headers['retry-after'], said);
  },
  notFound(answer, target, what) {
    const said = iterableSaid(answer) ?? platformSaid(answer);
    return new RefusedError(
      `${what}: HTTP 404${said ? `: ${said}` : ''}: no Iterable API at ${target.baseUrl}; check --downstream-url (US projects: https://api.iterable.com, EU: https://api.eu.iterable.com)`,
    );
  },
  // An API key belongs to one project: two projects behind one URL never share acceptances.
  identity: accountIdentity,
};

/**
 * Iterable's own words for an error: `msg`, and its `code`; for a body it could not read
 * (BadJsonBody) the paths it names (`obj.users[1].dataFields: Object value expected`).
 */
function iterableSaid(answer: PlatformAnswer): string | undefined {
  const body = answer.body;
  if (!isObject(body) || typeof body.msg !== 'string' || body.msg.trim() === '') return undefined;
  const code = typeof body.code === 'string' && body.code !== '' ? ` (${body.code})` : '';
  const paths = body.code === 'BadJsonBody' && isObject(body.params) ? Object.entries(body.params).filter(([, value]) => typeof value === 'string') : [];
  const where = paths.length > 0 ? `: ${paths.map(([path, value]) => `${path}: ${String(value)}`).join('; ')}` : '';
  return refusalText(`${body.msg.trim()}${where}${code}`);
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/**
 * A 200 counts its users (successCount, failCount) and names the failed ones by email in lists
 * (`invalidEmails` at the top, `failedUpdates.*Emails`). A user named in any list is refused with
 * that list's meaning. The others are delivered only when the counts agree with the names: every
 * user sent counted once (the unchanged ones named in `noOpEmails` may be left out of the count),
 * and as many failures counted as named. Otherwise Iterable failed someone
 * it did not name (by a userId, say), and no unnamed user can be told delivered: all of them stay
 * unconfirmed, sent again by the next run (an update is safe to repeat). An answer that is not
 * this shape (empty, HTML, other JSON) never counts anyone delivered.
 */
function bulkUpdateResults(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] {
  const body = answer.body;
  const failed = isObject(body) ? (body.failedUpdates ?? {}) : undefined;
  if (!isObject(body) || !isCount(body.successCount) || !isCount(body.failCount) || !isObject(failed) || (body.invalidEmails !== undefined && !Array.isArray(body.invalidEmails))) {
    throw new UnexpectedResponseError(`${what}: Iterable's answer (HTTP ${answer.status}) is not a bulkUpdate result`);
  }
  droppedFields(body, what);
  const lists: [string, unknown][] = [['invalidEmails', body.invalidEmails], ...Object.entries(failed).filter(([key]) => key.endsWith('Emails'))];
  const refused = new Refusals<string>();
  for (const [key, list] of lists) {
    if (!Array.isArray(list)) continue;
    const meaning = `${key}: ${LIST_MEANINGS[key] ?? 'refused by Iterable'}`;
    for (const email of list) if (typeof email === 'string') refused.add(normalizeEmail(email), meaning);
  }
  const named = emails.filter((email) => refused.has(email)).length;
  const { successCount, failCount } = body;
  // Users whose update changed nothing (`noOpEmails`) hold what was sent. Whether Iterable counts them
  // in successCount is not documented: the counts agree either way.
  const noOp = new Set(Array.isArray(body.noOpEmails) ? body.noOpEmails.filter((email): email is string => typeof email === 'string').map(normalizeEmail) : []);
  const unchanged = emails.filter((email) => noOp.has(email) && !refused.has(email)).length;
  const counted = successCount + failCount;
  const countsAgree = failCount === named && (counted === emails.length || counted + unchanged === emails.length);
  return emails.map((email) => {
    const reason = refused.text(email);
    if (reason !== undefined) return { status: 'rejected', error: reason };
    if (countsAgree) return { status: 'accepted' };
    return {
      status: 'unconfirmed',
      error: `${what}: Iterable counted ${successCount} updated and ${failCount} failed of ${emails.length} sent but named ${named} failed: this user's update is not confirmed`,
    };
  });
}

/**
 * `filteredOutFields`: data fields the project dropped because it does not take new ones. Every
 * user was updated without them, and every later batch would be too: the run stops, naming them,
 * rather than remember profiles as delivered whose mapped fields never arrived.
 */
function droppedFields(body: Record<string, unknown>, what: string): void {
  const dropped = Array.isArray(body.filteredOutFields) ? body.filteredOutFields.filter((field): field is string => typeof field === 'string' && field !== '') : [];
  if (dropped.length === 0) return;
  throw new RefusedError(
    `${what}: Iterable dropped the data field${dropped.length > 1 ? 's' : ''} ${dropped.join(', ')} (filteredOutFields): the project does not take new fields; create ${dropped.length > 1 ? 'them' : 'it'} in Iterable (or let the project take new fields), or drop the --map`,
  );
}

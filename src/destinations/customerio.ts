import { RefusedError, UnexpectedResponseError, UsageError } from '../errors.js';
import type { ItemResult } from '../engine/batch-engine.js';
import { platformOf } from '../state/state-store.js';
import { isObject, platformSaid, Refusals, type Destination, type PlatformAnswer } from './destination.js';
import { fieldsObject, mappedValue } from './field-map.js';

/*
 * Customer.io's Track API v2 batch call, as its public reference describes it (sources in
 * /work/notes/platforms/customerio.md):
 * - `POST /api/v2/batch`, `{batch:[{type:"person", action:"identify", identifiers:{email}, attributes}]}`
 *   [customerio-node lib/track.ts batch(); the OpenAPI operation "batch"].
 * - HTTP Basic with `SITE_ID:API_KEY` [customerio-node lib/request.ts].
 * - Answers [OpenAPI: 200 null, 207 map, 400 map, 401 null]: a 200 with an empty body, or `{}` as
 *   recorded live by customerio-node (test/fixtures/responses/batch__success.json), takes every
 *   entry; a 207 `{errors:[{batch_index, reason, field, message}]}` names the entries refused and
 *   only those ("items absent from that array are implicitly successful": Customer.io staff on
 *   segmentio/action-destinations#3657); `errors` may come inside a 200 too (#3816 review).
 * - Limits: "Your request must be smaller than 500kb" (batch) and "smaller than 32kb" (a single
 *   entity) [OpenAPI docstrings]. The unit is not stated: RudderStack, which sends to this very call,
 *   reads the request limit as 500,000 bytes (`MAX_BATCH_PAYLOAD = '500000B'`). We read Customer.io's
 *   "kb" as 1,000 bytes for both limits, the entry's too (RudderStack's 32 × 1024 would be 768 bytes
 *   more): the smaller reading is inside the limit whichever Customer.io meant. The 32 KB is the
 *   entry's whole JSON as sent inside `batch[]` (the body of the single-entity call it stands for:
 *   "each individual request within batch must be ≤32KB", RudderStack's README), not only its
 *   attributes. No item count is documented; RudderStack sends at most 1,000, and so do we.
 */

/** The request's limit and one entry's, in bytes ("500kb" and "32kb" with kb = 1,000 bytes; see above). */
export const MAX_REQUEST_BYTES = 500_000;
export const MAX_ENTRY_BYTES = 32_000;
export const MAX_ENTRIES = 1000;

/** Attributes every profile fills, and the identifiers no `--map` may write as an attribute. */
const PROFILE_ATTRIBUTES = ['first_name', 'last_name'];
const IDENTIFIERS = ['email', 'id', 'cio_id'];
/** "attribute name cannot be longer than 150 bytes" (docs.customer.io/journeys/invalid-api-requests). */
const MAX_ATTRIBUTE_NAME_BYTES = 150;

/** The site id of a `SITE_ID:API_KEY` credential (the workspace), or undefined when it is not of that form. */
export function siteIdOf(credential: string | undefined): string | undefined {
  const colon = credential?.indexOf(':') ?? -1;
  if (colon <= 0 || colon === credential!.length - 1) return undefined;
  return credential!.slice(0, colon);
}

const FORM = 'SITE_ID:API_KEY (the site id and API key of a Track API key, from Customer.io\'s Account Settings > API Credentials, joined by a colon)';

/**
 * Customer.io (Journeys), Track API v2: `POST /api/v2/batch`, each profile one entry identifying a
 * person by email. Batches are cut by bytes (500 KB a request, 32 KB an entry), at most 1,000
 * entries; 10 requests/s and 10 in flight by default. An EU workspace is reached with
 * `--downstream-url https://track-eu.customer.io`.
 */
export const customerioDestination: Destination = {
  name: 'customerio',
  title: 'Customer.io',
  defaults: { batchSize: MAX_ENTRIES, rate: 10, concurrency: 10 },
  limits: { maxItems: MAX_ENTRIES, maxBytes: MAX_REQUEST_BYTES, maxItemBytes: MAX_ENTRY_BYTES },
  needs: { credential: true, list: false },
  defaultBaseUrl: () => 'https://track.customer.io',
  checkCredential: (credential) => (siteIdOf(credential) === undefined ? `expected ${FORM}` : undefined),
  checkMap(map) {
    if (map.target === 'tags') return 'metadata.tags is already sent as the attribute tags';
    if (PROFILE_ATTRIBUTES.includes(map.target)) return `${map.target} is already sent from the profile`;
    if (IDENTIFIERS.includes(map.target)) return `${map.target} is one of Customer.io's identifiers, not an attribute a push may change`;
    if (Buffer.byteLength(map.target) > MAX_ATTRIBUTE_NAME_BYTES) return `Customer.io attribute names are at most ${MAX_ATTRIBUTE_NAME_BYTES} bytes`;
    return undefined;
  },
  // The credential is the Basic pair itself: base64("SITE_ID:API_KEY").
  headers: ({ credential }) => ({ authorization: `Basic ${Buffer.from(credential ?? '').toString('base64')}` }),
  endpoint: ({ baseUrl }) => `${baseUrl}/api/v2/batch`,
  encode(profile, target) {
    const attributes = fieldsObject({ first_name: profile.firstName, last_name: profile.lastName });
    const tags = profile.metadata?.tags;
    if (tags && tags.length > 0) attributes.tags = tags;
    for (const map of target.maps) {
      const value = mappedValue(profile, map);
      // Attributes are schemaless JSON; null would remove the attribute, so a missing value sends nothing.
      if (value !== undefined && value !== null) attributes[map.target] = value;
    }
    return { fragment: JSON.stringify({ type: 'person', action: 'identify', identifiers: { email: profile.email }, attributes }) };
  },
  body: (_batchId, fragments) => `{"batch":[${fragments.join(',')}]}`,
  envelopeBytes: (count) => '{"batch":[]}'.length + Math.max(0, count - 1),
  accepted: (answer, emails, what) => batchResults(answer, emails, what),
  notFound: (answer, target, what) => {
    const said = platformSaid(answer);
    return new RefusedError(`${what}: HTTP 404${said ? `: ${said}` : ''}: no Customer.io Track API at ${target.baseUrl}; check --downstream-url`);
  },
  // The workspace is the site id (never the API key, which may be rotated): two workspaces on one host never share acceptances.
  identity({ baseUrl, credential }) {
    const site = siteIdOf(credential);
    if (site === undefined) throw new UsageError(`SYNC_DOWNSTREAM_TOKEN (${FORM}) is required with --to customerio: its site id names the workspace`);
    return `customerio ${platformOf(baseUrl)} site ${site}`;
  },
};

/**
 * What a 2xx says about each entry. Customer.io's success carries no list of what it took: a 200
 * whose body is empty or `{}` takes every entry, and `errors[].batch_index` names the entries it
 * refused (207, or a 200). Anything else in a 2xx (an HTML page, JSON of another shape, an empty
 * 207) does not say what happened, so it delivers nothing: UnexpectedResponseError, or an entry the
 * answer leaves in doubt is `unconfirmed`.
 */
function batchResults(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] {
  const { status, body } = answer;
  const said = `${what}: Customer.io's answer (HTTP ${status})`;
  if (answer.text.trim() === '') {
    if (status === 200) return emails.map(() => ({ status: 'accepted' }));
    throw new UnexpectedResponseError(`${said} is empty: only an empty 200 says every entry was taken`);
  }
  // Customer.io's batch answer is an object holding at most `errors`: anything else is not it.
  const known = isObject(body) && Object.keys(body).every((key) => key === 'errors') && (body.errors === undefined || Array.isArray(body.errors));
  if (!known) throw new UnexpectedResponseError(`${said} is not a batch answer`);
  const errors = (body.errors ?? []) as unknown[];
  if (status !== 200 && errors.length === 0) throw new UnexpectedResponseError(`${said} names no refused entry`);
  const refused = new Refusals<number>();
  let unattributed = 0;
  for (const error of errors) {
    const index = isObject(error) ? error.batch_index : undefined;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= emails.length) {
      unattributed += 1;
      continue;
    }
    refused.add(index, refusalOf(error as Record<string, unknown>));
  }
  return emails.map((_email, i) => {
    const reason = refused.text(i);
    if (reason !== undefined) return { status: 'rejected', error: reason };
    // An error we cannot tie to an entry may be about any of the others: none of them is confirmed.
    if (unattributed > 0) return { status: 'unconfirmed', error: `${said} refuses ${unattributed} entr${unattributed === 1 ? 'y' : 'ies'} without a usable batch_index` };
    return { status: 'accepted' };
  });
}

/** One refusal in Customer.io's words: `field: message (reason)`. */
function refusalOf(error: Record<string, unknown>): string {
  const text = (key: string): string | undefined => (typeof error[key] === 'string' && error[key] !== '' ? (error[key] as string) : undefined);
  const message = text('message') ?? 'refused by Customer.io';
  const field = text('field');
  const reason = text('reason');
  return `${field ? `${field}: ` : ''}${message}${reason ? ` (${reason})` : ''}`;
}

import { RateLimitedError, RefusedError, UnexpectedResponseError, UsageError } from '../errors.js';
import type { ItemResult } from '../engine/batch-engine.js';
import { platformOf } from '../state/state-store.js';
import { isObject, platformSaid, refusalText, type Destination, type PlatformAnswer, type Target } from './destination.js';
import { mappedValue } from './field-map.js';
import { normalizeEmail } from '../normalize/email.js';

/** The merge fields every profile fills. */
const PROFILE_MERGE_FIELDS = ['FNAME', 'LNAME'];
/** Merge tags: letters, digits and underscores, at most 10 characters (Mailchimp's rule for new tags). */
const MERGE_TAG = /^[A-Za-z0-9_]{1,10}$/;
/** Mailchimp answers "too many connections" without Retry-After: try again after this. */
const CONNECTIONS_RETRY_MS = 1000;

/** An API key is `<key>-<data centre>`, e.g. `0123…cdef-us21`: the data centre names the host. */
export function dataCentreOf(key: string | undefined): string | undefined {
  return /-([a-z]+\d+)$/.exec(key ?? '')?.[1];
}

/** A merge field value: strings and numbers as they are, booleans as text; an address is an object. */
function mergeValue(value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return { refused: 'is a list, which no Mailchimp merge field takes' };
  return value;
}

/**
 * Mailchimp's batch subscribe/update of an audience's members: `POST /3.0/lists/{--list}` with
 * `update_existing: true`, the API key as the password of HTTP Basic. New members are subscribed
 * (`status_if_new`); an existing member's status is never sent, so never changed (an
 * unsubscribed person stays unsubscribed). Per-member refusals come inside a 200 (`errors[]`).
 * Limits: 500 members a request, 10 connections at once per account, no per-second limit.
 */
export const mailchimpDestination: Destination = {
  name: 'mailchimp',
  title: 'Mailchimp',
  defaults: { batchSize: 500, rate: 10, concurrency: 10 },
  limits: { maxItems: 500 },
  needs: { credential: true, list: true },
  defaultBaseUrl(credential) {
    const dc = dataCentreOf(credential);
    if (!dc) throw new UsageError('SYNC_DOWNSTREAM_TOKEN: a Mailchimp API key ends in its data centre (…-us21); or give --downstream-url');
    return `https://${dc}.api.mailchimp.com`;
  },
  checkMap(map) {
    if (map.target.toLowerCase() === 'tags') return 'metadata.tags is already sent as the member\'s tags';
    if (PROFILE_MERGE_FIELDS.includes(map.target.toUpperCase())) return `${map.target.toUpperCase()} is already sent from the profile`;
    if (!MERGE_TAG.test(map.target)) return `"${map.target}" is not a Mailchimp merge tag (letters, digits and _, at most 10)`;
    return undefined;
  },
  headers: ({ credential }) => ({ authorization: `Basic ${Buffer.from(`sync:${credential ?? ''}`).toString('base64')}` }),
  endpoint: ({ baseUrl, list }) => `${baseUrl}/3.0/lists/${encodeURIComponent(list ?? '')}`,
  encode(profile, target) {
    const merge: Record<string, unknown> = { FNAME: profile.firstName, LNAME: profile.lastName };
    for (const map of target.maps) {
      const value = mergeValue(mappedValue(profile, map));
      if (isObject(value) && 'refused' in value) return { refused: `${map.source} ${String(value.refused)} (--map ${map.source}=${map.target})` };
      if (value !== undefined) merge[map.target.toUpperCase()] = value;
    }
    const tags = profile.metadata?.tags;
    const member = { email_address: profile.email, status_if_new: 'subscribed', merge_fields: merge, ...(tags && tags.length > 0 ? { tags } : {}) };
    return { fragment: JSON.stringify(member) };
  },
  body: (_batchId, fragments) => `{"members":[${fragments.join(',')}],"update_existing":true}`,
  envelopeBytes: (count) => '{"members":[],"update_existing":true}'.length + Math.max(0, count - 1),
  accepted: (answer, emails, what) => memberResults(answer, emails, what),
  rateLimited: (answer, what) =>
    new RateLimitedError(`${what}: HTTP 429: Mailchimp: too many connections at once`, CONNECTIONS_RETRY_MS, 'connections', platformSaid(answer)),
  notFound: (answer, target, what) =>
    new RefusedError(`${what}: HTTP 404${saidPart(answer)}: Mailchimp has no audience "${target.list}" at ${target.baseUrl}; check --list (and --downstream-url)`),
  async preflight(read, target) {
    const path = `/3.0/lists/${encodeURIComponent(target.list ?? '')}/merge-fields?count=1000`;
    const answer = await read(path);
    refusedAtPreflight(answer, target, path);
    const fields = isObject(answer.body) && Array.isArray(answer.body.merge_fields) ? answer.body.merge_fields : undefined;
    if (!fields) throw new UsageError(`--downstream-url ${target.baseUrl}: the answer to GET ${path} is not Mailchimp's list of merge fields`);
    const tags = new Set(fields.filter(isObject).map((field) => String(field.tag).toUpperCase()));
    for (const tag of PROFILE_MERGE_FIELDS) {
      if (!tags.has(tag)) throw new UsageError(`--list ${target.list}: the audience has no merge field ${tag} (the profile's ${tag === 'FNAME' ? 'firstName' : 'lastName'} goes there); add it in Mailchimp`);
    }
    for (const map of target.maps) {
      if (!tags.has(map.target.toUpperCase())) {
        throw new UsageError(`--map ${map.source}=${map.target}: the audience ${target.list} has no merge field ${map.target.toUpperCase()} (add it in Mailchimp, or map to one that exists)`);
      }
    }
  },
  identity: ({ baseUrl, list }) => `mailchimp ${platformOf(baseUrl)} list ${list}`,
};

function saidPart(answer: PlatformAnswer): string {
  const said = platformSaid(answer);
  return said ? `: ${said}` : '';
}

function refusedAtPreflight(answer: PlatformAnswer, target: Target, path: string): void {
  if (answer.status === 401 || answer.status === 403) {
    throw new UsageError(`Mailchimp refused SYNC_DOWNSTREAM_TOKEN (HTTP ${answer.status}${saidPart(answer)}): it needs an API key of the account (…-us21)`);
  }
  if (answer.status === 404) throw new UsageError(`--list ${target.list}: Mailchimp has no audience with this id at ${target.baseUrl} (HTTP 404 for GET ${path})`);
  if (answer.status < 200 || answer.status >= 300) throw new UsageError(`Mailchimp answered HTTP ${answer.status} to GET ${path}${saidPart(answer)}`);
}

/**
 * A 200 lists the members it created and updated, and refuses others in `errors[]` by address
 * (compared as push normalizes them: any case, the domain in either spelling). A member counts as
 * delivered only if it is listed as created or updated: a 200 that names it nowhere (or an empty
 * body) is not a delivery.
 */
function memberResults(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] {
  const body = answer.body;
  if (!isObject(body) || !Array.isArray(body.errors) || !Array.isArray(body.new_members) || !Array.isArray(body.updated_members)) {
    throw new UnexpectedResponseError(`${what}: Mailchimp's answer (HTTP ${answer.status}) is not a batch result`);
  }
  const refused = new Map<string, string>();
  for (const error of body.errors) {
    if (!isObject(error) || typeof error.email_address !== 'string') continue;
    const field = typeof error.field === 'string' && error.field !== '' ? ` (${error.field}${typeof error.field_message === 'string' && error.field_message ? `: ${error.field_message}` : ''})` : '';
    refused.set(normalizeEmail(error.email_address), refusalText(`${typeof error.error === 'string' ? error.error : 'refused by Mailchimp'}${field}`));
  }
  const taken = new Set<string>();
  for (const member of [...body.new_members, ...body.updated_members]) {
    if (isObject(member) && typeof member.email_address === 'string') taken.add(normalizeEmail(member.email_address));
  }
  return emails.map((email) => {
    const message = refused.get(email);
    if (message !== undefined) return { status: 'rejected', error: message };
    if (taken.has(email)) return { status: 'accepted' };
    return { status: 'unconfirmed', error: `${what}: Mailchimp's answer neither lists nor refuses this member` };
  });
}

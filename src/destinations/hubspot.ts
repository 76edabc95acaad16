import { RateLimitedError, RefusedError, UnexpectedResponseError, UsageError } from '../errors.js';
import type { ItemResult } from '../engine/batch-engine.js';
import { accountIdentity, isObject, platformSaid, refusalText, type Destination, type PlatformAnswer, type Target } from './destination.js';
import { mappedValue, type MappedField } from './field-map.js';
import { normalizeEmail } from '../normalize/email.js';

/** The fields every profile fills: a `--map` to one of them would send it twice. */
const PROFILE_PROPERTIES = ['email', 'firstname', 'lastname'];
/** HubSpot property names: lower-case letters, digits and underscores, starting with a letter. */
const PROPERTY_NAME = /^[a-z][a-z0-9_]*$/;
/** The rolling window of HubSpot's burst limit when its headers do not say. */
const DEFAULT_INTERVAL_MS = 10_000;

/** A property value as HubSpot takes it: always a string; a list (multi-checkbox) joined with `;`. */
function propertyValue(value: unknown): string | undefined | { refused: string } {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) return value.join(';');
  return { refused: 'is an object or a list of objects, which no HubSpot property takes' };
}

/**
 * HubSpot's batch upsert of contacts (CRM v3), keyed by email: `POST /crm/v3/objects/contacts/batch/upsert`,
 * a private app's token as Bearer. Every input carries an `objectWriteTraceId` (its index in the
 * batch), so a bad input comes back as a 207 naming it instead of a 400 for the whole batch.
 * Limits: 100 inputs a request; 100 requests per rolling 10 s on the lowest tier (10/s here).
 */
export const hubspotDestination: Destination = {
  name: 'hubspot',
  title: 'HubSpot',
  defaults: { batchSize: 100, rate: 10, concurrency: 10 },
  limits: { maxItems: 100 },
  needs: { credential: true, list: false },
  defaultBaseUrl: () => 'https://api.hubapi.com',
  checkMap(map) {
    if (PROFILE_PROPERTIES.includes(map.target)) return `${map.target} is already sent from the profile`;
    if (!PROPERTY_NAME.test(map.target)) return `"${map.target}" is not a HubSpot property name (internal names are lower-case letters, digits and _)`;
    return undefined;
  },
  headers: ({ credential }) => ({ authorization: `Bearer ${credential}` }),
  endpoint: ({ baseUrl }) => `${baseUrl}/crm/v3/objects/contacts/batch/upsert`,
  encode(profile, target) {
    const properties: Record<string, string> = { email: profile.email, firstname: profile.firstName, lastname: profile.lastName };
    for (const map of target.maps) {
      const value = propertyValue(mappedValue(profile, map));
      if (typeof value === 'object') return { refused: `${map.source} ${value.refused} (--map ${map.source}=${map.target})` };
      if (value !== undefined) properties[map.target] = value;
    }
    return { fragment: JSON.stringify({ idProperty: 'email', id: profile.email, properties }) };
  },
  // Each input gets its index as objectWriteTraceId, spliced in front of its own fields.
  body: (_batchId, fragments) => `{"inputs":[${fragments.map((fragment, i) => `{"objectWriteTraceId":"${i}",${fragment.slice(1)}`).join(',')}]}`,
  envelopeBytes(count) {
    let bytes = '{"inputs":[]}'.length + Math.max(0, count - 1);
    for (let i = 0; i < count; i++) bytes += `"objectWriteTraceId":"${i}",`.length;
    return bytes;
  },
  accepted: (answer, emails, what) => upsertResults(answer, emails, what),
  rateLimited(answer, what) {
    const body = isObject(answer.body) ? answer.body : {};
    const policy = typeof body.policyName === 'string' ? body.policyName : undefined;
    // "The message and policyName will indicate which limit you hit": without a policy, the message
    // or the daily headers say it (a daily limit read as a 10 s window would make every batch wait
    // two minutes in vain, for the rest of the day).
    const dailySpent = (typeof body.message === 'string' && /daily limit/i.test(body.message)) || answer.headers['x-hubspot-ratelimit-daily-remaining'] === '0';
    if (policy === 'DAILY' || (policy === undefined && dailySpent)) {
      return new RefusedError(`${what}: HTTP 429: HubSpot's daily limit is spent (policy DAILY): nothing more can be sent until it resets at midnight in the account's time zone`);
    }
    // No Retry-After from HubSpot: the rest of its rolling window. Without knowing when that window
    // began, the whole of it, as HubSpot's own client does for TEN_SECONDLY_ROLLING.
    const interval = Number(answer.headers['x-hubspot-ratelimit-interval-milliseconds']);
    const waitMs = Number.isFinite(interval) && interval > 0 ? interval : policy === 'SECONDLY' ? 1000 : DEFAULT_INTERVAL_MS;
    return new RateLimitedError(`${what}: HTTP 429: HubSpot rate limit (${policy ?? 'no policy named'})`, waitMs, 'requests', platformSaid(answer));
  },
  notFound: (answer, target, what) =>
    new RefusedError(`${what}: HTTP 404${saidPart(answer)}: no HubSpot contacts API at ${target.baseUrl}; check --downstream-url`),
  async preflight(read, target) {
    const answer = await read('/crm/v3/properties/contacts');
    refusedAtPreflight(answer, target, '/crm/v3/properties/contacts');
    const results = isObject(answer.body) && Array.isArray(answer.body.results) ? answer.body.results : undefined;
    if (!results) throw new UsageError(`--downstream-url ${target.baseUrl}: the answer to GET /crm/v3/properties/contacts is not HubSpot's list of properties`);
    const properties = new Map(results.filter(isObject).map((property) => [String(property.name), property]));
    for (const name of PROFILE_PROPERTIES) {
      if (!properties.has(name)) throw new UsageError(`HubSpot has no contact property "${name}": is --downstream-url a HubSpot account's API?`);
    }
    for (const map of target.maps) checkProperty(map, properties.get(map.target));
  },
  identity: accountIdentity,
};

/**
 * HubSpot puts a property's refusal as JSON inside its message ("Property values were not valid:
 * [{…}]"): said as a person reads it, `email: Email address x is blocked (BLOCKED_EMAIL)`.
 */
export function readable(message: string): string {
  const match = /^Property values were not valid: (\[.*\])$/s.exec(message);
  if (!match) return message;
  try {
    const problems = JSON.parse(match[1]!) as unknown[];
    const said = problems.filter(isObject).map((problem) => `${String(problem.name)}: ${String(problem.message)}${typeof problem.error === 'string' ? ` (${problem.error})` : ''}`);
    return said.length > 0 ? said.join('; ') : message;
  } catch {
    return message;
  }
}

function saidPart(answer: PlatformAnswer): string {
  const said = platformSaid(answer);
  return said ? `: ${said}` : '';
}

function checkProperty(map: MappedField, property: Record<string, unknown> | undefined): void {
  const flag = `--map ${map.source}=${map.target}`;
  if (!property) throw new UsageError(`${flag}: HubSpot has no contact property "${map.target}" (create it in HubSpot, or map to one that exists)`);
  const readOnly = isObject(property.modificationMetadata) && property.modificationMetadata.readOnlyValue === true;
  if (readOnly || property.calculated === true) throw new UsageError(`${flag}: the HubSpot property "${map.target}" is read-only`);
}

/** 401/403/404 while checking, before anything is read: a usage error naming what to fix. */
function refusedAtPreflight(answer: PlatformAnswer, target: Target, path: string): void {
  if (answer.status === 401 || answer.status === 403) {
    throw new UsageError(
      `HubSpot refused SYNC_DOWNSTREAM_TOKEN (HTTP ${answer.status}${saidPart(answer)}): it needs a private app token with the scopes crm.objects.contacts.write and crm.schemas.contacts.read`,
    );
  }
  if (answer.status === 404) throw new UsageError(`--downstream-url ${target.baseUrl}: HTTP 404 for GET ${path}: not a HubSpot API base URL`);
  if (answer.status < 200 || answer.status >= 300) throw new UsageError(`HubSpot answered HTTP ${answer.status} to GET ${path}${saidPart(answer)}`);
}

/**
 * 200: every input upserted. 207: every input not named by an error's `context.objectWriteTraceId`
 * upserted, those named refused with HubSpot's message. Either way an input counts as delivered
 * only if the answer's `results` show it: by its trace id (the very text we sent) when the result
 * has one, else by its email (either spelling of its domain). A result whose trace id and email
 * name two different inputs confirms neither, and a 2xx that names nobody is not a delivery.
 */
function upsertResults(answer: PlatformAnswer, emails: readonly string[], what: string): ItemResult[] {
  const body = answer.body;
  if (!isObject(body) || !Array.isArray(body.results)) throw new UnexpectedResponseError(`${what}: HubSpot's answer (HTTP ${answer.status}) is not a batch result`);
  const indexOf = new Map(emails.map((email, i) => [String(i), i]));
  const refused = new Map<number, string>();
  for (const error of Array.isArray(body.errors) ? body.errors : []) {
    if (!isObject(error)) continue;
    const ids = isObject(error.context) && Array.isArray(error.context.objectWriteTraceId) ? error.context.objectWriteTraceId : [];
    const message = typeof error.message === 'string' ? refusalText(readable(error.message)) : 'refused by HubSpot';
    for (const id of ids) {
      const index = typeof id === 'string' ? indexOf.get(id) : undefined;
      if (index !== undefined) refused.set(index, message);
    }
  }
  const upserted = new Set<number>();
  for (const result of body.results) {
    const index = isObject(result) ? resultIndex(result, indexOf, emails) : undefined;
    if (index !== undefined) upserted.add(index);
  }
  return emails.map((_email, i) => {
    const message = refused.get(i);
    if (message !== undefined) return { status: 'rejected', error: message };
    if (upserted.has(i)) return { status: 'accepted' };
    return { status: 'unconfirmed', error: `${what}: HubSpot's answer (HTTP ${answer.status}) neither lists nor refuses this contact` };
  });
}

/** Which input a result is about: its trace id, checked against its email when it has both. */
function resultIndex(result: Record<string, unknown>, indexOf: ReadonlyMap<string, number>, emails: readonly string[]): number | undefined {
  const said = isObject(result.properties) && typeof result.properties.email === 'string' ? normalizeEmail(result.properties.email) : undefined;
  if (result.objectWriteTraceId === undefined) return said === undefined ? undefined : indexByEmail(emails, said);
  const index = typeof result.objectWriteTraceId === 'string' ? indexOf.get(result.objectWriteTraceId) : undefined;
  if (index === undefined || (said !== undefined && said !== emails[index])) return undefined;
  return index;
}

function indexByEmail(emails: readonly string[], email: string): number | undefined {
  const index = emails.indexOf(email);
  return index < 0 ? undefined : index;
}

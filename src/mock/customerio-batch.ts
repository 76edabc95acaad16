import { SUPPRESSED_DOMAIN } from './downstream-server.js';

/*
 * The body of Customer.io's `POST /api/v2/batch`, read and checked entry by entry. Pure functions;
 * the server holds the people. Sources (see /work/notes/platforms/customerio.md):
 * - request limit "smaller than 500kb", an entity "smaller than 32kb" [OpenAPI docstrings], read
 *   as 1,000-byte kb like the client (src/destinations/customerio.ts); an entry is measured as its
 *   compact JSON (what a client that sends compact JSON sends) [INF];
 * - an identify's limits and their messages: "cannot identify more than 300 attributes in one
 *   request", "attribute name cannot be longer than 150 bytes", "value for attribute 'NAME' cannot
 *   be longer than 1000 bytes", "id attribute must be present / must be a string value / cannot be
 *   an empty string" [docs.customer.io/journeys/invalid-api-requests];
 * - one refusal per problem, `{batch_index, reason, field, message}` [RudderStack networkHandler
 *   and its mock; Segment #3816]; the `reason` values and the wording for an oversized entry, a
 *   wrong type/action and a suppressed address are this mock's [gap: not documented].
 * - identifiers: one of `id`, `email`, `cio_id` [RudderStack RECORD_IDENTIFIER_KEYS]; email is
 *   case-insensitive as an identifier [docs].
 */

export const MAX_REQUEST_BYTES = 500_000;
export const MAX_ENTRY_BYTES = 32_000;
export const MAX_ATTRIBUTES = 300;
export const MAX_ATTRIBUTE_NAME_BYTES = 150;
export const MAX_ATTRIBUTE_VALUE_BYTES = 1000;

/** One refused entry, as Customer.io lists it in a 207. */
export interface EntryError {
  batch_index: number;
  reason: string;
  field: string;
  message: string;
}

/** A person an entry identifies: by which identifier, and the attributes it sets (null removes one). */
export interface Identify {
  index: number;
  key: { kind: 'email' | 'id'; value: string };
  attributes: Map<string, unknown>;
  bytes: number;
}

export type BatchReading = { refused: string } | { entries: unknown[] };

/** The request as a whole: JSON with a `batch` array, or why Customer.io refuses it (400). */
export function readBatch(text: string): BatchReading {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { refused: 'request body is not valid JSON' };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { refused: 'request body must be a JSON object' };
  const batch = (json as Record<string, unknown>).batch;
  if (!Array.isArray(batch)) return { refused: 'batch must be an array of entities' };
  return { entries: batch };
}

const invalid = (index: number, field: string, message: string): EntryError => ({ batch_index: index, reason: 'invalid', field, message });
const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** A value's size as Customer.io would count it: a string's UTF-8 bytes, anything else its JSON. */
const valueBytes = (value: unknown): number => Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value) ?? '');

/** One entry: what it identifies and sets, or every problem Customer.io would name for it. */
export function checkEntry(entry: unknown, index: number): Identify | EntryError[] {
  const bytes = Buffer.byteLength(JSON.stringify(entry) ?? '');
  if (bytes > MAX_ENTRY_BYTES) return [{ batch_index: index, reason: 'too_large', field: '', message: `entity is ${bytes} bytes: it must be smaller than 32kb` }];
  if (!isRecord(entry)) return [invalid(index, '', 'entity must be an object')];
  if (entry.type !== 'person') return [invalid(index, 'type', entry.type === undefined ? 'type must be present' : `type ${JSON.stringify(entry.type)} is not supported by this mock (person only)`)];
  if (entry.action !== 'identify') return [invalid(index, 'action', entry.action === undefined ? 'action must be present' : `action ${JSON.stringify(entry.action)} is not supported by this mock (identify only)`)];
  const problems: EntryError[] = [];
  const key = identifierOf(entry.identifiers, index, problems);
  const attributes = new Map<string, unknown>();
  if (entry.attributes !== undefined && !isRecord(entry.attributes)) {
    problems.push(invalid(index, 'attributes', 'attributes must be a hash'));
  } else if (entry.attributes !== undefined) {
    const names = Object.keys(entry.attributes);
    if (names.length > MAX_ATTRIBUTES) problems.push(invalid(index, 'attributes', `cannot identify more than ${MAX_ATTRIBUTES} attributes in one request`));
    for (const name of names) {
      const value = entry.attributes[name];
      if (Buffer.byteLength(name) > MAX_ATTRIBUTE_NAME_BYTES) problems.push(invalid(index, `attributes.${name}`, `attribute name cannot be longer than ${MAX_ATTRIBUTE_NAME_BYTES} bytes`));
      else if (value !== null && valueBytes(value) > MAX_ATTRIBUTE_VALUE_BYTES) problems.push(invalid(index, `attributes.${name}`, `value for attribute '${name}' cannot be longer than ${MAX_ATTRIBUTE_VALUE_BYTES} bytes`));
      else attributes.set(name, value);
    }
  }
  if (key?.kind === 'email' && key.value.endsWith(`@${SUPPRESSED_DOMAIN}`)) {
    problems.push({ batch_index: index, reason: 'suppressed', field: 'identifiers.email', message: `${key.value} is suppressed: data sent for this person is dropped` });
  }
  if (problems.length > 0 || !key) return problems;
  return { index, key, attributes, bytes };
}

/** The one identifier of a person entry (`email` lower-cased), or its problem added to `problems`. */
function identifierOf(identifiers: unknown, index: number, problems: EntryError[]): Identify['key'] | undefined {
  if (!isRecord(identifiers)) {
    problems.push(invalid(index, 'identifiers', 'identifiers must be an object with one of id, email, cio_id'));
    return undefined;
  }
  const given = ['id', 'email', 'cio_id'].filter((name) => identifiers[name] !== undefined);
  if (given.length !== 1) {
    problems.push(invalid(index, 'identifiers', given.length === 0 ? 'id attribute must be present' : `identifiers must hold exactly one of id, email, cio_id (got ${given.join(', ')})`));
    return undefined;
  }
  const kind = given[0]!;
  const value = identifiers[kind];
  if (typeof value !== 'string') problems.push(invalid(index, `identifiers.${kind}`, `${kind} attribute must be a string value`));
  else if (value.trim() === '') problems.push(invalid(index, `identifiers.${kind}`, `${kind} attribute cannot be an empty string`));
  else if (kind === 'cio_id') problems.push({ batch_index: index, reason: 'not_found', field: 'identifiers.cio_id', message: `no person has cio_id ${value}` });
  else return { kind: kind as 'email' | 'id', value: kind === 'email' ? value.toLowerCase() : value };
  return undefined;
}

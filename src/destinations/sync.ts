import { RefusedError, UnexpectedResponseError } from '../errors.js';
import { BatchResponseSchema, toWire } from '../profiles/schemas.js';
import { platformOf } from '../state/state-store.js';
import { platformSaid, type Destination } from './destination.js';

/**
 * sync's own wire format (docs/wire-format.md): `POST {url}/profiles/batch`, results matched by
 * position, optional Bearer token, and Idempotency-Key: what `sync mock downstream` serves, and
 * what a platform (or an adapter in front of one) can implement to take sync's batches as they are.
 */
export const syncDestination: Destination = {
  name: 'sync',
  title: 'the downstream',
  defaults: { batchSize: 500, rate: 5 },
  limits: { maxItems: 10_000 },
  needs: { credential: false, list: false },
  defaultBaseUrl: () => undefined,
  checkMap: () => 'sync sends metadata whole: --map is for the marketing platforms (any --to but sync)',
  headers: ({ credential }): Record<string, string> => (credential ? { authorization: `Bearer ${credential}` } : {}),
  endpoint: ({ baseUrl }) => `${baseUrl}/profiles/batch`,
  encode: (profile) => ({ fragment: JSON.stringify(toWire(profile)) }),
  body: (batchId, fragments) => `{"batchId":${JSON.stringify(batchId)},"profiles":[${fragments.join(',')}]}`,
  // `{"batchId":"b-…(22 chars)","profiles":[` … `]}` and the commas between items.
  envelopeBytes: (count) => `{"batchId":"","profiles":[]}`.length + 22 + Math.max(0, count - 1),
  accepted(answer, emails, what) {
    const parsed = BatchResponseSchema.safeParse(answer.body);
    if (!parsed.success) throw new UnexpectedResponseError(`${what}: the downstream's answer is not a batch result`);
    const { results } = parsed.data;
    // Results are matched by position; if they do not line up we cannot tell who was accepted.
    const aligned = results.length === emails.length && results.every((result, i) => result.email.toLowerCase() === emails[i]);
    if (!aligned) throw new UnexpectedResponseError(`${what}: the downstream's results do not match the batch (${results.length} for ${emails.length})`);
    return results.map(({ status, error }) => ({ status, error }));
  },
  notFound: (answer, target, what) => {
    const said = platformSaid(answer);
    return new RefusedError(`${what}: HTTP 404${said ? `: ${said}` : ''}: nothing answers at ${target.baseUrl}/profiles/batch; check --downstream-url`);
  },
  identity: ({ baseUrl }) => platformOf(baseUrl),
  idempotencyKey: true,
};

import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { DestinationClient } from '../../src/delivery/destination-client.js';
import type { PlatformAnswer } from '../../src/destinations/destination.js';
import { dataCentreOf, mailchimpDestination as mailchimp } from '../../src/destinations/mailchimp.js';
import { RateLimitedError, RefusedError, UnexpectedResponseError, UsageError } from '../../src/errors.js';
import { encoded, targetOf } from '../helpers/targets.js';

const KEY = '0123456789abcdef0123456789abcdef-us21';
const BASE = 'http://us21.mailchimp.test';
const target = targetOf('mailchimp', BASE, { credential: KEY, list: 'a1b2c3d4e5' });
const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: { tags: ['vip', 'newsletter'], tier: 'gold', score: 7 } };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone' };
const answer = (status: number, body: unknown): PlatformAnswer => ({ status, headers: {}, body, text: body === undefined ? '' : JSON.stringify(body) });
const items = [encoded(target, ann), encoded(target, bob)];
const emails = ['ann@example.com', 'bob@example.com'];

describe('mailchimp: where and how', () => {
  it('takes the data centre from the API key: …-us21 is https://us21.api.mailchimp.com', () => {
    expect(dataCentreOf(KEY)).toBe('us21');
    expect(mailchimp.defaultBaseUrl(KEY)).toBe('https://us21.api.mailchimp.com');
    expect(() => mailchimp.defaultBaseUrl('no-suffix-key-')).toThrow(UsageError);
    expect(() => mailchimp.defaultBaseUrl(undefined)).toThrow(/ends in its data centre/);
  });

  it('authenticates with HTTP Basic, any user name, the key as the password; posts to the audience', () => {
    const [, encodedPair] = mailchimp.headers(target).authorization!.split(' ');
    expect(Buffer.from(encodedPair!, 'base64').toString()).toBe(`sync:${KEY}`);
    expect(mailchimp.endpoint(target)).toBe(`${BASE}/3.0/lists/a1b2c3d4e5`);
  });
});

describe('mailchimp: the body', () => {
  it('adds new members as subscribed, never sends an existing member\'s status, updates existing ones; names go to FNAME/LNAME, metadata.tags to tags', () => {
    expect(JSON.parse(mailchimp.body('b-1', items.map((item) => item.fragment)))).toEqual({
      members: [
        { email_address: 'ann@example.com', status_if_new: 'subscribed', merge_fields: { FNAME: 'Ann', LNAME: 'Lee' }, tags: ['vip', 'newsletter'] },
        { email_address: 'bob@example.com', status_if_new: 'subscribed', merge_fields: { FNAME: 'Bob', LNAME: 'Stone' } },
      ],
      update_existing: true,
    });
  });

  it('sends mapped metadata as merge fields (tags upper-cased), booleans as text, and refuses a list', () => {
    const mapped = targetOf('mailchimp', BASE, { credential: KEY, list: 'l', maps: ['metadata.tier=Tier', 'metadata.score=SCORE', 'metadata.flag=FLAG'] });
    const withFlag = { ...ann, metadata: { ...ann.metadata, flag: true } };
    expect(JSON.parse(encoded(mapped, withFlag).fragment).merge_fields).toEqual({ FNAME: 'Ann', LNAME: 'Lee', TIER: 'gold', SCORE: 7, FLAG: 'true' });
    const listed = targetOf('mailchimp', BASE, { credential: KEY, list: 'l', maps: ['metadata.tags=TAGLIST'] });
    expect(mailchimp.encode(ann, listed)).toEqual({ refused: 'metadata.tags is a list, which no Mailchimp merge field takes (--map metadata.tags=TAGLIST)' });
  });

  it('counts exactly what its envelope adds', () => {
    for (const count of [1, 3, 500]) {
      const fragments = Array.from({ length: count }, () => items[1]!.fragment);
      expect(Buffer.byteLength(mailchimp.body('b', fragments))).toBe(mailchimp.envelopeBytes(count) + count * items[1]!.bytes);
    }
  });

  it('refuses --map targets that are not merge tags, or that the profile already fills', () => {
    expect(mailchimp.checkMap({ source: 'metadata.x', path: ['x'], target: 'FNAME' })).toMatch(/already sent/);
    expect(mailchimp.checkMap({ source: 'metadata.x', path: ['x'], target: 'tags' })).toMatch(/already sent/);
    expect(mailchimp.checkMap({ source: 'metadata.x', path: ['x'], target: 'CUSTOMER_TIER' })).toMatch(/not a Mailchimp merge tag/);
    expect(mailchimp.checkMap({ source: 'metadata.x', path: ['x'], target: 'TIER' })).toBeUndefined();
  });
});

describe('mailchimp: what a 200 says about each member', () => {
  const batch = (created: string[], updated: string[], errors: object[] = []) => ({
    new_members: created.map((email_address) => ({ email_address, status: 'subscribed' })),
    updated_members: updated.map((email_address) => ({ email_address })),
    errors,
    total_created: created.length,
    total_updated: updated.length,
    error_count: errors.length,
  });

  it('created or updated members are delivered', () => {
    expect(mailchimp.accepted(answer(200, batch(['ann@example.com'], ['BOB@example.com'])), emails, 'b')).toEqual([{ status: 'accepted' }, { status: 'accepted' }]);
  });

  it('a member in errors[] is refused with Mailchimp\'s words and the field that is wrong', () => {
    const errors = [
      { email_address: 'ann@example.com', error: 'ann@example.com looks fake or invalid, please enter a real email address.', error_code: 'ERROR_GENERIC', field: '', field_message: '' },
      { email_address: 'bob@example.com', error: 'Your merge fields were invalid.', error_code: 'ERROR_GENERIC', field: 'SCORE', field_message: 'Please enter a number' },
    ];
    expect(mailchimp.accepted(answer(200, batch([], [], errors)), emails, 'b')).toEqual([
      { status: 'rejected', error: 'ann@example.com looks fake or invalid, please enter a real email address.' },
      { status: 'rejected', error: 'Your merge fields were invalid. (SCORE: Please enter a number)' },
    ]);
  });

  it('a refusal of any length is kept to its first 1,000 characters', () => {
    const errors = [{ email_address: 'ann@example.com', error: 'y'.repeat(50_000), error_code: 'ERROR_GENERIC', field: 'NOTE', field_message: 'z'.repeat(50_000) }];
    const [first] = mailchimp.accepted(answer(200, batch([], [], errors)), emails, 'b');
    expect(first).toEqual({ status: 'rejected', error: `${'y'.repeat(1000)}…` });
  });

  it('an address echoed with its domain in Unicode (or in capitals) is the member sent in ASCII', () => {
    const sent = ['ann@xn--bcher-kva.de', 'bob@xn--mnchen-3ya.de'];
    const body = batch(['Ann@Bücher.de'], [], [{ email_address: 'BOB@MÜNCHEN.DE', error: 'no', error_code: 'ERROR_GENERIC', field: '', field_message: '' }]);
    expect(mailchimp.accepted(answer(200, body), sent, 'b')).toEqual([{ status: 'accepted' }, { status: 'rejected', error: 'no' }]);
  });

  it('a member the 200 names nowhere is not delivered; a 200 without the batch result is unexpected', () => {
    expect(mailchimp.accepted(answer(200, batch(['ann@example.com'], [])), emails, 'batch b-1')[1]).toEqual({
      status: 'unconfirmed',
      error: "batch b-1: Mailchimp's answer neither lists nor refuses this member",
    });
    for (const body of [undefined, {}, { errors: [] }, { new_members: [], updated_members: [] }]) {
      expect(() => mailchimp.accepted(answer(200, body), emails, 'batch b-1')).toThrow(UnexpectedResponseError);
    }
  });

  it('429 (too many connections) lowers the connections in flight instead of pausing every request', () => {
    const error = mailchimp.rateLimited!(answer(429, { title: 'TooManyRequests', status: 429, detail: 'You have exceeded the limit of 10 simultaneous connections.' }), 'batch b-1');
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ scope: 'connections', retryAfterMs: 1000, detail: 'You have exceeded the limit of 10 simultaneous connections.' });
  });
});

describe('mailchimp through the client (nock)', () => {
  const client = new DestinationClient(target);

  it('a 404 for the audience stops the run naming --list', async () => {
    nock(BASE).post('/3.0/lists/a1b2c3d4e5').reply(404, { type: 'https://mailchimp.com/developer/marketing/docs/errors/', title: 'Resource Not Found', status: 404, detail: 'The requested resource could not be found.', instance: 'x' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RefusedError);
    expect((error as Error).message).toBe(`batch b-1: HTTP 404: The requested resource could not be found.: Mailchimp has no audience "a1b2c3d4e5" at ${BASE}; check --list (and --downstream-url)`);
  });

  it('a 401 never shows the key', async () => {
    nock(BASE).post('/3.0/lists/a1b2c3d4e5').reply(401, { title: 'API Key Invalid', status: 401, detail: 'Your API key may be invalid, or you\'ve attempted to access the wrong datacenter.' });
    const error = await client.send('b-1', items).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/HTTP 401: Your API key may be invalid.*Mailchimp refused the token; check SYNC_DOWNSTREAM_TOKEN$/);
    expect((error as Error).message).not.toContain(KEY);
    expect((error as Error).message).not.toContain(Buffer.from(`sync:${KEY}`).toString('base64'));
  });
});

describe('mailchimp: preflight (the audience\'s merge fields)', () => {
  const mapped = targetOf('mailchimp', BASE, { credential: KEY, list: 'a1b2c3d4e5', maps: ['metadata.tier=TIER'] });
  const fields = (...tags: string[]) => ({ merge_fields: tags.map((tag, i) => ({ merge_id: i + 1, tag, name: tag, type: 'text' })), list_id: 'a1b2c3d4e5', total_items: tags.length });
  const reading = (result: PlatformAnswer) => async (path: string) => {
    expect(path).toBe('/3.0/lists/a1b2c3d4e5/merge-fields?count=1000');
    return result;
  };

  it('passes with FNAME, LNAME and every mapped tag present (any case)', async () => {
    await expect(mailchimp.preflight!(reading(answer(200, fields('FNAME', 'LNAME', 'tier'))), mapped)).resolves.toBeUndefined();
  });

  it('a missing merge field is a usage error naming it', async () => {
    await expect(mailchimp.preflight!(reading(answer(200, fields('FNAME', 'LNAME'))), mapped)).rejects.toThrow(
      new UsageError('--map metadata.tier=TIER: the audience a1b2c3d4e5 has no merge field TIER (add it in Mailchimp, or map to one that exists)'),
    );
    await expect(mailchimp.preflight!(reading(answer(200, fields('LNAME', 'TIER'))), mapped)).rejects.toThrow(/has no merge field FNAME/);
  });

  it('an unknown audience names --list; a refused key names the variable', async () => {
    await expect(mailchimp.preflight!(reading(answer(404, { title: 'Resource Not Found' })), mapped)).rejects.toThrow(/^--list a1b2c3d4e5: Mailchimp has no audience with this id/);
    await expect(mailchimp.preflight!(reading(answer(401, { detail: 'Your API key may be invalid' })), mapped)).rejects.toThrow(/^Mailchimp refused SYNC_DOWNSTREAM_TOKEN \(HTTP 401: Your API key may be invalid\)/);
  });
});

import { describe, expect, it } from 'vitest';
import { resolveTarget } from '../../src/destinations/registry.js';
import { downstreamToken } from '../../src/cli/destination-options.js';
import { UsageError } from '../../src/errors.js';

const KEY = 'abc-us21';

describe('resolveTarget: the destination from the flags, or why the run cannot start', () => {
  it('sync by default, at the URL given, with its own defaults', () => {
    const { target, batchSize, rate, concurrency } = resolveTarget({ downstreamUrl: 'http://p.test' }, undefined);
    expect([target.destination.name, target.baseUrl, batchSize, rate, concurrency]).toEqual(['sync', 'http://p.test', 500, 5, undefined]);
  });

  it("a platform's defaults: HubSpot's public API, 100 a batch, 10/s, 10 in flight; the flags win", () => {
    const hubspot = resolveTarget({ to: 'hubspot' }, 'pat-x');
    expect([hubspot.target.baseUrl, hubspot.batchSize, hubspot.rate, hubspot.concurrency]).toEqual(['https://api.hubapi.com', 100, 10, 10]);
    const given = resolveTarget({ to: 'hubspot', downstreamUrl: 'http://127.0.0.1:1', batchSize: 50, rate: 2, concurrency: 3 }, 'pat-x');
    expect([given.target.baseUrl, given.batchSize, given.rate, given.concurrency]).toEqual(['http://127.0.0.1:1', 50, 2, 3]);
    expect(resolveTarget({ to: 'mailchimp', list: 'L' }, KEY).target.baseUrl).toBe('https://us21.api.mailchimp.com');
  });

  it.each([
    [{ to: 'salesforce' }, 'x', '--to salesforce: expected one of sync, hubspot, mailchimp, braze, customerio, iterable'],
    [{ to: 'mailchimp' }, KEY, '--list ID (or SYNC_LIST_ID) is required with --to mailchimp: the audience to add members to'],
    [{ to: 'hubspot', list: 'L' }, 'x', '--list is for --to mailchimp; --to hubspot has no lists'],
    [{ to: 'hubspot' }, undefined, "SYNC_DOWNSTREAM_TOKEN is required with --to hubspot: HubSpot's credential, from the environment"],
    [{}, undefined, '--downstream-url (or SYNC_DOWNSTREAM_URL) is required with --to sync'],
    [{ to: 'hubspot', batchSize: 101 }, 'x', '--batch-size 101: HubSpot takes at most 100 profiles a request'],
    [{ to: 'mailchimp', list: 'L', batchSize: 501 }, KEY, '--batch-size 501: Mailchimp takes at most 500 profiles a request'],
    [{ downstreamUrl: 'http://p.test', map: ['metadata.tier=tier'] }, undefined, '--map metadata.tier=tier: sync sends metadata whole: --map is for the marketing platforms (any --to but sync)'],
    [{ to: 'hubspot', map: ['metadata.first=firstname'] }, 'x', '--map metadata.first=firstname: firstname is already sent from the profile'],
    [{ to: 'hubspot', map: ['tier=tier'] }, 'x', '--map tier=tier: expected metadata.KEY=TARGET (dots reach inside metadata, e.g. metadata.preferences.plan=plan)'],
    [{ to: 'hubspot', map: ['metadata.a=tier', 'metadata.b=Tier'] }, 'x', '--map metadata.b=Tier: metadata.a is already sent as Tier'],
  ] as const)('%j is exit 2: %s', (flags, credential, message) => {
    expect(() => resolveTarget(flags, credential)).toThrow(new UsageError(message));
  });

  it('a dry run contacts nobody: no credential or URL needed', () => {
    const { target } = resolveTarget({ to: 'hubspot' }, undefined, { contactless: true });
    expect([target.destination.name, target.baseUrl]).toEqual(['hubspot', '']);
    expect(resolveTarget({}, undefined, { contactless: true }).target.baseUrl).toBe('');
  });

  // axios drops what a header cannot carry (a newline, spaces around the key) and Node sends a
  // letter outside Latin-1 as one byte of it: the platform got another key than ours, and when it
  // quoted that key back, masking the one we hold did not hide it (measured: "bad auth Bearer
  // -secret-XYZ" for a key 'ключ-secret-XYZ' in stderr and the dead letters).
  it.each([
    ['abc\ndef', 'a control character'],
    ['abc\u0000', 'a control character'],
    ['ключ-secret', 'a character outside ASCII'],
    ['sécret', 'a character outside ASCII'],
    [' abc', 'whitespace around it'],
    ['abc\t', 'whitespace around it'],
  ])('a credential %j an HTTP header cannot carry as it is: exit 2 naming %s, never quoting it', (credential, what) => {
    for (const to of ['braze', 'iterable', 'hubspot']) {
      const attempt = () => resolveTarget({ to, downstreamUrl: 'http://127.0.0.1:1' }, credential);
      expect(attempt).toThrow(UsageError);
      expect(attempt).toThrow(`SYNC_DOWNSTREAM_TOKEN holds ${what}`);
      try {
        attempt();
      } catch (error) {
        expect((error as Error).message).not.toContain(credential.trim().slice(0, 3));
      }
    }
  });

  it('the token from the environment without the whitespace around it (a newline copied with the key): what is sent is what is masked', () => {
    expect(downstreamToken({ SYNC_DOWNSTREAM_TOKEN: '  key-123\r\n' })).toBe('key-123');
    expect(downstreamToken({ SYNC_DOWNSTREAM_TOKEN: ' \n' })).toBeUndefined();
    expect(downstreamToken({})).toBeUndefined();
    expect(resolveTarget({ to: 'braze', downstreamUrl: 'http://127.0.0.1:1' }, downstreamToken({ SYNC_DOWNSTREAM_TOKEN: 'key 1\n' })).target.credential).toBe('key 1');
  });
});

import { describe, expect, it } from 'vitest';
import { accountIdentity } from '../../src/destinations/destination.js';
import { DESTINATIONS as destinations } from '../../src/destinations/registry.js';
import { targetOf } from '../helpers/targets.js';

// One URL serves every account of these platforms: without the account in the state's identity, a
// profile one account accepted would be skipped, unsent, for the next account pushed from the same
// machine (staging, then production).
describe.each(['hubspot', 'braze', 'iterable'] as const)('%s: who the state remembers acceptances for', (name) => {
  const URL = 'https://api.platform.test/';

  it('two tokens on one URL are two accounts; the same token is the same account however the URL is spelled', () => {
    const staging = destinations[name].identity(targetOf(name, URL, { credential: 'staging-token' }));
    const production = destinations[name].identity(targetOf(name, URL, { credential: 'production-token' }));
    expect(staging).not.toBe(production);
    expect(destinations[name].identity(targetOf(name, 'https://api.platform.test', { credential: 'staging-token' }))).toBe(staging);
  });

  it('keeps only a fingerprint of the token, never the token', () => {
    const identity = destinations[name].identity(targetOf(name, URL, { credential: 'staging-token-SECRET' }));
    expect(identity).toMatch(new RegExp(`^${name} https://api\\.platform\\.test token:[0-9a-f]{16}$`));
    expect(identity).not.toContain('SECRET');
  });

  it('without a token the account is unknown (undefined), not a shared "no account"', () => {
    expect(destinations[name].identity(targetOf(name, URL))).toBeUndefined();
  });
});

describe('accountIdentity', () => {
  it('names the destination, the platform and the fingerprint', () => {
    expect(accountIdentity(targetOf('hubspot', 'http://127.0.0.1:4030/', { credential: 'test' }))).toBe(
      'hubspot http://127.0.0.1:4030 token:9f86d081884c7d65',
    );
  });
});

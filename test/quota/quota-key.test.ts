import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { credentialFingerprint, defaultQuotaKey, type LookupAll } from '../../src/quota/quota-key.js';

/** A resolver of our own: host name → addresses; anything else is not found (no DNS in tests). */
function hosts(table: Record<string, string[]>): LookupAll & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (hostname: string) => {
    asked.push(hostname);
    const found = table[hostname];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address }));
  };
  return Object.assign(lookup, { asked });
}

const dualStack = hosts({
  localhost: ['::1', '127.0.0.1'],
  'api.example': ['2001:db8::5', '203.0.113.7', '203.0.113.5'],
  // The same platform as its resolver answers elsewhere: another order, no IPv6, part of a pool.
  'mirror.example': ['203.0.113.5', '2001:db8::5', '203.0.113.7'],
  'ipv4-only.example': ['203.0.113.7', '203.0.113.5'],
  'ipv4-subset.example': ['203.0.113.5'],
  'v6.example': ['2001:db8::9', '2001:db8::5'],
});

describe('defaultQuotaKey without a credential: one budget per platform, however it is spelled', () => {
  it.each([
    'http://127.0.0.1:4020',
    'http://localhost:4020',
    'HTTP://LOCALHOST:4020/profiles',
    'http://localhost.:4020',
    'http://[::1]:4020',
    'http://[::ffff:127.0.0.1]:4020',
    'http://127.1:4020',
    'http://0x7f.0.0.1:4020/',
  ])('%s → http://127.0.0.1:4020', async (remoteUrl) => {
    expect(await defaultQuotaKey({ remoteUrl, lookup: dualStack })).toBe('http://127.0.0.1:4020');
  });

  it('the default port is made explicit, so writing it or not is one budget', async () => {
    expect(await defaultQuotaKey({ remoteUrl: 'http://127.0.0.1', lookup: dualStack })).toBe('http://127.0.0.1:80');
    expect(await defaultQuotaKey({ remoteUrl: 'http://127.0.0.1:80/v1', lookup: dualStack })).toBe('http://127.0.0.1:80');
    expect(await defaultQuotaKey({ remoteUrl: 'https://127.0.0.1', lookup: dualStack })).toBe('https://127.0.0.1:443');
    expect(await defaultQuotaKey({ remoteUrl: 'https://127.0.0.1:443', lookup: dualStack })).toBe('https://127.0.0.1:443');
  });

  it('a host name becomes the first of its addresses in a fixed order (IPv4 first): names and written-out addresses agree', async () => {
    const keys = await Promise.all(
      ['https://API.example/v1', 'https://mirror.example:443', 'https://203.0.113.5', 'https://ipv4-only.example', 'https://ipv4-subset.example'].map((remoteUrl) =>
        defaultQuotaKey({ remoteUrl, lookup: dualStack }),
      ),
    );
    expect(keys).toEqual(Array(5).fill('https://203.0.113.5:443'));
    expect(dualStack.asked).toEqual(expect.arrayContaining(['api.example', 'mirror.example']));
    expect(await defaultQuotaKey({ remoteUrl: 'https://v6.example', lookup: dualStack })).toBe('https://[2001:db8::5]:443');
  });

  it('what still tells platforms apart: the scheme, the port, another address', async () => {
    const keys = await Promise.all(
      ['http://127.0.0.1:4020', 'https://127.0.0.1:4020', 'http://127.0.0.1:4021', 'http://127.0.0.2:4020', 'http://[::2]:4020'].map((remoteUrl) => defaultQuotaKey({ remoteUrl, lookup: dualStack })),
    );
    expect(new Set(keys).size).toBe(5);
    expect(keys[4]).toBe('http://[::2]:4020');
  });

  it('an address is not looked up; a name that does not resolve (or resolves to nothing) keeps its (lower-case) name', async () => {
    const lookup = hosts({ 'empty.example': [] });
    expect(await defaultQuotaKey({ remoteUrl: 'http://192.0.2.1:8080', lookup })).toBe('http://192.0.2.1:8080');
    expect(await defaultQuotaKey({ remoteUrl: 'https://Nowhere.Example.:8443/x', lookup })).toBe('https://nowhere.example:8443');
    expect(await defaultQuotaKey({ remoteUrl: 'https://empty.example', lookup })).toBe('https://empty.example:443');
    expect(lookup.asked).toEqual(['nowhere.example', 'empty.example']);
  });

  it('by default it asks the system resolver (localhost, from the hosts file)', async () => {
    expect(await defaultQuotaKey({ remoteUrl: 'http://localhost:4020' })).toBe('http://127.0.0.1:4020');
  });
});

describe('defaultQuotaKey with a credential: the account is the budget', () => {
  const token = 'pat-na1-5ecret-t0ken';
  const fingerprint = createHash('sha256').update(token).digest('hex').slice(0, 16);

  it('is token:<first 16 hex of its SHA-256>, whatever host reaches the platform, and never contains the credential', async () => {
    const lookup = hosts({});
    const keys = await Promise.all(['http://127.0.0.1:4020', 'https://api.example', 'http://other.example:81'].map((remoteUrl) => defaultQuotaKey({ remoteUrl, credential: token, lookup })));
    expect(keys).toEqual([`token:${fingerprint}`, `token:${fingerprint}`, `token:${fingerprint}`]);
    expect(keys[0]).toMatch(/^token:[0-9a-f]{16}$/);
    expect(keys[0]).not.toContain(token);
    // No need to resolve anything.
    expect(lookup.asked).toEqual([]);
    expect(credentialFingerprint(token)).toBe(fingerprint);
  });

  it('two credentials are two budgets; an empty one counts as none', async () => {
    const lookup = hosts({});
    const [a, b, none] = await Promise.all([
      defaultQuotaKey({ remoteUrl: 'http://127.0.0.1:4020', credential: 'key-a', lookup }),
      defaultQuotaKey({ remoteUrl: 'http://127.0.0.1:4020', credential: 'key-b', lookup }),
      defaultQuotaKey({ remoteUrl: 'http://127.0.0.1:4020', credential: '', lookup }),
    ]);
    expect(a).not.toBe(b);
    expect(none).toBe('http://127.0.0.1:4020');
  });
});

describe('defaultQuotaKey with a namespace (for destinations to come)', () => {
  it('prefixes both kinds of key, so one credential or host used for two kinds of remote is two budgets', async () => {
    const lookup = hosts({});
    expect(await defaultQuotaKey({ remoteUrl: 'http://127.0.0.1:4020', namespace: 'hubspot', lookup })).toBe('hubspot:http://127.0.0.1:4020');
    expect(await defaultQuotaKey({ remoteUrl: 'http://127.0.0.1:4020', credential: 'k', namespace: 'hubspot', lookup })).toBe(`hubspot:token:${credentialFingerprint('k')}`);
  });
});

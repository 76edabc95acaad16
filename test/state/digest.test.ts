import { beforeAll, describe, expect, it } from 'vitest';
import { hasher } from '../../src/hash/xxhash.js';
import { emailKey, loadHasher, platformKey, profileDigest, textDigest } from '../../src/state/digest.js';

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };

describe('digests', () => {
  beforeAll(loadHasher);

  it('a profile digest is xxHash64 of the JSON the platform would receive, metadata included', () => {
    expect(profileDigest(ann)).toBe(hasher()('{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","metadata":{}}'));
  });

  it('a text digest is xxHash64 of the text exactly as read', () => {
    expect(textDigest('abc')).toBe(0x44bc2cf5ad770999n);
    expect(textDigest(' abc')).not.toBe(textDigest('abc'));
  });

  it('a state key is two xxHash64s: the platform (tagged, so no email can be taken for one), then the email', () => {
    expect(platformKey('http://a')).toBe(hasher()('platform\nhttp://a'));
    expect(emailKey('ann@example.com')).toBe(hasher()('ann@example.com'));
    expect(platformKey('ann@example.com')).not.toBe(emailKey('ann@example.com'));
  });
});

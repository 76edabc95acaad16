import { beforeAll, describe, expect, it } from 'vitest';
import { hasher } from '../../src/hash/xxhash.js';
import { emailKey, loadHasher, profileDigest, textDigest } from '../../src/state/digest.js';

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

  it('an email key is xxHash64 of the platform and the email on two lines', () => {
    expect(emailKey('http://a', 'ann@example.com')).toBe(0x252e9f68f66718f6n);
    expect(emailKey('http://a', 'ann@example.com')).toBe(hasher()('http://a\nann@example.com'));
    // The separator keeps ("http://a", "bann@…") and ("http://ab", "ann@…") apart.
    expect(emailKey('http://a', 'bann@example.com')).not.toBe(emailKey('http://ab', 'ann@example.com'));
  });
});

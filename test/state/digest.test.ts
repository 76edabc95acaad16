import { beforeAll, describe, expect, it } from 'vitest';
import { hasher } from '../../src/hash/xxhash.js';
import { emailKey, loadHasher, platformKey } from '../../src/state/digest.js';


describe('digests', () => {
  beforeAll(loadHasher);

  it('a state key is two xxHash64s: the platform (tagged, so no email can be taken for one), then the email', () => {
    expect(platformKey('http://a')).toBe(hasher()('platform\nhttp://a'));
    expect(emailKey('ann@example.com')).toBe(hasher()('ann@example.com'));
    expect(platformKey('ann@example.com')).not.toBe(emailKey('ann@example.com'));
  });
});

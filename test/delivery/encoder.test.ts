import { beforeAll, describe, expect, it } from 'vitest';
import type { Destination } from '../../src/destinations/destination.js';
import { encoderFor } from '../../src/delivery/encoder.js';
import { syncDestination } from '../../src/destinations/sync.js';
import { hasher } from '../../src/hash/xxhash.js';
import { loadHasher } from '../../src/state/digest.js';
import { targetOf } from '../helpers/targets.js';

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', metadata: { tier: 'gold' } };

describe('encoderFor', () => {
  beforeAll(loadHasher);

  it('a profile becomes its item as sent, with its size in bytes', () => {
    const item = encoderFor(targetOf('sync', 'http://p.test')).encode(ann);
    expect(item).toEqual({ profile: ann, fragment: '{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","metadata":{"tier":"gold"}}', bytes: 89 });
  });

  it('digests what is sent, salted by destination and field map: another map or platform is a change', () => {
    const sync = encoderFor(targetOf('sync', 'http://p.test'));
    const item = sync.encode(ann) as Exclude<ReturnType<typeof sync.encode>, { refused: string }>;
    expect(sync.digest(item)).toBe(hasher()(`sync\n\n${item.fragment}`));
    expect(sync.textDigest('{"x":1}')).toBe(hasher()('sync\n\n{"x":1}'));
    const plain = encoderFor(targetOf('hubspot', 'http://h.test', { credential: 't' }));
    const mapped = encoderFor(targetOf('hubspot', 'http://h.test', { credential: 't', maps: ['metadata.tier=tier'] }));
    expect(plain.textDigest('same text')).not.toBe(mapped.textDigest('same text'));
    expect(plain.textDigest('same text')).not.toBe(sync.textDigest('same text'));
  });

  it("refuses a profile larger than the platform takes for one, or than one request may carry, before it costs a request", () => {
    const small: Destination = { ...syncDestination, title: 'Tiny', limits: { maxItems: 10, maxItemBytes: 100, maxBytes: 200 } };
    const encoder = encoderFor({ ...targetOf('sync', 'http://p.test'), destination: small });
    expect(encoder.encode({ ...ann, metadata: { note: 'x'.repeat(200) } })).toEqual({ refused: '285 bytes as sent to Tiny, over its limit of 100 bytes a profile' });
    expect('fragment' in encoder.encode({ email: 'a@b.co', firstName: 'A', lastName: 'B' })).toBe(true);
    const roomy: Destination = { ...small, limits: { maxItems: 10, maxItemBytes: 10_000, maxBytes: 200 } };
    expect(encoderFor({ ...targetOf('sync', 'http://p.test'), destination: roomy }).encode({ ...ann, metadata: { note: 'x'.repeat(150) } })).toMatchObject({
      refused: expect.stringMatching(/more than one request may carry/),
    });
  });
});

import { describe, expect, it } from 'vitest';
import type { Encoded } from '../../src/destinations/destination.js';
import type { Profile } from '../../src/profiles/schemas.js';
import { batchKey as keyOfItems } from '../../src/push/batch-key.js';
import type { Remembered } from '../../src/state/state-store.js';
import { encoded, targetOf } from '../helpers/targets.js';

const ann = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };
const bob = { email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone' };
const none = (): Remembered | undefined => undefined;
const sync = targetOf('sync', 'http://p.test');
/** The key of a batch of these profiles as sync's wire format sends them. */
const batchKey = (profiles: Profile[], basisOf: (profile: Profile) => Remembered | undefined): string =>
  keyOfItems(
    profiles.map((profile) => encoded(sync, profile)),
    (item: Encoded) => basisOf(item.profile),
  );
const entry = (acceptedAt: number, digest = 1n): Remembered => ({ digest, textDigest: 2n, acceptedAt, repeated: false });

describe('batchKey (the Idempotency-Key of a push batch)', () => {
  it('is the same for the same profiles against the same state, so a batch re-sent after a kill carries the same key', () => {
    expect(batchKey([ann, bob], none)).toBe(batchKey([{ ...ann }, { ...bob, metadata: {} }], none));
    expect(batchKey([ann, bob], none)).toMatch(/^b-[0-9a-f]{20}$/);
    const state = (profile: Profile) => (profile.email === ann.email ? entry(5) : undefined);
    expect(batchKey([ann, bob], state)).toBe(batchKey([ann, bob], (profile) => (profile.email === ann.email ? entry(5) : undefined)));
  });

  it('differs whenever the bytes sent would differ: a key never stands for two bodies', () => {
    const base = batchKey([ann, bob], none);
    expect(batchKey([bob, ann], none)).not.toBe(base);
    expect(batchKey([ann], none)).not.toBe(base);
    expect(batchKey([ann, { ...bob, lastName: 'Stones' }], none)).not.toBe(base);
    expect(batchKey([ann, { ...bob, metadata: { tags: ['x'] } }], none)).not.toBe(base);
  });

  it('differs for the same profile sent to another destination or with another field map (other bytes)', () => {
    const hubspot = targetOf('hubspot', 'http://h.test', { credential: 't' });
    const mapped = targetOf('hubspot', 'http://h.test', { credential: 't', maps: ['metadata.tier=tier'] });
    const withTier = { ...ann, metadata: { tier: 'gold' } };
    expect(keyOfItems([encoded(hubspot, withTier)], none)).not.toBe(keyOfItems([encoded(sync, withTier)], none));
    expect(keyOfItems([encoded(mapped, withTier)], none)).not.toBe(keyOfItems([encoded(hubspot, withTier)], none));
  });

  it('differs when the state remembered something else for a profile: the same content sent again is a new intent', () => {
    const base = batchKey([ann], none);
    // A, then B, then A again: the third send is formed against B's acceptance.
    expect(batchKey([ann], () => entry(10, 99n))).not.toBe(base);
    // --full twice: the same profile, each time formed against another acceptance of it.
    expect(batchKey([ann], () => entry(10))).not.toBe(batchKey([ann], () => entry(11)));
    expect(batchKey([ann], () => ({ ...entry(10), repeated: true }))).not.toBe(batchKey([ann], () => entry(10)));
  });
});

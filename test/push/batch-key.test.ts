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
const batchKey = (profiles: Profile[], basisOf: (profile: Profile) => Remembered | undefined, generation: string): string =>
  keyOfItems(
    profiles.map((profile) => encoded(sync, profile)),
    (item: Encoded) => basisOf(item.profile),
    generation,
  );
const entry = (acceptedAt: number, digest = 1n): Remembered => ({ digest, textDigest: 2n, acceptedAt, repeated: false });

describe('batchKey (the Idempotency-Key of a push batch)', () => {
  it('is the same for the same profiles against the same state, so a batch re-sent after a kill carries the same key', () => {
    expect(batchKey([ann, bob], none, 'g1')).toBe(batchKey([{ ...ann }, { ...bob, metadata: {} }], none, 'g1'));
    expect(batchKey([ann, bob], none, 'g1')).toMatch(/^b-[0-9a-f]{20}$/);
    const state = (profile: Profile) => (profile.email === ann.email ? entry(5) : undefined);
    expect(batchKey([ann, bob], state, 'g1')).toBe(batchKey([ann, bob], (profile) => (profile.email === ann.email ? entry(5) : undefined), 'g1'));
  });

  it('differs whenever the bytes sent would differ: a key never stands for two bodies', () => {
    const base = batchKey([ann, bob], none, 'g1');
    expect(batchKey([bob, ann], none, 'g1')).not.toBe(base);
    expect(batchKey([ann], none, 'g1')).not.toBe(base);
    expect(batchKey([ann, { ...bob, lastName: 'Stones' }], none, 'g1')).not.toBe(base);
    expect(batchKey([ann, { ...bob, metadata: { tags: ['x'] } }], none, 'g1')).not.toBe(base);
  });

  it('differs for the same profile sent to another destination or with another field map (other bytes)', () => {
    const hubspot = targetOf('hubspot', 'http://h.test', { credential: 't' });
    const mapped = targetOf('hubspot', 'http://h.test', { credential: 't', maps: ['metadata.tier=tier'] });
    const withTier = { ...ann, metadata: { tier: 'gold' } };
    expect(keyOfItems([encoded(hubspot, withTier)], none, 'g1')).not.toBe(keyOfItems([encoded(sync, withTier)], none, 'g1'));
    expect(keyOfItems([encoded(mapped, withTier)], none, 'g1')).not.toBe(keyOfItems([encoded(hubspot, withTier)], none, 'g1'));
  });

  it('differs when the state remembered something else for a profile: the same content sent again is a new intent', () => {
    const base = batchKey([ann], none, 'g1');
    // A, then B, then A again: the third send is formed against B's acceptance.
    expect(batchKey([ann], () => entry(10, 99n), 'g1')).not.toBe(base);
    // --full twice: the same profile, each time formed against another acceptance of it.
    expect(batchKey([ann], () => entry(10), 'g1')).not.toBe(batchKey([ann], () => entry(11), 'g1'));
    expect(batchKey([ann], () => ({ ...entry(10), repeated: true }), 'g1')).not.toBe(batchKey([ann], () => entry(10), 'g1'));
  });

  it('for a profile the state holds nothing for, differs with the state\'s generation: after a forget, a reset, or in another state', () => {
    expect(batchKey([ann], none, 'g2')).not.toBe(batchKey([ann], none, 'g1'));
    expect(batchKey([ann, bob], (profile) => (profile.email === ann.email ? entry(5) : undefined), 'g2')).not.toBe(
      batchKey([ann, bob], (profile) => (profile.email === ann.email ? entry(5) : undefined), 'g1'),
    );
    // A profile formed against an entry is keyed by that entry alone.
    expect(batchKey([ann], () => entry(5), 'g2')).toBe(batchKey([ann], () => entry(5), 'g1'));
  });
});

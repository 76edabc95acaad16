import { describe, expect, it } from 'vitest';
import { mappedValue, mapsFingerprint, parseMaps } from '../../src/destinations/field-map.js';

describe('--map', () => {
  it('reads metadata.KEY=TARGET, dots reaching inside metadata', () => {
    expect(parseMaps(['metadata.tier=tier', ' metadata.preferences.plan = plan '])).toEqual([
      { source: 'metadata.tier', path: ['tier'], target: 'tier' },
      { source: 'metadata.preferences.plan', path: ['preferences', 'plan'], target: 'plan' },
    ]);
  });

  it.each(['tier=tier', 'metadata=tier', 'metadata.tier', 'metadata.tier=', 'metadata..x=y', 'metadata.tier=two words', 'email=email'])('refuses %j', (value) => {
    expect(() => parseMaps([value])).toThrow(/expected metadata\.KEY=TARGET/);
  });

  it('takes the value at the path, or nothing when any step is missing or not an object', () => {
    const profile = { email: 'a@x.com', firstName: 'A', lastName: 'B', metadata: { tier: 'gold', preferences: { plan: 'pro' }, list: ['x'], zero: 0 } };
    const [tier, plan, deep, list, zero] = parseMaps(['metadata.tier=a', 'metadata.preferences.plan=b', 'metadata.tier.x=c', 'metadata.list.0=d', 'metadata.zero=e']);
    expect([tier, plan, deep, list, zero].map((map) => mappedValue(profile, map!))).toEqual(['gold', 'pro', undefined, undefined, 0]);
    expect(mappedValue({ email: 'a@x.com', firstName: 'A', lastName: 'B' }, tier!)).toBeUndefined();
    expect(mappedValue({ email: 'a@x.com', firstName: 'A', lastName: 'B', metadata: { toString: 'own' } }, parseMaps(['metadata.constructor=x'])[0]!)).toBeUndefined();
  });

  it('has a fingerprint that changes with any map (what is sent changes)', () => {
    expect(mapsFingerprint(parseMaps(['metadata.a=x']))).not.toBe(mapsFingerprint(parseMaps(['metadata.a=y'])));
    expect(mapsFingerprint([])).toBe('');
  });
});

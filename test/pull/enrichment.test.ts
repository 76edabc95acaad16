import { describe, expect, it } from 'vitest';
import {
  acquisitionChannel,
  activity,
  ACTIVE_WITHIN_MS,
  customerTier,
  emailDomain,
  engagement,
  engagementLevelOf,
  marketSegment,
  qualityBand,
  stableFraction,
  text,
} from '../../src/pull/enrichment.js';

const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const DAY = 86_400_000;
const ids = Array.from({ length: 20_000 }, (_, i) => i + 1);
/** Share of ids for which `predicate` holds. */
const share = (predicate: (id: number) => boolean): number => ids.filter(predicate).length / ids.length;

describe('boundaries from the spec', () => {
  it('quality bands: high ≥ 90, medium 70–89, low < 70', () => {
    expect([100, 90, 89, 70, 69, 0].map(qualityBand)).toEqual(['high_quality', 'high_quality', 'medium_quality', 'medium_quality', 'low_quality', 'low_quality']);
  });

  it('engagement: high ≥ 70, medium ≥ 40, low below', () => {
    expect([100, 70, 69.9, 40, 39.9, 0, -5].map(engagementLevelOf)).toEqual(['high', 'high', 'medium', 'medium', 'low', 'low', 'low']);
  });

  it('engagement_score: a numeric string counts, null/blank/NaN is unknown and costs quality, absent is generated', () => {
    expect(engagement({ engagement_score: '75' }, 0, 1)).toEqual({ value: 'high', broken: false });
    for (const bad of [null, '', '  ', 'abc', Number.NaN, Number.POSITIVE_INFINITY, {}]) {
      expect(engagement({ engagement_score: bad }, 0, 1)).toEqual({ value: 'unknown', broken: true });
    }
    expect(engagement({}, 0, 1).broken).toBe(false);
  });

  it('activity: within 30 days is active, exactly 30 days still active, a day more inactive', () => {
    const at = (ms: number) => activity({ last_login: new Date(ms).toISOString() }, 0, 1, NOW).value;
    expect(at(NOW)).toBe('active');
    expect(at(NOW - ACTIVE_WITHIN_MS)).toBe('active');
    expect(at(NOW - ACTIVE_WITHIN_MS - 1)).toBe('inactive');
    expect(at(NOW - 365 * DAY)).toBe('inactive');
  });

  it('activity: up to a day in the future is clock skew (active); further is bad data (unknown, costs quality)', () => {
    const at = (ms: number) => activity({ last_login: new Date(ms).toISOString() }, 0, 1, NOW);
    expect(at(NOW + DAY)).toEqual({ value: 'active', broken: false });
    expect(at(NOW + DAY + 1)).toEqual({ value: 'unknown', broken: true });
  });

  it('activity: the aliases count, in order; unparseable or blank is unknown', () => {
    const recent = new Date(NOW - DAY).toISOString();
    expect(activity({ last_activity: recent }, 0, 1, NOW).value).toBe('active');
    expect(activity({ last_seen: recent }, 0, 1, NOW).value).toBe('active');
    expect(activity({ last_login: 'not a date', last_seen: recent }, 0, 1, NOW)).toEqual({ value: 'unknown', broken: true });
    // 2020 as a number is no date (Date.parse would read it as the year 2020): unknown, not inactive.
    for (const bad of ['', '   ', 42, 2020, null]) expect(activity({ last_login: bad }, 0, 1, NOW)).toEqual({ value: 'unknown', broken: true });
  });
});

describe('generated fields: stable, and with the documented odds', () => {
  it('stableFraction is in [0, 1), stable, and moves with seed, id and field', () => {
    const f = stableFraction(0, 1, 'x');
    expect(f).toBeGreaterThanOrEqual(0);
    expect(f).toBeLessThan(1);
    expect(stableFraction(0, 1, 'x')).toBe(f);
    expect(new Set([f, stableFraction(1, 1, 'x'), stableFraction(0, 2, 'x'), stableFraction(0, 1, 'y')]).size).toBe(4);
  });

  it('65% of customers without an activity date are active', () => {
    expect(Math.abs(share((id) => activity({}, 0, id, NOW).value === 'active') - 0.65)).toBeLessThan(0.015);
  });

  it('generated engagement scores are uniform over 0..100: 30% high, 30% medium, 40% low', () => {
    const level = (id: number) => engagement({}, 0, id).value;
    expect(Math.abs(share((id) => level(id) === 'high') - 0.3)).toBeLessThan(0.015);
    expect(Math.abs(share((id) => level(id) === 'medium') - 0.3)).toBeLessThan(0.015);
    expect(Math.abs(share((id) => level(id) === 'low') - 0.4)).toBeLessThan(0.015);
  });

  it.each([
    ['high', 0.3, 0.5],
    ['medium', 0.1, 0.4],
    ['low', 0.05, 0.15],
    ['unknown', 0.05, 0.15],
  ] as const)('tier odds for %s engagement: enterprise %d, premium %d', (level, enterprise, premium) => {
    expect(Math.abs(share((id) => customerTier(level, 0, id) === 'enterprise') - enterprise)).toBeLessThan(0.015);
    expect(Math.abs(share((id) => customerTier(level, 0, id) === 'premium') - premium)).toBeLessThan(0.015);
  });

  it('acquisition channel and a generic domain’s market segment spread evenly', () => {
    for (const channel of ['website', 'mobile_app', 'email_campaign'] as const) {
      expect(Math.abs(share((id) => acquisitionChannel(0, id) === channel) - 1 / 3)).toBeLessThan(0.015);
    }
    for (const segment of ['US-West', 'US-East', 'EU-Central', 'APAC'] as const) {
      expect(Math.abs(share((id) => marketSegment('example.com', 0, id) === segment) - 0.25)).toBeLessThan(0.015);
    }
  });
});

describe('the export stays the same from one version to the next', () => {
  it('generated fields for seed 0 are these, exactly (each field draws from its own hash)', () => {
    const generated = ids.slice(0, 12).map((id) => [id, engagement({}, 0, id).value, activity({}, 0, id, NOW).value, marketSegment('example.com', 0, id), acquisitionChannel(0, id), customerTier('high', 0, id)]);
    expect(generated).toEqual([
      [1,'low','active','EU-Central','email_campaign','premium'],
      [2,'high','active','US-East','website','premium'],
      [3,'low','inactive','US-West','website','premium'],
      [4,'medium','active','US-East','email_campaign','enterprise'],
      [5,'high','active','EU-Central','mobile_app','premium'],
      [6,'high','active','EU-Central','website','premium'],
      [7,'high','inactive','APAC','email_campaign','premium'],
      [8,'low','active','APAC','email_campaign','basic'],
      [9,'medium','active','US-East','website','basic'],
      [10,'high','active','US-East','website','basic'],
      [11,'low','active','US-East','email_campaign','premium'],
      [12,'low','active','US-East','mobile_app','basic'],

    ]);
  });
});

describe('regional signals', () => {
  it.each(['de', 'fr', 'nl', 'be', 'at', 'ch', 'it', 'es', 'pl', 'cz', 'dk', 'se', 'no', 'fi', 'ie', 'pt', 'eu', 'uk'])('.%s is EU-Central', (tld) => {
    for (const id of [1, 2, 3, 4, 5]) expect(marketSegment(`shop.${tld}`, 0, id)).toBe('EU-Central');
  });

  it.each(['jp', 'cn', 'kr', 'sg', 'au', 'nz', 'hk', 'tw', 'my', 'th', 'vn', 'ph'])('.%s is APAC', (tld) => {
    for (const id of [1, 2, 3, 4, 5]) expect(marketSegment(`shop.${tld}`, 0, id)).toBe('APAC');
  });

  it('only the last label counts: de.example.com is not German; .in and .io are no region', () => {
    const segments = (domain: string) => new Set(ids.slice(0, 200).map((id) => marketSegment(domain, 0, id)));
    for (const domain of ['de.example.com', 'reqres.in', 'startup.io']) expect(segments(domain).size).toBe(4);
  });
});

describe('emailDomain and text', () => {
  it('a valid address gives its lower-cased domain; empty is missing; malformed is broken', () => {
    expect(emailDomain('Ann@Example.COM')).toEqual({ value: 'example.com', broken: false, missing: false, address: 'ann@example.com' });
    expect(emailDomain('')).toEqual({ value: 'unknown', broken: false, missing: true });
    expect(emailDomain('not-an-email')).toEqual({ value: 'unknown', broken: true, missing: false });
  });

  it("judges an address by push's rule, so a known domain means an address push takes", () => {
    // An internationalized domain is a real address (push sends its ASCII form), not a broken one.
    expect(emailDomain('Ann@Bücher.de')).toEqual({ value: 'xn--bcher-kva.de', broken: false, missing: false, address: 'ann@xn--bcher-kva.de' });
    // Push refuses these; so they are broken here too, and never written as profiles.
    expect(emailDomain('jörg@example.de')).toMatchObject({ value: 'unknown', broken: true });
    expect(emailDomain(`${'a'.repeat(250)}@example.com`)).toMatchObject({ value: 'unknown', broken: true });
    expect(emailDomain('ann\u200b@example.com')).toMatchObject({ value: 'unknown', broken: true });
  });

  it('text trims strings and turns anything else into the empty string', () => {
    expect([text('  a  '), text(5), text(null), text(undefined)]).toEqual(['a', '', '', '']);
  });
});

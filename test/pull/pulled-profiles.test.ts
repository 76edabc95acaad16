import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeErrors, validateProfile } from '../../src/profiles/schemas.js';
import { CustomerDataProcessor } from '../../src/pull/customer-data-processor.js';
import { profilesText, toProfiles } from '../../src/pull/pulled-profiles.js';
import { PulledProfileSchema, type RawUser } from '../../src/pull/schemas.js';

const NOW = Date.parse('2026-01-20T15:30:00.000Z');
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/reqres/users.json', import.meta.url), 'utf8')) as RawUser[];
const processed = new CustomerDataProcessor({ seed: 0, now: NOW }).process(fixture);

describe('toProfiles', () => {
  const { profiles, withoutEmail } = toProfiles(processed.records);

  it('writes every customer with a valid address, in the export order, and names the others by id', () => {
    // The fixture's 24 customers: 16 has no email, 17 a malformed one, 21 an empty one.
    expect(withoutEmail.sort((a, b) => a - b)).toEqual([16, 17, 21]);
    expect(profiles).toHaveLength(processed.customers.length - 3);
    const exported = processed.customers.filter((customer) => customer.email_domain !== 'unknown');
    expect(profiles.map((profile) => profile.metadata.customer_id)).toEqual(exported.map((customer) => customer.customer_id));
  });

  it("carries the export's fields into metadata, and the names are full_name's parts", () => {
    for (const profile of profiles) {
      const customer = processed.customers.find((c) => c.customer_id === profile.metadata.customer_id)!;
      expect(PulledProfileSchema.parse(profile)).toEqual(profile);
      const { full_name: fullName, email_domain: domain, ...enrichment } = customer;
      expect(profile.metadata).toEqual(enrichment);
      expect([profile.firstName, profile.lastName].filter(Boolean).join(' ')).toBe(fullName);
      expect(profile.email.endsWith(`@${domain}`)).toBe(true);
    }
    // The source wrote `MJ.Watson@Example.COM`, then `mj.watson@example.com` for id 14 (kept: the better record).
    expect(profiles.find((p) => p.metadata.customer_id === 14)).toMatchObject({ email: 'mj.watson@example.com', firstName: 'Mary-Jane', lastName: 'Watson' });
    expect(profiles.find((p) => p.metadata.customer_id === 13)).toMatchObject({ email: 'sean.obrien@example.ie', firstName: 'Seán', lastName: "O'Brien" });
  });

  it("passes push's validation as written: push changes nothing in a profile with both names", () => {
    for (const profile of profiles.filter((p) => p.firstName !== '' && p.lastName !== '')) {
      expect(validateProfile(JSON.parse(JSON.stringify(profile)))).toEqual({ ok: true, profile });
    }
  });

  it('writes a customer with an address but no first name as it is, for push to refuse with the reason', () => {
    // id 20: k.nakamura@example.jp with an empty first name. Left out, it would be lost without a trace.
    const nakamura = profiles.find((p) => p.metadata.customer_id === 20)!;
    expect(nakamura).toMatchObject({ email: 'k.nakamura@example.jp', firstName: '', lastName: 'Nakamura' });
    const validation = validateProfile(nakamura);
    expect(validation.ok).toBe(false);
    if (!validation.ok) expect(describeErrors(validation.errors)).toBe('firstName: must not be empty');
  });
});

describe('profilesText', () => {
  it('is NDJSON: one profile a line, every line ended; nothing for no profiles', () => {
    const { profiles } = toProfiles(processed.records);
    const text = profilesText(profiles);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').slice(0, -1).map((line) => JSON.parse(line))).toEqual(profiles);
    expect(profilesText([])).toBe('');
  });
});

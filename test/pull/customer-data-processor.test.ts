import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CustomerDataProcessor } from '../../src/pull/customer-data-processor.js';
import { CustomerSchema, type RawUser } from '../../src/pull/schemas.js';

const NOW = Date.parse('2026-01-20T15:30:00.000Z');
const processor = new CustomerDataProcessor({ seed: 0, now: NOW });

/** A complete, healthy record; each test breaks one thing. */
function user(overrides: Record<string, unknown> = {}): RawUser {
  return {
    id: 1,
    email: 'george.bluth@reqres.in',
    first_name: 'George',
    last_name: 'Bluth',
    avatar: 'https://reqres.in/img/faces/1-image.jpg',
    engagement_score: 88,
    last_login: '2026-01-18T09:00:00Z',
    ...overrides,
  };
}

function without(key: string): RawUser {
  const copy: Record<string, unknown> = { ...user() };
  delete copy[key];
  return copy as RawUser;
}

describe('CustomerDataProcessor.transform', () => {
  it('maps a complete record to a full-score customer in the contract shape', () => {
    const customer = processor.transform(user());
    expect(CustomerSchema.parse(customer)).toEqual(customer);
    expect(customer).toMatchObject({
      customer_id: 1,
      full_name: 'George Bluth',
      email_domain: 'reqres.in',
      engagement_level: 'high',
      activity_status: 'active',
      data_quality_score: 100,
    });
  });

  it.each([
    ['missing email', without('email')],
    ['empty email', user({ email: '  ' })],
    ['missing first_name', without('first_name')],
    ['empty last_name', user({ last_name: '' })],
    ['missing avatar', without('avatar')],
    ['null avatar', user({ avatar: null })],
    ['malformed email', user({ email: 'george(at)reqres.in' })],
    ['null engagement_score', user({ engagement_score: null })],
    ['unparseable last_login', user({ last_login: 'last tuesday' })],
  ])('%s costs 10 points', (_case, raw) => {
    expect(processor.transform(raw).data_quality_score).toBe(90);
  });

  it('adds the penalties up', () => {
    const raw = user({ email: '', first_name: null, last_name: ' ', avatar: '', engagement_score: null, last_login: 'x' });
    expect(processor.transform(raw).data_quality_score).toBe(40);
  });

  it('gives a missing or malformed email the domain "unknown"', () => {
    expect(processor.transform(without('email')).email_domain).toBe('unknown');
    expect(processor.transform(user({ email: 'not-an-email' })).email_domain).toBe('unknown');
    expect(processor.transform(user({ email: ' MJ.Watson@Example.COM ' })).email_domain).toBe('example.com');
  });

  it.each([
    [70, 'high'],
    [69.9, 'medium'],
    [40, 'medium'],
    [39, 'low'],
    [0, 'low'],
    ['85', 'high'],
    [null, 'unknown'],
    ['lots', 'unknown'],
  ])('engagement_score %j → %s', (score, level) => {
    expect(processor.transform(user({ engagement_score: score })).engagement_level).toBe(level);
  });

  it.each([
    ['2026-01-18T09:00:00Z', 'active'],
    ['2025-12-21T15:30:00Z', 'active'], // exactly 30 days
    ['2025-12-21T15:29:59Z', 'inactive'],
    ['2024-06-01', 'inactive'],
    ['not a date', 'unknown'],
    [null, 'unknown'],
    ['2031-01-01T00:00:00Z', 'unknown'], // a login from the future is bad data
  ])('last_login %j → %s', (login, status) => {
    expect(processor.transform(user({ last_login: login })).activity_status).toBe(status);
  });

  it('normalizes names, unicode included', () => {
    expect(processor.transform(user({ first_name: "  seán ", last_name: "o'brien" })).full_name).toBe("Seán O'Brien");
    expect(processor.transform(user({ first_name: 'mary-jane', last_name: 'WATSON' })).full_name).toBe('Mary-Jane Watson');
    expect(processor.transform(user({ first_name: 'ÉLODIE', last_name: 'DURAND' })).full_name).toBe('Élodie Durand');
    expect(processor.transform(user({ first_name: '', last_name: 'Nakamura' })).full_name).toBe('Nakamura');
  });

  it('uses a country-code domain as the market signal', () => {
    expect(processor.transform(user({ email: 'a@example.de' })).market_segment).toBe('EU-Central');
    expect(processor.transform(user({ email: 'a@example.jp' })).market_segment).toBe('APAC');
  });

  it("does not read the source's own reqres.in domain as India", () => {
    const segments = Array.from({ length: 40 }, (_, i) => processor.transform(user({ id: i + 1 })).market_segment);
    expect(new Set(segments)).toEqual(new Set(['US-West', 'US-East', 'EU-Central', 'APAC']));
  });

  it('is deterministic per record and seed, and the seed changes generated fields', () => {
    const raws = Array.from({ length: 40 }, () => without('engagement_score')).map((raw, i) => ({ ...raw, id: i + 1 }));
    const first = raws.map((raw) => processor.transform(raw));
    const again = raws.map((raw) => new CustomerDataProcessor({ seed: 0, now: NOW }).transform(raw));
    const reseeded = raws.map((raw) => new CustomerDataProcessor({ seed: 7, now: NOW }).transform(raw));
    expect(again).toEqual(first);
    expect(reseeded).not.toEqual(first);
    // Generated fields still cover their whole range.
    expect(new Set(first.map((c) => c.acquisition_channel)).size).toBe(3);
    expect(new Set(first.map((c) => c.engagement_level))).toEqual(new Set(['high', 'medium', 'low']));
  });

  it('generates activity when the source has no activity date, without a penalty', () => {
    const customer = processor.transform(without('last_login'));
    expect(['active', 'inactive']).toContain(customer.activity_status);
    expect(customer.data_quality_score).toBe(100);
  });
});

describe('CustomerDataProcessor.enrich', () => {
  it('keeps the address beside the customer, as push sends it, never inside the export\'s customer', () => {
    const { customer, contact } = processor.enrich(user({ email: ' MJ.Watson@Example.COM ', first_name: 'mary-jane', last_name: 'WATSON' }));
    expect(contact).toEqual({ email: 'mj.watson@example.com', firstName: 'Mary-Jane', lastName: 'Watson' });
    expect(Object.keys(customer).sort()).toEqual(Object.keys(CustomerSchema.shape).sort());
    expect(JSON.stringify(customer)).not.toMatch(/watson@/i);
  });

  it('has no address for a missing or malformed email; a missing name is the empty string', () => {
    expect(processor.enrich(without('email')).contact.email).toBeUndefined();
    expect(processor.enrich(user({ email: 'george(at)reqres.in' })).contact.email).toBeUndefined();
    expect(processor.enrich(without('first_name')).contact).toEqual({ email: 'george.bluth@reqres.in', firstName: '', lastName: 'Bluth' });
  });
});

describe('CustomerDataProcessor.process', () => {
  it("the kept record's address goes with it: dedupe never pairs one record's customer with another's address", () => {
    const worse = user({ id: 3, avatar: '', email: 'old@example.com' });
    const better = user({ id: 3, email: 'new@example.com' });
    const { records, customers } = processor.process([worse, better]);
    expect(records).toHaveLength(1);
    expect(records[0]!.contact.email).toBe('new@example.com');
    expect(records[0]!.customer).toBe(customers[0]);
  });

  it('records are in the export order', () => {
    const { records, customers } = processor.process([user({ id: 5, first_name: 'Zoë', email: 'z@example.com' }), user({ id: 9, first_name: 'Adam', email: 'a@example.com' })]);
    expect(records.map((record) => record.customer)).toEqual(customers);
    expect(records.map((record) => record.contact.email)).toEqual(['a@example.com', 'z@example.com']);
  });

  it('deduplicates by id keeping the highest score, first seen on a tie', () => {
    const worse = user({ id: 3, avatar: '' });
    const better = user({ id: 3, first_name: 'Better' });
    const tieLater = user({ id: 3, first_name: 'Tie' });
    const { customers, duplicatesRemoved } = processor.process([worse, better, tieLater]);
    expect(duplicatesRemoved).toBe(2);
    expect(customers).toHaveLength(1);
    expect(customers[0]).toMatchObject({ full_name: 'Better Bluth', data_quality_score: 100 });
  });

  it('sorts by full_name, then customer_id', () => {
    const { customers } = processor.process([
      user({ id: 5, first_name: 'Zoë' }),
      user({ id: 9, first_name: 'Adam' }),
      user({ id: 2, first_name: 'Élodie' }),
      user({ id: 4, first_name: 'Adam' }),
    ]);
    expect(customers.map((c) => [c.full_name, c.customer_id])).toEqual([
      ['Adam Bluth', 4],
      ['Adam Bluth', 9],
      ['Élodie Bluth', 2],
      ['Zoë Bluth', 5],
    ]);
  });
});

describe('export order', () => {
  /** The order `byName` gives in a fresh process whose locale comes from LANG/LC_ALL, as on another host. */
  function orderUnder(lang: string, names: string[]): string[] {
    const script = `
      const { byName } = await import(${JSON.stringify(new URL('../../dist/pull/customer-data-processor.js', import.meta.url).href)});
      const names = ${JSON.stringify(names)};
      const customers = names.map((full_name, customer_id) => ({ full_name, customer_id }));
      process.stdout.write(JSON.stringify(customers.sort(byName).map((c) => c.full_name)));`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, LANG: lang, LC_ALL: lang }, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    return JSON.parse(result.stdout) as string[];
  }

  it('is the same whatever the host locale: "Ångström" sorts before "Zeta" under sv_SE too', () => {
    const names = ['Zeta Lee', 'Ångström Berg', 'Öberg Ann', 'Olsson Bo'];
    const english = ['Ångström Berg', 'Öberg Ann', 'Olsson Bo', 'Zeta Lee'];
    expect(orderUnder('C.UTF-8', names)).toEqual(english);
    expect(orderUnder('sv_SE.UTF-8', names)).toEqual(english);
  });
});

import { describe, expect, it } from 'vitest';
import { commonProfile } from '../../src/profiles/common-profile.js';
import { ProfileSchema } from '../../src/profiles/schemas.js';

/** zod's verdict: the profile it outputs, or undefined when it refuses the input. */
function zodProfile(input: unknown): unknown {
  const parsed = ProfileSchema.safeParse(input);
  return parsed.success ? parsed.data : undefined;
}

/** The fast path agrees with zod: the same output, key order included (it is what gets hashed and sent). */
function expectSameAsZod(input: unknown): void {
  const fast = commonProfile(input);
  const zod = zodProfile(input);
  if (fast === undefined) return;
  expect(zod).toBeDefined();
  expect(fast).toEqual(zod);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(zod));
}

const base = { email: 'ann@example.com', firstName: 'ann', lastName: 'lee' };

describe('commonProfile', () => {
  it.each([
    [base, { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' }],
    [{ lastName: 'LEE', email: 'Ann.Lee@Example.COM', firstName: "o'brien-smith" }, { email: 'ann.lee@example.com', firstName: "O'Brien-Smith", lastName: 'Lee' }],
    [{ ...base, email: '  Ann@Bücher.de ' }, { email: 'ann@xn--bcher-kva.de', firstName: 'Ann', lastName: 'Lee' }],
    [{ ...base, firstName: '  mary \t jane ', lastName: 'ÉLODIE' }, { email: 'ann@example.com', firstName: 'Mary Jane', lastName: 'Élodie' }],
    [
      { ...base, metadata: { plan: 'x', preferences: { b: 1, a: { deep: [1] } }, tags: ['vip', ''] } },
      { ...base, firstName: 'Ann', lastName: 'Lee', metadata: { tags: ['vip', ''], preferences: { b: 1, a: { deep: [1] } }, plan: 'x' } },
    ],
    [{ ...base, metadata: {} }, { ...base, firstName: 'Ann', lastName: 'Lee', metadata: {} }],
    [{ ...base, metadata: { tags: [], extra: null } }, { ...base, firstName: 'Ann', lastName: 'Lee', metadata: { tags: [], extra: null } }],
  ])('%j: the profile zod would output, in its key order', (input, expected) => {
    const fast = commonProfile(input);
    expect(fast).toEqual(expected);
    expect(JSON.stringify(fast)).toBe(JSON.stringify(expected));
    expectSameAsZod(input);
  });

  it('copies what it outputs: changing the profile does not change the record', () => {
    const metadata = { tags: ['a'], preferences: { p: 1 }, other: 1 };
    const profile = commonProfile({ ...base, metadata })!;
    profile.metadata!.tags!.push('b');
    profile.metadata!.preferences!.q = 2;
    expect(metadata).toEqual({ tags: ['a'], preferences: { p: 1 }, other: 1 });
  });

  const long = (n: number, c = 'a'): string => c.repeat(n);
  it.each([
    ['not an object', 'text'],
    ['null', null],
    ['an array', [base]],
    ['an unknown key', { ...base, plan: 'gold' }],
    ['no email', { firstName: 'a', lastName: 'b' }],
    ['no first name', { email: 'a@b.co', lastName: 'b' }],
    ['no last name', { email: 'a@b.co', firstName: 'b' }],
    ['an email that is not a string', { ...base, email: 7 }],
    ['a first name that is not a string', { ...base, firstName: 7 }],
    ['a last name that is not a string', { ...base, lastName: null }],
    ['a bad email', { ...base, email: 'nope' }],
    ['an email with a control character', { ...base, email: 'ann\u0007@example.com' }],
    ['an email with a blank inside', { ...base, email: 'ann lee@example.com' }],
    ['an email of 255 characters', { ...base, email: `${long(64)}@${long(63, 'b')}.${long(63, 'c')}.${long(62, 'd')}` }],
    ['a non-ASCII mailbox', { ...base, email: 'änn@example.com' }],
    ['an empty first name', { ...base, firstName: ' ' }],
    ['a last name without letters', { ...base, lastName: '123' }],
    ['a name of 201 characters', { ...base, firstName: long(201) }],
    ['metadata null', { ...base, metadata: null }],
    ['metadata an array', { ...base, metadata: [] }],
    ['tags not an array', { ...base, metadata: { tags: 'vip' } }],
    ['a tag that is not a string', { ...base, metadata: { tags: ['a', 1] } }],
    ['a tag of 101 characters', { ...base, metadata: { tags: [long(101)] } }],
    ['101 tags', { ...base, metadata: { tags: Array.from({ length: 101 }, () => 't') } }],
    ['preferences an array', { ...base, metadata: { preferences: [] } }],
    ['preferences null', { ...base, metadata: { preferences: null } }],
  ])('%s: left to zod', (_what, input) => {
    expect(commonProfile(input)).toBeUndefined();
    expect(zodProfile(input)).toBeUndefined();
  });

  it.each([
    ['a tag of 100 characters', { ...base, metadata: { tags: [long(100)] } }],
    ['100 tags', { ...base, metadata: { tags: Array.from({ length: 100 }, () => 't') } }],
    ['a name of 200 characters', { ...base, firstName: long(200) }],
    ['an email of 254 characters', { ...base, email: `${long(64)}@${long(63, 'b')}.${long(63, 'c')}.${long(61, 'd')}` }],
  ])('%s: at the limit, still the common case', (_what, input) => {
    expect(commonProfile(input)).toBeDefined();
    expectSameAsZod(input);
  });

  it('leaves an object of another prototype to zod (which takes it): only speed is lost', () => {
    const input = Object.assign(Object.create(null) as object, base);
    expect(commonProfile(input)).toBeUndefined();
    expect(zodProfile(input)).toEqual({ email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' });
  });

  it('leaves a class instance to zod too (JSON.parse never makes one): only speed is lost', () => {
    const input = new (class Person {
      email = 'ann@example.com';
      firstName = 'ann';
      lastName = 'lee';
    })();
    expect(commonProfile(input)).toBeUndefined();
    expect(zodProfile(input)).toEqual({ email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' });
  });

  it('never copies a __proto__ key: zod decides', () => {
    expect(commonProfile(JSON.parse('{"email":"a@b.co","firstName":"a","lastName":"b","metadata":{"__proto__":{"x":1}}}'))).toBeUndefined();
    expect(commonProfile(JSON.parse('{"email":"a@b.co","firstName":"a","lastName":"b","metadata":{"preferences":{"__proto__":{"x":1}}}}'))).toBeUndefined();
  });

  it('agrees with zod on thousands of generated records, valid and not', () => {
    // A small deterministic generator (no dependency): pieces that each touch one rule.
    let seed = 19;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const nameParts = ['ann', 'LEE', "o'brien", 'mary-jane', ' \t', '  ', 'élodie', 'ß', 'ﬀ', '\u0301', '\u200b', '\u0000', '1', '-', "'", '’x', 'x\u00a0y', 'ǆ', 'İ', '\uFEFF', '\ud800', 'a'.repeat(99)];
    const emails = ['ann@example.com', ' Ann@Example.COM ', 'a@b', 'a@bücher.de', 'ä@b.de', 'a b@c.de', 'a@c.de\u200b', 'x@xn--p1ai', "o'b@c.io", 'a..b@c.de', '@c.de', 'a@-c.de', 'A@B.CO\t', 'a@b.c', 7, null, undefined];
    const values = [1, 'x', null, true, [], {}, [1, 'a'], { a: 1 }];
    const metadatas = () => {
      const metadata: Record<string, unknown> = {};
      if (random() < 0.5) metadata.tags = random() < 0.1 ? pick(values) : Array.from({ length: Math.floor(random() * 4) }, () => (random() < 0.1 ? pick(values) : pick(['t', '', 'x'.repeat(100), 'x'.repeat(101)])));
      if (random() < 0.5) metadata.preferences = random() < 0.2 ? pick(values) : { b: pick(values), a: pick(values), 1: 'one' };
      if (random() < 0.3) metadata.extra = pick(values);
      return random() < 0.1 ? pick(values) : metadata;
    };
    const name = (): unknown => (random() < 0.05 ? pick(values) : Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(nameParts)).join(''));
    let common = 0;
    for (let i = 0; i < 3000; i++) {
      const record: Record<string, unknown> = {};
      for (const key of ['metadata', 'lastName', 'email', 'firstName'].sort(() => random() - 0.5)) {
        if (random() < 0.03) continue;
        if (key === 'email') record.email = pick(emails);
        else if (key === 'metadata') {
          if (random() < 0.6) record.metadata = metadatas();
        } else record[key] = name();
      }
      if (random() < 0.03) record.plan = 'gold';
      const input = JSON.parse(JSON.stringify(record)) as unknown;
      const fast = commonProfile(input);
      if (fast) common += 1;
      // Where the fast path answers, it answers as zod does; where zod accepts, the fast path must
      // not refuse (undefined only costs speed, but this checks the fast path is the common one).
      expectSameAsZod(input);
      if (zodProfile(input) !== undefined) expect(fast).toBeDefined();
    }
    expect(common).toBeGreaterThan(100);
  });
});
